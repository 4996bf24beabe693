#include "runtime/network/remote_input_channel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/network/buffer.h"
#include "runtime/network/connection_manager.h"
#include "runtime/network/frame.h"
#include "runtime/network/result_partition.h"
#include "runtime/network/wakeup_signal.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"

namespace strom::network {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kSegmentSize = 1024;
constexpr size_t kPayloadSize = 100;
constexpr auto kLongWait = std::chrono::seconds(30);

/// Signals a WakeupSignal when a channel gets data (called on the io thread).
class SignalListener final : public DataAvailabilityListener {
 public:
  explicit SignalListener(WakeupSignal& wakeup) : wakeup_(wakeup) {}
  void notifyDataAvailable(int) override { wakeup_.signal(); }

 private:
  WakeupSignal& wakeup_;
};

/// Counts priority notifications and signals a WakeupSignal on every notification.
class PriorityListener final : public DataAvailabilityListener {
 public:
  explicit PriorityListener(WakeupSignal& wakeup) : wakeup_(wakeup) {}
  void notifyDataAvailable(int) override { wakeup_.signal(); }
  void notifyPriorityEvent(int) override {
    priority_.fetch_add(1, std::memory_order_acq_rel);
    wakeup_.signal();
  }
  int priorityEvents() const { return priority_.load(std::memory_order_acquire); }

 private:
  WakeupSignal& wakeup_;
  std::atomic<int> priority_{0};
};

/// The test's view of a received buffer: which channel wrote it and its index there.
struct Stamp {
  uint64_t channel = 0;
  uint64_t index = 0;
};

Stamp stampOf(const Buffer& buffer) {
  Stamp stamp;
  EXPECT_EQ(buffer.size(), kPayloadSize);
  std::memcpy(&stamp.channel, buffer.data(), 8);
  std::memcpy(&stamp.index, buffer.data() + 8, 8);
  return stamp;
}

/// Collects one channel's items; returns false on a deadline or a channel failure.
class ChannelReader {
 public:
  ChannelReader(InputChannel& channel, int channelIndex) : channel_(channel), listener_(wakeup_) {
    channel_.setListener(&listener_, channelIndex);
  }
  ~ChannelReader() { channel_.setListener(nullptr, 0); }

  /// Poll until end of partition; check each buffer is (channel, next index).
  bool readAll(uint64_t channelIndex, uint64_t expected) {
    auto deadline = Clock::now() + kLongWait;
    for (;;) {
      while (auto item = channel_.poll()) {
        if (item->isEndOfPartition()) {
          EXPECT_EQ(received_, expected);
          return true;
        }
        if (!item->isBuffer()) continue;
        Stamp stamp = stampOf(item->buffer());
        EXPECT_EQ(stamp.channel, channelIndex);
        EXPECT_EQ(stamp.index, received_) << "lost or reordered buffer";
        ++received_;
      }
      if (!channel_.status().isOk()) {
        ADD_FAILURE() << channel_.status().toString();
        return false;
      }
      if (!wakeup_.waitUntil(deadline)) return false;
    }
  }

  /// Wait, without polling (so no credit goes back), until the channel fails; return its
  /// status (OK on the deadline).
  Status waitForFailure() {
    auto deadline = Clock::now() + kLongWait;
    for (;;) {
      if (!channel_.status().isOk()) return channel_.status();
      if (!wakeup_.waitUntil(deadline)) return Status::ok();
    }
  }

  uint64_t received() const { return received_; }

