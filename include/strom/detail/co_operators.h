#pragma once

// Operator templates with two inputs (connected streams, broadcast state, interval join).
// The task reads both inputs fairly and hands each batch to input() or secondInput(); each
// input is processed in one virtual call per batch, the user's function inlined in the loop.
// The operator's watermark is the minimum of both inputs' (the task combines every channel).

#include <strom/co_functions.h>
#include <strom/functions.h>
#include <strom/operator.h>
#include <strom/operators.h>
#include <strom/state.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace strom::detail {

/// Base of operators with two inputs and one main output.
template <class In1, class In2, class Out, class Keys>
class TwoInputOperator : public OperatorWithOutput<Out, Keys> {
 public:
  TwoInputOperator(size_t batchRows, Keys keys)
      : OperatorWithOutput<Out, Keys>(batchRows, std::move(keys)), first_(*this), second_(*this) {}

  InputBase* input() override { return &first_; }
  InputBase* secondInput() override { return &second_; }

  virtual void processBatch1(RecordBatch<In1>& batch) = 0;
  virtual void processBatch2(RecordBatch<In2>& batch) = 0;

 private:
  template <class X, bool kFirst>
  class Side final : public Input<X> {
   public:
    explicit Side(TwoInputOperator& op) : op_(op) {}
    void processBatch(RecordBatch<X>& batch) override {
      if constexpr (kFirst) {
        op_.processBatch1(batch);
      } else {
        op_.processBatch2(batch);
      }
    }
    void processWatermark(int64_t watermark) override { op_.processWatermark(watermark); }
    void processWatermarkStatus(bool idle) override { op_.processWatermarkStatus(idle); }

   private:
    TwoInputOperator& op_;
  };

  Side<In1, true> first_;
  Side<In2, false> second_;
};

/// The map1/map2 (or flatMap1/flatMap2) pair of two callables, for connect().map(f1, f2).
template <class F1, class F2>
struct CoCallables {
  F1 first;
  F2 second;
  template <class X>
  decltype(auto) map1(X&& value) {
    return first(std::forward<X>(value));
  }
  template <class X>
  decltype(auto) map2(X&& value) {
    return second(std::forward<X>(value));
  }
  template <class X, class C>
  void flatMap1(X&& value, C& out) {
    first(std::forward<X>(value), out);
  }
  template <class X, class C>
  void flatMap2(X&& value, C& out) {
    second(std::forward<X>(value), out);
  }
};

template <class In1, class In2, class Out, class F, class Keys = NoKeying>
class CoMapOperator final : public TwoInputOperator<In1, In2, Out, Keys> {
 public:
  CoMapOperator(size_t batchRows, F fn, Keys keys = {})
      : TwoInputOperator<In1, In2, Out, Keys>(batchRows, std::move(keys)), fn_(std::move(fn)) {}
  void open(OperatorContext& context) override {
    TwoInputOperator<In1, In2, Out, Keys>::open(context);
    this->openUserFunction(fn_);
  }
  void processBatch1(RecordBatch<In1>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf(batch[i]);
      this->output_.push(fn_.map1(std::move(batch[i])), batch.timestamp(i));
    }
    this->output_.flush();
  }
  void processBatch2(RecordBatch<In2>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf2(batch[i]);
      this->output_.push(fn_.map2(std::move(batch[i])), batch.timestamp(i));
    }
    this->output_.flush();
  }
  void close() override { closeFunction(fn_); }

 private:
  F fn_;
};

template <class In1, class In2, class Out, class F, class Keys = NoKeying>
class CoFlatMapOperator final : public TwoInputOperator<In1, In2, Out, Keys> {
 public:
  CoFlatMapOperator(size_t batchRows, F fn, Keys keys = {})
      : TwoInputOperator<In1, In2, Out, Keys>(batchRows, std::move(keys)),
        fn_(std::move(fn)),
        collector_(&this->output_) {}
  void open(OperatorContext& context) override {
    TwoInputOperator<In1, In2, Out, Keys>::open(context);
    this->openUserFunction(fn_);
  }
  void processBatch1(RecordBatch<In1>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf(batch[i]);
      collector_.setTimestamp(batch.timestamp(i));
      fn_.flatMap1(std::move(batch[i]), collector_);
    }
    this->output_.flush();
  }
  void processBatch2(RecordBatch<In2>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf2(batch[i]);
      collector_.setTimestamp(batch.timestamp(i));
      fn_.flatMap2(std::move(batch[i]), collector_);
    }
    this->output_.flush();
  }
  void close() override { closeFunction(fn_); }

 private:
  F fn_;
  Collector<Out> collector_;
};

