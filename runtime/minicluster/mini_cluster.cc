#include "runtime/minicluster/mini_cluster.h"

#include <string>
#include <utility>

namespace strom::runtime {

Result<std::unique_ptr<MiniCluster>> MiniCluster::start(Options options) {
  if (options.numberOfTaskManagers < 1) {
    return Status::invalidArgument(
        "config key 'taskmanager.count': " + std::to_string(options.numberOfTaskManagers) +
        " must be at least 1");
  }
  const Clock* clock = options.clock ? options.clock : &SystemClock::instance();
  std::unique_ptr<MiniCluster> cluster(new MiniCluster());
  STROM_RETURN_IF_ERROR(JobManager::checkConfiguration(options.configuration));
  cluster->jobManager_ = std::make_unique<JobManager>(options.configuration, clock);
  for (int i = 0; i < options.numberOfTaskManagers; ++i) {
    STROM_ASSIGN_OR_RETURN(TaskManager::Options tmOptions,
                           TaskManager::Options::fromConfiguration(
                               options.configuration, "taskmanager-" + std::to_string(i)));
    STROM_ASSIGN_OR_RETURN(
        auto tm, TaskManager::create(std::move(tmOptions), clock, cluster->jobManager_.get()));
    cluster->jobManager_->registerTaskManager(tm.get());
    cluster->taskManagers_.push_back(std::move(tm));
  }
  return cluster;
}

void MiniCluster::testingLoseTaskManager(int index) {
  TaskManager& lost = taskManager(index);
  jobManager_->unregisterTaskManager(
      &lost,
      Status::unavailable("MiniCluster::testingLoseTaskManager(" + std::to_string(index) + ")"));
  lost.testingShutDownNetwork();
}

MiniCluster::~MiniCluster() {
  // The JobManager must not call a TaskManager once it is shut down, nor restart jobs onto it.
  for (auto& tm : taskManagers_) {
    jobManager_->unregisterTaskManager(tm.get(), Status::cancelled("the MiniCluster shuts down"));
  }
  for (auto& tm : taskManagers_) tm->shutdown();
}

Result<JobExecutionResult> MiniCluster::executeJob(
    std::shared_ptr<const graph::JobGraph> jobGraph) {
  STROM_ASSIGN_OR_RETURN(std::string jobId, jobManager_->submitJob(std::move(jobGraph)));
  Result<JobExecutionResult> result = jobManager_->waitForJob(jobId);
  for (auto& tm : taskManagers_) tm->releaseJob(jobId, /*jobEnded=*/true);
  return result;
}

}  // namespace strom::runtime
