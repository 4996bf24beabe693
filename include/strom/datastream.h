#pragma once

// The typed stream API (Flink's DataStream, KeyedStream, SingleOutputStreamOperator). Each
// call adds a Transformation to the environment; nothing runs until execute().

#include <strom/connectors.h>
#include <strom/environment.h>
#include <strom/functions.h>
#include <strom/key.h>
#include <strom/operators.h>
#include <strom/record_io.h>
#include <strom/sink.h>
#include <strom/source.h>
#include <strom/transformation.h>
#include <strom/type_serializer.h>
#include <strom/watermark.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace strom {

template <class T>
class SingleOutputStreamOperator;
template <class T>
class DataStreamSink;
template <class K, class T, class KeySelector = std::function<K(const T&)>>
class KeyedStream;
template <class T1, class T2>
class ConnectedStreams;
template <class K, class T1, class T2, class S1, class S2>
class KeyedConnectedStreams;
template <class T>
class BroadcastStream;
template <class T1, class T2>
class BroadcastConnectedStream;
template <class K, class T1, class S1, class T2>
class KeyedBroadcastConnectedStream;
template <class K, class T1, class S1, class T2, class S2>
class IntervalJoin;

namespace detail {

template <class M>
struct SecondParameter;
template <class C, class R, class A, class B>
struct SecondParameter<R (C::*)(A, B) const> {
  using type = B;
};
template <class C, class R, class A, class B>
struct SecondParameter<R (C::*)(A, B)> {
  using type = B;
};

template <class X>
struct CollectorElement;
template <class X>
struct CollectorElement<Collector<X>&> {
  using type = X;
};

/// The record type a flatMap function emits: from its Collector<X>& parameter.
template <class F>
auto flatMapOutput() {
  if constexpr (requires { &F::flatMap; }) {
    return std::type_identity<
        typename CollectorElement<typename SecondParameter<decltype(&F::flatMap)>::type>::type>{};
  } else {
    return std::type_identity<typename CollectorElement<
        typename SecondParameter<decltype(&F::operator())>::type>::type>{};
  }
}

template <class I, class O>
O processOutput(const ProcessFunction<I, O>*);
template <class K, class I, class O>
O keyedProcessOutput(const KeyedProcessFunction<K, I, O>*);

template <class T>
std::shared_ptr<const RecordTypeOps> recordOps() {
  static_assert(Serializable<T>,
                "a record type must be serializable: declare its fields with STROM_FIELDS(...) "
                "or specialize strom::TypeSerializer");
  return std::make_shared<TypedRecordOps<T>>();
}

}  // namespace detail

/// A stream of records of type T.
template <class T>
class DataStream {
 public:
  using Type = T;
  DataStream(std::shared_ptr<detail::EnvironmentState> env, int id)
      : env_(std::move(env)), id_(id) {}

  int id() const { return id_; }
  const std::shared_ptr<detail::EnvironmentState>& environment() const { return env_; }

  /// Apply `fn` (a callable T -> Out, or a RichMapFunction) to every record.
  template <class F>
  auto map(F fn) const {
    using Out = std::decay_t<decltype(detail::invokeMap(std::declval<F&>(), std::declval<T&&>()))>;
    return addOperator<Out>("Map", makeOperatorFactory([fn](size_t rows) {
                              return std::make_unique<detail::MapOperator<T, Out, F>>(rows, fn);
                            }));
  }

  /// Apply `fn` (a callable (T, Collector<Out>&), or a RichFlatMapFunction) to every record.
  template <class F>
  auto flatMap(F fn) const {
    using Out = typename decltype(detail::flatMapOutput<F>())::type;
    return addOperator<Out>("Flat Map", makeOperatorFactory([fn](size_t rows) {
                              return std::make_unique<detail::FlatMapOperator<T, Out, F>>(rows, fn);
                            }));
  }

  /// Keep the records for which `fn` (a predicate, or a RichFilterFunction) is true.
  template <class F>
  SingleOutputStreamOperator<T> filter(F fn) const {
    return addOperator<T>("Filter", makeOperatorFactory([fn](size_t rows) {
                            return std::make_unique<detail::FilterOperator<T, F>>(rows, fn);
                          }));
  }

