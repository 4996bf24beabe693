// The Nexmark group aggregations, deduplication and top-N (q15-q19) in result mode on the
// MiniCluster, at parallelism 1 and 3: the final tables of their changelogs against tables
// computed here from the generated events.

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nexmark_query_util.h"

namespace strom::nexmark::testing {
namespace {

// 2020-09-14T00:00:00Z: the test streams start 8 s before this midnight and cross it.
constexpr int64_t kMidnight = 1'600'041'600'000;

/// DATE_FORMAT(millis, pattern) in UTC, with the C library (not the queries' formatter).
std::string utcFormat(int64_t millis, const char* pattern) {
  std::time_t seconds =
      static_cast<std::time_t>(millis >= 0 ? millis / 1000 : (millis - 999) / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  size_t n = std::strftime(text, sizeof text, pattern, &tm);
  return std::string(text, n);
}

std::string str(int64_t value) { return std::to_string(value); }

std::string str(double value) {
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  return std::string(text, end);
}

/// The events of a stream that crosses midnight.
NexmarkConfig midnightConfig(int64_t events, int parallelism, int64_t rate = 200) {
  NexmarkConfig config = testConfig(events, parallelism, rate);
  config.baseTime = kMidnight - 8'000;
  return config;
}

int priceRank(int64_t price) {
  if (price < 10'000) return 1;
  if (price < 1'000'000) return 2;
  return 3;
}

/// count(*) and count(DISTINCT bidder / auction), over all bids and per price rank.
struct DistinctCounts {
  int64_t bids[4] = {0, 0, 0, 0};
  std::set<int64_t> bidders[4];
  std::set<int64_t> auctions[4];

  void add(const Bid& b) {
    for (int filter : {0, priceRank(b.price)}) {
      ++bids[filter];
      bidders[filter].insert(b.bidder);
      auctions[filter].insert(b.auction);
    }
  }
  /// The twelve count columns of q15 and q16.
  std::string columns() const {
    std::string out = str(bids[0]) + "," + str(bids[1]) + "," + str(bids[2]) + "," + str(bids[3]);
    for (const auto* sets : {bidders, auctions}) {
      for (int filter = 0; filter < 4; ++filter) out += "," + str(int64_t(sets[filter].size()));
    }
    return out;
  }
};

class NexmarkAggregatesTest : public ::testing::TestWithParam<int> {
 protected:
  int parallelism() const { return GetParam(); }
};

TEST_P(NexmarkAggregatesTest, q15CountsDistinctBiddersAndAuctionsPerDay) {
  NexmarkConfig config = midnightConfig(4000, parallelism());
  EventLog log(config);
  std::map<std::string, DistinctCounts> days;
  for (const Bid& b : log.bids()) days[utcFormat(b.dateTime, "%Y-%m-%d")].add(b);
  std::vector<std::string> expected;
  for (const auto& [day, counts] : days) {
    // Every column counts something, and the distinct counts differ from the bid counts.
    for (int filter = 0; filter < 4; ++filter) {
      ASSERT_GT(counts.bidders[filter].size(), 0u);
      ASSERT_LT(int64_t(counts.bidders[filter].size()), counts.bids[filter]);
    }
    expected.push_back(day + "," + counts.columns());
  }
  ASSERT_EQ(expected.size(), 2u);
  EXPECT_EQ(runQuery("q15", config, parallelism()), sorted(expected));
}

TEST_P(NexmarkAggregatesTest, q16CountsDistinctBiddersAndAuctionsPerChannelAndDay) {
  NexmarkConfig config = midnightConfig(4000, parallelism());
  EventLog log(config);
  struct Group {
    std::string maxMinute;
    DistinctCounts counts;
  };
  std::map<std::pair<std::string, std::string>, Group> groups;
  for (const Bid& b : log.bids()) {
    Group& group = groups[{std::string(b.channel), utcFormat(b.dateTime, "%Y-%m-%d")}];
    group.maxMinute = std::max(group.maxMinute, utcFormat(b.dateTime, "%H:%M"));
    group.counts.add(b);
  }
  std::vector<std::string> expected;
  std::set<std::string> minutes;
  for (const auto& [key, group] : groups) {
    minutes.insert(group.maxMinute);
    expected.push_back(csvField(key.first) + "," + key.second + "," + group.maxMinute + "," +
                       group.counts.columns());
  }
  ASSERT_GT(expected.size(), 500u);
  ASSERT_GE(minutes.size(), 2u);
  EXPECT_EQ(runQuery("q16", config, parallelism()), sorted(expected));
}

TEST_P(NexmarkAggregatesTest, q17AggregatesBidsPerAuctionAndDay) {
  NexmarkConfig config = midnightConfig(4000, parallelism());
  EventLog log(config);
  struct Stats {
    int64_t total = 0;
    int64_t ranks[4] = {0, 0, 0, 0};
    int64_t min = 0;
    int64_t max = 0;
    int64_t sum = 0;
  };
  std::map<std::pair<int64_t, std::string>, Stats> table;
  std::set<std::string> days;
  for (const Bid& b : log.bids()) {
    const std::string day = utcFormat(b.dateTime, "%Y-%m-%d");
    days.insert(day);
    Stats& s = table[{b.auction, day}];
    s.min = s.total == 0 ? b.price : std::min(s.min, b.price);
    s.max = s.total == 0 ? b.price : std::max(s.max, b.price);
    ++s.total;
    ++s.ranks[priceRank(b.price)];
    s.sum += b.price;
  }
  std::vector<std::string> expected;
  for (const auto& [key, s] : table) {
    expected.push_back(
        str(key.first) + "," + key.second + "," + str(s.total) + "," + str(s.ranks[1]) + "," +
        str(s.ranks[2]) + "," + str(s.ranks[3]) + "," + str(s.min) + "," + str(s.max) + "," +
        str(static_cast<double>(s.sum) / static_cast<double>(s.total)) + "," + str(s.sum));
  }
  ASSERT_EQ(days.size(), 2u);
  ASSERT_GT(expected.size(), 100u);
  EXPECT_EQ(runQuery("q17", config, parallelism()), sorted(expected));
}

TEST_P(NexmarkAggregatesTest, q18KeepsTheLastBidPerBidderAndAuction) {
  // At 20,000 events per second many bids share their millisecond: the later one must win.
  // Two splits: at parallelism 3 the source runs two subtasks, and each split's order must
  // still reach the deduplication.
  NexmarkConfig config = testConfig(4000, 2, 20'000);
  EventLog log(config);
  std::map<std::pair<int64_t, int64_t>, Bid> last;
  int replaced = 0;
  int ties = 0;
  for (const Bid& b : log.bids()) {  // each key's bids in arrival order (one split per key)
    auto [it, inserted] = last.try_emplace({b.bidder, b.auction}, b);
    if (!inserted && b.dateTime >= it->second.dateTime) {
      ties += b.dateTime == it->second.dateTime && b.price != it->second.price ? 1 : 0;
      it->second = b;
      ++replaced;
    }
  }
  std::vector<std::string> expected;
  for (const auto& [key, b] : last) {
    expected.push_back(str(b.auction) + "," + str(b.bidder) + "," + str(b.price) + "," +
                       csvField(b.channel) + "," + csvField(b.url) + "," + str(b.dateTime) + "," +
                       csvField(b.extra));
  }
  ASSERT_GT(expected.size(), 500u);
  ASSERT_GT(replaced, 1000);
  ASSERT_GT(ties, 10);
  EXPECT_EQ(runQuery("q18", config, parallelism()), sorted(expected));
}

TEST_P(NexmarkAggregatesTest, q19KeepsTheTenHighestBidsPerAuction) {
  // One generator split (read by one source subtask whatever the parallelism), so the bids of
  // an auction reach the top-N in generation order and equal prices rank deterministically.
  NexmarkConfig config = testConfig(20'000, 1);
  EventLog log(config);
  std::map<int64_t, std::vector<Bid>> auctions;
  for (const Bid& b : log.bids()) auctions[b.auction].push_back(b);
  std::vector<std::string> expected;
  int ties = 0;
  int full = 0;
  for (auto& [auction, bids] : auctions) {
    // Highest price first; equal prices in arrival order.
    std::stable_sort(bids.begin(), bids.end(),
                     [](const Bid& a, const Bid& b) { return a.price > b.price; });
    const size_t kept = std::min<size_t>(bids.size(), 10);
    full += kept == 10 ? 1 : 0;
    for (size_t i = 0; i < kept; ++i) {
      ties += i + 1 < bids.size() && bids[i + 1].price == bids[i].price ? 1 : 0;
      const Bid& b = bids[i];
      expected.push_back(str(b.auction) + "," + str(b.bidder) + "," + str(b.price) + "," +
                         csvField(b.channel) + "," + csvField(b.url) + "," + str(b.dateTime) + "," +
                         csvField(b.extra) + "," + str(int64_t(i + 1)));
    }
  }
  std::printf("ties %d full %d rows %zu\n", ties, full, expected.size());
  ASSERT_GT(expected.size(), 1000u);
  ASSERT_GT(full, 20);
  EXPECT_EQ(runQuery("q19", config, parallelism()), sorted(expected));
}

INSTANTIATE_TEST_SUITE_P(Parallelism, NexmarkAggregatesTest, ::testing::Values(1, 3),
                         ::testing::PrintToStringParamName());

}  // namespace
}  // namespace strom::nexmark::testing
