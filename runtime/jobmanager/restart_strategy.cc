#include "runtime/jobmanager/restart_strategy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <deque>
#include <limits>
#include <random>
#include <string_view>
#include <utility>

namespace strom::runtime {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();  // Flink's Integer.MAX_VALUE

/// Never restart.
class NoRestartStrategy final : public RestartStrategy {
 public:
  std::optional<milliseconds> onFailure(int64_t) override { return std::nullopt; }
  std::string description() const override { return "none"; }
};

/// Restart up to `attempts` times, each after `delay`.
class FixedDelayRestartStrategy final : public RestartStrategy {
 public:
  FixedDelayRestartStrategy(int64_t attempts, milliseconds delay)
      : attempts_(attempts), delay_(delay) {}
  std::optional<milliseconds> onFailure(int64_t) override {
    if (++failures_ > attempts_) return std::nullopt;
    return delay_;
  }
  std::string description() const override {
    return fmt::format("fixed-delay ({} attempts, {} ms delay)", attempts_, delay_.count());
  }

 private:
  int64_t attempts_;
  milliseconds delay_;
  int64_t failures_ = 0;
};

/// Restart while at most `maxFailures` failures (this one included) fall within the last
/// `interval`, each after `delay`.
class FailureRateRestartStrategy final : public RestartStrategy {
 public:
  FailureRateRestartStrategy(int64_t maxFailures, milliseconds interval, milliseconds delay)
      : maxFailures_(maxFailures), interval_(interval), delay_(delay) {}
  std::optional<milliseconds> onFailure(int64_t nowMs) override {
    failures_.push_back(nowMs);
    while (!failures_.empty() && nowMs - failures_.front() >= interval_.count()) {
      failures_.pop_front();
    }
    if (static_cast<int64_t>(failures_.size()) > maxFailures_) return std::nullopt;
    return delay_;
  }
  std::string description() const override {
    return fmt::format("failure-rate ({} failures per {} ms, {} ms delay)", maxFailures_,
                       interval_.count(), delay_.count());
  }

 private:
  int64_t maxFailures_;
  milliseconds interval_;
  milliseconds delay_;
  std::deque<int64_t> failures_;  // the times of the failures within the interval, oldest first
};

struct ExponentialDelaySettings {
  milliseconds initialBackoff{1000};
  milliseconds maxBackoff{60'000};
  double multiplier = 1.5;
  milliseconds resetThreshold{3'600'000};
  double jitterFactor = 0.1;
  int64_t attemptsBeforeReset = kIntMax;
};

/// Restart after a backoff that starts at initial-backoff and grows by backoff-multiplier up to
/// max-backoff, with a random jitter of ± jitter-factor. A failure that comes
/// reset-backoff-threshold or more after the previous one resets the backoff and the attempt
/// count; more than attempts-before-reset-backoff restarts without such a reset fail the job.
class ExponentialDelayRestartStrategy final : public RestartStrategy {
 public:
  ExponentialDelayRestartStrategy(ExponentialDelaySettings settings, uint64_t seed)
      : settings_(settings), random_(seed) {}
  std::optional<milliseconds> onFailure(int64_t nowMs) override {
    if (!lastFailureMs_ || nowMs - *lastFailureMs_ >= settings_.resetThreshold.count()) {
      backoffMs_ = static_cast<double>(settings_.initialBackoff.count());
      attempts_ = 0;
    } else {
      backoffMs_ = std::min(backoffMs_ * settings_.multiplier,
                            static_cast<double>(settings_.maxBackoff.count()));
    }
    lastFailureMs_ = nowMs;
    if (++attempts_ > settings_.attemptsBeforeReset) return std::nullopt;
    double jitter = 0;
    if (settings_.jitterFactor > 0) {
      double range = backoffMs_ * settings_.jitterFactor;
      jitter = std::uniform_real_distribution<double>(-range, range)(random_);
    }
    return milliseconds(static_cast<int64_t>(std::llround(std::max(0.0, backoffMs_ + jitter))));
  }
  std::string description() const override {
    return fmt::format(
        "exponential-delay ({} ms initial backoff, {} ms max backoff, multiplier {}, jitter {}, "
        "reset after {} ms, {} attempts before reset)",
        settings_.initialBackoff.count(), settings_.maxBackoff.count(), settings_.multiplier,
        settings_.jitterFactor, settings_.resetThreshold.count(), settings_.attemptsBeforeReset);
  }

