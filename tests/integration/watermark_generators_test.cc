// Custom watermark generators and idleness on the embedded MiniCluster: a punctuated
// generator's watermarks go downstream exactly after their records, a custom periodic one
// fires event-time timers while the input is open, and an idle source holds the watermark of
// a union back unless its strategy has withIdleness(). Oracles are computed from the input.

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

/// Counts records per key and registers an event-time timer at each record's timestamp; the
/// timer emits the key's count and the watermark.
class CountThenFire final : public KeyedProcessFunction<int64_t, Event, Fired> {
 public:
  void open() override {
    count_ = &getRuntimeContext().getState(ValueStateDescriptor<int64_t>("count"));
  }
  void processElement(const Event& event, Context& ctx, Collector<Fired>&) override {
    if (ctx.timestamp() != event.second) throw std::logic_error("timestamp not assigned");
    const int64_t* count = count_->valuePtr();
    count_->update((count ? *count : 0) + 1);
    ctx.timerService().registerEventTimeTimer(event.second);
  }
  void onTimer(int64_t time, OnTimerContext& ctx, Collector<Fired>& out) override {
    out.collect(Fired{ctx.getCurrentKey(), time, *count_->valuePtr(),
                      ctx.timerService().currentWatermark()});
  }

 private:
  ValueState<int64_t>* count_ = nullptr;
};

std::vector<std::pair<int64_t, int64_t>> firedTimers(const std::vector<Fired>& fired) {
  std::vector<std::pair<int64_t, int64_t>> timers;
  for (const Fired& f : fired) timers.push_back({std::get<0>(f), std::get<1>(f)});
  std::sort(timers.begin(), timers.end());
  return timers;
}

std::vector<std::pair<int64_t, int64_t>> expectedTimers(const std::vector<Event>& events) {
  std::set<std::pair<int64_t, int64_t>> timers;
  for (const Event& e : events) timers.insert({e.first, e.second});
  return {timers.begin(), timers.end()};
}

bool anyFiredBeforeTheEnd(const std::vector<Fired>& fired) {
  return std::any_of(fired.begin(), fired.end(),
                     [](const Fired& f) { return std::get<3>(f) != kMaxWatermark; });
}

auto eventTimestamp() {
  return [](const Event& e, int64_t) { return e.second; };
}

/// Punctuated: emits the record's timestamp as watermark at every record whose timestamp is a
/// multiple of `every` (the input is ascending).
struct EveryNth {
  int64_t every;
  void onEvent(const Event&, int64_t timestamp, WatermarkOutput& output) {
    if (timestamp % every == 0) output.emitWatermark(timestamp);
  }
  void onPeriodicEmit(WatermarkOutput&) {}
};

/// Periodic: the largest timestamp seen minus `lag`; counts the emissions that had seen a
/// record in `ticks` (shared with the test's sources).
struct LagBehindMax {
  int64_t lag;
  std::shared_ptr<std::atomic<int>> ticks;
  int64_t maxTimestamp = std::numeric_limits<int64_t>::min();
  void onEvent(const Event&, int64_t timestamp, WatermarkOutput&) {
    maxTimestamp = std::max(maxTimestamp, timestamp);
  }
  void onPeriodicEmit(WatermarkOutput& output) {
    if (maxTimestamp == std::numeric_limits<int64_t>::min()) return;
    // Relaxed: a counter the sources poll; nothing else is published through it.
    ticks->fetch_add(1, std::memory_order_relaxed);
    output.emitWatermark(maxTimestamp - lag);
  }
};

