#pragma once

#include <strom/config.h>
#include <strom/environment.h>
#include <strom/status.h>

#include <memory>
#include <vector>

#include "common/clock.h"
#include "graph/job_graph.h"
#include "runtime/jobmanager/job_manager.h"
#include "runtime/taskmanager/task_manager.h"

namespace strom::runtime {

/// A JobManager and TaskManagers in one process (DESIGN §2.5): the classes the daemons use,
/// connected by in-process gateways. Thread-safe; jobs may run concurrently.
class MiniCluster {
 public:
  struct Options {
    int numberOfTaskManagers = 1;  // taskmanager.count
    /// The JobManager's keys (slot.request.timeout, restart-strategy.*, jobstore.*) and the
    /// TaskManagers' (slots, buffers, ...).
    Configuration configuration;
    const Clock* clock = nullptr;  // null: the system clock; also times restarts
  };

  static Result<std::unique_ptr<MiniCluster>> start(Options options);
  ~MiniCluster();

  /// Submit a job and wait for it to end.
  Result<JobExecutionResult> executeJob(std::shared_ptr<const graph::JobGraph> jobGraph);
  JobManager& jobManager() { return *jobManager_; }
  int numberOfTaskManagers() const { return static_cast<int>(taskManagers_.size()); }
  TaskManager& taskManager(int index) { return *taskManagers_.at(static_cast<size_t>(index)); }

  /// Test hook: lose TaskManager `index` as if its process died: the JobManager unregisters it
  /// (its tasks count as failed, their jobs fail or restart on the other TaskManagers, and no
  /// later job is scheduled onto it), and its data connections and server close at once. Its
  /// task threads end when cancelled (releaseJob or the MiniCluster's end).
  void testingLoseTaskManager(int index);

 private:
  MiniCluster() = default;

  std::unique_ptr<JobManager> jobManager_;
  std::vector<std::unique_ptr<TaskManager>> taskManagers_;
};

}  // namespace strom::runtime
