#include "runtime/task/watermark_valve.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>

namespace strom::runtime {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(WatermarkValveTest, forwardsTheMinimumOverEveryChannelOfEveryGate) {
  WatermarkValve valve({2, 1});
  EXPECT_EQ(valve.onWatermark(0, 0, 10), std::nullopt);  // two channels have none yet
  EXPECT_EQ(valve.onWatermark(0, 1, 5), std::nullopt);
  EXPECT_EQ(valve.onWatermark(1, 0, 7), std::optional<int64_t>(5));
  EXPECT_EQ(valve.onWatermark(0, 1, 20), std::optional<int64_t>(7));
  EXPECT_EQ(valve.onWatermark(1, 0, 30), std::optional<int64_t>(10));
  EXPECT_EQ(valve.current(), 10);
}

TEST(WatermarkValveTest, ignoresWatermarksThatDoNotAdvanceTheirChannel) {
  WatermarkValve valve({2});
  EXPECT_EQ(valve.onWatermark(0, 0, 10), std::nullopt);
  EXPECT_EQ(valve.onWatermark(0, 1, 10), std::optional<int64_t>(10));
  EXPECT_EQ(valve.onWatermark(0, 0, 3), std::nullopt);   // going back is ignored
  EXPECT_EQ(valve.onWatermark(0, 1, 12), std::nullopt);  // channel 0 still at 10
  EXPECT_EQ(valve.onWatermark(0, 0, 11), std::optional<int64_t>(11));
}

TEST(WatermarkValveTest, anEndedChannelNoLongerHoldsTheMinimumBack) {
  WatermarkValve valve({3});
  EXPECT_EQ(valve.onWatermark(0, 0, 100), std::nullopt);
  EXPECT_EQ(valve.onWatermark(0, 1, 50), std::nullopt);
  EXPECT_EQ(valve.onEndOfChannel(0, 2), std::optional<int64_t>(50));
  EXPECT_EQ(valve.onEndOfChannel(0, 1), std::optional<int64_t>(100));
  EXPECT_EQ(valve.onEndOfChannel(0, 0), std::optional<int64_t>(kMax));
  EXPECT_EQ(valve.onEndOfChannel(0, 0), std::nullopt);
}

TEST(WatermarkValveTest, withoutChannelsNothingIsForwarded) {
  WatermarkValve valve({});
  EXPECT_EQ(valve.current(), std::numeric_limits<int64_t>::min());
}

}  // namespace
}  // namespace strom::runtime
