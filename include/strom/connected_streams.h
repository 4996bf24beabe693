#pragma once

// Two-input streams (Flink's ConnectedStreams, BroadcastConnectedStream and interval join):
// connect() two streams, then apply a function with one method per input. Included by
// <strom/strom.h>.

#include <strom/co_functions.h>
#include <strom/datastream.h>
#include <strom/detail/co_operators.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace strom {
namespace detail {

template <class A, class B, class O>
O coFlatMapOutput(const CoFlatMapFunction<A, B, O>*);
template <class A, class B, class O>
O coProcessOutput(const CoProcessFunction<A, B, O>*);
template <class K, class A, class B, class O>
O keyedCoProcessOutput(const KeyedCoProcessFunction<K, A, B, O>*);
template <class A, class B, class O>
O broadcastProcessOutput(const BroadcastProcessFunction<A, B, O>*);
template <class K, class A, class B, class O>
O keyedBroadcastProcessOutput(const KeyedBroadcastProcessFunction<K, A, B, O>*);
template <class A, class B, class O>
O processJoinOutput(const ProcessJoinFunction<A, B, O>*);

/// Add an operator with the two inputs `first` and `second` (transformation ids).
template <class Out>
SingleOutputStreamOperator<Out> addTwoInputOperator(const std::shared_ptr<EnvironmentState>& env,
                                                    const std::shared_ptr<EnvironmentState>& other,
                                                    int first, int second, std::string name,
                                                    std::shared_ptr<const OperatorFactory> factory,
                                                    bool keyed) {
  if (env != other) {
    throw std::logic_error("connect: the two streams belong to different execution environments");
  }
  Transformation t;
  t.kind = TransformationKind::kTwoInput;
  t.name = std::move(name);
  t.inputs = {first, second};
  t.keyedInput = keyed;
  t.keyedSecondInput = keyed;
  t.operatorFactory = std::move(factory);
  t.outputType = recordOps<Out>();
  return SingleOutputStreamOperator<Out>(env, env->add(std::move(t)).id);
}

/// The output type of a CoMap function object (its map1).
template <class T1, class F>
using CoMapOutput = std::decay_t<decltype(std::declval<F&>().map1(std::declval<T1&&>()))>;

}  // namespace detail

/// Two streams connected for an operator with two inputs (Flink's ConnectedStreams).
template <class T1, class T2>
class ConnectedStreams {
 public:
  ConnectedStreams(DataStream<T1> first, DataStream<T2> second)
      : first_(std::move(first)), second_(std::move(second)) {}

  const DataStream<T1>& getFirstInput() const { return first_; }
  const DataStream<T2>& getSecondInput() const { return second_; }

  /// Apply a CoMapFunction (map1 for the first input, map2 for the second).
  template <class F>
  auto map(F fn) const {
    using Out = detail::CoMapOutput<T1, F>;
    return add<Out>("Co-Map", makeOperatorFactory([fn](size_t rows) {
                      return std::make_unique<detail::CoMapOperator<T1, T2, Out, F>>(rows, fn);
                    }));
  }
  /// Apply one callable per input; both must return the same type.
  template <class F1, class F2>
  auto map(F1 fn1, F2 fn2) const {
    return map(detail::CoCallables<F1, F2>{std::move(fn1), std::move(fn2)});
  }

  /// Apply a CoFlatMapFunction.
  template <class F>
  auto flatMap(F fn) const {
    using Out = decltype(detail::coFlatMapOutput(static_cast<const F*>(nullptr)));
    return flatMapAs<Out>(std::move(fn));
  }
  /// Apply one callable (value, Collector<Out>&) per input.
  template <class F1, class F2>
  auto flatMap(F1 fn1, F2 fn2) const {
    using Out = typename decltype(detail::flatMapOutput<F1>())::type;
    return flatMapAs<Out>(detail::CoCallables<F1, F2>{std::move(fn1), std::move(fn2)});
  }

  /// Apply a CoProcessFunction.
  template <class F>
  auto process(F fn) const {
    using Out = decltype(detail::coProcessOutput(static_cast<const F*>(nullptr)));
    return add<Out>("Co-Process", makeOperatorFactory([fn](size_t rows) {
                      return std::make_unique<detail::CoProcessOperator<T1, T2, Out, F>>(rows, fn);
                    }));
  }

