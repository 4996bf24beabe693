#pragma once

// Operator templates, instantiated with the user's functions. Each processes a whole batch in
// one virtual call with the user's function inlined in a flat loop (STYLE §7): no allocation,
// std::function, lock or virtual call per record of their own.

#include <strom/detail/connector_operators.h>
#include <strom/detail/flat_hash_map.h>
#include <strom/detail/keyed_state_backend.h>
#include <strom/detail/keyed_state_snapshot.h>
#include <strom/detail/timer_queue.h>
#include <strom/functions.h>
#include <strom/key.h>
#include <strom/operator.h>
#include <strom/operator_state.h>
#include <strom/state.h>
#include <strom/status.h>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace strom::detail {

template <class F>
inline constexpr bool kIsRich = std::is_base_of_v<RichFunction, F>;

template <class F>
void openFunction(F& fn, RuntimeContext* context) {
  if constexpr (kIsRich<F>) {
    fn.setRuntimeContext(context);
    fn.open();
  }
}

template <class F>
void closeFunction(F& fn) {
  if constexpr (kIsRich<F>) fn.close();
}

/// Call a map function: a RichMapFunction's map(), or a callable.
template <class F, class In>
decltype(auto) invokeMap(F& fn, In&& value) {
  if constexpr (requires { fn.map(value); }) {
    return fn.map(value);
  } else {
    return fn(std::forward<In>(value));
  }
}

template <class F, class In>
bool invokeFilter(F& fn, const In& value) {
  if constexpr (requires { fn.filter(value); }) {
    return fn.filter(value);
  } else {
    return static_cast<bool>(fn(value));
  }
}

template <class F, class In, class Out>
void invokeFlatMap(F& fn, In&& value, Collector<Out>& out) {
  if constexpr (requires { fn.flatMap(value, out); }) {
    fn.flatMap(value, out);
  } else {
    fn(std::forward<In>(value), out);
  }
}

/// Operators on non-keyed streams: no key context.
struct NoKeying {
  void open(OperatorContext&) {}
  KeyedStateBackend* backend() { return nullptr; }
  template <class T>
  void setKeyOf(const T&) {}
  template <class T>
  void setKeyOf2(const T&) {}
  void beginBatch(OperatorContext&) {}
  /// Non-keyed operators have no keyed state: nothing to write.
  Status snapshotKeyedState(StateSnapshotContext&) { return Status::ok(); }
  /// Refuse keyed state: the checkpoint's operator was keyed, this one is not.
  Status restoreKeyedState(StateInitializationContext& context) {
    if (context.keyedState().empty()) return Status::ok();
    return Status::invalidArgument(
        "the checkpoint holds keyed state for this operator, which is not keyed");
  }
};

/// Operators on keyed streams: a heap keyed-state backend for the subtask's key groups, and
/// the current key set once per record (hashed once).
template <class K, class KeySelector>
class Keying {
 public:
  explicit Keying(KeySelector selector) : selector_(std::move(selector)) {}
  Keying(const Keying& other) : selector_(other.selector_) {}

