#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/operator.h>
#include <strom/record_batch.h>

#include <string>
#include <string_view>
#include <vector>

namespace strom {
namespace {

using ::testing::ElementsAre;

template <class T>
class Collect final : public Input<T> {
 public:
  void processBatch(RecordBatch<T>& batch) override {
    sizes.push_back(batch.size());
    for (T& v : batch) records.push_back(std::move(v));
  }
  std::vector<size_t> sizes;
  std::vector<T> records;
};

TEST(RecordBatchTest, timestampsAppearOnlyOnceOneIsSet) {
  RecordBatch<int> batch;
  batch.push(1);
  batch.push(2);
  EXPECT_FALSE(batch.hasTimestamps());
  batch.push(3, 30);
  ASSERT_TRUE(batch.hasTimestamps());
  EXPECT_EQ(batch.timestamp(0), kNoTimestamp);
  EXPECT_EQ(batch.timestamp(2), 30);
  batch.clear();
  EXPECT_FALSE(batch.hasTimestamps());
}

TEST(RecordBatchTest, mutableTimestampsCoverEveryRecord) {
  RecordBatch<int> batch;
  batch.push(1);
  batch.push(2);
  auto timestamps = batch.mutableTimestamps();
  ASSERT_EQ(timestamps.size(), 2u);
  EXPECT_EQ(timestamps[0], kNoTimestamp);
  timestamps[1] = 20;
  EXPECT_EQ(batch.timestamp(0), kNoTimestamp);
  EXPECT_EQ(batch.timestamp(1), 20);
}

TEST(RecordBatchTest, outputHandsOnPendingRecordsBeforeAWatermark) {
  struct Recorder final : public Input<int> {
    void processBatch(RecordBatch<int>& batch) override {
      for (int v : batch) events.push_back("record " + std::to_string(v));
    }
    void processWatermark(int64_t watermark) override {
      events.push_back("watermark " + std::to_string(watermark));
    }
    std::vector<std::string> events;
  };
  Output<int> output(16);
  Recorder a;
  Recorder b;
  ASSERT_TRUE(output.connect(a, "a").isOk());
  ASSERT_TRUE(output.connect(b, "b").isOk());
  output.push(1);
  output.push(2);
  output.emitWatermark(7);
  output.push(3);
  output.flush();
  EXPECT_THAT(a.events, ElementsAre("record 1", "record 2", "watermark 7", "record 3"));
  EXPECT_EQ(a.events, b.events);
}

TEST(RecordBatchTest, collectorArenaCopiesLiveAsLongAsTheirBatch) {
  struct Recorder final : public Input<std::string_view> {
    void processBatch(RecordBatch<std::string_view>& batch) override {
      sizes.push_back(batch.size());
      for (std::string_view v : batch) values.emplace_back(v);
    }
    std::vector<size_t> sizes;
    std::vector<std::string> values;
  };
  Output<std::string_view> output(2);  // batches fill (and their arenas reset) mid-stream
  Recorder recorder;
  ASSERT_TRUE(output.connect(recorder, "recorder").isOk());
  Collector<std::string_view> collector(&output);
  std::string state;
  for (int i = 0; i < 5; ++i) {
    state = "a value longer than the small-string buffer, number " + std::to_string(i);
    collector.collect(collector.arena().copy(state));
  }
  state.assign(state.size(), 'x');
  output.flush();
  EXPECT_THAT(recorder.sizes, ElementsAre(2u, 2u, 1u));
  ASSERT_EQ(recorder.values.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(recorder.values[i],
              "a value longer than the small-string buffer, number " + std::to_string(i));
  }
}

TEST(RecordBatchTest, retainIfKeepsOrderAndTimestamps) {
  RecordBatch<std::string> strings;
  for (int i = 0; i < 10; ++i) strings.push(std::to_string(i), i * 10);
  strings.retainIf([](const std::string& s) { return (s[0] - '0') % 3 == 0; });
  EXPECT_THAT(std::vector<std::string>(strings.begin(), strings.end()),
              ElementsAre("0", "3", "6", "9"));
  EXPECT_EQ(strings.timestamp(1), 30);
  RecordBatch<int64_t> numbers;
  numbers.appendGenerated(10, [](size_t i) { return static_cast<int64_t>(i); });
  numbers.retainIf([](int64_t v) { return v % 2 == 1; });
  EXPECT_THAT(std::vector<int64_t>(numbers.begin(), numbers.end()), ElementsAre(1, 3, 5, 7, 9));
}

TEST(RecordBatchTest, outputHandsOnFullBatchesAndCopiesForAllButTheLastConsumer) {
  Output<std::string> output(3);
  Collect<std::string> first;
  Collect<std::string> second;
  ASSERT_TRUE(output.connect(first, "first").isOk());
  ASSERT_TRUE(output.connect(second, "second").isOk());
  for (int i = 0; i < 7; ++i) output.push(std::to_string(i));
  output.flush();
  EXPECT_THAT(first.sizes, ElementsAre(3, 3, 1));
  EXPECT_THAT(first.records, ElementsAre("0", "1", "2", "3", "4", "5", "6"));
  EXPECT_EQ(second.records, first.records);  // the first consumer moved out of a copy
}

TEST(RecordBatchTest, outputRejectsAConsumerOfAnotherType) {
  Output<int> output;
  Collect<std::string> strings;
  EXPECT_EQ(output.connect(strings, "strings").code(), StatusCode::kInternal);
}

TEST(RecordBatchTest, userExceptionsAreTaggedWithTheConsumer) {
  class Throwing final : public Input<int> {
   public:
    void processBatch(RecordBatch<int>&) override { throw std::runtime_error("bad record"); }
  };
  Output<int> output;
  Throwing throwing;
  ASSERT_TRUE(output.connect(throwing, "Exploder").isOk());
  output.push(1);
  try {
    output.flush();
    FAIL() << "no exception";
  } catch (const OperatorError& e) {
    EXPECT_EQ(e.operatorName(), "Exploder");
    EXPECT_STREQ(e.what(), "bad record");
  }
}

}  // namespace
}  // namespace strom
