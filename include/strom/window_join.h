#pragma once

// Window join and coGroup of two streams (Flink's JoinedStreams and CoGroupedStreams):
//
//   a.join(b).where(keyOfA).equalTo(keyOfB).window(assigner).apply(joinFunction)
//   a.coGroup(b).where(keyOfA).equalTo(keyOfB).window(assigner).apply(coGroupFunction)
//
// Built as Flink builds them: both inputs tagged into one stream of std::variant<A, B>, keyed
// by the key of either side, windowed, and a window function that splits each window's
// elements by side. So every window assigner, trigger, evictor and allowed lateness works.
// Results carry the window's maxTimestamp().

#include <strom/co_functions.h>
#include <strom/datastream.h>
#include <strom/operator_state.h>
#include <strom/windows.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace strom {

/// Flink's JoinFunction: one output per pair of elements of a window with equal keys.
template <class IN1, class IN2, class OUT>
class JoinFunction : public RichFunction {
 public:
  virtual OUT join(const IN1& first, const IN2& second) = 0;
};

/// Flink's FlatJoinFunction: any number of outputs per pair.
template <class IN1, class IN2, class OUT>
class FlatJoinFunction : public RichFunction {
 public:
  virtual void join(const IN1& first, const IN2& second, Collector<OUT>& out) = 0;
};

/// Flink's CoGroupFunction: once per key and window with the elements of both sides (either
/// may be empty).
template <class IN1, class IN2, class OUT>
class CoGroupFunction : public RichFunction {
 public:
  virtual void coGroup(std::span<const IN1> first, std::span<const IN2> second,
                       Collector<OUT>& out) = 0;
};

namespace detail {

template <class A, class B, class O>
O joinFunctionOutput(const JoinFunction<A, B, O>*);
template <class A, class B, class O>
O joinFunctionOutput(const FlatJoinFunction<A, B, O>*);
template <class A, class B, class O>
O coGroupFunctionOutput(const CoGroupFunction<A, B, O>*);

/// The output type of a join function: a JoinFunction or FlatJoinFunction subclass, or a
/// callable (a, b) -> Out.
template <class T1, class T2, class F>
auto joinOutput() {
  if constexpr (requires { joinFunctionOutput(static_cast<const F*>(nullptr)); }) {
    return std::type_identity<decltype(joinFunctionOutput(static_cast<const F*>(nullptr)))>{};
  } else {
    return std::type_identity<std::decay_t<std::invoke_result_t<F&, const T1&, const T2&>>>{};
  }
}

/// The key of a tagged element: the first side's selector or the second's.
template <class S1, class S2>
struct TaggedKeySelector {
  S1 first;
  S2 second;
  template <class T1, class T2>
  auto operator()(const std::variant<T1, T2>& value) const {
    return value.index() == 0 ? first(std::get<0>(value)) : second(std::get<1>(value));
  }
};

/// Calls a join function for every pair of a window's two sides.
template <class Out, class F>
struct JoinPairs {
  F fn;
  template <class T1, class T2>
  void operator()(std::span<const T1> first, std::span<const T2> second, Collector<Out>& out) {
    for (const T1& a : first) {
      for (const T2& b : second) {
        if constexpr (requires { fn.join(a, b, out); }) {
          fn.join(a, b, out);
        } else if constexpr (requires { fn.join(a, b); }) {
          out.collect(fn.join(a, b));
        } else if constexpr (std::is_invocable_v<F&, const T1&, const T2&, Collector<Out>&>) {
          fn(a, b, out);
        } else {
          out.collect(fn(a, b));
        }
      }
    }
  }
};

/// Calls a coGroup function with a window's two sides.
template <class Out, class F>
struct CoGroupSides {
  F fn;
  template <class T1, class T2>
  void operator()(std::span<const T1> first, std::span<const T2> second, Collector<Out>& out) {
    if constexpr (requires { fn.coGroup(first, second, out); }) {
      fn.coGroup(first, second, out);
    } else {
      fn(first, second, out);
    }
  }
};

/// The window function of a join or coGroup: splits each window's tagged elements by side
/// (into buffers reused across firings) and hands them to `Apply`. Checkpoint hooks go on to
/// the user's function when it is a CheckpointedFunction or CheckpointListener.
template <class T1, class T2, class Out, class K, class W, class Apply, class UserFunction>
class SplitBySide final : public ProcessWindowFunction<std::variant<T1, T2>, Out, K, W>,
                          public CheckpointedFunction,
                          public CheckpointListener {
  using Base = ProcessWindowFunction<std::variant<T1, T2>, Out, K, W>;

 public:
  explicit SplitBySide(Apply apply) : apply_(std::move(apply)) {}
  SplitBySide(const SplitBySide& other)
      : Base(), CheckpointedFunction(), CheckpointListener(), apply_(other.apply_) {}

  void open() override { openFunction(userFunction(), &this->getRuntimeContext()); }
  void close() override { closeFunction(userFunction()); }

  void initializeState(FunctionInitializationContext& context) override {
    if constexpr (std::is_base_of_v<CheckpointedFunction, UserFunction>) {
      userFunction().initializeState(context);
    }
  }
  void snapshotState(FunctionSnapshotContext& context) override {
    if constexpr (std::is_base_of_v<CheckpointedFunction, UserFunction>) {
      userFunction().snapshotState(context);
    }
  }
  void notifyCheckpointComplete(int64_t checkpointId) override {
    if constexpr (std::is_base_of_v<CheckpointListener, UserFunction>) {
      userFunction().notifyCheckpointComplete(checkpointId);
    }
  }
  void notifyCheckpointAborted(int64_t checkpointId) override {
    if constexpr (std::is_base_of_v<CheckpointListener, UserFunction>) {
      userFunction().notifyCheckpointAborted(checkpointId);
    }
  }

  void process(const K&, typename Base::Context&, std::span<const std::variant<T1, T2>> elements,
               Collector<Out>& out) override {
    first_.clear();
    second_.clear();
    for (const std::variant<T1, T2>& element : elements) {
      if (element.index() == 0) {
        first_.push_back(std::get<0>(element));
      } else {
        second_.push_back(std::get<1>(element));
      }
    }
    apply_(std::span<const T1>(first_), std::span<const T2>(second_), out);
  }

 private:
  UserFunction& userFunction() { return apply_.fn; }

  Apply apply_;
  std::vector<T1> first_;
  std::vector<T2> second_;
};

enum class TwoStreamMode { kJoin, kCoGroup };

}  // namespace detail

