#pragma once

// The operator SPI: how operators receive and emit record batches, and what the runtime
// offers them. Operators are templates instantiated with the user's functions (see
// <strom/operators.h>); the runtime wires and drives them only through these interfaces.

#include <strom/metrics.h>
#include <strom/record_batch.h>
#include <strom/status.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

namespace strom {

/// Default bound on the rows of one batch. Configurable per job (`execution.batch.rows`).
inline constexpr size_t kDefaultBatchRows = 1024;

/// An exception that escaped user code, tagged with the name of the operator it came from.
/// The task catches it around the whole batch call and fails with its message.
class OperatorError : public std::runtime_error {
 public:
  OperatorError(std::string operatorName, const std::string& message)
      : std::runtime_error(message), operatorName_(std::move(operatorName)) {}
  const std::string& operatorName() const { return operatorName_; }

 private:
  std::string operatorName_;
};

namespace detail {
/// Call `fn` and return its result; an exception escaping it becomes an OperatorError naming
/// `operatorName`, unless a call further down the chain already named its own operator.
template <class Fn>
decltype(auto) callNamingOperator(const std::string& operatorName, Fn&& fn) {
  try {
    return fn();
  } catch (const OperatorError&) {
    throw;
  } catch (const std::exception& e) {
    throw OperatorError(operatorName, e.what());
  } catch (...) {
    throw OperatorError(operatorName, "unknown exception");
  }
}
}  // namespace detail

/// The receiving end of a stream of T inside a chain: an operator's input, or a record
/// writer that serializes to the network.
class InputBase {
 public:
  virtual ~InputBase() = default;
  virtual std::type_index recordType() const = 0;
  /// Receive the event-time watermark `watermark`: every record before it has been handed
  /// over. An operator reacts to it (StreamOperator::processWatermark); a network writer
  /// sends it downstream. A consumer without event time ignores it.
  virtual void processWatermark(int64_t /*watermark*/) {}
  /// Receive a watermark status: `idle` true when the stream went idle (no watermarks are to
  /// be waited for from it), false when it became active again. An operator reacts to it
  /// (StreamOperator::processWatermarkStatus); a network writer sends it downstream.
  virtual void processWatermarkStatus(bool /*idle*/) {}
};

template <class T>
class Input : public InputBase {
 public:
  /// Process one batch. May move records out of `batch`; the caller clears it afterwards.
  virtual void processBatch(RecordBatch<T>& batch) = 0;
  std::type_index recordType() const final { return typeid(T); }
};

/// The type-erased face of Output<T> that the runtime wires and flushes.
class OutputBase {
 public:
  virtual ~OutputBase() = default;
  virtual std::type_index recordType() const = 0;
  /// Hand the pending batch to every consumer.
  virtual void flush() = 0;
  /// Add a consumer; `consumerName` names it in errors thrown by its user code.
  virtual Status connect(InputBase& consumer, std::string consumerName) = 0;
  virtual bool hasConsumers() const = 0;
  /// Hand the pending batch on, then the watermark `watermark` to every consumer.
  virtual void emitWatermark(int64_t watermark) = 0;
  /// Hand the pending batch on, then the watermark status `idle` to every consumer.
  virtual void emitWatermarkStatus(bool idle) = 0;
};

/// Collects an operator's output into a batch and hands the batch to its consumers when it
/// is full or flushed: one virtual call per batch per consumer. Not thread-safe: it lives on
/// its task's thread.
template <class T>
class Output final : public OutputBase {
 public:
  explicit Output(size_t maxRows = kDefaultBatchRows) : maxRows_(maxRows == 0 ? 1 : maxRows) {
    batch_.reserve(maxRows_);
  }

  void push(T&& value, int64_t timestamp = kNoTimestamp) {
    batch_.push(std::move(value), timestamp);
    if (batch_.size() >= maxRows_) flush();
  }
  void push(const T& value, int64_t timestamp = kNoTimestamp) {
    batch_.push(value, timestamp);
    if (batch_.size() >= maxRows_) flush();
  }