 private:
  InputChannel& channel_;
  WakeupSignal wakeup_;
  SignalListener listener_;
  uint64_t received_ = 0;
};

class RemoteInputChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(producerGlobal_, NetworkBufferPool::create(64, kSegmentSize));
    ASSERT_OK_AND_ASSIGN(consumerGlobal_, NetworkBufferPool::create(64, kSegmentSize));
    ConnectionManagerOptions options;
    options.segmentSize = kSegmentSize;
    ASSERT_OK_AND_ASSIGN(producerConnections_,
                         ConnectionManager::create(producerPartitions_, options));
    ASSERT_OK_AND_ASSIGN(consumerConnections_,
                         ConnectionManager::create(consumerPartitions_, options));
    ASSERT_OK_AND_ASSIGN(floating_, FloatingBufferPool::create(*consumerGlobal_, 8, "gate"));
  }

  void TearDown() override {
    // Channels before connection managers, connection managers before partitions and pools.
    channels_.clear();
    consumerConnections_.reset();
    producerConnections_.reset();
  }

  ResultPartitionId partitionId() const { return {"job", 0, 0, 0}; }

  std::shared_ptr<ResultPartition> registerPartition(int numSubpartitions) {
    auto created = ResultPartition::create(partitionId(), numSubpartitions, *producerGlobal_);
    EXPECT_OK(created);
    std::shared_ptr<ResultPartition> partition = std::move(created).value();
    EXPECT_OK(producerPartitions_.registerPartition(partition));
    return partition;
  }

  RemoteInputChannel& addChannel(int subpartition, ResultPartitionId id,
                                 RequestBackoff backoff = {}) {
    auto channel =
        RemoteInputChannel::create(*consumerConnections_, producerConnections_->address(), id,
                                   subpartition, *consumerGlobal_, 2, floating_, backoff);
    EXPECT_OK(channel);
    channels_.push_back(std::move(channel).value());
    return *channels_.back();
  }

  /// Write `count` stamped buffers and end of partition into `subpartition`, each buffer from
  /// `pool` (blocking while the pool is exhausted: back-pressure).
  static void produce(ResultSubpartition& subpartition, LocalBufferPool& pool, uint64_t channel,
                      uint64_t count) {
    for (uint64_t i = 0; i < count; ++i) {
      auto buffer = pool.requestBuffer();
      if (!buffer.isOk()) return;  // closed: the test bails out
      std::memset(buffer->data(), 0x5a, kPayloadSize);
      std::memcpy(buffer->data(), &channel, 8);
      std::memcpy(buffer->data() + 8, &i, 8);
      buffer->setSize(kPayloadSize);
      subpartition.add(std::move(buffer).value());
    }
    subpartition.add(Event{EventType::kEndOfPartition, 0});
  }

  /// Produce `count` stamped buffers into subpartition 0 of `partition` and expect `channel`
  /// to read them all, in order, and stay healthy.
  void expectDelivers(RemoteInputChannel& channel, ResultPartition& partition, uint64_t count) {
    auto pool = LocalBufferPool::create(*producerGlobal_, 4, 4, "producer");
    ASSERT_OK(pool);
    std::shared_ptr<LocalBufferPool> shared = std::move(pool).value();
    testing::ScopedThread producer([&] { shared->close(); },
                                   [&] { produce(*partition.subpartition(0), *shared, 0, count); });
    ChannelReader reader(channel, 0);
    EXPECT_TRUE(reader.readAll(0, count));
    producer.join();
    EXPECT_OK(channel.status());
  }

  // Declared in dependency order: members are destroyed in reverse.
  std::unique_ptr<NetworkBufferPool> producerGlobal_;
  std::unique_ptr<NetworkBufferPool> consumerGlobal_;
  ResultPartitionManager producerPartitions_;
  ResultPartitionManager consumerPartitions_;
  std::unique_ptr<ConnectionManager> producerConnections_;
  std::unique_ptr<ConnectionManager> consumerConnections_;
  std::shared_ptr<FloatingBufferPool> floating_;
  std::vector<std::unique_ptr<RemoteInputChannel>> channels_;
};

