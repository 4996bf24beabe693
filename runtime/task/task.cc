#include "runtime/task/task.h"

#include <strom/key.h>

#include <algorithm>
#include <climits>
#include <exception>
#include <filesystem>
#include <map>
#include <utility>

#include "checkpoint/channel_state.h"
#include "checkpoint/checkpoint_storage.h"
#include "checkpoint/task_state_file.h"
#include "common/logging.h"
#include "graph/job_graph.h"
#include "graph/stream_graph.h"
#include "runtime/network/remote_input_channel.h"
#include "state/rocksdb/rocksdb_resources.h"

namespace strom::runtime {

using network::BufferOrEvent;
using network::EventType;

/// The slice of a buffer read between two looks for priority events, with unaligned
/// checkpoints: about a hundred small records.
constexpr size_t kUnalignedInputSliceBytes = 2048;

Result<TaskOptions> TaskOptions::fromConfiguration(const Configuration& configuration) {
  TaskOptions options;
  STROM_ASSIGN_OR_RETURN(
      int64_t rows,
      configuration.getInt("execution.batch.rows", static_cast<int64_t>(kDefaultBatchRows)));
  if (rows < 1 || rows > (1 << 20)) {
    return Status::invalidArgument("config key 'execution.batch.rows': " + std::to_string(rows) +
                                   " is outside 1..1048576");
  }
  options.batchRows = static_cast<size_t>(rows);
  STROM_ASSIGN_OR_RETURN(
      options.bufferTimeout,
      configuration.getDuration("execution.buffer-timeout", options.bufferTimeout));
  STROM_ASSIGN_OR_RETURN(int64_t perChannel,
                         configuration.getInt("taskmanager.network.memory.buffers-per-channel", 2));
  STROM_ASSIGN_OR_RETURN(
      int64_t floating,
      configuration.getInt("taskmanager.network.memory.floating-buffers-per-gate", 8));
  if (perChannel < 1 || floating < 0) {
    return Status::invalidArgument(
        "taskmanager.network.memory.buffers-per-channel must be >= 1 and "
        "taskmanager.network.memory.floating-buffers-per-gate >= 0");
  }
  options.buffersPerChannel = static_cast<int>(perChannel);
  options.floatingBuffers = static_cast<int>(floating);
  network::RequestBackoff& backoff = options.requestBackoff;
  STROM_ASSIGN_OR_RETURN(
      backoff.initial,
      configuration.getDuration("taskmanager.network.request-backoff.initial", backoff.initial));
  STROM_ASSIGN_OR_RETURN(backoff.max, configuration.getDuration(
                                          "taskmanager.network.request-backoff.max", backoff.max));
  if (backoff.initial.count() < 1) {
    return Status::invalidArgument(
        "config key 'taskmanager.network.request-backoff.initial': must be at least 1 ms");
  }
  STROM_ASSIGN_OR_RETURN(options.checkpointingMode, checkpoint::checkpointingModeOf(configuration));
  STROM_ASSIGN_OR_RETURN(options.alignedCheckpointTimeout,
                         checkpoint::alignedCheckpointTimeoutOf(configuration));
  STROM_ASSIGN_OR_RETURN(bool unaligned,
                         configuration.getBool("execution.checkpointing.unaligned.enabled", false));
  if (unaligned) options.inputSliceBytes = kUnalignedInputSliceBytes;
  if (backoff.max < backoff.initial) {
    return Status::invalidArgument("config key 'taskmanager.network.request-backoff.max': " +
                                   std::to_string(backoff.max.count()) +
                                   " ms is below taskmanager.network.request-backoff.initial (" +
                                   std::to_string(backoff.initial.count()) + " ms)");
  }
  return options;
}

NetworkBufferNeeds& NetworkBufferNeeds::operator+=(const NetworkBufferNeeds& other) {
  partitionBuffers += other.partitionBuffers;
  exclusiveBuffers += other.exclusiveBuffers;
  floatingBuffers += other.floatingBuffers;
  numPartitions += other.numPartitions;
  numRemoteChannels += other.numRemoteChannels;
  numRemoteGates += other.numRemoteGates;
  return *this;
}

Result<NetworkBufferNeeds> Task::networkBufferNeeds(const TaskDeploymentDescriptor& descriptor,
                                                    const Configuration& configuration,
                                                    const std::string& dataAddress) {
  Configuration merged = configuration;
  merged.addAll(descriptor.jobGraph->configuration());
  STROM_ASSIGN_OR_RETURN(TaskOptions options, TaskOptions::fromConfiguration(merged));
  NetworkBufferNeeds needs;
  // As ResultPartition::create and buildChain reserve them.
  for (const ResultPartitionDescriptor& out : descriptor.outputs) {
    needs.partitionBuffers += static_cast<size_t>(out.numSubpartitions) + 1;
    ++needs.numPartitions;
  }
  for (const InputGateDescriptor& gate : descriptor.inputs) {
    size_t remote = 0;
    for (const InputChannelDescriptor& channel : gate.channels) {
      if (!channel.producerDataAddress.empty() && channel.producerDataAddress != dataAddress) {
        ++remote;
      }
    }
    if (remote == 0) continue;
    needs.numRemoteChannels += remote;
    needs.exclusiveBuffers += remote * static_cast<size_t>(options.buffersPerChannel);
    ++needs.numRemoteGates;
    needs.floatingBuffers += static_cast<size_t>(options.floatingBuffers);
  }
  return needs;
}

/// What one chain member restores: filled by loadRestoredState, handed to initializeState,
/// then dropped.
class Task::StateInitializationImpl final : public StateInitializationContext {
 public:
  bool isRestored() const override { return restored; }
  int64_t restoredCheckpointId() const override { return restored ? checkpointId : -1; }
  std::span<const KeyedStateSnapshotInput> keyedState() const override { return keyed; }
  const std::vector<std::string>& operatorState(std::string_view name) const override {
    static const std::vector<std::string> kNone;
    auto it = operatorStates.find(name);
    return it == operatorStates.end() ? kNone : it->second;
  }
  std::vector<std::string> operatorStateNames() const override {
    std::vector<std::string> names;
    for (const auto& [name, elements] : operatorStates) names.push_back(name);
    return names;
  }

  bool restored = false;
  int64_t checkpointId = -1;
  std::vector<std::string> keyedBytes;  // the snapshots `keyed` views
  std::vector<std::string> keyedNames;
  std::vector<KeyedStateSnapshotInput> keyed;
  std::map<std::string, std::vector<std::string>, std::less<>> operatorStates;
};

/// One operator of the chain with its context.
struct Task::ChainMember {
  const graph::StreamNode* node = nullptr;
  std::string uid;  // graph::operatorUid: names its state in checkpoints
  // With the RocksDB backend: its keyed state's store, opened when the operator asks for it.
  // Declared before `op`, so that it outlives the operator's states, which point into it.
  std::unique_ptr<OperatorKeyedStore> keyedStore;
  std::unique_ptr<StreamOperator> op;
  std::unique_ptr<OperatorContextImpl> context;
  std::unique_ptr<StateInitializationImpl> initialization;  // until initializeState ran
};

/// One entry of a task state file, as an operator added it. Operator state keeps its elements
/// until the writer thread encodes them.
struct Task::PendingStateEntry {
  checkpoint::TaskStateEntry entry;
  std::optional<std::vector<std::string>> elements;
  std::optional<StoreUpload> storeUpload;  // a RocksDB store's checkpoint: entry is unused
};

/// An unaligned checkpoint's snapshot while the input it does not cover is collected
/// (checkpoint/channel_state.h): the handle's bytes per input channel (numbered over all gates)
/// and per output subpartition.
struct Task::UnalignedSnapshot {
  int64_t checkpointId = -1;
  int64_t timestamp = 0;  // the trigger time
  int64_t deadline = 0;   // a held aligned snapshot (outputBarrier_): when its barriers turn
  std::vector<PendingStateEntry> entries;  // the operators' state
  Status error;                            // an operator's failed snapshot: declined at the end
  std::vector<std::string> input;
  std::vector<std::vector<std::string>> output;  // by partition, then subpartition
};

/// Collects one chain member's snapshot for one checkpoint.
class Task::SnapshotContextImpl final : public StateSnapshotContext {
 public:
  SnapshotContextImpl(const checkpoint::CheckpointBarrier& barrier, const ChainMember& member,
                      KeyGroupRange range, std::vector<PendingStateEntry>& entries)
      : barrier_(barrier), member_(member), range_(range), entries_(entries) {}
  int64_t checkpointId() const override { return barrier_.checkpointId; }
  int64_t checkpointTimestamp() const override { return barrier_.timestamp; }
  bool isSavepoint() const override { return barrier_.savepoint; }
  void addKeyedState(std::string bytes) override {
    if (keyedAdded_) {
      misuse("added keyed state twice");
      return;
    }
    keyedAdded_ = true;
    PendingStateEntry pending;
    pending.entry.operatorUid = member_.uid;
    pending.entry.kind = std::string(checkpoint::kKeyedStateKind);
    pending.entry.keyGroupStart = range_.startKeyGroup;
    pending.entry.keyGroupEnd = range_.endKeyGroup;
    pending.entry.bytes = std::move(bytes);
    entries_.push_back(std::move(pending));
  }
  void addOperatorState(std::string name, OperatorStateMode mode,
                        std::vector<std::string> elements) override {
    for (const std::string& added : names_) {
      if (added == name) {
        misuse("added operator state '" + name + "' twice");
        return;
      }
    }
    names_.push_back(name);
    PendingStateEntry pending;
    pending.entry.operatorUid = member_.uid;
    pending.entry.kind = std::string(checkpoint::kOperatorStateKind);
    pending.entry.name = std::move(name);
    pending.entry.mode = static_cast<int>(mode);
    pending.elements = std::move(elements);
    entries_.push_back(std::move(pending));
  }
  const Status& error() const { return error_; }

