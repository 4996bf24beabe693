#pragma once

#include <strom/config.h>
#include <strom/status.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "graph/job_graph.h"
#include "proto/checkpoint.pb.h"
#include "runtime/network/result_partition_id.h"

namespace strom::runtime {

/// The life of one execution attempt of a subtask (Flink's ExecutionState).
enum class ExecutionState {
  kCreated,
  kDeploying,
  kRunning,
  kFinished,
  kCanceling,
  kCanceled,
  kFailed
};

const char* executionStateName(ExecutionState state);
inline bool isTerminal(ExecutionState state) {
  return state == ExecutionState::kFinished || state == ExecutionState::kCanceled ||
         state == ExecutionState::kFailed;
}

/// Identifies one execution attempt of one subtask.
struct ExecutionAttemptId {
  std::string jobId;
  int vertexId = 0;
  int subtaskIndex = 0;
  int attempt = 0;
  bool operator==(const ExecutionAttemptId&) const = default;
  std::string toString() const;
};

/// One channel of an input gate: subpartition `subpartition` of a producer's partition.
struct InputChannelDescriptor {
  network::ResultPartitionId partition;
  int subpartition = 0;
  /// The data address ("host:port") of the producer's TaskManager; empty when it has no data
  /// server. A task reads the channel locally when this equals its own TaskManager's address.
  std::string producerDataAddress;
};

struct InputGateDescriptor {
  int jobEdge = 0;
  std::vector<InputChannelDescriptor> channels;
};

struct ResultPartitionDescriptor {
  int jobEdge = 0;
  network::ResultPartitionId id;
  int numSubpartitions = 0;
};

/// What a TaskManager daemon needs to rebuild a submitted job's JobGraph from its job library
/// (DESIGN §2.4): the library to fetch, the arguments and configuration to call the job's
/// `build` with, and the fingerprint the rebuilt graph must have. A value type, shared
/// read-only between the JobManager's job and every deployment of it.
struct JobInformation {
  std::string jobName;
  /// The sha256 of the job library, as 64 lowercase hex characters: its key in the blob store.
  std::string libraryKey;
  /// The job's arguments (after the library's path on the `strom run` command line).
  std::vector<std::string> args;
  /// The job's configuration: the client's, with `-D` options and `-p` applied.
  Configuration configuration;
  /// The JobGraph's topology fingerprint, which the rebuilt graph must match.
  std::string fingerprint;
};

/// Everything a TaskManager needs to run one subtask (Flink's TaskDeploymentDescriptor).
struct TaskDeploymentDescriptor {
  ExecutionAttemptId attemptId;
  /// The job, with the user code that creates its operators. In embedded mode this is the
  /// JobGraph the client built; a TaskManager daemon rebuilds it from the job library.
  std::shared_ptr<const graph::JobGraph> jobGraph;
  /// How to rebuild `jobGraph` from the job library: null in embedded mode (then `jobGraph`
  /// carries the user code); set for a job submitted to a daemon, whose gateway sends it and
  /// whose TaskManager rebuilds `jobGraph` from the library.
  std::shared_ptr<const JobInformation> jobInformation;
  std::vector<ResultPartitionDescriptor> outputs;  // in the order of JobVertex::outputs
  std::vector<InputGateDescriptor> inputs;         // in the order of JobVertex::inputs
  /// The state to restore (assigned to this subtask by the JobManager), or null for a fresh
  /// start.
  std::shared_ptr<const checkpoint::proto::TaskRestore> restore;
  /// How the job checkpoints, as the JobManager decided it (with its coordinator), which the
  /// task follows. Unset: the task reads the job's configuration (tests that deploy by hand).
  struct Checkpointing {
    bool periodic = false;  // the task waits at the end of its input for the final checkpoint
    std::string directory;  // state.checkpoints.dir of the JobManager; "" for none
  };
  std::optional<Checkpointing> checkpointing;