  /// Append a record that `fill(T&)` writes in place into a default-constructed slot, with
  /// `timestamp`: no copy of the record, for large records built field by field (a source's).
  template <class Fill>
  void pushInPlace(int64_t timestamp, Fill&& fill) {
    fill(batch_.emplaceDefault(timestamp));
    if (batch_.size() >= maxRows_) flush();
  }

  /// Append `count` records without timestamps, record i being `generate(i)` (sources of
  /// plain values); full batches are handed on as they fill.
  template <class Generate>
  void pushGenerated(size_t count, Generate&& generate) {
    size_t done = 0;
    while (done < count) {
      size_t n = std::min(count - done, maxRows_ - batch_.size());
      batch_.appendGenerated(n, [&](size_t i) { return generate(done + i); });
      done += n;
      if (batch_.size() >= maxRows_) flush();
    }
  }

  /// Hand on `batch`, which an operator produced in place from its input (a map to the same
  /// type, a filter), after the records already pending: no copy into this output's batch.
  void emit(RecordBatch<T>& batch) {
    flush();
    if (batch.empty()) return;
    if (consumers_.empty()) {
      batch.clear();
      return;
    }
    for (size_t i = 0; i + 1 < consumers_.size(); ++i) {
      copy_.copyFrom(batch);
      deliver(consumers_[i], copy_);
    }
    deliver(consumers_.back(), batch);
  }

  std::type_index recordType() const override { return typeid(T); }
  bool hasConsumers() const override { return !consumers_.empty(); }
  size_t maxRows() const { return maxRows_; }
  /// The records pushed but not handed on yet.
  size_t pendingRows() const { return batch_.size(); }
  /// The arena of the batch being filled: copy the bytes of a record's std::string_view fields
  /// here before pushing it (see RecordBatch::arena()).
  detail::ByteArena& arena() { return batch_.arena(); }

  void flush() override {
    if (batch_.empty()) return;
    if (consumers_.empty()) {
      batch_.clear();
      return;
    }
    for (size_t i = 0; i + 1 < consumers_.size(); ++i) {
      copy_.copyFrom(batch_);
      deliver(consumers_[i], copy_);
    }
    deliver(consumers_.back(), batch_);
    batch_.clear();
  }

  void emitWatermark(int64_t watermark) override {
    flush();
    for (Consumer& consumer : consumers_) {
      detail::callNamingOperator(consumer.name,
                                 [&] { consumer.input->processWatermark(watermark); });
    }
  }

  void emitWatermarkStatus(bool idle) override {
    flush();
    for (Consumer& consumer : consumers_) {
      detail::callNamingOperator(consumer.name,
                                 [&] { consumer.input->processWatermarkStatus(idle); });
    }
  }

  Status connect(InputBase& consumer, std::string consumerName) override {
    if (consumer.recordType() != recordType()) {
      return Status::internal("cannot connect an output of " + std::string(typeid(T).name()) +
                              " to '" + consumerName + "' which takes another type");
    }
    consumers_.push_back(Consumer{static_cast<Input<T>*>(&consumer), std::move(consumerName)});
    return Status::ok();
  }

 private:
  struct Consumer {
    Input<T>* input;  // not owned; the chain outlives its wiring
    std::string name;
  };

  static void deliver(Consumer& consumer, RecordBatch<T>& batch) {
    detail::callNamingOperator(consumer.name, [&] { consumer.input->processBatch(batch); });
    batch.clear();
  }

  size_t maxRows_;
  RecordBatch<T> batch_;
  RecordBatch<T> copy_;
  std::vector<Consumer> consumers_;
};

/// What user functions emit records into (Flink's Collector). Records take the timestamp of
/// the record being processed unless given one.
template <class T>
class Collector {
 public:
  explicit Collector(Output<T>* output) : output_(output) {}
  void collect(T value) { output_->push(std::move(value), timestamp_); }
  void collectWithTimestamp(T value, int64_t timestamp) {
    output_->push(std::move(value), timestamp);
  }
  /// Set the timestamp given to the records collected next (the runtime does this per record).
  void setTimestamp(int64_t timestamp) { timestamp_ = timestamp; }
  /// Return the byte arena of the batch the next collected record goes into. A function that
  /// emits a record with std::string_view fields whose bytes it does not keep alive until the
  /// batch is handed on (bytes of its state, which later records may change) copies them here
  /// and then collects that record, before copying for another: the copies live as long as the
  /// batch that carries the record.
  detail::ByteArena& arena() { return output_->arena(); }

