// The record codec between tasks: typed writers into byte buffers, and the reader that
// stitches records spanning buffers, against tiny and large buffers and corrupt input.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/record_io.h>

#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom {
namespace {

/// Collects bytes per channel into fixed-size "buffers", like the runtime's partitions.
class FakePartition final : public PartitionWriter {
 public:
  FakePartition(int channels, size_t bufferSize) {
    for (int i = 0; i < channels; ++i) sinks_.push_back(std::make_unique<Sink>(bufferSize));
  }
  int numChannels() const override { return static_cast<int>(sinks_.size()); }
  BufferSink& channel(int index) override { return *sinks_[static_cast<size_t>(index)]; }
  void emitWatermark(int64_t watermark) override { watermarks_.push_back(watermark); }
  const std::vector<int64_t>& watermarks() const { return watermarks_; }
  /// Return channel `index`'s buffers, the last one partial.
  std::vector<std::string> buffers(int index) {
    return sinks_[static_cast<size_t>(index)]->finish();
  }

 private:
  class Sink final : public BufferSink {
   public:
    explicit Sink(size_t size) : size_(size) {}
    std::vector<std::string> finish() {
      if (current_.size() != 0) {
        current_.resize(static_cast<size_t>(pos_ - reinterpret_cast<std::byte*>(current_.data())));
        if (!current_.empty()) done_.push_back(current_);
      }
      current_.clear();
      pos_ = end_ = nullptr;
      return done_;
    }

   protected:
    void writeSlow(const void* data, size_t size) override {
      const char* bytes = static_cast<const char*>(data);
      while (size > 0) {
        if (pos_ == end_) nextBuffer();
        size_t n = std::min(size, static_cast<size_t>(end_ - pos_));
        std::memcpy(pos_, bytes, n);
        pos_ += n;
        bytes += n;
        size -= n;
      }
    }

   private:
    void nextBuffer() {
      if (!current_.empty()) done_.push_back(current_);
      current_.assign(size_, '\0');
      pos_ = reinterpret_cast<std::byte*>(current_.data());
      end_ = pos_ + size_;
    }
    size_t size_;
    std::string current_;
    std::vector<std::string> done_;
  };
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::vector<int64_t> watermarks_;
};

template <class T>
class Collect final : public Input<T> {
 public:
  void processBatch(RecordBatch<T>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      records.push_back(batch[i]);
      timestamps.push_back(batch.timestamp(i));
    }
  }
  std::vector<T> records;
  std::vector<int64_t> timestamps;
};

using Row = std::pair<std::string, int64_t>;

std::vector<Row> makeRows(size_t count) {
  std::mt19937 random(7);
  std::vector<Row> rows;
  for (size_t i = 0; i < count; ++i) {
    std::string text(random() % 200, 'a' + static_cast<char>(i % 26));
    rows.emplace_back(std::move(text), static_cast<int64_t>(random()));
  }
  return rows;
}

Status readAll(RecordReaderBase& reader, const std::vector<std::string>& buffers) {
  for (const std::string& b : buffers) {
    STROM_RETURN_IF_ERROR(reader.processBuffer(
        0, std::span<const std::byte>(reinterpret_cast<const std::byte*>(b.data()), b.size())));
  }
  reader.flush();
  return reader.endOfChannel(0);
}

TEST(RecordIoTest, recordsSpanningBuffersRoundTripWithTimestamps) {
  std::vector<Row> rows = makeRows(500);
  for (size_t bufferSize : {1u, 3u, 16u, 64u, 32768u}) {
    FakePartition partition(1, bufferSize);
    auto writer = TypedRecordOps<Row>()
                      .partitioner(PartitionerKind::kForward)
                      ->createWriter(partition, WriterContext{});
    RecordBatch<Row> batch;
    for (size_t i = 0; i < rows.size(); ++i) {
      batch.push(rows[i], i % 3 == 0 ? kNoTimestamp : static_cast<int64_t>(i) * 1000);
    }
    static_cast<Input<Row>&>(*writer).processBatch(batch);
    Collect<Row> out;
    auto reader = TypedRecordOps<Row>().createReader(out, "collect", 1, 7);
    ASSERT_OK(readAll(*reader, partition.buffers(0)));
    EXPECT_EQ(out.records, rows) << "buffer size " << bufferSize;
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(out.timestamps[i], i % 3 == 0 ? kNoTimestamp : static_cast<int64_t>(i) * 1000);
    }
  }
}

