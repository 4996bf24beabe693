// The stateless Nexmark queries (q0, q1, q2) in result mode on the MiniCluster, at parallelism 1
// and 3, against rows computed here from the generated events.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nexmark_query_util.h"

namespace strom::nexmark::testing {
namespace {

class NexmarkStatelessTest : public ::testing::TestWithParam<int> {
 protected:
  int parallelism() const { return GetParam(); }
  NexmarkConfig config() const { return testConfig(3000, parallelism()); }
};

TEST_P(NexmarkStatelessTest, q0PassesEveryBidThrough) {
  EventLog log(config());
  std::vector<std::string> expected;
  for (const Bid& b : log.bids()) {
    expected.push_back(std::to_string(b.auction) + "," + std::to_string(b.bidder) + "," +
                       std::to_string(b.price) + "," + std::to_string(b.dateTime) + "," +
                       csvField(b.extra));
  }
  ASSERT_GT(expected.size(), 2000u);
  EXPECT_EQ(runQuery("q0", config(), parallelism()), sorted(expected));
}

TEST_P(NexmarkStatelessTest, q1ConvertsPricesExactly) {
  EventLog log(config());
  std::vector<std::string> expected;
  for (const Bid& b : log.bids()) {
    expected.push_back(std::to_string(b.auction) + "," + std::to_string(b.bidder) + "," +
                       decimal3(b.price * 908) + "," + std::to_string(b.dateTime) + "," +
                       csvField(b.extra));
  }
  EXPECT_EQ(runQuery("q1", config(), parallelism()), sorted(expected));
}

TEST_P(NexmarkStatelessTest, q2SelectsAuctionsDivisibleBy123) {
  // A longer run, so that some auction ids are multiples of 123.
  NexmarkConfig cfg = testConfig(20'000, parallelism());
  EventLog log(cfg);
  std::vector<std::string> expected;
  for (const Bid& b : log.bids()) {
    if (b.auction % 123 == 0) {
      expected.push_back(std::to_string(b.auction) + "," + std::to_string(b.price));
    }
  }
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(runQuery("q2", cfg, parallelism()), sorted(expected));
}

INSTANTIATE_TEST_SUITE_P(Parallelism, NexmarkStatelessTest, ::testing::Values(1, 3),
                         ::testing::PrintToStringParamName());

}  // namespace
}  // namespace strom::nexmark::testing
