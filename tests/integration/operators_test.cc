// Every operator on the embedded MiniCluster, against a hand-written single-threaded
// computation over the same input, at parallelism 1 to 4 and small and large batches.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom {
namespace {

using ::testing::UnorderedElementsAreArray;

constexpr int64_t kCount = 5000;

class OperatorsTest : public ::testing::TestWithParam<std::tuple<int, int, int>> {
 protected:
  OperatorsTest() {
    Configuration config;
    config.set("execution.batch.rows", std::to_string(batchRows()));
    config.set("taskmanager.count", std::to_string(numTaskManagers()));
    env_ = StreamExecutionEnvironment::getExecutionEnvironment(config);
    env_.setParallelism(parallelism());
  }
  int parallelism() const { return std::get<0>(GetParam()); }
  int batchRows() const { return std::get<1>(GetParam()); }
  /// Several TaskManagers: tasks on different ones talk over loopback TCP.
  int numTaskManagers() const { return std::get<2>(GetParam()); }

  template <class T>
  std::shared_ptr<CollectedRecords<T>> collect(const DataStream<T>& stream) {
    auto records = std::make_shared<CollectedRecords<T>>();
    stream.sinkTo(std::make_shared<CollectSink<T>>(records));
    return records;
  }

  void run() { ASSERT_OK(env_.execute("operators test")); }

