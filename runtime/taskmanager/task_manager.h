#pragma once

#include <strom/config.h>
#include <strom/status.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
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
  void releaseJob(const std::string& jobId) override;

  /// Cancel every task and wait for all of them to end.
  void shutdown();
  /// Test hook: close every data connection of this TaskManager and its data server, as if its
  /// network (or the whole process) went away. Its tasks keep running until they notice.
  void testingShutDownNetwork() { connections_->shutdown(); }
  network::NetworkBufferPool& bufferPool() { return *bufferPool_; }
  /// Test hook, until the JobManager's checkpoint coordinator triggers checkpoints: trigger
  /// checkpoint `checkpointId` (at `timestamp`, epoch ms) at every task here, of every job
  /// (Task::triggerCheckpoint: source tasks start it, the others ignore it). Return the number
  /// of source tasks here that are running.
  int testingTriggerCheckpoint(int64_t checkpointId, int64_t timestamp);
  /// Test hook: tasks submitted after this call report their completed snapshots to `listener`
  /// (TaskServices::checkpointCompleted; called on task threads).
  void testingSetCheckpointListener(
      std::function<void(const ExecutionAttemptId&, int64_t checkpointId)> listener);

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

  std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<Task>>> tasksByJob_;        // GUARDED_BY(mu_)
  std::function<void(const ExecutionAttemptId&, int64_t)> checkpointListener_;  // GUARDED_BY(mu_)
};

}  // namespace strom::runtime