/// Emits its events, then stays open (emitting nothing) until `fired` holds a timer fired
/// before the final watermark, or `ticks` reached `maxTicks`, or 30 s passed; and, if `after`
/// is set, until `after` is true too. When it ends, sets `ended` (if set) and stores in
/// `firedAtEnd` (if set) how many timers had fired before the final watermark.
class HoldOpenSource final : public Source<Event> {
 public:
  HoldOpenSource(std::vector<Event> events, std::shared_ptr<CollectedRecords<Fired>> fired,
                 std::shared_ptr<std::atomic<int>> ticks, int maxTicks,
                 std::shared_ptr<std::atomic<bool>> after = nullptr,
                 std::shared_ptr<std::atomic<bool>> ended = nullptr,
                 std::shared_ptr<std::atomic<int>> firedAtEnd = nullptr)
      : events_(std::move(events)),
        fired_(std::move(fired)),
        ticks_(std::move(ticks)),
        maxTicks_(maxTicks),
        after_(std::move(after)),
        ended_(std::move(ended)),
        firedAtEnd_(std::move(firedAtEnd)) {}
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
      if (std::chrono::steady_clock::now() > deadline_) return end();
      // Acquire: pairs with the release in end() of the source this one waits for.
      if (source_.after_ != nullptr && !source_.after_->load(std::memory_order_acquire)) {
        return InputStatus::kNothingAvailable;
      }
      if (anyFiredBeforeTheEnd(source_.fired_->records())) return end();
      if (source_.ticks_->load(std::memory_order_relaxed) >= source_.maxTicks_) return end();
      return InputStatus::kNothingAvailable;
    }

   private:
    InputStatus end() {
      if (source_.firedAtEnd_ != nullptr) {
        std::vector<Fired> fired = source_.fired_->records();
        // Relaxed: read by the test after the job finished (joined).
        source_.firedAtEnd_->store(
            static_cast<int>(
                std::count_if(fired.begin(), fired.end(),
                              [](const Fired& f) { return std::get<3>(f) != kMaxWatermark; })),
            std::memory_order_relaxed);
      }
      if (source_.ended_ != nullptr) source_.ended_->store(true, std::memory_order_release);
      return InputStatus::kEndOfInput;
    }

    const HoldOpenSource& source_;
    bool emitted_ = false;
    std::chrono::steady_clock::time_point deadline_;
  };
  std::vector<Event> events_;
  std::shared_ptr<CollectedRecords<Fired>> fired_;
  std::shared_ptr<std::atomic<int>> ticks_;
  int maxTicks_;
  std::shared_ptr<std::atomic<bool>> after_;
  std::shared_ptr<std::atomic<bool>> ended_;
  std::shared_ptr<std::atomic<int>> firedAtEnd_;
};

/// The number of TaskManagers of this suite's MiniClusters, set from the test parameter: with
/// several, tasks on different TaskManagers talk over loopback TCP (remote channels).
int numTaskManagers = 1;

/// Runs every test on one TaskManager and on three.
class WatermarkGeneratorsTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { numTaskManagers = GetParam(); }

  static StreamExecutionEnvironment makeEnv(const std::string& interval, int parallelism) {
    Configuration config;
    config.set("taskmanager.count", std::to_string(numTaskManagers));
    config.set(kAutoWatermarkIntervalKey, interval);
    auto env = StreamExecutionEnvironment::getExecutionEnvironment(config);
    env.setParallelism(parallelism);
    return env;
  }
};