  const graph::JobVertex& vertex() const {
    return jobGraph->vertices().at(static_cast<size_t>(attemptId.vertexId));
  }
  /// Return "vertex name (subtask+1/parallelism)".
  std::string taskName() const;
};

/// A task's report of a state change, sent to the JobManager.
struct TaskExecutionState {
  ExecutionAttemptId attemptId;
  ExecutionState state = ExecutionState::kCreated;
  Status error;  // set when state is kFailed
  /// With a terminal state: the task's counters, "<operator name>.<counter name>" and count.
  std::vector<std::pair<std::string, int64_t>> counters;
  /// kFailed while restoring its state, because a state file of the checkpoint is corrupt or
  /// missing: an earlier checkpoint may restore where this one cannot.
  bool restoreFailed = false;
};

/// How a TaskManager talks to the JobManager. In-process in the MiniCluster; gRPC for daemons.
/// Implementations are thread-safe and never block for long.
class JobManagerGateway {
 public:
  virtual ~JobManagerGateway() = default;
  virtual void updateTaskExecutionState(const TaskExecutionState& state) = 0;
  /// The task wrote its state for checkpoint `checkpointId` (the handles in `state`, paths
  /// relative to the checkpoint's root directory).
  virtual void acknowledgeCheckpoint(const ExecutionAttemptId& /*attemptId*/,
                                     int64_t /*checkpointId*/,
                                     const checkpoint::proto::SubtaskState& /*state*/) {}
  /// The task could not take or write its state for checkpoint `checkpointId`.
  virtual void declineCheckpoint(const ExecutionAttemptId& /*attemptId*/, int64_t /*checkpointId*/,
                                 const Status& /*reason*/) {}
  /// With checkpointing on, a task that processed all its input (every operator's endInput
  /// ran, its outputs ended) reports it here and waits for the job's final checkpoint
  /// (CheckpointOptions::final) before it finishes.
  virtual void reportEndOfInput(const ExecutionAttemptId& /*attemptId*/) {}
};

/// How the JobManager talks to a TaskManager. Thread-safe; non-blocking.
class TaskManagerGateway {
 public:
  virtual ~TaskManagerGateway() = default;
  virtual const std::string& taskManagerId() const = 0;
  virtual int numberOfSlots() const = 0;
  /// Return the "host:port" of the TaskManager's data server, or "" if it has none (then
  /// every channel it hosts is local).
  virtual std::string dataAddress() const { return ""; }
  /// Check, before any task of job `jobName` is deployed, that the TaskManager can ever hold
  /// `tasks` (the job's tasks for it) at once: InvalidArgument naming the configuration key to
  /// raise if not.
  virtual Status checkJobFits(const std::string& /*jobName*/,
                              const std::vector<const TaskDeploymentDescriptor*>& /*tasks*/) {
    return Status::ok();
  }
  virtual Status submitTask(TaskDeploymentDescriptor descriptor) = 0;
  virtual void cancelTask(const ExecutionAttemptId& attemptId) = 0;
  /// Start checkpoint `checkpointId` (triggered at `timestamp`, epoch ms) at task `attemptId`:
  /// a source task emits its barrier (a final checkpoint: every task snapshots at once). An
  /// error (the task is not running here) aborts the checkpoint.
  virtual Status triggerCheckpoint(const ExecutionAttemptId& /*attemptId*/,
                                   int64_t /*checkpointId*/, int64_t /*timestamp*/,
                                   const checkpoint::proto::CheckpointOptions& /*options*/) {
    return Status::failedPrecondition("this TaskManager takes no checkpoints");
  }
  /// Checkpoint `checkpointId` completed: the task's operators commit
  /// (StreamOperator::notifyCheckpointComplete). Unknown tasks are ignored.
  virtual void notifyCheckpointComplete(const ExecutionAttemptId& /*attemptId*/,
                                        int64_t /*checkpointId*/) {}
  /// Checkpoint `checkpointId` was aborted. Unknown tasks are ignored.
  virtual void notifyCheckpointAborted(const ExecutionAttemptId& /*attemptId*/,
                                       int64_t /*checkpointId*/) {}
  /// Drop what the TaskManager still holds for `jobId` (finished tasks, partitions). `jobEnded`:
  /// the job reached a terminal state (else it restarts), so its local state copies go too.
  virtual void releaseJob(const std::string& jobId, bool jobEnded) = 0;
};

}  // namespace strom::runtime
