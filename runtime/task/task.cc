#include "runtime/task/task.h"

#include <algorithm>
#include <climits>
#include <exception>
#include <utility>

#include "common/logging.h"
#include "graph/job_graph.h"
#include "graph/stream_graph.h"
#include "runtime/network/remote_input_channel.h"

namespace strom::runtime {

using network::BufferOrEvent;
using network::EventType;

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

/// One operator of the chain with its context.
struct Task::ChainMember {
  const graph::StreamNode* node = nullptr;
  std::unique_ptr<StreamOperator> op;
  std::unique_ptr<OperatorContextImpl> context;
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

  int64_t requestedTime() const { return requestedTime_; }
  void clearRequest() { requestedTime_ = INT64_MAX; }

 private:
  Task& task_;
  const graph::StreamNode& node_;
  std::string name_;
  int64_t requestedTime_ = INT64_MAX;
  MetricGroup metrics_;
};

Result<std::unique_ptr<Task>> Task::create(TaskDeploymentDescriptor descriptor,
                                           const TaskServices& services) {
  Configuration configuration = services.configuration;
  configuration.addAll(descriptor.jobGraph->configuration());
  STROM_ASSIGN_OR_RETURN(TaskOptions options, TaskOptions::fromConfiguration(configuration));
  std::unique_ptr<Task> task(new Task(std::move(descriptor), services, options));
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

void Task::triggerCheckpoint(int64_t checkpointId, int64_t timestamp) {
  post([this, checkpointId, timestamp] {
    if (source_ == nullptr || !opened_) return;
    checkpoint::CheckpointBarrier barrier{checkpointId, timestamp,
                                          checkpoint::barrierTypeOf(options_.checkpointingMode)};
    fail(performCheckpoint(barrier));  // the loop stops after this action if it failed
  });
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
  for (const auto& member : chain_) {
    member->context->metricGroup().forEachCounter([&](const std::string& name, int64_t count) {
      report.counters.emplace_back(member->node->name() + "." + name, count);
    });
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
  STROM_RETURN_IF_ERROR(buildChain());
  STROM_RETURN_IF_ERROR(checkStopped());
  lastFlushMillis_ = services_.clock->currentTimeMillis();
  if (source_ != nullptr) {
    STROM_RETURN_IF_ERROR(runSourceLoop());
  } else {
    STROM_RETURN_IF_ERROR(runInputLoop());
  }
  return endOfInput();
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
    memberOfNode[static_cast<size_t>(nodeId)] = static_cast<int>(chain_.size());
    chain_.push_back(std::move(member));
  }

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
      network::ResultPartition& partition =
          *partitions_[static_cast<size_t>(it - vertex.outputs.begin())];
      const graph::StreamNode& consumerNode = *graph.node(edge.targetNode);
      WriterContext writerContext{descriptor_.attemptId.subtaskIndex, consumerNode.maxParallelism};
      std::unique_ptr<InputBase> writer = edge.partitioner->createWriter(partition, writerContext);
      STROM_RETURN_IF_ERROR(
          output->connect(*writer, "network output to '" + consumerNode.name() + "'"));
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
          // Channel numbers grow with the gate: find the last gate starting at or before it.
          auto it =
              std::upper_bound(firstChannelOfGate_.begin(), firstChannelOfGate_.end(), channel);
          int gate = static_cast<int>(it - firstChannelOfGate_.begin()) - 1;
          return processInput(gate, channel - firstChannelOfGate_[static_cast<size_t>(gate)], item);
        },
        [this](const checkpoint::CheckpointBarrier& barrier) { return performCheckpoint(barrier); },
        [this](int64_t checkpointId) {
          moduleLogger("task")->info("task {}: checkpoint {} aborted by a newer barrier", name_,
                                     checkpointId);
        });
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
    int64_t nextTimer = fireProcessingTime(now);
    STROM_RETURN_IF_ERROR(checkStopped());
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
    int64_t nextTimer = fireProcessingTime(now);
    STROM_RETURN_IF_ERROR(checkStopped());
    // Take up to one buffer from each gate in turn, so that no input starves another.
    bool gotInput = false;
    for (size_t i = 0; i < gates_.size() && finishedGates_ < gates_.size(); ++i) {
      size_t g = (nextGate + i) % gates_.size();
      auto next = gates_[g]->pollNext();  // nullopt once the gate delivered everything
      if (!next) continue;
      gotInput = true;
      STROM_RETURN_IF_ERROR(
          barrierHandler_->process(firstChannelOfGate_[g] + next->first, std::move(next->second)));
      STROM_RETURN_IF_ERROR(checkStopped());
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

Status Task::processInput(int gate, int channel, BufferOrEvent& item) {
  RecordReaderBase& reader = *readers_[static_cast<size_t>(gate)];
  if (item.isBuffer()) {
    const network::Buffer& buffer = item.buffer();
    return reader.processBuffer(channel, std::span<const std::byte>(buffer.data(), buffer.size()));
  }
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
      // The barrier handler takes every barrier; one here is a bug.
      return Status::internal("task " + name_ + ": checkpoint barrier passed the barrier handler");
  }
  return Status::ok();
}

Status Task::performCheckpoint(const checkpoint::CheckpointBarrier& barrier) {
  // Records read before the barrier reach the head operator first.
  for (auto& reader : readers_) reader->flush();
  for (auto& member : chain_) {
    detail::callNamingOperator(member->node->name(), [&] {
      member->op->prepareSnapshotPreBarrier(barrier.checkpointId);
      member->op->flushOutputs();
    });
  }
  STROM_RETURN_IF_ERROR(checkStopped());
  // TODO(issue 8): collect the operators' state and write it asynchronously.
  class Snapshot final : public StateSnapshotContext {
   public:
    explicit Snapshot(const checkpoint::CheckpointBarrier& barrier) : barrier_(barrier) {}
    int64_t checkpointId() const override { return barrier_.checkpointId; }
    int64_t checkpointTimestamp() const override { return barrier_.timestamp; }
    bool isSavepoint() const override { return false; }
    void addKeyedState(std::string) override {}
    void addOperatorState(std::string, OperatorStateMode, std::vector<std::string>) override {}

   private:
    const checkpoint::CheckpointBarrier& barrier_;
  };
  Snapshot snapshot(barrier);
  for (auto& member : chain_) {
    Status status;
    detail::callNamingOperator(member->node->name(),
                               [&] { status = member->op->snapshotState(snapshot); });
    STROM_RETURN_IF_ERROR(status);
  }
  STROM_RETURN_IF_ERROR(checkStopped());
  // Every record before the barrier is in the partitions now; the barrier follows them.
  network::Event event = barrier.toEvent();
  for (auto& partition : partitions_) {
    partition->emitEvent(event);
    STROM_RETURN_IF_ERROR(partition->status());
  }
  if (services_.checkpointCompleted) {
    services_.checkpointCompleted(descriptor_.attemptId, barrier.checkpointId);
  }
  return Status::ok();
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