TEST_F(RemoteInputChannelTest, stoppedChannelDoesNotBlockOtherChannelOnSameConnection) {
  constexpr uint64_t kCount = 5000;
  auto partition = registerPartition(2);
  RemoteInputChannel& slow = addChannel(0, partitionId());
  RemoteInputChannel& fast = addChannel(1, partitionId());

  // Each producer thread has its own small pool, so the stalled one blocks only itself.
  ASSERT_OK_AND_ASSIGN(auto slowPool, LocalBufferPool::create(*producerGlobal_, 4, 4, "slow"));
  ASSERT_OK_AND_ASSIGN(auto fastPool, LocalBufferPool::create(*producerGlobal_, 4, 4, "fast"));
  testing::ScopedThread slowProducer(
      [&] { slowPool->close(); },
      [&] { produce(*partition->subpartition(0), *slowPool, 0, kCount); });
  testing::ScopedThread fastProducer(
      [&] { fastPool->close(); },
      [&] { produce(*partition->subpartition(1), *fastPool, 1, kCount); });

  ChannelReader slowReader(slow, 0);
  ChannelReader fastReader(fast, 1);

  // The consumer of channel 0 does not poll; channel 1 still gets everything.
  ASSERT_TRUE(fastReader.readAll(1, kCount));
  fastProducer.join();
  // Both channels share one TCP connection.
  EXPECT_EQ(consumerConnections_->numClientConnections(), 1u);
  EXPECT_EQ(producerConnections_->numServerConnections(), 1u);
  // The stalled channel received no more than its buffers allow.
  EXPECT_LE(slow.exclusiveBufferPool().maxBuffersEverInUse(), 2u);

  // Channel 0 resumes and gets all its data, in order.
  ASSERT_TRUE(slowReader.readAll(0, kCount));
  slowProducer.join();

  EXPECT_OK(slow.status());
  EXPECT_OK(fast.status());
  // Credit is never exceeded: no receiver pool ever had more buffers out than it holds.
  EXPECT_LE(slow.exclusiveBufferPool().maxBuffersEverInUse(), 2u);
  EXPECT_LE(fast.exclusiveBufferPool().maxBuffersEverInUse(), 2u);
  EXPECT_LE(floating_->bufferPool().maxBuffersEverInUse(), 8u);
  // The stalled channel's backlog made it borrow floating buffers.
  EXPECT_GT(floating_->bufferPool().maxBuffersEverInUse(), 0u);
  EXPECT_LE(slowPool->maxBuffersEverInUse(), 4u);
}

TEST_F(RemoteInputChannelTest, deliversEventsInOrderWithBuffers) {
  auto partition = registerPartition(1);
  RemoteInputChannel& channel = addChannel(0, partitionId());
  auto& subpartition = *partition->subpartition(0);
  subpartition.add(Event{EventType::kWatermark, 17});
  subpartition.add(Event{EventType::kWatermarkStatus, 1});
  subpartition.add(Event{EventType::kEndOfPartition, 0});

  std::vector<Event> events;
  WakeupSignal wakeup;
  SignalListener listener(wakeup);
  channel.setListener(&listener, 0);
  auto deadline = Clock::now() + kLongWait;
  while (events.size() < 3) {
    while (auto item = channel.poll()) {
      ASSERT_TRUE(item->isEvent());
      events.push_back(item->event());
    }
    if (events.size() < 3) {
      ASSERT_TRUE(wakeup.waitUntil(deadline));
    }
  }
  channel.setListener(nullptr, 0);
  EXPECT_THAT(events, ::testing::ElementsAre(Event{EventType::kWatermark, 17},
                                             Event{EventType::kWatermarkStatus, 1},
                                             Event{EventType::kEndOfPartition, 0}));
}

