// Operators with two inputs on the embedded MiniCluster: connect with CoMap, CoFlatMap,
// CoProcess and KeyedCoProcess (keyed state and event-time timers across both inputs), the
// broadcast-state pattern, and the interval join, against oracles computed from the input at
// parallelism 1 to 4.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

using Keyed = std::pair<int64_t, int64_t>;  // key, value (or timestamp)

/// Parameters: parallelism, number of TaskManagers (tasks on different TaskManagers exchange
/// data over loopback TCP).
class ConnectTest : public ::testing::TestWithParam<std::tuple<int, int>> {
 protected:
  int parallelism() const { return std::get<0>(GetParam()); }
  int numTaskManagers() const { return std::get<1>(GetParam()); }

  StreamExecutionEnvironment makeEnv() {
    Configuration config;
    config.set("execution.batch.rows", "64");
    config.set("taskmanager.count", std::to_string(numTaskManagers()));
    config.set(kAutoWatermarkIntervalKey, "0 ms");
    auto env = StreamExecutionEnvironment::getExecutionEnvironment(config);
    env.setParallelism(parallelism());
    return env;
  }

  template <class T>
  static std::shared_ptr<CollectedRecords<T>> collect(const DataStream<T>& stream) {
    auto records = std::make_shared<CollectedRecords<T>>();
    stream.sinkTo(std::make_shared<CollectSink<T>>(records));
    return records;
  }
};

class Describe final : public CoMapFunction<int64_t, std::string, std::string> {
 public:
  std::string map1(const int64_t& value) override { return "n" + std::to_string(value); }
  std::string map2(const std::string& value) override { return "s" + value; }
};

TEST_P(ConnectTest, coMapAppliesOneFunctionPerInput) {
  auto env = makeEnv();
  std::vector<int64_t> numbers;
  std::vector<std::string> words;
  std::vector<std::string> expected;
  for (int64_t i = 0; i < 500; ++i) {
    numbers.push_back(i);
    expected.push_back("n" + std::to_string(i));
  }
  for (int i = 0; i < 300; ++i) {
    words.push_back("w" + std::to_string(i));
    expected.push_back("sw" + std::to_string(i));
  }
  auto classOut = collect(env.fromCollection(numbers)
                              .rebalance()
                              .connect(env.fromCollection(words).rebalance())
                              .map(Describe()));
  auto lambdaOut = collect(env.fromCollection(numbers)
                               .connect(env.fromCollection(words))
                               .flatMap(
                                   [](const int64_t& n, Collector<std::string>& out) {
                                     if (n % 2 == 0) out.collect("n" + std::to_string(n));
                                   },
                                   [](const std::string& s, Collector<std::string>& out) {
                                     out.collect("s" + s);
                                     out.collect("s" + s);
                                   }));
  ASSERT_OK(env.execute("co-map"));
  EXPECT_THAT(classOut->records(), UnorderedElementsAreArray(expected));

  std::vector<std::string> expectedFlat;
  for (int64_t n : numbers) {
    if (n % 2 == 0) expectedFlat.push_back("n" + std::to_string(n));
  }
  for (const std::string& w : words) {
    expectedFlat.push_back("s" + w);
    expectedFlat.push_back("s" + w);
  }
  EXPECT_THAT(lambdaOut->records(), UnorderedElementsAreArray(expectedFlat));
}

/// Joins orders (key, amount) with the one customer record (key, region) of their key,
/// whichever arrives first: orders wait in list state until their customer is known.
class EnrichOrders final
    : public KeyedCoProcessFunction<int64_t, Keyed, Keyed, std::tuple<int64_t, int64_t, int64_t>> {
 public:
  using Out = std::tuple<int64_t, int64_t, int64_t>;
  void open() override {
    region_ = &getRuntimeContext().getState(ValueStateDescriptor<int64_t>("region"));
    pending_ = &getRuntimeContext().getListState(ListStateDescriptor<int64_t>("pending"));
  }
  void processElement1(const Keyed& order, Context& ctx, Collector<Out>& out) override {
    if (ctx.getCurrentKey() != order.first) throw std::logic_error("wrong current key");
    if (const int64_t* region = region_->valuePtr()) {
      out.collect(Out{order.first, order.second, *region});
    } else {
      pending_->add(order.second);
    }
  }
  void processElement2(const Keyed& customer, Context& ctx, Collector<Out>& out) override {
    if (ctx.getCurrentKey() != customer.first) throw std::logic_error("wrong current key");
    region_->update(customer.second);
    for (int64_t amount : pending_->get())
      out.collect(Out{customer.first, amount, customer.second});
    pending_->clear();
  }

 private:
  ValueState<int64_t>* region_ = nullptr;
  ListState<int64_t>* pending_ = nullptr;
};