  void open(OperatorContext& context) {
    context_ = &context;
    maxParallelism_ = context.maxParallelism();
    backend_ = std::make_unique<HeapKeyedStateBackend<K>>(
        KeyGroupRange::forOperator(maxParallelism_, context.parallelism(), context.subtaskIndex()),
        maxParallelism_);
    snapshotter_ = std::make_unique<KeyedStateSnapshotter<K>>(*backend_);
    // The RocksDB backend: the states registered from now on cache their values over the
    // store. An error is reported by initializeState (restoreKeyedState), which always follows.
    Result<KeyedStateStore*> store = context.keyedStateStore();
    if (!store.isOk()) {
      storeError_ = store.status();
    } else if (*store != nullptr) {
      if constexpr (Serializable<K>) {
        backend_->attachStore(**store, (*store)->maxCachedKeys());
      } else {
        storeError_ = Status::invalidArgument(
            "the RocksDB state backend needs a TypeSerializer for the key type " +
            detail::serializerIdentity<K>());
      }
    }
  }
  /// Include `queue` in the keyed-state snapshots under `name` (unique per operator). Call in
  /// open(), after this Keying's open(); the queue must outlive the operator's use of it.
  template <class N>
  void addTimerQueue(std::string name, KeyedTimerQueue<K, N>& queue) {
    snapshotter_->addTimerQueue(std::move(name), queue);
  }
  /// Add the keyed-state snapshot of the subtask's key groups (every registered state and the
  /// added timer queues) to `context`. InvalidArgument naming a state or queue whose type has no
  /// TypeSerializer, or when the key type has none.
  Status snapshotKeyedState(StateSnapshotContext& context) {
    if constexpr (Serializable<K>) {
      // RocksDB backend: the cache's changes and the timers in memory go into the store, whose
      // files the task takes.
      STROM_RETURN_IF_ERROR(snapshotter_->flushToStore());
      STROM_ASSIGN_OR_RETURN(std::string bytes, snapshotter_->snapshot());
      context.addKeyedState(std::move(bytes));
      return Status::ok();
    } else {
      return Status::invalidArgument("keyed state snapshot: the key type " +
                                     detail::serializerIdentity<K>() + " has no TypeSerializer");
    }
  }
  /// Restore the backend and the added timer queues from the keyed-state snapshots of
  /// `context` (none: a fresh start, or an operator that was not keyed). Every state must be
  /// registered and every queue added by then. Errors: KeyedStateSnapshotter::restore's.
  Status restoreKeyedState(StateInitializationContext& context) {
    STROM_RETURN_IF_ERROR(storeError_);
    if (context.keyedState().empty()) return Status::ok();
    if constexpr (Serializable<K>) {
      return snapshotter_->restore(context.keyedState());
    } else {
      return Status::invalidArgument("keyed state restore: the key type " +
                                     detail::serializerIdentity<K>() + " has no TypeSerializer");
    }
  }
  KeyedStateBackend* backend() { return backend_.get(); }
  template <class T>
  void setKeyOf(const T& value) {
    setKey(selector_(value));
  }
  /// Make `key` current: hashed once; the backend copies it into storage it reuses.
  void setKey(const K& key) {
    uint64_t hash = keyHash(key);
    backend_->setCurrentKey(key, hash, keyGroupForHash(hash, maxParallelism_));
  }
  const K& currentKey() const { return backend_->currentKey(); }
  /// Leave no key current (keyed state then throws when accessed).
  void clearKey() { backend_->clearCurrentKey(); }
  /// Read the clock once per batch, for state TTL; with the RocksDB backend, bound the cache.
  void beginBatch(OperatorContext& context) {
    backend_->setCurrentTime(context.currentProcessingTime());
    maybeEvict();
  }
  /// With the RocksDB backend, evict the cache if it holds too many keys (between records that
  /// hold no pointer into state, such as between timers). A failed write-back fails the task.
  void maybeEvict() {
    if (backend_->store() == nullptr) [[likely]] {
      return;
    }
    Status status = backend_->maybeEvictCache();
    if (!status.isOk()) context_->failTask(std::move(status));
  }

 private:
  KeySelector selector_;
  OperatorContext* context_ = nullptr;
  Status storeError_;  // from open(): reported by restoreKeyedState
  std::unique_ptr<HeapKeyedStateBackend<K>> backend_;
  std::unique_ptr<KeyedStateSnapshotter<K>> snapshotter_;  // over backend_
  int maxParallelism_ = kDefaultMaxParallelism;
};

/// Keys of a two-input operator whose inputs are keyed by the same key type: one backend,
/// the key of an input-1 record from `selector1`, of an input-2 record from `selector2`.
template <class K, class Selector1, class Selector2>
class CoKeying : public Keying<K, Selector1> {
 public:
  CoKeying(Selector1 selector1, Selector2 selector2)
      : Keying<K, Selector1>(std::move(selector1)), selector2_(std::move(selector2)) {}
  template <class T>
  void setKeyOf2(const T& value) {
    this->setKey(selector2_(value));
  }

 private:
  Selector2 selector2_;
};

/// Base of operators with a main output: owns the runtime context of a rich user function,
/// the keys (NoKeying or a Keying), the side outputs, and the operator's checkpointed state:
/// the keyed state of its Keying (with the timer queues the operator added to it) and the
/// operator state of its user functions (CheckpointedFunction) and of the operator itself
/// (broadcast state, via the snapshotOwnOperatorState hook).
template <class Out, class Keys>
class OperatorWithOutput : public StreamOperator, public SideOutputs {
 public:
  OperatorWithOutput(size_t batchRows, Keys keys) : keys_(std::move(keys)), output_(batchRows) {}

