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
    Configuration configuration;   // TaskManager options (slots, buffers, ...)
    const Clock* clock = nullptr;  // null: the system clock
  };

  static Result<std::unique_ptr<MiniCluster>> start(Options options);
  ~MiniCluster();

  /// Submit a job and wait for it to end.
  Result<JobExecutionResult> executeJob(std::shared_ptr<const graph::JobGraph> jobGraph);
  JobManager& jobManager() { return *jobManager_; }
  int numberOfTaskManagers() const { return static_cast<int>(taskManagers_.size()); }
  TaskManager& taskManager(int index) { return *taskManagers_.at(static_cast<size_t>(index)); }

  /// Test hook: lose TaskManager `index` as if its process died: later jobs are not scheduled
  /// onto it, and its data connections and server close at once, so running jobs with tasks
  /// on it fail through their remote channels. Its task threads end when cancelled.
  void testingLoseTaskManager(int index);

 private:
  MiniCluster() = default;

  std::unique_ptr<JobManager> jobManager_;
  std::vector<std::unique_ptr<TaskManager>> taskManagers_;
};

}  // namespace strom::runtime