TEST_P(ConnectTest, keyedCoProcessSharesKeyedStateAcrossBothInputs) {
  auto env = makeEnv();
  std::mt19937_64 rng(11);
  std::vector<Keyed> orders;
  std::vector<Keyed> customers;
  std::vector<EnrichOrders::Out> expected;
  for (int64_t key = 0; key < 200; ++key) customers.push_back({key, key * 7 % 13});
  for (int i = 0; i < 3000; ++i) {
    int64_t key = static_cast<int64_t>(rng() % 200);
    orders.push_back({key, i});
    expected.push_back({key, i, key * 7 % 13});
  }
  auto out = collect(
      env.fromCollection(orders)
          .keyBy([](const Keyed& o) { return o.first; })
          .connect(env.fromCollection(customers).keyBy([](const Keyed& c) { return c.first; }))
          .process(EnrichOrders()));
  ASSERT_OK(env.execute("keyed co-process"));
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

/// Counts records of both inputs per key and reports the counts from an event-time timer at
/// the key's latest timestamp plus one second.
class CountBothInputs final
    : public KeyedCoProcessFunction<int64_t, Keyed, Keyed, std::tuple<int64_t, int64_t, int64_t>> {
 public:
  using Out = std::tuple<int64_t, int64_t, int64_t>;  // key, first count, second count
  void open() override {
    counts_ = &getRuntimeContext().getState(ValueStateDescriptor<Keyed>("counts"));
  }
  void processElement1(const Keyed&, Context& ctx, Collector<Out>&) override { count(ctx, 1, 0); }
  void processElement2(const Keyed&, Context& ctx, Collector<Out>&) override { count(ctx, 0, 1); }
  void onTimer(int64_t, OnTimerContext& ctx, Collector<Out>& out) override {
    if (ctx.timeDomain() != TimeDomain::kEventTime) throw std::logic_error("wrong domain");
    const Keyed* counts = counts_->valuePtr();
    out.collect(Out{ctx.getCurrentKey(), counts->first, counts->second});
    counts_->clear();
  }

 private:
  void count(Context& ctx, int64_t first, int64_t second) {
    const Keyed* counts = counts_->valuePtr();
    Keyed next = counts ? *counts : Keyed{0, 0};
    counts_->update({next.first + first, next.second + second});
    ctx.timerService().registerEventTimeTimer(1'000'000);
  }
  ValueState<Keyed>* counts_ = nullptr;
};

TEST_P(ConnectTest, keyedCoProcessTimersSeeBothInputs) {
  auto env = makeEnv();
  auto strategy = WatermarkStrategy<Keyed>::forBoundedOutOfOrderness(milliseconds(10))
                      .withTimestampAssigner([](const Keyed& k, int64_t) { return k.second; });
  std::vector<Keyed> left;
  std::vector<Keyed> right;
  std::map<int64_t, std::pair<int64_t, int64_t>> expectedCounts;
  for (int64_t i = 0; i < 2000; ++i) {
    left.push_back({i % 31, i});
    ++expectedCounts[i % 31].first;
  }
  for (int64_t i = 0; i < 1500; ++i) {
    right.push_back({i % 17, i});
    ++expectedCounts[i % 17].second;
  }
  auto out =
      collect(env.fromCollection(left)
                  .assignTimestampsAndWatermarks(strategy)
                  .keyBy([](const Keyed& k) { return k.first; })
                  .connect(env.fromCollection(right).assignTimestampsAndWatermarks(strategy).keyBy(
                      [](const Keyed& k) { return k.first; }))
                  .process(CountBothInputs()));
  ASSERT_OK(env.execute("keyed co-process timers"));
  std::vector<CountBothInputs::Out> expected;
  for (const auto& [key, counts] : expectedCounts) {
    expected.push_back({key, counts.first, counts.second});
  }
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

/// Emits, from each subtask, every broadcast rule it receives, and checks that the regular
/// side sees the rules only through read-only state.
class CountRules final : public BroadcastProcessFunction<int64_t, Keyed, std::string> {
 public:
  static MapStateDescriptor<int64_t, int64_t> rules() {
    return MapStateDescriptor<int64_t, int64_t>("rules");
  }
  void processElement(const int64_t& value, ReadOnlyContext& ctx,
                      Collector<std::string>& out) override {
    ReadOnlyBroadcastState<int64_t, int64_t>& state = ctx.getBroadcastState(rules());
    if (state.size() > 3) throw std::logic_error("more rules than were broadcast");
    if (value < 0) out.collect("never");
  }
  void processBroadcastElement(const Keyed& rule, Context& ctx,
                               Collector<std::string>& out) override {
    ctx.getBroadcastState(rules()).put(rule.first, rule.second);
    out.collect("rule " + std::to_string(rule.first) + " at subtask " +
                std::to_string(getRuntimeContext().getIndexOfThisSubtask()));
  }
};

TEST_P(ConnectTest, broadcastElementsReachEverySubtask) {
  auto env = makeEnv();
  std::vector<int64_t> values(1000);
  for (int64_t i = 0; i < 1000; ++i) values[static_cast<size_t>(i)] = i;
  std::vector<Keyed> rules = {{1, 10}, {2, 20}, {3, 30}};
  auto out = collect(env.fromCollection(values)
                         .rebalance()
                         .connect(env.fromCollection(rules).broadcast(CountRules::rules()))
                         .process(CountRules()));
  ASSERT_OK(env.execute("broadcast"));
  std::vector<std::string> expected;
  for (const Keyed& rule : rules) {
    for (int s = 0; s < parallelism(); ++s) {
      expected.push_back("rule " + std::to_string(rule.first) + " at subtask " + std::to_string(s));
    }
  }
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

/// Multiplies each key's values by the factor broadcast for the key, once the input ended
/// (an event-time timer that only the final watermark passes), so the result does not depend
/// on how the two inputs interleave.
class ApplyFactors final
    : public KeyedBroadcastProcessFunction<int64_t, Keyed, Keyed, std::pair<int64_t, int64_t>> {
 public:
  static MapStateDescriptor<int64_t, int64_t> factors() {
    return MapStateDescriptor<int64_t, int64_t>("factors");
  }
  void open() override {
    values_ = &getRuntimeContext().getListState(ListStateDescriptor<int64_t>("values"));
  }
  void processElement(const Keyed& value, ReadOnlyContext& ctx,
                      Collector<std::pair<int64_t, int64_t>>&) override {
    values_->add(value.second);
    ctx.timerService().registerEventTimeTimer(std::numeric_limits<int64_t>::max() - 1);
  }
  void processBroadcastElement(const Keyed& factor, Context& ctx,
                               Collector<std::pair<int64_t, int64_t>>&) override {
    ctx.getBroadcastState(factors()).put(factor.first, factor.second);
    bool threw = false;
    try {
      values_->get();  // no current key on the broadcast side
    } catch (const std::logic_error&) {
      threw = true;
    }
    if (!threw) throw std::logic_error("keyed state was reachable on the broadcast side");
  }
  void onTimer(int64_t, OnTimerContext& ctx, Collector<std::pair<int64_t, int64_t>>& out) override {
    const int64_t* factor = ctx.getBroadcastState(factors()).getPtr(ctx.getCurrentKey());
    for (int64_t v : values_->get()) out.collect({ctx.getCurrentKey(), v * (factor ? *factor : 0)});
  }

 private:
  ListState<int64_t>* values_ = nullptr;
};

TEST_P(ConnectTest, keyedBroadcastProcessReadsBroadcastStateWithKeyedState) {
  auto env = makeEnv();
  std::vector<Keyed> values;
  std::vector<Keyed> factorRecords;
  std::vector<std::pair<int64_t, int64_t>> expected;
  for (int64_t key = 0; key < 20; ++key) factorRecords.push_back({key, key + 100});
  for (int64_t i = 0; i < 2000; ++i) {
    values.push_back({i % 25, i});
    int64_t key = i % 25;
    expected.push_back({key, i * (key < 20 ? key + 100 : 0)});
  }
  auto out =
      collect(env.fromCollection(values)
                  .keyBy([](const Keyed& v) { return v.first; })
                  .connect(env.fromCollection(factorRecords).broadcast(ApplyFactors::factors()))
                  .process(ApplyFactors()));
  ASSERT_OK(env.execute("keyed broadcast"));
  EXPECT_THAT(out->records(), UnorderedElementsAreArray(expected));
}

class ReadUndeclared final : public BroadcastProcessFunction<int64_t, int64_t, int64_t> {
 public:
  void processElement(const int64_t&, ReadOnlyContext& ctx, Collector<int64_t>&) override {
    ctx.getBroadcastState(MapStateDescriptor<int64_t, int64_t>("undeclared"));
  }
  void processBroadcastElement(const int64_t&, Context&, Collector<int64_t>&) override {}
};

TEST_P(ConnectTest, undeclaredBroadcastStateFailsTheJobNamingIt) {
  auto env = makeEnv();
  collect(env.fromCollection(std::vector<int64_t>{1, 2, 3})
              .connect(env.fromCollection(std::vector<int64_t>{4})
                           .broadcast(MapStateDescriptor<int64_t, int64_t>("declared")))
              .process(ReadUndeclared()));
  auto result = env.execute("undeclared broadcast state");
  ASSERT_FALSE(result.isOk());
  EXPECT_THAT(result.status().message(), HasSubstr("'undeclared' was not declared"));
}

using Joined = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // key, left ts, right ts, ts

class EmitPair final : public ProcessJoinFunction<Keyed, Keyed, Joined> {
 public:
  void processElement(const Keyed& left, const Keyed& right, Context& ctx,
                      Collector<Joined>& out) override {
    if (ctx.getLeftTimestamp() != left.second || ctx.getRightTimestamp() != right.second) {
      throw std::logic_error("wrong join timestamps");
    }
    out.collect(Joined{left.first, left.second, right.second, ctx.getTimestamp()});
  }
};

/// `n` (key, timestamp) records with timestamps 0, step, 2 step, ... arriving shuffled by less
/// than `disorder` ms.
std::vector<Keyed> shuffledTimestamps(int64_t n, int64_t step, int keys, int64_t disorder,
                                      uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<int64_t, Keyed>> arrival;
  for (int64_t i = 0; i < n; ++i) {
    int64_t t = i * step;
    arrival.push_back({t + static_cast<int64_t>(rng() % static_cast<uint64_t>(disorder)),
                       Keyed{static_cast<int64_t>(rng() % static_cast<uint64_t>(keys)), t}});
  }
  std::stable_sort(arrival.begin(), arrival.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Keyed> records;
  for (const auto& entry : arrival) records.push_back(entry.second);
  return records;
}

std::vector<Joined> intervalJoinOracle(const std::vector<Keyed>& left,
                                       const std::vector<Keyed>& right, int64_t lower,
                                       int64_t upper) {
  std::vector<Joined> joined;
  for (const Keyed& l : left) {
    for (const Keyed& r : right) {
      if (l.first == r.first && r.second >= l.second + lower && r.second <= l.second + upper) {
        joined.push_back({l.first, l.second, r.second, std::max(l.second, r.second)});
      }
    }
  }
  return joined;
}

TEST_P(ConnectTest, intervalJoinMatchesEveryPairWithinTheBounds) {
  constexpr int64_t kDisorder = 50;
  std::vector<Keyed> left = shuffledTimestamps(1500, 3, 13, kDisorder, 1);
  std::vector<Keyed> right = shuffledTimestamps(1200, 4, 13, kDisorder, 2);
  auto strategy = WatermarkStrategy<Keyed>::forBoundedOutOfOrderness(milliseconds(kDisorder))
                      .withTimestampAssigner([](const Keyed& k, int64_t) { return k.second; });
  for (auto [lower, upper, lowerExclusive, upperExclusive] :
       {std::tuple{-20, 30, false, false}, std::tuple{5, 40, true, true},
        std::tuple{-60, -10, false, true}, std::tuple{0, 0, false, false}}) {
    SCOPED_TRACE("between(" + std::to_string(lower) + ", " + std::to_string(upper) + ")");
    auto env = makeEnv();
    auto keyOf = [](const Keyed& k) { return k.first; };
    auto joined =
        env.fromCollection(left)
            .assignTimestampsAndWatermarks(strategy)
            .keyBy(keyOf)
            .intervalJoin(
                env.fromCollection(right).assignTimestampsAndWatermarks(strategy).keyBy(keyOf))
            .between(milliseconds(lower), milliseconds(upper));
    if (lowerExclusive) joined.lowerBoundExclusive();
    if (upperExclusive) joined.upperBoundExclusive();
    auto out = collect(joined.process(EmitPair()));
    ASSERT_OK(env.execute("interval join"));
    EXPECT_THAT(out->records(), UnorderedElementsAreArray(intervalJoinOracle(
                                    left, right, lower + (lowerExclusive ? 1 : 0),
                                    upper - (upperExclusive ? 1 : 0))));
  }
}

/// Emits batches of zeros until `stop` is set, or at most `kCap` records or 30 s; counts the
/// records in `emitted` and records in `stoppedByFlag` whether `stop` ended it.
class UntilStopped final : public Source<int64_t> {
 public:
  static constexpr int64_t kCap = 200'000'000;
  struct Flags {
    std::atomic<bool> stop{false};
    std::atomic<bool> stoppedByFlag{false};
    std::atomic<int64_t> emitted{0};
    std::atomic<bool> trickleClosed{false};
  };
  explicit UntilStopped(std::shared_ptr<Flags> flags) : flags_(std::move(flags)) {}
  int maxParallelism() const override { return 1; }
  std::unique_ptr<SourceReader<int64_t>> createReader(int, int) const override {
    return std::make_unique<Reader>(flags_);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    explicit Reader(std::shared_ptr<Flags> flags)
        : flags_(std::move(flags)),
          deadline_(std::chrono::steady_clock::now() + std::chrono::seconds(30)) {}
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      if (flags_->stop.load()) {
        flags_->stoppedByFlag.store(true);
        return InputStatus::kEndOfInput;
      }
      if (flags_->emitted.load() >= kCap || std::chrono::steady_clock::now() > deadline_) {
        return InputStatus::kEndOfInput;
      }
      output.pushGenerated(1024, [](size_t) { return int64_t{0}; });
      flags_->emitted.fetch_add(1024);
      return InputStatus::kMoreAvailable;
    }

   private:
    std::shared_ptr<Flags> flags_;
    std::chrono::steady_clock::time_point deadline_;
  };
  std::shared_ptr<Flags> flags_;
};

/// Emits 100 records and ends; its close() (after its end of input reached its consumer's
/// queue) sets `trickleClosed`.
class Trickle final : public Source<int64_t> {
 public:
  explicit Trickle(std::shared_ptr<UntilStopped::Flags> flags) : flags_(std::move(flags)) {}
  int maxParallelism() const override { return 1; }
  std::unique_ptr<SourceReader<int64_t>> createReader(int, int) const override {
    return std::make_unique<Reader>(flags_);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    explicit Reader(std::shared_ptr<UntilStopped::Flags> flags) : flags_(std::move(flags)) {}
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      output.pushGenerated(100, [](size_t i) { return static_cast<int64_t>(i); });
      return InputStatus::kEndOfInput;
    }
    void close() override { flags_->trickleClosed.store(true); }

   private:
    std::shared_ptr<UntilStopped::Flags> flags_;
  };
  std::shared_ptr<UntilStopped::Flags> flags_;
};

// The first input floods the co-operator and ends only once the operator has read all of the
// second input: a task that read its inputs one after the other would read the flood to its
// cap (and a task that read input 2 only when input 1 has nothing queued would be caught
// often, not always: the operator's first record waits until input 2 is queued, and the
// operator is slower than the flood's producer, so input 1 usually has a backlog).
TEST(ConnectFairnessTest, aFloodedInputDoesNotStarveTheOther) {
  auto flags = std::make_shared<UntilStopped::Flags>();
  auto env = StreamExecutionEnvironment::getExecutionEnvironment();
  auto seen = std::make_shared<int64_t>(0);
  auto out = std::make_shared<CollectedRecords<int64_t>>();
  env.fromSource<int64_t>(std::make_shared<UntilStopped>(flags), "Flood")
      .connect(env.fromSource<int64_t>(std::make_shared<Trickle>(flags), "Trickle"))
      .flatMap(
          [flags, waited = false](const int64_t& v, Collector<int64_t>& collector) mutable {
            if (!waited) {
              auto giveUp = std::chrono::steady_clock::now() + std::chrono::seconds(30);
              while (!flags->trickleClosed.load() && std::chrono::steady_clock::now() < giveUp) {
                std::this_thread::yield();
              }
              waited = true;
            }
            // Slower than the producer: mix the value a while.
            uint64_t x = static_cast<uint64_t>(v) + 1;
            for (int i = 0; i < 100; ++i) x = (x ^ (x >> 7)) * 6364136223846793005u;
            if (x == 0) collector.collect(-1);
          },
          [flags, seen](const int64_t& v, Collector<int64_t>& collector) {
            collector.collect(v);
            if (++*seen == 100) flags->stop.store(true);
          })
      .sinkTo(std::make_shared<CollectSink<int64_t>>(out));
  ASSERT_OK(env.execute("fair inputs"));
  EXPECT_EQ(out->records().size(), 100u);
  EXPECT_TRUE(flags->stoppedByFlag.load())
      << "the flooding input ran to its cap or deadline: input 2 starved";
}

TEST(ConnectApiTest, badIntervalBoundsAndForeignStreamsAreRejected) {
  auto env = StreamExecutionEnvironment::getExecutionEnvironment();
  auto other = StreamExecutionEnvironment::getExecutionEnvironment();
  auto keyOf = [](const Keyed& k) { return k.first; };
  auto left = env.fromCollection(std::vector<Keyed>{{1, 1}}).keyBy(keyOf);
  auto right = env.fromCollection(std::vector<Keyed>{{1, 1}}).keyBy(keyOf);
  EXPECT_THROW(left.intervalJoin(right).between(milliseconds(5), milliseconds(1)),
               std::invalid_argument);
  EXPECT_THROW(left.intervalJoin(right)
                   .between(milliseconds(1), milliseconds(1))
                   .lowerBoundExclusive()
                   .process(EmitPair()),
               std::invalid_argument);
  auto foreign = other.fromCollection(std::vector<int64_t>{1});
  EXPECT_THROW(env.fromCollection(std::vector<int64_t>{1})
                   .connect(foreign)
                   .map([](int64_t a) { return a; }, [](int64_t b) { return b; }),
               std::logic_error);
}

TEST(ConnectApiTest, aRecordWithoutTimestampFailsTheIntervalJoin) {
  auto env = StreamExecutionEnvironment::getExecutionEnvironment();
  auto keyOf = [](const Keyed& k) { return k.first; };
  auto out = std::make_shared<CollectedRecords<Joined>>();
  env.fromCollection(std::vector<Keyed>{{1, 1}})
      .keyBy(keyOf)
      .intervalJoin(env.fromCollection(std::vector<Keyed>{{1, 1}}).keyBy(keyOf))
      .between(milliseconds(-1), milliseconds(1))
      .process(EmitPair())
      .sinkTo(std::make_shared<CollectSink<Joined>>(out));
  auto result = env.execute("join without timestamps");
  ASSERT_FALSE(result.isOk());
  EXPECT_THAT(result.status().message(), HasSubstr("has no timestamp"));
}

INSTANTIATE_TEST_SUITE_P(Parallelism, ConnectTest,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4), ::testing::Values(1)));
INSTANTIATE_TEST_SUITE_P(ThreeTaskManagers, ConnectTest,
                         ::testing::Combine(::testing::Values(2, 3), ::testing::Values(3)));

}  // namespace
}  // namespace strom