  /// Set every record's timestamp with `strategy`'s assigner and emit its watermarks
  /// (Flink's assignTimestampsAndWatermarks). Chained to its input.
  template <class Assigner, class GeneratorFactory>
  SingleOutputStreamOperator<T> assignTimestampsAndWatermarks(
      WatermarkStrategy<T, Assigner, GeneratorFactory> strategy) const {
    return addOperator<T>(
        "Timestamps/Watermarks", makeOperatorFactory([strategy](size_t rows) {
          return std::make_unique<
              detail::TimestampsAndWatermarksOperator<T, Assigner, GeneratorFactory>>(rows,
                                                                                      strategy);
        }));
  }

  /// Process every record with a ProcessFunction<T, O> subclass.
  template <class F>
  auto process(F fn) const {
    using Out = decltype(detail::processOutput(static_cast<const F*>(nullptr)));
    return addOperator<Out>("Process", makeOperatorFactory([fn](size_t rows) {
                              return std::make_unique<detail::ProcessOperator<T, Out, F>>(rows, fn);
                            }));
  }

  /// Partition the stream by the key `keySelector` returns (its type must be Keyable).
  template <class F>
  auto keyBy(F keySelector) const {
    using K = std::decay_t<std::invoke_result_t<F&, const T&>>;
    static_assert(Keyable<K>,
                  "keyBy: the key type is not keyable: it needs strom::KeyTraits<K>::hash (built "
                  "in for integers, enums, std::string, pairs, tuples and STROM_FIELDS structs) "
                  "and operator==");
    static_assert(Serializable<K>, "keyBy: the key type must be serializable");
    int partition =
        addPartition(std::make_shared<detail::KeyedPartitionerFactory<T, F>>(keySelector));
    return KeyedStream<K, T, F>(env_, partition, keySelector);
  }

  /// Merge this stream with others of the same type (Flink's union).
  template <class... Others>
  DataStream<T> unionWith(const Others&... others) const {
    static_assert((std::is_same_v<typename Others::Type, T> && ...),
                  "unionWith: every stream must have the same record type");
    Transformation t;
    t.kind = TransformationKind::kUnion;
    t.name = "Union";
    t.inputs = {id_, others.id()...};
    t.outputType = detail::recordOps<T>();
    return DataStream<T>(env_, env_->add(std::move(t)).id);
  }

  /// Group the whole stream into windows of `assigner` (Flink's windowAll): one window
  /// operator at parallelism 1. Defined in <strom/windows.h>.
  template <class Assigner>
  auto windowAll(Assigner assigner) const;

  /// Distribute records round robin over all subtasks of the next operator.
  DataStream<T> rebalance() const { return partitioned(PartitionerKind::kRebalance); }
  /// Distribute records round robin over a local subset of the next operator's subtasks.
  DataStream<T> rescale() const { return partitioned(PartitionerKind::kRescale); }
  /// Send every record to every subtask of the next operator.
  DataStream<T> broadcast() const { return partitioned(PartitionerKind::kBroadcast); }
  /// Broadcast this stream for the broadcast-state pattern: connect() it to another stream,
  /// whose BroadcastProcessFunction may use the broadcast states `descriptors` declares.
  template <class... Descriptors>
  BroadcastStream<T> broadcast(const Descriptors&... descriptors) const;

  /// Connect this stream to `other` for an operator with two inputs (CoMap, CoFlatMap,
  /// CoProcess). Defined in <strom/connected_streams.h>.
  template <class U>
  ConnectedStreams<T, U> connect(const DataStream<U>& other) const;
  /// Connect this stream to a broadcast stream (BroadcastProcessFunction).
  template <class U>
  BroadcastConnectedStream<T, U> connect(const BroadcastStream<U>& other) const;

  /// Join with `other` in windows: .where(key).equalTo(otherKey).window(assigner).apply(fn)
  /// (Flink's JoinedStreams). Defined in <strom/window_join.h>.
  template <class U>
  auto join(const DataStream<U>& other) const;
  /// CoGroup with `other` in windows (Flink's CoGroupedStreams). Defined in
  /// <strom/window_join.h>.
  template <class U>
  auto coGroup(const DataStream<U>& other) const;
  /// Send records to the subtask with the same index (parallelism must not change).
  DataStream<T> forward() const { return partitioned(PartitionerKind::kForward); }