/// connect().process(CoProcessFunction) on non-keyed streams.
template <class In1, class In2, class Out, class F>
class CoProcessOperator final : public TwoInputOperator<In1, In2, Out, NoKeying> {
  using Base = TwoInputOperator<In1, In2, Out, NoKeying>;

 public:
  CoProcessOperator(size_t batchRows, F fn)
      : Base(batchRows, NoKeying{}),
        fn_(std::move(fn)),
        timers_(contextPtr_),
        processContext_(*this, timers_),
        collector_(&this->output_) {}
  void open(OperatorContext& context) override {
    Base::open(context);
    contextPtr_ = &context;
    this->openUserFunction(fn_);
  }
  void processBatch1(RecordBatch<In1>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      setTimestamp(batch.timestamp(i));
      fn_.processElement1(batch[i], processContext_, collector_);
    }
    this->flushOutputs();
  }
  void processBatch2(RecordBatch<In2>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      setTimestamp(batch.timestamp(i));
      fn_.processElement2(batch[i], processContext_, collector_);
    }
    this->flushOutputs();
  }
  void processWatermark(int64_t watermark) override {
    timers_.setWatermark(watermark);
    StreamOperator::processWatermark(watermark);
  }
  void close() override { closeFunction(fn_); }

 private:
  void setTimestamp(int64_t timestamp) {
    processContext_.setTimestamp(timestamp);
    collector_.setTimestamp(timestamp);
  }

  F fn_;
  OperatorContext* contextPtr_ = nullptr;
  NonKeyedTimerService timers_;
  typename F::Context processContext_;
  Collector<Out> collector_;
};

/// connect().process(KeyedCoProcessFunction) on streams keyed by the same key type.
template <class K, class In1, class In2, class Out, class S1, class S2, class F>
class KeyedCoProcessOperator final : public TwoInputOperator<In1, In2, Out, CoKeying<K, S1, S2>> {
  using Keys = CoKeying<K, S1, S2>;
  using Base = TwoInputOperator<In1, In2, Out, Keys>;

 public:
  KeyedCoProcessOperator(size_t batchRows, S1 selector1, S2 selector2, F fn)
      : Base(batchRows, Keys(std::move(selector1), std::move(selector2))),
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
  void processBatch1(RecordBatch<In1>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf(batch[i]);
      setRecord(batch.timestamp(i));
      fn_.processElement1(batch[i], processContext_, collector_);
    }
    this->flushOutputs();
  }
  void processBatch2(RecordBatch<In2>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf2(batch[i]);
      setRecord(batch.timestamp(i));
      fn_.processElement2(batch[i], processContext_, collector_);
    }
    this->flushOutputs();
  }
  void onProcessingTime(int64_t now) override {
    timers_.onProcessingTime(now, fn_, timerContext_, collector_);
    this->flushOutputs();
  }
  void processWatermark(int64_t watermark) override {
    if (timers_.advanceWatermark(watermark, fn_, timerContext_, collector_)) {
      StreamOperator::processWatermark(watermark);
    }
  }
  void close() override { closeFunction(fn_); }

 protected:
  void onStateRestored() override { timers_.requestNextProcessingTime(); }

 private:
  void setRecord(int64_t timestamp) {
    processContext_.setCurrentKey(&this->keys_.currentKey());
    processContext_.setTimestamp(timestamp);
    collector_.setTimestamp(timestamp);
  }
  F fn_;
  KeyedTimers<K, Keys> timers_;
  typename F::Context processContext_;
  typename F::OnTimerContext timerContext_;
  Collector<Out> collector_;
};

