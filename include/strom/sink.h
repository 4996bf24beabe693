#pragma once

// The connector SPI for sinks: a Sink creates one writer per subtask; writers take whole
// batches (one virtual call per batch). A TwoPhaseCommittingSink (Flink's
// TwoPhaseCommittingSink, our own design) makes its output visible only for completed
// checkpoints: exactly-once output (docs/architecture.md, "Two-phase-commit sinks").

#include <strom/operator.h>
#include <strom/record_batch.h>
#include <strom/status.h>

#include <climits>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace strom {

template <class T>
class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  virtual Status open(OperatorContext& /*context*/) { return Status::ok(); }
  virtual Status write(const RecordBatch<T>& batch) = 0;
  /// Called at end of input: make everything written durable.
  virtual Status finish() { return Status::ok(); }
  virtual void close() {}
};

/// A sink definition: immutable and shareable; createWriter is called once per subtask.
template <class T>
class Sink {
 public:
  using Type = T;
  virtual ~Sink() = default;
  virtual int maxParallelism() const { return INT_MAX; }
  virtual std::unique_ptr<SinkWriter<T>> createWriter(int subtaskIndex, int parallelism) const = 0;
};

/// The checkpoint id given to prepareCommit at end of input in a job without checkpointing
/// (the sink operator then commits at once).
inline constexpr int64_t kNoCheckpointId = -1;

/// A writer of a TwoPhaseCommittingSink: what write() receives goes into the current
/// transaction, invisible to readers of the output until committed. Task thread only.
template <class T>
class PrecommittingSinkWriter : public SinkWriter<T> {
 public:
  /// Called once before the first write (after open()), after the committables a restore
  /// brought were committed: remove what earlier attempts of this subtask wrote and never
  /// prepared or committed, and, on subtask 0, what subtasks that no longer exist (an earlier
  /// run at a higher parallelism) left. Fresh starts call it too.
  virtual Status cleanUpUncommitted() { return Status::ok(); }
  /// Close the current transaction for checkpoint `checkpointId` (kNoCheckpointId at the end
  /// of a job without checkpointing): make what was written since the last call durable, and
  /// return the committables that make it visible (none when nothing was written). The next
  /// write starts a new transaction. Called on the task thread, as part of the checkpoint's
  /// synchronous part; an error declines the checkpoint.
  virtual Result<std::vector<std::string>> prepareCommit(int64_t checkpointId) = 0;
};

/// Makes committables visible. Commit must be idempotent: committing a committable again (a
/// restore after a failure that followed its commit) succeeds without changing the output.
/// Task thread only.
class SinkCommitter {
 public:
  virtual ~SinkCommitter() = default;
  virtual Status commit(std::span<const std::string> committables) = 0;
};

/// A sink with two-phase commit. The sink operator calls prepareCommit in every checkpoint's
/// snapshot, keeps the committables as operator state (union: every subtask of a restored job
/// commits all of them, so a committer must tolerate concurrent commits of the same committable
/// by several subtasks) and commits them when the checkpoint completes, or on restore; without
/// checkpointing it prepares and commits at end of input.
template <class T>
class TwoPhaseCommittingSink : public Sink<T> {
 public:
  virtual std::unique_ptr<PrecommittingSinkWriter<T>> createPrecommittingWriter(
      int subtaskIndex, int parallelism) const = 0;
  virtual std::unique_ptr<SinkCommitter> createCommitter(int subtaskIndex,
                                                         int parallelism) const = 0;
  std::unique_ptr<SinkWriter<T>> createWriter(int subtaskIndex, int parallelism) const final {
    return createPrecommittingWriter(subtaskIndex, parallelism);
  }
};

}  // namespace strom
