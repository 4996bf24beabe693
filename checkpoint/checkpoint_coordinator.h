#pragma once

#include <strom/config.h>
#include <strom/status.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint_storage.h"
#include "checkpoint/shared_state_registry.h"
#include "common/clock.h"
#include "proto/checkpoint.pb.h"

namespace strom::checkpoint {

/// The checkpointing keys (Flink's names and defaults; docs/config.md, "Checkpoints").
struct CheckpointCoordinatorOptions {
  /// execution.checkpointing.interval: 0 (the key not set) means no periodic checkpoints.
  std::chrono::milliseconds interval{0};
  /// execution.checkpointing.timeout: a checkpoint not complete this long after its trigger is
  /// aborted.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  /// execution.checkpointing.min-pause: the least time between the end of one checkpoint
  /// (completed or aborted) and the trigger of the next. When > 0, at most one is pending.
  std::chrono::milliseconds minPause{0};
  /// execution.checkpointing.max-concurrent-checkpoints.
  int maxConcurrent = 1;
  /// execution.checkpointing.tolerable-failed-checkpoints: consecutive failed checkpoints that
  /// do not fail the job; one more does.
  int tolerableFailures = 0;
  /// state.checkpoints.num-retained: completed checkpoints kept on disk.
  int numRetained = 1;
  /// The CheckpointOptions::type of periodic checkpoints (a checkpoint::CheckpointType, from
  /// execution.checkpointing.mode and .unaligned.enabled). Not read by fromConfiguration: the
  /// owner sets it (checkpoint::barrierTypeOf).
  int type = 0;

  /// Read the keys above: InvalidArgument naming the key for a value that does not parse or is
  /// out of range (interval and timeout > 0 when set, min-pause ≥ 0, max-concurrent ≥ 1,
  /// tolerable ≥ 0, num-retained ≥ 1).
  static Result<CheckpointCoordinatorOptions> fromConfiguration(const Configuration& config);
};

/// One operator (JobGraph vertex) whose subtasks acknowledge checkpoints. Every subtask
/// 0..parallelism-1 must acknowledge before a checkpoint completes.
struct CheckpointVertex {
  int vertexId = 0;
  std::string uid;  // the operator's uid(), "" when none; restore matches on it first
  int parallelism = 1;
  int maxParallelism = 128;
};

/// One subtask of a vertex.
struct CheckpointTaskKey {
  int vertexId = 0;
  int subtaskIndex = 0;
  auto operator<=>(const CheckpointTaskKey&) const = default;
};

/// What the coordinator asks of its owner (the JobManager). Each is called with no lock of the
/// coordinator held, in the order the coordinator decided them, on the thread of whichever call
/// decided them (tick, acknowledge, decline, stop), so they may call back into the coordinator.
struct CheckpointCoordinatorCallbacks {
  /// Send "trigger checkpoint `id`" (taken at `timestamp`, epoch ms, with `options`) to the
  /// source tasks (to every task for a final checkpoint). An error aborts the checkpoint
  /// (notifyAborted) without counting it as a failure, as Flink does for a trigger while not
  /// every task runs.
  std::function<Status(int64_t checkpointId, int64_t timestamp,
                       const proto::CheckpointOptions& options)>
      trigger;
  /// Checkpoint `id` is complete (its `_metadata` is written): tell every task
  /// (notifyCheckpointComplete), so two-phase-commit sinks commit. Not called for a savepoint
  /// without `terminate` (as in Flink since 1.15, a savepoint commits no side effects: the job
  /// may later restore from an older checkpoint).
  std::function<void(int64_t checkpointId)> notifyComplete;
  /// Checkpoint `id` was aborted for `reason` (timeout, decline, subsumed, stop, trigger or
  /// write failure): tell every task (notifyCheckpointAborted).
  std::function<void(int64_t checkpointId, const Status& reason)> notifyAborted;
  /// More consecutive checkpoints failed than tolerable: fail the job with `cause`.
  std::function<void(const Status& cause)> failJob;
};

/// A checkpoint triggered now, outside the periodic schedule (CheckpointCoordinator::trigger).
struct CheckpointRequest {
  /// How it is taken; `type` is forced to aligned for a savepoint.
  proto::CheckpointOptions options;
  /// For a savepoint (required then): called when every task acknowledged, with the
  /// checkpoint's metadata (paths relative to the job directory, the files in `chk-<n>/`), under
  /// the coordinator's mutex (it must not call back into the coordinator). It makes the
  /// savepoint self-contained elsewhere (writeSavepoint) and returns its directory; `chk-<n>/` is
  /// removed afterwards. An error aborts the savepoint.
  std::function<Result<std::string>(const proto::CheckpointMetadata& metadata)> writeSavepoint;
  /// Called once, outside the coordinator's mutex and before notifyComplete/notifyAborted, with
  /// the completed checkpoint's directory (the savepoint's for a savepoint), or with the reason
  /// it was aborted. May be empty.
  std::function<void(const Result<std::string>& result)> onDone;
};

/// What became of an acknowledgement or a decline.
enum class CheckpointMessageResult {
  kAccepted,   // counted for a pending checkpoint
  kDuplicate,  // this task already acknowledged that checkpoint
  kIgnored,    // no such pending checkpoint (late for an aborted, subsumed or completed one)
  kRejected,   // a task that is not part of the job, or a malformed acknowledgement
};

/// The JobManager's checkpoint coordinator for one job attempt (docs/architecture.md,
/// "Checkpoints"). It has no thread: its owner calls tick() when nextTickMillis() has come (or
/// more often), and forwards the tasks' acknowledgements and declines. Time is read only from
/// the injected Clock, so tests drive it with a ManualClock.
///
/// Threads: every public method is thread-safe (mu_). `_metadata` is written under mu_.
/// Callbacks run outside mu_, in decision order (one thread drains the queue at a time).
class CheckpointCoordinator {
 public:
  /// `storage` is the job's checkpoint directory; checkpoint ids continue after the newest
  /// completed checkpoint found there (or start at 1), and those found count for retention and
  /// have their shared files registered (one whose `_metadata` cannot be read is logged and
  /// left out of the registry).
  /// `clock` must outlive the coordinator. InvalidArgument for vertices with no subtasks,
  /// repeated vertex ids, or missing callbacks.
  static Result<std::unique_ptr<CheckpointCoordinator>> create(
      CheckpointCoordinatorOptions options, CheckpointStorage storage,
      std::vector<CheckpointVertex> vertices, CheckpointCoordinatorCallbacks callbacks,
      const Clock& clock);

