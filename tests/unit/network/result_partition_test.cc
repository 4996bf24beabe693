#include "runtime/network/result_partition.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "runtime/network/input_gate.h"
#include "runtime/network/wakeup_signal.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"

namespace strom::network {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using ::strom::testing::eventually;
using ::strom::testing::ScopedThread;

void writeBytes(BufferSink& sink, std::string_view bytes) {
  sink.write(bytes.data(), bytes.size());
}

std::string bytesOf(const Buffer& buffer) {
  return std::string(reinterpret_cast<const char*>(buffer.data()), buffer.size());
}

/// A minimal record writer: each record is a u32 length and the bytes, written in two calls the
/// way the typed record writers do, so records span buffers at arbitrary points.
class LengthPrefixedWriter {
 public:
  explicit LengthPrefixedWriter(PartitionWriter& partition) : partition_(partition) {}
  void write(int channel, std::string_view record) {
    auto length = static_cast<uint32_t>(record.size());
    BufferSink& sink = partition_.channel(channel);
    sink.write(&length, sizeof length);
    sink.write(record.data(), record.size());
  }

 private:
  PartitionWriter& partition_;
};

/// Reassembles LengthPrefixedWriter's records from the buffers of one channel.
class LengthPrefixedReader {
 public:
  void add(std::span<const std::byte> bytes) {
    pending_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    size_t pos = 0;
    while (pending_.size() - pos >= sizeof(uint32_t)) {
      uint32_t length;
      std::memcpy(&length, pending_.data() + pos, sizeof length);
      if (pending_.size() - pos - sizeof length < length) break;
      records_.push_back(pending_.substr(pos + sizeof length, length));
      pos += sizeof length + length;
    }
    pending_.erase(0, pos);
  }
  const std::vector<std::string>& records() const { return records_; }
  bool atRecordBoundary() const { return pending_.empty(); }

 private:
  std::string pending_;
  std::vector<std::string> records_;
};

std::string makeRecord(int channel, int index) {
  std::string record = std::to_string(channel) + ":" + std::to_string(index) + ":";
  size_t length = static_cast<size_t>(index * 37 + channel * 11) % 200;
  for (size_t i = 0; i < length; ++i) record.push_back(static_cast<char>('a' + (index + i) % 26));
  return record;
}

class ResultPartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(global_, NetworkBufferPool::create(kNumSegments, kSegmentSize));
  }

  static ResultPartitionId partitionId(int producerSubtask = 0) {
    return ResultPartitionId{"job1", 2, producerSubtask, 0};
  }

  static constexpr size_t kNumSegments = 64;
  static constexpr size_t kSegmentSize = 64;
  std::unique_ptr<NetworkBufferPool> global_;
};

TEST_F(ResultPartitionTest, sizesItsBufferPoolFromChannelCounts) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 3, *global_));
  EXPECT_EQ(partition->numChannels(), 3);
  EXPECT_EQ(partition->bufferPool().minBuffers(), 4u);          // 3 + 1
  EXPECT_EQ(partition->bufferPool().maxBuffers(), 3u * 2 + 8);  // 3 * 2 + 8
  EXPECT_EQ(global_->numAvailableSegments(), kNumSegments - 4);
}

TEST_F(ResultPartitionTest, creationFailsNamingPartitionWhenTooFewBuffers) {
  auto partition = ResultPartition::create(partitionId(), kNumSegments, *global_);
  ASSERT_STATUS(StatusCode::kResourceExhausted, partition);
  EXPECT_THAT(partition.status().message(), HasSubstr("job1/edge2/subtask0/attempt0"));
  EXPECT_THAT(partition.status().message(), HasSubstr("65 network buffers needed"));
  EXPECT_THAT(partition.status().message(), HasSubstr("only 64 of 64 are free"));
}

