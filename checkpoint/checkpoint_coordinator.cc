#include "checkpoint/checkpoint_coordinator.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <system_error>

#include "checkpoint/task_state_file.h"
#include "common/logging.h"

namespace strom::checkpoint {
namespace {

std::shared_ptr<spdlog::logger> logger() { return moduleLogger("checkpoint"); }

std::string taskName(CheckpointTaskKey task) {
  return "vertex " + std::to_string(task.vertexId) + " subtask " +
         std::to_string(task.subtaskIndex);
}

// Same rule as readMetadataFile's: relative to the job directory, no "." or "..".
bool isSafeHandlePath(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  for (const std::filesystem::path& part : std::filesystem::path(path)) {
    if (part == ".." || part == "." || part.empty()) return false;
  }
  return true;
}

int64_t saturatingAdd(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
  if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
  return a + b;
}

}  // namespace

Result<CheckpointCoordinatorOptions> CheckpointCoordinatorOptions::fromConfiguration(
    const Configuration& config) {
  CheckpointCoordinatorOptions options;
  STROM_ASSIGN_OR_RETURN(options.interval,
                         config.getDuration("execution.checkpointing.interval", options.interval));
  STROM_ASSIGN_OR_RETURN(options.timeout,
                         config.getDuration("execution.checkpointing.timeout", options.timeout));
  STROM_ASSIGN_OR_RETURN(options.minPause,
                         config.getDuration("execution.checkpointing.min-pause", options.minPause));
  STROM_ASSIGN_OR_RETURN(
      int64_t maxConcurrent,
      config.getInt("execution.checkpointing.max-concurrent-checkpoints", options.maxConcurrent));
  STROM_ASSIGN_OR_RETURN(int64_t tolerable,
                         config.getInt("execution.checkpointing.tolerable-failed-checkpoints",
                                       options.tolerableFailures));
  STROM_ASSIGN_OR_RETURN(int64_t retained,
                         config.getInt("state.checkpoints.num-retained", options.numRetained));
  auto outOfRange = [](const char* key, int64_t value, const char* allowed) {
    return Status::invalidArgument(std::string("config key '") + key +
                                   "': " + std::to_string(value) + " is not " + allowed);
  };
  if (options.interval.count() < 0) {
    return outOfRange("execution.checkpointing.interval", options.interval.count(), ">= 0");
  }
  if (options.timeout.count() <= 0) {
    return outOfRange("execution.checkpointing.timeout", options.timeout.count(), "> 0");
  }
  if (options.minPause.count() < 0) {
    return outOfRange("execution.checkpointing.min-pause", options.minPause.count(), ">= 0");
  }
  if (maxConcurrent < 1 || maxConcurrent > INT32_MAX) {
    return outOfRange("execution.checkpointing.max-concurrent-checkpoints", maxConcurrent,
                      "in 1..2147483647");
  }
  if (tolerable < 0 || tolerable > INT32_MAX) {
    return outOfRange("execution.checkpointing.tolerable-failed-checkpoints", tolerable,
                      "in 0..2147483647");
  }
  if (retained < 1 || retained > INT32_MAX) {
    return outOfRange("state.checkpoints.num-retained", retained, "in 1..2147483647");
  }
  options.maxConcurrent = static_cast<int>(maxConcurrent);
  options.tolerableFailures = static_cast<int>(tolerable);
  options.numRetained = static_cast<int>(retained);
  return options;
}

Result<std::unique_ptr<CheckpointCoordinator>> CheckpointCoordinator::create(
    CheckpointCoordinatorOptions options, CheckpointStorage storage,
    std::vector<CheckpointVertex> vertices, CheckpointCoordinatorCallbacks callbacks,
    const Clock& clock) {
  if (vertices.empty()) {
    return Status::invalidArgument("checkpoint coordinator: the job has no vertices");
  }
  std::sort(
      vertices.begin(), vertices.end(),
      [](const CheckpointVertex& a, const CheckpointVertex& b) { return a.vertexId < b.vertexId; });
  for (size_t i = 0; i < vertices.size(); ++i) {
    if (vertices[i].parallelism < 1) {
      return Status::invalidArgument("checkpoint coordinator: vertex " +
                                     std::to_string(vertices[i].vertexId) + " has parallelism " +
                                     std::to_string(vertices[i].parallelism));
    }
    if (i > 0 && vertices[i].vertexId == vertices[i - 1].vertexId) {
      return Status::invalidArgument("checkpoint coordinator: vertex " +
                                     std::to_string(vertices[i].vertexId) + " is listed twice");
    }
  }
  if (!callbacks.trigger || !callbacks.notifyComplete || !callbacks.notifyAborted ||
      !callbacks.failJob) {
    return Status::invalidArgument("checkpoint coordinator: every callback must be set");
  }
  STROM_ASSIGN_OR_RETURN(std::vector<int64_t> completed, storage.listCompleted());
  std::unique_ptr<CheckpointCoordinator> coordinator(new CheckpointCoordinator(
      options, std::move(storage), std::move(vertices), std::move(callbacks), clock));
  if (!completed.empty()) {
    coordinator->nextCheckpointId_ = completed.back() + 1;
    coordinator->retained_.assign(completed.begin(), completed.end());
  }
  // The retained checkpoints' shared files: the next checkpoints may reference them again. One
  // that cannot be read can neither be restored from nor protect its files.
  for (int64_t id : completed) {
    Result<proto::CheckpointMetadata> metadata = coordinator->storage_.readMetadata(id);
    if (!metadata.isOk()) {
      logger()->warn("job {}: not registering the shared state of checkpoint {}: {}",
                     coordinator->storage_.jobId(), id, metadata.status().toString());
      continue;
    }
    coordinator->sharedState_.registerCheckpoint(id, *metadata);
  }
  return coordinator;
}

CheckpointCoordinator::CheckpointCoordinator(CheckpointCoordinatorOptions options,
                                             CheckpointStorage storage,
                                             std::vector<CheckpointVertex> vertices,
                                             CheckpointCoordinatorCallbacks callbacks,
                                             const Clock& clock)
    : options_(options),
      storage_(std::move(storage)),
      vertices_(std::move(vertices)),
      callbacks_(std::move(callbacks)),
      clock_(clock),
      numTasks_([this] {
        size_t n = 0;
        for (const CheckpointVertex& v : vertices_) n += static_cast<size_t>(v.parallelism);
        return n;
      }()),
      sharedState_(storage_.jobDir(), storage_.jobId()) {}

CheckpointCoordinator::~CheckpointCoordinator() = default;

void CheckpointCoordinator::start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_ || running_) return;
    running_ = true;
    nextPeriodicTrigger_ = saturatingAdd(clock_.currentTimeMillis(), options_.interval.count());
  }
  runActions();
}

