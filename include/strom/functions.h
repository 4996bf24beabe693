#pragma once

// User-function interfaces, in Flink's shape. Plain lambdas work wherever a function is
// taken; these classes are for functions with lifecycle (open/close), state or timers.
// Operators hold the user's concrete function object by value, so calls of its virtual
// methods are bound statically: no virtual call per record.

#include <strom/detail/keyed_state_backend.h>
#include <strom/operator.h>
#include <strom/operator_state.h>
#include <strom/state.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>

namespace strom {

/// What a rich function sees of its runtime (Flink's RuntimeContext). Valid from open() to
/// close(), on the task thread.
class RuntimeContext {
 public:
  RuntimeContext(OperatorContext& operatorContext, KeyedStateBackend* keyedBackend)
      : operatorContext_(operatorContext), keyedBackend_(keyedBackend) {}

  int getIndexOfThisSubtask() const { return operatorContext_.subtaskIndex(); }
  int getNumberOfParallelSubtasks() const { return operatorContext_.parallelism(); }
  int getMaxNumberOfParallelSubtasks() const { return operatorContext_.maxParallelism(); }
  int getAttemptNumber() const { return operatorContext_.attemptNumber(); }
  /// Return the task's name (the chain and the subtask, "Map -> Filter (2/4)"), as Flink does.
  const std::string& getTaskName() const { return operatorContext_.taskName(); }
  /// Return the name of the operator this function belongs to.
  const std::string& getOperatorName() const { return operatorContext_.operatorName(); }
  /// Return the metrics of this operator instance (Flink's getMetricGroup).
  MetricGroup& getMetricGroup() { return operatorContext_.metricGroup(); }
  /// Return the task's processing time in epoch milliseconds.
  int64_t currentProcessingTime() const { return operatorContext_.currentProcessingTime(); }

  /// Keyed state of the current key. Throws std::logic_error on a stream that is not keyed.
  template <class T>
  ValueState<T>& getState(const ValueStateDescriptor<T>& descriptor) {
    return keyed(descriptor.name()).getState(descriptor);
  }
  template <class T>
  ListState<T>& getListState(const ListStateDescriptor<T>& descriptor) {
    return keyed(descriptor.name()).getListState(descriptor);
  }
  template <class UK, class UV>
  MapState<UK, UV>& getMapState(const MapStateDescriptor<UK, UV>& descriptor) {
    return keyed(descriptor.name()).getMapState(descriptor);
  }
  template <class T>
  ReducingState<T>& getReducingState(const ReducingStateDescriptor<T>& descriptor) {
    return keyed(descriptor.name()).getReducingState(descriptor);
  }
  template <class IN, class ACC, class OUT>
  AggregatingState<IN, OUT>& getAggregatingState(
      const AggregatingStateDescriptor<IN, ACC, OUT>& descriptor) {
    return keyed(descriptor.name()).getAggregatingState(descriptor);
  }

  KeyedStateBackend* keyedStateBackend() { return keyedBackend_; }
  OperatorContext& operatorContext() { return operatorContext_; }

 private:
  KeyedStateBackend& keyed(std::string_view stateName) {
    if (keyedBackend_ == nullptr) {
      throw std::logic_error("state '" + std::string(stateName) +
                             "': keyed state is only available on a keyed stream (after keyBy)");
    }
    return *keyedBackend_;
  }

  OperatorContext& operatorContext_;
  KeyedStateBackend* keyedBackend_;  // null on non-keyed streams
};

/// Base of functions with a lifecycle and access to their runtime (Flink's RichFunction).
class RichFunction {
 public:
  virtual ~RichFunction() = default;
  /// Called once per subtask before the first record.
  virtual void open() {}
  /// Called once per subtask after the last record.
  virtual void close() {}

  RuntimeContext& getRuntimeContext() {
    if (runtimeContext_ == nullptr) throw std::logic_error("runtime context used before open()");
    return *runtimeContext_;
  }
  /// Set by the runtime before open(); the context outlives the function's use of it.
  void setRuntimeContext(RuntimeContext* context) { runtimeContext_ = context; }

