#include "runtime/jobmanager/job_manager.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "common/logging.h"

namespace strom::runtime {
namespace {

/// The consumers producer `i` of `p` serves on a pointwise edge to `c` consumers, in order.
std::vector<int> pointwiseConsumers(int i, int p, int c) {
  std::vector<int> consumers;
  if (p >= c) {
    consumers.push_back(static_cast<int>(static_cast<int64_t>(i) * c / p));
  } else {
    for (int j = 0; j < c; ++j) {
      if (static_cast<int64_t>(j) * p / c == i) consumers.push_back(j);
    }
  }
  return consumers;
}

}  // namespace

void JobManager::registerTaskManager(TaskManagerGateway* gateway) {
  std::lock_guard lock(mu_);
  for (int i = 0; i < gateway->numberOfSlots(); ++i) slots_.push_back(Slot{gateway, i, true});
}

void JobManager::unregisterTaskManager(TaskManagerGateway* gateway) {
  std::lock_guard lock(mu_);
  for (Slot& slot : slots_) {
    if (slot.taskManager == gateway) slot.lost = true;
  }
}

std::vector<TaskDeploymentDescriptor> JobManager::buildDeployments(const Job& job) const {
  const graph::JobGraph& g = *job.graph;
  std::vector<TaskDeploymentDescriptor> deployments;
  for (const graph::JobVertex& vertex : g.vertices()) {
    for (int s = 0; s < vertex.parallelism; ++s) {
      TaskDeploymentDescriptor d;
      d.attemptId = ExecutionAttemptId{job.id, vertex.id, s, 0};
      d.jobGraph = job.graph;
      for (int edgeId : vertex.outputs) {
        const graph::JobEdge& edge = g.edges()[static_cast<size_t>(edgeId)];
        const graph::JobVertex& consumer = g.vertices()[static_cast<size_t>(edge.targetVertex)];
        int n = edge.pointwise()
                    ? static_cast<int>(
                          pointwiseConsumers(s, vertex.parallelism, consumer.parallelism).size())
                    : consumer.parallelism;
        d.outputs.push_back(
            ResultPartitionDescriptor{edgeId, network::ResultPartitionId{job.id, edgeId, s, 0}, n});
      }
      for (int edgeId : vertex.inputs) {
        const graph::JobEdge& edge = g.edges()[static_cast<size_t>(edgeId)];
        const graph::JobVertex& producer = g.vertices()[static_cast<size_t>(edge.sourceVertex)];
        InputGateDescriptor gate;
        gate.jobEdge = edgeId;
        for (int i = 0; i < producer.parallelism; ++i) {
          network::ResultPartitionId id{job.id, edgeId, i, 0};
          // Slot sharing: producer subtask i runs in the job's i-th slot.
          std::string address = slots_[static_cast<size_t>(job.slotsTaken[static_cast<size_t>(i)])]
                                    .taskManager->dataAddress();
          if (!edge.pointwise()) {
            gate.channels.push_back(InputChannelDescriptor{id, s, std::move(address)});
            continue;
          }
          std::vector<int> consumers =
              pointwiseConsumers(i, producer.parallelism, vertex.parallelism);
          auto it = std::find(consumers.begin(), consumers.end(), s);
          if (it != consumers.end()) {
            gate.channels.push_back(InputChannelDescriptor{
                id, static_cast<int>(it - consumers.begin()), std::move(address)});
          }
        }
        d.inputs.push_back(std::move(gate));
      }
      deployments.push_back(std::move(d));
    }
  }
  return deployments;
}

Result<std::string> JobManager::submitJob(std::shared_ptr<const graph::JobGraph> jobGraph) {
  std::vector<TaskDeploymentDescriptor> deployments;
  std::vector<TaskManagerGateway*> targets;
  std::string jobId;
  {
    std::lock_guard lock(mu_);
    int needed = jobGraph->maxVertexParallelism();
    std::vector<int> freeSlots;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].free && !slots_[i].lost) freeSlots.push_back(static_cast<int>(i));
    }
    if (static_cast<int>(freeSlots.size()) < needed) {
      size_t usable = static_cast<size_t>(
          std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.lost; }));
      return Status::resourceExhausted("job '" + jobGraph->jobName() + "' needs " +
                                       std::to_string(needed) + " slots, but only " +
                                       std::to_string(freeSlots.size()) + " of " +
                                       std::to_string(usable) + " are free");
    }
    char idBuffer[32];
    std::snprintf(idBuffer, sizeof idBuffer, "job-%04d", nextJobNumber_++);
    auto job = std::make_unique<Job>();
    job->id = idBuffer;
    job->graph = jobGraph;
    job->start = std::chrono::steady_clock::now();
    // Slot sharing: subtask s of every vertex runs in the job's s-th slot.
    job->slotsTaken.assign(freeSlots.begin(), freeSlots.begin() + needed);
    for (int slot : job->slotsTaken) slots_[static_cast<size_t>(slot)].free = false;
    deployments = buildDeployments(*job);
    for (const TaskDeploymentDescriptor& d : deployments) {
      TaskManagerGateway* tm =
          slots_[static_cast<size_t>(
                     job->slotsTaken[static_cast<size_t>(d.attemptId.subtaskIndex)])]
              .taskManager;
      job->executions.push_back(Execution{d.attemptId, tm, ExecutionState::kDeploying});
      targets.push_back(tm);
    }
    jobId = job->id;
    jobs_[jobId] = std::move(job);
  }
  // Reject a job that some TaskManager can never hold before deploying any of its tasks.
  std::vector<TaskManagerGateway*> taskManagers;
  for (TaskManagerGateway* tm : targets) {
    if (std::find(taskManagers.begin(), taskManagers.end(), tm) == taskManagers.end()) {
      taskManagers.push_back(tm);
    }
  }
  for (TaskManagerGateway* tm : taskManagers) {
    std::vector<const TaskDeploymentDescriptor*> tasks;
    for (size_t i = 0; i < deployments.size(); ++i) {
      if (targets[i] == tm) tasks.push_back(&deployments[i]);
    }
    Status fits = tm->checkJobFits(jobGraph->jobName(), tasks);
    if (!fits.isOk()) {
      std::lock_guard lock(mu_);
      for (int slot : jobs_[jobId]->slotsTaken) slots_[static_cast<size_t>(slot)].free = true;
      jobs_.erase(jobId);
      return fits;
    }
  }
  moduleLogger("jobmanager")
      ->info("job {} ({}): deploying {} tasks", jobId, jobGraph->jobName(), deployments.size());
  moduleLogger("jobmanager")->debug("job {} plan: {}", jobId, jobGraph->toJson());
  // Vertices are in topological order, so producers register their partitions before
  // their consumers are deployed. A task may fail while later ones are still being deployed:
  // then the rest are not deployed, and a task deployed just as the job began failing is
  // cancelled again (its first cancel may have reached the TaskManager before the task did).
  for (size_t i = 0; i < deployments.size(); ++i) {
    ExecutionAttemptId attemptId = deployments[i].attemptId;
    {
      std::lock_guard lock(mu_);
      Job& job = *jobs_[jobId];
      if (job.failing) {
        for (size_t j = i; j < job.executions.size(); ++j) {
          job.executions[j].state = ExecutionState::kCanceled;
          ++job.terminal;
        }
        finishIfDone(job);
        break;
      }
    }
    Status status = targets[i]->submitTask(std::move(deployments[i]));
    std::vector<std::pair<TaskManagerGateway*, ExecutionAttemptId>> toCancel;
    {
      std::lock_guard lock(mu_);
      Job& job = *jobs_[jobId];
      if (!status.isOk()) {
        // This one failed to deploy; the rest will not be deployed (see above).
        job.executions[i].state = ExecutionState::kFailed;
        ++job.terminal;
        toCancel = startFailing(job, status.withContext("deploying " + attemptId.toString()));
        finishIfDone(job);
      } else if (job.failing) {
        toCancel.emplace_back(targets[i], attemptId);
      }
    }
    for (auto& [tm, id] : toCancel) tm->cancelTask(id);
    jobChanged_.notify_all();
  }
  return jobId;
}

