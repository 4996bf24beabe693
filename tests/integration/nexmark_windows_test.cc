// The windowed Nexmark queries (q5, q7, q8, q11, q12) in result mode on the MiniCluster, at
// parallelism 1 and 3, against rows computed here from the generated events.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/nexmark/query.h"
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

TEST_P(NexmarkWindowsTest, q5EmitsTheAuctionsWithTheMostBidsPerSlidingWindow) {
  // 50 events/s: 80 s of event time, about 45 windows of 10 s every 2 s. Without hot auctions
  // the bids spread over the auctions in flight, so that auctions tie for the most bids.
  NexmarkConfig config = testConfig(4000, parallelism(), 50);
  config.hotAuctionRatio = 1;
  EventLog log(config);
  std::map<int64_t, std::map<int64_t, int64_t>> countsByWindow;  // window start -> auction -> n
  for (const Bid& b : log.bids()) {
    for (int64_t start = floorTo(b.dateTime, 2'000); start > b.dateTime - kTenSeconds;
         start -= 2'000) {
      ++countsByWindow[start][b.auction];
    }
  }
  std::vector<std::string> expected;
  size_t ties = 0;
  for (const auto& [start, counts] : countsByWindow) {
    int64_t max = 0;
    for (const auto& [auction, n] : counts) max = std::max(max, n);
    size_t leaders = 0;
    for (const auto& [auction, n] : counts) {
      if (n != max) continue;
      expected.push_back(std::to_string(auction) + "," + std::to_string(n));
      ++leaders;
    }
    if (leaders > 1) ++ties;
  }
  ASSERT_GE(countsByWindow.size(), 40u);
  ASSERT_GE(ties, 5u);
  EXPECT_EQ(runQuery("q5", config, parallelism()), sorted(expected));
}

/// The q7 row of `b`, as the query writes it.
std::string q7Line(const Bid& b) {
  return std::to_string(b.auction) + "," + std::to_string(b.price) + "," +
         std::to_string(b.bidder) + "," + std::to_string(b.dateTime) + "," + csvField(b.extra);
}

/// The rows of q7 over `bids`, computed here: for each 10 s window with bids, the bids at its
/// highest price in [window_end - 10 s, window_end], both ends included.
std::vector<std::string> q7Expected(const std::vector<Bid>& bids) {
  std::map<int64_t, int64_t> maxByWindowEnd;
  for (const Bid& b : bids) {
    const int64_t end = floorTo(b.dateTime, kTenSeconds) + kTenSeconds;
    auto [it, inserted] = maxByWindowEnd.emplace(end, b.price);
    if (!inserted) it->second = std::max(it->second, b.price);
  }
  std::vector<std::string> expected;
  for (const auto& [end, max] : maxByWindowEnd) {
    for (const Bid& b : bids) {
      if (b.price == max && b.dateTime >= end - kTenSeconds && b.dateTime <= end) {
        expected.push_back(q7Line(b));
      }
    }
  }
  return expected;
}

TEST_P(NexmarkWindowsTest, q7EmitsTheBidsAtEachWindowsHighestPrice) {
  // 100 events/s: 60 s of event time, six windows.
  const NexmarkConfig config = testConfig(6000, parallelism(), 100);
  EventLog log(config);
  const std::vector<std::string> expected = q7Expected(log.bids());
  ASSERT_GE(expected.size(), 6u);
  EXPECT_EQ(runQuery("q7", config, parallelism()), sorted(expected));
}

TEST_P(NexmarkWindowsTest, q7JoinsABidAtExactlyTheWindowEndWithThatWindowToo) {
  // Hand-made bids: b2 at exactly the end of the first window has that window's highest price,
  // and is also the highest bid of its own window, so it appears twice; b4 at the end of the
  // second window does not have that window's highest price.
  constexpr int64_t kBase = 1'600'000'000'000;  // a multiple of 10 s
  auto bid = [](int64_t auction, int64_t price, int64_t offset, std::string_view extra) {
    NexmarkEvent e;
    e.type = EventType::kBid;
    e.timestamp = kBase + offset;
    e.bid.auction = auction;
    e.bid.bidder = 1000 + auction;
    e.bid.price = price;
    e.bid.dateTime = kBase + offset;
    e.bid.extra = extra;
    return e;
  };
  const std::vector<NexmarkEvent> events = {
      bid(1, 100, 5'000, "b1"), bid(2, 100, 10'000, "b2"), bid(3, 90, 12'000, "b3"),
      bid(4, 70, 20'000, "b4"), bid(5, 70, 25'000, "b5"),  bid(6, 60, 29'999, "b6"),
  };
  std::vector<Bid> bids;
  for (const NexmarkEvent& e : events) bids.push_back(e.bid);
  std::vector<std::string> expected = q7Expected(bids);
  ASSERT_EQ(expected.size(), 5u);  // b1, b2 twice, b4, b5

  auto env = StreamExecutionEnvironment::getExecutionEnvironment();
  env.setParallelism(parallelism());
  auto source = env.fromCollection(events).assignTimestampsAndWatermarks(
      WatermarkStrategy<NexmarkEvent>::forMonotonousTimestamps().withTimestampAssigner(
          [](const NexmarkEvent& e, int64_t) { return e.timestamp; }));
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("nexmark-q7-edges-p" + std::to_string(parallelism()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "result.csv").string();
  QueryContext ctx;
  ctx.parallelism = parallelism();
  const Query* q7 = findQuery("q7");
  ASSERT_NE(q7, nullptr);
  ASSERT_TRUE(q7->build(ctx, source, QueryOutput(path)).isOk());
  auto result = env.execute("q7 edges");
  ASSERT_TRUE(result.isOk()) << result.status().message();
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  EXPECT_EQ(sorted(lines), sorted(expected));
}

TEST_P(NexmarkWindowsTest, q12CountsEveryBidInAlignedProcessingTimeWindows) {
  const NexmarkConfig config = testConfig(3000, parallelism());
  EventLog log(config);
  std::map<int64_t, int64_t> bidsByBidder;
  for (const Bid& b : log.bids()) ++bidsByBidder[b.bidder];
  auto nowMs = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const int64_t before = nowMs();
  const std::vector<std::string> lines = runQuery("q12", config, parallelism());
  const int64_t after = nowMs();
  // Which window a bid falls in depends on the clock; what does not: every bid is counted
  // once (the windows still open at end of input are flushed), each bidder has at most one
  // row per window, and windows are 10 s of processing time aligned to 10 s within the run.
  std::map<int64_t, int64_t> counted;
  std::set<std::pair<int64_t, int64_t>> bidderWindows;
  for (const std::string& line : lines) {
    long long bidder = 0, count = 0, start = 0, end = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%lld,%lld,%lld,%lld", &bidder, &count, &start, &end), 4)
        << line;
    EXPECT_GT(count, 0) << line;
    EXPECT_EQ(end - start, kTenSeconds) << line;
    EXPECT_EQ(start % kTenSeconds, 0) << line;
    EXPECT_GE(start, floorTo(before, kTenSeconds)) << line;
    EXPECT_LE(start, floorTo(after, kTenSeconds)) << line;
    EXPECT_TRUE(bidderWindows.emplace(bidder, start).second) << "two rows for " << line;
    counted[bidder] += count;
  }
  ASSERT_GE(bidsByBidder.size(), 50u);
  EXPECT_EQ(counted, bidsByBidder);
}

INSTANTIATE_TEST_SUITE_P(Parallelism, NexmarkWindowsTest, ::testing::Values(1, 3),
                         ::testing::PrintToStringParamName());

}  // namespace
}  // namespace strom::nexmark::testing