  /// Write records to `sink`.
  DataStreamSink<T> sinkTo(std::shared_ptr<const Sink<T>> sink, std::string name = "Sink") const;
  /// Print records to standard output, one per line ("prefix:subtask> record" with
  /// parallelism > 1, as Flink does).
  DataStreamSink<T> print(std::string prefix = "") const;
  /// Write records as lines of text to the file `path` (replaced if it exists).
  DataStreamSink<T> writeAsText(std::string path) const;

 protected:
  template <class Out>
  SingleOutputStreamOperator<Out> addOperator(std::string name,
                                              std::shared_ptr<const OperatorFactory> factory,
                                              bool keyedInput = false) const {
    Transformation t;
    t.kind = TransformationKind::kOneInput;
    t.name = std::move(name);
    t.inputs = {id_};
    t.keyedInput = keyedInput;
    t.operatorFactory = std::move(factory);
    t.outputType = detail::recordOps<Out>();
    return SingleOutputStreamOperator<Out>(env_, env_->add(std::move(t)).id);
  }

  int addPartition(std::shared_ptr<const PartitionerFactory> partitioner) const {
    Transformation t;
    t.kind = TransformationKind::kPartition;
    t.name = partitionerName(partitioner->kind());
    t.inputs = {id_};
    t.partitioner = std::move(partitioner);
    t.outputType = detail::recordOps<T>();
    return env_->add(std::move(t)).id;
  }

  DataStream<T> partitioned(PartitionerKind kind) const {
    return DataStream<T>(env_, addPartition(detail::recordOps<T>()->partitioner(kind)));
  }

  std::shared_ptr<detail::EnvironmentState> env_;
  int id_;
};

/// The stream produced by one operator, whose properties can still be set.
template <class T>
class SingleOutputStreamOperator : public DataStream<T> {
 public:
  using DataStream<T>::DataStream;

  SingleOutputStreamOperator& name(std::string name) {
    self().name = std::move(name);
    return *this;
  }
  /// Set the id that matches this operator's state across job versions.
  SingleOutputStreamOperator& uid(std::string uid) {
    self().uid = std::move(uid);
    return *this;
  }
  SingleOutputStreamOperator& setParallelism(int parallelism) {
    self().parallelism = parallelism;
    return *this;
  }
  SingleOutputStreamOperator& setMaxParallelism(int maxParallelism) {
    self().maxParallelism = maxParallelism;
    return *this;
  }
  /// Do not chain this operator to its input (it starts a new task).
  SingleOutputStreamOperator& disableChaining() {
    self().chainingAllowed = false;
    return *this;
  }

  /// Return the side output `tag` of this operator.
  template <class X>
  DataStream<X> getSideOutput(const OutputTag<X>& tag) const {
    Transformation& producer = this->env_->at(this->id_);
    bool declared = false;
    for (const auto& side : producer.sideOutputs) declared = declared || side.first == tag.id();
    if (!declared) {
      producer.sideOutputs.emplace_back(tag.id(), [id = tag.id()](StreamOperator& op, size_t rows) {
        return op.addSideOutput(id, std::make_unique<Output<X>>(rows));
      });
    }
    Transformation t;
    t.kind = TransformationKind::kSideOutput;
    t.name = "Side Output " + tag.id();
    t.inputs = {this->id_};
    t.sideOutputTag = tag.id();
    t.outputType = detail::recordOps<X>();
    return DataStream<X>(this->env_, this->env_->add(std::move(t)).id);
  }

 private:
  Transformation& self() { return this->env_->at(this->id_); }
};

template <class T>
class DataStreamSource : public SingleOutputStreamOperator<T> {
 public:
  using SingleOutputStreamOperator<T>::SingleOutputStreamOperator;
};