  /// Partition both inputs by key (the selectors must return the same key type).
  template <class F1, class F2>
  auto keyBy(F1 selector1, F2 selector2) const {
    using K1 = std::decay_t<std::invoke_result_t<F1&, const T1&>>;
    using K2 = std::decay_t<std::invoke_result_t<F2&, const T2&>>;
    static_assert(std::is_same_v<K1, K2>, "keyBy: both inputs must have the same key type");
    return first_.keyBy(std::move(selector1)).connect(second_.keyBy(std::move(selector2)));
  }

 private:
  template <class Out>
  SingleOutputStreamOperator<Out> add(std::string name,
                                      std::shared_ptr<const OperatorFactory> factory) const {
    return detail::addTwoInputOperator<Out>(first_.environment(), second_.environment(),
                                            first_.id(), second_.id(), std::move(name),
                                            std::move(factory), /*keyed=*/false);
  }
  template <class Out, class F>
  SingleOutputStreamOperator<Out> flatMapAs(F fn) const {
    return add<Out>("Co-Flat Map", makeOperatorFactory([fn](size_t rows) {
                      return std::make_unique<detail::CoFlatMapOperator<T1, T2, Out, F>>(rows, fn);
                    }));
  }

  DataStream<T1> first_;
  DataStream<T2> second_;
};

/// Two streams keyed by the same key type, connected: their operator has keyed state and
/// timers, and records of both inputs with equal keys meet in the same subtask.
template <class K, class T1, class T2, class S1, class S2>
class KeyedConnectedStreams {
 public:
  KeyedConnectedStreams(KeyedStream<K, T1, S1> first, KeyedStream<K, T2, S2> second)
      : first_(std::move(first)), second_(std::move(second)) {}

  /// Apply a KeyedCoProcessFunction<K, T1, T2, Out>.
  template <class F>
  auto process(F fn) const {
    using Out = decltype(detail::keyedCoProcessOutput(static_cast<const F*>(nullptr)));
    return add<Out>(
        "Keyed Co-Process", makeOperatorFactory([fn, s1 = first_.keySelector(),
                                                 s2 = second_.keySelector()](size_t rows) {
          return std::make_unique<detail::KeyedCoProcessOperator<K, T1, T2, Out, S1, S2, F>>(
              rows, s1, s2, fn);
        }));
  }

  /// CoMap with keyed state of the current key (a rich function's getRuntimeContext()).
  template <class F>
  auto map(F fn) const {
    using Out = detail::CoMapOutput<T1, F>;
    return add<Out>("Co-Map", makeOperatorFactory([fn, s1 = first_.keySelector(),
                                                   s2 = second_.keySelector()](size_t rows) {
                      return std::make_unique<detail::CoMapOperator<T1, T2, Out, F, Keys>>(
                          rows, fn, Keys(s1, s2));
                    }));
  }
  template <class F1, class F2>
  auto map(F1 fn1, F2 fn2) const {
    return map(detail::CoCallables<F1, F2>{std::move(fn1), std::move(fn2)});
  }

  template <class F>
  auto flatMap(F fn) const {
    using Out = decltype(detail::coFlatMapOutput(static_cast<const F*>(nullptr)));
    return flatMapAs<Out>(std::move(fn));
  }
  template <class F1, class F2>
  auto flatMap(F1 fn1, F2 fn2) const {
    using Out = typename decltype(detail::flatMapOutput<F1>())::type;
    return flatMapAs<Out>(detail::CoCallables<F1, F2>{std::move(fn1), std::move(fn2)});
  }

 private:
  using Keys = detail::CoKeying<K, S1, S2>;

  template <class Out>
  SingleOutputStreamOperator<Out> add(std::string name,
                                      std::shared_ptr<const OperatorFactory> factory) const {
    return detail::addTwoInputOperator<Out>(first_.environment(), second_.environment(),
                                            first_.id(), second_.id(), std::move(name),
                                            std::move(factory), /*keyed=*/true);
  }
  template <class Out, class F>
  SingleOutputStreamOperator<Out> flatMapAs(F fn) const {
    return add<Out>("Co-Flat Map", makeOperatorFactory([fn, s1 = first_.keySelector(),
                                                        s2 = second_.keySelector()](size_t rows) {
                      return std::make_unique<detail::CoFlatMapOperator<T1, T2, Out, F, Keys>>(
                          rows, fn, Keys(s1, s2));
                    }));
  }

