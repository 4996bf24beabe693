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

TEST(WatermarkValveTest, anIdleChannelIsLeftOutOfTheMinimum) {
  WatermarkValve valve({3});
  EXPECT_EQ(valve.onWatermark(0, 0, 10), std::nullopt);
  EXPECT_EQ(valve.onWatermark(0, 1, 20), std::nullopt);
  EXPECT_EQ(valve.onWatermarkStatus(0, 2, true), std::optional<int64_t>(10));
  EXPECT_FALSE(valve.idle());
  EXPECT_EQ(valve.onWatermarkStatus(0, 0, true), std::optional<int64_t>(20));
  EXPECT_EQ(valve.onWatermark(0, 0, 30), std::nullopt);  // an idle channel's watermark: ignored
  EXPECT_EQ(valve.onWatermark(0, 1, 25), std::optional<int64_t>(25));
  EXPECT_EQ(valve.onWatermarkStatus(0, 2, true), std::nullopt);  // already idle
  EXPECT_FALSE(valve.idle());
}

TEST(WatermarkValveTest, whenEveryChannelIsIdleTheValveIsIdleAndFlushesTheMaximum) {
  WatermarkValve valve({1, 1});
  EXPECT_EQ(valve.onWatermark(0, 0, 10), std::nullopt);
  EXPECT_EQ(valve.onWatermark(1, 0, 5), std::optional<int64_t>(5));
  EXPECT_EQ(valve.onWatermarkStatus(0, 0, true), std::nullopt);  // channel 1 holds 5
  EXPECT_FALSE(valve.idle());
  // The last active channel held the combined watermark: nothing advances any more, so the
  // maximum goes out before the valve turns idle.
  EXPECT_EQ(valve.onWatermarkStatus(1, 0, true), std::optional<int64_t>(10));
  EXPECT_TRUE(valve.idle());
  EXPECT_EQ(valve.current(), 10);
  EXPECT_EQ(valve.onWatermarkStatus(1, 0, false), std::nullopt);
  EXPECT_FALSE(valve.idle());
}

TEST(WatermarkValveTest, aChannelActiveAgainRejoinsOnlyOnceItCaughtUp) {
  WatermarkValve valve({2});
  EXPECT_EQ(valve.onWatermark(0, 0, 5), std::nullopt);
  EXPECT_EQ(valve.onWatermarkStatus(0, 0, true), std::nullopt);
  EXPECT_EQ(valve.onWatermark(0, 1, 100), std::optional<int64_t>(100));
  EXPECT_EQ(valve.onWatermarkStatus(0, 0, false), std::nullopt);
  // Channel 0 is behind the combined watermark: it does not pull it back.
  EXPECT_EQ(valve.onWatermark(0, 0, 50), std::nullopt);
  EXPECT_EQ(valve.onWatermark(0, 1, 120), std::optional<int64_t>(120));
  EXPECT_EQ(valve.current(), 120);
  // Caught up: it takes part in the minimum again.
  EXPECT_EQ(valve.onWatermark(0, 0, 130), std::nullopt);
  EXPECT_EQ(valve.onWatermark(0, 1, 200), std::optional<int64_t>(130));
}

TEST(WatermarkValveTest, aChannelEndingBesideIdleChannelsMakesTheValveIdle) {
  WatermarkValve valve({3});
  EXPECT_EQ(valve.onWatermark(0, 0, 7), std::nullopt);
  EXPECT_EQ(valve.onWatermarkStatus(0, 1, true), std::nullopt);
  EXPECT_EQ(valve.onWatermarkStatus(0, 2, true), std::optional<int64_t>(7));
  EXPECT_FALSE(valve.idle());
  EXPECT_EQ(valve.onEndOfChannel(0, 0), std::nullopt);
  EXPECT_TRUE(valve.idle());  // the ended channel no longer counts as active
  EXPECT_EQ(valve.onEndOfChannel(0, 1), std::nullopt);
  EXPECT_TRUE(valve.idle());
  EXPECT_EQ(valve.onEndOfChannel(0, 2), std::optional<int64_t>(kMax));
  EXPECT_FALSE(valve.idle());  // all ended: the final watermark goes out, active
}

TEST(WatermarkValveTest, statusesOfAnEndedChannelAreIgnored) {
  WatermarkValve valve({2});
  EXPECT_EQ(valve.onWatermark(0, 1, 3), std::nullopt);
  EXPECT_EQ(valve.onEndOfChannel(0, 0), std::optional<int64_t>(3));
  EXPECT_EQ(valve.onWatermarkStatus(0, 0, true), std::nullopt);
  EXPECT_FALSE(valve.idle());
  EXPECT_EQ(valve.onWatermark(0, 0, 50), std::nullopt);
  EXPECT_EQ(valve.onWatermark(0, 1, 4), std::optional<int64_t>(4));
}

TEST(WatermarkValveTest, withoutChannelsNothingIsForwarded) {
  WatermarkValve valve({});
  EXPECT_EQ(valve.current(), std::numeric_limits<int64_t>::min());
}

}  // namespace
}  // namespace strom::runtime
