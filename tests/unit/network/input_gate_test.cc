#include "runtime/network/input_gate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "runtime/network/buffer.h"
#include "runtime/network/result_partition.h"
#include "runtime/network/wakeup_signal.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"

namespace strom::network {
namespace {

using ::testing::ElementsAre;
using Clock = std::chrono::steady_clock;

constexpr auto kLongWait = std::chrono::seconds(30);

std::string bytesOf(const Buffer& buffer) {
  return std::string(reinterpret_cast<const char*>(buffer.data()), buffer.size());
}

class InputGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(global_, NetworkBufferPool::create(64, 32));
    ASSERT_OK_AND_ASSIGN(pool_, LocalBufferPool::create(*global_, 32, 32, "test"));
  }

  /// Return a buffer holding `text`.
  Buffer makeBuffer(std::string_view text) {
    Result<Buffer> buffer = pool_->requestBuffer();
    EXPECT_OK(buffer);
    std::memcpy(buffer->data(), text.data(), text.size());
    buffer->setSize(text.size());
    return std::move(buffer).value();
  }

  std::vector<std::shared_ptr<ResultSubpartition>> makeSubpartitions(int count) {
    std::vector<std::shared_ptr<ResultSubpartition>> subpartitions;
    for (int i = 0; i < count; ++i)
      subpartitions.push_back(std::make_shared<ResultSubpartition>(i));
    return subpartitions;
  }

  static std::vector<std::unique_ptr<InputChannel>> localChannels(
      const std::vector<std::shared_ptr<ResultSubpartition>>& subpartitions) {
    std::vector<std::unique_ptr<InputChannel>> channels;
    for (const auto& subpartition : subpartitions) {
      channels.push_back(std::make_unique<LocalInputChannel>(subpartition));
    }
    return channels;
  }

  std::unique_ptr<NetworkBufferPool> global_;
  std::shared_ptr<LocalBufferPool> pool_;
};

TEST_F(InputGateTest, servesChannelsWithDataRoundRobin) {
  auto subpartitions = makeSubpartitions(3);
  for (int c = 0; c < 3; ++c) {
    for (int k = 0; k < 3; ++k)
      subpartitions[c]->add(makeBuffer(std::to_string(c) + "." + std::to_string(k)));
  }
  WakeupSignal wakeup;
  InputGate gate(localChannels(subpartitions), wakeup);
  EXPECT_EQ(gate.numChannels(), 3);

  std::vector<std::string> order;
  while (auto next = gate.pollNext()) {
    ASSERT_TRUE(next->second.isBuffer());
    EXPECT_EQ(bytesOf(next->second.buffer()).substr(0, 1), std::to_string(next->first));
    order.push_back(bytesOf(next->second.buffer()));
  }
  EXPECT_THAT(order, ElementsAre("0.0", "1.0", "2.0", "0.1", "1.1", "2.1", "0.2", "1.2", "2.2"));
}

TEST_F(InputGateTest, channelThatGetsDataDoesNotWaitForBusyChannelToDrain) {
  auto subpartitions = makeSubpartitions(2);
  for (int k = 0; k < 4; ++k) subpartitions[0]->add(makeBuffer("a"));
  WakeupSignal wakeup;
  InputGate gate(localChannels(subpartitions), wakeup);

  std::vector<int> order;
  order.push_back(gate.pollNext()->first);
  subpartitions[1]->add(makeBuffer("b"));  // queued behind channel 0's requeued turn
  while (auto next = gate.pollNext()) order.push_back(next->first);
  EXPECT_THAT(order, ElementsAre(0, 0, 1, 0, 0));
}

