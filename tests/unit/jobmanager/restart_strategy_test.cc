// The decisions of each restart strategy, driven by explicit failure times (no clock runs).

#include "runtime/jobmanager/restart_strategy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "testutil/status_matchers.h"

namespace strom::runtime {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

std::unique_ptr<RestartStrategy> make(
    std::initializer_list<std::pair<std::string, std::string>> kv) {
  Configuration config;
  for (const auto& [k, v] : kv) config.set(k, v);
  auto strategy = RestartStrategy::create(config, /*jitterSeed=*/42);
  EXPECT_TRUE(strategy.isOk()) << strategy.status().toString();
  return strategy.isOk() ? std::move(strategy).value() : nullptr;
}

Status createStatus(std::initializer_list<std::pair<std::string, std::string>> kv) {
  Configuration config;
  for (const auto& [k, v] : kv) config.set(k, v);
  return RestartStrategy::create(config).status();
}

TEST(RestartStrategyTest, defaultIsNoneWithoutCheckpointingAndExponentialWithIt) {
  auto none = make({});
  EXPECT_EQ(none->description(), "none");
  EXPECT_EQ(none->onFailure(0), std::nullopt);
  auto withCheckpoints = make({{"execution.checkpointing.interval", "10 s"}});
  EXPECT_THAT(withCheckpoints->description(), HasSubstr("exponential-delay"));
  EXPECT_NE(withCheckpoints->onFailure(0), std::nullopt);
}

TEST(RestartStrategyTest, noneAndItsAliasesNeverRestart) {
  for (const char* name : {"none", "off", "disable", "NONE"}) {
    auto strategy = make({{"restart-strategy.type", name}});
    EXPECT_EQ(strategy->onFailure(0), std::nullopt) << name;
  }
}

TEST(RestartStrategyTest, fixedDelayRestartsAttemptsTimesAfterTheDelay) {
  auto strategy = make({{"restart-strategy.type", "fixed-delay"},
                        {"restart-strategy.fixed-delay.attempts", "3"},
                        {"restart-strategy.fixed-delay.delay", "2 s"}});
  EXPECT_EQ(strategy->onFailure(0), milliseconds(2000));
  EXPECT_EQ(strategy->onFailure(10), milliseconds(2000));
  EXPECT_EQ(strategy->onFailure(20), milliseconds(2000));
  EXPECT_EQ(strategy->onFailure(30), std::nullopt);
}

TEST(RestartStrategyTest, fixedDelayDefaultsToOneAttemptAfterOneSecondAndTakesAliases) {
  // The deprecated key `restart-strategy` and the value alias `fixeddelay`.
  auto strategy = make({{"restart-strategy", "FixedDelay"}});
  EXPECT_EQ(strategy->onFailure(0), milliseconds(1000));
  EXPECT_EQ(strategy->onFailure(1), std::nullopt);
}

TEST(RestartStrategyTest, failureRateRestartsWhileFailuresInTheIntervalStayWithinTheMaximum) {
  auto strategy = make({{"restart-strategy.type", "failure-rate"},
                        {"restart-strategy.failure-rate.max-failures-per-interval", "2"},
                        {"restart-strategy.failure-rate.failure-rate-interval", "10 s"},
                        {"restart-strategy.failure-rate.delay", "100 ms"}});
  EXPECT_EQ(strategy->onFailure(0), milliseconds(100));
  EXPECT_EQ(strategy->onFailure(5'000), milliseconds(100));
  // A third failure within 10 s of the first.
  EXPECT_EQ(strategy->onFailure(9'999), std::nullopt);
}

TEST(RestartStrategyTest, failureRateForgetsFailuresOlderThanTheInterval) {
  auto strategy = make({{"restart-strategy.type", "failurerate"},
                        {"restart-strategy.failure-rate.max-failures-per-interval", "2"},
                        {"restart-strategy.failure-rate.failure-rate-interval", "10 s"}});
  EXPECT_EQ(strategy->onFailure(0), milliseconds(1000));
  EXPECT_EQ(strategy->onFailure(5'000), milliseconds(1000));
  EXPECT_EQ(strategy->onFailure(10'000), milliseconds(1000));  // the first has left the interval
  EXPECT_EQ(strategy->onFailure(14'000), std::nullopt);        // 5 s, 10 s and 14 s
}

TEST(RestartStrategyTest, exponentialDelayGrowsUpToTheMaximumAndResetsAfterTheThreshold) {
  auto strategy = make({{"restart-strategy.type", "exponential-delay"},
                        {"restart-strategy.exponential-delay.initial-backoff", "100 ms"},
                        {"restart-strategy.exponential-delay.max-backoff", "1 s"},
                        {"restart-strategy.exponential-delay.backoff-multiplier", "2.0"},
                        {"restart-strategy.exponential-delay.reset-backoff-threshold", "1 min"},
                        {"restart-strategy.exponential-delay.jitter-factor", "0"}});
  EXPECT_EQ(strategy->onFailure(0), milliseconds(100));
  EXPECT_EQ(strategy->onFailure(1'000), milliseconds(200));
  EXPECT_EQ(strategy->onFailure(2'000), milliseconds(400));
  EXPECT_EQ(strategy->onFailure(3'000), milliseconds(800));
  EXPECT_EQ(strategy->onFailure(4'000), milliseconds(1000));
  EXPECT_EQ(strategy->onFailure(5'000), milliseconds(1000));
  // A minute without failures resets the backoff.
  EXPECT_EQ(strategy->onFailure(65'000), milliseconds(100));
}

TEST(RestartStrategyTest, exponentialDelayJitterStaysWithinTheFactor) {
  auto strategy = make({{"restart-strategy.type", "exponentialdelay"},
                        {"restart-strategy.exponential-delay.initial-backoff", "1 s"},
                        {"restart-strategy.exponential-delay.backoff-multiplier", "1.0"},
                        {"restart-strategy.exponential-delay.jitter-factor", "0.5"}});
  bool varied = false;
  std::optional<milliseconds> first;
  for (int i = 0; i < 50; ++i) {
    auto delay = strategy->onFailure(i);
    ASSERT_TRUE(delay.has_value());
    EXPECT_GE(delay->count(), 500);
    EXPECT_LE(delay->count(), 1500);
    if (first && *first != *delay) varied = true;
    first = delay;
  }
  EXPECT_TRUE(varied);
}

TEST(RestartStrategyTest, exponentialDelayGivesUpAfterAttemptsBeforeReset) {
  auto strategy = make({{"restart-strategy.type", "exponential-delay"},
                        {"restart-strategy.exponential-delay.attempts-before-reset-backoff", "2"},
                        {"restart-strategy.exponential-delay.jitter-factor", "0"}});
  EXPECT_EQ(strategy->onFailure(0), milliseconds(1000));
  EXPECT_EQ(strategy->onFailure(1), milliseconds(1500));  // Flink's default multiplier 1.5
  EXPECT_EQ(strategy->onFailure(2), std::nullopt);
}

TEST(RestartStrategyTest, badValuesAreRejectedNamingTheKey) {
  struct Case {
    std::string key, value, expected;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"restart-strategy.type", "sometimes", "unknown restart strategy 'sometimes'"},
           {"restart-strategy.fixed-delay.attempts", "-1", "is outside 0..2147483647"},
           {"restart-strategy.fixed-delay.attempts", "three", "cannot parse 'three'"},
           {"restart-strategy.fixed-delay.delay", "soon", "cannot parse 'soon'"},
       }) {
    Status status = createStatus({{"restart-strategy.type", "fixed-delay"}, {c.key, c.value}});
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.key;
    EXPECT_THAT(status.message(), HasSubstr("'" + c.key + "'"));
    EXPECT_THAT(status.message(), HasSubstr(c.expected));
  }
  const std::string e = "restart-strategy.exponential-delay.";
  for (const auto& [key, value] : std::initializer_list<std::pair<std::string, std::string>>{
           {e + "backoff-multiplier", "0.5"},
           {e + "backoff-multiplier", "x"},
           {e + "jitter-factor", "1.5"},
           {e + "initial-backoff", "0 ms"},
           {e + "max-backoff", "1 ms"},
           {e + "attempts-before-reset-backoff", "0"}}) {
    Status status = createStatus({{"restart-strategy.type", "exponential-delay"}, {key, value}});
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << key << "=" << value;
    EXPECT_THAT(status.message(), HasSubstr("'" + key + "'"));
  }
  const std::string f = "restart-strategy.failure-rate.";
  for (const auto& [key, value] : std::initializer_list<std::pair<std::string, std::string>>{
           {f + "max-failures-per-interval", "0"},
           {f + "failure-rate-interval", "0 s"},
           {f + "delay", "-1 s"}}) {
    Status status = createStatus({{"restart-strategy.type", "failure-rate"}, {key, value}});
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << key << "=" << value;
    EXPECT_THAT(status.message(), HasSubstr("'" + key + "'"));
  }
}

}  // namespace
}  // namespace strom::runtime