  OutputBase* mainOutput() override { return &output_; }
  OutputBase* sideOutput(std::string_view tagId) override {
    for (auto& side : sideOutputs_) {
      if (side.first == tagId) return side.second.get();
    }
    return nullptr;
  }
  void open(OperatorContext& context) override {
    StreamOperator::open(context);
    keys_.open(context);
    runtimeContext_ = std::make_unique<RuntimeContext>(context, keys_.backend());
  }
  bool addSideOutput(std::string tagId, std::unique_ptr<OutputBase> output) override {
    registerSideOutput(output.get());
    sideOutputs_.emplace_back(std::move(tagId), std::move(output));
    return true;
  }
  /// Return the keyed state of this instance (null on non-keyed streams): for tests.
  KeyedStateBackend* keyedStateBackend() { return keys_.backend(); }

  /// Restore in this order: the operator state is made available for claiming, the user
  /// functions' initializeState runs (they register their operator state, and may register
  /// keyed state), then the keyed state and timers are restored (every keyed state must be
  /// registered by then: in open() or in initializeState), then onStateRestored(). Operator
  /// state nobody claims is kept and written again at every checkpoint.
  Status initializeState(StateInitializationContext& context) override {
    operatorState_.setRestored(context);
    FunctionInitializationContext functionContext(
        context.isRestored(), context.restoredCheckpointId(), operatorState_, keys_.backend());
    for (CheckpointedFunction* function : checkpointed_) {
      STROM_RETURN_IF_ERROR(
          callUserFunction("initializeState", [&] { function->initializeState(functionContext); }));
    }
    STROM_RETURN_IF_ERROR(initializeOwnOperatorState());
    STROM_RETURN_IF_ERROR(keys_.restoreKeyedState(context));
    onStateRestored();
    return Status::ok();
  }
  /// Run the user functions' snapshotState, then add their operator state, the operator's own
  /// (broadcast) state and the keyed state to `context`. Errors: an exception of a user
  /// function, a state without a TypeSerializer, or an operator state name used twice.
  Status snapshotState(StateSnapshotContext& context) override {
    FunctionSnapshotContext functionContext(context.checkpointId(), context.checkpointTimestamp(),
                                            context.isSavepoint());
    for (CheckpointedFunction* function : checkpointed_) {
      STROM_RETURN_IF_ERROR(
          callUserFunction("snapshotState", [&] { function->snapshotState(functionContext); }));
    }
    std::vector<OperatorStateEntry> entries;
    STROM_RETURN_IF_ERROR(operatorState_.snapshot(entries));
    STROM_RETURN_IF_ERROR(snapshotOwnOperatorState(entries));
    for (size_t i = 0; i < entries.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (entries[j].name == entries[i].name) {
          return Status::invalidArgument("operator state '" + entries[i].name +
                                         "' is registered twice in one operator (as " +
                                         operatorStateModeName(entries[j].mode) + " and " +
                                         operatorStateModeName(entries[i].mode) + ")");
        }
      }
    }
    STROM_RETURN_IF_ERROR(keys_.snapshotKeyedState(context));
    for (OperatorStateEntry& entry : entries) {
      context.addOperatorState(std::move(entry.name), entry.mode, std::move(entry.elements));
    }
    return Status::ok();
  }
  /// Tell the user functions that are CheckpointListeners. An exception propagates (the task
  /// fails with it, naming this operator).
  void notifyCheckpointComplete(int64_t checkpointId) override {
    for (CheckpointListener* listener : listeners_) {
      callNamingOperator(this->context().operatorName(),
                         [&] { listener->notifyCheckpointComplete(checkpointId); });
    }
  }
  void notifyCheckpointAborted(int64_t checkpointId) override {
    for (CheckpointListener* listener : listeners_) {
      callNamingOperator(this->context().operatorName(),
                         [&] { listener->notifyCheckpointAborted(checkpointId); });
    }
  }

 protected:
  RuntimeContext* runtimeContext() { return runtimeContext_.get(); }
  OperatorStateStore& operatorStateStore() { return operatorState_; }

  /// Give `fn` its runtime context and open it (a RichFunction), and take part in checkpoints
  /// if it is a CheckpointedFunction or CheckpointListener. Call in open(), once per function;
  /// `fn` must outlive the operator's use of it (a member).
  template <class F>
  void openUserFunction(F& fn) {
    if constexpr (std::is_base_of_v<CheckpointedFunction, F>) checkpointed_.push_back(&fn);
    if constexpr (std::is_base_of_v<CheckpointListener, F>) listeners_.push_back(&fn);
    openFunction(fn, runtimeContext());
  }

  /// Hook: check the operator's own operator state (broadcast state) once restored state is
  /// available to claim from operatorStateStore(). This default has none.
  virtual Status initializeOwnOperatorState() { return Status::ok(); }
  /// Hook: append the operator's own operator state (broadcast state). This default has none.
  virtual Status snapshotOwnOperatorState(std::vector<OperatorStateEntry>& /*entries*/) {
    return Status::ok();
  }
  /// Hook: called when the keyed state and timers are restored (also on a fresh start), such
  /// as to ask for the processing-time callback of restored timers. This default does nothing.
  virtual void onStateRestored() {}

  Keys keys_;
  Output<Out> output_;

 private:
  /// Call `call` (user code); turn an exception into a Status naming the operator and `what`,
  /// or into the operator state store's error when a state access failed.
  template <class Call>
  Status callUserFunction(const char* what, Call&& call) {
    try {
      call();
      return Status::ok();
    } catch (const std::exception& e) {
      if (!operatorState_.error().isOk()) return operatorState_.error();
      return Status::invalidArgument(this->context().operatorName() + ": " + what +
                                     " of the user function failed: " + e.what());
    } catch (...) {
      return Status::invalidArgument(this->context().operatorName() + ": " + what +
                                     " of the user function failed: unknown exception");
    }
  }

  std::unique_ptr<RuntimeContext> runtimeContext_;
  std::vector<std::pair<std::string, std::unique_ptr<OutputBase>>> sideOutputs_;
  OperatorStateStore operatorState_;
  std::vector<CheckpointedFunction*> checkpointed_;  // the operator's members
  std::vector<CheckpointListener*> listeners_;       // the operator's members
};