 private:
  Output<T>* output_;  // not owned
  int64_t timestamp_ = kNoTimestamp;
};

/// Names a side output of type T (Flink's OutputTag). Tags with equal ids are the same output.
template <class T>
class OutputTag {
 public:
  using Type = T;
  explicit OutputTag(std::string id) : id_(std::move(id)) {}
  const std::string& id() const { return id_; }

 private:
  std::string id_;
};

class Configuration;
class KeyedStateStore;

/// What the runtime offers one operator instance. Implemented by the task; valid from open()
/// to close(); used only on the task's thread.
class OperatorContext {
 public:
  virtual ~OperatorContext() = default;
  virtual const std::string& operatorName() const = 0;
  /// Return the name of the task running this operator: its chain's operator names joined by
  /// " -> " and the subtask, as in "Map -> Filter (2/4)".
  virtual const std::string& taskName() const = 0;
  virtual int subtaskIndex() const = 0;
  virtual int parallelism() const = 0;
  virtual int maxParallelism() const = 0;
  virtual int attemptNumber() const = 0;
  /// Return the processing time in epoch milliseconds: the task's clock, read at most once
  /// per batch by the caller.
  virtual int64_t currentProcessingTime() = 0;
  /// Ask for onProcessingTime(now) to be called on the task thread once the processing time
  /// reaches `time`. Requests are merged: the earliest pending one wins.
  virtual void requestProcessingTimeCallback(int64_t time) = 0;
  /// Fail the task with `status` (for errors of engine and connector code, which do not
  /// throw). The task stops after the current batch.
  virtual void failTask(Status status) = 0;
  virtual const Configuration& configuration() const = 0;
  /// Return this operator instance's metrics (counters reported when the job finishes).
  virtual MetricGroup& metricGroup() = 0;
  /// Return the store for this operator instance's keyed state when the job's state backend is
  /// RocksDB (`state.backend.type: rocksdb`), or nullptr for the heap backend. The first call
  /// creates the store, already holding the state of the checkpoint the task restores from
  /// (its key groups of this subtask); the context owns it. Errors name the store's directory
  /// or the checkpoint file that could not be restored.
  virtual Result<KeyedStateStore*> keyedStateStore() {
    return static_cast<KeyedStateStore*>(nullptr);
  }
};

/// How the elements of one operator state (state not tied to a key) are handed out when a job
/// restores at another parallelism (Flink's list, union list and broadcast state).
enum class OperatorStateMode : uint8_t {
  kSplit = 0,      // list state: the elements of all subtasks, dealt out round-robin
  kUnion = 1,      // union list state: every subtask gets the elements of all subtasks
  kBroadcast = 2,  // broadcast state: every subtask gets one copy (every subtask wrote the same)
};

/// One keyed-state snapshot to restore from (KeyedStateSnapshotter, docs/formats.md §6).
struct KeyedStateSnapshotInput {
  /// Names the snapshot in errors, such as the path of its file.
  std::string name;
  /// The whole snapshot, as written by KeyedStateSnapshotter::snapshot(). Not owned: must
  /// outlive the restore() call.
  std::string_view bytes;
};

/// What an operator writes into one checkpoint or savepoint: the synchronous part of its
/// snapshot, taken on the task thread. The task writes the bytes to checkpoint storage
/// asynchronously, after the barrier went on (docs/formats.md, "Task state files").
class StateSnapshotContext {
 public:
  virtual ~StateSnapshotContext() = default;
  virtual int64_t checkpointId() const = 0;
  /// The checkpoint's trigger time, epoch milliseconds of the JobManager's clock.
  virtual int64_t checkpointTimestamp() const = 0;
  virtual bool isSavepoint() const = 0;
  /// Add the operator's keyed state: the bytes of KeyedStateSnapshotter::snapshot() for the
  /// subtask's key-group range. At most once per snapshot.
  virtual void addKeyedState(std::string bytes) = 0;
  /// Add operator state `name` (unique within the operator) as `elements`, each serialized by
  /// the operator; `mode` says how they are handed out on restore at another parallelism.
  virtual void addOperatorState(std::string name, OperatorStateMode mode,
                                std::vector<std::string> elements) = 0;
};

/// What a restoring operator gets: the state its uid had in the checkpoint or savepoint, already
/// assigned to this subtask (key groups of its range; operator state dealt out by mode).
class StateInitializationContext {
 public:
  virtual ~StateInitializationContext() = default;
  /// True when the task restores from a checkpoint or savepoint; false on a fresh start (then
  /// every accessor below returns nothing).
  virtual bool isRestored() const = 0;
  /// The restored checkpoint's id, or -1.
  virtual int64_t restoredCheckpointId() const = 0;
  /// The keyed-state snapshots whose key groups overlap this subtask's range (their bytes live
  /// until initializeState returns).
  virtual std::span<const KeyedStateSnapshotInput> keyedState() const = 0;
  /// The elements of operator state `name` assigned to this subtask (empty when there are none).
  virtual const std::vector<std::string>& operatorState(std::string_view name) const = 0;
  /// The names of the operator states restored for this operator.
  virtual std::vector<std::string> operatorStateNames() const = 0;
};

/// One operator instance in a chain. Created by its OperatorFactory on the task thread, then
/// open() → initializeState() → (processBatch | onProcessingTime | processWatermark |
/// processWatermarkStatus | prepareSnapshotPreBarrier → snapshotState |
/// notifyCheckpointComplete | notifyCheckpointAborted)* → processWatermark(INT64_MAX) →
/// endInput() → close(), all on that thread. (Flink initializes state before open(); here
/// open() comes first, so that user functions register their states in open() and restore
/// finds them registered.)
class StreamOperator {
 public:
  virtual ~StreamOperator() = default;