TEST_F(RemoteInputChannelTest, priorityBarrierTravelsWithoutCreditAndOvertakesTheReceivedItems) {
  constexpr uint64_t kCount = 12;  // more than the channel's credit: some stay with the producer
  auto partition = registerPartition(1);
  RemoteInputChannel& channel = addChannel(0, partitionId());
  auto& subpartition = *partition->subpartition(0);
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*producerGlobal_, kCount, kCount, "p"));
  for (uint64_t i = 0; i < kCount; ++i) {
    Buffer buffer = pool->tryRequestBuffer();
    ASSERT_TRUE(buffer.isValid());
    std::memset(buffer.data(), 0, kPayloadSize);
    std::memcpy(buffer.data() + 8, &i, 8);
    buffer.setSize(kPayloadSize);
    subpartition.add(std::move(buffer));
  }
  WakeupSignal wakeup;
  PriorityListener listener(wakeup);
  channel.setListener(&listener, 0);
  // Nothing is polled, so the consumer's credit runs out: the rest stays queued here.
  ASSERT_TRUE(testing::eventually([&] { return subpartition.queueSize() < kCount; }, kLongWait));
  size_t visited = 0;
  subpartition.addPriorityEvent(Event{EventType::kCheckpointBarrier, 9, 1000, 2},
                                [&](const BufferOrEvent&) { ++visited; });
  EXPECT_GT(visited, 0u);
  ASSERT_TRUE(testing::eventually([&] { return listener.priorityEvents() == 1; }, kLongWait));
  std::optional<BufferOrEvent> first = channel.poll();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->isEvent());
  EXPECT_EQ(first->event(), (Event{EventType::kCheckpointBarrier, 9, 1000, 2}));
  // Every buffer is either overtaken here (input state) or was visited there (output state).
  EXPECT_EQ(channel.numOvertaken() + visited, kCount);
  subpartition.add(Event{EventType::kEndOfPartition, 0});
  uint64_t next = 0;
  auto deadline = Clock::now() + kLongWait;
  bool ended = false;
  while (!ended) {
    while (auto item = channel.poll()) {
      if (item->isEndOfPartition()) {
        ended = true;
        break;
      }
      ASSERT_TRUE(item->isBuffer());
      EXPECT_EQ(stampOf(item->buffer()).index, next++);
      EXPECT_EQ(channel.numOvertaken(), 0u);
    }
    if (!ended) {
      ASSERT_TRUE(wakeup.waitUntil(deadline));
    }
  }
  channel.setListener(nullptr, 0);
  EXPECT_EQ(next, kCount);
  EXPECT_OK(channel.status());
  EXPECT_LE(channel.exclusiveBufferPool().maxBuffersEverInUse(), 2u);
}

TEST_F(RemoteInputChannelTest, barrierPrioritizedBeforeItArrivesOvertakesWhatWasReceived) {
  auto partition = registerPartition(1);
  RemoteInputChannel& channel = addChannel(0, partitionId());
  WakeupSignal wakeup;
  PriorityListener listener(wakeup);
  channel.setListener(&listener, 0);
  channel.prioritizeBarrier(5);
  auto& subpartition = *partition->subpartition(0);
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*producerGlobal_, 3, 3, "p"));
  for (uint64_t i = 0; i < 3; ++i) {
    Buffer buffer = pool->tryRequestBuffer();
    std::memset(buffer.data(), 0, kPayloadSize);
    std::memcpy(buffer.data() + 8, &i, 8);
    buffer.setSize(kPayloadSize);
    subpartition.add(std::move(buffer));
  }
  subpartition.add(Event{EventType::kCheckpointBarrier, 5, 1000, 0});
  ASSERT_TRUE(testing::eventually([&] { return listener.priorityEvents() == 1; }, kLongWait));
  std::optional<BufferOrEvent> first = channel.poll();
  ASSERT_TRUE(first.has_value() && first->isEvent());
  EXPECT_EQ(first->event().value, 5);
  EXPECT_EQ(channel.numOvertaken(), 3u);
  for (uint64_t i = 0; i < 3; ++i) {
    std::optional<BufferOrEvent> item = channel.poll();
    ASSERT_TRUE(item.has_value() && item->isBuffer());
    EXPECT_EQ(stampOf(item->buffer()).index, i);
  }
  channel.setListener(nullptr, 0);
  EXPECT_OK(channel.status());
}