void CheckpointCoordinator::stop(const Status& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    running_ = false;
    stopped_ = true;
    int64_t now = clock_.currentTimeMillis();
    while (!pending_.empty()) {
      abortLocked(pending_.begin()->first, reason, /*countsAsFailure=*/false, now);
    }
    // No checkpoint of this attempt can reference a file again; the next attempt restores from
    // a retained one, whose files are referenced.
    sharedState_.deleteAllCandidates();
  }
  runActions();
}

int64_t CheckpointCoordinator::tick() {
  int64_t next = INT64_MAX;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t now = clock_.currentTimeMillis();
    std::vector<int64_t> expired;
    for (const auto& [id, pending] : pending_) {
      if (saturatingAdd(pending.triggerTimestamp, options_.timeout.count()) <= now) {
        expired.push_back(id);
      }
    }
    for (int64_t id : expired) {
      const Pending& pending = pending_.at(id);
      std::string missing;
      int shown = 0;
      for (const CheckpointVertex& vertex : vertices_) {
        for (int s = 0; s < vertex.parallelism && shown < 5; ++s) {
          CheckpointTaskKey key{vertex.vertexId, s};
          if (pending.acknowledged.count(key) == 0) {
            missing += (shown++ == 0 ? "" : ", ") + taskName(key);
          }
        }
      }
      size_t acked = pending.acknowledged.size();
      if (numTasks_ - acked > 5) missing += ", ...";
      abortLocked(
          id,
          Status::deadlineExceeded("checkpoint " + std::to_string(id) + " expired after " +
                                   std::to_string(options_.timeout.count()) + " ms with " +
                                   std::to_string(acked) + " of " + std::to_string(numTasks_) +
                                   " tasks acknowledged (missing: " + missing + ")"),
          /*countsAsFailure=*/true, now);
    }
    if (canTriggerLocked(now)) {
      nextPeriodicTrigger_ = saturatingAdd(now, options_.interval.count());
      CheckpointRequest periodic;
      periodic.options.set_type(options_.type);
      triggerLocked(now, std::move(periodic));
    }
    next = nextTickLocked();
  }
  runActions();
  return next;
}