TEST_F(ResultPartitionTest, recordsSpanningBuffersArriveIntactAndInOrder) {
  constexpr int kChannels = 2;
  constexpr int kRecordsPerChannel = 500;
  std::shared_ptr<ResultPartition> partition;
  ASSERT_OK_AND_ASSIGN(partition, ResultPartition::create(partitionId(), kChannels, *global_));

  ScopedThread producer([&] { partition->close(); },
                        [&] {
                          LengthPrefixedWriter writer(*partition);
                          for (int i = 0; i < kRecordsPerChannel; ++i) {
                            for (int c = 0; c < kChannels; ++c) writer.write(c, makeRecord(c, i));
                          }
                          partition->finish();
                        });

  WakeupSignal wakeup;
  std::vector<std::unique_ptr<InputChannel>> channels;
  for (int c = 0; c < kChannels; ++c) {
    channels.push_back(std::make_unique<LocalInputChannel>(partition->subpartition(c)));
  }
  InputGate gate(std::move(channels), wakeup);
  std::vector<LengthPrefixedReader> readers(kChannels);
  int fullBuffers = 0;
  while (!gate.isFinished()) {
    auto next = gate.pollNext();
    if (!next) {
      ASSERT_TRUE(wakeup.waitUntil(std::chrono::steady_clock::now() + std::chrono::seconds(10)))
          << "no data for 10 s";
      continue;
    }
    auto& [channel, item] = *next;
    if (item.isBuffer()) {
      ASSERT_GT(item.buffer().size(), 0u);
      if (item.buffer().size() == kSegmentSize) ++fullBuffers;
      readers[channel].add(item.buffer().bytes());
    } else {
      EXPECT_TRUE(item.isEndOfPartition());
    }
  }
  producer.join();

  EXPECT_GT(fullBuffers, 100);  // records really crossed buffer boundaries
  for (int c = 0; c < kChannels; ++c) {
    EXPECT_TRUE(readers[c].atRecordBoundary());
    ASSERT_EQ(readers[c].records().size(), static_cast<size_t>(kRecordsPerChannel));
    for (int i = 0; i < kRecordsPerChannel; ++i) {
      ASSERT_EQ(readers[c].records()[i], makeRecord(c, i)) << "channel " << c << " record " << i;
    }
  }
  EXPECT_OK(partition->status());
  EXPECT_LE(partition->bufferPool().maxBuffersEverInUse(), partition->bufferPool().maxBuffers());
}

TEST_F(ResultPartitionTest, flushAllEnqueuesPartialBuffers) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 3, *global_));
  EXPECT_FALSE(partition->hasUnflushedData());
  writeBytes(partition->channel(0), "hello");
  writeBytes(partition->channel(2), "wor");
  writeBytes(partition->channel(2), "ld");
  EXPECT_TRUE(partition->hasUnflushedData());
  EXPECT_FALSE(partition->subpartition(0)->hasData());

  partition->flushAll();
  EXPECT_FALSE(partition->hasUnflushedData());
  auto first = partition->subpartition(0)->poll();
  ASSERT_TRUE(first && first->isBuffer());
  EXPECT_EQ(bytesOf(first->buffer()), "hello");
  EXPECT_FALSE(partition->subpartition(1)->hasData());  // nothing written: no empty buffer
  auto third = partition->subpartition(2)->poll();
  ASSERT_TRUE(third && third->isBuffer());
  EXPECT_EQ(bytesOf(third->buffer()), "world");

  partition->flushAll();  // nothing new
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(partition->subpartition(i)->hasData());
}

TEST_F(ResultPartitionTest, fullBufferIsEnqueuedWithoutFlush) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 1, *global_));
  std::string bytes(kSegmentSize + 10, 'x');
  writeBytes(partition->channel(0), bytes);
  ASSERT_EQ(partition->subpartition(0)->queueSize(), 1u);
  EXPECT_EQ(partition->subpartition(0)->poll()->buffer().size(), kSegmentSize);
  EXPECT_TRUE(partition->hasUnflushedData());  // the 10 bytes that did not fit
}

