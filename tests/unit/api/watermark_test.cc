// TimestampsAndWatermarksOperator driven directly, with a fake OperatorContext whose
// processing time the test sets: punctuated watermarks split a batch exactly, periodic
// generators and idleness run on the processing-time callback.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/config.h>
#include <strom/watermark.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace strom {
namespace {

using ::testing::ElementsAre;

class FakeContext final : public OperatorContext {
 public:
  explicit FakeContext(std::string interval) { config_.set(kAutoWatermarkIntervalKey, interval); }
  const std::string& operatorName() const override { return name_; }
  const std::string& taskName() const override { return name_; }
  int subtaskIndex() const override { return 0; }
  int parallelism() const override { return 1; }
  int maxParallelism() const override { return 128; }
  int attemptNumber() const override { return 0; }
  int64_t currentProcessingTime() override { return now; }
  void requestProcessingTimeCallback(int64_t time) override { requested = time; }
  void failTask(Status status) override { failure = std::move(status); }
  const Configuration& configuration() const override { return config_; }
  MetricGroup& metricGroup() override { return metrics_; }

  int64_t now = 1000;
  int64_t requested = std::numeric_limits<int64_t>::max();
  Status failure;

 private:
  std::string name_ = "test";
  Configuration config_;
  MetricGroup metrics_;
};

/// Records what reaches it, in order: "r<value>@<timestamp>", "w<watermark>", "idle", "active".
class Recorder final : public Input<int64_t> {
 public:
  void processBatch(RecordBatch<int64_t>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      events.push_back("r" + std::to_string(batch[i]) + "@" + std::to_string(batch.timestamp(i)));
    }
  }
  void processWatermark(int64_t watermark) override {
    events.push_back("w" + std::to_string(watermark));
  }
  void processWatermarkStatus(bool idle) override { events.push_back(idle ? "idle" : "active"); }
  std::vector<std::string> events;
};

/// Emits a watermark at every record whose value is a multiple of 10 (punctuated).
struct EveryTenth {
  void onEvent(const int64_t& value, int64_t timestamp, WatermarkOutput& output) {
    if (value % 10 == 0) output.emitWatermark(timestamp);
  }
  void onPeriodicEmit(WatermarkOutput&) {}
};

/// Emits the number of records seen so far at every periodic emission.
struct CountingPeriodic {
  int64_t count = 0;
  void onEvent(const int64_t&, int64_t, WatermarkOutput&) { ++count; }
  void onPeriodicEmit(WatermarkOutput& output) { output.emitWatermark(count); }
};

template <class Strategy>
auto makeOperator(const Strategy& strategy, size_t batchRows = 64) {
  return std::make_unique<
      detail::TimestampsAndWatermarksOperator<int64_t, std::decay_t<decltype(strategy.assigner())>,
                                              std::decay_t<decltype(strategy.generatorFactory())>>>(
      batchRows, strategy);
}

RecordBatch<int64_t> batchOf(std::vector<int64_t> values) {
  RecordBatch<int64_t> batch;
  for (int64_t v : values) batch.push(v);
  return batch;
}

auto valueAsTimestamp() {
  return [](const int64_t& value, int64_t) { return value; };
}

TEST(WatermarkTest, aPunctuatedWatermarkGoesRightAfterItsRecord) {
  auto strategy = WatermarkStrategy<int64_t>::forGenerator([] {
                    return EveryTenth{};
                  }).withTimestampAssigner(valueAsTimestamp());
  auto op = makeOperator(strategy);
  FakeContext context("1 h");
  Recorder recorder;
  ASSERT_TRUE(op->mainOutput()->connect(recorder, "recorder").isOk());
  op->open(context);
  auto batch = batchOf({7, 10, 11, 12, 20, 30, 31});
  op->processBatch(batch);
  op->flushOutputs();
  EXPECT_THAT(recorder.events, ElementsAre("r7@7", "r10@10", "w10", "r11@11", "r12@12", "r20@20",
                                           "w20", "r30@30", "w30", "r31@31"));
}

TEST(WatermarkTest, aBatchWithoutWatermarkIsHandedOnInPlace) {
  auto strategy = WatermarkStrategy<int64_t>::forGenerator([] {
                    return EveryTenth{};
                  }).withTimestampAssigner(valueAsTimestamp());
  auto op = makeOperator(strategy);
  FakeContext context("1 h");
  Recorder recorder;
  ASSERT_TRUE(op->mainOutput()->connect(recorder, "recorder").isOk());
  op->open(context);
  auto batch = batchOf({1, 2, 3});
  op->processBatch(batch);
  // Emitted in place: the records reached the consumer without a flush.
  EXPECT_THAT(recorder.events, ElementsAre("r1@1", "r2@2", "r3@3"));
}