 private:
  RuntimeContext* runtimeContext_ = nullptr;
};

template <class IN, class OUT>
class RichMapFunction : public RichFunction {
 public:
  virtual OUT map(const IN& value) = 0;
};

template <class IN, class OUT>
class RichFlatMapFunction : public RichFunction {
 public:
  virtual void flatMap(const IN& value, Collector<OUT>& out) = 0;
};

template <class T>
class RichFilterFunction : public RichFunction {
 public:
  virtual bool filter(const T& value) = 0;
};

/// Where side outputs of a process function go; implemented by its operator.
class SideOutputs {
 public:
  virtual ~SideOutputs() = default;
  virtual OutputBase* sideOutput(std::string_view tagId) = 0;
};

enum class TimeDomain { kEventTime, kProcessingTime };

/// Timers of a keyed process function, for the current key.
class TimerService {
 public:
  virtual ~TimerService() = default;
  virtual int64_t currentProcessingTime() = 0;
  virtual int64_t currentWatermark() = 0;
  virtual void registerProcessingTimeTimer(int64_t time) = 0;
  virtual void deleteProcessingTimeTimer(int64_t time) = 0;
  virtual void registerEventTimeTimer(int64_t time) = 0;
  virtual void deleteEventTimeTimer(int64_t time) = 0;
};

/// The context common to process functions: the current record's timestamp and side outputs.
class ProcessContextBase {
 public:
  ProcessContextBase(SideOutputs& sideOutputs) : sideOutputs_(sideOutputs) {}
  /// Return the timestamp of the current record, or kNoTimestamp.
  int64_t timestamp() const { return timestamp_; }
  /// Emit `value` to the side output `tag`; dropped when nothing consumes that output.
  template <class X>
  void output(const OutputTag<X>& tag, X value) {
    OutputBase* out = sideOutputs_.sideOutput(tag.id());
    if (out == nullptr) return;
    if (out->recordType() != typeid(X)) {
      throw std::logic_error("side output '" + tag.id() + "' is used with two record types");
    }
    static_cast<Output<X>*>(out)->push(std::move(value), timestamp_);
  }
  void setTimestamp(int64_t timestamp) { timestamp_ = timestamp; }

 private:
  SideOutputs& sideOutputs_;
  int64_t timestamp_ = kNoTimestamp;
};

/// The context of the functions of non-keyed streams: timestamp, side outputs, and the timer
/// service (the clock and the watermark; registering timers needs a keyed stream).
class ProcessContext : public ProcessContextBase {
 public:
  ProcessContext(SideOutputs& sideOutputs, TimerService& timers)
      : ProcessContextBase(sideOutputs), timers_(timers) {}
  TimerService& timerService() { return timers_; }

 private:
  TimerService& timers_;
};

/// Flink's ProcessFunction: one call per record, with side outputs.
template <class I, class O>
class ProcessFunction : public RichFunction {
 public:
  using Context = ProcessContext;
  virtual void processElement(const I& value, Context& ctx, Collector<O>& out) = 0;
};

/// The context of the functions of keyed streams: the current key and the timers of the
/// current key, besides the record's timestamp and side outputs.
template <class K>
class KeyedContext : public ProcessContextBase {
 public:
  KeyedContext(SideOutputs& sideOutputs, TimerService& timers)
      : ProcessContextBase(sideOutputs), timers_(timers) {}
  TimerService& timerService() { return timers_; }
  const K& getCurrentKey() const { return *currentKey_; }
  void setCurrentKey(const K* key) { currentKey_ = key; }

 private:
  TimerService& timers_;
  const K* currentKey_ = nullptr;
};

/// The context of onTimer of a keyed function: also the time domain of the firing timer.
template <class K>
class KeyedOnTimerContext : public KeyedContext<K> {
 public:
  using KeyedContext<K>::KeyedContext;
  TimeDomain timeDomain() const { return timeDomain_; }
  void setTimeDomain(TimeDomain domain) { timeDomain_ = domain; }

 private:
  TimeDomain timeDomain_ = TimeDomain::kProcessingTime;
};

/// Flink's KeyedProcessFunction: per-record calls and timers, on a keyed stream.
template <class K, class I, class O>
class KeyedProcessFunction : public RichFunction {
 public:
  using Context = KeyedContext<K>;
  using OnTimerContext = KeyedOnTimerContext<K>;

  virtual void processElement(const I& value, Context& ctx, Collector<O>& out) = 0;
  virtual void onTimer(int64_t /*timestamp*/, OnTimerContext& /*ctx*/, Collector<O>& /*out*/) {}
};

}  // namespace strom