int64_t CheckpointCoordinator::nextTickMillis() const {
  std::lock_guard<std::mutex> lock(mu_);
  return nextTickLocked();
}

int64_t CheckpointCoordinator::nextTickLocked() const {
  int64_t next = INT64_MAX;
  for (const auto& [id, pending] : pending_) {
    next = std::min(next, saturatingAdd(pending.triggerTimestamp, options_.timeout.count()));
  }
  if (running_ && options_.interval.count() > 0 &&
      pending_.size() < static_cast<size_t>(options_.maxConcurrent) &&
      (options_.minPause.count() == 0 || pending_.empty())) {
    int64_t due = nextPeriodicTrigger_;
    if (options_.minPause.count() > 0 && lastEnd_ != INT64_MIN) {
      due = std::max(due, saturatingAdd(lastEnd_, options_.minPause.count()));
    }
    next = std::min(next, due);
  }
  return next;
}

bool CheckpointCoordinator::canTriggerLocked(int64_t now) const {
  if (!running_ || options_.interval.count() <= 0 || now < nextPeriodicTrigger_) return false;
  if (pending_.size() >= static_cast<size_t>(options_.maxConcurrent)) return false;
  if (options_.minPause.count() > 0) {
    if (!pending_.empty()) return false;
    if (lastEnd_ != INT64_MIN && now < saturatingAdd(lastEnd_, options_.minPause.count())) {
      return false;
    }
  }
  return true;
}

Result<int64_t> CheckpointCoordinator::trigger(CheckpointRequest request) {
  if (request.options.savepoint() && !request.writeSavepoint) {
    return Status::invalidArgument("checkpoint coordinator: a savepoint needs writeSavepoint");
  }
  if (request.options.savepoint()) request.options.set_type(0);  // always aligned
  int64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) {
      return Status::failedPrecondition("job " + storage_.jobId() +
                                        ": the checkpoint coordinator is stopped");
    }
    id = triggerLocked(clock_.currentTimeMillis(), std::move(request));
  }
  runActions();
  return id;
}

int64_t CheckpointCoordinator::triggerLocked(int64_t now, CheckpointRequest request) {
  int64_t id = nextCheckpointId_++;
  proto::CheckpointOptions options = request.options;
  Pending& pending = pending_[id];
  pending.triggerTimestamp = now;
  pending.request = std::move(request);
  Status initialized = storage_.initializeCheckpoint(id);
  if (!initialized.isOk()) {
    abortLocked(id, initialized, /*countsAsFailure=*/true, now);
    return id;
  }
  logger()->debug("job {}: triggering {} {}", storage_.jobId(),
                  options.savepoint() ? "savepoint" : "checkpoint", id);
  actions_.push_back([this, id, now, options] {
    Status status = callbacks_.trigger(id, now, options);
    if (status.isOk()) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.count(id) != 0) {
      abortLocked(id, status.withContext("checkpoint " + std::to_string(id) + ": trigger failed"),
                  /*countsAsFailure=*/false, clock_.currentTimeMillis());
    }
  });
  return id;
}