/// A non-keyed stream connected to a broadcast stream (BroadcastProcessFunction).
template <class In1, class In2, class Out, class F>
class BroadcastProcessOperator final : public TwoInputOperator<In1, In2, Out, NoKeying> {
  using Base = TwoInputOperator<In1, In2, Out, NoKeying>;

 public:
  BroadcastProcessOperator(size_t batchRows, F fn, std::vector<std::string> declaredStates)
      : Base(batchRows, NoKeying{}),
        fn_(std::move(fn)),
        timers_(contextPtr_),
        broadcastState_(std::move(declaredStates)),
        readOnlyContext_(broadcastState_, *this, timers_),
        broadcastContext_(broadcastState_, *this, timers_),
        collector_(&this->output_) {}
  void open(OperatorContext& context) override {
    Base::open(context);
    contextPtr_ = &context;
    this->openUserFunction(fn_);
  }
  void processBatch1(RecordBatch<In1>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      readOnlyContext_.setTimestamp(batch.timestamp(i));
      collector_.setTimestamp(batch.timestamp(i));
      fn_.processElement(batch[i], readOnlyContext_, collector_);
    }
    this->flushOutputs();
  }
  void processBatch2(RecordBatch<In2>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      broadcastContext_.setTimestamp(batch.timestamp(i));
      collector_.setTimestamp(batch.timestamp(i));
      fn_.processBroadcastElement(batch[i], broadcastContext_, collector_);
    }
    this->flushOutputs();
  }
  void processWatermark(int64_t watermark) override {
    timers_.setWatermark(watermark);
    StreamOperator::processWatermark(watermark);
  }
  void close() override { closeFunction(fn_); }

 protected:
  Status initializeOwnOperatorState() override {
    return broadcastState_.setRestored(this->operatorStateStore());
  }
  Status snapshotOwnOperatorState(std::vector<OperatorStateEntry>& entries) override {
    return broadcastState_.snapshot(entries);
  }

 private:
  F fn_;
  OperatorContext* contextPtr_ = nullptr;
  NonKeyedTimerService timers_;
  BroadcastStateStore broadcastState_;
  typename F::ReadOnlyContext readOnlyContext_;
  typename F::Context broadcastContext_;
  Collector<Out> collector_;
};

/// A keyed stream connected to a broadcast stream (KeyedBroadcastProcessFunction). Broadcast
/// records are processed with no current key.
template <class K, class In1, class In2, class Out, class S1, class F>
class KeyedBroadcastProcessOperator final : public TwoInputOperator<In1, In2, Out, Keying<K, S1>> {
  using Keys = Keying<K, S1>;
  using Base = TwoInputOperator<In1, In2, Out, Keys>;

