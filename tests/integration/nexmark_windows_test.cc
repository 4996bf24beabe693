// The windowed Nexmark queries (q5, q7, q8, q11, q12) in result mode on the MiniCluster, at
// parallelism 1 and 3, against rows computed here from the generated events.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nexmark_query_util.h"

namespace strom::nexmark::testing {
namespace {

constexpr int64_t kTenSeconds = 10'000;

int64_t floorTo(int64_t timestamp, int64_t size) {
  return timestamp - ((timestamp % size) + size) % size;
}

/// The number of distinct bidders in `log`.
size_t numBidders(const EventLog& log) {
  std::set<int64_t> bidders;
  for (const Bid& b : log.bids()) bidders.insert(b.bidder);
  return bidders.size();
}

class NexmarkWindowsTest : public ::testing::TestWithParam<int> {
 protected:
  int parallelism() const { return GetParam(); }
};

TEST_P(NexmarkWindowsTest, q8JoinsNewPersonsWithTheirAuctionsPerWindow) {
  // 100 events/s: 2 min of event time, twelve windows of 20 persons and 60 auctions each.
  const NexmarkConfig config = testConfig(12000, parallelism(), 100);
  EventLog log(config);
  std::map<int64_t, std::map<int64_t, std::string>> personsByWindow;  // window -> id -> name
  std::map<int64_t, std::set<int64_t>> sellersByWindow;
  for (const Person& p : log.persons()) {
    personsByWindow[floorTo(p.dateTime, kTenSeconds)][p.id] = std::string(p.name);
  }
  for (const Auction& a : log.auctions()) {
    sellersByWindow[floorTo(a.dateTime, kTenSeconds)].insert(a.seller);
  }
  std::vector<std::string> expected;
  std::set<int64_t> windows;
  for (const auto& [window, persons] : personsByWindow) {
    for (const auto& [id, name] : persons) {
      if (sellersByWindow[window].count(id) == 0) continue;
      expected.push_back(std::to_string(id) + "," + csvField(name) + "," + std::to_string(window));
      windows.insert(window);
    }
  }
  ASSERT_GE(expected.size(), 20u);
  ASSERT_GE(windows.size(), 5u);
  EXPECT_EQ(runQuery("q8", config, parallelism()), sorted(expected));
}

/// The rows of q11 over `log`, computed here; `exactGaps` counts the 10 s gaps between
/// consecutive bids of a bidder (which keep the session open).
std::vector<std::string> q11Expected(const EventLog& log, size_t& exactGaps) {
  std::map<int64_t, std::vector<int64_t>> timesByBidder;
  for (const Bid& b : log.bids()) timesByBidder[b.bidder].push_back(b.dateTime);
  std::vector<std::string> expected;
  exactGaps = 0;
  for (auto& [bidder, times] : timesByBidder) {
    std::sort(times.begin(), times.end());
    size_t first = 0;
    for (size_t i = 1; i <= times.size(); ++i) {
      if (i < times.size() && times[i] - times[i - 1] == kTenSeconds) ++exactGaps;
      if (i < times.size() && times[i] - times[i - 1] <= kTenSeconds) continue;
      expected.push_back(std::to_string(bidder) + "," + std::to_string(i - first) + "," +
                         std::to_string(times[first]) + "," +
                         std::to_string(times[i - 1] + kTenSeconds));
      first = i;
    }
  }
  return expected;
}

TEST_P(NexmarkWindowsTest, q11CountsBidsPerSessionWithATenSecondGap) {
  // 50 events/s: 2 min of event time, so that bidders pause for more than the gap.
  const NexmarkConfig config = testConfig(6000, parallelism(), 50);
  EventLog log(config);
  size_t exactGaps = 0;
  const std::vector<std::string> expected = q11Expected(log, exactGaps);
  ASSERT_GE(expected.size(), 200u);
  ASSERT_LE(numBidders(log), expected.size() - 100);  // many bidders have several sessions
  EXPECT_EQ(runQuery("q11", config, parallelism()), sorted(expected));
}

TEST_P(NexmarkWindowsTest, q11KeepsASessionOpenAcrossAGapOfExactlyTenSeconds) {
  // One split at 50 events/s has bidders whose consecutive bids are exactly 10 s apart.
  const NexmarkConfig config = testConfig(6000, 1, 50);
  EventLog log(config);
  size_t exactGaps = 0;
  const std::vector<std::string> expected = q11Expected(log, exactGaps);
  ASSERT_GE(exactGaps, 2u);
  EXPECT_EQ(runQuery("q11", config, parallelism()), sorted(expected));
}

INSTANTIATE_TEST_SUITE_P(Parallelism, NexmarkWindowsTest, ::testing::Values(1, 3),
                         ::testing::PrintToStringParamName());

}  // namespace
}  // namespace strom::nexmark::testing