void CheckpointCoordinator::abortLocked(int64_t id, const Status& reason, bool countsAsFailure,
                                        int64_t now) {
  auto it = pending_.find(id);
  if (it != pending_.end()) {
    if (it->second.request.options.savepoint()) countsAsFailure = false;
    if (it->second.request.onDone) {
      actions_.push_back(
          [onDone = std::move(it->second.request.onDone), reason] { onDone(reason); });
    }
    pending_.erase(it);
  }
  sharedState_.dropPending(id);
  lastEnd_ = now;
  Status discarded = storage_.discardCheckpoint(id);
  if (!discarded.isOk()) logger()->warn("job {}: {}", storage_.jobId(), discarded.toString());
  logger()->info("job {}: checkpoint {} aborted: {}", storage_.jobId(), id, reason.toString());
  actions_.push_back([this, id, reason] { callbacks_.notifyAborted(id, reason); });
  if (!countsAsFailure) return;
  ++consecutiveFailures_;
  if (consecutiveFailures_ > options_.tolerableFailures && !failedJob_) {
    failedJob_ = true;
    Status cause(reason.code(),
                 "exceeded the checkpoint tolerable failure threshold "
                 "(execution.checkpointing.tolerable-failed-checkpoints = " +
                     std::to_string(options_.tolerableFailures) + ", " +
                     std::to_string(consecutiveFailures_) +
                     " consecutive failures); the last: " + reason.message());
    actions_.push_back([this, cause] { callbacks_.failJob(cause); });
  }
}

void CheckpointCoordinator::completeLocked(int64_t id, int64_t now) {
  Pending pending = std::move(pending_.at(id));
  proto::CheckpointMetadata metadata;
  metadata.set_checkpoint_id(id);
  metadata.set_job_id(storage_.jobId());
  metadata.set_trigger_timestamp(pending.triggerTimestamp);
  metadata.set_completion_timestamp(now);
  auto acked = pending.acknowledged.begin();
  for (const CheckpointVertex& vertex : vertices_) {
    proto::OperatorState* op = metadata.add_operators();
    op->set_vertex_id(vertex.vertexId);
    op->set_uid(vertex.uid);
    op->set_parallelism(vertex.parallelism);
    op->set_max_parallelism(vertex.maxParallelism);
    // The map is ordered by (vertex, subtask) and holds every task: take this vertex's run.
    for (int s = 0; s < vertex.parallelism; ++s, ++acked) {
      *op->add_subtasks() = std::move(acked->second);
    }
  }
  // Sizes for the log; channel state makes the checkpoint restorable at this parallelism only.
  uint64_t stateBytes = 0;
  uint64_t channelStateBytes = 0;
  for (const proto::OperatorState& op : metadata.operators()) {
    for (const proto::SubtaskState& subtask : op.subtasks()) {
      for (const proto::StateHandle& handle : subtask.handles()) {
        stateBytes += handle.length();
        if (handle.kind() == kChannelStateKind) channelStateBytes += handle.length();
      }
    }
  }
  metadata.set_unaligned(channelStateBytes > 0);
  const proto::CheckpointOptions& options = pending.request.options;
  if (options.savepoint()) {
    Result<std::string> directory = pending.request.writeSavepoint(metadata);
    Status discarded = storage_.discardCheckpoint(id);
    if (!discarded.isOk()) logger()->warn("job {}: {}", storage_.jobId(), discarded.toString());
    if (!directory.isOk()) {
      pending_.at(id).request = std::move(pending.request);  // abortLocked calls onDone
      abortLocked(id, directory.status().withContext("savepoint " + std::to_string(id)),
                  /*countsAsFailure=*/false, now);
      return;
    }
    pending_.erase(id);
    // Never registered: the savepoint holds copies of its files.
    sharedState_.dropPending(id);
    lastEnd_ = now;
    logger()->info("job {}: savepoint {} completed in {} ms: {}", storage_.jobId(), id,
                   now - pending.triggerTimestamp, *directory);
    if (pending.request.onDone) {
      actions_.push_back(
          [onDone = std::move(pending.request.onDone), directory] { onDone(directory); });
    }
    if (options.terminate()) actions_.push_back([this, id] { callbacks_.notifyComplete(id); });
    return;
  }
  Status written = storage_.writeMetadata(metadata);
  if (!written.isOk()) {
    pending_.at(id).request = std::move(pending.request);
    abortLocked(id, written, /*countsAsFailure=*/true, now);
    return;
  }
  // Registered before the older checkpoints are subsumed or discarded, so that the files this
  // one shares with them never become candidates.
  sharedState_.registerCheckpoint(id, metadata);
  pending_.erase(id);
  lastEnd_ = now;
  consecutiveFailures_ = 0;
  retained_.push_back(id);
  logger()->info(
      "job {}: checkpoint {} completed in {} ms ({} bytes of state, {} of them channel "
      "state)",
      storage_.jobId(), id, now - pending.triggerTimestamp, stateBytes, channelStateBytes);
  if (pending.request.onDone) {
    actions_.push_back([onDone = std::move(pending.request.onDone),
                        directory = storage_.checkpointDir(id).string()] { onDone(directory); });
  }
  // Older pending checkpoints are subsumed; savepoints are not.
  std::vector<int64_t> subsumed;
  for (const auto& [older, p] : pending_) {
    if (older < id && !p.request.options.savepoint()) subsumed.push_back(older);
  }
  for (int64_t older : subsumed) {
    abortLocked(older,
                Status::cancelled("checkpoint " + std::to_string(older) +
                                  " subsumed by checkpoint " + std::to_string(id)),
                /*countsAsFailure=*/false, now);
  }
  while (retained_.size() > static_cast<size_t>(options_.numRetained)) {
    int64_t oldest = retained_.front();
    retained_.pop_front();
    sharedState_.releaseCheckpoint(oldest);
    Status discarded = storage_.discardCheckpoint(oldest);
    if (!discarded.isOk()) logger()->warn("job {}: {}", storage_.jobId(), discarded.toString());
  }
  sharedState_.dropPending(id);
  // What became unreferenced before this completion; what became so during it waits for the
  // next (the tasks are not notified of this one yet).
  sharedState_.deleteDueCandidates();
  actions_.push_back([this, id] { callbacks_.notifyComplete(id); });
}