void JobManager::finishIfDone(Job& job) {
  if (job.done || job.terminal != static_cast<int>(job.executions.size())) return;
  job.done = true;
  job.end = std::chrono::steady_clock::now();
  for (int slot : job.slotsTaken) slots_[static_cast<size_t>(slot)].free = true;
}

std::vector<std::pair<TaskManagerGateway*, ExecutionAttemptId>> JobManager::startFailing(
    Job& job, Status cause) {
  std::vector<std::pair<TaskManagerGateway*, ExecutionAttemptId>> toCancel;
  if (!job.failing) {
    job.failing = true;
    job.failure = std::move(cause);
    for (Execution& e : job.executions) {
      if (!isTerminal(e.state)) toCancel.emplace_back(e.taskManager, e.attemptId);
    }
  }
  return toCancel;
}

void JobManager::updateTaskExecutionState(const TaskExecutionState& update) {
  std::vector<std::pair<TaskManagerGateway*, ExecutionAttemptId>> toCancel;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(update.attemptId.jobId);
    if (it == jobs_.end()) return;
    Job& job = *it->second;
    for (Execution& e : job.executions) {
      if (!(e.attemptId == update.attemptId) || isTerminal(e.state)) continue;
      e.state = update.state;
      if (!isTerminal(update.state)) break;
      ++job.terminal;
      for (const auto& [name, count] : update.counters) job.counters[name] += count;
      if (update.state == ExecutionState::kFailed) {
        toCancel = startFailing(job, update.error);
      } else if (update.state == ExecutionState::kCanceled && !job.failing) {
        toCancel = startFailing(job, Status::cancelled("job " + job.id + " was cancelled"));
      }
      break;
    }
    finishIfDone(job);
  }
  for (auto& [tm, id] : toCancel) tm->cancelTask(id);
  jobChanged_.notify_all();
}

Result<JobExecutionResult> JobManager::waitForJob(const std::string& jobId) {
  std::unique_lock lock(mu_);
  auto it = jobs_.find(jobId);
  if (it == jobs_.end()) return Status::notFound("job " + jobId + " is unknown");
  Job& job = *it->second;
  jobChanged_.wait(lock, [&] { return job.done; });
  Result<JobExecutionResult> result =
      job.failing ? Result<JobExecutionResult>(job.failure)
                  : Result<JobExecutionResult>(JobExecutionResult{
                        job.id, job.graph->jobName(),
                        std::chrono::duration_cast<std::chrono::milliseconds>(job.end - job.start),
                        std::move(job.counters)});
  jobs_.erase(it);  // its result has been collected
  return result;
}

void JobManager::cancelJob(const std::string& jobId) {
  std::vector<std::pair<TaskManagerGateway*, ExecutionAttemptId>> toCancel;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(jobId);
    if (it == jobs_.end()) return;
    toCancel = startFailing(*it->second, Status::cancelled("job " + jobId + " was cancelled"));
  }
  for (auto& [tm, id] : toCancel) tm->cancelTask(id);
}

}  // namespace strom::runtime
