#include "connectors/nexmark/nexmark_generator.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <utility>

namespace strom::nexmark {

namespace {

// Constants of the reference generator.
constexpr int64_t kFirstPersonId = 1000;
constexpr int64_t kFirstAuctionId = 1000;
constexpr int64_t kFirstCategoryId = 10;
constexpr int32_t kNumCategories = 5;
constexpr int64_t kPersonIdLead = 10;
constexpr int64_t kAuctionIdLead = 10;
// Hot keys are the first of each batch of 100 (a fixed constant, unlike the hot ratios).
constexpr int64_t kHotSellerBatch = 100;
constexpr int64_t kHotAuctionBatch = 100;
constexpr int64_t kHotBidderBatch = 100;
constexpr int32_t kHotChannelsRatio = 2;
constexpr int32_t kMinStringLength = 3;

constexpr std::array<std::string_view, NexmarkTables::kNumHotChannels> kHotChannels = {
    "Google", "Facebook", "Baidu", "Apple"};
constexpr std::array<std::string_view, 11> kFirstNames = {
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
constexpr std::array<std::string_view, 9> kLastNames = {
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};
constexpr std::array<std::string_view, 10> kUsCities = {
    "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
    "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
constexpr std::array<std::string_view, 6> kUsStates = {"AZ", "CA", "ID", "OR", "WA", "WY"};

// Append the reference's StringsGenerator.nextString(random, maxLength, special), trimmed like
// Java's String.trim (which drops characters <= ' ' at both ends).
void appendRandomString(SplittableRandom& random, int32_t maxLength, char special,
                        std::string& out) {
  const size_t start = out.size();
  int32_t length = kMinStringLength + random.nextInt(maxLength - kMinStringLength);
  while (length-- > 0) {
    if (random.nextInt(13) == 0) {
      out.push_back(special);
    } else {
      out.push_back(static_cast<char>('a' + random.nextInt(26)));
    }
  }
  size_t end = out.size();
  while (end > start && static_cast<unsigned char>(out[end - 1]) <= ' ') {
    --end;
  }
  out.resize(end);
  size_t first = start;
  while (first < end && static_cast<unsigned char>(out[first]) <= ' ') {
    ++first;
  }
  out.erase(start, first - start);
}

// The reference's BidGenerator base URL, drawn from the channel table's random.
std::string nextBaseUrl(SplittableRandom& random) {
  std::string url = "https://www.nexmark.com/";
  for (int i = 0; i < 3; ++i) {
    appendRandomString(random, 5, '_', url);
    url.push_back('/');
  }
  url += "item.htm?query=1";
  return url;
}

// Java's Integer.reverse.
int32_t reverseBits(int32_t value) {
  auto v = static_cast<uint32_t>(value);
  uint32_t r = 0;
  for (int i = 0; i < 32; ++i) {
    r = (r << 1) | (v & 1U);
    v >>= 1;
  }
  return static_cast<int32_t>(r);
}

// Java's Math.abs on int: abs(Integer.MIN_VALUE) stays Integer.MIN_VALUE.
int64_t javaAbs(int32_t value) {
  if (value == std::numeric_limits<int32_t>::min()) {
    return value;
  }
  return value < 0 ? -int64_t{value} : int64_t{value};
}

// Java's Math.round for the non-negative, far-below-2^52 values the generator rounds.
int64_t roundHalfUp(double value) { return static_cast<int64_t>(std::floor(value + 0.5)); }

}  // namespace

NexmarkTables::NexmarkTables(int64_t seed) {
  // StringsGenerator's 1 MiB string: each nextInt() gives 6 characters 'a' + r % 26 (Java's
  // signed remainder, so 'H'..'z'), dividing r by 26 (truncating) after each.
  {
    SplittableRandom random(seed);
    largeString_.resize(static_cast<size_t>(kLargeStringLength));
    int32_t r = 0;
    int left = 0;
    for (char& c : largeString_) {
      if (left == 0) {
        r = random.nextInt();
        left = 6;
      }
      c = static_cast<char>('a' + r % 26);
      r /= 26;
      --left;
    }
  }
  // BidGenerator's static random: the hot URLs, then the channel table in index order.
  SplittableRandom random(static_cast<int64_t>(static_cast<uint64_t>(seed) + 1));
  for (std::string& url : hotUrls_) {
    url = nextBaseUrl(random);
  }
  channelNames_.reserve(kNumChannels);
  channelUrls_.reserve(kNumChannels);
  for (int32_t i = 0; i < kNumChannels; ++i) {
    std::string url = nextBaseUrl(random);
    if (random.nextInt(10) > 0) {
      url += "&channel_id=";
      url += std::to_string(javaAbs(reverseBits(i)));
    }
    channelNames_.push_back("channel-" + std::to_string(i));
    channelUrls_.push_back(std::move(url));
  }
}

std::shared_ptr<const NexmarkTables> NexmarkTables::forSeed(int64_t seed) {
  static std::mutex mu;
  static std::map<int64_t, std::weak_ptr<const NexmarkTables>> cache;  // REQUIRES: mu held
  std::lock_guard<std::mutex> lock(mu);
  std::weak_ptr<const NexmarkTables>& slot = cache[seed];
  if (auto tables = slot.lock()) {
    return tables;
  }
  // Drop entries whose tables are gone, so the cache does not grow with every seed ever used.
  std::erase_if(cache,
                [&](const auto& entry) { return entry.second.expired() && entry.first != seed; });
  auto tables = std::make_shared<const NexmarkTables>(seed);
  cache[seed] = tables;
  return tables;
}

std::string_view NexmarkTables::hotChannel(int32_t i) const {
  return kHotChannels[static_cast<size_t>(i)];
}

Result<NexmarkGenerator> NexmarkGenerator::create(const NexmarkConfig& config) {
  STROM_RETURN_IF_ERROR(config.validate());
  return NexmarkGenerator(config, NexmarkTables::forSeed(config.seed));
}

NexmarkGenerator::NexmarkGenerator(const NexmarkConfig& config,
                                   std::shared_ptr<const NexmarkTables> tables)
    : config_(config),
      tables_(std::move(tables)),
      random_(static_cast<int64_t>(static_cast<uint64_t>(config.seed) + 2 +
                                   static_cast<uint64_t>(config.splitIndex))),
      interEventDelayUs_(config.interEventDelayUs()),
      maxEvents_(config.effectiveMaxEvents()),
      totalProportion_(config.totalProportion()) {
  // Large enough for the longest value of each field, so next() never allocates.
  name_.reserve(64);
  email_.reserve(64);
  creditCard_.reserve(32);
  itemName_.reserve(32);
  description_.reserve(128);
}

int64_t NexmarkGenerator::timestampForEvent(int64_t eventNumber) const {
  return config_.baseTime +
         static_cast<int64_t>(static_cast<double>(eventNumber) * interEventDelayUs_) / 1000;
}

int64_t NexmarkGenerator::lastBase0PersonId(int64_t eventId) const {
  const int64_t epoch = eventId / totalProportion_;
  int64_t offset = eventId % totalProportion_;
  if (offset >= config_.personProportion) {
    offset = config_.personProportion - 1;
  }
  return epoch * config_.personProportion + offset;
}

int64_t NexmarkGenerator::lastBase0AuctionId(int64_t eventId) const {
  int64_t epoch = eventId / totalProportion_;
  int64_t offset = eventId % totalProportion_;
  if (offset < config_.personProportion) {
    // About to generate a person: the last auction is in the previous epoch.
    --epoch;
    offset = config_.auctionProportion - 1;
  } else if (offset >= config_.personProportion + config_.auctionProportion) {
    // About to generate a bid: the last auction is this epoch's last.
    offset = config_.auctionProportion - 1;
  } else {
    offset -= config_.personProportion;
  }
  return epoch * config_.auctionProportion + offset;
}

int64_t NexmarkGenerator::nextLong(int64_t bound) {
  // The reference's LongGenerator.nextLong.
  if (bound < std::numeric_limits<int32_t>::max()) {
    return random_.nextInt(static_cast<int32_t>(bound));
  }
  return std::llabs(random_.nextLong() % bound);
}

int64_t NexmarkGenerator::nextBase0PersonId(int64_t eventId) {
  const int64_t numPeople = lastBase0PersonId(eventId) + 1;
  const int64_t activePeople = std::min<int64_t>(numPeople, config_.numActivePeople);
  const int64_t n = nextLong(activePeople + kPersonIdLead);
  return numPeople - activePeople + n;
}

int64_t NexmarkGenerator::nextBase0AuctionId(int64_t eventId) {
  const int64_t maxAuction = lastBase0AuctionId(eventId);
  const int64_t minAuction = std::max<int64_t>(maxAuction - config_.numInFlightAuctions, 0);
  return minAuction + nextLong(maxAuction - minAuction + 1 + kAuctionIdLead);
}

int64_t NexmarkGenerator::nextPrice() {
  return roundHalfUp(std::pow(10.0, random_.nextDouble() * 6.0) * 100.0);
}

void NexmarkGenerator::appendString(int32_t maxLength, char special, std::string& out) {
  appendRandomString(random_, maxLength, special, out);
}

std::string_view NexmarkGenerator::nextExtra(int32_t currentSize, int32_t desiredAverageSize) {
  if (currentSize > desiredAverageSize) {
    return {};
  }
  const int32_t average = desiredAverageSize - currentSize;
  const auto delta = static_cast<int32_t>(roundHalfUp(average * 0.2));
  const int32_t minSize = average - delta;
  const int32_t size = minSize + (delta == 0 ? 0 : random_.nextInt(2 * delta));
  const int32_t start = random_.nextInt(NexmarkTables::kLargeStringLength - size);
  return tables_->largeString().substr(static_cast<size_t>(start), static_cast<size_t>(size));
}

const NexmarkEvent& NexmarkGenerator::next() {
  // Event numbers, as the reference's GeneratorConfig: the adjusted number shuffles events
  // within out-of-order groups; the watermark is the timestamp of the group's first event.
  const int64_t groupSize = config_.outOfOrderGroupSize;
  const int64_t eventNumber = config_.firstEventNumber + eventsCountSoFar_;
  const int64_t adjustedEventNumber =
      (eventNumber / groupSize) * groupSize + (eventNumber * 953) % groupSize;
  const int64_t timestamp = timestampForEvent(adjustedEventNumber);
  event_.timestamp = timestamp;
  event_.watermark = timestampForEvent((eventNumber / groupSize) * groupSize);

  const int64_t eventId = config_.firstEventId + adjustedEventNumber;
  const int64_t rem = eventId % totalProportion_;
  if (rem < config_.personProportion) {
    nextPerson(eventId, timestamp);
  } else if (rem < config_.personProportion + config_.auctionProportion) {
    nextAuction(eventId, timestamp);
  } else {
    nextBid(eventId, timestamp);
  }
  ++eventsCountSoFar_;
  return event_;
}

void NexmarkGenerator::nextPerson(int64_t eventId, int64_t timestamp) {
  Person& person = event_.person;
  event_.type = EventType::kPerson;
  person.id = lastBase0PersonId(eventId) + kFirstPersonId;

  name_.clear();
  name_ += kFirstNames[static_cast<size_t>(random_.nextInt(kFirstNames.size()))];
  name_.push_back(' ');
  name_ += kLastNames[static_cast<size_t>(random_.nextInt(kLastNames.size()))];

  email_.clear();
  appendString(7, ' ', email_);
  email_.push_back('@');
  appendString(5, ' ', email_);
  email_ += ".com";

  creditCard_.clear();
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      creditCard_.push_back(' ');
    }
    const int32_t digits = random_.nextInt(10'000);
    creditCard_.push_back(static_cast<char>('0' + digits / 1000));
    creditCard_.push_back(static_cast<char>('0' + digits / 100 % 10));
    creditCard_.push_back(static_cast<char>('0' + digits / 10 % 10));
    creditCard_.push_back(static_cast<char>('0' + digits % 10));
  }

  const std::string_view city = kUsCities[static_cast<size_t>(random_.nextInt(kUsCities.size()))];
  const std::string_view state = kUsStates[static_cast<size_t>(random_.nextInt(kUsStates.size()))];

  const auto currentSize = static_cast<int32_t>(8 + name_.size() + email_.size() +
                                                creditCard_.size() + city.size() + state.size());
  person.name = name_;
  person.emailAddress = email_;
  person.creditCard = creditCard_;
  person.city = city;
  person.state = state;
  person.dateTime = timestamp;
  person.extra = nextExtra(currentSize, config_.avgPersonByteSize);
}

void NexmarkGenerator::nextAuction(int64_t eventId, int64_t timestamp) {
  Auction& auction = event_.auction;
  event_.type = EventType::kAuction;
  auction.id = lastBase0AuctionId(eventId) + kFirstAuctionId;

  int64_t seller;
  if (random_.nextInt(config_.hotSellersRatio) > 0) {
    seller = (lastBase0PersonId(eventId) / kHotSellerBatch) * kHotSellerBatch;
  } else {
    seller = nextBase0PersonId(eventId);
  }
  auction.seller = seller + kFirstPersonId;
  auction.category = kFirstCategoryId + random_.nextInt(kNumCategories);
  auction.initialBid = nextPrice();

  // The auction length: on average the time until numInFlightAuctions more auctions exist.
  // eventId - firstEventId is the (adjusted) event number of this event.
  const int64_t currentEventNumber = eventId - config_.firstEventId;
  const int64_t numEventsForAuctions =
      (int64_t{config_.numInFlightAuctions} * totalProportion_) / config_.auctionProportion;
  const int64_t horizonMs =
      timestampForEvent(currentEventNumber + numEventsForAuctions) - timestamp;
  auction.expires = timestamp + 1 + nextLong(std::max<int64_t>(horizonMs * 2, 1));

  itemName_.clear();
  appendString(20, ' ', itemName_);
  description_.clear();
  appendString(100, ' ', description_);
  auction.itemName = itemName_;
  auction.description = description_;
  auction.reserve = auction.initialBid + nextPrice();
  auction.dateTime = timestamp;
  const auto currentSize = static_cast<int32_t>(8 + itemName_.size() + description_.size() + 40);
  auction.extra = nextExtra(currentSize, config_.avgAuctionByteSize);
}

void NexmarkGenerator::nextBid(int64_t eventId, int64_t timestamp) {
  Bid& bid = event_.bid;
  event_.type = EventType::kBid;

  int64_t auction;
  if (random_.nextInt(config_.hotAuctionRatio) > 0) {
    auction = (lastBase0AuctionId(eventId) / kHotAuctionBatch) * kHotAuctionBatch;
  } else {
    auction = nextBase0AuctionId(eventId);
  }
  bid.auction = auction + kFirstAuctionId;

  int64_t bidder;
  if (random_.nextInt(config_.hotBiddersRatio) > 0) {
    // The second person of the batch, so hot bidders and hot sellers differ.
    bidder = (lastBase0PersonId(eventId) / kHotBidderBatch) * kHotBidderBatch + 1;
  } else {
    bidder = nextBase0PersonId(eventId);
  }
  // The reference adds the first person id twice.
  bid.bidder = bidder + 2 * kFirstPersonId;

  bid.price = nextPrice();
  if (random_.nextInt(kHotChannelsRatio) > 0) {
    const int32_t i = random_.nextInt(NexmarkTables::kNumHotChannels);
    bid.channel = tables_->hotChannel(i);
    bid.url = tables_->hotUrl(i);
  } else {
    const int32_t i = random_.nextInt(NexmarkTables::kNumChannels);
    bid.channel = tables_->channel(i);
    bid.url = tables_->channelUrl(i);
  }
  bid.dateTime = timestamp;
  bid.extra = nextExtra(32, config_.avgBidByteSize);
}

}  // namespace strom::nexmark