bool CheckpointCoordinator::isExpectedTaskLocked(CheckpointTaskKey task) const {
  auto it = std::lower_bound(
      vertices_.begin(), vertices_.end(), task.vertexId,
      [](const CheckpointVertex& v, int vertexId) { return v.vertexId < vertexId; });
  return it != vertices_.end() && it->vertexId == task.vertexId && task.subtaskIndex >= 0 &&
         task.subtaskIndex < it->parallelism;
}

CheckpointMessageResult CheckpointCoordinator::acknowledge(CheckpointTaskKey task,
                                                           int64_t checkpointId,
                                                           proto::SubtaskState state) {
  CheckpointMessageResult result = CheckpointMessageResult::kAccepted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return CheckpointMessageResult::kIgnored;
    if (!isExpectedTaskLocked(task)) {
      logger()->warn("job {}: acknowledgement of checkpoint {} from unknown task {}",
                     storage_.jobId(), checkpointId, taskName(task));
      return CheckpointMessageResult::kRejected;
    }
    auto it = pending_.find(checkpointId);
    if (it == pending_.end()) {
      // Late: for an aborted or subsumed checkpoint, remove what the task wrote after the
      // directory was deleted; a completed one keeps its files.
      if (checkpointId > 0 && checkpointId < nextCheckpointId_ &&
          std::find(retained_.begin(), retained_.end(), checkpointId) == retained_.end()) {
        Status discarded = storage_.discardCheckpoint(checkpointId);
        if (!discarded.isOk()) logger()->warn("job {}: {}", storage_.jobId(), discarded.toString());
        // Files it uploaded to shared/ that nothing references go after the next completion.
        sharedState_.addUnreferenced(state.handles());
      }
      logger()->debug("job {}: ignoring late acknowledgement of checkpoint {} from {}",
                      storage_.jobId(), checkpointId, taskName(task));
      return CheckpointMessageResult::kIgnored;
    }
    if (it->second.acknowledged.count(task) != 0) return CheckpointMessageResult::kDuplicate;
    int64_t now = clock_.currentTimeMillis();
    for (const proto::StateHandle& handle : state.handles()) {
      if (!isSafeHandlePath(handle.path())) {
        abortLocked(
            checkpointId,
            Status::invalidArgument("checkpoint " + std::to_string(checkpointId) + ": " +
                                    taskName(task) + " acknowledged a state handle '" +
                                    handle.path() + "' that is not relative to the job directory"),
            /*countsAsFailure=*/true, now);
        result = CheckpointMessageResult::kRejected;
        break;
      }
      // A shared file must exist when it is acknowledged, or the checkpoint could never be
      // restored. Checked under mu_, where deletions run, so that it cannot vanish before
      // addPending below protects it. Not counted as a failure, like a decline of a task that
      // could not take part.
      std::error_code ec;
      if (isSharedStatePath(handle.path()) &&
          !std::filesystem::exists(storage_.jobDir() / handle.path(), ec)) {
        abortLocked(checkpointId,
                    Status::notFound("checkpoint " + std::to_string(checkpointId) + ": " +
                                     taskName(task) + " acknowledged shared state file '" +
                                     handle.path() + "', which does not exist"),
                    /*countsAsFailure=*/false, now);
        result = CheckpointMessageResult::kRejected;
        break;
      }
    }
    if (result == CheckpointMessageResult::kRejected) {
      // What it uploaded that nothing references goes after the next completion.
      sharedState_.addUnreferenced(state.handles());
    } else {
      sharedState_.addPending(checkpointId, state.handles());
      state.set_subtask_index(task.subtaskIndex);
      it->second.acknowledged.emplace(task, std::move(state));
      if (it->second.acknowledged.size() == numTasks_) completeLocked(checkpointId, now);
    }
  }
  runActions();
  return result;
}

