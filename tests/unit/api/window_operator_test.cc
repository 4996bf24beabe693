// The window operator driven directly (OperatorHarness): processing-time windows on a manual
// clock, lateness, session merging, the pane path against the per-window path, custom
// triggers, evictors, and the timer queue kept per key group.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "testutil/operator_harness.h"

namespace strom {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAreArray;

using Event = std::pair<int64_t, int64_t>;  // key, value
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

struct KeyOf {
  int64_t operator()(const Event& e) const { return e.first; }
};
struct SumValues {
  Event operator()(const Event& a, const Event& b) const { return {a.first, a.second + b.second}; }
};
struct CountAgg {
  int64_t createAccumulator() { return 0; }
  int64_t add(const Event&, int64_t acc) { return acc + 1; }
  int64_t getResult(const int64_t& acc) { return acc; }
  int64_t merge(int64_t a, int64_t b) { return a + b; }
};
/// Emits (key, window start, window end, number of elements, sum of values).
using Summary = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>;
class Summarize final : public ProcessWindowFunction<Event, Summary, int64_t> {
 public:
  void process(const int64_t& key, Context& ctx, std::span<const Event> elements,
               Collector<Summary>& out) override {
    int64_t sum = 0;
    for (const Event& e : elements) sum += e.second;
    out.collect(
        {key, ctx.window().start, ctx.window().end, static_cast<int64_t>(elements.size()), sum});
  }
};

template <class Out, class Assigner, class Trig = typename Assigner::DefaultTrigger,
          class Evict = NoEvictor, class Agg, class Proc>
auto makeHarness(Assigner assigner, Agg agg, Proc proc, detail::WindowConfig config = {},
                 Trig trigger = {}, Evict evictor = {}) {
  return testing::OperatorHarness<Event, Out>(detail::makeWindowOperator<int64_t, Event, Out>(
      16, KeyOf{}, assigner, trigger, evictor, config, agg, proc));
}

TEST(WindowOperatorTest, tumblingProcessingTimeWindowsFireOnTheManualClock) {
  auto h = makeHarness<Event>(TumblingProcessingTimeWindows::of(milliseconds(10)),
                              detail::ReduceAggregation<Event, SumValues>{}, detail::NoProcess{});
  h.open();
  h.setProcessingTime(3);
  h.processElement({1, 5}, kNoTimestamp);
  h.processElement({1, 6}, kNoTimestamp);
  h.processElement({2, 1}, kNoTimestamp);
  h.setProcessingTime(8);
  EXPECT_TRUE(h.output().records.empty());
  h.setProcessingTime(9);  // the window [0, 10) ends: its maxTimestamp is 9
  EXPECT_THAT(h.takeOutput(),
              UnorderedElementsAreArray({Pair(Event{1, 11}, 9), Pair(Event{2, 1}, 9)}));
  h.processElement({1, 7}, kNoTimestamp);  // still [0, 10): its timer is due at once
  h.setProcessingTime(25);
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Event{1, 7}, 9)));
  h.processElement({1, 8}, kNoTimestamp);  // [20, 30)
  h.setProcessingTime(29);
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Event{1, 8}, 29)));
  auto& op = static_cast<detail::WindowOperator<
      int64_t, Event, Event, KeyOf, TumblingProcessingTimeWindows, ProcessingTimeTrigger, NoEvictor,
      detail::ReduceAggregation<Event, SumValues>, detail::NoProcess>&>(h.op());
  EXPECT_EQ(op.numProcessingTimeTimers(), 0u);
}

TEST(WindowOperatorTest, allowedLatenessRefiresAndLateDataGoesToTheSideOutput) {
  detail::WindowConfig config{5, "late"};
  auto h = makeHarness<Event>(TumblingEventTimeWindows::of(milliseconds(10)),
                              detail::ReduceAggregation<Event, SumValues>{}, detail::NoProcess{},
                              config);
  auto& late = h.addSideOutput<Event>("late");
  h.open();
  h.processElement({1, 1}, 2);
  h.processElement({1, 2}, 8);
  h.processWatermark(9);
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Event{1, 3}, 9)));
  h.processElement({1, 4}, 5);  // late, within the lateness: fires again with everything
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Event{1, 7}, 9)));
  h.processWatermark(14);  // cleanup time 9 + 5: the window's state is gone
  h.processElement({1, 100}, 3);
  EXPECT_TRUE(h.takeOutput().empty());
  EXPECT_THAT(late.records, ElementsAre(Pair(Event{1, 100}, 3)));
  h.endInput();
  EXPECT_TRUE(h.takeOutput().empty());
}