 private:
  void misuse(const std::string& what) {
    if (error_.isOk()) {
      error_ = Status::invalidArgument("operator '" + member_.node->name() + "' " + what);
    }
  }

  const checkpoint::CheckpointBarrier& barrier_;
  const ChainMember& member_;
  KeyGroupRange range_;
  std::vector<PendingStateEntry>& entries_;  // the task's, for this checkpoint
  bool keyedAdded_ = false;
  std::vector<std::string> names_;
  Status error_;
};

class Task::OperatorContextImpl final : public OperatorContext {
 public:
  OperatorContextImpl(Task& task, const graph::StreamNode& node)
      : task_(task), node_(node), name_(node.name()) {}
  const std::string& operatorName() const override { return name_; }
  const std::string& taskName() const override { return task_.name_; }
  int subtaskIndex() const override { return task_.descriptor_.attemptId.subtaskIndex; }
  int parallelism() const override { return node_.parallelism; }
  int maxParallelism() const override { return node_.maxParallelism; }
  int attemptNumber() const override { return task_.descriptor_.attemptId.attempt; }
  int64_t currentProcessingTime() override { return task_.services_.clock->currentTimeMillis(); }
  void requestProcessingTimeCallback(int64_t time) override {
    requestedTime_ = std::min(requestedTime_, time);
  }
  void failTask(Status status) override { task_.fail(std::move(status)); }
  const Configuration& configuration() const override { return task_.configuration_; }
  MetricGroup& metricGroup() override { return metrics_; }
  Result<KeyedStateStore*> keyedStateStore() override { return task_.openKeyedStore(*member_); }

  void setMember(ChainMember& member) { member_ = &member; }
  int64_t requestedTime() const { return requestedTime_; }
  void clearRequest() { requestedTime_ = INT64_MAX; }

