// Watermarks per source split (fromSource with a WatermarkStrategy) on the embedded
// MiniCluster: each split of a reader has its own generator and the source's watermark is the
// minimum over its splits, so a split far behind in event time has no late records, where one
// generator for the whole reader makes many; a released split no longer holds the watermark.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom {
namespace {

using Event = std::pair<int64_t, int64_t>;  // key, event timestamp

constexpr int64_t kMaxWatermark = std::numeric_limits<int64_t>::max();

/// Per record: 1 if it was behind the watermark when it arrived (late), else 0. Per timer
/// (one per record time, 2 ms after it): the watermark when it fired.
using Seen = std::tuple<int64_t, int64_t, bool>;  // timestamp, watermark, is a timer

class SeeLateness final : public KeyedProcessFunction<int64_t, Event, Seen> {
 public:
  void processElement(const Event& e, Context& ctx, Collector<Seen>& out) override {
    if (ctx.timestamp() != e.second) throw std::logic_error("timestamp not assigned");
    out.collect(Seen{e.second, ctx.timerService().currentWatermark(), false});
    ctx.timerService().registerEventTimeTimer(e.second + 2);
  }
  void onTimer(int64_t time, OnTimerContext& ctx, Collector<Seen>& out) override {
    out.collect(Seen{time, ctx.timerService().currentWatermark(), true});
  }
};

/// Each reader has two splits: "ahead", with timestamps 100'000 + 2i, and "behind", with
/// timestamps 2i + 1, emitted in alternating runs of `run` records. With `releaseBehindAfter`
/// >= 0, the behind split ends (is released) after that many records.
class TwoSplitSource final : public Source<Event> {
 public:
  TwoSplitSource(int64_t perSplit, int64_t run, int64_t releaseBehindAfter)
      : perSplit_(perSplit), run_(run), releaseBehindAfter_(releaseBehindAfter) {}
  std::unique_ptr<SourceReader<Event>> createReader(int subtask, int) const override {
    return std::make_unique<Reader>(*this, subtask);
  }

 private:
  class Reader final : public SourceReader<Event> {
   public:
    Reader(const TwoSplitSource& source, int subtask) : source_(source), key_(subtask) {}
    Result<InputStatus> pollNext(ReaderOutput<Event>& output) override {
      SourceOutput<Event>& ahead = output.createOutputForSplit("ahead");
      for (int64_t i = 0; i < source_.run_ && nextAhead_ < source_.perSplit_; ++i) {
        const int64_t t = 100'000 + 2 * nextAhead_++;
        ahead.collect(Event{key_, t}, t);
      }
      bool behindOpen =
          source_.releaseBehindAfter_ < 0 || nextBehind_ < source_.releaseBehindAfter_;
      if (behindOpen && nextBehind_ < source_.perSplit_) {
        SourceOutput<Event>& behind = output.createOutputForSplit("behind");
        for (int64_t i = 0; i < source_.run_ && nextBehind_ < source_.perSplit_; ++i) {
          const int64_t t = 2 * nextBehind_++ + 1;
          behind.collect(Event{key_, t}, t);
        }
        if (source_.releaseBehindAfter_ >= 0 && nextBehind_ >= source_.releaseBehindAfter_) {
          output.releaseOutputForSplit("behind");
        }
      }
      bool done =
          nextAhead_ >= source_.perSplit_ &&
          (nextBehind_ >= source_.perSplit_ ||
           (source_.releaseBehindAfter_ >= 0 && nextBehind_ >= source_.releaseBehindAfter_));
      return done ? InputStatus::kEndOfInput : InputStatus::kMoreAvailable;
    }