TEST_F(ResultPartitionTest, eventsFollowDataInOrder) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 2, *global_));
  writeBytes(partition->channel(0), "abc");
  partition->emitEvent(EventType::kWatermark, 42);
  writeBytes(partition->channel(1), "de");
  partition->finish();

  auto drain = [](ResultSubpartition& subpartition) {
    std::vector<std::string> items;
    while (auto item = subpartition.poll()) {
      if (item->isBuffer()) {
        items.push_back("data:" + bytesOf(item->buffer()));
      } else if (item->event().type == EventType::kWatermark) {
        items.push_back("watermark:" + std::to_string(item->event().value));
      } else {
        items.push_back("end");
      }
    }
    return items;
  };
  EXPECT_THAT(drain(*partition->subpartition(0)), ElementsAre("data:abc", "watermark:42", "end"));
  EXPECT_THAT(drain(*partition->subpartition(1)), ElementsAre("watermark:42", "data:de", "end"));
  EXPECT_OK(partition->status());
}

/// "data:<bytes>", "watermark:<value>", "barrier:<id>" or "end".
std::string describe(const BufferOrEvent& item) {
  if (item.isBuffer()) return "data:" + bytesOf(item.buffer());
  switch (item.event().type) {
    case EventType::kWatermark:
      return "watermark:" + std::to_string(item.event().value);
    case EventType::kCheckpointBarrier:
      return "barrier:" + std::to_string(item.event().value);
    default:
      return "end";
  }
}

Event barrierEvent(int64_t id) { return Event{EventType::kCheckpointBarrier, id, 0, 0}; }

TEST_F(ResultPartitionTest, priorityEventOvertakesTheQueueWhichTheProducerVisits) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 2, *global_));
  writeBytes(partition->channel(0), "abc");
  partition->emitEvent(EventType::kWatermark, 5);
  writeBytes(partition->channel(0), "de");  // not flushed yet: emitPriorityEvent flushes it
  std::vector<std::string> visited;
  partition->emitPriorityEvent(barrierEvent(3), [&](int subpartition, const BufferOrEvent& item) {
    visited.push_back(std::to_string(subpartition) + ":" + describe(item));
  });
  partition->emitPriorityEvent(barrierEvent(4), [&](int subpartition, const BufferOrEvent& item) {
    visited.push_back(std::to_string(subpartition) + ":" + describe(item));
  });
  EXPECT_THAT(visited, ElementsAre("0:data:abc", "0:watermark:5", "0:data:de", "1:watermark:5",
                                   "0:data:abc", "0:watermark:5", "0:data:de", "1:watermark:5"));
  auto& subpartition = *partition->subpartition(0);
  EXPECT_TRUE(subpartition.hasPriorityEvent());
  std::vector<std::string> items;
  bool priority = false;
  while (auto item = subpartition.poll(&priority)) {
    items.push_back(describe(*item) + (priority ? "!" : ""));
    EXPECT_EQ(subpartition.lastPolledOvertaken(), 0u);
  }
  // Priority events keep their order among themselves.
  EXPECT_THAT(items, ElementsAre("barrier:3!", "barrier:4!", "data:abc", "watermark:5", "data:de"));
}

TEST_F(ResultPartitionTest, prioritizedBarrierCountsTheItemsItOvertookForTheConsumer) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 1, *global_));
  auto& subpartition = *partition->subpartition(0);
  writeBytes(partition->channel(0), "a");
  partition->emitEvent(barrierEvent(3));
  writeBytes(partition->channel(0), "b");
  partition->flushAll();
  subpartition.prioritizeBarrier(3);
  bool priority = false;
  EXPECT_EQ(describe(*subpartition.poll(&priority)), "barrier:3");
  EXPECT_TRUE(priority);
  EXPECT_EQ(subpartition.lastPolledOvertaken(), 1u);
  EXPECT_EQ(describe(*subpartition.poll(&priority)), "data:a");
  EXPECT_FALSE(priority);
  EXPECT_EQ(subpartition.lastPolledOvertaken(), 0u);
  EXPECT_EQ(describe(*subpartition.poll()), "data:b");

  // Asked before it is added: an older barrier stays in place, barrier 5 goes first.
  writeBytes(partition->channel(0), "c");
  partition->flushAll();
  subpartition.prioritizeBarrier(5);
  partition->emitEvent(barrierEvent(4));
  partition->emitEvent(EventType::kWatermark, 9);
  partition->emitEvent(barrierEvent(5));
  partition->emitEvent(barrierEvent(6));  // asked once: not moved
  EXPECT_EQ(describe(*subpartition.poll(&priority)), "barrier:5");
  EXPECT_TRUE(priority);
  EXPECT_EQ(subpartition.lastPolledOvertaken(), 3u);
  std::vector<std::string> rest;
  while (auto item = subpartition.poll()) rest.push_back(describe(*item));
  EXPECT_THAT(rest, ElementsAre("data:c", "barrier:4", "watermark:9", "barrier:6"));
}