 public:
  KeyedBroadcastProcessOperator(size_t batchRows, S1 selector, F fn,
                                std::vector<std::string> declaredStates)
      : Base(batchRows, Keys(std::move(selector))),
        fn_(std::move(fn)),
        timers_(this->keys_),
        broadcastState_(std::move(declaredStates)),
        readOnlyContext_(broadcastState_, *this, timers_),
        broadcastContext_(broadcastState_, *this, broadcastTimers_),
        timerContext_(broadcastState_, *this, timers_),
        collector_(&this->output_) {}
  void open(OperatorContext& context) override {
    Base::open(context);
    timers_.open(context);
    this->openUserFunction(fn_);
  }
  void processBatch1(RecordBatch<In1>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      this->keys_.setKeyOf(batch[i]);
      readOnlyContext_.setCurrentKey(&this->keys_.currentKey());
      readOnlyContext_.setTimestamp(batch.timestamp(i));
      collector_.setTimestamp(batch.timestamp(i));
      fn_.processElement(batch[i], readOnlyContext_, collector_);
    }
    this->flushOutputs();
  }
  void processBatch2(RecordBatch<In2>& batch) override {
    this->keys_.clearKey();
    for (size_t i = 0; i < batch.size(); ++i) {
      broadcastContext_.setTimestamp(batch.timestamp(i));
      collector_.setTimestamp(batch.timestamp(i));
      fn_.processBroadcastElement(batch[i], broadcastContext_, collector_);
    }
    this->flushOutputs();
  }
  void onProcessingTime(int64_t now) override {
    timers_.onProcessingTime(now, fn_, timerContext_, collector_);
    this->flushOutputs();
  }
  void processWatermark(int64_t watermark) override {
    if (timers_.advanceWatermark(watermark, fn_, timerContext_, collector_)) {
      StreamOperator::processWatermark(watermark);
    }
  }
  void close() override { closeFunction(fn_); }

 protected:
  void onStateRestored() override { timers_.requestNextProcessingTime(); }
  Status initializeOwnOperatorState() override {
    return broadcastState_.setRestored(this->operatorStateStore());
  }
  Status snapshotOwnOperatorState(std::vector<OperatorStateEntry>& entries) override {
    return broadcastState_.snapshot(entries);
  }

 private:
  /// The watermark and clock for the broadcast side, which has no key and no timers.
  class BroadcastSideTimers final : public TimerService {
   public:
    explicit BroadcastSideTimers(TimerService& keyed) : keyed_(keyed) {}
    int64_t currentProcessingTime() override { return keyed_.currentProcessingTime(); }
    int64_t currentWatermark() override { return keyed_.currentWatermark(); }
    void registerProcessingTimeTimer(int64_t) override { unsupported(); }
    void deleteProcessingTimeTimer(int64_t) override { unsupported(); }
    void registerEventTimeTimer(int64_t) override { unsupported(); }
    void deleteEventTimeTimer(int64_t) override { unsupported(); }

   private:
    [[noreturn]] static void unsupported() {
      throw std::logic_error("timers cannot be set on the broadcast side (there is no key)");
    }
    TimerService& keyed_;
  };

  F fn_;
  KeyedTimers<K, Keys> timers_;
  BroadcastSideTimers broadcastTimers_{timers_};
  BroadcastStateStore broadcastState_;
  typename F::ReadOnlyContext readOnlyContext_;
  typename F::Context broadcastContext_;
  typename F::OnTimerContext timerContext_;
  Collector<Out> collector_;
};

/// The bounds of an interval join: a right record joins a left record at time t when its
/// timestamp is within [t + lower, t + upper] (bounds made inclusive).
struct IntervalBounds {
  int64_t lower = 0;
  int64_t upper = 0;
};

/// keyedA.intervalJoin(keyedB).between(lower, upper).process(f) (Flink's IntervalJoinOperator):
/// both sides are buffered per key and timestamp until the watermark passes the time after
/// which no partner can arrive; each record is joined against the other side's buffer. A
/// record behind the watermark is late and dropped (counter numLateRecordsDropped).
template <class K, class In1, class In2, class Out, class S1, class S2, class F>
class IntervalJoinOperator final : public TwoInputOperator<In1, In2, Out, CoKeying<K, S1, S2>> {
  using Keys = CoKeying<K, S1, S2>;
  using Base = TwoInputOperator<In1, In2, Out, Keys>;