/// Base of operators with one input and one main output.
template <class In, class Out, class Keys>
class OneInputOperator : public OperatorWithOutput<Out, Keys>, public Input<In> {
 public:
  OneInputOperator(size_t batchRows, Keys keys)
      : OperatorWithOutput<Out, Keys>(batchRows, std::move(keys)) {}

  InputBase* input() override { return this; }
  /// StreamOperator's and InputBase's hooks are one: watermarks and their statuses reach the
  /// operator.
  void processWatermark(int64_t watermark) override { StreamOperator::processWatermark(watermark); }
  void processWatermarkStatus(bool idle) override { StreamOperator::processWatermarkStatus(idle); }
};

template <class In, class Out, class F, class Keys = NoKeying>
class MapOperator final : public OneInputOperator<In, Out, Keys> {
 public:
  MapOperator(size_t batchRows, F fn, Keys keys = {})
      : OneInputOperator<In, Out, Keys>(batchRows, std::move(keys)), fn_(std::move(fn)) {}
  void open(OperatorContext& context) override {
    OneInputOperator<In, Out, Keys>::open(context);
    this->openUserFunction(fn_);
  }
  void processBatch(RecordBatch<In>& batch) override {
    this->keys_.beginBatch(this->context());
    if constexpr (std::is_same_v<In, Out>) {
      // Same type: transform in place and hand the batch on (no copy, no per-record push).
      In* values = batch.values().data();
      const size_t n = batch.size();
      for (size_t i = 0; i < n; ++i) {
        this->keys_.setKeyOf(values[i]);
        values[i] = invokeMap(fn_, std::move(values[i]));
      }
      this->output_.emit(batch);
    } else {
      for (size_t i = 0; i < batch.size(); ++i) {
        this->keys_.setKeyOf(batch[i]);
        this->output_.push(invokeMap(fn_, std::move(batch[i])), batch.timestamp(i));
      }
      this->output_.flush();
    }
  }
  void close() override { closeFunction(fn_); }

 private:
  F fn_;
};