  ~CheckpointCoordinator();
  CheckpointCoordinator(const CheckpointCoordinator&) = delete;
  CheckpointCoordinator& operator=(const CheckpointCoordinator&) = delete;

  /// Start periodic checkpoints (when the interval is > 0): the first trigger is one interval
  /// from now. Call when every task of the attempt runs.
  void start();
  /// Stop: abort every pending checkpoint with `reason` (not counted as a failure), delete the
  /// shared state files no retained checkpoint references, and ignore every later message. For
  /// the end of the attempt (finished, failing, cancelled).
  void stop(const Status& reason);

  /// Trigger a checkpoint now (a savepoint, a final checkpoint, ...), whatever the interval,
  /// min pause and max concurrent checkpoints say; return its id. A savepoint does not count
  /// for retention, does not subsume pending checkpoints and is not subsumed by them, and its
  /// failures do not count towards tolerable-failed-checkpoints. FailedPrecondition after stop();
  /// InvalidArgument for a savepoint without writeSavepoint.
  Result<int64_t> trigger(CheckpointRequest request);

  /// Abort expired checkpoints and trigger the next one when it is due. Returns the epoch ms at
  /// which tick() has something to do next, or INT64_MAX when nothing is scheduled.
  int64_t tick();
  /// The epoch ms at which tick() has something to do next (INT64_MAX: nothing).
  int64_t nextTickMillis() const;