  /// Return the input this operator consumes, or nullptr for a source.
  virtual InputBase* input() { return nullptr; }
  /// Return the second input of a two-input operator (connect, joins), or nullptr.
  virtual InputBase* secondInput() { return nullptr; }
  /// Return the main output, or nullptr for a sink.
  virtual OutputBase* mainOutput() { return nullptr; }
  /// Return the side output with `tagId`, creating it, or nullptr if this operator has none.
  virtual OutputBase* sideOutput(std::string_view /*tagId*/) { return nullptr; }
  /// Add the side output `tagId` (an Output<X> of the tag's type X) before wiring; return
  /// false if this operator cannot emit side outputs.
  virtual bool addSideOutput(std::string /*tagId*/, std::unique_ptr<OutputBase> /*output*/) {
    return false;
  }
  /// Set up before the first record. The context outlives the operator's use of it.
  virtual void open(OperatorContext& context) { context_ = &context; }
  /// Called when the processing time reached a time asked for with
  /// requestProcessingTimeCallback.
  virtual void onProcessingTime(int64_t /*now*/) {}
  /// Called when the event time of this operator's input advanced to `watermark`: no record
  /// with a timestamp <= `watermark` is expected any more (late ones may still come). An
  /// operator with event-time state reacts first, then forwards it; this default forwards it.
  /// The task sends INT64_MAX once the input ended, before endInput().
  virtual void processWatermark(int64_t watermark) { emitWatermark(watermark); }
  /// Called when this operator's input went idle (`idle` true) or became active again (false):
  /// see InputBase::processWatermarkStatus. The task sends it only on a change. This default
  /// forwards it.
  virtual void processWatermarkStatus(bool idle) { emitWatermarkStatus(idle); }
  /// Called on the task thread when the barrier of checkpoint `checkpointId` reached this
  /// operator, in chain order (head first), before any operator's snapshotState and before the
  /// barrier is forwarded: emit what must precede the barrier (Flink's
  /// prepareSnapshotPreBarrier). The task flushes the outputs afterwards. This default does
  /// nothing.
  virtual void prepareSnapshotPreBarrier(int64_t /*checkpointId*/) {}
  /// Called once after open() and before the first record, on a fresh start too
  /// (context.isRestored() false): restore the operator's state from `context`. An error fails
  /// the task (and so the restore) with it. This default accepts no state: it fails if any was
  /// restored for this operator.
  virtual Status initializeState(StateInitializationContext& context);
  /// Take the synchronous part of this operator's snapshot for `context.checkpointId()` into
  /// `context`: it covers exactly the records received before the barrier (aligned
  /// checkpoints). Called on the task thread in chain order, after every
  /// prepareSnapshotPreBarrier, before the barrier is forwarded. An error declines the
  /// checkpoint. This default adds nothing.
  virtual Status snapshotState(StateSnapshotContext& /*context*/) { return Status::ok(); }
  /// Checkpoint `checkpointId` is complete (its `_metadata` is written): commit what it covers
  /// (two-phase-commit sinks). Checkpoints complete in id order, but a notification may be
  /// lost (a failure) or skipped for a newer one: commit everything up to `checkpointId`.
  virtual void notifyCheckpointComplete(int64_t /*checkpointId*/) {}
  /// Checkpoint `checkpointId` was aborted: drop what was prepared for it only.
  virtual void notifyCheckpointAborted(int64_t /*checkpointId*/) {}
  /// Called once when all input has been processed: emit what is pending.
  virtual void endInput() {}
  virtual void close() {}