template <class T, class F, class Keys = NoKeying>
class FilterOperator final : public OneInputOperator<T, T, Keys> {
 public:
  FilterOperator(size_t batchRows, F fn, Keys keys = {})
      : OneInputOperator<T, T, Keys>(batchRows, std::move(keys)), fn_(std::move(fn)) {}
  void open(OperatorContext& context) override {
    OneInputOperator<T, T, Keys>::open(context);
    this->openUserFunction(fn_);
  }
  void processBatch(RecordBatch<T>& batch) override {
    this->keys_.beginBatch(this->context());
    // Compact in place and hand the batch on.
    batch.retainIf([this](const T& value) {
      this->keys_.setKeyOf(value);
      return invokeFilter(fn_, value);
    });
    this->output_.emit(batch);
  }
  void close() override { closeFunction(fn_); }

 private:
  F fn_;
};

template <class In, class Out, class F, class Keys = NoKeying>
class FlatMapOperator final : public OneInputOperator<In, Out, Keys> {
 public:
  FlatMapOperator(size_t batchRows, F fn, Keys keys = {})
      : OneInputOperator<In, Out, Keys>(batchRows, std::move(keys)),
        fn_(std::move(fn)),
        collector_(&this->output_) {}
  void open(OperatorContext& context) override {
    OneInputOperator<In, Out, Keys>::open(context);
    this->openUserFunction(fn_);
  }
  void processBatch(RecordBatch<In>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf(batch[i]);
      collector_.setTimestamp(batch.timestamp(i));
      invokeFlatMap(fn_, std::move(batch[i]), collector_);
    }
    this->output_.flush();
  }
  void close() override { closeFunction(fn_); }

 private:
  F fn_;
  Collector<Out> collector_;
};

/// keyBy().reduce(): keeps the reduced value per key and emits it after every record, as
/// Flink's streaming reduce does.
template <class K, class T, class KeySelector, class F>
class KeyedReduceOperator final : public OneInputOperator<T, T, Keying<K, KeySelector>> {
 public:
  KeyedReduceOperator(size_t batchRows, KeySelector selector, F fn)
      : OneInputOperator<T, T, Keying<K, KeySelector>>(batchRows, Keying<K, KeySelector>(selector)),
        fn_(std::move(fn)) {}
  void open(OperatorContext& context) override {
    OneInputOperator<T, T, Keying<K, KeySelector>>::open(context);
    state_ = &this->keys_.backend()->getState(ValueStateDescriptor<T>("reduce"));
    this->openUserFunction(fn_);
  }
  void processBatch(RecordBatch<T>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf(batch[i]);
      if (const T* current = state_->valuePtr()) {
        if constexpr (requires { fn_.reduce(*current, batch[i]); }) {
          state_->update(fn_.reduce(*current, batch[i]));
        } else {
          state_->update(fn_(*current, batch[i]));
        }
      } else {
        state_->update(std::move(batch[i]));
      }
      this->output_.push(*state_->valuePtr(), batch.timestamp(i));
    }
    this->output_.flush();
  }
  void close() override { closeFunction(fn_); }

 private:
  F fn_;
  ValueState<T>* state_ = nullptr;  // owned by the keyed backend
};

/// keyBy().aggregate(fn): keeps an accumulator per key and emits getResult after every record.
template <class K, class T, class KeySelector, class F, class Acc, class Out>
class KeyedAggregateOperator final : public OneInputOperator<T, Out, Keying<K, KeySelector>> {
 public:
  KeyedAggregateOperator(size_t batchRows, KeySelector selector, F fn)
      : OneInputOperator<T, Out, Keying<K, KeySelector>>(batchRows,
                                                         Keying<K, KeySelector>(selector)),
        fn_(std::move(fn)) {}
  void open(OperatorContext& context) override {
    OneInputOperator<T, Out, Keying<K, KeySelector>>::open(context);
    state_ = &this->keys_.backend()->getState(ValueStateDescriptor<Acc>("aggregate"));
    this->openUserFunction(fn_);
  }
  void processBatch(RecordBatch<T>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf(batch[i]);
      const Acc* current = state_->valuePtr();
      Acc acc = current ? fn_.add(batch[i], *current) : fn_.add(batch[i], fn_.createAccumulator());
      this->output_.push(fn_.getResult(acc), batch.timestamp(i));
      state_->update(std::move(acc));
    }
    this->output_.flush();
  }
  void close() override { closeFunction(fn_); }

 private:
  F fn_;
  ValueState<Acc>* state_ = nullptr;  // owned by the keyed backend
};