/// A sink of the job, whose properties can still be set.
template <class T>
class DataStreamSink {
 public:
  DataStreamSink(std::shared_ptr<detail::EnvironmentState> env, int id)
      : env_(std::move(env)), id_(id) {}
  DataStreamSink& name(std::string name) {
    env_->at(id_).name = std::move(name);
    return *this;
  }
  DataStreamSink& uid(std::string uid) {
    env_->at(id_).uid = std::move(uid);
    return *this;
  }
  DataStreamSink& setParallelism(int parallelism) {
    env_->at(id_).parallelism = parallelism;
    return *this;
  }
  int id() const { return id_; }

 private:
  std::shared_ptr<detail::EnvironmentState> env_;
  int id_;
};

/// A stream partitioned by key: keyed state and timers are available to its operators.
/// `KeySelector` is the concrete selector type (so it is inlined into keyed operators); a
/// KeyedStream<K, T> named by the user holds it as a std::function instead.
template <class K, class T, class KeySelector>
class KeyedStream : public DataStream<T> {
 public:
  KeyedStream(std::shared_ptr<detail::EnvironmentState> env, int id, KeySelector keySelector)
      : DataStream<T>(std::move(env), id), selector_(std::move(keySelector)) {}
  template <class Other>
  KeyedStream(const KeyedStream<K, T, Other>& other)  // NOLINT: implicit by design
      : DataStream<T>(other.environment(), other.id()), selector_(other.keySelector()) {}

  const KeySelector& keySelector() const { return selector_; }

  using DataStream<T>::connect;
  /// Connect two streams keyed by the same key type: KeyedCoProcessFunction, keyed CoMap and
  /// CoFlatMap. Defined in <strom/connected_streams.h>.
  template <class U, class S2>
  KeyedConnectedStreams<K, T, U, KeySelector, S2> connect(const KeyedStream<K, U, S2>& other) const;
  /// Connect to a broadcast stream (KeyedBroadcastProcessFunction).
  template <class U>
  KeyedBroadcastConnectedStream<K, T, KeySelector, U> connect(
      const BroadcastStream<U>& other) const;
  /// Join with `other` on the key where the other side's timestamp lies in an interval
  /// around this side's (Flink's interval join): .between(lower, upper).process(fn).
  template <class U, class S2>
  IntervalJoin<K, T, KeySelector, U, S2> intervalJoin(const KeyedStream<K, U, S2>& other) const;

  /// Group each key's records into windows of `assigner` (TumblingEventTimeWindows, ...).
  /// Defined in <strom/windows.h>.
  template <class Assigner>
  auto window(Assigner assigner) const;

  /// Combine each record with the current reduced value of its key; emit the new value.
  template <class F>
  SingleOutputStreamOperator<T> reduce(F fn) const {
    return keyed<T>("Keyed Reduce", [fn, s = selector_](size_t rows) {
      return std::make_unique<detail::KeyedReduceOperator<K, T, KeySelector, F>>(rows, s, fn);
    });
  }

  /// Add each record to the accumulator of its key (an object with createAccumulator, add,
  /// getResult, merge, such as an AggregateFunction subclass); emit getResult after each.
  template <class F>
  auto aggregate(F fn) const {
    using Acc = std::decay_t<decltype(fn.createAccumulator())>;
    using Out = std::decay_t<decltype(fn.getResult(std::declval<const Acc&>()))>;
    return keyed<Out>("Keyed Aggregation", [fn, s = selector_](size_t rows) {
      return std::make_unique<detail::KeyedAggregateOperator<K, T, KeySelector, F, Acc, Out>>(
          rows, s, fn);
    });
  }

  /// Process every record with a KeyedProcessFunction<K, T, O> subclass (state and timers).
  template <class F>
  auto process(F fn) const {
    using Out = decltype(detail::keyedProcessOutput(static_cast<const F*>(nullptr)));
    return keyed<Out>("Keyed Process", [fn, s = selector_](size_t rows) {
      return std::make_unique<detail::KeyedProcessOperator<K, T, Out, KeySelector, F>>(rows, s, fn);
    });
  }

