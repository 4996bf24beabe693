#pragma once

#include <strom/config.h>
#include <strom/status.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "runtime/network/buffer.h"
#include "runtime/network/connection_manager.h"
#include "runtime/network/result_partition.h"
#include "runtime/task/deployment.h"
#include "runtime/task/task.h"

namespace strom::runtime {

/// A TaskManager: offers slots, runs the tasks deployed to it, and owns the network buffers
/// and result partitions they share. The same class serves the embedded MiniCluster and (with
/// a gRPC gateway in front) the strom-taskmanager daemon. Thread-safe.
class TaskManager final : public TaskManagerGateway {
 public:
  struct Options {
    std::string id = "taskmanager-0";
    int numberOfSlots = 1;           // taskmanager.numberOfTaskSlots
    size_t numberOfBuffers = 2048;   // taskmanager.network.numberOfBuffers
    size_t segmentSize = 32 * 1024;  // taskmanager.memory.segment-size
    Configuration configuration;

    /// Read the options from `configuration` (keys in docs/config.md).
    static Result<Options> fromConfiguration(const Configuration& configuration, std::string id);
  };

  static Result<std::unique_ptr<TaskManager>> create(Options options, const Clock* clock,
                                                     JobManagerGateway* jobManager);
  ~TaskManager() override;

  const std::string& taskManagerId() const override { return options_.id; }
  int numberOfSlots() const override { return options_.numberOfSlots; }
  std::string dataAddress() const override { return connections_->address(); }
  /// Reject a job whose tasks here need more network buffers (NetworkBufferNeeds) than
  /// `taskmanager.network.numberOfBuffers`, saying how many and which key to raise.
  Status checkJobFits(const std::string& jobName,
                      const std::vector<const TaskDeploymentDescriptor*>& tasks) override;
  Status submitTask(TaskDeploymentDescriptor descriptor) override;
  void cancelTask(const ExecutionAttemptId& attemptId) override;
  void releaseJob(const std::string& jobId, bool jobEnded) override;

  /// Cancel every task and wait for all of them to end.
  void shutdown();
  /// Test hook: close every data connection of this TaskManager and its data server, as if its
  /// network (or the whole process) went away. Its tasks keep running until they notice.
  void testingShutDownNetwork() { connections_->shutdown(); }
  network::NetworkBufferPool& bufferPool() { return *bufferPool_; }
  /// Start checkpoint `checkpointId` at task `attemptId` (Task::triggerCheckpoint). NotFound
  /// when the task is not here; FailedPrecondition when it is not running (or cannot take it).
  Status triggerCheckpoint(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                           int64_t timestamp,
                           const checkpoint::proto::CheckpointOptions& options) override;
  /// Hand the completion of `checkpointId` to task `attemptId` (ignored when it is not here).
  void notifyCheckpointComplete(const ExecutionAttemptId& attemptId, int64_t checkpointId) override;
  /// Hand the abort of `checkpointId` to task `attemptId` (ignored when it is not here).
  void notifyCheckpointAborted(const ExecutionAttemptId& attemptId, int64_t checkpointId) override;

 private:
  TaskManager(Options options, const Clock* clock, JobManagerGateway* jobManager);

  Options options_;
  const Clock* clock_;
  JobManagerGateway* jobManager_;
  std::unique_ptr<network::NetworkBufferPool> bufferPool_;
  network::ResultPartitionManager partitionManager_;
  // After the partitions and the buffer pool (it serves the former and is destroyed first),
  // before the tasks (their remote channels are destroyed before it).
  std::unique_ptr<network::ConnectionManager> connections_;

  // Writes the tasks' checkpoint state files; shut down after the tasks ended, so that what
  // they handed it is written and acknowledged.
  std::unique_ptr<CheckpointWriter> checkpointWriter_;
  // The block cache and write-buffer budget all RocksDB stores of this TaskManager share.
  std::shared_ptr<state::RocksDbResources> rocksDbResources_;

  /// Remove the local state `directories` after the checkpoint work already queued.
  void removeLocalState(std::set<std::filesystem::path> directories);
  /// Return the task of `attemptId`, or nullptr. REQUIRES: mu_ held.
  Task* findTask(const ExecutionAttemptId& attemptId);

  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<Task>>> tasksByJob_;  // GUARDED_BY(mu_)
  // The local state directories of each job's tasks (local recovery), removed when the job
  // ends or the TaskManager shuts down. GUARDED_BY(mu_)
  std::map<std::string, std::set<std::filesystem::path>> localStateByJob_;
};

}  // namespace strom::runtime
