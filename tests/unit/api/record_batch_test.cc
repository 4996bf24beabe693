#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/operator.h>
#include <strom/record_batch.h>

#include <string>
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