  KeyedStream<K, T1, S1> first_;
  KeyedStream<K, T2, S2> second_;
};

/// A stream sent to every subtask of the operator it is connected to, with the broadcast
/// states that operator may use (Flink's BroadcastStream).
template <class T>
class BroadcastStream {
 public:
  BroadcastStream(DataStream<T> stream, std::vector<std::string> stateNames)
      : stream_(std::move(stream)), stateNames_(std::move(stateNames)) {}
  const DataStream<T>& stream() const { return stream_; }
  const std::vector<std::string>& stateNames() const { return stateNames_; }

 private:
  DataStream<T> stream_;  // broadcast-partitioned
  std::vector<std::string> stateNames_;
};

/// A non-keyed stream connected to a broadcast stream.
template <class T1, class T2>
class BroadcastConnectedStream {
 public:
  BroadcastConnectedStream(DataStream<T1> first, BroadcastStream<T2> second)
      : first_(std::move(first)), second_(std::move(second)) {}

  /// Apply a BroadcastProcessFunction<T1, T2, Out>.
  template <class F>
  auto process(F fn) const {
    using Out = decltype(detail::broadcastProcessOutput(static_cast<const F*>(nullptr)));
    return detail::addTwoInputOperator<Out>(
        first_.environment(), second_.stream().environment(), first_.id(), second_.stream().id(),
        "Co-Process-Broadcast",
        makeOperatorFactory([fn, names = second_.stateNames()](size_t rows) {
          return std::make_unique<detail::BroadcastProcessOperator<T1, T2, Out, F>>(rows, fn,
                                                                                    names);
        }),
        /*keyed=*/false);
  }

 private:
  DataStream<T1> first_;
  BroadcastStream<T2> second_;
};

/// A keyed stream connected to a broadcast stream.
template <class K, class T1, class S1, class T2>
class KeyedBroadcastConnectedStream {
 public:
  KeyedBroadcastConnectedStream(KeyedStream<K, T1, S1> first, BroadcastStream<T2> second)
      : first_(std::move(first)), second_(std::move(second)) {}

  /// Apply a KeyedBroadcastProcessFunction<K, T1, T2, Out>.
  template <class F>
  auto process(F fn) const {
    using Out = decltype(detail::keyedBroadcastProcessOutput(static_cast<const F*>(nullptr)));
    auto result = detail::addTwoInputOperator<Out>(
        first_.environment(), second_.stream().environment(), first_.id(), second_.stream().id(),
        "Co-Process-Broadcast-Keyed",
        makeOperatorFactory(
            [fn, s1 = first_.keySelector(), names = second_.stateNames()](size_t rows) {
              return std::make_unique<detail::KeyedBroadcastProcessOperator<K, T1, T2, Out, S1, F>>(
                  rows, s1, fn, names);
            }),
        /*keyed=*/true);
    first_.environment()->at(result.id()).keyedSecondInput = false;  // the broadcast side
    return result;
  }

 private:
  KeyedStream<K, T1, S1> first_;
  BroadcastStream<T2> second_;
};

/// The interval join of two keyed streams, with its bounds set (Flink's IntervalJoined).
template <class K, class T1, class S1, class T2, class S2>
class IntervalJoined {
 public:
  IntervalJoined(KeyedStream<K, T1, S1> left, KeyedStream<K, T2, S2> right,
                 detail::IntervalBounds bounds)
      : left_(std::move(left)), right_(std::move(right)), bounds_(bounds) {}

  /// Exclude the lower bound: right.timestamp > left.timestamp + lower.
  IntervalJoined& lowerBoundExclusive() {
    lowerExclusive_ = true;
    return *this;
  }
  /// Exclude the upper bound: right.timestamp < left.timestamp + upper.
  IntervalJoined& upperBoundExclusive() {
    upperExclusive_ = true;
    return *this;
  }