TEST(WindowOperatorTest, lateRecordsWithoutSideOutputAreCounted) {
  using Op =
      detail::WindowOperator<int64_t, Event, int64_t, KeyOf, TumblingEventTimeWindows,
                             EventTimeTrigger, NoEvictor,
                             detail::AggregateAggregation<Event, CountAgg>, detail::NoProcess>;
  auto h =
      makeHarness<int64_t>(TumblingEventTimeWindows::of(milliseconds(10)),
                           detail::AggregateAggregation<Event, CountAgg>{}, detail::NoProcess{});
  h.open();
  h.processWatermark(19);
  h.processElement({1, 1}, 19);  // [10, 20) already fired: late
  h.processElement({1, 1}, 20);
  h.endInput();
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(1, 29)));
  EXPECT_EQ(static_cast<Op&>(h.op()).numLateRecordsDropped(), 1);
}

TEST(WindowOperatorTest, sessionsMergeAndALateElementBridgesTwoSessions) {
  auto h = makeHarness<Summary>(EventTimeSessionWindows::withGap(milliseconds(10)),
                                detail::NoAggregation{}, detail::ProcessAdapter<Summarize>{},
                                detail::WindowConfig{100, ""});
  h.open();
  h.processElement({1, 1}, 0);
  h.processElement({1, 2}, 5);   // [0, 15)
  h.processElement({1, 3}, 25);  // [25, 35)
  h.processWatermark(20);
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Summary{1, 0, 15, 2, 3}, 14)));
  h.processElement({1, 4}, 15);  // [15, 25) bridges [0, 15) (fired, in lateness) and [25, 35)
  EXPECT_TRUE(h.takeOutput().empty());
  h.endInput();
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Summary{1, 0, 35, 4, 10}, 34)));
  using Op = detail::WindowOperator<int64_t, Event, Summary, KeyOf, EventTimeSessionWindowsOf<>,
                                    EventTimeTrigger, NoEvictor, detail::NoAggregation,
                                    detail::ProcessAdapter<Summarize>>;
  EXPECT_EQ(static_cast<Op&>(h.op()).numEventTimeTimers(), 0u);
}

// The pane path and the per-window path (forced by allowed lateness, which no record uses
// here) give the same windows.
TEST(WindowOperatorTest, panesGiveTheSameResultsAsPerWindowState) {
  std::mt19937_64 rng(5);
  std::vector<std::pair<Event, int64_t>> input;
  for (int64_t i = 0; i < 3000; ++i) {
    int64_t ts = i * 7 + static_cast<int64_t>(rng() % 200);
    input.push_back({{static_cast<int64_t>(rng() % 5), static_cast<int64_t>(rng() % 100)}, ts});
  }
  auto assigner = SlidingEventTimeWindows::of(milliseconds(1000), milliseconds(150));
  auto run = [&](int64_t lateness) {
    auto h = makeHarness<Event>(assigner, detail::ReduceAggregation<Event, SumValues>{},
                                detail::NoProcess{}, detail::WindowConfig{lateness, ""});
    h.open();
    int64_t maxTs = INT64_MIN;
    for (const auto& [event, ts] : input) {
      h.processElement(event, ts);
      maxTs = std::max(maxTs, ts);
      h.processWatermark(maxTs - 201);
    }
    h.endInput();
    auto out = h.takeOutput();
    std::sort(out.begin(), out.end());
    return out;
  };
  auto panes = run(0);
  auto windows = run(1);
  EXPECT_EQ(panes.size(), windows.size());
  EXPECT_EQ(panes, windows);
  // Oracle: every window of every record.
  std::map<std::pair<int64_t, int64_t>, int64_t> sums;  // (key, window end) -> sum
  for (const auto& [event, ts] : input) {
    assigner.assignWindows(event, ts, 0, [&](const TimeWindow& w) {
      sums[{event.first, w.end}] += event.second;
    });
  }
  std::vector<std::pair<Event, int64_t>> expected;
  for (const auto& [kw, sum] : sums) expected.push_back({{kw.first, sum}, kw.second - 1});
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(panes, expected);
}

