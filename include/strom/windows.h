#pragma once

// Windows (Flink's WindowAssigner, Trigger, Evictor, WindowedStream): group the records of a
// key into finite windows of event or processing time and emit one result per window firing.
//
//   stream.keyBy([](const Bid& b) { return b.auction; })
//       .window(SlidingEventTimeWindows::of(std::chrono::seconds(10), std::chrono::seconds(1)))
//       .allowedLateness(std::chrono::seconds(1))
//       .sideOutputLateData(lateTag)
//       .aggregate(CountAndSum{});
//
// Results carry the timestamp window.maxTimestamp(). The operators live in
// <strom/detail/window_operator.h>; assigners, triggers and evictors are template parameters
// of the operator, so the default path makes no virtual call per record.

#include <strom/datastream.h>
#include <strom/detail/window_operator.h>
#include <strom/operator.h>
#include <strom/transformation.h>
#include <strom/window_types.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

namespace strom {

/// The result of keyBy(...).window(assigner): configure the trigger, evictor, lateness and
/// late-data side output, then give the window function (Flink's WindowedStream). Value type;
/// every call returns a new one.
template <class K, class T, class Selector, class Assigner,
          class TriggerT = typename Assigner::DefaultTrigger, class EvictorT = NoEvictor,
          bool kAll = false>
class WindowedStream {
 public:
  using W = typename Assigner::Window;

  WindowedStream(KeyedStream<K, T, Selector> input, Assigner assigner, TriggerT trigger = {},
                 EvictorT evictor = {})
      : input_(std::move(input)),
        assigner_(std::move(assigner)),
        trigger_(std::move(trigger)),
        evictor_(std::move(evictor)) {}

  /// Replace the trigger.
  template <class NewTrigger>
  WindowedStream<K, T, Selector, Assigner, NewTrigger, EvictorT, kAll> trigger(
      NewTrigger newTrigger) const {
    if constexpr (Assigner::kMerging) {
      if (!newTrigger.canMerge()) {
        throw std::invalid_argument("a merging window assigner needs a trigger that can merge");
      }
    }
    WindowedStream<K, T, Selector, Assigner, NewTrigger, EvictorT, kAll> result(
        input_, assigner_, std::move(newTrigger), evictor_);
    result.config_ = config_;
    return result;
  }
  /// Set the evictor: the window then keeps its elements.
  template <class NewEvictor>
  WindowedStream<K, T, Selector, Assigner, TriggerT, NewEvictor, kAll> evictor(
      NewEvictor newEvictor) const {
    WindowedStream<K, T, Selector, Assigner, TriggerT, NewEvictor, kAll> result(
        input_, assigner_, trigger_, std::move(newEvictor));
    result.config_ = config_;
    return result;
  }
  /// Keep event-time windows `lateness` past their end; late elements re-fire them.
  WindowedStream allowedLateness(std::chrono::milliseconds lateness) const {
    if (lateness.count() < 0) throw std::invalid_argument("allowedLateness must not be negative");
    WindowedStream result = *this;
    result.config_.allowedLateness = Assigner::kEventTime ? lateness.count() : 0;
    return result;
  }
  /// Send elements that arrive after their windows' cleanup time to `tag` instead of
  /// dropping them.
  WindowedStream sideOutputLateData(const OutputTag<T>& tag) const {
    WindowedStream result = *this;
    result.config_.lateDataTag = tag.id();
    return result;
  }

  /// Reduce the elements of each window with `fn` (T(const T&, const T&) or a ReduceFunction
  /// with reduce()).
  template <class F>
  SingleOutputStreamOperator<T> reduce(F fn) const {
    return build<T>("Window Reduce", detail::ReduceAggregation<T, F>{fn}, detail::NoProcess{});
  }
  /// Reduce, then call `process` with the reduced value.
  template <class F, class P>
  auto reduce(F fn, P process) const {
    using Out = typename P::OutputType;
    return build<Out>("Window Reduce", detail::ReduceAggregation<T, F>{fn},
                      detail::ProcessAdapter<P>{process});
  }
  /// Aggregate the elements of each window with `fn` (createAccumulator, add, getResult,
  /// merge; merge is used when session windows merge and to combine panes).
  template <class F>
  auto aggregate(F fn) const {
    using Agg = detail::AggregateAggregation<T, F>;
    return build<typename Agg::Result>("Window Aggregate", Agg{fn}, detail::NoProcess{});
  }
  /// Aggregate, then call `process` with the aggregate's result.
  template <class F, class P>
  auto aggregate(F fn, P process) const {
    using Out = typename P::OutputType;
    return build<Out>("Window Aggregate", detail::AggregateAggregation<T, F>{fn},
                      detail::ProcessAdapter<P>{process});
  }
  /// Call `fn` (a WindowFunction) with the key, the window and all its elements.
  template <class F>
  auto apply(F fn) const {
    using Out = typename F::OutputType;
    return build<Out>("Window Apply", detail::NoAggregation{}, detail::ProcessAdapter<F>{fn});
  }
  /// Call `process` (a ProcessWindowFunction, or ProcessAllWindowFunction for windowAll) with
  /// all elements of each window.
  template <class P>
  auto process(P process) const {
    using Out = typename P::OutputType;
    return build<Out>("Window Process", detail::NoAggregation{},
                      detail::ProcessAdapter<P>{process});
  }

 private:
  template <class, class, class, class, class, class, bool>
  friend class WindowedStream;

  template <class Out, class Agg, class Proc>
  SingleOutputStreamOperator<Out> build(std::string name, Agg agg, Proc proc) const {
    auto factory = makeOperatorFactory([selector = input_.keySelector(), assigner = assigner_,
                                        trigger = trigger_, evictor = evictor_, config = config_,
                                        agg, proc](size_t rows) {
      return detail::makeWindowOperator<K, T, Out>(rows, selector, assigner, trigger, evictor,
                                                   config, agg, proc);
    });
    Transformation t;
    t.kind = TransformationKind::kOneInput;
    t.name = kAll ? "All " + name : std::move(name);
    t.inputs = {input_.id()};
    t.keyedInput = true;
    t.operatorFactory = std::move(factory);
    t.outputType = detail::recordOps<Out>();
    if (kAll) t.parallelism = 1;
    auto& env = input_.environment();
    return SingleOutputStreamOperator<Out>(env, env->add(std::move(t)).id);
  }

  KeyedStream<K, T, Selector> input_;
  Assigner assigner_;
  TriggerT trigger_;
  EvictorT evictor_;
  detail::WindowConfig config_;
};

namespace detail {
/// The key of windowAll: every record has it.
struct ConstantKey {
  template <class T>
  int operator()(const T&) const {
    return 0;
  }
};
}  // namespace detail

/// The result of windowAll(assigner): a window over the whole stream, at parallelism 1.
template <class T, class Assigner, class TriggerT = typename Assigner::DefaultTrigger,
          class EvictorT = NoEvictor>
using AllWindowedStream =
    WindowedStream<int, T, detail::ConstantKey, Assigner, TriggerT, EvictorT, true>;

template <class K, class T, class KeySelector>
template <class Assigner>
auto KeyedStream<K, T, KeySelector>::window(Assigner assigner) const {
  return WindowedStream<K, T, KeySelector, Assigner>(*this, std::move(assigner));
}

template <class T>
template <class Assigner>
auto DataStream<T>::windowAll(Assigner assigner) const {
  return AllWindowedStream<T, Assigner>(keyBy(detail::ConstantKey{}), std::move(assigner));
}

}  // namespace strom
