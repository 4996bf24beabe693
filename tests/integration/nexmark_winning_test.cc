// The Nexmark queries built on the winning-bid core (q9, q4, q6) in result mode on the
// MiniCluster, at parallelism 1 and 3, against results computed here from the generated events
// by brute force: every auction against every bid of its id.

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "nexmark_query_util.h"

namespace strom::nexmark::testing {
namespace {

/// Each auction's winning bid: the highest price among the bids with its id and a dateTime in
/// [A.dateTime, A.expires], then the earliest, then the first generated. Only auctions with a
/// valid bid have one.
struct Winner {
  Auction auction;
  Bid bid;
};

std::vector<Winner> winners(const EventLog& log) {
  std::map<int64_t, std::vector<Bid>> bidsByAuction;  // in generation order (one split per id)
  for (const Bid& b : log.bids()) bidsByAuction[b.auction].push_back(b);
  std::vector<Winner> out;
  for (const Auction& a : log.auctions()) {
    std::optional<Bid> best;
    for (const Bid& b : bidsByAuction[a.id]) {
      if (b.dateTime < a.dateTime || b.dateTime > a.expires) continue;
      if (!best || b.price > best->price ||
          (b.price == best->price && b.dateTime < best->dateTime)) {
        best = b;
      }
    }
    if (best) out.push_back(Winner{a, *best});
  }
  return out;
}

/// How many valid bids were generated before their auction (they wait in the join's state).
int64_t validBidsBeforeTheirAuction(const EventLog& log) {
  std::map<int64_t, Auction> auctions;
  for (const Auction& a : log.auctions()) auctions[a.id] = a;
  std::map<int64_t, bool> seen;
  int64_t count = 0;
  for (const NexmarkEvent& e : log.events()) {
    if (e.type == EventType::kAuction) seen[e.auction.id] = true;
    if (e.type != EventType::kBid || seen[e.bid.auction]) continue;
    auto it = auctions.find(e.bid.auction);
    if (it != auctions.end() && e.bid.dateTime >= it->second.dateTime &&
        e.bid.dateTime <= it->second.expires) {
      ++count;
    }
  }
  return count;
}

/// `value` in its shortest round-trip form.
std::string shortest(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

class NexmarkWinningTest : public ::testing::TestWithParam<int> {
 protected:
  int parallelism() const { return GetParam(); }
  // 20 events per ms (so some bids share a millisecond with the auction they precede, and are
  // valid), 6 s of event time: auctions last about 0.1 s, and the watermark trails by 4 s, so
  // most close while the stream runs, the others at end of input.
  NexmarkConfig config() const { return testConfig(120'000, parallelism(), 20'000); }
};

TEST_P(NexmarkWinningTest, q9EmitsEachAuctionsWinningBid) {
  EventLog log(config());
  std::vector<std::string> expected;
  for (const Winner& w : winners(log)) {
    const Auction& a = w.auction;
    const Bid& b = w.bid;
    expected.push_back(
        std::to_string(a.id) + "," + csvField(a.itemName) + "," + csvField(a.description) + "," +
        std::to_string(a.initialBid) + "," + std::to_string(a.reserve) + "," +
        std::to_string(a.dateTime) + "," + std::to_string(a.expires) + "," +
        std::to_string(a.seller) + "," + std::to_string(a.category) + "," + csvField(a.extra) +
        "," + std::to_string(b.auction) + "," + std::to_string(b.bidder) + "," +
        std::to_string(b.price) + "," + std::to_string(b.dateTime) + "," + csvField(b.extra));
  }
  ASSERT_GT(expected.size(), 1000u);
  EXPECT_GT(validBidsBeforeTheirAuction(log), 0);
  EXPECT_EQ(runQuery("q9", config(), parallelism()), sorted(expected));
}

TEST_P(NexmarkWinningTest, q4AveragesTheWinningPricesPerCategory) {
  EventLog log(config());
  std::map<int64_t, std::pair<int64_t, int64_t>> sums;  // category -> (sum, count)
  for (const Winner& w : winners(log)) {
    sums[w.auction.category].first += w.bid.price;
    sums[w.auction.category].second += 1;
  }
  std::vector<std::string> expected;
  for (const auto& [category, sum] : sums) {
    expected.push_back(std::to_string(category) + "," +
                       shortest(static_cast<double>(sum.first) / static_cast<double>(sum.second)));
  }
  ASSERT_GE(expected.size(), 5u);
  EXPECT_EQ(runQuery("q4", config(), parallelism()), sorted(expected));
}

TEST_P(NexmarkWinningTest, q6AveragesEachSellersLastElevenClosedAuctions) {
  EventLog log(config());
  std::vector<Winner> closed = winners(log);
  std::sort(closed.begin(), closed.end(), [](const Winner& a, const Winner& b) {
    return std::tie(a.auction.expires, a.auction.id) < std::tie(b.auction.expires, b.auction.id);
  });
  std::map<int64_t, std::deque<int64_t>> last;  // seller -> its last prices, oldest first
  std::vector<std::string> expected;
  size_t fullWindows = 0;
  for (const Winner& w : closed) {
    std::deque<int64_t>& prices = last[w.auction.seller];
    prices.push_back(w.bid.price);
    if (prices.size() > 11) prices.pop_front();
    fullWindows += prices.size() == 11;
    int64_t sum = 0;
    for (int64_t price : prices) sum += price;
    expected.push_back(std::to_string(w.auction.seller) + "," +
                       shortest(static_cast<double>(sum) / static_cast<double>(prices.size())));
  }
  ASSERT_GT(expected.size(), 1000u);
  ASSERT_GT(fullWindows, 100u);  // sellers with more than 11 auctions: the window slides
  EXPECT_EQ(runQuery("q6", config(), parallelism()), sorted(expected));
}

INSTANTIATE_TEST_SUITE_P(Parallelism, NexmarkWinningTest, ::testing::Values(1, 3),
                         ::testing::PrintToStringParamName());

}  // namespace
}  // namespace strom::nexmark::testing
