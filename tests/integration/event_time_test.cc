// Event time on the embedded MiniCluster: timestamps and watermarks from
// assignTimestampsAndWatermarks, watermarks across the network (keyBy, union) and event-time
// timers of keyed process functions, against oracles computed from the input, at parallelism
// 1 to 4 and small and large batches.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr int64_t kMaxWatermark = std::numeric_limits<int64_t>::max();

using Event = std::pair<int64_t, int64_t>;  // key, event timestamp
/// What a timer emits: key, timer time, the key's count when it fired, the watermark then.
using Fired = std::tuple<int64_t, int64_t, int64_t, int64_t>;

/// Counts records per key and registers an event-time timer `delay` after each record's
/// timestamp; the timer emits the key's count. A record at or before the watermark is
/// emitted as a Fired with count -1 (it arrived late).
class CountThenFire final : public KeyedProcessFunction<int64_t, Event, Fired> {
 public:
  explicit CountThenFire(int64_t delay) : delay_(delay) {}
  void open() override {
    count_ = &getRuntimeContext().getState(ValueStateDescriptor<int64_t>("count"));
  }
  void processElement(const Event& event, Context& ctx, Collector<Fired>& out) override {
    if (ctx.timestamp() != event.second) throw std::logic_error("timestamp not assigned");
    int64_t watermark = ctx.timerService().currentWatermark();
    if (event.second <= watermark) out.collect(Fired{event.first, event.second, -1, watermark});
    const int64_t* count = count_->valuePtr();
    count_->update((count ? *count : 0) + 1);
    ctx.timerService().registerEventTimeTimer(event.second + delay_);
  }
  void onTimer(int64_t time, OnTimerContext& ctx, Collector<Fired>& out) override {
    if (ctx.timeDomain() != TimeDomain::kEventTime || ctx.timestamp() != time) {
      throw std::logic_error("wrong timer context");
    }
    out.collect(Fired{ctx.getCurrentKey(), time, *count_->valuePtr(),
                      ctx.timerService().currentWatermark()});
  }

 private:
  int64_t delay_;
  ValueState<int64_t>* count_ = nullptr;
};