  /// Task `task` acknowledges checkpoint `checkpointId` with its state. The last acknowledgement
  /// completes the checkpoint: `_metadata` is written, its shared files are registered, older
  /// pending checkpoints are subsumed (aborted), checkpoints beyond state.checkpoints.num-retained
  /// are deleted, shared files unreferenced since before this completion are deleted, and
  /// notifyComplete is called. A failed `_metadata` write aborts it (a failure). A handle into
  /// `shared/` naming a file that does not exist aborts the checkpoint (kRejected, no failure).
  CheckpointMessageResult acknowledge(CheckpointTaskKey task, int64_t checkpointId,
                                      proto::SubtaskState state);
  /// Task `task` declines checkpoint `checkpointId` for `reason`: it is aborted, a failure
  /// (execution.checkpointing.tolerable-failed-checkpoints) unless `reason` is FailedPrecondition
  /// (the task could not take part: not running yet, input ended, stopping) or Cancelled (it
  /// dropped the checkpoint for a newer one, or its TaskManager shuts down).
  CheckpointMessageResult decline(CheckpointTaskKey task, int64_t checkpointId,
                                  const Status& reason);

  /// The newest completed checkpoint's id, or -1.
  int64_t latestCompletedId() const;
  /// The ids of the pending checkpoints, ascending.
  std::vector<int64_t> pendingIds() const;
  /// The ids of the completed checkpoints still on disk, ascending.
  std::vector<int64_t> retainedIds() const;
  /// Consecutive failed checkpoints so far (reset by a completed one).
  int consecutiveFailures() const;
  /// The number of files in `shared/` that retained checkpoints reference.
  size_t numSharedStateFiles() const;
  /// Their bytes (SharedStateRegistry::registeredBytes).
  uint64_t sharedStateBytes() const;
  const CheckpointStorage& storage() const { return storage_; }

 private:
  struct Pending {
    int64_t triggerTimestamp = 0;
    std::map<CheckpointTaskKey, proto::SubtaskState> acknowledged;
    CheckpointRequest request;  // options and callbacks (periodic: the default options)
  };
  // A callback to run once mu_ is released.
  using Action = std::function<void()>;

  CheckpointCoordinator(CheckpointCoordinatorOptions options, CheckpointStorage storage,
                        std::vector<CheckpointVertex> vertices,
                        CheckpointCoordinatorCallbacks callbacks, const Clock& clock);

  // REQUIRES: mu_ held.
  int64_t nextTickLocked() const;
  // REQUIRES: mu_ held.
  bool canTriggerLocked(int64_t now) const;
  // Trigger checkpoint `nextCheckpointId_` with `request`; return its id. REQUIRES: mu_ held.
  int64_t triggerLocked(int64_t now, CheckpointRequest request);
  // Remove pending checkpoint `id`, delete its directory and queue notifyAborted; counts as a
  // failure when `countsAsFailure`. REQUIRES: mu_ held.
  void abortLocked(int64_t id, const Status& reason, bool countsAsFailure, int64_t now);
  // REQUIRES: mu_ held.
  void completeLocked(int64_t id, int64_t now);
  // REQUIRES: mu_ held.
  bool isExpectedTaskLocked(CheckpointTaskKey task) const;
  // Run queued actions unless another thread is already doing so. REQUIRES: mu_ not held.
  void runActions();

  const CheckpointCoordinatorOptions options_;
  const CheckpointStorage storage_;
  const std::vector<CheckpointVertex> vertices_;
  const CheckpointCoordinatorCallbacks callbacks_;
  const Clock& clock_;
  const size_t numTasks_;

  mutable std::mutex mu_;
  bool running_ = false;             // started and not stopped
  bool stopped_ = false;             // stopped: nothing more happens
  int64_t nextCheckpointId_ = 1;     // the id of the next trigger
  int64_t nextPeriodicTrigger_ = 0;  // epoch ms of the next periodic trigger
  int64_t lastEnd_ = INT64_MIN;      // epoch ms the last checkpoint completed or was aborted
  std::map<int64_t, Pending> pending_;
  std::deque<int64_t> retained_;     // completed, on disk, ascending
  SharedStateRegistry sharedState_;  // the references of retained_ and pending_ into shared/
  int consecutiveFailures_ = 0;
  bool failedJob_ = false;  // failJob queued once
  std::deque<Action> actions_;
  bool drainingActions_ = false;
};

}  // namespace strom::checkpoint
