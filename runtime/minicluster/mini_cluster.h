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

 private:
  MiniCluster() = default;

  std::unique_ptr<JobManager> jobManager_;
  std::vector<std::unique_ptr<TaskManager>> taskManagers_;
};

}  // namespace strom::runtime