TEST(WatermarkTest, punctuatedWatermarksThatDoNotAdvanceAreDropped) {
  auto strategy = WatermarkStrategy<int64_t>::forGenerator([] {
                    return EveryTenth{};
                  }).withTimestampAssigner([](const int64_t& v, int64_t) { return 100 - v; });
  auto op = makeOperator(strategy);
  FakeContext context("1 h");
  Recorder recorder;
  ASSERT_TRUE(op->mainOutput()->connect(recorder, "recorder").isOk());
  op->open(context);
  auto batch = batchOf({10, 20, 0});
  op->processBatch(batch);
  op->flushOutputs();
  EXPECT_THAT(recorder.events, ElementsAre("r10@90", "w90", "r20@80", "r0@100", "w100"));
}

TEST(WatermarkTest, aPeriodicGeneratorEmitsOnTheProcessingTimeCallback) {
  auto strategy = WatermarkStrategy<int64_t>::forGenerator([] { return CountingPeriodic{}; });
  auto op = makeOperator(strategy);
  FakeContext context("100 ms");
  Recorder recorder;
  ASSERT_TRUE(op->mainOutput()->connect(recorder, "recorder").isOk());
  op->open(context);
  EXPECT_EQ(context.requested, 1100);
  auto batch = batchOf({5, 6});
  op->processBatch(batch);
  op->onProcessingTime(1100);
  EXPECT_EQ(context.requested, 1200);
  op->onProcessingTime(1200);  // no new record: the watermark does not advance
  EXPECT_THAT(recorder.events, ElementsAre("r5@" + std::to_string(kNoTimestamp),
                                           "r6@" + std::to_string(kNoTimestamp), "w2"));
}

TEST(WatermarkTest, idlenessMarksTheOutputIdleAndARecordActiveAgain) {
  auto strategy = WatermarkStrategy<int64_t>::forBoundedOutOfOrderness(std::chrono::milliseconds(0))
                      .withTimestampAssigner(valueAsTimestamp())
                      .withIdleness(std::chrono::milliseconds(250));
  auto op = makeOperator(strategy);
  FakeContext context("100 ms");
  Recorder recorder;
  ASSERT_TRUE(op->mainOutput()->connect(recorder, "recorder").isOk());
  op->open(context);  // at 1000
  auto batch = batchOf({50});
  op->processBatch(batch);
  op->onProcessingTime(1100);  // activity since open: not idle
  op->onProcessingTime(1200);
  op->onProcessingTime(1300);  // 200 ms without a record
  EXPECT_THAT(recorder.events, ElementsAre("r50@50", "w49"));
  op->onProcessingTime(1350);  // 250 ms without a record
  EXPECT_THAT(recorder.events, ElementsAre("r50@50", "w49", "idle"));
  op->onProcessingTime(1450);  // stays idle, once
  auto next = batchOf({60, 61});
  op->processBatch(next);
  op->onProcessingTime(1550);
  EXPECT_THAT(recorder.events,
              ElementsAre("r50@50", "w49", "idle", "active", "r60@60", "r61@61", "w60"));
}

TEST(WatermarkTest, aSourceThatNeverSendsGoesIdleAfterTheTimeout) {
  auto strategy = WatermarkStrategy<int64_t>::forMonotonousTimestamps().withIdleness(
      std::chrono::milliseconds(100));
  auto op = makeOperator(strategy);
  FakeContext context("0 ms");  // no periodic emission: idleness is checked every timeout
  Recorder recorder;
  ASSERT_TRUE(op->mainOutput()->connect(recorder, "recorder").isOk());
  op->open(context);
  EXPECT_EQ(context.requested, 1100);
  op->onProcessingTime(1100);
  EXPECT_THAT(recorder.events, ElementsAre("idle"));
  // The final watermark marks the output active before it goes downstream.
  op->processWatermark(std::numeric_limits<int64_t>::max());
  EXPECT_THAT(
      recorder.events,
      ElementsAre("idle", "active", "w" + std::to_string(std::numeric_limits<int64_t>::max())));
}

TEST(WatermarkTest, upstreamWatermarksAndStatusesAreReplaced) {
  auto op = makeOperator(WatermarkStrategy<int64_t>::forMonotonousTimestamps());
  FakeContext context("1 h");
  Recorder recorder;
  ASSERT_TRUE(op->mainOutput()->connect(recorder, "recorder").isOk());
  op->open(context);
  op->processWatermark(5);
  op->processWatermarkStatus(true);
  EXPECT_TRUE(recorder.events.empty());
}

TEST(WatermarkTest, theBuiltInStrategiesKeepTheirOutOfOrderness) {
  auto strategy =
      WatermarkStrategy<int64_t>::forBoundedOutOfOrderness(std::chrono::milliseconds(-5));
  EXPECT_EQ(strategy.outOfOrderness(), std::chrono::milliseconds(0));
  EXPECT_EQ(strategy.idleTimeout(), std::chrono::milliseconds(0));
  auto idle = strategy.withIdleness(std::chrono::seconds(1));
  EXPECT_EQ(idle.outOfOrderness(), std::chrono::milliseconds(0));
  EXPECT_EQ(idle.idleTimeout(), std::chrono::milliseconds(1000));
}

}  // namespace
}  // namespace strom
