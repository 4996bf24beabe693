// Two-input operators driven directly, without a task: the interval join's handling of late
// records and its buffer cleanup, and the counters operators register.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/config.h>
#include <strom/detail/co_operators.h>

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace strom {
namespace {

using ::testing::ElementsAre;
using Keyed = std::pair<int64_t, int64_t>;                      // key, timestamp
using Joined = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // key, left, right, timestamp

/// An operator context for one subtask of parallelism 1, with a fixed processing time.
class FakeContext final : public OperatorContext {
 public:
  const std::string& operatorName() const override { return name_; }
  const std::string& taskName() const override { return name_; }
  int subtaskIndex() const override { return 0; }
  int parallelism() const override { return 1; }
  int maxParallelism() const override { return 128; }
  int attemptNumber() const override { return 0; }
  int64_t currentProcessingTime() override { return 0; }
  void requestProcessingTimeCallback(int64_t) override {}
  void failTask(Status status) override { failure = std::move(status); }
  const Configuration& configuration() const override { return configuration_; }
  MetricGroup& metricGroup() override { return metrics; }

  MetricGroup metrics;
  Status failure;

 private:
  std::string name_ = "Interval Join";
  Configuration configuration_;
};

/// Collects what an operator emits, with timestamps.
class Sink final : public Input<Joined> {
 public:
  void processBatch(RecordBatch<Joined>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) records.push_back(batch[i]);
  }
  std::vector<Joined> records;
};

class EmitPair final : public ProcessJoinFunction<Keyed, Keyed, Joined> {
 public:
  void processElement(const Keyed& left, const Keyed& right, Context& ctx,
                      Collector<Joined>& out) override {
    out.collect(Joined{left.first, left.second, right.second, ctx.getTimestamp()});
  }
};

struct KeyOf {
  int64_t operator()(const Keyed& k) const { return k.first; }
};
using Join = detail::IntervalJoinOperator<int64_t, Keyed, Keyed, Joined, KeyOf, KeyOf, EmitPair>;

RecordBatch<Keyed> batchOf(std::vector<Keyed> records) {
  RecordBatch<Keyed> batch;
  for (const Keyed& k : records) batch.push(k, k.second);
  return batch;
}

class IntervalJoinOperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(join_.mainOutput()->connect(sink_, "sink").isOk());
    join_.open(context_);
  }
  void left(std::vector<Keyed> records) {
    RecordBatch<Keyed> batch = batchOf(std::move(records));
    join_.processBatch1(batch);
  }
  void right(std::vector<Keyed> records) {
    RecordBatch<Keyed> batch = batchOf(std::move(records));
    join_.processBatch2(batch);
  }
  int64_t lateDropped() { return context_.metrics.counter("numLateRecordsDropped").getCount(); }

  FakeContext context_;
  Sink sink_;
  Join join_{16, KeyOf{}, KeyOf{}, detail::IntervalBounds{-5, 10}, EmitPair{}};
};

TEST_F(IntervalJoinOperatorTest, joinsBothWaysWithinTheBoundsInclusive) {
  left({{1, 100}});
  right({{1, 95}, {1, 94}, {1, 110}, {1, 111}, {2, 100}});
  left({{1, 101}});
  EXPECT_THAT(sink_.records, ElementsAre(Joined{1, 100, 95, 100}, Joined{1, 100, 110, 110},
                                         Joined{1, 101, 110, 110}, Joined{1, 101, 111, 111}));
}

TEST_F(IntervalJoinOperatorTest, recordsBehindTheWatermarkAreDroppedAndCounted) {
  join_.processWatermark(200);
  left({{1, 150}, {1, 250}});
  right({{1, 199}, {1, 255}});
  EXPECT_EQ(lateDropped(), 2);
  EXPECT_THAT(sink_.records, ElementsAre(Joined{1, 250, 255, 255}));
}

TEST_F(IntervalJoinOperatorTest, theWatermarkDropsBuffersNoPartnerCanJoinAnyMore) {
  left({{1, 100}});
  right({{1, 100}});
  // Left 100 can still meet right records up to 110, right 100 left records up to 105.
  join_.processWatermark(109);
  EXPECT_EQ(join_.keyedStateBackend()->numKeys(), 1u);
  right({{1, 110}});  // joins left 100
  join_.processWatermark(110);
  EXPECT_EQ(join_.keyedStateBackend()->numKeys(), 1u);  // right 110 is buffered
  join_.processWatermark(125);
  EXPECT_EQ(join_.keyedStateBackend()->numKeys(), 0u);  // every buffer dropped: key erased
  EXPECT_THAT(sink_.records, ElementsAre(Joined{1, 100, 100, 100}, Joined{1, 100, 110, 110}));
  EXPECT_EQ(lateDropped(), 0);
}

}  // namespace
}  // namespace strom