/// The timer service of non-keyed process functions: the clock and the watermark, no timers
/// (as in Flink, timers need a keyed stream).
class NonKeyedTimerService final : public TimerService {
 public:
  explicit NonKeyedTimerService(OperatorContext*& context) : context_(context) {}
  int64_t currentProcessingTime() override { return context_->currentProcessingTime(); }
  int64_t currentWatermark() override { return watermark_; }
  void setWatermark(int64_t watermark) { watermark_ = watermark; }
  void registerProcessingTimeTimer(int64_t) override { unsupported(); }
  void deleteProcessingTimeTimer(int64_t) override { unsupported(); }
  void registerEventTimeTimer(int64_t) override { unsupported(); }
  void deleteEventTimeTimer(int64_t) override { unsupported(); }

 private:
  [[noreturn]] static void unsupported() {
    throw std::logic_error("timers are only available on keyed streams (after keyBy)");
  }
  OperatorContext*& context_;
  int64_t watermark_ = INT64_MIN;
};

template <class I, class O, class F>
class ProcessOperator final : public OneInputOperator<I, O, NoKeying> {
 public:
  ProcessOperator(size_t batchRows, F fn)
      : OneInputOperator<I, O, NoKeying>(batchRows, NoKeying{}),
        fn_(std::move(fn)),
        timers_(contextPtr_),
        processContext_(*this, timers_),
        collector_(&this->output_) {}
  void open(OperatorContext& context) override {
    OneInputOperator<I, O, NoKeying>::open(context);
    contextPtr_ = &context;
    this->openUserFunction(fn_);
  }
  void processBatch(RecordBatch<I>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      processContext_.setTimestamp(batch.timestamp(i));
      collector_.setTimestamp(batch.timestamp(i));
      fn_.processElement(batch[i], processContext_, collector_);
    }
    this->flushOutputs();
  }
  void processWatermark(int64_t watermark) override {
    timers_.setWatermark(watermark);
    StreamOperator::processWatermark(watermark);
  }
  void close() override { closeFunction(fn_); }

 private:
  F fn_;
  OperatorContext* contextPtr_ = nullptr;
  NonKeyedTimerService timers_;
  typename F::Context processContext_;
  Collector<O> collector_;
};

/// The timers of a keyed operator for its current key (Flink's InternalTimerService): one
/// event-time and one processing-time queue, at most one timer per key and time. Firing
/// restores each timer's key in `keys` (a Keying) and calls the operator back.
template <class K, class Keys>
class KeyedTimers final : public TimerService {
 public:
  explicit KeyedTimers(Keys& keys) : keys_(keys) {}
  /// Bind to the operator instance: the timers are registered per key group of its range.
  void open(OperatorContext& context) {
    context_ = &context;
    const KeyGroupRange range = KeyGroupRange::forOperator(
        context.maxParallelism(), context.parallelism(), context.subtaskIndex());
    processingTimers_ = KeyedTimerQueue<K>(range, context.maxParallelism());
    eventTimers_ = KeyedTimerQueue<K>(range, context.maxParallelism());
    keys_.addTimerQueue("event-time-timers", eventTimers_);
    keys_.addTimerQueue("processing-time-timers", processingTimers_);
  }
  /// Ask for the processing-time callback of the earliest timer (after a restore).
  void requestNextProcessingTime() {
    requestedTime_ = processingTimers_.nextTime();
    if (requestedTime_ != INT64_MAX) context_->requestProcessingTimeCallback(requestedTime_);
  }
  /// The timers of each domain (for snapshots and tests).
  const KeyedTimerQueue<K>& eventTimers() const { return eventTimers_; }
  const KeyedTimerQueue<K>& processingTimers() const { return processingTimers_; }

  int64_t currentProcessingTime() override { return context_->currentProcessingTime(); }
  int64_t currentWatermark() override { return watermark_; }
  void registerProcessingTimeTimer(int64_t time) override {
    if (processingTimers_.add(keys_.currentKey(), time) && time < requestedTime_) {
      requestedTime_ = time;
      context_->requestProcessingTimeCallback(time);
    }
  }
  void deleteProcessingTimeTimer(int64_t time) override {
    processingTimers_.remove(keys_.currentKey(), time);
  }
  /// A timer at or before the current watermark fires at the next watermark (as in Flink).
  void registerEventTimeTimer(int64_t time) override { eventTimers_.add(keys_.currentKey(), time); }
  void deleteEventTimeTimer(int64_t time) override {
    eventTimers_.remove(keys_.currentKey(), time);
  }