TEST_F(InputGateTest, priorityEventIsServedBeforeEveryOtherChannel) {
  auto subpartitions = makeSubpartitions(3);
  for (int c = 0; c < 3; ++c) {
    for (int k = 0; k < 2; ++k) subpartitions[c]->add(makeBuffer(std::to_string(c)));
  }
  WakeupSignal wakeup;
  InputGate gate(localChannels(subpartitions), wakeup);
  EXPECT_EQ(gate.pollNext()->first, 0);
  // An unaligned barrier on channel 2 overtakes its buffers and channel 1's turn.
  std::vector<std::string> overtaken;
  subpartitions[2]->addPriorityEvent(
      Event{EventType::kCheckpointBarrier, 7, 0, 2},
      [&](const BufferOrEvent& item) { overtaken.push_back(bytesOf(item.buffer())); });
  EXPECT_THAT(overtaken, ElementsAre("2", "2"));
  auto next = gate.pollNext();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->first, 2);
  ASSERT_TRUE(next->second.isEvent());
  EXPECT_EQ(next->second.event().value, 7);
  EXPECT_EQ(gate.channel(2).numOvertaken(), 0u);  // the producer persisted them
  std::vector<int> order;
  while (auto item = gate.pollNext()) order.push_back(item->first);
  EXPECT_THAT(order, ElementsAre(1, 2, 0, 1, 2));
}

TEST_F(InputGateTest, tracksEndOfPartitionPerChannel) {
  auto subpartitions = makeSubpartitions(2);
  subpartitions[0]->add(Event{EventType::kEndOfPartition, 0});
  subpartitions[1]->add(makeBuffer("x"));
  subpartitions[1]->add(Event{EventType::kWatermark, 5});
  subpartitions[1]->add(Event{EventType::kEndOfPartition, 0});
  WakeupSignal wakeup;
  InputGate gate(localChannels(subpartitions), wakeup);
  EXPECT_FALSE(gate.isFinished());

  auto first = gate.pollNext();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->first, 0);
  EXPECT_TRUE(first->second.isEndOfPartition());  // still handed to the caller
  EXPECT_TRUE(gate.isChannelFinished(0));
  EXPECT_FALSE(gate.isFinished());

  auto second = gate.pollNext();
  ASSERT_TRUE(second && second->second.isBuffer());
  EXPECT_EQ(second->first, 1);
  auto third = gate.pollNext();
  ASSERT_TRUE(third && third->second.isEvent());
  EXPECT_EQ(third->second.event(), (Event{EventType::kWatermark, 5}));
  EXPECT_FALSE(gate.isChannelFinished(1));

  auto fourth = gate.pollNext();
  ASSERT_TRUE(fourth && fourth->second.isEndOfPartition());
  EXPECT_EQ(fourth->first, 1);
  EXPECT_TRUE(gate.isFinished());
  EXPECT_EQ(gate.numFinishedChannels(), 2);
  EXPECT_FALSE(gate.pollNext());
}

TEST_F(InputGateTest, gateWithoutChannelsIsFinished) {
  WakeupSignal wakeup;
  InputGate gate({}, wakeup);
  EXPECT_TRUE(gate.isFinished());
  EXPECT_FALSE(gate.pollNext());
}

TEST_F(InputGateTest, signalSentBeforeWaitIsNotLost) {
  WakeupSignal wakeup;
  wakeup.signal();
  wakeup.signal();  // collapses with the first
  EXPECT_TRUE(wakeup.waitUntil(Clock::now()));
  EXPECT_FALSE(wakeup.waitUntil(Clock::now() + std::chrono::milliseconds(1)));
}

TEST_F(InputGateTest, waitUntilReturnsFalseAtDeadline) {
  WakeupSignal wakeup;
  auto deadline = Clock::now() + std::chrono::milliseconds(5);
  EXPECT_FALSE(wakeup.waitUntil(deadline));
  EXPECT_GE(Clock::now(), deadline);
}

TEST_F(InputGateTest, wakeupSignalWakesWaiter) {
  WakeupSignal wakeup;
  std::atomic<bool> waiting{false};
  bool woken = false;
  std::thread waiter([&] {
    waiting.store(true);
    woken = wakeup.waitUntil(Clock::now() + kLongWait);
  });
  ASSERT_TRUE(::strom::testing::eventually([&] { return waiting.load(); }));
  wakeup.signal();
  waiter.join();
  EXPECT_TRUE(woken);
}