 public:
  IntervalJoinOperator(size_t batchRows, S1 selector1, S2 selector2, IntervalBounds bounds, F fn)
      : Base(batchRows, Keys(std::move(selector1), std::move(selector2))),
        bounds_(bounds),
        fn_(std::move(fn)),
        context_(*this),
        collector_(&this->output_) {}
  void open(OperatorContext& context) override {
    Base::open(context);
    KeyedStateBackend& backend = *this->keys_.backend();
    left_ = &backend.getMapState(MapStateDescriptor<int64_t, std::vector<In1>>("left-buffer"));
    right_ = &backend.getMapState(MapStateDescriptor<int64_t, std::vector<In2>>("right-buffer"));
    lateRecordsDropped_ = &context.metricGroup().counter("numLateRecordsDropped");
    const KeyGroupRange range = KeyGroupRange::forOperator(
        context.maxParallelism(), context.parallelism(), context.subtaskIndex());
    leftCleanup_ = KeyedTimerQueue<K>(range, context.maxParallelism());
    rightCleanup_ = KeyedTimerQueue<K>(range, context.maxParallelism());
    this->keys_.addTimerQueue("left-cleanup-timers", leftCleanup_);
    this->keys_.addTimerQueue("right-cleanup-timers", rightCleanup_);
    this->openUserFunction(fn_);
  }
  void processBatch1(RecordBatch<In1>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      const int64_t t = checkedTimestamp(batch.timestamp(i));
      if (t < watermark_) {
        lateRecordsDropped_->inc();
        continue;
      }
      this->keys_.setKeyOf(batch[i]);
      for (const auto& [rightTime, bucket] : right_->entries()) {
        if (rightTime < t + bounds_.lower || rightTime > t + bounds_.upper) continue;
        for (const In2& right : bucket) emit(batch[i], right, t, rightTime);
      }
      append(*left_, t, std::move(batch[i]));
      leftCleanup_.add(this->keys_.currentKey(), bounds_.upper > 0 ? t + bounds_.upper : t);
    }
    this->flushOutputs();
  }
  void processBatch2(RecordBatch<In2>& batch) override {
    this->keys_.beginBatch(this->context());
    for (size_t i = 0; i < batch.size(); ++i) {
      const int64_t t = checkedTimestamp(batch.timestamp(i));
      if (t < watermark_) {
        lateRecordsDropped_->inc();
        continue;
      }
      this->keys_.setKeyOf2(batch[i]);
      for (const auto& [leftTime, bucket] : left_->entries()) {
        if (leftTime < t - bounds_.upper || leftTime > t - bounds_.lower) continue;
        for (const In1& left : bucket) emit(left, batch[i], leftTime, t);
      }
      append(*right_, t, std::move(batch[i]));
      rightCleanup_.add(this->keys_.currentKey(), bounds_.lower < 0 ? t - bounds_.lower : t);
    }
    this->flushOutputs();
  }
  /// Drop the buffered records no future record can join, then forward the watermark.
  void processWatermark(int64_t watermark) override {
    if (watermark <= watermark_) return;
    watermark_ = watermark;
    this->keys_.beginBatch(this->context());
    while (auto timer = leftCleanup_.pollDue(watermark)) {
      this->keys_.setKey(timer->key);
      left_->remove(bounds_.upper > 0 ? timer->time - bounds_.upper : timer->time);
    }
    while (auto timer = rightCleanup_.pollDue(watermark)) {
      this->keys_.setKey(timer->key);
      right_->remove(bounds_.lower < 0 ? timer->time + bounds_.lower : timer->time);
    }
    StreamOperator::processWatermark(watermark);
  }
  void close() override { closeFunction(fn_); }

 private:
  int64_t checkedTimestamp(int64_t timestamp) const {
    if (timestamp == kNoTimestamp) [[unlikely]] {
      throw std::logic_error(
          "interval join: a record has no timestamp; assign timestamps and watermarks "
          "(assignTimestampsAndWatermarks) before joining");
    }
    return timestamp;
  }
  template <class X>
  static void append(MapState<int64_t, std::vector<X>>& buffer, int64_t time, X value) {
    if (std::vector<X>* bucket = buffer.getPtrForUpdate(time)) {
      bucket->push_back(std::move(value));
    } else {
      buffer.put(time, std::vector<X>{std::move(value)});
    }
  }
  void emit(const In1& left, const In2& right, int64_t leftTime, int64_t rightTime) {
    context_.setPair(leftTime, rightTime);
    collector_.setTimestamp(context_.getTimestamp());
    fn_.processElement(left, right, context_, collector_);
  }

  IntervalBounds bounds_;
  F fn_;
  MapState<int64_t, std::vector<In1>>* left_ = nullptr;   // owned by the keyed backend
  MapState<int64_t, std::vector<In2>>* right_ = nullptr;  // owned by the keyed backend
  KeyedTimerQueue<K> leftCleanup_;
  KeyedTimerQueue<K> rightCleanup_;
  int64_t watermark_ = INT64_MIN;
  Counter* lateRecordsDropped_ = nullptr;  // owned by the operator's metric group
  typename F::Context context_;
  Collector<Out> collector_;
};

}  // namespace strom::detail