TEST_F(RemoteInputChannelTest, unknownPartitionFailsChannelOnceTheBackoffIsExhausted) {
  // Requests after 0, 5, 15, 35 and 75 ms: five "not found" answers, then the channel fails.
  RemoteInputChannel& channel =
      addChannel(0, {"no-such-job", 3, 1, 0},
                 RequestBackoff{std::chrono::milliseconds(5), std::chrono::milliseconds(40)});
  ChannelReader reader(channel, 0);
  Status failure = reader.waitForFailure();
  ASSERT_FALSE(failure.isOk()) << "no failure before the deadline";
  EXPECT_EQ(failure.code(), StatusCode::kNotFound) << failure.toString();
  EXPECT_THAT(failure.message(), ::testing::HasSubstr("no-such-job/edge3/subtask1/attempt0"));
  EXPECT_THAT(failure.message(), ::testing::HasSubstr(producerConnections_->address()));
  EXPECT_THAT(failure.message(), ::testing::HasSubstr("after 5 requests"));
  EXPECT_EQ(channel.testingNumRequests(), 5);
  // The connection stays up for the other channels.
  // A failed request does not harm the connection: another channel still works.
  auto partition = registerPartition(1);
  RemoteInputChannel& good = addChannel(0, partitionId());
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*producerGlobal_, 4, 4, "producer"));
  produce(*partition->subpartition(0), *pool, 0, 3);
  ChannelReader goodReader(good, 0);
  EXPECT_TRUE(goodReader.readAll(0, 3));
}

TEST_F(RemoteInputChannelTest, partitionRequestedBeforeItsProducerRegisteredIsRetried) {
  RemoteInputChannel& channel = addChannel(
      0, partitionId(), RequestBackoff{std::chrono::milliseconds(5), std::chrono::seconds(10)});
  // The producer answered "not found" at least once and the channel asked again.
  ASSERT_TRUE(testing::eventually([&] { return channel.testingNumRequests() >= 2; }));
  EXPECT_OK(channel.status());
  auto partition = registerPartition(1);
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*producerGlobal_, 4, 4, "producer"));
  testing::ScopedThread producer([&] { pool->close(); },
                                 [&] { produce(*partition->subpartition(0), *pool, 0, 50); });
  ChannelReader reader(channel, 0);
  EXPECT_TRUE(reader.readAll(0, 50));
  producer.join();
  EXPECT_OK(channel.status());
}

/// A fake producer TaskManager: accepts one connection, reads the partition request, then
/// writes `reply` and keeps the socket open until the test ends.
class FakeProducer {
 public:
  explicit FakeProducer(std::vector<std::byte> reply)
      : acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        reply_(std::move(reply)),
        thread_([this] { closeAll(); }, [this] { serve(); }) {}

  std::string address() const {
    return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  /// Wait until the peer closed the connection; false on the deadline.
  bool waitForDisconnect() {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, Clock::now() + kLongWait, [this] { return disconnected_; });
  }
  void closeAll() {
    asio::post(io_, [this] {
      asio::error_code ignored;
      acceptor_.close(ignored);
      socket_.close(ignored);
    });
  }
  ~FakeProducer() { closeAll(); }