/// A join or coGroup with its keys and window assigner; trigger, evictor and allowed lateness
/// may still be set, then apply() builds it.
template <detail::TwoStreamMode kMode, class T1, class T2, class S1, class S2, class Assigner,
          class TriggerT = void, class EvictorT = void>
class WindowedTwoStreams {
 public:
  WindowedTwoStreams(DataStream<T1> first, DataStream<T2> second, S1 key1, S2 key2,
                     Assigner assigner, std::chrono::milliseconds lateness = {},
                     std::conditional_t<std::is_void_v<TriggerT>, int, TriggerT> trigger = {},
                     std::conditional_t<std::is_void_v<EvictorT>, int, EvictorT> evictor = {})
      : first_(std::move(first)),
        second_(std::move(second)),
        key1_(std::move(key1)),
        key2_(std::move(key2)),
        assigner_(std::move(assigner)),
        lateness_(lateness),
        trigger_(std::move(trigger)),
        evictor_(std::move(evictor)) {}

  template <class NewTrigger>
  WindowedTwoStreams<kMode, T1, T2, S1, S2, Assigner, NewTrigger, EvictorT> trigger(
      NewTrigger trigger) const {
    return {first_, second_, key1_, key2_, assigner_, lateness_, std::move(trigger), evictor_};
  }
  template <class NewEvictor>
  WindowedTwoStreams<kMode, T1, T2, S1, S2, Assigner, TriggerT, NewEvictor> evictor(
      NewEvictor evictor) const {
    return {first_, second_, key1_, key2_, assigner_, lateness_, trigger_, std::move(evictor)};
  }
  WindowedTwoStreams allowedLateness(std::chrono::milliseconds lateness) const {
    WindowedTwoStreams result = *this;
    result.lateness_ = lateness;
    return result;
  }