// With one producer, a punctuated watermark w reaches the keyed operator right after the
// record that made it and before every later record: a timer firing at w has counted
// exactly the key's records up to w.
TEST_P(WatermarkGeneratorsTest, punctuatedWatermarksFireTimersExactlyAfterTheirRecord) {
  std::vector<Event> events;
  for (int64_t i = 0; i < 3000; ++i) events.push_back({i % 4, i});
  auto env = makeEnv("1 h", 1);  // periodic emission never runs
  auto fired = std::make_shared<CollectedRecords<Fired>>();
  env.fromCollection(events)
      .assignTimestampsAndWatermarks(WatermarkStrategy<Event>::forGenerator([] {
                                       return EveryNth{100};
                                     }).withTimestampAssigner(eventTimestamp()))
      .keyBy([](const Event& e) { return e.first; })
      .process(CountThenFire())
      .sinkTo(std::make_shared<CollectSink<Fired>>(fired));
  ASSERT_OK(env.execute("punctuated watermarks"));

  std::vector<Fired> records = fired->records();
  EXPECT_THAT(firedTimers(records), ElementsAreArray(expectedTimers(events)));
  for (const auto& [key, time, count, watermark] : records) {
    // The oracle: the first punctuation at or after the timer, else the final watermark.
    int64_t expectedWatermark = (time + 99) / 100 * 100;
    if (expectedWatermark > 2999) expectedWatermark = kMaxWatermark;
    ASSERT_EQ(watermark, expectedWatermark) << "key " << key << " timer " << time;
    int64_t upTo = watermark == kMaxWatermark ? 2999 : watermark;
    int64_t expectedCount = 0;
    for (const Event& e : events) expectedCount += e.first == key && e.second <= upTo;
    ASSERT_EQ(count, expectedCount) << "key " << key << " timer " << time;
  }
}

TEST_P(WatermarkGeneratorsTest, aCustomPeriodicGeneratorFiresTimersWhileTheInputIsOpen) {
  std::vector<Event> events;
  for (int64_t i = 0; i < 1000; ++i) events.push_back({i % 3, i});
  auto env = makeEnv("10 ms", 2);
  auto fired = std::make_shared<CollectedRecords<Fired>>();
  auto ticks = std::make_shared<std::atomic<int>>(0);
  env.fromSource<Event>(std::make_shared<HoldOpenSource>(events, fired, ticks, 1 << 30),
                        "Hold Open")
      .assignTimestampsAndWatermarks(WatermarkStrategy<Event>::forGenerator([ticks] {
                                       return LagBehindMax{50, ticks};
                                     }).withTimestampAssigner(eventTimestamp()))
      .keyBy([](const Event& e) { return e.first; })
      .process(CountThenFire())
      .sinkTo(std::make_shared<CollectSink<Fired>>(fired));
  ASSERT_OK(env.execute("custom periodic watermarks"));

  std::vector<Fired> records = fired->records();
  EXPECT_TRUE(anyFiredBeforeTheEnd(records)) << "no timer fired before the input ended";
  EXPECT_THAT(firedTimers(records), ElementsAreArray(expectedTimers(events)));
  for (const auto& [key, time, count, watermark] : records) {
    if (watermark == kMaxWatermark) continue;
    EXPECT_GE(watermark, time);
    EXPECT_LE(watermark, 999 - 50) << "key " << key << " timer " << time;
  }
}

/// A union of a source that sends 1000 events and one that sends nothing; the busy one stays
/// open until a timer fired before the final watermark, or until the generators ran
/// `maxTicks` periodic emissions after seeing records, and the silent one until then too.
/// Returns the fired timers, and how many of them had fired when the silent source ended.
struct SilentSourceRun {
  std::vector<Fired> fired;
  int firedWhileSilentWasOpen = 0;
};
SilentSourceRun runWithSilentSource(std::chrono::milliseconds idleness, int maxTicks,
                                    std::vector<Event>& events) {
  for (int64_t i = 0; i < 1000; ++i) events.push_back({i % 5, i});
  StreamExecutionEnvironment env = [] {
    Configuration config;
    config.set("taskmanager.count", std::to_string(numTaskManagers));
    config.set(kAutoWatermarkIntervalKey, "10 ms");
    auto e = StreamExecutionEnvironment::getExecutionEnvironment(config);
    e.setParallelism(2);
    return e;
  }();
  auto fired = std::make_shared<CollectedRecords<Fired>>();
  auto ticks = std::make_shared<std::atomic<int>>(0);
  auto strategy = WatermarkStrategy<Event>::forGenerator([ticks] {
                    return LagBehindMax{0, ticks};
                  })
                      .withTimestampAssigner(eventTimestamp())
                      .withIdleness(idleness);
  // The silent source ends only after the busy one: were it first, its end alone would let
  // the watermark advance.
  auto busyEnded = std::make_shared<std::atomic<bool>>(false);
  auto firedAtEnd = std::make_shared<std::atomic<int>>(-1);
  auto busy = env.fromSource<Event>(std::make_shared<HoldOpenSource>(events, fired, ticks, maxTicks,
                                                                     nullptr, busyEnded),
                                    "Busy")
                  .assignTimestampsAndWatermarks(strategy);
  auto silent = env.fromSource<Event>(
                       std::make_shared<HoldOpenSource>(std::vector<Event>{}, fired, ticks,
                                                        maxTicks, busyEnded, nullptr, firedAtEnd),
                       "Silent")
                    .assignTimestampsAndWatermarks(strategy);
  busy.unionWith(silent)
      .keyBy([](const Event& e) { return e.first; })
      .process(CountThenFire())
      .sinkTo(std::make_shared<CollectSink<Fired>>(fired));
  Status status = env.execute("silent source").status();
  EXPECT_OK(status);
  return {fired->records(), firedAtEnd->load(std::memory_order_relaxed)};
}