TEST_F(ResultPartitionTest, producerTurnsItsQueuedBarrierIntoAPriorityEvent) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 1, *global_));
  auto& subpartition = *partition->subpartition(0);
  EXPECT_EQ(subpartition.lastPolledBarrier(), -1);
  writeBytes(partition->channel(0), "a");
  partition->emitEvent(barrierEvent(3));
  writeBytes(partition->channel(0), "b");
  partition->flushAll();
  std::vector<std::string> visited;
  const Event unaligned{EventType::kCheckpointBarrier, 3, 0, 2};
  auto visit = [&](const BufferOrEvent& item) { visited.push_back(describe(item)); };
  EXPECT_FALSE(subpartition.prioritizeOwnBarrier(2, unaligned, visit));  // not queued
  EXPECT_TRUE(subpartition.prioritizeOwnBarrier(3, unaligned, visit));
  EXPECT_THAT(visited, ElementsAre("data:a"));
  bool priority = false;
  auto first = subpartition.poll(&priority);
  EXPECT_TRUE(priority);
  EXPECT_EQ(first->event(), unaligned);
  EXPECT_EQ(subpartition.lastPolledOvertaken(), 0u);  // the producer keeps what it overtook
  EXPECT_EQ(subpartition.lastPolledBarrier(), 3);
  EXPECT_EQ(describe(*subpartition.poll()), "data:a");
  EXPECT_EQ(describe(*subpartition.poll()), "data:b");
  EXPECT_FALSE(subpartition.prioritizeOwnBarrier(3, unaligned, visit));  // polled already
}

TEST_F(ResultPartitionTest, watermarksBehindAPriorityEventAreNotCoalescedIntoIt) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 1, *global_));
  partition->emitPriorityEvent(barrierEvent(1), [](int, const BufferOrEvent&) {});
  partition->emitEvent(EventType::kWatermark, 1);
  partition->emitEvent(EventType::kWatermark, 2);
  auto& subpartition = *partition->subpartition(0);
  EXPECT_EQ(describe(*subpartition.poll()), "barrier:1");
  EXPECT_EQ(describe(*subpartition.poll()), "watermark:2");
  EXPECT_FALSE(subpartition.poll().has_value());
}

TEST_F(ResultPartitionTest, adjacentWatermarksAreCoalesced) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 1, *global_));
  for (int64_t w = 1; w <= 1000; ++w) partition->emitEvent(EventType::kWatermark, w);
  writeBytes(partition->channel(0), "x");
  partition->emitEvent(EventType::kWatermark, 1001);
  partition->emitEvent(EventType::kWatermark, 1002);
  auto& subpartition = *partition->subpartition(0);
  ASSERT_EQ(subpartition.queueSize(), 3u);
  EXPECT_EQ(subpartition.poll()->event(), (Event{EventType::kWatermark, 1000}));
  EXPECT_TRUE(subpartition.poll()->isBuffer());
  EXPECT_EQ(subpartition.poll()->event(), (Event{EventType::kWatermark, 1002}));
}

TEST_F(ResultPartitionTest, watermarkStatusesAreNeitherCoalescedNorReordered) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 1, *global_));
  partition->emitWatermark(1);
  partition->emitWatermarkStatus(true);
  partition->emitWatermarkStatus(false);
  partition->emitWatermark(2);
  partition->emitWatermark(3);
  partition->emitWatermarkStatus(true);
  auto& subpartition = *partition->subpartition(0);
  ASSERT_EQ(subpartition.queueSize(), 5u);
  EXPECT_EQ(subpartition.poll()->event(), (Event{EventType::kWatermark, 1}));
  EXPECT_EQ(subpartition.poll()->event(), (Event{EventType::kWatermarkStatus, 1}));
  EXPECT_EQ(subpartition.poll()->event(), (Event{EventType::kWatermarkStatus, 0}));
  EXPECT_EQ(subpartition.poll()->event(), (Event{EventType::kWatermark, 3}));
  EXPECT_EQ(subpartition.poll()->event(), (Event{EventType::kWatermarkStatus, 1}));
}

