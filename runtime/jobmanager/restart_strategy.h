#pragma once

#include <strom/config.h>
#include <strom/status.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace strom::runtime {

/// Decides, after each failure of a job, whether the job restarts and after what delay
/// (Flink's RestartBackoffTimeStrategy). One instance per job, made from the
/// `restart-strategy.*` keys (docs/config.md). Not thread-safe: the JobManager calls it with
/// its mutex held.
class RestartStrategy {
 public:
  virtual ~RestartStrategy() = default;

  /// Record a failure of the job at `nowMs` (epoch milliseconds of the JobManager's Clock) and
  /// return the delay before the restart, or nullopt when the job must not restart.
  virtual std::optional<std::chrono::milliseconds> onFailure(int64_t nowMs) = 0;
  /// Return the strategy and its settings, as "fixed-delay (3 attempts, 1000 ms delay)".
  virtual std::string description() const = 0;

  /// Make the strategy that `configuration` selects with `restart-strategy.type` (or its
  /// deprecated alias `restart-strategy`): `none` (aliases `off`, `disable`), `fixed-delay`
  /// (`fixeddelay`), `exponential-delay` (`exponentialdelay`) or `failure-rate`
  /// (`failurerate`), case-insensitive. Without a type, as Flink: `exponential-delay` when
  /// checkpointing is enabled (`execution.checkpointing.interval` set and positive), else
  /// `none`. `jitterSeed` seeds exponential-delay's jitter (tests pass a fixed one; 0 means a
  /// random seed). InvalidArgument naming the key for an unknown type or a bad value.
  static Result<std::unique_ptr<RestartStrategy>> create(const Configuration& configuration,
                                                         uint64_t jitterSeed = 0);
};

}  // namespace strom::runtime