 private:
  ExponentialDelaySettings settings_;
  std::mt19937_64 random_;
  std::optional<int64_t> lastFailureMs_;
  double backoffMs_ = 0;
  int64_t attempts_ = 0;
};

std::string lowerTrimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  std::string out;
  for (char c : text) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

Status outOfRange(std::string_view key, const std::string& value, std::string_view range) {
  return Status::invalidArgument(fmt::format("config key '{}': {} {}", key, value, range));
}

Result<int64_t> intAtLeast(const Configuration& config, std::string_view key, int64_t fallback,
                           int64_t minimum) {
  STROM_ASSIGN_OR_RETURN(int64_t value, config.getInt(key, fallback));
  if (value < minimum || value > kIntMax) {
    return outOfRange(key, std::to_string(value),
                      fmt::format("is outside {}..{}", minimum, kIntMax));
  }
  return value;
}

Result<double> getDouble(const Configuration& config, std::string_view key, double fallback) {
  std::optional<std::string> value = config.getString(key);
  if (!value) return fallback;
  std::string text = lowerTrimmed(*value);
  double number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
      !std::isfinite(number)) {
    return Status::invalidArgument(
        fmt::format("config key '{}': cannot parse '{}' as a number", key, *value));
  }
  return number;
}

Result<std::unique_ptr<RestartStrategy>> fixedDelay(const Configuration& config) {
  STROM_ASSIGN_OR_RETURN(int64_t attempts,
                         intAtLeast(config, "restart-strategy.fixed-delay.attempts", 1, 0));
  STROM_ASSIGN_OR_RETURN(
      milliseconds delay,
      config.getDuration("restart-strategy.fixed-delay.delay", milliseconds(1000)));
  return std::unique_ptr<RestartStrategy>(
      std::make_unique<FixedDelayRestartStrategy>(attempts, delay));
}

Result<std::unique_ptr<RestartStrategy>> failureRate(const Configuration& config) {
  STROM_ASSIGN_OR_RETURN(
      int64_t maxFailures,
      intAtLeast(config, "restart-strategy.failure-rate.max-failures-per-interval", 1, 1));
  constexpr std::string_view kInterval = "restart-strategy.failure-rate.failure-rate-interval";
  STROM_ASSIGN_OR_RETURN(milliseconds interval,
                         config.getDuration(kInterval, milliseconds(60'000)));
  if (interval.count() <= 0) return outOfRange(kInterval, "0 ms", "must be positive");
  STROM_ASSIGN_OR_RETURN(
      milliseconds delay,
      config.getDuration("restart-strategy.failure-rate.delay", milliseconds(1000)));
  return std::unique_ptr<RestartStrategy>(
      std::make_unique<FailureRateRestartStrategy>(maxFailures, interval, delay));
}

Result<std::unique_ptr<RestartStrategy>> exponentialDelay(const Configuration& config,
                                                          uint64_t seed) {
  ExponentialDelaySettings s;
  constexpr std::string_view kPrefix = "restart-strategy.exponential-delay.";
  auto key = [&](std::string_view name) { return std::string(kPrefix) + std::string(name); };
  STROM_ASSIGN_OR_RETURN(s.initialBackoff,
                         config.getDuration(key("initial-backoff"), s.initialBackoff));
  if (s.initialBackoff.count() <= 0) {
    return outOfRange(key("initial-backoff"), "0 ms", "must be positive");
  }
  STROM_ASSIGN_OR_RETURN(s.maxBackoff, config.getDuration(key("max-backoff"), s.maxBackoff));
  if (s.maxBackoff < s.initialBackoff) {
    return outOfRange(
        key("max-backoff"), std::to_string(s.maxBackoff.count()) + " ms",
        fmt::format("is below {}initial-backoff ({} ms)", kPrefix, s.initialBackoff.count()));
  }
  STROM_ASSIGN_OR_RETURN(s.multiplier, getDouble(config, key("backoff-multiplier"), s.multiplier));
  if (s.multiplier < 1.0) {
    return outOfRange(key("backoff-multiplier"), fmt::format("{}", s.multiplier),
                      "must be at least 1.0");
  }
  STROM_ASSIGN_OR_RETURN(s.resetThreshold,
                         config.getDuration(key("reset-backoff-threshold"), s.resetThreshold));
  if (s.resetThreshold.count() <= 0) {
    return outOfRange(key("reset-backoff-threshold"), "0 ms", "must be positive");
  }
  STROM_ASSIGN_OR_RETURN(s.jitterFactor, getDouble(config, key("jitter-factor"), s.jitterFactor));
  if (s.jitterFactor < 0.0 || s.jitterFactor > 1.0) {
    return outOfRange(key("jitter-factor"), fmt::format("{}", s.jitterFactor),
                      "is outside 0.0..1.0");
  }
  STROM_ASSIGN_OR_RETURN(
      s.attemptsBeforeReset,
      intAtLeast(config, key("attempts-before-reset-backoff"), s.attemptsBeforeReset, 1));
  if (seed == 0) seed = std::random_device{}();
  return std::unique_ptr<RestartStrategy>(
      std::make_unique<ExponentialDelayRestartStrategy>(s, seed));
}

}  // namespace

Result<std::unique_ptr<RestartStrategy>> RestartStrategy::create(const Configuration& config,
                                                                 uint64_t jitterSeed) {
  std::string_view typeKey = "restart-strategy.type";
  std::optional<std::string> type = config.getString(typeKey);
  if (!type) {
    typeKey = "restart-strategy";  // Flink's deprecated key
    type = config.getString(typeKey);
  }
  if (!type) {
    // As Flink: restart only when checkpoints can restore the job's progress.
    STROM_ASSIGN_OR_RETURN(milliseconds interval,
                           config.getDuration("execution.checkpointing.interval", milliseconds(0)));
    type = interval.count() > 0 ? "exponential-delay" : "none";
  }
  std::string name = lowerTrimmed(*type);
  if (name == "none" || name == "off" || name == "disable") {
    return std::unique_ptr<RestartStrategy>(std::make_unique<NoRestartStrategy>());
  }
  if (name == "fixed-delay" || name == "fixeddelay") return fixedDelay(config);
  if (name == "failure-rate" || name == "failurerate") return failureRate(config);
  if (name == "exponential-delay" || name == "exponentialdelay") {
    return exponentialDelay(config, jitterSeed);
  }
  return Status::invalidArgument(
      fmt::format("config key '{}': unknown restart strategy '{}' (expected none, fixed-delay, "
                  "exponential-delay or failure-rate)",
                  typeKey, *type));
}

}  // namespace strom::runtime