   private:
    const TwoSplitSource& source_;
    int64_t key_;
    int64_t nextAhead_ = 0;
    int64_t nextBehind_ = 0;
  };
  int64_t perSplit_;
  int64_t run_;
  int64_t releaseBehindAfter_;
};

/// The assigner keeps the timestamp the source gave each record, and checks it is there.
struct KeepRecordTimestamp {
  int64_t operator()(const Event&, int64_t recordTimestamp) const {
    if (recordTimestamp == kNoTimestamp) throw std::logic_error("the source set no timestamp");
    return recordTimestamp;
  }
};

/// Per record: its timestamp and the watermark of its operator when it arrived. Chained to
/// the source, so the watermark is the source subtask's own (a keyed operator further down
/// combines the watermarks of every source subtask, whose arrival order is up to the
/// scheduler and whose adjacent watermarks the network may coalesce).
class SeeWatermark final : public ProcessFunction<Event, Seen> {
 public:
  void processElement(const Event& e, Context& ctx, Collector<Seen>& out) override {
    out.collect(Seen{e.second, ctx.timerService().currentWatermark(), false});
  }
};

/// Parameters: parallelism, number of TaskManagers (tasks on different TaskManagers exchange
/// data over loopback TCP).
class SourceWatermarksTest : public ::testing::TestWithParam<std::tuple<int, int>> {
 protected:
  StreamExecutionEnvironment makeEnv() {
    Configuration config;
    config.set("execution.batch.rows", "64");
    config.set("taskmanager.count", std::to_string(std::get<1>(GetParam())));
    config.set(kAutoWatermarkIntervalKey, "0 ms");
    auto env = StreamExecutionEnvironment::getExecutionEnvironment(config);
    env.setParallelism(std::get<0>(GetParam()));
    return env;
  }
  static auto strategy() {
    return WatermarkStrategy<Event>::forBoundedOutOfOrderness(std::chrono::milliseconds(10))
        .withTimestampAssigner(KeepRecordTimestamp{});
  }
  static std::shared_ptr<CollectedRecords<Seen>> collect(const DataStream<Event>& events) {
    auto out = std::make_shared<CollectedRecords<Seen>>();
    events.keyBy([](const Event& e) { return e.first; })
        .process(SeeLateness())
        .sinkTo(std::make_shared<CollectSink<Seen>>(out));
    return out;
  }
  /// SeeWatermark chained to `events`.
  static std::shared_ptr<CollectedRecords<Seen>> collectChained(const DataStream<Event>& events) {
    auto out = std::make_shared<CollectedRecords<Seen>>();
    events.process(SeeWatermark()).sinkTo(std::make_shared<CollectSink<Seen>>(out));
    return out;
  }
  static int64_t lateRecords(const std::vector<Seen>& seen) {
    int64_t late = 0;
    for (const auto& [timestamp, watermark, timer] : seen) late += !timer && timestamp <= watermark;
    return late;
  }
};

TEST_P(SourceWatermarksTest, theSourceWatermarkIsTheMinimumOverItsSplits) {
  constexpr int64_t kPerSplit = 3000;
  auto env = makeEnv();
  auto perSplit = collect(env.fromSource<Event>(std::make_shared<TwoSplitSource>(kPerSplit, 50, -1),
                                                strategy(), "Two splits"));
  ASSERT_OK(env.execute("per-split watermarks"));
  std::vector<Seen> seen = perSplit->records();
  EXPECT_EQ(lateRecords(seen), 0);
  int64_t timers = 0;
  for (const auto& [timestamp, watermark, timer] : seen) {
    if (!timer) continue;
    ++timers;
    EXPECT_GE(watermark, timestamp);
  }
  EXPECT_EQ(timers, 2 * kPerSplit * std::get<0>(GetParam()));

  // The same records through one generator for the whole stream: the behind split is late.
  auto env2 = makeEnv();
  auto oneGenerator = collectChained(
      env2.fromSource<Event>(std::make_shared<TwoSplitSource>(kPerSplit, 50, -1), "Two splits")
          .assignTimestampsAndWatermarks(strategy()));
  ASSERT_OK(env2.execute("one generator"));
  EXPECT_GT(lateRecords(oneGenerator->records()), kPerSplit / 2);
}

TEST_P(SourceWatermarksTest, aReleasedSplitNoLongerHoldsTheWatermarkBack) {
  constexpr int64_t kPerSplit = 3000;
  auto env = makeEnv();
  auto out = collectChained(env.fromSource<Event>(
      std::make_shared<TwoSplitSource>(kPerSplit, 50, /*releaseBehindAfter=*/500), strategy(),
      "Released split"));
  ASSERT_OK(env.execute("released split"));
  std::vector<Seen> seen = out->records();
  EXPECT_EQ(lateRecords(seen), 0);
  // The behind split ends after its 500th record, when the ahead split has emitted 500 of its
  // 3000: from then on the source's watermark follows the ahead split while the input runs.
  int64_t pastBehind = 0;
  for (const auto& [timestamp, watermark, timer] : seen) {
    pastBehind += timestamp >= 100'000 && watermark >= 100'000 && watermark != kMaxWatermark;
  }
  EXPECT_GT(pastBehind, kPerSplit / 2 * std::get<0>(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Parallelism, SourceWatermarksTest,
                         ::testing::Combine(::testing::Values(1, 2, 3), ::testing::Values(1)));
INSTANTIATE_TEST_SUITE_P(ThreeTaskManagers, SourceWatermarksTest,
                         ::testing::Combine(::testing::Values(2, 3), ::testing::Values(3)));

}  // namespace
}  // namespace strom