  /// map on a keyed stream: a RichMapFunction may use keyed state of the record's key.
  template <class F>
  auto map(F fn) const {
    using Out = std::decay_t<decltype(detail::invokeMap(std::declval<F&>(), std::declval<T&&>()))>;
    return keyed<Out>("Map", [fn, s = selector_](size_t rows) {
      return std::make_unique<detail::MapOperator<T, Out, F, Keys>>(rows, fn, Keys(s));
    });
  }
  template <class F>
  auto flatMap(F fn) const {
    using Out = typename decltype(detail::flatMapOutput<F>())::type;
    return keyed<Out>("Flat Map", [fn, s = selector_](size_t rows) {
      return std::make_unique<detail::FlatMapOperator<T, Out, F, Keys>>(rows, fn, Keys(s));
    });
  }
  template <class F>
  SingleOutputStreamOperator<T> filter(F fn) const {
    return keyed<T>("Filter", [fn, s = selector_](size_t rows) {
      return std::make_unique<detail::FilterOperator<T, F, Keys>>(rows, fn, Keys(s));
    });
  }

 private:
  using Keys = detail::Keying<K, KeySelector>;

  template <class Out, class Make>
  SingleOutputStreamOperator<Out> keyed(std::string name, Make make) const {
    return this->template addOperator<Out>(std::move(name), makeOperatorFactory(std::move(make)),
                                           /*keyedInput=*/true);
  }

  KeySelector selector_;
};

template <class T>
DataStreamSink<T> DataStream<T>::sinkTo(std::shared_ptr<const Sink<T>> sink,
                                        std::string name) const {
  Transformation t;
  t.kind = TransformationKind::kSink;
  t.name = std::move(name);
  t.inputs = {id_};
  t.parallelismLimit = sink->maxParallelism();
  t.operatorFactory = makeOperatorFactory(
      [sink](size_t) { return std::make_unique<detail::SinkOperator<T>>(sink); });
  return DataStreamSink<T>(env_, env_->add(std::move(t)).id);
}

template <class T>
DataStreamSink<T> DataStream<T>::print(std::string prefix) const {
  return sinkTo(std::make_shared<PrintSink<T>>(std::move(prefix)), "Print to Std. Out");
}

template <class T>
DataStreamSink<T> DataStream<T>::writeAsText(std::string path) const {
  return sinkTo(std::make_shared<TextFileSink<T>>(std::move(path)), "Text File Sink");
}

template <class T>
DataStreamSource<T> StreamExecutionEnvironment::fromSource(std::shared_ptr<const Source<T>> source,
                                                           std::string name) {
  Transformation t;
  t.kind = TransformationKind::kSource;
  t.name = std::move(name);
  t.parallelismLimit = source->maxParallelism();
  t.outputType = detail::recordOps<T>();
  t.operatorFactory = makeOperatorFactory(
      [source](size_t rows) { return std::make_unique<detail::SourceOperator<T>>(rows, source); });
  return DataStreamSource<T>(state_, state_->add(std::move(t)).id);
}

template <class T, class Strategy>
DataStreamSource<T> StreamExecutionEnvironment::fromSource(std::shared_ptr<const Source<T>> source,
                                                           Strategy strategy, std::string name) {
  Transformation t;
  t.kind = TransformationKind::kSource;
  t.name = std::move(name);
  t.parallelismLimit = source->maxParallelism();
  t.outputType = detail::recordOps<T>();
  t.operatorFactory = makeOperatorFactory([source, strategy](size_t rows) {
    return std::make_unique<detail::SourceWithWatermarksOperator<
        T, typename Strategy::AssignerType, typename Strategy::GeneratorFactoryType>>(rows, source,
                                                                                      strategy);
  });
  return DataStreamSource<T>(state_, state_->add(std::move(t)).id);
}

template <class Generate>
auto StreamExecutionEnvironment::fromGenerator(int64_t count, Generate generate) {
  using T = std::decay_t<std::invoke_result_t<Generate&, int64_t>>;
  return fromSource<T>(std::make_shared<GeneratorSource<T, Generate>>(count, std::move(generate)),
                       "Generator Source");
}

template <class T>
DataStreamSource<T> StreamExecutionEnvironment::fromCollection(std::vector<T> values) {
  return fromSource<T>(std::make_shared<CollectionSource<T>>(std::move(values)),
                       "Collection Source");
}

}  // namespace strom