  StreamExecutionEnvironment env_;
};

TEST_P(OperatorsTest, mapFilterFlatMapMatchOracle) {
  auto out = collect(env_.fromSequence(0, kCount - 1)
                         .map([](int64_t x) { return x * 3; })
                         .filter([](int64_t x) { return x % 2 == 0; })
                         .flatMap([](int64_t x, Collector<std::string>& c) {
                           c.collect(std::to_string(x));
                           if (x % 4 == 0) c.collect("q" + std::to_string(x / 4));
                         }));
  run();
  std::vector<std::string> expected;
  for (int64_t i = 0; i < kCount; ++i) {
    int64_t x = i * 3;
    if (x % 2 != 0) continue;
    expected.push_back(std::to_string(x));
    if (x % 4 == 0) expected.push_back("q" + std::to_string(x / 4));
  }
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

TEST_P(OperatorsTest, sequenceEndingAtInt64MaxEmitsEveryNumberOnce) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  auto out = collect(env_.fromSequence(kMax - 99, kMax));
  run();
  std::vector<int64_t> expected;
  for (int64_t i = 99; i >= 0; --i) expected.push_back(kMax - i);
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

TEST_P(OperatorsTest, generatorSourceEmitsEveryIndexOnce) {
  auto out = collect(
      env_.fromGenerator(kCount, [](int64_t i) { return std::to_string(i).insert(0, "g"); }));
  run();
  std::vector<std::string> expected;
  for (int64_t i = 0; i < kCount; ++i) expected.push_back(std::to_string(i).insert(0, "g"));
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

TEST_P(OperatorsTest, keyedReduceEmitsRunningValues) {
  // Counting reduce: the multiset of running counts does not depend on arrival order.
  auto out = collect(
      env_.fromSequence(0, kCount - 1)
          .map([](int64_t x) { return std::make_pair(x % 37, int64_t{1}); })
          .keyBy([](const std::pair<int64_t, int64_t>& p) { return p.first; })
          .reduce([](const std::pair<int64_t, int64_t>& a, const std::pair<int64_t, int64_t>& b) {
            return std::make_pair(a.first, a.second + b.second);
          }));
  run();
  std::map<int64_t, int64_t> counts;
  std::vector<std::pair<int64_t, int64_t>> expected;
  for (int64_t i = 0; i < kCount; ++i) expected.emplace_back(i % 37, ++counts[i % 37]);
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

struct AverageAggregate {
  std::pair<int64_t, int64_t> createAccumulator() const { return {0, 0}; }
  std::pair<int64_t, int64_t> add(int64_t value, std::pair<int64_t, int64_t> acc) const {
    return {acc.first + value, acc.second + 1};
  }
  double getResult(const std::pair<int64_t, int64_t>& acc) const {
    return static_cast<double>(acc.first) / static_cast<double>(acc.second);
  }
  std::pair<int64_t, int64_t> merge(std::pair<int64_t, int64_t> a,
                                    std::pair<int64_t, int64_t> b) const {
    return {a.first + b.first, a.second + b.second};
  }
};

TEST_P(OperatorsTest, keyedAggregateEndsWithEachKeysAverage) {
  auto out = collect(env_.fromSequence(0, kCount - 1)
                         .keyBy([](int64_t x) { return x % 10; })
                         .aggregate(AverageAggregate{}));
  run();
  std::vector<double> records = out->records();
  ASSERT_EQ(records.size(), static_cast<size_t>(kCount));
  // The last average of key k is the mean of k, k+10, ...: the largest value emitted for
  // that key is not, so compare the multiset of final values via counts per average instead.
  std::map<int64_t, std::pair<int64_t, int64_t>> acc;
  for (int64_t i = 0; i < kCount; ++i) {
    acc[i % 10].first += i;
    acc[i % 10].second += 1;
  }
  for (const auto& [key, sumCount] : acc) {
    double mean = static_cast<double>(sumCount.first) / static_cast<double>(sumCount.second);
    EXPECT_THAT(records, ::testing::Contains(mean)) << "key " << key;
  }
}

class SplitEvenOdd final : public ProcessFunction<int64_t, int64_t> {
 public:
  static const OutputTag<std::string>& oddTag() {
    static const OutputTag<std::string> tag("odd");
    return tag;
  }
  void processElement(const int64_t& value, Context& ctx, Collector<int64_t>& out) override {
    if (value % 2 == 0) {
      out.collect(value);
    } else {
      ctx.output(oddTag(), "odd-" + std::to_string(value));
    }
  }
};

TEST_P(OperatorsTest, processFunctionSideOutputsReachTheirConsumers) {
  auto main = env_.fromSequence(0, kCount - 1).process(SplitEvenOdd());
  auto evens = collect(main.map([](int64_t x) { return x + 1; }));
  auto odds = collect(main.getSideOutput(SplitEvenOdd::oddTag()).rebalance());
  run();
  std::vector<int64_t> expectedEvens;
  std::vector<std::string> expectedOdds;
  for (int64_t i = 0; i < kCount; ++i) {
    if (i % 2 == 0) {
      expectedEvens.push_back(i + 1);
    } else {
      expectedOdds.push_back("odd-" + std::to_string(i));
    }
  }
  EXPECT_THAT(evens->records(), UnorderedElementsAreArray(expectedEvens));
  EXPECT_THAT(odds->records(), UnorderedElementsAreArray(expectedOdds));
}

TEST_P(OperatorsTest, unionAndPartitionersDeliverEveryRecordOnce) {
  auto a = env_.fromSequence(0, 999);
  auto b = env_.fromCollection(std::vector<int64_t>{5000, 5001, 5002});
  auto rebalanced = collect(a.unionWith(b).rebalance().map([](int64_t x) { return x; }));
  auto rescaled = collect(a.rescale().map([](int64_t x) { return -x; }));
  auto forwarded = collect(a.forward().filter([](int64_t) { return true; }));
  run();
  std::vector<int64_t> expectedUnion;
  std::vector<int64_t> expectedNegated;
  std::vector<int64_t> expectedSame;
  for (int64_t i = 0; i < 1000; ++i) {
    expectedUnion.push_back(i);
    expectedNegated.push_back(-i);
    expectedSame.push_back(i);
  }
  expectedUnion.insert(expectedUnion.end(), {5000, 5001, 5002});
  EXPECT_THAT(rebalanced->records(), UnorderedElementsAreArray(expectedUnion));
  EXPECT_THAT(rescaled->records(), UnorderedElementsAreArray(expectedNegated));
  EXPECT_THAT(forwarded->records(), UnorderedElementsAreArray(expectedSame));
}

TEST_P(OperatorsTest, broadcastSendsEveryRecordToEverySubtask) {
  auto out = collect(env_.fromSequence(0, 99).broadcast().map([](int64_t x) { return x; }));
  run();
  std::vector<int64_t> expected;
  for (int copy = 0; copy < parallelism(); ++copy) {
    for (int64_t i = 0; i < 100; ++i) expected.push_back(i);
  }
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

/// Sums values; the aggregating state's accumulator.
struct SumAggregate final : AggregateFunction<int64_t, int64_t, int64_t> {
  int64_t createAccumulator() override { return 0; }
  int64_t add(const int64_t& value, int64_t acc) override { return acc + value; }
  int64_t getResult(const int64_t& acc) override { return acc; }
  int64_t merge(int64_t a, int64_t b) override { return a + b; }
};

/// Uses every keyed state kind; emits one line per record describing the key's state.
class AllStateKinds final : public RichMapFunction<int64_t, std::string> {
 public:
  void open() override {
    auto& ctx = getRuntimeContext();
    value_ = &ctx.getState(ValueStateDescriptor<int64_t>("last"));
    list_ = &ctx.getListState(ListStateDescriptor<int64_t>("all"));
    map_ = &ctx.getMapState(MapStateDescriptor<int64_t, int64_t>("byResidue"));
    reducing_ = &ctx.getReducingState(ReducingStateDescriptor<int64_t>(
        "max", [](const int64_t& a, const int64_t& b) { return std::max(a, b); }));
    sum_ = &ctx.getAggregatingState(
        AggregatingStateDescriptor<int64_t, int64_t, int64_t>("sum", SumAggregate()));
  }
  std::string map(const int64_t& x) override {
    value_->update(x);
    list_->add(x);
    auto residue = map_->get(x % 3);
    map_->put(x % 3, residue.value_or(0) + 1);
    reducing_->add(x);
    sum_->add(x);
    // Records of a key arrive in increasing order, so the max is the last value.
    if (*reducing_->get() != x || *value_->value() != x) return "bad order or state";
    return std::to_string(x % 11) + ":" + std::to_string(list_->get().size()) + ":" +
           std::to_string(map_->get(x % 3).value_or(-1)) + ":" + std::to_string(*sum_->get());
  }

 private:
  ValueState<int64_t>* value_ = nullptr;
  ListState<int64_t>* list_ = nullptr;
  MapState<int64_t, int64_t>* map_ = nullptr;
  ReducingState<int64_t>* reducing_ = nullptr;
  AggregatingState<int64_t, int64_t>* sum_ = nullptr;
};

TEST_P(OperatorsTest, keyedStateKindsMatchOracle) {
  // Per key (x % 11), the n-th record sees n list entries and the count of its residue so
  // far: both are independent of the interleaving of keys, but depend on order within a key,
  // which one source subtask and hash partitioning preserve.
  auto out = collect(env_.fromSequence(0, 2999)
                         .setParallelism(1)
                         .keyBy([](int64_t x) { return x % 11; })
                         .map(AllStateKinds()));
  run();
  std::map<int64_t, int64_t> listSizes;
  std::map<std::pair<int64_t, int64_t>, int64_t> residues;
  std::map<int64_t, int64_t> sums;
  std::vector<std::string> expected;
  for (int64_t x = 0; x < 3000; ++x) {
    int64_t key = x % 11;
    int64_t size = ++listSizes[key];
    int64_t residue = ++residues[{key, x % 3}];
    int64_t sum = sums[key] += x;
    expected.push_back(std::to_string(key) + ":" + std::to_string(size) + ":" +
                       std::to_string(residue) + ":" + std::to_string(sum));
  }
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

/// Counts per key in state and emits, from a processing-time timer, the count at that time.
class CountWithTimeout final : public KeyedProcessFunction<int64_t, int64_t, std::string> {
 public:
  void open() override {
    count_ = &getRuntimeContext().getState(ValueStateDescriptor<int64_t>("count"));
  }
  void processElement(const int64_t&, Context& ctx, Collector<std::string>&) override {
    const int64_t* c = count_->valuePtr();
    count_->update((c ? *c : 0) + 1);
    // One timer per key and timestamp: registering the same time twice fires once.
    ctx.timerService().registerProcessingTimeTimer(0);
    ctx.timerService().registerProcessingTimeTimer(0);
  }
  void onTimer(int64_t, OnTimerContext& ctx, Collector<std::string>& out) override {
    out.collect(std::to_string(ctx.getCurrentKey()) + "=" + std::to_string(*count_->valuePtr()));
  }

 private:
  ValueState<int64_t>* count_ = nullptr;
};

/// Emits its values, then waits (bounded by a deadline) until `done` says the timers fired.
class HoldOpenSource final : public Source<int64_t> {
 public:
  using Done = std::function<bool(const std::vector<std::string>&)>;
  HoldOpenSource(std::vector<int64_t> values, std::shared_ptr<CollectedRecords<std::string>> seen,
                 Done done)
      : values_(std::move(values)), seen_(std::move(seen)), done_(std::move(done)) {}
  int maxParallelism() const override { return 1; }
  std::unique_ptr<SourceReader<int64_t>> createReader(int, int) const override {
    return std::make_unique<Reader>(*this);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    explicit Reader(const HoldOpenSource& s)
        : source_(s), deadline_(std::chrono::steady_clock::now() + std::chrono::seconds(30)) {}
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      if (!emitted_) {
        for (int64_t v : source_.values_) output.push(v);
        emitted_ = true;
        return InputStatus::kMoreAvailable;
      }
      if (source_.done_(source_.seen_->records()) || std::chrono::steady_clock::now() > deadline_) {
        return InputStatus::kEndOfInput;
      }
      return InputStatus::kNothingAvailable;
    }

   private:
    const HoldOpenSource& source_;
    bool emitted_ = false;
    std::chrono::steady_clock::time_point deadline_;
  };
  std::vector<int64_t> values_;
  std::shared_ptr<CollectedRecords<std::string>> seen_;
  Done done_;
};

TEST_P(OperatorsTest, keyedProcessFunctionFiresOneTimerPerKeyAndTime) {
  auto out = std::make_shared<CollectedRecords<std::string>>();
  std::vector<int64_t> values;
  std::map<int64_t, int64_t> fullCount;
  for (int64_t i = 0; i < 100; ++i) {
    values.push_back(i % 7);
    ++fullCount[i % 7];
  }
  std::vector<std::string> finals;
  for (const auto& [key, count] : fullCount) {
    finals.push_back(std::to_string(key) + "=" + std::to_string(count));
  }
  auto done = [finals](const std::vector<std::string>& seen) {
    return std::all_of(finals.begin(), finals.end(), [&](const std::string& f) {
      return std::find(seen.begin(), seen.end(), f) != seen.end();
    });
  };
  env_.fromSource<int64_t>(std::make_shared<HoldOpenSource>(values, out, done), "held open")
      .keyBy([](int64_t x) { return x; })
      .process(CountWithTimeout())
      .sinkTo(std::make_shared<CollectSink<std::string>>(out));
  run();
  // A timer fires once per registration (registering the same key and time twice fires once),
  // and a key registers again only after a new record, so every firing of a key reports a
  // new count, and the last one reports the key's full count.
  std::vector<std::string> records = out->records();
  std::vector<std::string> unique = records;
  std::sort(unique.begin(), unique.end());
  EXPECT_EQ(std::adjacent_find(unique.begin(), unique.end()), unique.end());
  EXPECT_TRUE(done(records)) << ::testing::PrintToString(records);
}

/// Reports what a rich function sees of its runtime.
class DescribeRuntime final : public RichMapFunction<int64_t, std::string> {
 public:
  void open() override {
    auto& ctx = getRuntimeContext();
    description_ = ctx.getTaskName() + "|" + ctx.getOperatorName() + "|" +
                   std::to_string(ctx.getIndexOfThisSubtask()) + "/" +
                   std::to_string(ctx.getNumberOfParallelSubtasks()) + "/" +
                   std::to_string(ctx.getMaxNumberOfParallelSubtasks());
  }
  std::string map(const int64_t&) override { return description_; }

 private:
  std::string description_;
};

TEST_P(OperatorsTest, richFunctionsSeeTheirTaskAndSubtask) {
  auto out = collect(env_.fromSequence(0, 999).map(DescribeRuntime()).name("Describe"));
  run();
  std::set<std::string> seen;
  for (const std::string& r : out->records()) seen.insert(r);
  std::set<std::string> expected;
  for (int i = 0; i < parallelism(); ++i) {
    expected.insert("Sequence Source -> Describe -> Sink (" + std::to_string(i + 1) + "/" +
                    std::to_string(parallelism()) + ")|Describe|" + std::to_string(i) + "/" +
                    std::to_string(parallelism()) + "/128");
  }
  EXPECT_EQ(seen, expected);
}

/// A record with views into the batch's arena, as the Nexmark source emits them.
struct Tagged {
  std::string_view tag;
  int64_t value = 0;
  STROM_FIELDS(tag, value)
};

/// Emits (tag_i, i) for i in [0, n), the tag's bytes copied into the batch being filled.
class TaggedSource final : public Source<Tagged> {
 public:
  explicit TaggedSource(int64_t n) : n_(n) {}
  int maxParallelism() const override { return 1; }
  std::unique_ptr<SourceReader<Tagged>> createReader(int, int) const override {
    return std::make_unique<Reader>(n_);
  }

 private:
  class Reader final : public SourceReader<Tagged> {
   public:
    explicit Reader(int64_t n) : n_(n) {}
    Result<InputStatus> pollNext(Output<Tagged>& output) override {
      for (size_t i = 0; i < output.maxRows() && next_ < n_; ++i, ++next_) {
        scratch_ = "tag-" + std::to_string(next_ % 13) + std::string(next_ % 40, '.');
        output.push(Tagged{output.arena().copy(scratch_), next_});
      }
      return next_ < n_ ? InputStatus::kMoreAvailable : InputStatus::kEndOfInput;
    }

   private:
    int64_t n_;
    int64_t next_ = 0;
    std::string scratch_;  // overwritten per record: the record keeps only the arena's copy
  };
  int64_t n_;
};

TEST_P(OperatorsTest, stringViewRecordsCrossTasksThroughTheBatchArena) {
  auto out = collect(
      env_.fromSource<Tagged>(std::make_shared<TaggedSource>(3000), "Tagged")
          .keyBy([](const Tagged& t) { return std::string(t.tag); })
          .map([](const Tagged& t) { return std::string(t.tag) + "=" + std::to_string(t.value); }));
  run();
  std::vector<std::string> expected;
  for (int64_t i = 0; i < 3000; ++i) {
    expected.push_back("tag-" + std::to_string(i % 13) + std::string(i % 40, '.') + "=" +
                       std::to_string(i));
  }
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

/// Counts the odd values it sees in a counter of its metric group.
class CountOdd final : public RichMapFunction<int64_t, int64_t> {
 public:
  void open() override { odd_ = &getRuntimeContext().getMetricGroup().counter("odd"); }
  int64_t map(const int64_t& value) override {
    if (value % 2 != 0) odd_->inc();
    return value;
  }

 private:
  Counter* odd_ = nullptr;
};

TEST_P(OperatorsTest, countersAreSummedOverSubtasksInTheJobResult) {
  collect(env_.fromSequence(0, 999).rebalance().map(CountOdd()).name("Count"));
  auto result = env_.execute("counters");
  ASSERT_OK(result);
  EXPECT_EQ(result->counter("Count.odd"), 500);
  EXPECT_EQ(result->counters.count("Count.odd"), 1u);
  EXPECT_EQ(result->counter("Count.unknown"), 0);
}

INSTANTIATE_TEST_SUITE_P(ParallelismAndBatchSize, OperatorsTest,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4),
                                            ::testing::Values(1, 7, 1024), ::testing::Values(1)),
                         [](const auto& info) {
                           return "p" + std::to_string(std::get<0>(info.param)) + "_rows" +
                                  std::to_string(std::get<1>(info.param));
                         });
INSTANTIATE_TEST_SUITE_P(ThreeTaskManagers, OperatorsTest,
                         ::testing::Combine(::testing::Values(2, 4), ::testing::Values(7, 1024),
                                            ::testing::Values(3)),
                         [](const auto& info) {
                           return "p" + std::to_string(std::get<0>(info.param)) + "_rows" +
                                  std::to_string(std::get<1>(info.param)) + "_tm3";
                         });

}  // namespace
}  // namespace strom
