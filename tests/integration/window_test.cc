// Windows on the embedded MiniCluster: every assigner, trigger and evictor, lateness with the
// late-data side output, session merging across batches, windowAll, and reduce / aggregate /
// process and their combinations, each against a hand-written computation over the same
// input (shuffled within the out-of-orderness bound, fixed seeds), at parallelism 1 to 4.
//
// The timestamp assigner runs at parallelism 1, chained to the collection source, and emits a
// watermark after every batch ("0 ms"), so each window subtask sees records and watermarks in
// one deterministic order: the lateness oracle replays it batch by batch.

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

using Event = std::tuple<int64_t, int64_t, int64_t>;  // key, timestamp, value
/// key, window start, window end, count, sum, emitted timestamp
using Result = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

constexpr int64_t kBound = 500;

int64_t keyOf(const Event& e) { return std::get<0>(e); }
int64_t tsOf(const Event& e) { return std::get<1>(e); }
int64_t valueOf(const Event& e) { return std::get<2>(e); }

/// `n` events of `keys` keys, timestamps 0, 3, 6, ..., each arriving at most kBound - 1 ms of
/// event time after records with larger timestamps.
std::vector<Event> outOfOrderEvents(int64_t n, int keys, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<int64_t, Event>> arrival;
  for (int64_t i = 0; i < n; ++i) {
    int64_t ts = i * 3;
    int64_t key = static_cast<int64_t>(rng() % static_cast<uint64_t>(keys));
    int64_t value = static_cast<int64_t>(rng() % 1000);
    arrival.push_back({ts + static_cast<int64_t>(rng() % kBound), Event{key, ts, value}});
  }
  std::stable_sort(arrival.begin(), arrival.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Event> events;
  for (const auto& entry : arrival) events.push_back(entry.second);
  return events;
}

struct Acc {
  int64_t count = 0;
  int64_t sum = 0;
  STROM_FIELDS(count, sum)
};
struct CountSum {
  Acc createAccumulator() { return {}; }
  Acc add(const Event& e, Acc acc) { return {acc.count + 1, acc.sum + valueOf(e)}; }
  Acc getResult(const Acc& acc) { return acc; }
  Acc merge(Acc a, Acc b) { return {a.count + b.count, a.sum + b.sum}; }
};
struct SumValues {
  Event operator()(const Event& a, const Event& b) const {
    return {keyOf(a), std::max(tsOf(a), tsOf(b)), valueOf(a) + valueOf(b)};
  }
};

/// Summarizes a window's elements.
class Summarize final : public ProcessWindowFunction<Event, Result, int64_t> {
 public:
  void process(const int64_t& key, Context& ctx, std::span<const Event> elements,
               Collector<Result>& out) override {
    int64_t sum = 0;
    for (const Event& e : elements) sum += valueOf(e);
    out.collect({key, ctx.window().start, ctx.window().end, static_cast<int64_t>(elements.size()),
                 sum, ctx.timestamp()});
  }
};
/// After aggregate(CountSum): the single pre-aggregated value.
class SummarizeAcc final : public ProcessWindowFunction<Acc, Result, int64_t> {
 public:
  void process(const int64_t& key, Context& ctx, std::span<const Acc> elements,
               Collector<Result>& out) override {
    if (elements.size() != 1) throw std::logic_error("expected one pre-aggregated value");
    out.collect({key, ctx.window().start, ctx.window().end, elements[0].count, elements[0].sum,
                 ctx.timestamp()});
  }
};
/// After reduce(SumValues): count is unknown (-1).
class SummarizeReduced final : public ProcessWindowFunction<Event, Result, int64_t> {
 public:
  void process(const int64_t& key, Context& ctx, std::span<const Event> elements,
               Collector<Result>& out) override {
    if (elements.size() != 1) throw std::logic_error("expected one reduced value");
    out.collect(
        {key, ctx.window().start, ctx.window().end, -1, valueOf(elements[0]), ctx.timestamp()});
  }
};
class SummarizeAll final : public ProcessAllWindowFunction<Event, Result> {
 public:
  void process(Context& ctx, std::span<const Event> elements, Collector<Result>& out) override {
    int64_t sum = 0;
    for (const Event& e : elements) sum += valueOf(e);
    out.collect({-1, ctx.window().start, ctx.window().end, static_cast<int64_t>(elements.size()),
                 sum, ctx.timestamp()});
  }
};
/// A WindowFunction (apply): the same summary, without a context.
class SummarizeApply final : public WindowFunction<Event, Result, int64_t> {
 public:
  void apply(const int64_t& key, const TimeWindow& window, std::span<const Event> elements,
             Collector<Result>& out) override {
    int64_t sum = 0;
    for (const Event& e : elements) sum += valueOf(e);
    out.collect({key, window.start, window.end, static_cast<int64_t>(elements.size()), sum,
                 window.maxTimestamp()});
  }
};
/// Attaches the record's timestamp: (key, value, timestamp).
class WithTimestamp final : public ProcessFunction<Event, Event> {
 public:
  void processElement(const Event& e, Context& ctx, Collector<Event>& out) override {
    out.collect({keyOf(e), valueOf(e), ctx.timestamp()});
  }
};

using Windows = std::map<std::tuple<int64_t, int64_t, int64_t>, std::vector<Event>>;

/// Group `events` by (key, window start, end) with `assigner`, in arrival order.
template <class Assigner>
Windows assign(const std::vector<Event>& events, const Assigner& assigner) {
  Windows windows;
  for (const Event& e : events) {
    assigner.assignWindows(e, tsOf(e), 0, [&](const TimeWindow& w) {
      windows[{keyOf(e), w.start, w.end}].push_back(e);
    });
  }
  return windows;
}

std::vector<Result> summaries(const Windows& windows) {
  std::vector<Result> out;
  for (const auto& [kw, elements] : windows) {
    int64_t sum = 0;
    for (const Event& e : elements) sum += valueOf(e);
    auto [key, start, end] = kw;
    out.push_back({key, start, end, static_cast<int64_t>(elements.size()), sum, end - 1});
  }
  std::sort(out.begin(), out.end());
  return out;
}

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class WindowTest : public ::testing::TestWithParam<std::tuple<int, int, int>> {
 protected:
  int parallelism() const { return std::get<0>(GetParam()); }
  int batchRows() const { return std::get<1>(GetParam()); }
  /// Several TaskManagers: tasks on different ones talk over loopback TCP.
  int numTaskManagers() const { return std::get<2>(GetParam()); }

  StreamExecutionEnvironment makeEnv() {
    Configuration config;
    config.set("execution.batch.rows", std::to_string(batchRows()));
    config.set("taskmanager.count", std::to_string(numTaskManagers()));
    config.set(kAutoWatermarkIntervalKey, "0 ms");
    auto env = StreamExecutionEnvironment::getExecutionEnvironment(config);
    env.setParallelism(parallelism());
    return env;
  }
  /// The events with timestamps and watermarks, from one deterministic subtask.
  static DataStream<Event> timed(StreamExecutionEnvironment& env,
                                 const std::vector<Event>& events) {
    auto stream = env.fromCollection(events).assignTimestampsAndWatermarks(
        WatermarkStrategy<Event>::forBoundedOutOfOrderness(milliseconds(kBound))
            .withTimestampAssigner([](const Event& e, int64_t) { return tsOf(e); }));
    stream.setParallelism(1);
    return stream;
  }
  static auto keyed(const DataStream<Event>& stream) {
    return stream.keyBy([](const Event& e) { return keyOf(e); });
  }
  template <class T>
  static std::shared_ptr<CollectedRecords<T>> collect(const DataStream<T>& stream) {
    auto records = std::make_shared<CollectedRecords<T>>();
    stream.sinkTo(std::make_shared<CollectSink<T>>(records));
    return records;
  }
};

TEST_P(WindowTest, tumblingReduceEmitsOneSumPerWindowAtItsMaxTimestamp) {
  std::vector<Event> events = outOfOrderEvents(5000, 13, 1);
  auto env = makeEnv();
  auto out = collect(keyed(timed(env, events))
                         .window(TumblingEventTimeWindows::of(milliseconds(1000)))
                         .reduce(SumValues{})
                         .process(WithTimestamp{}));
  ASSERT_OK(env.execute("tumbling reduce"));
  std::vector<Event> expected;
  for (const auto& [kw, elements] :
       assign(events, TumblingEventTimeWindows::of(milliseconds(1000)))) {
    int64_t sum = 0;
    for (const Event& e : elements) sum += valueOf(e);
    expected.push_back({std::get<0>(kw), sum, std::get<2>(kw) - 1});
  }
  EXPECT_EQ(sorted(out->records()), sorted(expected));
}

TEST_P(WindowTest, tumblingWithOffsetAggregateAndProcess) {
  std::vector<Event> events = outOfOrderEvents(4000, 7, 2);
  auto assigner = TumblingEventTimeWindows::of(milliseconds(700), milliseconds(100));
  auto env = makeEnv();
  auto out =
      collect(keyed(timed(env, events)).window(assigner).aggregate(CountSum{}, SummarizeAcc{}));
  ASSERT_OK(env.execute("tumbling aggregate process"));
  EXPECT_EQ(sorted(out->records()), summaries(assign(events, assigner)));
}

TEST_P(WindowTest, applyWithAWindowFunctionAloneAndAfterReduce) {
  std::vector<Event> events = outOfOrderEvents(3000, 7, 13);
  auto assigner = TumblingEventTimeWindows::of(milliseconds(600));
  auto env = makeEnv();
  auto applied = collect(keyed(timed(env, events)).window(assigner).apply(SummarizeApply{}));
  auto reduced =
      collect(keyed(timed(env, events)).window(assigner).reduce(SumValues{}, SummarizeApply{}));
  ASSERT_OK(env.execute("apply"));
  std::vector<Result> expected = summaries(assign(events, assigner));
  EXPECT_EQ(sorted(applied->records()), expected);
  for (Result& r : expected) std::get<3>(r) = 1;  // the one reduced value
  EXPECT_EQ(sorted(reduced->records()), expected);
}

TEST_P(WindowTest, slidingAggregateUsesPanesAndMatchesEveryWindow) {
  std::vector<Event> events = outOfOrderEvents(5000, 11, 3);
  auto assigner = SlidingEventTimeWindows::of(milliseconds(2000), milliseconds(300));
  auto env = makeEnv();
  auto out =
      collect(keyed(timed(env, events)).window(assigner).aggregate(CountSum{}, SummarizeAcc{}));
  ASSERT_OK(env.execute("sliding aggregate"));
  EXPECT_EQ(sorted(out->records()), summaries(assign(events, assigner)));
}

TEST_P(WindowTest, slidingWithAllowedLatenessUsesPerWindowState) {
  std::vector<Event> events = outOfOrderEvents(3000, 5, 4);
  auto assigner = SlidingEventTimeWindows::of(milliseconds(1000), milliseconds(250));
  auto env = makeEnv();
  auto out = collect(keyed(timed(env, events))
                         .window(assigner)
                         .allowedLateness(milliseconds(50))
                         .aggregate(CountSum{}, SummarizeAcc{}));
  ASSERT_OK(env.execute("sliding lateness"));
  EXPECT_EQ(sorted(out->records()), summaries(assign(events, assigner)));
}

TEST_P(WindowTest, slidingReduceAndProcessWithoutPreAggregation) {
  std::vector<Event> events = outOfOrderEvents(3000, 6, 5);
  auto assigner = SlidingEventTimeWindows::of(milliseconds(900), milliseconds(300));
  auto env = makeEnv();
  auto reduced =
      collect(keyed(timed(env, events)).window(assigner).reduce(SumValues{}, SummarizeReduced{}));
  auto processed = collect(keyed(timed(env, events)).window(assigner).process(Summarize{}));
  ASSERT_OK(env.execute("sliding reduce and process"));
  std::vector<Result> expected = summaries(assign(events, assigner));
  EXPECT_EQ(sorted(processed->records()), expected);
  for (Result& r : expected) std::get<3>(r) = -1;
  EXPECT_EQ(sorted(reduced->records()), expected);
}

/// Sessions per key: sorted timestamps split where the next starts after the previous
/// session's end (gaps never make windows touch exactly: timestamps are multiples of 3).
template <class Gap>
std::vector<Result> sessions(const std::vector<Event>& events, Gap gapOf) {
  std::map<int64_t, std::vector<Event>> byKey;
  for (const Event& e : events) byKey[keyOf(e)].push_back(e);
  std::vector<Result> out;
  for (auto& [key, list] : byKey) {
    std::sort(list.begin(), list.end(),
              [](const Event& a, const Event& b) { return tsOf(a) < tsOf(b); });
    int64_t start = tsOf(list[0]);
    int64_t end = start + gapOf(list[0]);
    int64_t count = 0;
    int64_t sum = 0;
    for (const Event& e : list) {
      if (tsOf(e) > end) {
        out.push_back({key, start, end, count, sum, end - 1});
        start = tsOf(e);
        end = start;
        count = 0;
        sum = 0;
      }
      end = std::max(end, tsOf(e) + gapOf(e));
      ++count;
      sum += valueOf(e);
    }
    out.push_back({key, start, end, count, sum, end - 1});
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Events of `keys` keys in bursts separated by silences, so that sessions form and merge
/// across batches.
std::vector<Event> burstyEvents(int64_t n, int keys, uint64_t seed) {
  std::vector<Event> base = outOfOrderEvents(n, keys, seed);
  std::vector<Event> events;
  for (const Event& e : base) {
    // Drop events in the second half of every 3 s period: gaps of ~1.5 s, longer than the gap.
    if (tsOf(e) % 3000 < 1500) events.push_back(e);
  }
  return events;
}

TEST_P(WindowTest, sessionWindowsMergeAcrossBatches) {
  std::vector<Event> events = burstyEvents(6000, 9, 6);
  auto env = makeEnv();
  auto processed = collect(keyed(timed(env, events))
                               .window(EventTimeSessionWindows::withGap(milliseconds(100)))
                               .process(Summarize{}));
  auto aggregated = collect(keyed(timed(env, events))
                                .window(EventTimeSessionWindows::withGap(milliseconds(100)))
                                .aggregate(CountSum{}, SummarizeAcc{}));
  auto reduced = collect(keyed(timed(env, events))
                             .window(EventTimeSessionWindows::withGap(milliseconds(100)))
                             .reduce(SumValues{}, SummarizeReduced{}));
  ASSERT_OK(env.execute("sessions"));
  std::vector<Result> expected = sessions(events, [](const Event&) { return int64_t{100}; });
  EXPECT_EQ(sorted(processed->records()), expected);
  EXPECT_EQ(sorted(aggregated->records()), expected);
  for (Result& r : expected) std::get<3>(r) = -1;
  EXPECT_EQ(sorted(reduced->records()), expected);
}

TEST_P(WindowTest, sessionWindowsWithDynamicGap) {
  std::vector<Event> events = burstyEvents(4000, 6, 7);
  auto gapOf = [](const Event& e) -> int64_t { return 100 + (keyOf(e) % 2) * 31; };
  auto env = makeEnv();
  auto out = collect(keyed(timed(env, events))
                         .window(EventTimeSessionWindows::withDynamicGap(gapOf))
                         .process(Summarize{}));
  ASSERT_OK(env.execute("dynamic sessions"));
  EXPECT_EQ(sorted(out->records()), sessions(events, gapOf));
}

TEST_P(WindowTest, windowAllCountsTheWholeStream) {
  std::vector<Event> events = outOfOrderEvents(4000, 10, 8);
  auto assigner = TumblingEventTimeWindows::of(milliseconds(500));
  auto env = makeEnv();
  auto out = collect(timed(env, events).windowAll(assigner).process(SummarizeAll{}));
  ASSERT_OK(env.execute("window all"));
  std::vector<Event> unkeyed;
  for (const Event& e : events) unkeyed.push_back({-1, tsOf(e), valueOf(e)});
  EXPECT_EQ(sorted(out->records()), summaries(assign(unkeyed, assigner)));
}

TEST_P(WindowTest, countTriggersOnGlobalWindowsFireEveryNthElementOfAKey) {
  std::vector<Event> events = outOfOrderEvents(3000, 7, 9);
  auto env = makeEnv();
  auto purging = collect(keyed(timed(env, events))
                             .window(GlobalWindows::create())
                             .trigger(PurgingTrigger<CountTrigger>::of(CountTrigger::of(3)))
                             .reduce(SumValues{})
                             .process(WithTimestamp{}));
  auto accumulating = collect(keyed(timed(env, events))
                                  .window(GlobalWindows::create())
                                  .trigger(CountTrigger::of(4))
                                  .aggregate(CountSum{}));
  ASSERT_OK(env.execute("count triggers"));
  // Per key, in arrival order (keyBy keeps each key's order).
  std::map<int64_t, std::vector<int64_t>> values;
  for (const Event& e : events) values[keyOf(e)].push_back(valueOf(e));
  std::vector<Event> expectedPurging;
  std::vector<std::pair<int64_t, int64_t>> expectedAccumulating;
  for (const auto& [key, list] : values) {
    int64_t sum = 0;
    int64_t total = 0;
    for (size_t i = 0; i < list.size(); ++i) {
      sum += list[i];
      total += list[i];
      if ((i + 1) % 3 == 0) {
        expectedPurging.push_back({key, sum, std::numeric_limits<int64_t>::max()});
        sum = 0;
      }
      if ((i + 1) % 4 == 0) expectedAccumulating.push_back({static_cast<int64_t>(i + 1), total});
    }
  }
  EXPECT_EQ(sorted(purging->records()), sorted(expectedPurging));
  std::vector<std::pair<int64_t, int64_t>> accumulated;
  for (const Acc& a : accumulating->records()) accumulated.push_back({a.count, a.sum});
  EXPECT_EQ(sorted(accumulated), sorted(expectedAccumulating));
}

TEST_P(WindowTest, evictorsKeepTheLastElementsOrTheRecentOnes) {
  std::vector<Event> events = outOfOrderEvents(3000, 5, 10);
  auto assigner = TumblingEventTimeWindows::of(milliseconds(1000));
  auto env = makeEnv();
  auto counted = collect(
      keyed(timed(env, events)).window(assigner).evictor(CountEvictor::of(3)).process(Summarize{}));
  auto timed200 = collect(keyed(timed(env, events))
                              .window(assigner)
                              .evictor(TimeEvictor::of(milliseconds(200)))
                              .aggregate(CountSum{}, SummarizeAcc{}));
  ASSERT_OK(env.execute("evictors"));
  Windows windows = assign(events, assigner);
  Windows lastThree;
  Windows recent;
  for (const auto& [kw, list] : windows) {
    lastThree[kw].assign(list.end() - std::min<ptrdiff_t>(3, static_cast<ptrdiff_t>(list.size())),
                         list.end());
    int64_t maxTs = 0;
    for (const Event& e : list) maxTs = std::max(maxTs, tsOf(e));
    for (const Event& e : list) {
      if (tsOf(e) > maxTs - 200) recent[kw].push_back(e);
    }
  }
  EXPECT_EQ(sorted(counted->records()), summaries(lastThree));
  EXPECT_EQ(sorted(timed200->records()), summaries(recent));
}

/// Replays the arrival order batch by batch: what tumbling windows with `lateness` emit
/// (including re-firings for late elements), and which elements are late.
void lateOracle(const std::vector<Event>& events, size_t rows, int64_t size, int64_t lateness,
                std::vector<Event>* fired, std::vector<Event>* late) {
  struct Window {
    int64_t sum = 0;
    bool cleaned = false;
    bool firedOnce = false;
  };
  std::map<std::pair<int64_t, int64_t>, Window> windows;  // (key, start)
  int64_t watermark = std::numeric_limits<int64_t>::min();
  int64_t maxTs = std::numeric_limits<int64_t>::min();
  auto advance = [&](int64_t wm) {
    if (wm <= watermark) return;
    for (auto& [kw, w] : windows) {
      int64_t maxTimestamp = kw.second + size - 1;
      if (!w.cleaned && maxTimestamp > watermark && maxTimestamp <= wm) {
        fired->push_back({kw.first, w.sum, maxTimestamp});
      }
      if (maxTimestamp + lateness <= wm) w.cleaned = true;
    }
    watermark = wm;
  };
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    int64_t start = tsOf(e) - ((tsOf(e) % size) + size) % size;
    int64_t maxTimestamp = start + size - 1;
    if (maxTimestamp + lateness <= watermark) {
      late->push_back(e);
    } else {
      Window& w = windows[{keyOf(e), start}];
      w.sum += valueOf(e);
      if (maxTimestamp <= watermark) fired->push_back({keyOf(e), w.sum, maxTimestamp});
    }
    maxTs = std::max(maxTs, tsOf(e));
    if ((i + 1) % rows == 0 || i + 1 == events.size()) advance(maxTs - kBound - 1);
  }
  advance(std::numeric_limits<int64_t>::max());
}

TEST_P(WindowTest, allowedLatenessRefiresAndLateDataGoesToTheSideOutput) {
  std::vector<Event> events = outOfOrderEvents(4000, 4, 11);
  // Stragglers beyond the out-of-orderness bound: some within the allowed lateness, some not.
  std::mt19937_64 rng(12);
  for (int i = 0; i < 200; ++i) {
    size_t at = 1000 + rng() % (events.size() - 1000);
    int64_t ts =
        std::max<int64_t>(0, tsOf(events[at]) - kBound - static_cast<int64_t>(rng() % 1500));
    events.insert(events.begin() + static_cast<ptrdiff_t>(at),
                  Event{static_cast<int64_t>(rng() % 4), ts, 1});
  }
  OutputTag<Event> lateTag("late");
  auto env = makeEnv();
  auto windowed = keyed(timed(env, events))
                      .window(TumblingEventTimeWindows::of(milliseconds(400)))
                      .allowedLateness(milliseconds(300))
                      .sideOutputLateData(lateTag)
                      .reduce(SumValues{});
  auto out = collect(windowed.process(WithTimestamp{}));
  auto late = collect(windowed.getSideOutput(lateTag));
  // Without a side output, late records are dropped and counted.
  auto dropping = keyed(timed(env, events))
                      .window(TumblingEventTimeWindows::of(milliseconds(400)))
                      .allowedLateness(milliseconds(300))
                      .reduce(SumValues{});
  dropping.name("Dropping Window");
  collect(dropping);
  auto result = env.execute("lateness");
  ASSERT_OK(result);
  std::vector<Event> expectedFired;
  std::vector<Event> expectedLate;
  lateOracle(events, static_cast<size_t>(batchRows()), 400, 300, &expectedFired, &expectedLate);
  ASSERT_FALSE(expectedLate.empty());
  EXPECT_EQ(sorted(late->records()), sorted(expectedLate));
  EXPECT_EQ(result->counter("Dropping Window.numLateRecordsDropped"),
            static_cast<int64_t>(expectedLate.size()));
  EXPECT_EQ(result->counter("Window Reduce.numLateRecordsDropped"), 0);
  EXPECT_EQ(sorted(out->records()), sorted(expectedFired));
}

INSTANTIATE_TEST_SUITE_P(ParallelismAndBatchSize, WindowTest,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4), ::testing::Values(1, 97),
                                            ::testing::Values(1)),
                         [](const auto& info) {
                           return "p" + std::to_string(std::get<0>(info.param)) + "_rows" +
                                  std::to_string(std::get<1>(info.param));
                         });
INSTANTIATE_TEST_SUITE_P(ThreeTaskManagers, WindowTest,
                         ::testing::Combine(::testing::Values(2, 4), ::testing::Values(1, 97),
                                            ::testing::Values(3)),
                         [](const auto& info) {
                           return "p" + std::to_string(std::get<0>(info.param)) + "_rows" +
                                  std::to_string(std::get<1>(info.param)) + "_tm3";
                         });

}  // namespace
}  // namespace strom