/// A record whose strings are views, as a source that owns its bytes emits them.
struct ViewRow {
  std::string_view name;
  int64_t id = 0;
  std::string_view extra;
  STROM_FIELDS(name, id, extra)
};

/// Copies each batch's views into owned strings while the batch is alive, and checks that the
/// views point into the batch's own arena.
class CollectViews final : public Input<ViewRow> {
 public:
  void processBatch(RecordBatch<ViewRow>& batch) override {
    EXPECT_GT(batch.arena().bytesUsed(), 0u);
    for (const ViewRow& row : batch) {
      records.push_back({std::string(row.name), row.id, std::string(row.extra)});
    }
  }
  std::vector<std::tuple<std::string, int64_t, std::string>> records;
};

TEST(RecordIoTest, stringViewFieldsAreReadIntoTheBatchArena) {
  std::vector<std::tuple<std::string, int64_t, std::string>> expected;
  for (int64_t i = 0; i < 300; ++i) {
    expected.push_back(
        {"name" + std::to_string(i), i, std::string(static_cast<size_t>(i % 97), 'x')});
  }
  for (size_t bufferSize : {5u, 64u, 32768u}) {
    FakePartition partition(1, bufferSize);
    auto writer = TypedRecordOps<ViewRow>()
                      .partitioner(PartitionerKind::kForward)
                      ->createWriter(partition, WriterContext{});
    RecordBatch<ViewRow> batch;
    for (const auto& [name, id, extra] : expected) {
      // The source copies its bytes into the batch it fills.
      batch.push(ViewRow{batch.arena().copy(name), id, batch.arena().copy(extra)});
    }
    static_cast<Input<ViewRow>&>(*writer).processBatch(batch);
    batch.clear();
    EXPECT_EQ(batch.arena().bytesUsed(), 0u);
    CollectViews out;
    auto reader = TypedRecordOps<ViewRow>().createReader(out, "collect", 1, 16);
    ASSERT_OK(readAll(*reader, partition.buffers(0)));
    EXPECT_EQ(out.records, expected) << "buffer size " << bufferSize;
  }
}

TEST(RecordIoTest, aWriterSendsWatermarksToItsPartition) {
  FakePartition partition(2, 64);
  auto writer = TypedRecordOps<int64_t>()
                    .partitioner(PartitionerKind::kRebalance)
                    ->createWriter(partition, WriterContext{});
  writer->processWatermark(5);
  writer->processWatermark(9);
  EXPECT_EQ(partition.watermarks(), (std::vector<int64_t>{5, 9}));
}

TEST(RecordIoTest, truncatedInputIsCorruption) {
  FakePartition partition(1, 1 << 20);
  auto writer = TypedRecordOps<Row>()
                    .partitioner(PartitionerKind::kForward)
                    ->createWriter(partition, WriterContext{});
  RecordBatch<Row> batch;
  for (const Row& row : makeRows(20)) batch.push(row);
  static_cast<Input<Row>&>(*writer).processBatch(batch);
  std::string bytes = partition.buffers(0).at(0);
  for (size_t cut = 1; cut < bytes.size(); cut += 7) {
    Collect<Row> out;
    auto reader = TypedRecordOps<Row>().createReader(out, "collect", 1, 1024);
    Status status = readAll(*reader, {bytes.substr(0, cut)});
    // Either the cut fell on a record boundary (every record before it intact) or the end of
    // the channel reports the partial record.
    if (status.isOk()) {
      EXPECT_LT(out.records.size(), 20u);
    } else {
      EXPECT_EQ(status.code(), StatusCode::kCorruption);
      EXPECT_THAT(status.message(), ::testing::HasSubstr("'collect'"));
    }
  }
}

TEST(RecordIoTest, garbageNeverCrashesTheReader) {
  std::mt19937 random(11);
  int corrupt = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(random() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(random());
    Collect<Row> out;
    auto reader = TypedRecordOps<Row>().createReader(out, "collect", 1, 1024);
    if (!readAll(*reader, {bytes}).isOk()) ++corrupt;
  }
  EXPECT_GT(corrupt, 1000);
}