  /// Join: `fn` is a JoinFunction<T1, T2, Out> or FlatJoinFunction<T1, T2, Out> subclass, or a
  /// callable (const T1&, const T2&) -> Out. CoGroup: a CoGroupFunction<T1, T2, Out> subclass,
  /// or a callable (span<const T1>, span<const T2>, Collector<Out>&) with Out given as
  /// apply<Out>(fn).
  template <class Out = void, class F>
  auto apply(F fn) const {
    using Result = typename decltype(resultType<Out, F>())::type;
    using K = std::decay_t<std::invoke_result_t<S1&, const T1&>>;
    using Tagged = std::variant<T1, T2>;
    using W = typename Assigner::Window;
    using Apply = std::conditional_t<kMode == detail::TwoStreamMode::kJoin,
                                     detail::JoinPairs<Result, F>, detail::CoGroupSides<Result, F>>;

    auto tagged =
        first_.map([](const T1& value) { return Tagged(std::in_place_index<0>, value); })
            .name(std::string(kName) + " Tag 1")
            .unionWith(
                second_.map([](const T2& value) { return Tagged(std::in_place_index<1>, value); })
                    .name(std::string(kName) + " Tag 2"));
    auto windowed = tagged.keyBy(detail::TaggedKeySelector<S1, S2>{key1_, key2_})
                        .window(assigner_)
                        .allowedLateness(lateness_);
    auto function = detail::SplitBySide<T1, T2, Result, K, W, Apply, F>(Apply{std::move(fn)});
    if constexpr (!std::is_void_v<TriggerT> && !std::is_void_v<EvictorT>) {
      return windowed.trigger(trigger_).evictor(evictor_).process(function).name(kName);
    } else if constexpr (!std::is_void_v<TriggerT>) {
      return windowed.trigger(trigger_).process(function).name(kName);
    } else if constexpr (!std::is_void_v<EvictorT>) {
      return windowed.evictor(evictor_).process(function).name(kName);
    } else {
      return windowed.process(function).name(kName);
    }
  }

 private:
  static constexpr const char* kName =
      kMode == detail::TwoStreamMode::kJoin ? "Window Join" : "Window CoGroup";

  template <class Out, class F>
  static auto resultType() {
    if constexpr (!std::is_void_v<Out>) {
      return std::type_identity<Out>{};
    } else {
      return deduce<F>();
    }
  }
  template <class F>
  static auto deduce() {
    if constexpr (kMode == detail::TwoStreamMode::kJoin) {
      return detail::joinOutput<T1, T2, F>();
    } else {
      return std::type_identity<decltype(detail::coGroupFunctionOutput(
          static_cast<const F*>(nullptr)))>{};
    }
  }

  DataStream<T1> first_;
  DataStream<T2> second_;
  S1 key1_;
  S2 key2_;
  Assigner assigner_;
  std::chrono::milliseconds lateness_;
  std::conditional_t<std::is_void_v<TriggerT>, int, TriggerT> trigger_;
  std::conditional_t<std::is_void_v<EvictorT>, int, EvictorT> evictor_;
};

/// a.join(b) / a.coGroup(b), waiting for where(), equalTo() and window().
template <detail::TwoStreamMode kMode, class T1, class T2>
class TwoStreams {
 public:
  TwoStreams(DataStream<T1> first, DataStream<T2> second)
      : first_(std::move(first)), second_(std::move(second)) {}

  /// The key of the first stream's elements.
  template <class S1>
  auto where(S1 key1) const {
    return Where<S1>{first_, second_, std::move(key1)};
  }

  template <class S1>
  struct Where {
    DataStream<T1> first;
    DataStream<T2> second;
    S1 key1;

    /// The key of the second stream's elements (the same key type as the first's).
    template <class S2>
    auto equalTo(S2 key2) const {
      using K1 = std::decay_t<std::invoke_result_t<S1&, const T1&>>;
      using K2 = std::decay_t<std::invoke_result_t<S2&, const T2&>>;
      static_assert(std::is_same_v<K1, K2>,
                    "join/coGroup: where() and equalTo() must return the same key type");
      return EqualTo<S2>{first, second, key1, std::move(key2)};
    }

    template <class S2>
    struct EqualTo {
      DataStream<T1> first;
      DataStream<T2> second;
      S1 key1;
      S2 key2;
      /// Window both streams with `assigner` (any window assigner).
      template <class Assigner>
      WindowedTwoStreams<kMode, T1, T2, S1, S2, Assigner> window(Assigner assigner) const {
        return {first, second, key1, key2, std::move(assigner)};
      }
    };
  };

 private:
  DataStream<T1> first_;
  DataStream<T2> second_;
};

template <class T1, class T2>
using JoinedStreams = TwoStreams<detail::TwoStreamMode::kJoin, T1, T2>;
template <class T1, class T2>
using CoGroupedStreams = TwoStreams<detail::TwoStreamMode::kCoGroup, T1, T2>;

template <class T>
template <class U>
auto DataStream<T>::join(const DataStream<U>& other) const {
  return JoinedStreams<T, U>(*this, other);
}

template <class T>
template <class U>
auto DataStream<T>::coGroup(const DataStream<U>& other) const {
  return CoGroupedStreams<T, U>(*this, other);
}

}  // namespace strom