/// `n` events of `keys` keys with timestamps 0, 3, 6, ..., in an arrival order where a record
/// comes at most 499 ms of event time after any record with a larger timestamp: each is
/// placed by its timestamp plus a random delay below 500.
std::vector<Event> outOfOrderEvents(int64_t n, int keys, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<int64_t, Event>> arrival;
  for (int64_t i = 0; i < n; ++i) {
    int64_t timestamp = i * 3;
    int64_t key = static_cast<int64_t>(rng() % static_cast<uint64_t>(keys));
    arrival.push_back({timestamp + static_cast<int64_t>(rng() % 500), Event{key, timestamp}});
  }
  std::stable_sort(arrival.begin(), arrival.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Event> events;
  for (const auto& entry : arrival) events.push_back(entry.second);
  return events;
}

/// The (key, time) of every timer `events` register with `delay`: one per key and time.
std::vector<std::pair<int64_t, int64_t>> expectedTimers(const std::vector<Event>& events,
                                                        int64_t delay) {
  std::set<std::pair<int64_t, int64_t>> timers;
  for (const Event& e : events) timers.insert({e.first, e.second + delay});
  return {timers.begin(), timers.end()};
}

std::vector<std::pair<int64_t, int64_t>> firedTimers(const std::vector<Fired>& fired) {
  std::vector<std::pair<int64_t, int64_t>> timers;
  for (const Fired& f : fired) timers.push_back({std::get<0>(f), std::get<1>(f)});
  std::sort(timers.begin(), timers.end());
  return timers;
}

auto eventTimestamp() {
  return [](const Event& e, int64_t) { return e.second; };
}

class EventTimeTest : public ::testing::TestWithParam<std::tuple<int, int, int>> {
 protected:
  int parallelism() const { return std::get<0>(GetParam()); }
  int batchRows() const { return std::get<1>(GetParam()); }
  /// Several TaskManagers: tasks on different ones talk over loopback TCP.
  int numTaskManagers() const { return std::get<2>(GetParam()); }

  /// An environment whose watermark generators emit every `interval` ("0 ms": every batch).
  StreamExecutionEnvironment makeEnv(const std::string& interval) {
    Configuration config;
    config.set("execution.batch.rows", std::to_string(batchRows()));
    config.set("taskmanager.count", std::to_string(numTaskManagers()));
    config.set(kAutoWatermarkIntervalKey, interval);
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

// A timer fires once the watermark passed it. Every record with a timestamp at or before that
// watermark has arrived by then (the out-of-orderness bound), so the count it sees is at least
// the number of the key's records up to the watermark; later records may have been counted
// too. Timers that only the final watermark passes see the key's whole count.
TEST_P(EventTimeTest, eventTimeTimersFireWhenTheWatermarkPassesThem) {
  constexpr int64_t kDelay = 1000;
  std::vector<Event> events = outOfOrderEvents(6000, 10, 42);
  auto env = makeEnv("0 ms");
  auto out =
      collect(env.fromCollection(events)
                  .assignTimestampsAndWatermarks(WatermarkStrategy<Event>::forBoundedOutOfOrderness(
                                                     std::chrono::milliseconds(500))
                                                     .withTimestampAssigner(eventTimestamp()))
                  .keyBy([](const Event& e) { return e.first; })
                  .process(CountThenFire(kDelay)));
  ASSERT_OK(env.execute("event time timers"));

  std::vector<Fired> fired = out->records();
  EXPECT_THAT(firedTimers(fired), ElementsAreArray(expectedTimers(events, kDelay)));
  std::map<int64_t, int64_t> total;
  std::map<int64_t, int64_t> lastTimer;
  for (const Event& e : events) {
    ++total[e.first];
    lastTimer[e.first] = std::max(lastTimer[e.first], e.second + kDelay);
  }
  int64_t maxTimestamp = (6000 - 1) * 3;
  for (const auto& [key, time] : lastTimer) {
    // Only the final watermark passes these (the last one before it is maxTimestamp - 501).
    ASSERT_GT(time, maxTimestamp - 501) << "oracle: key " << key;
  }
  for (const auto& [key, time, count, watermark] : fired) {
    ASSERT_GE(count, 0) << "late record of key " << key << " at " << time;
    EXPECT_GE(watermark, time);
    EXPECT_LE(count, total[key]);
    if (watermark == kMaxWatermark) {
      EXPECT_EQ(count, total[key]) << "key " << key << " timer " << time;
      continue;
    }
    int64_t arrived = 0;
    for (const Event& e : events) arrived += e.first == key && e.second <= watermark;
    EXPECT_GE(count, arrived) << "key " << key << " timer " << time << " watermark " << watermark;
    EXPECT_NE(time, lastTimer[key]);
  }
}

TEST_P(EventTimeTest, endOfInputFiresEveryPendingEventTimeTimer) {
  constexpr int64_t kDelay = 1'000'000'000;  // beyond every watermark the data produces
  std::vector<Event> events = outOfOrderEvents(2000, 7, 7);
  auto env = makeEnv("1 ms");
  auto out =
      collect(env.fromCollection(events)
                  .assignTimestampsAndWatermarks(WatermarkStrategy<Event>::forBoundedOutOfOrderness(
                                                     std::chrono::milliseconds(500))
                                                     .withTimestampAssigner(eventTimestamp()))
                  .keyBy([](const Event& e) { return e.first; })
                  .process(CountThenFire(kDelay)));
  ASSERT_OK(env.execute("end of input fires timers"));

  std::map<int64_t, int64_t> total;
  for (const Event& e : events) ++total[e.first];
  std::vector<Fired> fired = out->records();
  EXPECT_THAT(firedTimers(fired), ElementsAreArray(expectedTimers(events, kDelay)));
  for (const auto& [key, time, count, watermark] : fired) {
    EXPECT_EQ(watermark, kMaxWatermark);
    EXPECT_EQ(count, total[key]);
  }
}

// Two sources far apart in event time, unioned and keyed: the keyed operator's watermark is
// the minimum over both inputs' channels, so no record of the slower source is ever late.
TEST_P(EventTimeTest, theMinimumOverUnionedInputsHoldsTheWatermarkBack) {
  std::vector<Event> ahead;
  std::vector<Event> behind;
  for (int64_t i = 0; i < 3000; ++i) {
    ahead.push_back({i % 5, 1'000'000 + i * 2});
    behind.push_back({i % 5, i * 2});
  }
  auto env = makeEnv("0 ms");
  auto strategy =
      WatermarkStrategy<Event>::forMonotonousTimestamps().withTimestampAssigner(eventTimestamp());
  auto a = env.fromCollection(ahead).assignTimestampsAndWatermarks(strategy);
  auto b = env.fromCollection(behind).assignTimestampsAndWatermarks(strategy);
  auto out = collect(
      a.unionWith(b).keyBy([](const Event& e) { return e.first; }).process(CountThenFire(0)));
  ASSERT_OK(env.execute("union watermarks"));

  std::vector<Event> all = ahead;
  all.insert(all.end(), behind.begin(), behind.end());
  std::vector<Fired> fired = out->records();
  for (const auto& [key, time, count, watermark] : fired) {
    ASSERT_GE(count, 0) << "record (" << key << ", " << time << ") arrived after watermark "
                        << watermark;
  }
  EXPECT_THAT(firedTimers(fired), ElementsAreArray(expectedTimers(all, 0)));
}

/// Emits its events, then waits (bounded by a deadline) until `seen` holds a timer fired
/// before the final watermark.
class HoldOpenSource final : public Source<Event> {
 public:
  HoldOpenSource(std::vector<Event> events, std::shared_ptr<CollectedRecords<Fired>> seen)
      : events_(std::move(events)), seen_(std::move(seen)) {}
  int maxParallelism() const override { return 1; }
  std::unique_ptr<SourceReader<Event>> createReader(int, int) const override {
    return std::make_unique<Reader>(*this);
  }

 private:
  class Reader final : public SourceReader<Event> {
   public:
    explicit Reader(const HoldOpenSource& s)
        : source_(s), deadline_(std::chrono::steady_clock::now() + std::chrono::seconds(30)) {}
    Result<InputStatus> pollNext(Output<Event>& output) override {
      if (!emitted_) {
        for (const Event& e : source_.events_) output.push(e);
        emitted_ = true;
        return InputStatus::kMoreAvailable;
      }
      for (const Fired& f : source_.seen_->records()) {
        if (std::get<3>(f) != kMaxWatermark) return InputStatus::kEndOfInput;
      }
      if (std::chrono::steady_clock::now() > deadline_) return InputStatus::kEndOfInput;
      return InputStatus::kNothingAvailable;
    }

   private:
    const HoldOpenSource& source_;
    bool emitted_ = false;
    std::chrono::steady_clock::time_point deadline_;
  };
  std::vector<Event> events_;
  std::shared_ptr<CollectedRecords<Fired>> seen_;
};

TEST_P(EventTimeTest, periodicWatermarksFireTimersWhileTheInputIsOpen) {
  std::vector<Event> events;
  for (int64_t i = 0; i < 1000; ++i) events.push_back({i % 3, i});
  auto env = makeEnv("20 ms");
  auto out = std::make_shared<CollectedRecords<Fired>>();
  env.fromSource<Event>(std::make_shared<HoldOpenSource>(events, out), "Hold Open")
      .assignTimestampsAndWatermarks(
          WatermarkStrategy<Event>::forMonotonousTimestamps().withTimestampAssigner(
              eventTimestamp()))
      .keyBy([](const Event& e) { return e.first; })
      .process(CountThenFire(10))
      .sinkTo(std::make_shared<CollectSink<Fired>>(out));
  ASSERT_OK(env.execute("periodic watermarks"));

  std::vector<Fired> fired = out->records();
  EXPECT_TRUE(std::any_of(fired.begin(), fired.end(), [](const Fired& f) {
    return std::get<3>(f) != kMaxWatermark;
  })) << "no timer fired before the input ended";
  EXPECT_THAT(firedTimers(fired), ElementsAreArray(expectedTimers(events, 10)));
}

TEST_P(EventTimeTest, aThrowingTimestampAssignerFailsTheJobWithItsMessage) {
  std::vector<Event> events = outOfOrderEvents(500, 3, 1);
  auto env = makeEnv("0 ms");
  collect(env.fromCollection(events)
              .assignTimestampsAndWatermarks(
                  WatermarkStrategy<Event>::forMonotonousTimestamps().withTimestampAssigner(
                      [](const Event& e, int64_t) -> int64_t {
                        if (e.second == 300) throw std::runtime_error("no timestamp for 300");
                        return e.second;
                      }))
              .keyBy([](const Event& e) { return e.first; })
              .process(CountThenFire(0)));
  auto result = env.execute("throwing assigner");
  ASSERT_FALSE(result.isOk());
  EXPECT_THAT(result.status().message(), HasSubstr("no timestamp for 300"));
}

INSTANTIATE_TEST_SUITE_P(ParallelismAndBatchSize, EventTimeTest,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4),
                                            ::testing::Values(1, 1024), ::testing::Values(1)),
                         [](const auto& info) {
                           return "p" + std::to_string(std::get<0>(info.param)) + "_rows" +
                                  std::to_string(std::get<1>(info.param));
                         });
INSTANTIATE_TEST_SUITE_P(ThreeTaskManagers, EventTimeTest,
                         ::testing::Combine(::testing::Values(2, 4), ::testing::Values(1, 1024),
                                            ::testing::Values(3)),
                         [](const auto& info) {
                           return "p" + std::to_string(std::get<0>(info.param)) + "_rows" +
                                  std::to_string(std::get<1>(info.param)) + "_tm3";
                         });

}  // namespace
}  // namespace strom