TEST_F(InputGateTest, dataArrivingOnAChannelWakesTheTaskThread) {
  auto subpartitions = makeSubpartitions(2);
  WakeupSignal wakeup;
  InputGate gate(localChannels(subpartitions), wakeup);
  EXPECT_FALSE(gate.pollNext());
  EXPECT_FALSE(wakeup.waitUntil(Clock::now()));  // nothing signalled yet

  std::thread producer([&] { subpartitions[1]->add(makeBuffer("late")); });
  ASSERT_TRUE(wakeup.waitUntil(Clock::now() + kLongWait));
  producer.join();
  auto next = gate.pollNext();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->first, 1);
  EXPECT_EQ(bytesOf(next->second.buffer()), "late");
}

TEST_F(InputGateTest, dataQueuedBeforeConstructionSignalsAtOnce) {
  auto subpartitions = makeSubpartitions(1);
  subpartitions[0]->add(makeBuffer("early"));
  WakeupSignal wakeup;
  InputGate gate(localChannels(subpartitions), wakeup);
  EXPECT_TRUE(wakeup.waitUntil(Clock::now()));
  EXPECT_TRUE(gate.pollNext());
}

TEST_F(InputGateTest, destroyedGateReceivesNoMoreNotifications) {
  auto subpartitions = makeSubpartitions(1);
  {
    WakeupSignal wakeup;
    InputGate gate(localChannels(subpartitions), wakeup);
  }
  subpartitions[0]->add(makeBuffer("orphan"));  // must not touch the destroyed gate or signal
  EXPECT_EQ(subpartitions[0]->queueSize(), 1u);
}

TEST_F(InputGateTest, producersOnSeveralThreadsFeedOneTaskThread) {
  // Each producer writes through its own partition with a small pool, so producers block on
  // back-pressure and wake as the task thread consumes.
  constexpr int kProducers = 4;
  constexpr int kBuffersPerProducer = 500;
  std::vector<std::shared_ptr<ResultPartition>> partitions;
  std::vector<std::unique_ptr<InputChannel>> channels;
  for (int p = 0; p < kProducers; ++p) {
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<ResultPartition> partition,
                         ResultPartition::create(ResultPartitionId{"job", 0, p, 0}, 1, *global_,
                                                 /*buffersPerChannel=*/1, /*floatingBuffers=*/1));
    channels.push_back(std::make_unique<LocalInputChannel>(partition->subpartition(0)));
    partitions.push_back(std::move(partition));
  }
  WakeupSignal wakeup;
  InputGate gate(std::move(channels), wakeup);

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      ResultPartition& partition = *partitions[p];
      for (int i = 0; i < kBuffersPerProducer; ++i) {
        std::string text = std::to_string(i) + ";";
        partition.channel(0).write(text.data(), text.size());
        partition.flushAll();
      }
      partition.finish();
    });
  }

  std::vector<int> nextExpected(kProducers, 0);
  bool timedOut = false;
  while (!gate.isFinished() && !timedOut) {
    auto next = gate.pollNext();
    if (!next) {
      timedOut = !wakeup.waitUntil(Clock::now() + kLongWait);
      continue;
    }
    auto& [channel, item] = *next;
    if (!item.isBuffer()) continue;
    EXPECT_EQ(bytesOf(item.buffer()), std::to_string(nextExpected[channel]) + ";");
    ++nextExpected[channel];
  }
  if (timedOut) {
    for (auto& partition : partitions) partition->close();
  }
  for (auto& producer : producers) producer.join();
  ASSERT_FALSE(timedOut);
  EXPECT_THAT(nextExpected, ElementsAre(kBuffersPerProducer, kBuffersPerProducer,
                                        kBuffersPerProducer, kBuffersPerProducer));
}

}  // namespace
}  // namespace strom::network