/// The default trigger under another type: forces the per-window path.
struct PerWindowEventTimeTrigger : EventTimeTrigger {};

// Records behind the watermark (late for their first windows, not their last) update panes
// that were already aggregated: the pane path still matches the per-window path.
TEST(WindowOperatorTest, panesMatchPerWindowStateWithRecordsBehindTheWatermark) {
  std::mt19937_64 rng(9);
  auto assigner = SlidingEventTimeWindows::of(milliseconds(1000), milliseconds(100));
  using Reduce = detail::ReduceAggregation<Event, SumValues>;
  auto panes = makeHarness<Event>(assigner, Reduce{}, detail::NoProcess{});
  auto windows = makeHarness<Event, SlidingEventTimeWindows, PerWindowEventTimeTrigger>(
      assigner, Reduce{}, detail::NoProcess{});
  panes.open();
  windows.open();
  int64_t maxTs = 0;
  for (int64_t i = 0; i < 4000; ++i) {
    int64_t ts = i * 5 - static_cast<int64_t>(rng() % 50);
    if (i % 17 == 0) ts -= static_cast<int64_t>(rng() % 900);  // behind the watermark
    Event e{static_cast<int64_t>(rng() % 3), static_cast<int64_t>(rng() % 100)};
    panes.processElement(e, ts);
    windows.processElement(e, ts);
    maxTs = std::max(maxTs, ts);
    if (i % 7 == 0) {
      panes.processWatermark(maxTs - 51);
      windows.processWatermark(maxTs - 51);
    }
  }
  panes.endInput();
  windows.endInput();
  auto a = panes.takeOutput();
  auto b = windows.takeOutput();
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_GT(a.size(), 500u);
  EXPECT_EQ(a, b);
}

/// Fires every window whose element has value 0 at once, and at the window's end.
class FireOnZero final : public Trigger<Event, TimeWindow> {
 public:
  TriggerResult onElement(const Event& e, int64_t, const TimeWindow& w,
                          TriggerContext<TimeWindow>& ctx) override {
    auto seen = ctx.getPartitionedState(ValueStateDescriptor<int64_t>("seen"));
    const int64_t* n = seen.valuePtr();
    seen.update((n ? *n : 0) + 1);
    ctx.registerEventTimeTimer(w.maxTimestamp());
    return e.second == 0 ? TriggerResult::kFireAndPurge : TriggerResult::kContinue;
  }
  TriggerResult onEventTime(int64_t time, const TimeWindow& w,
                            TriggerContext<TimeWindow>&) override {
    return time == w.maxTimestamp() ? TriggerResult::kFire : TriggerResult::kContinue;
  }
  TriggerResult onProcessingTime(int64_t, const TimeWindow&, TriggerContext<TimeWindow>&) override {
    return TriggerResult::kContinue;
  }
  void clear(const TimeWindow& w, TriggerContext<TimeWindow>& ctx) override {
    ctx.getPartitionedState(ValueStateDescriptor<int64_t>("seen")).clear();
    ctx.deleteEventTimeTimer(w.maxTimestamp());
  }
};

TEST(WindowOperatorTest, aUserTriggerFiresAndPurges) {
  auto h = makeHarness<Event, TumblingEventTimeWindows, FireOnZero>(
      TumblingEventTimeWindows::of(milliseconds(10)), detail::ReduceAggregation<Event, SumValues>{},
      detail::NoProcess{});
  h.open();
  h.processElement({1, 3}, 1);
  h.processElement({1, 0}, 2);  // fire and purge: 3
  h.processElement({1, 5}, 3);
  h.processWatermark(9);  // fire at the end: 5
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Event{1, 3}, 9), Pair(Event{1, 5}, 9)));
}

