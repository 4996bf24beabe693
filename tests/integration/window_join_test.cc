// Window join and coGroup on the embedded MiniCluster, against oracles computed from the input:
// tumbling and sliding windows, join functions as classes and lambdas, flat joins, coGroup with
// empty sides, at parallelism 1 to 4 with input shuffled within the out-of-orderness bound.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom {
namespace {

using std::chrono::milliseconds;

using Keyed = std::pair<int64_t, int64_t>;  // key, timestamp
/// key, left timestamp, right timestamp, output record timestamp
using Pair = std::tuple<int64_t, int64_t, int64_t, int64_t>;

constexpr int64_t kDisorder = 40;

/// Compare as multisets (sorted), cheaply for large outputs.
template <class T>
void expectSameRecords(std::vector<T> actual, std::vector<T> expected) {
  std::sort(actual.begin(), actual.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(actual.size(), expected.size());
  EXPECT_TRUE(actual == expected) << "the records differ";
}

/// `n` records with timestamps 0, step, 2 step, ..., keys at random, arriving shuffled by less
/// than kDisorder ms.
std::vector<Keyed> shuffled(int64_t n, int64_t step, int keys, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<int64_t, Keyed>> arrival;
  for (int64_t i = 0; i < n; ++i) {
    int64_t t = i * step;
    arrival.push_back({t + static_cast<int64_t>(rng() % kDisorder),
                       Keyed{static_cast<int64_t>(rng() % static_cast<uint64_t>(keys)), t}});
  }
  std::stable_sort(arrival.begin(), arrival.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Keyed> records;
  for (const auto& entry : arrival) records.push_back(entry.second);
  return records;
}

class JoinTimestamps final : public JoinFunction<Keyed, Keyed, Keyed> {
 public:
  Keyed join(const Keyed& a, const Keyed& b) override { return {a.first * 1000 + b.first, 0}; }
};

/// Parameters: parallelism, number of TaskManagers (tasks on different TaskManagers exchange
/// data over loopback TCP).
class WindowJoinTest : public ::testing::TestWithParam<std::tuple<int, int>> {
 protected:
  StreamExecutionEnvironment makeEnv() {
    Configuration config;
    config.set("execution.batch.rows", "32");
    config.set("taskmanager.count", std::to_string(std::get<1>(GetParam())));
    config.set(kAutoWatermarkIntervalKey, "0 ms");
    auto env = StreamExecutionEnvironment::getExecutionEnvironment(config);
    env.setParallelism(std::get<0>(GetParam()));
    return env;
  }
  static auto strategy() {
    return WatermarkStrategy<Keyed>::forBoundedOutOfOrderness(milliseconds(kDisorder))
        .withTimestampAssigner([](const Keyed& k, int64_t) { return k.second; });
  }
  template <class T>
  static std::shared_ptr<CollectedRecords<T>> collect(const DataStream<T>& stream) {
    auto out = std::make_shared<CollectedRecords<T>>();
    stream.sinkTo(std::make_shared<CollectSink<T>>(out));
    return out;
  }
  /// Attach each record's timestamp to it.
  template <class T>
  static auto timestamped(const DataStream<T>& stream) {
    return stream.process(AttachTimestamp<T>());
  }

  template <class T>
  class AttachTimestamp final : public ProcessFunction<T, std::pair<T, int64_t>> {
   public:
    void processElement(const T& value, ProcessContext& ctx,
                        Collector<std::pair<T, int64_t>>& out) override {
      out.collect({value, ctx.timestamp()});
    }
  };

  std::vector<Keyed> left_ = shuffled(1200, 3, 7, 1);
  std::vector<Keyed> right_ = shuffled(900, 4, 7, 2);
};

/// Every (key, a, b, window max timestamp) with a and b of the same key in one window of
/// `size` sliding by `slide` (tumbling when equal).
std::vector<Pair> joinOracle(const std::vector<Keyed>& left, const std::vector<Keyed>& right,
                             int64_t size, int64_t slide) {
  std::vector<Pair> pairs;
  for (const Keyed& a : left) {
    for (const Keyed& b : right) {
      if (a.first != b.first) continue;
      // Windows [start, start + size) with start a multiple of slide containing both.
      int64_t lastStart = std::min(a.second, b.second) / slide * slide;
      for (int64_t start = lastStart; start > std::max(a.second, b.second) - size; start -= slide) {
        pairs.push_back({a.first, a.second, b.second, start + size - 1});
      }
    }
  }
  return pairs;
}

TEST_P(WindowJoinTest, tumblingWindowJoinPairsEqualKeysOfOneWindow) {
  auto env = makeEnv();
  auto keyOf = [](const Keyed& k) { return k.first; };
  auto joined = env.fromCollection(left_)
                    .assignTimestampsAndWatermarks(strategy())
                    .join(env.fromCollection(right_).assignTimestampsAndWatermarks(strategy()))
                    .where(keyOf)
                    .equalTo(keyOf)
                    .window(TumblingEventTimeWindows::of(milliseconds(100)))
                    .apply([](const Keyed& a, const Keyed& b) {
                      return std::tuple<int64_t, int64_t, int64_t>{a.first, a.second, b.second};
                    });
  auto out = collect(timestamped(joined));
  ASSERT_OK(env.execute("tumbling window join"));
  std::vector<Pair> actual;
  for (const auto& [t, timestamp] : out->records()) {
    actual.push_back({std::get<0>(t), std::get<1>(t), std::get<2>(t), timestamp});
  }
  expectSameRecords(actual, joinOracle(left_, right_, 100, 100));
}

TEST_P(WindowJoinTest, slidingWindowJoinEmitsAPairOncePerSharedWindow) {
  auto env = makeEnv();
  auto keyOf = [](const Keyed& k) { return k.first; };
  auto joined = env.fromCollection(left_)
                    .assignTimestampsAndWatermarks(strategy())
                    .join(env.fromCollection(right_).assignTimestampsAndWatermarks(strategy()))
                    .where(keyOf)
                    .equalTo(keyOf)
                    .window(SlidingEventTimeWindows::of(milliseconds(90), milliseconds(30)))
                    .apply<std::tuple<int64_t, int64_t, int64_t>>(
                        [](const Keyed& a, const Keyed& b,
                           Collector<std::tuple<int64_t, int64_t, int64_t>>& out) {
                          out.collect({a.first, a.second, b.second});
                        });
  auto out = collect(timestamped(joined));
  ASSERT_OK(env.execute("sliding window join"));
  std::vector<Pair> actual;
  for (const auto& [t, timestamp] : out->records()) {
    actual.push_back({std::get<0>(t), std::get<1>(t), std::get<2>(t), timestamp});
  }
  expectSameRecords(actual, joinOracle(left_, right_, 90, 30));
}

/// key, left count, right count, smallest left timestamp (-1 if none)
using Group = std::tuple<int64_t, int64_t, int64_t, int64_t>;

class CountSides final : public CoGroupFunction<Keyed, Keyed, Group> {
 public:
  void coGroup(std::span<const Keyed> first, std::span<const Keyed> second,
               Collector<Group>& out) override {
    const Keyed& any = first.empty() ? second.front() : first.front();
    int64_t smallest = -1;
    for (const Keyed& k : first) smallest = smallest < 0 ? k.second : std::min(smallest, k.second);
    out.collect({any.first, static_cast<int64_t>(first.size()), static_cast<int64_t>(second.size()),
                 smallest});
  }
};

TEST_P(WindowJoinTest, coGroupSeesBothSidesOfEveryKeyAndWindowEvenWhenOneIsEmpty) {
  auto env = makeEnv();
  auto keyOf = [](const Keyed& k) { return k.first; };
  // Only keys 0..4 on the right, 0..6 on the left: keys 5 and 6 have an empty right side.
  std::vector<Keyed> right;
  for (const Keyed& k : right_) {
    if (k.first < 5) right.push_back(k);
  }
  auto grouped = env.fromCollection(left_)
                     .assignTimestampsAndWatermarks(strategy())
                     .coGroup(env.fromCollection(right).assignTimestampsAndWatermarks(strategy()))
                     .where(keyOf)
                     .equalTo(keyOf)
                     .window(TumblingEventTimeWindows::of(milliseconds(250)))
                     .apply(CountSides());
  auto out = collect(timestamped(grouped));
  ASSERT_OK(env.execute("coGroup"));

  std::map<std::pair<int64_t, int64_t>, Group> expected;  // (key, window start)
  for (const Keyed& k : left_) {
    Group& g = expected[{k.first, k.second / 250 * 250}];
    std::get<0>(g) = k.first;
    ++std::get<1>(g);
    std::get<3>(g) = std::get<1>(g) == 1 ? k.second : std::min(std::get<3>(g), k.second);
  }
  for (const Keyed& k : right) {
    Group& g = expected[{k.first, k.second / 250 * 250}];
    if (std::get<1>(g) == 0) std::get<3>(g) = -1;
    std::get<0>(g) = k.first;
    ++std::get<2>(g);
  }
  std::vector<std::pair<Group, int64_t>> expectedRecords;
  for (const auto& [keyAndWindow, group] : expected) {
    expectedRecords.push_back({group, keyAndWindow.second + 249});
  }
  expectSameRecords(out->records(), expectedRecords);
}

TEST_P(WindowJoinTest, joinFunctionClassesAreOpenedAndCalled) {
  auto env = makeEnv();
  auto keyOf = [](const Keyed& k) { return k.first; };
  auto out = collect(env.fromCollection(left_)
                         .assignTimestampsAndWatermarks(strategy())
                         .join(env.fromCollection(right_).assignTimestampsAndWatermarks(strategy()))
                         .where(keyOf)
                         .equalTo(keyOf)
                         .window(TumblingEventTimeWindows::of(milliseconds(100)))
                         .apply(JoinTimestamps()));
  ASSERT_OK(env.execute("join class"));
  std::vector<Keyed> expected;
  for (const Pair& p : joinOracle(left_, right_, 100, 100)) {
    expected.push_back({std::get<0>(p) * 1000 + std::get<0>(p), 0});
  }
  expectSameRecords(out->records(), expected);
}

INSTANTIATE_TEST_SUITE_P(Parallelism, WindowJoinTest,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4), ::testing::Values(1)));
INSTANTIATE_TEST_SUITE_P(ThreeTaskManagers, WindowJoinTest,
                         ::testing::Combine(::testing::Values(2, 3), ::testing::Values(3)));

}  // namespace
}  // namespace strom