  /// Flush the main output and every side output.
  void flushOutputs() {
    if (OutputBase* out = mainOutput()) out->flush();
    for (OutputBase* side : sideOutputs_) side->flush();
  }
  /// Flush every output and hand `watermark` to their consumers.
  void emitWatermark(int64_t watermark) {
    if (OutputBase* out = mainOutput()) out->emitWatermark(watermark);
    for (OutputBase* side : sideOutputs_) side->emitWatermark(watermark);
  }
  /// Flush every output and hand the watermark status `idle` to their consumers.
  void emitWatermarkStatus(bool idle) {
    if (OutputBase* out = mainOutput()) out->emitWatermarkStatus(idle);
    for (OutputBase* side : sideOutputs_) side->emitWatermarkStatus(idle);
  }

 protected:
  OperatorContext& context() { return *context_; }
  void registerSideOutput(OutputBase* output) { sideOutputs_.push_back(output); }

 private:
  OperatorContext* context_ = nullptr;
  std::vector<OutputBase*> sideOutputs_;
};

inline Status StreamOperator::initializeState(StateInitializationContext& context) {
  if (!context.keyedState().empty() || !context.operatorStateNames().empty()) {
    return Status::invalidArgument(
        "the checkpoint holds state for this operator, which keeps no state");
  }
  return Status::ok();
}

/// The outcome of one call of a source's emit step.
enum class InputStatus {
  kMoreAvailable,     // call again soon
  kNothingAvailable,  // nothing now: the source asked for a callback or waits for data
  kEndOfInput,        // bounded source exhausted
};

/// A source operator: emits at most one bounded batch per call, then yields to the task's
/// mailbox (STYLE §7.6).
class SourceOperatorBase : public StreamOperator {
 public:
  virtual InputStatus emitNext() = 0;
};

/// Creates operator instances for one node of the graph: one per subtask, on the task
/// thread. Holds copies of the user's functions. Immutable and shareable across threads.
class OperatorFactory {
 public:
  virtual ~OperatorFactory() = default;
  virtual std::unique_ptr<StreamOperator> createOperator(size_t batchRows) const = 0;
};

template <class Make>
class LambdaOperatorFactory final : public OperatorFactory {
 public:
  explicit LambdaOperatorFactory(Make make) : make_(std::move(make)) {}
  std::unique_ptr<StreamOperator> createOperator(size_t batchRows) const override {
    return make_(batchRows);
  }

 private:
  Make make_;
};

/// Return a factory that calls `make(batchRows)` to create each operator instance.
template <class Make>
std::shared_ptr<const OperatorFactory> makeOperatorFactory(Make make) {
  return std::make_shared<LambdaOperatorFactory<Make>>(std::move(make));
}

}  // namespace strom