  /// Call `fn` (a ProcessJoinFunction<T1, T2, Out>) for every joined pair.
  template <class F>
  auto process(F fn) const {
    using Out = decltype(detail::processJoinOutput(static_cast<const F*>(nullptr)));
    detail::IntervalBounds bounds{bounds_.lower + (lowerExclusive_ ? 1 : 0),
                                  bounds_.upper - (upperExclusive_ ? 1 : 0)};
    if (bounds.lower > bounds.upper) {
      throw std::invalid_argument("intervalJoin: the interval (lower " +
                                  std::to_string(bounds_.lower) + " ms, upper " +
                                  std::to_string(bounds_.upper) + " ms) is empty");
    }
    return detail::addTwoInputOperator<Out>(
        left_.environment(), right_.environment(), left_.id(), right_.id(), "Interval Join",
        makeOperatorFactory(
            [fn, bounds, s1 = left_.keySelector(), s2 = right_.keySelector()](size_t rows) {
              return std::make_unique<detail::IntervalJoinOperator<K, T1, T2, Out, S1, S2, F>>(
                  rows, s1, s2, bounds, fn);
            }),
        /*keyed=*/true);
  }

 private:
  KeyedStream<K, T1, S1> left_;
  KeyedStream<K, T2, S2> right_;
  detail::IntervalBounds bounds_;
  bool lowerExclusive_ = false;
  bool upperExclusive_ = false;
};

/// keyedA.intervalJoin(keyedB), waiting for its bounds.
template <class K, class T1, class S1, class T2, class S2>
class IntervalJoin {
 public:
  IntervalJoin(KeyedStream<K, T1, S1> left, KeyedStream<K, T2, S2> right)
      : left_(std::move(left)), right_(std::move(right)) {}

  /// Join each left record at time t with the right records at times in [t + lower,
  /// t + upper] (inclusive unless made exclusive). Requires lower <= upper.
  IntervalJoined<K, T1, S1, T2, S2> between(std::chrono::milliseconds lower,
                                            std::chrono::milliseconds upper) const {
    if (lower > upper) {
      throw std::invalid_argument("intervalJoin: lower bound " + std::to_string(lower.count()) +
                                  " ms is above the upper bound " + std::to_string(upper.count()) +
                                  " ms");
    }
    return IntervalJoined<K, T1, S1, T2, S2>(left_, right_, {lower.count(), upper.count()});
  }

 private:
  KeyedStream<K, T1, S1> left_;
  KeyedStream<K, T2, S2> right_;
};

// ---- The entry points declared in <strom/datastream.h> -------------------------------------

template <class T>
template <class... Descriptors>
BroadcastStream<T> DataStream<T>::broadcast(const Descriptors&... descriptors) const {
  static_assert(sizeof...(Descriptors) > 0,
                "broadcast(descriptors...): name the broadcast states (MapStateDescriptor)");
  return BroadcastStream<T>(broadcast(), {descriptors.name()...});
}

template <class T>
template <class U>
ConnectedStreams<T, U> DataStream<T>::connect(const DataStream<U>& other) const {
  return ConnectedStreams<T, U>(*this, other);
}

template <class T>
template <class U>
BroadcastConnectedStream<T, U> DataStream<T>::connect(const BroadcastStream<U>& other) const {
  return BroadcastConnectedStream<T, U>(*this, other);
}

template <class K, class T, class KeySelector>
template <class U, class S2>
KeyedConnectedStreams<K, T, U, KeySelector, S2> KeyedStream<K, T, KeySelector>::connect(
    const KeyedStream<K, U, S2>& other) const {
  return KeyedConnectedStreams<K, T, U, KeySelector, S2>(*this, other);
}

template <class K, class T, class KeySelector>
template <class U>
KeyedBroadcastConnectedStream<K, T, KeySelector, U> KeyedStream<K, T, KeySelector>::connect(
    const BroadcastStream<U>& other) const {
  return KeyedBroadcastConnectedStream<K, T, KeySelector, U>(*this, other);
}

template <class K, class T, class KeySelector>
template <class U, class S2>
IntervalJoin<K, T, KeySelector, U, S2> KeyedStream<K, T, KeySelector>::intervalJoin(
    const KeyedStream<K, U, S2>& other) const {
  return IntervalJoin<K, T, KeySelector, U, S2>(*this, other);
}

}  // namespace strom