TEST_P(WatermarkGeneratorsTest, aSilentSourceHoldsTheWatermarkBackUntilItEnds) {
  std::vector<Event> events;
  // 30 emissions of 10 ms after the records: well past the 50 ms the next test idles after.
  SilentSourceRun run = runWithSilentSource(std::chrono::milliseconds(0), 30, events);
  EXPECT_EQ(run.firedWhileSilentWasOpen, 0) << "a timer fired while the silent source was open";
  EXPECT_THAT(firedTimers(run.fired), ElementsAreArray(expectedTimers(events)));
}

TEST_P(WatermarkGeneratorsTest, withIdlenessASilentSourceNoLongerHoldsTheWatermarkBack) {
  std::vector<Event> events;
  SilentSourceRun run = runWithSilentSource(std::chrono::milliseconds(50), 1 << 30, events);
  EXPECT_GT(run.firedWhileSilentWasOpen, 0) << "no timer fired while the silent source was open";
  EXPECT_THAT(firedTimers(run.fired), ElementsAreArray(expectedTimers(events)));
  for (const auto& [key, time, count, watermark] : run.fired) {
    if (watermark == kMaxWatermark) continue;
    EXPECT_GE(watermark, time);
    EXPECT_LE(watermark, 999);
    int64_t arrived = 0;
    for (const Event& e : events) arrived += e.first == key && e.second <= watermark;
    EXPECT_GE(count, arrived) << "key " << key << " timer " << time;
  }
}

TEST_P(WatermarkGeneratorsTest, aThrowingGeneratorFailsTheJobWithItsMessage) {
  struct Throwing {
    void onEvent(const Event& e, int64_t, WatermarkOutput&) {
      if (e.second == 42) throw std::runtime_error("generator rejects 42");
    }
    void onPeriodicEmit(WatermarkOutput&) {}
  };
  std::vector<Event> events;
  for (int64_t i = 0; i < 100; ++i) events.push_back({i % 2, i});
  auto env = makeEnv("0 ms", 1);
  env.fromCollection(events)
      .assignTimestampsAndWatermarks(WatermarkStrategy<Event>::forGenerator([] {
                                       return Throwing{};
                                     }).withTimestampAssigner(eventTimestamp()))
      .keyBy([](const Event& e) { return e.first; })
      .process(CountThenFire())
      .sinkTo(std::make_shared<CollectSink<Fired>>(std::make_shared<CollectedRecords<Fired>>()));
  auto result = env.execute("throwing generator");
  ASSERT_FALSE(result.isOk());
  EXPECT_THAT(result.status().message(), HasSubstr("generator rejects 42"));
}

INSTANTIATE_TEST_SUITE_P(TaskManagers, WatermarkGeneratorsTest, ::testing::Values(1, 3),
                         [](const auto& info) { return "tm" + std::to_string(info.param); });

}  // namespace
}  // namespace strom
