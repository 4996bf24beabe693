#pragma once

#include <strom/environment.h>
#include <strom/status.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "graph/job_graph.h"
#include "runtime/task/deployment.h"

namespace strom::runtime {

/// The JobManager: schedules jobs onto the slots of registered TaskManagers, deploys their
/// tasks, follows task states, and fails a job (cancelling its other tasks) when a task
/// fails. User code never runs here. Thread-safe; gateways are called without mu_ held.
class JobManager final : public JobManagerGateway {
 public:
  JobManager() = default;
  ~JobManager() override = default;

  /// Add a TaskManager and its slots. The gateway must outlive the JobManager's use of it.
  void registerTaskManager(TaskManagerGateway* gateway);
  /// Stop scheduling onto a TaskManager that was lost: its slots are not offered to later
  /// jobs. Running jobs with tasks there fail through their tasks (their data connections to
  /// it close). The gateway must stay valid while such jobs run.
  void unregisterTaskManager(TaskManagerGateway* gateway);

  /// Schedule and deploy a job. Fails at once if the cluster has too few free slots, if a
  /// TaskManager can never hold the job's tasks for it (TaskManagerGateway::checkJobFits;
  /// nothing is deployed then), or if a deployment fails (the job is then cancelled).
  Result<std::string> submitJob(std::shared_ptr<const graph::JobGraph> jobGraph);
  /// Wait until the job ends; return its result or the error of its first failed task. The
  /// job is then forgotten: one caller collects each job's result.
  Result<JobExecutionResult> waitForJob(const std::string& jobId);
  /// Cancel every task of the job.
  void cancelJob(const std::string& jobId);

  void updateTaskExecutionState(const TaskExecutionState& state) override;

 private:
  struct Execution {
    ExecutionAttemptId attemptId;
    TaskManagerGateway* taskManager = nullptr;
    ExecutionState state = ExecutionState::kCreated;
  };
  struct Job {
    std::string id;
    std::shared_ptr<const graph::JobGraph> graph;
    std::vector<Execution> executions;
    std::vector<int> slotsTaken;  // indices into slots_
    int terminal = 0;
    bool failing = false;
    Status failure;
    bool done = false;
    std::chrono::steady_clock::time_point start;
    std::chrono::steady_clock::time_point end;
    std::map<std::string, int64_t> counters;  // summed over the finished tasks
  };
  struct Slot {
    TaskManagerGateway* taskManager;
    int index;
    bool free = true;
    bool lost = false;  // its TaskManager was unregistered
  };

  /// REQUIRES: mu_ held (reads the slots' TaskManagers for the producers' data addresses).
  std::vector<TaskDeploymentDescriptor> buildDeployments(const Job& job) const;
  /// Mark the job done and free its slots once every execution is terminal.
  /// REQUIRES: mu_ held.
  void finishIfDone(Job& job);
  /// Cancel the job's running executions. REQUIRES: mu_ held; returns what to cancel.
  std::vector<std::pair<TaskManagerGateway*, ExecutionAttemptId>> startFailing(Job& job,
                                                                               Status cause);

  std::mutex mu_;
  std::condition_variable jobChanged_;
  std::vector<Slot> slots_;                           // GUARDED_BY(mu_)
  std::map<std::string, std::unique_ptr<Job>> jobs_;  // GUARDED_BY(mu_)
  int nextJobNumber_ = 0;                             // GUARDED_BY(mu_)
};

}  // namespace strom::runtime