CheckpointMessageResult CheckpointCoordinator::decline(CheckpointTaskKey task, int64_t checkpointId,
                                                       const Status& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return CheckpointMessageResult::kIgnored;
    if (!isExpectedTaskLocked(task)) return CheckpointMessageResult::kRejected;
    if (pending_.count(checkpointId) == 0) return CheckpointMessageResult::kIgnored;
    // As Flink: a task that could not take part (not ready, input ended, stopping: a failed
    // precondition) or dropped the checkpoint for a newer one (cancelled) is no checkpoint
    // failure; a snapshot or write that failed is.
    bool countsAsFailure =
        reason.code() != StatusCode::kFailedPrecondition && reason.code() != StatusCode::kCancelled;
    abortLocked(checkpointId,
                reason.withContext("checkpoint " + std::to_string(checkpointId) + " declined by " +
                                   taskName(task)),
                countsAsFailure, clock_.currentTimeMillis());
  }
  runActions();
  return CheckpointMessageResult::kAccepted;
}

int64_t CheckpointCoordinator::latestCompletedId() const {
  std::lock_guard<std::mutex> lock(mu_);
  return retained_.empty() ? -1 : retained_.back();
}

std::vector<int64_t> CheckpointCoordinator::pendingIds() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> ids;
  for (const auto& [id, pending] : pending_) ids.push_back(id);
  return ids;
}

std::vector<int64_t> CheckpointCoordinator::retainedIds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {retained_.begin(), retained_.end()};
}

int CheckpointCoordinator::consecutiveFailures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return consecutiveFailures_;
}

size_t CheckpointCoordinator::numSharedStateFiles() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sharedState_.numRegisteredFiles();
}

uint64_t CheckpointCoordinator::sharedStateBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sharedState_.registeredBytes();
}

void CheckpointCoordinator::runActions() {
  std::unique_lock<std::mutex> lock(mu_);
  if (drainingActions_) return;
  drainingActions_ = true;
  while (!actions_.empty()) {
    Action action = std::move(actions_.front());
    actions_.pop_front();
    lock.unlock();
    action();
    lock.lock();
  }
  drainingActions_ = false;
}

}  // namespace strom::checkpoint