  /// Advance the watermark to `watermark` and fire the event-time timers due, in time order:
  /// `fn.onTimer(time, context, collector)` with the timer's key current. Return false if the
  /// watermark did not advance (then nothing fired and it must not be forwarded).
  template <class F, class TimerContext, class Out>
  bool advanceWatermark(int64_t watermark, F& fn, TimerContext& context,
                        Collector<Out>& collector) {
    if (watermark <= watermark_) return false;
    watermark_ = watermark;
    if (eventTimers_.nextTime() <= watermark) {
      keys_.beginBatch(*context_);
      while (auto timer = eventTimers_.pollDue(watermark)) {
        fire(fn, context, collector, timer->key, timer->time, TimeDomain::kEventTime);
      }
    }
    return true;
  }

  /// Fire the processing-time timers due at `now` as advanceWatermark does, and ask for the
  /// next callback.
  template <class F, class TimerContext, class Out>
  void onProcessingTime(int64_t now, F& fn, TimerContext& context, Collector<Out>& collector) {
    keys_.beginBatch(*context_);
    while (auto timer = processingTimers_.pollDue(now)) {
      fire(fn, context, collector, timer->key, timer->time, TimeDomain::kProcessingTime);
    }
    requestedTime_ = processingTimers_.nextTime();
    if (requestedTime_ != INT64_MAX) context_->requestProcessingTimeCallback(requestedTime_);
  }

 private:
  /// Make `key` current and call the user function's onTimer for it.
  template <class F, class TimerContext, class Out>
  void fire(F& fn, TimerContext& context, Collector<Out>& collector, const K& key, int64_t time,
            TimeDomain domain) {
    keys_.setKey(key);
    context.setCurrentKey(&keys_.currentKey());
    context.setTimestamp(time);
    context.setTimeDomain(domain);
    collector.setTimestamp(time);
    fn.onTimer(time, context, collector);
  }

  Keys& keys_;
  OperatorContext* context_ = nullptr;
  KeyedTimerQueue<K> processingTimers_;
  KeyedTimerQueue<K> eventTimers_;
  int64_t requestedTime_ = INT64_MAX;
  int64_t watermark_ = INT64_MIN;
};

template <class K, class I, class O, class KeySelector, class F>
class KeyedProcessOperator final : public OneInputOperator<I, O, Keying<K, KeySelector>> {
  using Base = OneInputOperator<I, O, Keying<K, KeySelector>>;

 public:
  KeyedProcessOperator(size_t batchRows, KeySelector selector, F fn)
      : Base(batchRows, Keying<K, KeySelector>(selector)),
        fn_(std::move(fn)),
        timers_(this->keys_),
        processContext_(*this, timers_),
        timerContext_(*this, timers_),
        collector_(&this->output_) {}
  void open(OperatorContext& context) override {
    Base::open(context);
    timers_.open(context);
    this->openUserFunction(fn_);
  }
  void processBatch(RecordBatch<I>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf(batch[i]);
      processContext_.setCurrentKey(&this->keys_.currentKey());
      processContext_.setTimestamp(batch.timestamp(i));
      collector_.setTimestamp(batch.timestamp(i));
      fn_.processElement(batch[i], processContext_, collector_);
    }
    this->flushOutputs();
  }
  void onProcessingTime(int64_t now) override {
    timers_.onProcessingTime(now, fn_, timerContext_, collector_);
    this->flushOutputs();
  }
  /// Fire the event-time timers due at `watermark`, in time order, then forward it.
  void processWatermark(int64_t watermark) override {
    if (timers_.advanceWatermark(watermark, fn_, timerContext_, collector_)) {
      StreamOperator::processWatermark(watermark);
    }
  }
  void close() override { closeFunction(fn_); }

 protected:
  void onStateRestored() override { timers_.requestNextProcessingTime(); }

 private:
  F fn_;
  KeyedTimers<K, Keying<K, KeySelector>> timers_;
  typename F::Context processContext_;
  typename F::OnTimerContext timerContext_;
  Collector<O> collector_;
};

}  // namespace strom::detail