TEST(RecordIoTest, badFlagsAndTrailingBytesAreCorruption) {
  Collect<int64_t> out;
  auto reader = TypedRecordOps<int64_t>().createReader(out, "collect", 1, 1024);
  // length 9: flags 2 (unknown) then 8 bytes.
  std::string badFlags = std::string("\x09\x02", 2) + std::string(8, '\0');
  ASSERT_STATUS(StatusCode::kCorruption, readAll(*reader, {badFlags}));
  auto reader2 = TypedRecordOps<int64_t>().createReader(out, "collect", 1, 1024);
  // length 10: flags 0, an int64, and one byte too many.
  std::string trailing = std::string("\x0a\x00", 2) + std::string(9, '\0');
  ASSERT_STATUS(StatusCode::kCorruption, readAll(*reader2, {trailing}));
  auto reader3 = TypedRecordOps<int64_t>().createReader(out, "collect", 1, 1024);
  ASSERT_STATUS(StatusCode::kCorruption, readAll(*reader3, {std::string("\x00", 1)}));
}

TEST(RecordIoTest, hashPartitionerRoutesEachKeyToTheSubtaskOwningItsKeyGroup) {
  constexpr int kChannels = 3;
  constexpr int kMaxParallelism = 128;
  FakePartition partition(kChannels, 1 << 20);
  auto keyOf = [](const int64_t& v) { return v % 97; };
  detail::KeyedPartitionerFactory<int64_t, decltype(keyOf)> factory(keyOf);
  auto writer = factory.createWriter(partition, WriterContext{0, kMaxParallelism});
  RecordBatch<int64_t> batch;
  for (int64_t v = 0; v < 5000; ++v) batch.push(v);
  static_cast<Input<int64_t>&>(*writer).processBatch(batch);
  size_t total = 0;
  for (int c = 0; c < kChannels; ++c) {
    Collect<int64_t> out;
    auto reader = TypedRecordOps<int64_t>().createReader(out, "collect", 1, 1024);
    ASSERT_OK(readAll(*reader, partition.buffers(c)));
    KeyGroupRange range = KeyGroupRange::forOperator(kMaxParallelism, kChannels, c);
    for (int64_t v : out.records) {
      EXPECT_TRUE(range.contains(keyGroupForHash(keyHash(keyOf(v)), kMaxParallelism))) << v;
    }
    total += out.records.size();
  }
  EXPECT_EQ(total, 5000u);
}

TEST(RecordIoTest, roundRobinAndBroadcastSpreadRecords) {
  FakePartition rr(4, 4096);
  auto writer = TypedRecordOps<int64_t>()
                    .partitioner(PartitionerKind::kRebalance)
                    ->createWriter(rr, WriterContext{1, 128});
  RecordBatch<int64_t> batch;
  for (int64_t v = 0; v < 8; ++v) batch.push(v);
  static_cast<Input<int64_t>&>(*writer).processBatch(batch);
  for (int c = 0; c < 4; ++c) {
    Collect<int64_t> out;
    auto reader = TypedRecordOps<int64_t>().createReader(out, "collect", 1, 1024);
    ASSERT_OK(readAll(*reader, rr.buffers(c)));
    EXPECT_EQ(out.records.size(), 2u);  // starts at channel 1 (the subtask index), then cycles
  }
  FakePartition all(3, 4096);
  auto broadcast = TypedRecordOps<int64_t>()
                       .partitioner(PartitionerKind::kBroadcast)
                       ->createWriter(all, WriterContext{});
  RecordBatch<int64_t> five;
  for (int64_t v = 0; v < 5; ++v) five.push(v);
  static_cast<Input<int64_t>&>(*broadcast).processBatch(five);
  for (int c = 0; c < 3; ++c) {
    Collect<int64_t> out;
    auto reader = TypedRecordOps<int64_t>().createReader(out, "collect", 1, 1024);
    ASSERT_OK(readAll(*reader, all.buffers(c)));
    EXPECT_THAT(out.records, ::testing::ElementsAre(0, 1, 2, 3, 4));
  }
}

}  // namespace
}  // namespace strom