 private:
  Task& task_;
  const graph::StreamNode& node_;
  ChainMember* member_ = nullptr;
  std::string name_;
  int64_t requestedTime_ = INT64_MAX;
  MetricGroup metrics_;
};

Result<std::unique_ptr<Task>> Task::create(TaskDeploymentDescriptor descriptor,
                                           const TaskServices& services) {
  Configuration configuration = services.configuration;
  configuration.addAll(descriptor.jobGraph->configuration());
  STROM_ASSIGN_OR_RETURN(TaskOptions options, TaskOptions::fromConfiguration(configuration));
  // Checkpointing is on when the job (not only a TaskManager's defaults) sets the interval,
  // as the JobManager decides it.
  STROM_ASSIGN_OR_RETURN(std::chrono::milliseconds interval,
                         descriptor.jobGraph->configuration().getDuration(
                             "execution.checkpointing.interval", std::chrono::milliseconds(0)));
  std::unique_ptr<Task> task(new Task(std::move(descriptor), services, options));
  if (task->descriptor_.checkpointing) {
    // The JobManager's decision: its coordinator runs the final checkpoint this task waits for.
    task->checkpointingEnabled_ = task->descriptor_.checkpointing->periodic;
    task->checkpointBaseDir_ = task->descriptor_.checkpointing->directory;
  } else {
    task->checkpointingEnabled_ = interval.count() > 0;
    task->checkpointBaseDir_ = configuration.getString("state.checkpoints.dir", "");
  }
  STROM_ASSIGN_OR_RETURN(task->keyedStoreOptions_,
                         KeyedStoreOptions::fromConfiguration(configuration));
  task->configuration_ = std::move(configuration);
  for (const ResultPartitionDescriptor& out : task->descriptor_.outputs) {
    auto partition =
        network::ResultPartition::create(out.id, out.numSubpartitions, *services.bufferPool,
                                         options.buffersPerChannel, options.floatingBuffers);
    if (!partition.isOk()) {
      for (const auto& p : task->partitions_)
        (void)services.partitionManager->unregisterPartition(p->id());
      return partition.status().withContext("task " + task->name_);
    }
    std::shared_ptr<network::ResultPartition> shared = std::move(partition).value();
    Status registered = services.partitionManager->registerPartition(shared);
    if (!registered.isOk()) {
      for (const auto& p : task->partitions_)
        (void)services.partitionManager->unregisterPartition(p->id());
      return registered.withContext("task " + task->name_);
    }
    task->partitions_.push_back(std::move(shared));
  }
  return task;
}

Task::Task(TaskDeploymentDescriptor descriptor, const TaskServices& services, TaskOptions options)
    : descriptor_(std::move(descriptor)), services_(services), options_(options) {
  name_ = descriptor_.taskName();
}

Task::~Task() {
  cancel();
  join();
}

void Task::start() {
  thread_ = std::thread([this] { run(); });
}

void Task::cancel() {
  cancelled_.store(true, std::memory_order_release);
  for (const auto& partition : partitions_) partition->close();  // unblocks a waiting writer
  wakeup_.signal();
}

Status Task::triggerCheckpoint(int64_t checkpointId, int64_t timestamp,
                               const checkpoint::proto::CheckpointOptions& options) {
  const std::string what = "checkpoint " + std::to_string(checkpointId) + " at task " + name_;
  ExecutionState current = state();
  if (current != ExecutionState::kRunning) {
    return Status::failedPrecondition(what + ": the task is " + executionStateName(current));
  }
  if (options.final()) {
    post([this, checkpointId, timestamp] {
      if (!opened_ || !inputEnded_.load(std::memory_order_relaxed)) {
        declineCheckpoint(checkpointId, Status::failedPrecondition(
                                            "task " + name_ +
                                            " has not reached the end of its input for the "
                                            "final checkpoint " +
                                            std::to_string(checkpointId)));
        return;
      }
      checkpoint::CheckpointBarrier barrier{checkpointId, timestamp,
                                            checkpoint::CheckpointType::kAligned};
      fail(performCheckpoint(barrier, /*final=*/true));
    });
    return Status::ok();
  }
  if (!isSource()) {
    return Status::failedPrecondition(what + ": not a source task (barriers start at the sources)");
  }
  // Acquire: pairs with the release store after endOfInput().
  if (inputEnded_.load(std::memory_order_acquire)) {
    return Status::failedPrecondition(what + ": the source reached the end of its input");
  }
  if (options.type() < 0 ||
      options.type() > static_cast<int>(checkpoint::CheckpointType::kAlignedTimeout)) {
    return Status::invalidArgument(what + ": unknown checkpoint type " +
                                   std::to_string(options.type()));
  }
  checkpoint::CheckpointBarrier barrier{
      checkpointId, timestamp, static_cast<checkpoint::CheckpointType>(options.type()),
      options.savepoint() || options.terminate(), options.terminate()};
  if (barrier.savepoint) barrier.type = checkpoint::CheckpointType::kAligned;
  post([this, barrier] {
    std::string reason;
    if (!opened_ || inputEnded_.load(std::memory_order_relaxed)) {
      reason = "the source reached the end of its input";
    } else if (terminateCheckpointId_ >= 0) {
      reason = "the source stops with savepoint " + std::to_string(terminateCheckpointId_);
    }
    if (!reason.empty()) {
      declineCheckpoint(
          barrier.checkpointId,
          Status::failedPrecondition("checkpoint " + std::to_string(barrier.checkpointId) +
                                     " at task " + name_ + ": " + reason));
      return;
    }
    fail(performCheckpoint(barrier));  // the loop stops after this action if it failed
  });
  return Status::ok();
}

void Task::notifyCheckpointComplete(int64_t checkpointId) {
  post([this, checkpointId] {
    if (!opened_) return;
    // Incremental checkpoints: the stores' SST files of this checkpoint may now be referenced.
    for (auto& member : chain_) {
      if (member->keyedStore != nullptr) member->keyedStore->confirm(checkpointId);
    }
    for (auto& member : chain_) {
      detail::callNamingOperator(member->node->name(), [&] {
        member->op->notifyCheckpointComplete(checkpointId);
        member->op->flushOutputs();
      });
    }
    if (finalCheckpointId_ >= 0 && checkpointId >= finalCheckpointId_) finalCheckpointDone_ = true;
    if (terminateCheckpointId_ >= 0 && checkpointId >= terminateCheckpointId_) terminated_ = true;
  });
}

void Task::notifyCheckpointAborted(int64_t checkpointId) {
  post([this, checkpointId] {
    if (!opened_) return;
    // Stop aligning for it (or collecting its channel state).
    if (barrierHandler_ != nullptr) fail(barrierHandler_->abortCheckpoint(checkpointId));
    for (auto& member : chain_) {
      detail::callNamingOperator(member->node->name(), [&] {
        member->op->notifyCheckpointAborted(checkpointId);
        member->op->flushOutputs();
      });
    }
    // The final checkpoint is triggered again; a source stopping with a savepoint goes on.
    if (checkpointId == finalCheckpointId_) finalCheckpointId_ = -1;
    if (checkpointId == terminateCheckpointId_) {
      moduleLogger("task")->info("task {}: savepoint {} to stop with was aborted; going on", name_,
                                 checkpointId);
      terminateCheckpointId_ = -1;
    }
  });
}

void Task::declineCheckpoint(int64_t checkpointId, Status reason) {
  moduleLogger("task")->info("task {}: declining checkpoint {}: {}", name_, checkpointId,
                             reason.message());
  services_.jobManager->declineCheckpoint(descriptor_.attemptId, checkpointId, reason);
}

void Task::join() {
  if (thread_.joinable()) thread_.join();
}

void Task::setState(ExecutionState state) {
  state_.store(state, std::memory_order_release);  // read by state() on other threads
}

void Task::fail(Status status) {
  if (failure_.isOk() && !status.isOk()) failure_ = std::move(status);
}

Status Task::checkStopped() {
  if (!failure_.isOk()) return failure_;
  if (cancelled_.load(std::memory_order_acquire))
    return Status::cancelled("task " + name_ + " was cancelled");
  return Status::ok();
}

void Task::run() {
  setState(ExecutionState::kRunning);
  services_.jobManager->updateTaskExecutionState(
      {descriptor_.attemptId, ExecutionState::kRunning, {}, {}});
  Status status;
  try {
    status = invoke();
  } catch (const OperatorError& e) {
    status = Status::internal("operator '" + e.operatorName() + "' in task " + name_ +
                              " failed: " + e.what());
  } catch (const std::exception& e) {
    status = Status::internal("task " + name_ + " failed: " + e.what());
  } catch (...) {
    status = Status::internal("task " + name_ + " failed: unknown exception");
  }
  if (status.isOk() && !failure_.isOk()) status = failure_;
  try {
    closeOperators();
  } catch (const std::exception& e) {
    if (status.isOk()) status = Status::internal("task " + name_ + " failed in close: " + e.what());
  } catch (...) {
    if (status.isOk())
      status = Status::internal("task " + name_ + " failed in close: unknown exception");
  }
  ExecutionState final = ExecutionState::kFinished;
  if (!status.isOk()) {
    for (const auto& partition : partitions_) partition->close();
    bool cancelled =
        status.code() == StatusCode::kCancelled && cancelled_.load(std::memory_order_acquire);
    final = cancelled ? ExecutionState::kCanceled : ExecutionState::kFailed;
    if (final == ExecutionState::kFailed)
      moduleLogger("task")->warn("task {} failed: {}", name_, status.message());
  }
  TaskExecutionState report{
      descriptor_.attemptId, final, final == ExecutionState::kFailed ? status : Status(), {}};
  // A state file that does not read back: the JobManager may restore an earlier checkpoint.
  report.restoreFailed =
      final == ExecutionState::kFailed && restoring_ &&
      (status.code() == StatusCode::kCorruption || status.code() == StatusCode::kNotFound);
  // Corrupt data (a RocksDB read says so; the code may be lost in an exception's text) may be
  // in the local copies, which the store's files are hard links to: the next attempt downloads.
  const bool corrupt = final == ExecutionState::kFailed &&
                       (status.code() == StatusCode::kCorruption ||
                        status.toString().find("Corruption") != std::string::npos);
  for (const auto& member : chain_) {
    member->context->metricGroup().forEachCounter([&](const std::string& name, int64_t count) {
      report.counters.emplace_back(member->node->name() + "." + name, count);
    });
    if (corrupt && member->keyedStore != nullptr) member->keyedStore->dropLocalCopies();
  }
  // Drop the chain before reporting, so that nothing of this task runs once the JobManager
  // considers it terminal.
  readers_.clear();
  writers_.clear();
  chain_.clear();
  gates_.clear();
  setState(final);
  services_.jobManager->updateTaskExecutionState(report);
}

Status Task::invoke() {
  restoring_ = descriptor_.restore != nullptr;
  STROM_RETURN_IF_ERROR(buildChain());
  STROM_RETURN_IF_ERROR(checkStopped());
  STROM_RETURN_IF_ERROR(initializeOperatorState());
  STROM_RETURN_IF_ERROR(checkStopped());
  STROM_RETURN_IF_ERROR(restoreChannelState());
  STROM_RETURN_IF_ERROR(checkStopped());
  restoring_ = false;
  lastFlushMillis_ = services_.clock->currentTimeMillis();
  if (source_ != nullptr) {
    STROM_RETURN_IF_ERROR(runSourceLoop());
  } else {
    STROM_RETURN_IF_ERROR(runInputLoop());
  }
  // Stopped with a savepoint: end without endInput() or the final watermark.
  if (terminated_) return checkStopped();
  STROM_RETURN_IF_ERROR(endOfInput());
  if (!checkpointingEnabled_) return Status::ok();
  inputEnded_.store(true, std::memory_order_release);  // read by triggerCheckpoint
  services_.jobManager->reportEndOfInput(descriptor_.attemptId);
  return awaitFinalCheckpoint();
}

Status Task::awaitFinalCheckpoint() {
  while (true) {
    STROM_RETURN_IF_ERROR(checkStopped());
    mailbox_.runAll();
    STROM_RETURN_IF_ERROR(checkStopped());
    if (finalCheckpointDone_) return Status::ok();
    // Woken by every mailbox post and by cancel(); the deadline only bounds a lost wakeup.
    wakeup_.waitUntil(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
}

Status Task::loadRestoredState() {
  const graph::JobVertex& vertex = descriptor_.vertex();
  if (vertex.chainUids.size() != chain_.size()) {
    return Status::internal("task " + name_ + ": " + std::to_string(vertex.chainUids.size()) +
                            " operator uids for " + std::to_string(chain_.size()) +
                            " chained operators");
  }
  const int subtask = descriptor_.attemptId.subtaskIndex;
  for (size_t i = 0; i < chain_.size(); ++i) {
    ChainMember& member = *chain_[i];
    member.uid = vertex.chainUids[i];
    member.initialization = std::make_unique<StateInitializationImpl>();
    if (keyedStoreOptions_.rocksdb) {
      // Its working directory: <local dir>/strom-rocksdb/<job>/v<vertex>-s<subtask>-a<attempt>-<i>
      const std::filesystem::path directory =
          keyedStoreOptions_.localDir / "strom-rocksdb" / descriptor_.attemptId.jobId /
          ("v" + std::to_string(descriptor_.attemptId.vertexId) + "-s" + std::to_string(subtask) +
           "-a" + std::to_string(descriptor_.attemptId.attempt) + "-" + std::to_string(i));
      const graph::StreamNode& node = *member.node;
      member.keyedStore = std::make_unique<OperatorKeyedStore>(
          directory, member.uid,
          KeyGroupRange::forOperator(node.maxParallelism, node.parallelism, subtask),
          node.maxParallelism, "operator '" + node.name() + "' in task " + name_, localStateDir());
    }
  }
  if (descriptor_.restore == nullptr) return Status::ok();
  const checkpoint::proto::TaskRestore& restore = *descriptor_.restore;
  const std::string what = "task " + name_ + " restoring checkpoint " +
                           std::to_string(restore.checkpoint_id()) + " from '" +
                           restore.root_dir() + "'";
  const std::filesystem::path root = restore.root_dir();
  // A failover restores from this job's own checkpoints: their shared files may be referenced
  // by the next incremental checkpoint. Files of another job or of a savepoint may not.
  bool ownJobDir = false;
  if (!checkpointBaseDir_.empty()) {
    std::error_code rootError;
    std::error_code jobError;
    const std::filesystem::path canonicalRoot = std::filesystem::weakly_canonical(root, rootError);
    const std::filesystem::path jobDir = std::filesystem::weakly_canonical(
        std::filesystem::path(checkpointBaseDir_) / descriptor_.attemptId.jobId, jobError);
    ownJobDir = !rootError && !jobError && canonicalRoot == jobDir;
  }
  for (auto& member : chain_) {
    member->initialization->restored = true;
    member->initialization->checkpointId = restore.checkpoint_id();
  }
  for (const checkpoint::proto::StateHandle& handle : restore.handles()) {
    auto it = std::find_if(chain_.begin(), chain_.end(), [&](const auto& member) {
      return member->uid == handle.operator_uid();
    });
    if (it == chain_.end()) {
      return Status::invalidArgument(what + ": the checkpoint holds state for operator uid '" +
                                     handle.operator_uid() + "' (in '" + handle.path() +
                                     "'), which no operator of this task has");
    }
    StateInitializationImpl& init = *(*it)->initialization;
    const std::string file = (root / handle.path()).string();
    if (handle.kind() == checkpoint::kRocksDbStateKind) {
      // Downloaded when the operator opens its store.
      if ((*it)->keyedStore == nullptr) {
        return Status::invalidArgument(
            what + ": the checkpoint holds RocksDB state files for operator uid '" +
            handle.operator_uid() + "' (in '" + file +
            "'): restore it with state.backend.type: rocksdb");
      }
      (*it)->keyedStore->addRestoreHandle(root, restore.checkpoint_id(), handle,
                                          ownJobDir && handle.path().starts_with("shared/"));
      continue;
    }
    auto bytes = checkpoint::readStateHandle(root, handle);
    if (!bytes.isOk()) return bytes.status().withContext(what);
    if (handle.kind() == checkpoint::kKeyedStateKind) {
      init.keyedBytes.push_back(std::move(bytes).value());
      init.keyedNames.push_back(file);
    } else if (handle.kind() == checkpoint::kOperatorStateKind) {
      STROM_RETURN_IF_ERROR(
          checkpoint::decodeOperatorStateElements(*bytes, "state file '" + file + "'",
                                                  init.operatorStates[handle.name()])
              .withContext(what));
    } else if (handle.kind() == checkpoint::kChannelStateKind) {
      // Replayed once the partitions and gates exist (restoreChannelState).
      STROM_RETURN_IF_ERROR(checkpoint::parseChannelStateName(handle.name())
                                .status()
                                .withContext(what + ": state file '" + file + "'"));
      restoredChannelState_.emplace_back(handle.name(), std::move(bytes).value());
      restoredChannelStateContext_ = what;
    } else {
      return Status::corruption(what + ": state file '" + file +
                                "' has a handle of unknown kind '" + handle.kind() + "'");
    }
  }
  for (auto& member : chain_) {
    StateInitializationImpl& init = *member->initialization;
    // The views are taken once every snapshot has its final place.
    for (size_t i = 0; i < init.keyedBytes.size(); ++i) {
      init.keyed.push_back(KeyedStateSnapshotInput{init.keyedNames[i], init.keyedBytes[i]});
    }
    // Operator state of mode split at another parallelism: keep this subtask's share of the
    // concatenation.
    for (auto& [name, elements] : init.operatorStates) {
      auto select = restore.split_select().find(member->uid + "/" + name);
      if (select == restore.split_select().end()) continue;
      const int modulus = select->second.modulus();
      const int remainder = select->second.remainder();
      if (modulus < 1 || remainder < 0 || remainder >= modulus) {
        return Status::invalidArgument(what + ": bad split of operator state '" + member->uid +
                                       "/" + name + "' (modulus " + std::to_string(modulus) +
                                       ", remainder " + std::to_string(remainder) + ")");
      }
      std::vector<std::string> kept;
      for (size_t i = static_cast<size_t>(remainder); i < elements.size();
           i += static_cast<size_t>(modulus)) {
        kept.push_back(std::move(elements[i]));
      }
      elements = std::move(kept);
    }
  }
  return Status::ok();
}

Result<KeyedStateStore*> Task::openKeyedStore(ChainMember& member) {
  if (member.keyedStore == nullptr) return static_cast<KeyedStateStore*>(nullptr);
  if (services_.rocksDbResources == nullptr) {
    // A task outside a TaskManager (tests): its own budget, the default size.
    services_.rocksDbResources = state::RocksDbResources::create(uint64_t{256} << 20, 0.5);
  }
  const bool restoring = member.keyedStore->hasRestoreHandles();
  STROM_ASSIGN_OR_RETURN(
      KeyedStateStore * store,
      member.keyedStore->open(services_.rocksDbResources, keyedStoreOptions_.maxCachedKeys));
  if (restoring) {
    const StoreRestoreStats& stats = member.keyedStore->restoreStats();
    MetricGroup& metrics = member.context->metricGroup();
    metrics.counter("rocksdb.restore.localBytes").inc(static_cast<int64_t>(stats.localBytes));
    metrics.counter("rocksdb.restore.downloadedBytes")
        .inc(static_cast<int64_t>(stats.downloadedBytes));
  }
  return store;
}

std::filesystem::path Task::localStateDir() const {
  if (!keyedStoreOptions_.rocksdb || !keyedStoreOptions_.localRecovery) return {};
  return localStateDirOfJob(keyedStoreOptions_.localDir, descriptor_.attemptId.jobId);
}

Status Task::initializeOperatorState() {
  for (auto& member : chain_) {
    Status status;
    detail::callNamingOperator(member->node->name(), [&] {
      status = member->op->initializeState(*member->initialization);
    });
    member->initialization.reset();
    if (!status.isOk()) {
      return status.withContext("operator '" + member->node->name() + "' in task " + name_ +
                                " initializing its state");
    }
    STROM_RETURN_IF_ERROR(checkStopped());
  }
  return Status::ok();
}

Status Task::buildChain() {
  const graph::JobGraph& job = *descriptor_.jobGraph;
  const graph::StreamGraph& graph = job.streamGraph();
  const graph::JobVertex& vertex = descriptor_.vertex();
  std::vector<int> memberOfNode(graph.nodes().empty() ? 0 : graph.nodes().back().id + 1, -1);

  for (int nodeId : vertex.chain) {
    const graph::StreamNode* node = graph.node(nodeId);
    auto member = std::make_unique<ChainMember>();
    member->node = node;
    member->op = node->transformation->operatorFactory->createOperator(options_.batchRows);
    if (!member->op) return Status::internal("operator '" + node->name() + "' was not created");
    for (const auto& [tag, declare] : node->transformation->sideOutputs) {
      if (!declare(*member->op, options_.batchRows)) {
        return Status::invalidArgument("operator '" + node->name() +
                                       "' has no side outputs (tag '" + tag + "')");
      }
    }
    member->context = std::make_unique<OperatorContextImpl>(*this, *node);
    member->context->setMember(*member);
    memberOfNode[static_cast<size_t>(nodeId)] = static_cast<int>(chain_.size());
    chain_.push_back(std::move(member));
  }
  // Read (and check) the state to restore before any operator opens.
  STROM_RETURN_IF_ERROR(loadRestoredState());

  // Wire outputs: to chained operators directly, to other vertices through record writers.
  for (const auto& member : chain_) {
    for (int edgeIndex : member->node->outEdges) {
      const graph::StreamEdge& edge = graph.edges()[static_cast<size_t>(edgeIndex)];
      OutputBase* output = edge.sideOutputTag.empty() ? member->op->mainOutput()
                                                      : member->op->sideOutput(edge.sideOutputTag);
      if (output == nullptr) {
        return Status::internal("operator '" + member->node->name() + "' has no output for edge " +
                                std::to_string(edgeIndex));
      }
      int target = memberOfNode[static_cast<size_t>(edge.targetNode)];
      if (target >= 0) {
        const auto& consumer = chain_[static_cast<size_t>(target)];
        STROM_RETURN_IF_ERROR(output->connect(*consumer->op->input(), consumer->node->name()));
        continue;
      }
      auto it = std::find_if(vertex.outputs.begin(), vertex.outputs.end(), [&](int jobEdge) {
        return job.edges()[static_cast<size_t>(jobEdge)].streamEdge == edgeIndex;
      });
      if (it == vertex.outputs.end()) {
        return Status::internal("no job edge for stream edge " + std::to_string(edgeIndex));
      }
      const auto partitionIndex = static_cast<size_t>(it - vertex.outputs.begin());
      network::ResultPartition& partition = *partitions_[partitionIndex];
      const graph::StreamNode& consumerNode = *graph.node(edge.targetNode);
      WriterContext writerContext{descriptor_.attemptId.subtaskIndex, consumerNode.maxParallelism};
      std::unique_ptr<InputBase> writer = edge.partitioner->createWriter(partition, writerContext);
      STROM_RETURN_IF_ERROR(
          output->connect(*writer, "network output to '" + consumerNode.name() + "'"));
      partitionWriters_.resize(partitions_.size());
      partitionWriters_[partitionIndex] = PartitionWriterOf{writer.get(), edge.recordType.get()};
      writers_.push_back(std::move(writer));
    }
  }

  // Inputs: one gate and one record reader per consumed job edge.
  ChainMember& head = *chain_.front();
  if (vertex.isSource()) {
    source_ = dynamic_cast<SourceOperatorBase*>(head.op.get());
    if (source_ == nullptr)
      return Status::internal("vertex " + vertex.name + " has no input and no source");
  } else {
    for (size_t g = 0; g < descriptor_.inputs.size(); ++g) {
      const InputGateDescriptor& gate = descriptor_.inputs[g];
      std::vector<std::unique_ptr<network::InputChannel>> channels;
      std::shared_ptr<network::FloatingBufferPool> floating;  // made for the first remote one
      for (const InputChannelDescriptor& channel : gate.channels) {
        bool local = channel.producerDataAddress.empty() ||
                     channel.producerDataAddress == services_.dataAddress ||
                     services_.connections == nullptr;
        if (local) {
          STROM_ASSIGN_OR_RETURN(auto subpartition, services_.partitionManager->requestSubpartition(
                                                        channel.partition, channel.subpartition));
          channels.push_back(std::make_unique<network::LocalInputChannel>(std::move(subpartition)));
          continue;
        }
        if (floating == nullptr && options_.floatingBuffers > 0) {
          STROM_ASSIGN_OR_RETURN(
              floating, network::FloatingBufferPool::create(
                            *services_.bufferPool, static_cast<size_t>(options_.floatingBuffers),
                            descriptor_.taskName() + " input " + std::to_string(g + 1)));
        }
        STROM_ASSIGN_OR_RETURN(
            auto remote, network::RemoteInputChannel::create(
                             *services_.connections, channel.producerDataAddress, channel.partition,
                             channel.subpartition, *services_.bufferPool,
                             options_.buffersPerChannel, floating, options_.requestBackoff));
        channels.push_back(std::move(remote));
      }
      const graph::JobEdge& jobEdge = job.edges()[static_cast<size_t>(gate.jobEdge)];
      const graph::StreamEdge& streamEdge = graph.edges()[static_cast<size_t>(jobEdge.streamEdge)];
      const RecordTypeOps& type = *streamEdge.recordType;
      InputBase* input = streamEdge.inputIndex == 0 ? head.op->input() : head.op->secondInput();
      if (input == nullptr) {
        return Status::internal("operator '" + head.node->name() + "' has no input " +
                                std::to_string(streamEdge.inputIndex + 1));
      }
      if (input->recordType() != type.type()) {
        return Status::internal("operator '" + head.node->name() + "': input " +
                                std::to_string(streamEdge.inputIndex + 1) +
                                " takes another record type than its edge carries");
      }
      readers_.push_back(type.createReader(*input, head.node->name(),
                                           static_cast<int>(channels.size()), options_.batchRows));
      gates_.push_back(std::make_unique<network::InputGate>(std::move(channels), wakeup_));
    }
    std::vector<int> channelsPerGate;
    for (const InputGateDescriptor& gate : descriptor_.inputs) {
      channelsPerGate.push_back(static_cast<int>(gate.channels.size()));
    }
    valve_ = std::make_unique<WatermarkValve>(channelsPerGate);
    int numChannels = 0;
    for (int n : channelsPerGate) {
      firstChannelOfGate_.push_back(numChannels);
      numChannels += n;
    }
    endedChannels_.assign(gates_.size(), 0);
    barrierHandler_ = std::make_unique<checkpoint::BarrierHandler>(
        options_.checkpointingMode, numChannels,
        [this](int channel, BufferOrEvent& item) {
          auto [gate, index] = gateChannel(channel);
          return processInput(gate, index, item);
        },
        [this](const checkpoint::CheckpointBarrier& barrier) { return performCheckpoint(barrier); },
        [this](int64_t checkpointId) {
          // A newer barrier or a cancellation marker overtook its alignment, or the
          // JobManager aborted it.
          moduleLogger("task")->info("task {}: checkpoint {} abandoned", name_, checkpointId);
          if (unaligned_ != nullptr && unaligned_->checkpointId == checkpointId) {
            unaligned_.reset();
            declineCheckpoint(checkpointId,
                              Status::cancelled("task " + name_ + " abandoned checkpoint " +
                                                std::to_string(checkpointId) +
                                                " before its channel state was complete"));
          }
        },
        handlerCallbacks());
  }

  // Open tail first, so that every operator's consumers are ready when it opens.
  for (auto it = chain_.rbegin(); it != chain_.rend(); ++it) {
    detail::callNamingOperator((*it)->node->name(), [&] { (*it)->op->open(*(*it)->context); });
    STROM_RETURN_IF_ERROR(checkStopped());
  }
  opened_ = true;
  return Status::ok();
}

Status Task::runSourceLoop() {
  while (true) {
    STROM_RETURN_IF_ERROR(checkStopped());
    int64_t now = services_.clock->currentTimeMillis();
    mailbox_.runAll();
    STROM_RETURN_IF_ERROR(checkStopped());
    if (terminated_) return Status::ok();
    if (terminateCheckpointId_ >= 0) {
      // Stopping with a savepoint: nothing is emitted (and no timer fires) after its barrier
      // until it completes (the task ends) or is aborted (the source goes on).
      flushPartitionsIfDue(now, /*idle=*/true);
      wakeup_.waitUntil(std::chrono::steady_clock::now() + std::chrono::seconds(1));
      continue;
    }
    int64_t nextTimer = fireProcessingTime(now);
    STROM_RETURN_IF_ERROR(checkStopped());
    STROM_RETURN_IF_ERROR(checkOutputBarrier(now));
    if (outputBarrier_ != nullptr) nextTimer = std::min(nextTimer, outputBarrier_->deadline);
    InputStatus status = detail::callNamingOperator(chain_.front()->node->name(),
                                                    [&] { return source_->emitNext(); });
    if (status == InputStatus::kEndOfInput) return checkStopped();
    if (status == InputStatus::kNothingAvailable) {
      flushPartitionsIfDue(now, /*idle=*/true);
      // A source with nothing to emit is polled again after at most a millisecond.
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
      if (nextTimer != INT64_MAX) {
        deadline = std::min(deadline,
                            std::chrono::steady_clock::now() +
                                std::chrono::milliseconds(std::max<int64_t>(0, nextTimer - now)));
      }
      wakeup_.waitUntil(deadline);
    } else {
      flushPartitionsIfDue(now, /*idle=*/false);
    }
  }
}

Status Task::runInputLoop() {
  size_t nextGate = 0;
  while (finishedGates_ < gates_.size()) {
    STROM_RETURN_IF_ERROR(checkStopped());
    int64_t now = services_.clock->currentTimeMillis();
    mailbox_.runAll();
    STROM_RETURN_IF_ERROR(checkStopped());
    if (terminated_) return Status::ok();
    // After a stop-with-savepoint snapshot no timer fires: what it emitted would follow the
    // savepoint.
    int64_t nextTimer = terminateCheckpointId_ >= 0 ? INT64_MAX : fireProcessingTime(now);
    STROM_RETURN_IF_ERROR(checkStopped());
    // An aligned checkpoint that waited too long for its barriers turns unaligned.
    STROM_RETURN_IF_ERROR(barrierHandler_->checkAlignmentTimeout());
    nextTimer = std::min(nextTimer, barrierHandler_->alignmentDeadline());
    STROM_RETURN_IF_ERROR(checkOutputBarrier(now));
    if (outputBarrier_ != nullptr) nextTimer = std::min(nextTimer, outputBarrier_->deadline);
    if (inHand_) {
      // Reading a buffer stopped for a priority event (an unaligned barrier): handle the
      // priority events, then read on. Nothing else is polled meanwhile, so the rest of the
      // buffer keeps its place in its channel.
      bool handled = false;
      for (size_t g = 0; g < gates_.size(); ++g) {
        if (!gates_[g]->hasPriorityEvent()) continue;
        STROM_ASSIGN_OR_RETURN(bool polled, pollAndProcess(g, /*priorityOnly=*/true));
        handled |= polled;
      }
      if (!handled && inHand_) {
        InHandBuffer hand = std::move(*inHand_);
        inHand_.reset();
        STROM_RETURN_IF_ERROR(
            readBuffer(hand.gate, hand.channel, std::move(hand.buffer), hand.offset));
      }
      STROM_RETURN_IF_ERROR(checkStopped());
      flushPartitionsIfDue(now, /*idle=*/false);
      continue;
    }
    // Take up to one buffer from each gate in turn, so that no input starves another.
    bool gotInput = false;
    for (size_t i = 0; i < gates_.size() && finishedGates_ < gates_.size() && !inHand_; ++i) {
      STROM_ASSIGN_OR_RETURN(
          bool polled, pollAndProcess((nextGate + i) % gates_.size(), /*priorityOnly=*/false));
      gotInput |= polled;
    }
    nextGate = (nextGate + 1) % std::max<size_t>(1, gates_.size());
    if (gotInput) {
      flushPartitionsIfDue(now, /*idle=*/false);
      continue;
    }
    // Nothing to read: a failed (remote) channel fails the task; checked only when idle.
    for (const auto& gate : gates_) STROM_RETURN_IF_ERROR(gate->status());
    // Hand partial batches on and flush partial buffers, then wait.
    for (auto& reader : readers_) reader->flush();
    flushPartitionsIfDue(now, /*idle=*/true);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    if (nextTimer != INT64_MAX) {
      deadline =
          std::min(deadline, std::chrono::steady_clock::now() +
                                 std::chrono::milliseconds(std::max<int64_t>(0, nextTimer - now)));
    }
    wakeup_.waitUntil(deadline);
  }
  for (auto& reader : readers_) reader->flush();
  return checkStopped();
}

Result<bool> Task::pollAndProcess(size_t gate, bool priorityOnly) {
  // nullopt once the gate delivered everything
  auto next = priorityOnly ? gates_[gate]->pollPriority() : gates_[gate]->pollNext();
  if (!next) return false;
  auto [channel, item] = std::move(*next);
  // A barrier that overtook queued items as a priority event says how many.
  size_t overtaken = item.isEvent() && item.event().type == EventType::kCheckpointBarrier
                         ? gates_[gate]->channel(channel).numOvertaken()
                         : 0;
  STROM_RETURN_IF_ERROR(
      barrierHandler_->process(firstChannelOfGate_[gate] + channel, std::move(item), overtaken));
  STROM_RETURN_IF_ERROR(checkStopped());
  return true;
}

Status Task::readBuffer(int gate, int channel, network::Buffer buffer, size_t offset) {
  RecordReaderBase& reader = *readers_[static_cast<size_t>(gate)];
  std::span<const std::byte> bytes = buffer.bytes();
  const size_t slice = options_.inputSliceBytes;
  if (slice == 0) return reader.processBuffer(channel, bytes.subspan(offset));
  while (offset < bytes.size()) {
    size_t n = std::min(slice, bytes.size() - offset);
    STROM_RETURN_IF_ERROR(reader.processBuffer(channel, bytes.subspan(offset, n)));
    offset += n;
    if (offset == bytes.size()) break;
    for (const auto& g : gates_) {
      if (!g->hasPriorityEvent()) continue;
      inHand_.emplace(InHandBuffer{gate, channel, std::move(buffer), offset});
      return Status::ok();
    }
  }
  return Status::ok();
}

Status Task::processInput(int gate, int channel, BufferOrEvent& item) {
  RecordReaderBase& reader = *readers_[static_cast<size_t>(gate)];
  if (item.isBuffer()) return readBuffer(gate, channel, std::move(item.buffer()), 0);
  switch (item.event().type) {
    case EventType::kEndOfPartition: {
      STROM_RETURN_IF_ERROR(reader.endOfChannel(channel));
      auto& ended = endedChannels_[static_cast<size_t>(gate)];
      if (++ended == gates_[static_cast<size_t>(gate)]->numChannels()) ++finishedGates_;
      bool wasIdle = valve_->idle();
      forwardValveOutput(wasIdle, valve_->onEndOfChannel(gate, channel));
      return Status::ok();
    }
    case EventType::kWatermark:
      if (auto watermark = valve_->onWatermark(gate, channel, item.event().value)) {
        forwardWatermark(*watermark);
      }
      return Status::ok();
    case EventType::kWatermarkStatus: {
      bool wasIdle = valve_->idle();
      forwardValveOutput(wasIdle,
                         valve_->onWatermarkStatus(gate, channel, item.event().value != 0));
      return Status::ok();
    }
    case EventType::kCheckpointBarrier:
    case EventType::kCancelCheckpointMarker:
      // The barrier handler takes every barrier and marker; one here is a bug.
      return Status::internal("task " + name_ + ": a checkpoint event passed the barrier handler");
  }
  return Status::ok();
}

Status Task::performCheckpoint(const checkpoint::CheckpointBarrier& barrier, bool final) {
  // Records read before the barrier reach the head operator first.
  for (auto& reader : readers_) reader->flush();
  for (auto& member : chain_) {
    detail::callNamingOperator(member->node->name(), [&] {
      member->op->prepareSnapshotPreBarrier(barrier.checkpointId);
      member->op->flushOutputs();
    });
  }
  STROM_RETURN_IF_ERROR(checkStopped());
  std::vector<PendingStateEntry> entries;
  Status snapshotError = snapshotOperators(barrier, entries);
  STROM_RETURN_IF_ERROR(checkStopped());
  // A snapshot still held for its barriers in the outputs completes first: those barriers, which
  // precede this one, turn unaligned now if they are still queued.
  finishOutputBarrier(/*convert=*/true);
  if (final) {
    finalCheckpointId_ = barrier.checkpointId;
  } else if (!snapshotError.isOk()) {
    // Declined: a cancellation marker goes on instead of the barrier, so that the tasks
    // downstream stop aligning (and collecting channel state) for it at once.
    STROM_RETURN_IF_ERROR(emitCancellationMarker(barrier.checkpointId));
  } else if (barrier.type == checkpoint::CheckpointType::kUnaligned) {
    auto snapshot = std::make_unique<UnalignedSnapshot>();
    snapshot->checkpointId = barrier.checkpointId;
    snapshot->entries = std::move(entries);
    snapshot->error = std::move(snapshotError);
    // The input the snapshot does not cover begins with each channel's partial record.
    snapshot->input.resize(barrierHandler_ == nullptr ? 0 : barrierHandler_->numChannels());
    for (size_t g = 0; g < readers_.size(); ++g) {
      for (int c = 0; c < gates_[g]->numChannels(); ++c) {
        std::string& input = snapshot->input[static_cast<size_t>(firstChannelOfGate_[g] + c)];
        std::string_view pending = readers_[g]->pendingBytes(c);
        checkpoint::appendChannelStateBytes(
            input, std::as_bytes(std::span<const char>(pending.data(), pending.size())));
        // Then the unread rest of a buffer whose reading stopped for this barrier.
        if (inHand_ && inHand_->gate == static_cast<int>(g) && inHand_->channel == c) {
          checkpoint::appendChannelStateBytes(input,
                                              inHand_->buffer.bytes().subspan(inHand_->offset));
        }
      }
    }
    // The barrier overtakes every queued output buffer, which the checkpoint keeps instead.
    network::Event event = barrier.toEvent();
    snapshot->output.resize(partitions_.size());
    for (size_t p = 0; p < partitions_.size(); ++p) {
      std::vector<std::string>& output = snapshot->output[p];
      output.resize(static_cast<size_t>(partitions_[p]->numSubpartitions()));
      partitions_[p]->emitPriorityEvent(event, [&](int sub, const BufferOrEvent& item) {
        checkpoint::appendChannelStateItem(output[static_cast<size_t>(sub)], item);
      });
      STROM_RETURN_IF_ERROR(partitions_[p]->status());
    }
    unaligned_ = std::move(snapshot);
    // A source has no input to collect.
    if (barrierHandler_ == nullptr) return completeUnalignedSnapshot(barrier.checkpointId);
    return Status::ok();
  } else {
    // Every record before the barrier is in the partitions now; the barrier follows them.
    network::Event event = barrier.toEvent();
    for (auto& partition : partitions_) {
      partition->emitEvent(event);
      STROM_RETURN_IF_ERROR(partition->status());
    }
    if (barrier.terminate) terminateCheckpointId_ = barrier.checkpointId;
    if (barrier.type == checkpoint::CheckpointType::kAlignedTimeout &&
        options_.alignedCheckpointTimeout.count() > 0 && !partitions_.empty()) {
      // Held until its barrier left every output queue, or turned unaligned there at the
      // timeout (checkOutputBarrier): only then is this task's state complete.
      outputBarrier_ = std::make_unique<UnalignedSnapshot>();
      outputBarrier_->checkpointId = barrier.checkpointId;
      outputBarrier_->timestamp = barrier.timestamp;
      outputBarrier_->deadline = barrier.timestamp + options_.alignedCheckpointTimeout.count();
      outputBarrier_->entries = std::move(entries);
      return Status::ok();
    }
  }
  submitSnapshot(barrier.checkpointId, std::move(entries), std::move(snapshotError));
  return Status::ok();
}

Status Task::emitCancellationMarker(int64_t checkpointId) {
  for (auto& partition : partitions_) {
    partition->emitEvent(EventType::kCancelCheckpointMarker, checkpointId);
    STROM_RETURN_IF_ERROR(partition->status());
  }
  return Status::ok();
}

checkpoint::BarrierHandler::BarrierHandlerCallbacks Task::handlerCallbacks() {
  checkpoint::BarrierHandler::BarrierHandlerCallbacks callbacks;
  callbacks.cancelled = [this](int64_t checkpointId) {
    moduleLogger("task")->info("task {}: checkpoint {} was cancelled upstream", name_,
                               checkpointId);
    fail(emitCancellationMarker(checkpointId));  // the loop stops after a failure
  };
  callbacks.persist = [this](int channel, const BufferOrEvent& item) {
    if (unaligned_ != nullptr) {
      checkpoint::appendChannelStateItem(unaligned_->input[static_cast<size_t>(channel)], item);
    }
  };
  callbacks.prioritize = [this](int channel, int64_t checkpointId) {
    auto [gate, index] = gateChannel(channel);
    gates_[static_cast<size_t>(gate)]->channel(index).prioritizeBarrier(checkpointId);
  };
  callbacks.complete = [this](int64_t checkpointId) {
    return completeUnalignedSnapshot(checkpointId);
  };
  callbacks.now = [this] { return services_.clock->currentTimeMillis(); };
  callbacks.alignedTimeout = options_.alignedCheckpointTimeout;
  return callbacks;
}

std::pair<int, int> Task::gateChannel(int channel) const {
  // Channel numbers grow with the gate: find the last gate starting at or before it.
  auto it = std::upper_bound(firstChannelOfGate_.begin(), firstChannelOfGate_.end(), channel);
  int gate = static_cast<int>(it - firstChannelOfGate_.begin()) - 1;
  return {gate, channel - firstChannelOfGate_[static_cast<size_t>(gate)]};
}

Status Task::completeUnalignedSnapshot(int64_t checkpointId) {
  if (unaligned_ == nullptr || unaligned_->checkpointId != checkpointId) return Status::ok();
  submitWithChannelState(std::move(unaligned_));
  return Status::ok();
}

void Task::submitWithChannelState(std::unique_ptr<UnalignedSnapshot> snapshot) {
  const int64_t checkpointId = snapshot->checkpointId;
  // Channel state belongs to the task; it is filed under the head operator's uid.
  const std::string& uid = chain_.front()->uid;
  auto add = [&](std::string name, std::string& bytes) {
    if (bytes.empty()) return;
    PendingStateEntry pending;
    pending.entry.operatorUid = uid;
    pending.entry.kind = std::string(checkpoint::kChannelStateKind);
    pending.entry.name = std::move(name);
    pending.entry.bytes = std::move(bytes);
    snapshot->entries.push_back(std::move(pending));
  };
  for (size_t channel = 0; channel < snapshot->input.size(); ++channel) {
    auto [gate, index] = gateChannel(static_cast<int>(channel));
    add(checkpoint::inputChannelStateName(gate, index), snapshot->input[channel]);
  }
  for (size_t p = 0; p < snapshot->output.size(); ++p) {
    for (size_t sub = 0; sub < snapshot->output[p].size(); ++sub) {
      add(checkpoint::outputChannelStateName(static_cast<int>(p), static_cast<int>(sub)),
          snapshot->output[p][sub]);
    }
  }
  submitSnapshot(checkpointId, std::move(snapshot->entries), std::move(snapshot->error));
}

Status Task::checkOutputBarrier(int64_t now) {
  if (outputBarrier_ == nullptr) return Status::ok();
  const int64_t id = outputBarrier_->checkpointId;
  bool sent = true;
  for (const auto& partition : partitions_) {
    for (int s = 0; s < partition->numSubpartitions() && sent; ++s) {
      sent = partition->subpartition(s)->lastPolledBarrier() >= id;
    }
  }
  if (!sent && now < outputBarrier_->deadline) return Status::ok();
  finishOutputBarrier(/*convert=*/!sent);
  return Status::ok();
}

void Task::finishOutputBarrier(bool convert) {
  if (outputBarrier_ == nullptr) return;
  std::unique_ptr<UnalignedSnapshot> snapshot = std::move(outputBarrier_);
  if (convert) {
    // The alignment timed out at this producer: each barrier still queued overtakes the data
    // ahead of it as an unaligned one, and that data becomes this task's output state.
    const network::Event unaligned =
        checkpoint::CheckpointBarrier{snapshot->checkpointId, snapshot->timestamp,
                                      checkpoint::CheckpointType::kUnaligned}
            .toEvent();
    snapshot->output.resize(partitions_.size());
    for (size_t p = 0; p < partitions_.size(); ++p) {
      std::vector<std::string>& output = snapshot->output[p];
      output.resize(static_cast<size_t>(partitions_[p]->numSubpartitions()));
      for (int s = 0; s < partitions_[p]->numSubpartitions(); ++s) {
        partitions_[p]->subpartition(s)->prioritizeOwnBarrier(
            snapshot->checkpointId, unaligned, [&](const BufferOrEvent& item) {
              checkpoint::appendChannelStateItem(output[static_cast<size_t>(s)], item);
            });
      }
    }
  }
  submitWithChannelState(std::move(snapshot));
}

Status Task::restoreChannelState() {
  if (restoredChannelState_.empty()) return Status::ok();
  auto states = std::move(restoredChannelState_);
  restoredChannelState_.clear();
  const std::string& what = restoredChannelStateContext_;
  // The producer's output state comes before anything it emits now, as do the in-flight
  // records of an edge whose parallelism changed, which go through the partitioner again; the
  // input state is replayed before any new input, and what it makes the operators emit follows.
  std::map<int, std::unique_ptr<RecordReaderBase>> replays;  // by partition
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [name, bytes] : states) {
      STROM_ASSIGN_OR_RETURN(checkpoint::ChannelStateName parsed,
                             checkpoint::parseChannelStateName(name));
      const std::string where = what + ": channel state '" + name + "'";
      if (parsed.kind == checkpoint::ChannelStateName::Kind::kReplay) {
        if (pass != 0) continue;
        const auto p = static_cast<size_t>(parsed.first);
        if (p >= partitionWriters_.size() || partitionWriters_[p].writer == nullptr) {
          return Status::invalidArgument(where + " names an output this task does not have");
        }
        // One reader per partition: an old channel's records may continue from its input part
        // into its output part, the next handle.
        std::unique_ptr<RecordReaderBase>& reader = replays[parsed.first];
        if (!reader) {
          reader = partitionWriters_[p].type->createReader(
              *partitionWriters_[p].writer, "in-flight records replayed into " + where, 1,
              options_.batchRows);
        }
        STROM_RETURN_IF_ERROR(checkpoint::forEachChannelStateItem(
            bytes, where,
            [&](std::span<const std::byte> piece) { return reader->processBuffer(0, piece); },
            // Watermarks are not sent again: later ones follow.
            [](const network::Event&) { return Status::ok(); }));
        continue;
      }
      if (parsed.kind == checkpoint::ChannelStateName::Kind::kOutput) {
        if (pass != 0) continue;
        if (static_cast<size_t>(parsed.first) >= partitions_.size() ||
            parsed.second >= partitions_[static_cast<size_t>(parsed.first)]->numSubpartitions()) {
          return Status::invalidArgument(where + " names an output this task does not have");
        }
        network::ResultPartition& partition = *partitions_[static_cast<size_t>(parsed.first)];
        STROM_RETURN_IF_ERROR(checkpoint::forEachChannelStateItem(
            bytes, where,
            [&](std::span<const std::byte> piece) {
              partition.channel(parsed.second).write(piece.data(), piece.size());
              return partition.status();
            },
            [&](const network::Event& event) {
              partition.emitEventTo(parsed.second, event);
              return partition.status();
            }));
        continue;
      }
      if (pass != 1) continue;
      if (static_cast<size_t>(parsed.first) >= gates_.size() ||
          parsed.second >= gates_[static_cast<size_t>(parsed.first)]->numChannels()) {
        return Status::invalidArgument(where + " names an input this task does not have");
      }
      RecordReaderBase& reader = *readers_[static_cast<size_t>(parsed.first)];
      STROM_RETURN_IF_ERROR(checkpoint::forEachChannelStateItem(
          bytes, where,
          [&](std::span<const std::byte> piece) {
            return reader.processBuffer(parsed.second, piece);
          },
          [&](const network::Event& event) {
            BufferOrEvent item(event);
            return processInput(parsed.first, parsed.second, item);
          }));
      STROM_RETURN_IF_ERROR(checkStopped());
    }
    for (auto& [partition, reader] : replays) {
      reader->flush();
      STROM_RETURN_IF_ERROR(reader->endOfChannel(0));  // whole records, or the state is corrupt
    }
    replays.clear();
  }
  for (auto& partition : partitions_) partition->flushAll();
  return checkStopped();
}

Status Task::snapshotOperators(const checkpoint::CheckpointBarrier& barrier,
                               std::vector<PendingStateEntry>& entries) {
  const int subtask = descriptor_.attemptId.subtaskIndex;
  for (auto& member : chain_) {
    const graph::StreamNode& node = *member->node;
    SnapshotContextImpl context(
        barrier, *member,
        KeyGroupRange::forOperator(node.maxParallelism, node.parallelism, subtask), entries);
    Status status;
    try {
      detail::callNamingOperator(node.name(), [&] { status = member->op->snapshotState(context); });
    } catch (const OperatorError& e) {
      status = Status::internal(e.what());
    }
    if (status.isOk()) status = context.error();
    // The RocksDB backend: the operator wrote its cache into the store; take the store's files.
    if (status.isOk() && member->keyedStore != nullptr && member->keyedStore->isOpen()) {
      Result<StoreUpload> upload =
          member->keyedStore->takeCheckpoint(barrier.checkpointId, keyedStoreOptions_.incremental);
      if (upload.isOk()) {
        PendingStateEntry pending;
        pending.storeUpload = std::move(upload).value();
        entries.push_back(std::move(pending));
      } else {
        status = upload.status();
      }
    }
    if (!status.isOk()) {
      return status.withContext("checkpoint " + std::to_string(barrier.checkpointId) +
                                ": operator '" + node.name() + "' in task " + name_ +
                                " failed to take its snapshot");
    }
  }
  return Status::ok();
}

void Task::submitSnapshot(int64_t checkpointId, std::vector<PendingStateEntry> entries,
                          Status error) {
  auto dropStoreCheckpoints = [&entries] {
    for (PendingStateEntry& pending : entries) {
      std::error_code ignored;
      if (pending.storeUpload) std::filesystem::remove_all(pending.storeUpload->localDir, ignored);
    }
  };
  if (!error.isOk()) {
    dropStoreCheckpoints();
    declineCheckpoint(checkpointId, std::move(error));
    return;
  }
  if (services_.checkpointWriter == nullptr) {
    dropStoreCheckpoints();
    declineCheckpoint(checkpointId,
                      Status::failedPrecondition("task " + name_ + " has no checkpoint writer"));
    return;
  }
  // The work refers to nothing of the task, which may be gone when it runs.
  JobManagerGateway* jobManager = services_.jobManager;
  bool posted = services_.checkpointWriter->post([jobManager, attempt = descriptor_.attemptId,
                                                  name = name_, baseDir = checkpointBaseDir_,
                                                  checkpointId,
                                                  entries = std::move(entries)]() mutable {
    auto write = [&]() -> Result<checkpoint::proto::SubtaskState> {
      if (baseDir.empty()) {
        return Status::failedPrecondition(
            "config key 'state.checkpoints.dir' is not set: there is nowhere to write "
            "checkpoints");
      }
      STROM_ASSIGN_OR_RETURN(checkpoint::CheckpointStorage storage,
                             checkpoint::CheckpointStorage::create(baseDir, attempt.jobId));
      std::vector<checkpoint::TaskStateEntry> encoded;
      std::vector<checkpoint::proto::StateHandle> sharedFiles;
      encoded.reserve(entries.size());
      Status uploaded;
      for (PendingStateEntry& pending : entries) {
        if (pending.storeUpload) {
          // Uploads SST files to shared/, adds the others to `encoded`, removes the
          // local checkpoint whatever happens.
          if (uploaded.isOk()) {
            auto handles =
                uploadStore(*pending.storeUpload, storage.jobDir(), attempt.subtaskIndex, encoded);
            if (handles.isOk()) {
              sharedFiles.insert(sharedFiles.end(), handles->begin(), handles->end());
            } else {
              uploaded = handles.status();
            }
          } else {
            std::error_code ignored;
            std::filesystem::remove_all(pending.storeUpload->localDir, ignored);
          }
          continue;
        }
        if (pending.elements) {
          pending.entry.bytes = checkpoint::encodeOperatorStateElements(*pending.elements);
          pending.elements.reset();
        }
        encoded.push_back(std::move(pending.entry));
      }
      entries.clear();
      STROM_RETURN_IF_ERROR(uploaded);
      STROM_ASSIGN_OR_RETURN(checkpoint::proto::SubtaskState state,
                             checkpoint::writeTaskStateFile(
                                 storage.jobDir(),
                                 checkpoint::TaskStateFileId{checkpointId, attempt.vertexId,
                                                             attempt.subtaskIndex, attempt.attempt},
                                 encoded));
      for (checkpoint::proto::StateHandle& handle : sharedFiles) {
        *state.add_handles() = std::move(handle);
      }
      return state;
    };
    auto state = write();
    if (state.isOk()) {
      jobManager->acknowledgeCheckpoint(attempt, checkpointId, *state);
      return;
    }
    Status reason = state.status().withContext("checkpoint " + std::to_string(checkpointId) +
                                               " at task " + name);
    moduleLogger("task")->warn("{}", reason.message());
    jobManager->declineCheckpoint(attempt, checkpointId, reason);
  });
  if (!posted) {
    declineCheckpoint(checkpointId,
                      Status::cancelled("the TaskManager of task " + name_ + " is shutting down"));
  }
}

void Task::forwardValveOutput(bool wasIdle, std::optional<int64_t> watermark) {
  bool idle = valve_->idle();
  if (wasIdle && !idle) forwardWatermarkStatus(false);
  if (watermark) forwardWatermark(*watermark);
  if (!wasIdle && idle) forwardWatermarkStatus(true);
}

void Task::forwardWatermarkStatus(bool idle) {
  for (auto& reader : readers_) reader->flush();
  ChainMember& head = *chain_.front();
  detail::callNamingOperator(head.node->name(), [&] { head.op->processWatermarkStatus(idle); });
}

void Task::forwardWatermark(int64_t watermark) {
  if (watermark <= watermark_) return;
  watermark_ = watermark;
  for (auto& reader : readers_) reader->flush();
  ChainMember& head = *chain_.front();
  detail::callNamingOperator(head.node->name(), [&] { head.op->processWatermark(watermark); });
}

Status Task::endOfInput() {
  finishOutputBarrier(/*convert=*/true);  // no more loop turns to wait for its barriers
  // The final watermark: every pending event-time timer fires before the input ends.
  forwardWatermark(INT64_MAX);
  STROM_RETURN_IF_ERROR(checkStopped());
  for (auto& member : chain_) {
    detail::callNamingOperator(member->node->name(), [&] {
      member->op->endInput();
      member->op->flushOutputs();
    });
    STROM_RETURN_IF_ERROR(checkStopped());
  }
  for (auto& partition : partitions_) {
    partition->finish();
    STROM_RETURN_IF_ERROR(partition->status());
  }
  return checkStopped();
}

int64_t Task::fireProcessingTime(int64_t now) {
  int64_t next = INT64_MAX;
  for (auto& member : chain_) {
    int64_t requested = member->context->requestedTime();
    if (requested <= now) {
      member->context->clearRequest();
      detail::callNamingOperator(member->node->name(), [&] {
        member->op->onProcessingTime(now);
        member->op->flushOutputs();
      });
      requested = member->context->requestedTime();
    }
    next = std::min(next, requested);
  }
  return next;
}

void Task::flushPartitionsIfDue(int64_t now, bool idle) {
  if (!idle && now - lastFlushMillis_ < options_.bufferTimeout.count()) return;
  lastFlushMillis_ = now;
  for (auto& partition : partitions_) {
    if (partition->hasUnflushedData()) partition->flushAll();
  }
}

void Task::closeOperators() {
  if (!opened_) return;
  opened_ = false;
  for (auto& member : chain_) member->op->close();
}

}  // namespace strom::runtime