 private:
  void serve() {
    acceptor_.async_accept(socket_, [this](const asio::error_code& error) {
      if (error) return;
      socket_.async_read_some(asio::buffer(request_),
                              [this](const asio::error_code& error, size_t) {
                                if (error) return;
                                asio::async_write(socket_, asio::buffer(reply_),
                                                  [this](const asio::error_code& error, size_t) {
                                                    if (error) return;
                                                    awaitClose();
                                                  });
                              });
    });
    io_.run_for(kLongWait);
  }
  void awaitClose() {
    socket_.async_read_some(asio::buffer(request_), [this](const asio::error_code& error, size_t) {
      if (!error) {
        awaitClose();
        return;
      }
      std::lock_guard lock(mu_);
      disconnected_ = true;
      cv_.notify_all();
    });
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::socket socket_{io_};
  std::array<std::byte, 4096> request_{};
  std::vector<std::byte> reply_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool disconnected_ = false;
  testing::ScopedThread thread_;
};

std::vector<std::byte> bufferFrames(std::initializer_list<uint32_t> sequences) {
  std::vector<std::byte> bytes;
  std::vector<std::byte> payload(kPayloadSize);
  for (uint32_t sequence : sequences) {
    // The channel id: the consumer's first channel is 0.
    EXPECT_OK(encodeFrame(BufferMessage{0, sequence, 0, false, false, payload}, bytes));
  }
  return bytes;
}

TEST_F(RemoteInputChannelTest, malformedFrameDisconnectsAndFailsChannel) {
  // The fake producer's channel is the consumer's first (id 0); a good one follows.
  std::vector<std::byte> garbage = bufferFrames({0});
  for (int i = 0; i < 16; ++i) garbage.push_back(std::byte{0xee});
  FakeProducer fake(garbage);
  auto created = RemoteInputChannel::create(*consumerConnections_, fake.address(), partitionId(), 0,
                                            *consumerGlobal_, 2, nullptr);
  ASSERT_OK(created);
  channels_.push_back(std::move(created).value());
  ChannelReader reader(*channels_.back(), 0);
  Status failure = reader.waitForFailure();
  EXPECT_EQ(failure.code(), StatusCode::kCorruption) << failure.toString();
  EXPECT_THAT(failure.message(), ::testing::HasSubstr(fake.address()));
  EXPECT_TRUE(fake.waitForDisconnect());
  // Another connection of the same ConnectionManager is untouched.
  auto partition = registerPartition(1);
  expectDelivers(addChannel(0, partitionId()), *partition, 20);
}

TEST_F(RemoteInputChannelTest, bufferBeyondCreditDisconnectsAndFailsChannel) {
  FakeProducer fake(bufferFrames({0, 1, 2}));  // credit is 2, no floating buffers
  auto created = RemoteInputChannel::create(*consumerConnections_, fake.address(), partitionId(), 0,
                                            *consumerGlobal_, 2, nullptr);
  ASSERT_OK(created);
  channels_.push_back(std::move(created).value());
  ChannelReader reader(*channels_.back(), 0);
  Status failure = reader.waitForFailure();
  EXPECT_EQ(failure.code(), StatusCode::kCorruption) << failure.toString();
  EXPECT_THAT(failure.message(), ::testing::HasSubstr("beyond the announced credit"));
  EXPECT_TRUE(fake.waitForDisconnect());
  auto partition = registerPartition(1);
  expectDelivers(addChannel(0, partitionId()), *partition, 20);
}

TEST_F(RemoteInputChannelTest, sequenceGapDisconnectsAndFailsChannel) {
  FakeProducer fake(bufferFrames({0, 2}));
  auto created = RemoteInputChannel::create(*consumerConnections_, fake.address(), partitionId(), 0,
                                            *consumerGlobal_, 2, nullptr);
  ASSERT_OK(created);
  channels_.push_back(std::move(created).value());
  ChannelReader reader(*channels_.back(), 0);
  Status failure = reader.waitForFailure();
  EXPECT_THAT(failure.message(), ::testing::HasSubstr("sequence number 2, expected 1"));
  EXPECT_TRUE(fake.waitForDisconnect());
  auto partition = registerPartition(1);
  expectDelivers(addChannel(0, partitionId()), *partition, 20);
}

TEST_F(RemoteInputChannelTest, bufferForUnknownChannelDisconnectsOnlyThatConnection) {
  // A good channel to the real producer (id 0), then one to a fake producer (id 1) that sends a
  // buffer for channel 5, which the consumer never opened on that connection.
  auto partition = registerPartition(1);
  RemoteInputChannel& good = addChannel(0, partitionId());
  std::vector<std::byte> frames;
  std::vector<std::byte> payload(kPayloadSize);
  ASSERT_OK(encodeFrame(BufferMessage{5, 0, 0, false, false, payload}, frames));
  FakeProducer fake(frames);
  auto created = RemoteInputChannel::create(*consumerConnections_, fake.address(), partitionId(), 0,
                                            *consumerGlobal_, 2, nullptr);
  ASSERT_OK(created);
  channels_.push_back(std::move(created).value());
  RemoteInputChannel& bad = *channels_.back();
  {
    ChannelReader reader(bad, 1);
    Status failure = reader.waitForFailure();
    EXPECT_EQ(failure.code(), StatusCode::kCorruption) << failure.toString();
    EXPECT_THAT(failure.message(), ::testing::HasSubstr("buffer for unknown channel 5"));
    EXPECT_THAT(failure.message(), ::testing::HasSubstr(fake.address()));
  }
  EXPECT_TRUE(fake.waitForDisconnect());
  // The other connection and its channel are untouched.
  expectDelivers(good, *partition, 20);
}

TEST_F(RemoteInputChannelTest, producerDisconnectsPeerSendingCreditForUnknownChannel) {
  auto partition = registerPartition(1);
  RemoteInputChannel& good = addChannel(0, partitionId());
  ASSERT_TRUE(
      testing::eventually([&] { return producerConnections_->numServerConnections() == 1; }));
  // A second consumer connection announces credit for a channel it never requested.
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), producerConnections_->port()));
  std::vector<std::byte> frames;
  ASSERT_OK(encodeFrame(AddCredit{9, 1}, frames));
  asio::write(socket, asio::buffer(frames));
  std::array<std::byte, 16> reply{};
  asio::error_code error;
  bool done = false;
  socket.async_read_some(asio::buffer(reply), [&](const asio::error_code& e, size_t) {
    error = e;
    done = true;
  });
  io.run_for(kLongWait);
  EXPECT_TRUE(done);
  EXPECT_TRUE(error) << "connection still open";
  EXPECT_TRUE(
      testing::eventually([&] { return producerConnections_->numServerConnections() == 1; }));
  // The good consumer's connection still serves its channel.
  expectDelivers(good, *partition, 20);
}