TEST_F(ResultPartitionTest, backPressureBlocksProducerUntilConsumerReads) {
  // One channel, minBuffers = maxBuffers = 2.
  std::shared_ptr<ResultPartition> partition;
  ASSERT_OK_AND_ASSIGN(partition, ResultPartition::create(partitionId(), 1, *global_,
                                                          /*buffersPerChannel=*/1,
                                                          /*floatingBuffers=*/1));
  ASSERT_EQ(partition->bufferPool().maxBuffers(), 2u);
  constexpr int kBuffersToWrite = 20;
  std::atomic<bool> producerDone{false};
  ScopedThread producer([&] { partition->close(); },
                        [&] {
                          std::string chunk(kSegmentSize, 'p');
                          for (int i = 0; i < kBuffersToWrite; ++i)
                            writeBytes(partition->channel(0), chunk);
                          partition->finish();
                          producerDone.store(true);
                        });

  // Both buffers fill and wait in the queue; the producer blocks for a third.
  const LocalBufferPool& pool = partition->bufferPool();
  ASSERT_TRUE(eventually([&] { return pool.numBlockedRequesters() == 1; }));
  EXPECT_EQ(pool.buffersInUse(), 2u);
  EXPECT_EQ(partition->subpartition(0)->queueSize(), 2u);
  EXPECT_FALSE(producerDone.load());

  // Reading releases buffers and the producer runs to the end.
  LocalInputChannel channel(partition->subpartition(0));
  size_t bytesRead = 0;
  bool ended = false;
  while (!ended) {
    auto item = channel.poll();
    if (!item) {
      ASSERT_TRUE(eventually([&] { return channel.hasData(); })) << "producer stuck";
      continue;
    }
    if (item->isBuffer()) {
      bytesRead += item->buffer().size();
    } else {
      ended = item->isEndOfPartition();
    }
  }
  producer.join();
  EXPECT_TRUE(producerDone.load());
  EXPECT_EQ(bytesRead, kBuffersToWrite * kSegmentSize);
  EXPECT_LE(pool.maxBuffersEverInUse(), 2u);
  EXPECT_OK(partition->status());
}

TEST_F(ResultPartitionTest, closeUnblocksProducerAndDiscardsLaterWrites) {
  std::shared_ptr<ResultPartition> partition;
  ASSERT_OK_AND_ASSIGN(partition, ResultPartition::create(partitionId(), 1, *global_, 1, 1));
  Status statusSeenByProducer;
  ScopedThread producer([&] { partition->close(); },
                        [&] {
                          std::string chunk(kSegmentSize - 1,
                                            'p');  // misaligned: the blocked write spans buffers
                          for (int i = 0; i < 10; ++i) writeBytes(partition->channel(0), chunk);
                          partition->flushAll();
                          partition->emitEvent(EventType::kWatermark, 7);
                          partition->finish();
                          statusSeenByProducer = partition->status();
                        });
  ASSERT_TRUE(eventually([&] { return partition->bufferPool().numBlockedRequesters() == 1; }));
  partition->close();
  producer.join();

  ASSERT_STATUS(StatusCode::kCancelled, statusSeenByProducer);
  EXPECT_THAT(statusSeenByProducer.message(), HasSubstr("job1/edge2/subtask0/attempt0"));
  EXPECT_FALSE(partition->hasUnflushedData());
  // Only the two buffers filled before close() were enqueued: no events, no later data.
  auto& subpartition = *partition->subpartition(0);
  EXPECT_EQ(subpartition.queueSize(), 2u);
  while (auto item = subpartition.poll()) {
    ASSERT_TRUE(item->isBuffer());
    EXPECT_EQ(item->buffer().size(), kSegmentSize);
  }
  EXPECT_EQ(partition->bufferPool().buffersInUse(), 0u);
}

