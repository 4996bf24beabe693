#include "runtime/taskmanager/task_manager.h"

#include <utility>

#include "common/logging.h"
#include "state/rocksdb/rocksdb_resources.h"

namespace strom::runtime {

Result<TaskManager::Options> TaskManager::Options::fromConfiguration(
    const Configuration& configuration, std::string id) {
  Options options;
  options.id = std::move(id);
  options.configuration = configuration;
  STROM_ASSIGN_OR_RETURN(int64_t slots, configuration.getInt("taskmanager.numberOfTaskSlots", 1));
  if (slots < 1 || slots > 4096) {
    return Status::invalidArgument("config key 'taskmanager.numberOfTaskSlots': " +
                                   std::to_string(slots) + " is outside 1..4096");
  }
  options.numberOfSlots = static_cast<int>(slots);
  STROM_ASSIGN_OR_RETURN(uint64_t segment,
                         configuration.getMemorySize("taskmanager.memory.segment-size", 32 * 1024));
  if (segment < 256 || segment > (64u << 20)) {
    return Status::invalidArgument("config key 'taskmanager.memory.segment-size': " +
                                   std::to_string(segment) + " bytes is outside 256b..64mb");
  }
  options.segmentSize = segment;
  STROM_ASSIGN_OR_RETURN(int64_t buffers,
                         configuration.getInt("taskmanager.network.numberOfBuffers", 2048));
  if (buffers < 1) {
    return Status::invalidArgument("config key 'taskmanager.network.numberOfBuffers': " +
                                   std::to_string(buffers) + " must be at least 1");
  }
  options.numberOfBuffers = static_cast<size_t>(buffers);
  return options;
}

Result<std::unique_ptr<TaskManager>> TaskManager::create(Options options, const Clock* clock,
                                                         JobManagerGateway* jobManager) {
  std::unique_ptr<TaskManager> tm(new TaskManager(std::move(options), clock, jobManager));
  STROM_ASSIGN_OR_RETURN(
      tm->bufferPool_,
      network::NetworkBufferPool::create(tm->options_.numberOfBuffers, tm->options_.segmentSize));
  STROM_ASSIGN_OR_RETURN(
      auto connectionOptions,
      network::ConnectionManagerOptions::fromConfiguration(tm->options_.configuration));
  connectionOptions.segmentSize = tm->options_.segmentSize;
  STROM_ASSIGN_OR_RETURN(tm->connections_, network::ConnectionManager::create(tm->partitionManager_,
                                                                              connectionOptions));
  tm->checkpointWriter_ = std::make_unique<CheckpointWriter>();
  // One memory budget for the RocksDB stores of every task here (allocated as they fill it).
  STROM_ASSIGN_OR_RETURN(uint64_t rocksDbMemory,
                         tm->options_.configuration.getMemorySize(
                             "state.backend.rocksdb.memory.fixed-per-tm", uint64_t{256} << 20));
  // Half of it for memtables, charged to the block cache (Flink's write-buffer-ratio default).
  tm->rocksDbResources_ = state::RocksDbResources::create(rocksDbMemory, 0.5);
  return tm;
}

TaskManager::TaskManager(Options options, const Clock* clock, JobManagerGateway* jobManager)
    : options_(std::move(options)), clock_(clock), jobManager_(jobManager) {}

TaskManager::~TaskManager() { shutdown(); }

Status TaskManager::checkJobFits(const std::string& jobName,
                                 const std::vector<const TaskDeploymentDescriptor*>& tasks) {
  NetworkBufferNeeds needs;
  std::string address = connections_->address();
  for (const TaskDeploymentDescriptor* task : tasks) {
    auto taskNeeds = Task::networkBufferNeeds(*task, options_.configuration, address);
    // As a deployment would: a bad key of the job names the task it was deployed as.
    if (!taskNeeds.isOk()) {
      return taskNeeds.status().withContext("deploying " + task->attemptId.toString());
    }
    needs += *taskNeeds;
  }
  if (needs.total() <= options_.numberOfBuffers) return Status::ok();
  return Status::invalidArgument(
      "job '" + jobName + "' needs " + std::to_string(needs.total()) + " network buffers on " +
      options_.id + " (" + std::to_string(needs.partitionBuffers) + " for " +
      std::to_string(needs.numPartitions) + " result partitions, " +
      std::to_string(needs.exclusiveBuffers) + " exclusive for " +
      std::to_string(needs.numRemoteChannels) +
      " remote channels per taskmanager.network.memory.buffers-per-channel, " +
      std::to_string(needs.floatingBuffers) + " floating for " +
      std::to_string(needs.numRemoteGates) +
      " input gates per taskmanager.network.memory.floating-buffers-per-gate), but "
      "taskmanager.network.numberOfBuffers is " +
      std::to_string(options_.numberOfBuffers) + ": raise taskmanager.network.numberOfBuffers to " +
      "at least " + std::to_string(needs.total()));
}

Status TaskManager::submitTask(TaskDeploymentDescriptor descriptor) {
  TaskServices services;
  services.bufferPool = bufferPool_.get();
  services.partitionManager = &partitionManager_;
  services.connections = connections_.get();
  services.dataAddress = connections_->address();
  services.clock = clock_;
  services.jobManager = jobManager_;
  services.configuration = options_.configuration;
  services.checkpointWriter = checkpointWriter_.get();
  services.rocksDbResources = rocksDbResources_;
  std::string jobId = descriptor.attemptId.jobId;
  STROM_ASSIGN_OR_RETURN(std::unique_ptr<Task> task, Task::create(std::move(descriptor), services));
  // Start the thread before the task becomes visible to releaseJob() and shutdown(): they join
  // and destroy the tasks they take, which must not happen to a task whose thread is not
  // started yet (start() would then run on a destroyed task).
  std::lock_guard lock(mu_);
  if (std::filesystem::path local = task->localStateDir(); !local.empty()) {
    localStateByJob_[jobId].insert(std::move(local));
  }
  task->start();
  tasksByJob_[jobId].push_back(std::move(task));
  return Status::ok();
}

Task* TaskManager::findTask(const ExecutionAttemptId& attemptId) {
  auto it = tasksByJob_.find(attemptId.jobId);
  if (it == tasksByJob_.end()) return nullptr;
  for (auto& task : it->second) {
    if (task->attemptId() == attemptId) return task.get();
  }
  return nullptr;
}

Status TaskManager::triggerCheckpoint(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                                      int64_t timestamp,
                                      const checkpoint::proto::CheckpointOptions& options) {
  std::lock_guard lock(mu_);
  Task* task = findTask(attemptId);
  if (task == nullptr) {
    return Status::notFound("checkpoint " + std::to_string(checkpointId) + ": task " +
                            attemptId.toString() + " is not on " + options_.id);
  }
  return task->triggerCheckpoint(checkpointId, timestamp, options);
}

void TaskManager::notifyCheckpointComplete(const ExecutionAttemptId& attemptId,
                                           int64_t checkpointId) {
  std::lock_guard lock(mu_);
  if (Task* task = findTask(attemptId)) task->notifyCheckpointComplete(checkpointId);
}

void TaskManager::notifyCheckpointAborted(const ExecutionAttemptId& attemptId,
                                          int64_t checkpointId) {
  std::lock_guard lock(mu_);
  if (Task* task = findTask(attemptId)) task->notifyCheckpointAborted(checkpointId);
}

void TaskManager::cancelTask(const ExecutionAttemptId& attemptId) {
  std::lock_guard lock(mu_);
  auto it = tasksByJob_.find(attemptId.jobId);
  if (it == tasksByJob_.end()) return;
  for (auto& task : it->second) {
    if (task->attemptId() == attemptId) task->cancel();
  }
}

void TaskManager::releaseJob(const std::string& jobId, bool jobEnded) {
  std::vector<std::unique_ptr<Task>> tasks;
  std::set<std::filesystem::path> localState;
  {
    std::lock_guard lock(mu_);
    if (auto local = localStateByJob_.find(jobId); jobEnded && local != localStateByJob_.end()) {
      localState = std::move(local->second);
      localStateByJob_.erase(local);
    }
    if (auto it = tasksByJob_.find(jobId); it != tasksByJob_.end()) {
      tasks = std::move(it->second);
      tasksByJob_.erase(it);
    }
  }
  for (auto& task : tasks) {
    task->cancel();
    task->join();
  }
  if (!tasks.empty()) partitionManager_.unregisterPartitionsOfJob(jobId);
  removeLocalState(std::move(localState));
}

void TaskManager::removeLocalState(std::set<std::filesystem::path> directories) {
  if (directories.empty()) return;
  auto remove = [directories] {
    for (const std::filesystem::path& directory : directories) {
      std::error_code ec;
      std::filesystem::remove_all(directory, ec);
      if (ec) {
        moduleLogger("taskmanager")
            ->warn("cannot remove the local state directory '{}': {}", directory.string(),
                   ec.message());
      }
    }
  };
  // The tasks are gone, but uploads they handed to the checkpoint writer may still move their
  // files into the local state: remove it after them, on the writer's thread (in order), or
  // here once the writer has stopped.
  if (checkpointWriter_ == nullptr || !checkpointWriter_->post(remove)) remove();
}

void TaskManager::shutdown() {
  std::map<std::string, std::vector<std::unique_ptr<Task>>> tasks;
  {
    std::lock_guard lock(mu_);
    tasks.swap(tasksByJob_);
  }
  for (auto& [jobId, jobTasks] : tasks) {
    for (auto& task : jobTasks) task->cancel();
    for (auto& task : jobTasks) task->join();
    partitionManager_.unregisterPartitionsOfJob(jobId);
  }
  // The tasks are gone: write and acknowledge what they handed on, then stop.
  if (checkpointWriter_) checkpointWriter_->shutdown();
  std::set<std::filesystem::path> localState;
  {
    std::lock_guard lock(mu_);
    for (auto& [jobId, directories] : localStateByJob_) localState.merge(directories);
    localStateByJob_.clear();
  }
  removeLocalState(std::move(localState));
}

}  // namespace strom::runtime