TEST_F(RemoteInputChannelTest, producerDisconnectsPeerSendingGarbage) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), producerConnections_->port()));
  ASSERT_TRUE(
      testing::eventually([&] { return producerConnections_->numServerConnections() == 1; }));
  std::array<std::byte, 12> garbage{};
  garbage.fill(std::byte{0x42});
  asio::write(socket, asio::buffer(garbage));
  // The producer closes the connection: the read ends with EOF or a reset.
  std::array<std::byte, 16> reply{};
  asio::error_code error;
  bool done = false;
  socket.async_read_some(asio::buffer(reply), [&](const asio::error_code& e, size_t) {
    error = e;
    done = true;
  });
  io.run_for(kLongWait);
  EXPECT_TRUE(done);
  EXPECT_TRUE(error) << "connection still open";
  EXPECT_TRUE(
      testing::eventually([&] { return producerConnections_->numServerConnections() == 0; }));
}

TEST_F(RemoteInputChannelTest, shutsDownWithChannelsOpen) {
  auto partition = registerPartition(1);
  addChannel(0, partitionId());
  ASSERT_TRUE(
      testing::eventually([&] { return producerConnections_->numServerConnections() == 1; }));
  consumerConnections_->shutdown();
  producerConnections_->shutdown();
  EXPECT_FALSE(channels_.back()->status().isOk());
}

TEST_F(RemoteInputChannelTest, readsDataPortFromConfiguration) {
  Configuration configuration;
  configuration.set("taskmanager.data.port", "6121");
  ASSERT_OK_AND_ASSIGN(auto options, ConnectionManagerOptions::fromConfiguration(configuration));
  EXPECT_EQ(options.port, 6121);
  EXPECT_EQ(options.segmentSize, 32u * 1024);
  configuration.set("taskmanager.data.port", "70000");
  ASSERT_STATUS(StatusCode::kInvalidArgument,
                ConnectionManagerOptions::fromConfiguration(configuration));
}

}  // namespace
}  // namespace strom::network