TEST_F(ResultPartitionTest, writeAfterFinishIsDiscardedAndReported) {
  ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 1, *global_));
  partition->finish();
  writeBytes(partition->channel(0), "late");
  ASSERT_STATUS(StatusCode::kInternal, partition->status());
  EXPECT_FALSE(partition->hasUnflushedData());
  EXPECT_EQ(partition->subpartition(0)->queueSize(), 1u);  // just the EndOfPartition
}

TEST_F(ResultPartitionTest, queuedBuffersOutliveTheProducer) {
  std::shared_ptr<ResultSubpartition> subpartition;
  {
    ASSERT_OK_AND_ASSIGN(auto partition, ResultPartition::create(partitionId(), 1, *global_));
    writeBytes(partition->channel(0), "survivor");
    partition->finish();
    subpartition = partition->subpartition(0);
  }
  auto item = subpartition->poll();
  ASSERT_TRUE(item && item->isBuffer());
  EXPECT_EQ(bytesOf(item->buffer()), "survivor");
  item.reset();
  EXPECT_TRUE(subpartition->poll()->isEndOfPartition());
  subpartition.reset();
  EXPECT_EQ(global_->numAvailableSegments(), kNumSegments);
}

TEST_F(ResultPartitionTest, partitionIdHasValueSemantics) {
  ResultPartitionId a{"job1", 2, 3, 1};
  ResultPartitionId b{"job1", 2, 3, 1};
  ResultPartitionId c{"job1", 2, 3, 2};
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_EQ(a.toString(), "job1/edge2/subtask3/attempt1");
  std::unordered_set<ResultPartitionId> ids{a, b, c};
  EXPECT_EQ(ids.size(), 2u);
}

TEST_F(ResultPartitionTest, managerHandsOutSubpartitionsById) {
  ResultPartitionManager manager;
  std::shared_ptr<ResultPartition> partition;
  ASSERT_OK_AND_ASSIGN(partition, ResultPartition::create(partitionId(1), 2, *global_));
  ASSERT_OK(manager.registerPartition(partition));
  ASSERT_STATUS(StatusCode::kAlreadyExists, manager.registerPartition(partition));

  ASSERT_OK_AND_ASSIGN(auto subpartition, manager.requestSubpartition(partitionId(1), 1));
  EXPECT_EQ(subpartition, partition->subpartition(1));
  ASSERT_STATUS(StatusCode::kInvalidArgument, manager.requestSubpartition(partitionId(1), 2));

  auto missing = manager.requestSubpartition(partitionId(7), 0);
  ASSERT_STATUS(StatusCode::kNotFound, missing);
  EXPECT_THAT(missing.status().message(), HasSubstr("job1/edge2/subtask7/attempt0"));

  ASSERT_OK_AND_ASSIGN(auto channel, LocalInputChannel::create(manager, partitionId(1), 0));
  writeBytes(partition->channel(0), "via manager");
  partition->flushAll();
  EXPECT_EQ(bytesOf(channel->poll()->buffer()), "via manager");

  ASSERT_OK(manager.unregisterPartition(partitionId(1)));
  ASSERT_STATUS(StatusCode::kNotFound, manager.unregisterPartition(partitionId(1)));
  ASSERT_STATUS(StatusCode::kNotFound, manager.requestSubpartition(partitionId(1), 0));
  EXPECT_EQ(manager.numPartitions(), 0u);
}

TEST_F(ResultPartitionTest, managerDropsAllPartitionsOfAJob) {
  ResultPartitionManager manager;
  for (int subtask = 0; subtask < 3; ++subtask) {
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<ResultPartition> partition,
                         ResultPartition::create(partitionId(subtask), 1, *global_));
    ASSERT_OK(manager.registerPartition(std::move(partition)));
  }
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<ResultPartition> other,
                       ResultPartition::create(ResultPartitionId{"job2", 0, 0, 0}, 1, *global_));
  ASSERT_OK(manager.registerPartition(other));
  EXPECT_EQ(manager.unregisterPartitionsOfJob("job1"), 3u);
  EXPECT_EQ(manager.numPartitions(), 1u);
  EXPECT_OK(manager.requestSubpartition(ResultPartitionId{"job2", 0, 0, 0}, 0));
}

}  // namespace
}  // namespace strom::network