TEST(WindowOperatorTest, countTriggerWithPurgingOnGlobalWindows) {
  auto h = makeHarness<Event, GlobalWindows, PurgingTrigger<CountTrigger>>(
      GlobalWindows::create(), detail::ReduceAggregation<Event, SumValues>{}, detail::NoProcess{},
      {}, PurgingTrigger<CountTrigger>::of(CountTrigger::of(2)));
  h.open();
  for (int64_t v = 1; v <= 5; ++v) h.processElement({7, v}, v);
  h.endInput();  // the fifth element never fires
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Event{7, 3}, kMax), Pair(Event{7, 7}, kMax)));
}

TEST(WindowOperatorTest, continuousEventTimeTriggerFiresEveryIntervalAndAtTheEnd) {
  auto h = makeHarness<Event, TumblingEventTimeWindows, ContinuousEventTimeTrigger>(
      TumblingEventTimeWindows::of(milliseconds(100)),
      detail::ReduceAggregation<Event, SumValues>{}, detail::NoProcess{}, {},
      ContinuousEventTimeTrigger::of(milliseconds(30)));
  h.open();
  h.processElement({1, 1}, 5);  // next fire at 30
  h.processElement({1, 2}, 20);
  h.processWatermark(29);
  EXPECT_TRUE(h.takeOutput().empty());
  h.processWatermark(30);
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Event{1, 3}, 99)));
  h.processElement({1, 4}, 50);
  h.processWatermark(70);  // fires at 60
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Event{1, 7}, 99)));
  h.processWatermark(99);  // fires at 90 and at the window's end
  EXPECT_THAT(h.takeOutput(), ElementsAre(Pair(Event{1, 7}, 99), Pair(Event{1, 7}, 99)));
  h.endInput();
  EXPECT_TRUE(h.takeOutput().empty());
}

TEST(WindowOperatorTest, evictorsKeepTheLastElements) {
  auto h = makeHarness<Summary, TumblingEventTimeWindows, EventTimeTrigger, CountEvictor>(
      TumblingEventTimeWindows::of(milliseconds(10)), detail::NoAggregation{},
      detail::ProcessAdapter<Summarize>{}, {}, {}, CountEvictor::of(2));
  h.open();
  for (int64_t v = 1; v <= 4; ++v) h.processElement({1, v}, v);
  h.processElement({1, 100}, 15);
  h.endInput();
  EXPECT_THAT(h.takeOutput(),
              ElementsAre(Pair(Summary{1, 0, 10, 2, 7}, 9), Pair(Summary{1, 10, 20, 1, 100}, 19)));
}

TEST(WindowOperatorTest, timerQueueKeepsTimersPerKeyGroup) {
  KeyGroupRange range = KeyGroupRange::forOperator(128, 2, 1);
  detail::KeyedTimerQueue<int64_t, TimeWindow> queue(range, 128);
  std::map<int, size_t> perGroup;
  for (int64_t key = 0; key < 1000; ++key) {
    int group = keyGroupForHash(keyHash(key), 128);
    if (!range.contains(group)) continue;
    EXPECT_TRUE(queue.add(key, TimeWindow{0, 10}, 9));
    EXPECT_FALSE(queue.add(key, TimeWindow{0, 10}, 9));
    EXPECT_TRUE(queue.add(key, TimeWindow{0, 20}, 9));
    perGroup[group] += 2;
  }
  for (const auto& [group, n] : perGroup) EXPECT_EQ(queue.sizeOfKeyGroup(group), n);
  queue.remove(int64_t{1}, TimeWindow{0, 10}, 9);
  int64_t last = INT64_MIN;
  size_t fired = 0;
  for (int i = 0; i < 10000; ++i) {
    auto timer = queue.pollDue(kMax);
    if (!timer) break;
    EXPECT_GE(timer->time, last);
    last = timer->time;
    ++fired;
  }
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_GT(fired, 0u);
}

}  // namespace
}  // namespace strom
