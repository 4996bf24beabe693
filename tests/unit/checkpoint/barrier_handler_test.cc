// The barrier handler over fake channels: items are fed to it directly, each record a network
// buffer whose first 8 bytes are its number, and everything it hands on or does is logged in one
// sequence ("c<channel>:r<n>", "c<channel>:end", "snapshot <n>", "abort <n>"; unaligned also
// "persist c<channel>:r<n>", "prioritize c<channel> <n>", "complete <n>").

#include "checkpoint/barrier_handler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runtime/network/buffer.h"
#include "testutil/status_matchers.h"

namespace strom::checkpoint {
namespace {

using network::BufferOrEvent;
using network::Event;
using network::EventType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class BarrierHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(global_, network::NetworkBufferPool::create(64, 64));
    ASSERT_OK_AND_ASSIGN(pool_, network::LocalBufferPool::create(*global_, 1, 64, "test"));
  }

  void makeHandler(CheckpointingMode mode, int numChannels) {
    handler_ = std::make_unique<BarrierHandler>(
        mode, numChannels,
        [this](int channel, BufferOrEvent& item) {
          std::string prefix = "c" + std::to_string(channel) + ":";
          if (item.isEndOfPartition()) {
            log_.push_back(prefix + "end");
          } else if (item.isEvent()) {
            log_.push_back(prefix + "wm" + std::to_string(item.event().value));
          } else {
            int64_t n = 0;
            std::memcpy(&n, item.buffer().data(), 8);
            log_.push_back(prefix + "r" + std::to_string(n));
          }
          return Status::ok();
        },
        [this](const CheckpointBarrier& barrier) {
          log_.push_back("snapshot " + std::to_string(barrier.checkpointId));
          snapshots_.push_back(barrier);
          return Status::ok();
        },
        [this](int64_t checkpointId) { log_.push_back("abort " + std::to_string(checkpointId)); });
  }

  /// A handler with the unaligned callbacks; `now_` is its clock.
  void makeUnalignedHandler(int numChannels, std::chrono::milliseconds timeout = {}) {
    makeHandler(CheckpointingMode::kExactlyOnce, numChannels);
    BarrierHandler::BarrierHandlerCallbacks callbacks;
    callbacks.persist = [this](int channel, const BufferOrEvent& item) {
      log_.push_back("persist " + describe(channel, item));
    };
    callbacks.prioritize = [this](int channel, int64_t id) {
      log_.push_back("prioritize c" + std::to_string(channel) + " " + std::to_string(id));
    };
    callbacks.complete = [this](int64_t id) {
      log_.push_back("complete " + std::to_string(id));
      return Status::ok();
    };
    callbacks.now = [this] { return now_; };
    callbacks.cancelled = [this](int64_t id) { log_.push_back("cancelled " + std::to_string(id)); };
    callbacks.alignedTimeout = timeout;
    handler_ = std::make_unique<BarrierHandler>(
        CheckpointingMode::kExactlyOnce, numChannels,
        [this](int channel, BufferOrEvent& item) {
          log_.push_back(describe(channel, item));
          return Status::ok();
        },
        [this](const CheckpointBarrier& barrier) {
          log_.push_back("snapshot " + std::to_string(barrier.checkpointId));
          snapshots_.push_back(barrier);
          return Status::ok();
        },
        [this](int64_t checkpointId) { log_.push_back("abort " + std::to_string(checkpointId)); },
        std::move(callbacks));
  }

  static std::string describe(int channel, const BufferOrEvent& item) {
    std::string prefix = "c" + std::to_string(channel) + ":";
    if (item.isEndOfPartition()) return prefix + "end";
    if (item.isEvent()) return prefix + "wm" + std::to_string(item.event().value);
    int64_t n = 0;
    std::memcpy(&n, item.buffer().data(), 8);
    return prefix + "r" + std::to_string(n);
  }

  BufferOrEvent record(int64_t n) {
    network::Buffer buffer = pool_->tryRequestBuffer();
    EXPECT_TRUE(buffer.isValid());
    std::memcpy(buffer.data(), &n, 8);
    buffer.setSize(8);
    return BufferOrEvent(std::move(buffer));
  }
  static BufferOrEvent barrier(int64_t id, CheckpointType type = CheckpointType::kAligned) {
    return BufferOrEvent(CheckpointBarrier{id, 1000 + id, type}.toEvent());
  }
  static BufferOrEvent end() { return BufferOrEvent(Event{EventType::kEndOfPartition, 0}); }
  static BufferOrEvent cancel(int64_t id) {
    return BufferOrEvent(Event{EventType::kCancelCheckpointMarker, id});
  }
  static BufferOrEvent watermark(int64_t value) {
    return BufferOrEvent(Event{EventType::kWatermark, value});
  }

  void feed(int channel, BufferOrEvent item, size_t overtaken = 0) {
    ASSERT_OK(handler_->process(channel, std::move(item), overtaken));
  }

  std::unique_ptr<network::NetworkBufferPool> global_;
  std::shared_ptr<network::LocalBufferPool> pool_;
  std::unique_ptr<BarrierHandler> handler_;
  std::vector<std::string> log_;
  std::vector<CheckpointBarrier> snapshots_;
  int64_t now_ = 0;
};

TEST_F(BarrierHandlerTest, alignedHoldsExactlyThePostBarrierItems) {
  makeHandler(CheckpointingMode::kExactlyOnce, 3);
  feed(0, record(1));
  feed(0, barrier(1));
  feed(0, record(2));
  feed(0, watermark(7));
  feed(1, record(3));
  feed(1, barrier(1));
  feed(1, record(4));
  feed(2, record(5));
  EXPECT_TRUE(handler_->isBlocked(0));
  EXPECT_TRUE(handler_->isBlocked(1));
  EXPECT_FALSE(handler_->isBlocked(2));
  EXPECT_EQ(handler_->numHeldItems(), 3u);
  EXPECT_EQ(handler_->pendingCheckpoint(), 1);
  EXPECT_THAT(log_, ElementsAre("c0:r1", "c1:r3", "c2:r5"));

  feed(2, barrier(1));
  feed(2, record(6));
  EXPECT_THAT(log_, ElementsAre("c0:r1", "c1:r3", "c2:r5", "snapshot 1", "c0:r2", "c0:wm7", "c1:r4",
                                "c2:r6"));
  ASSERT_EQ(snapshots_.size(), 1u);
  EXPECT_EQ(snapshots_[0], (CheckpointBarrier{1, 1001, CheckpointType::kAligned}));
  EXPECT_EQ(handler_->numHeldItems(), 0u);
  EXPECT_EQ(handler_->pendingCheckpoint(), -1);
  EXPECT_EQ(handler_->lastHandledCheckpoint(), 1);
  for (int c = 0; c < 3; ++c) EXPECT_FALSE(handler_->isBlocked(c));
}

TEST_F(BarrierHandlerTest, alignedHandlesConsecutiveCheckpointsHeldBehindEachOther) {
  makeHandler(CheckpointingMode::kExactlyOnce, 2);
  // Channel 0 runs two checkpoints ahead: barrier 2 is held behind barrier 1.
  feed(0, barrier(1));
  feed(0, record(1));
  feed(0, barrier(2));
  feed(0, record(2));
  feed(1, record(3));
  feed(1, barrier(1));  // completes 1; the replay re-blocks channel 0 at barrier 2
  EXPECT_THAT(log_, ElementsAre("c1:r3", "snapshot 1", "c0:r1"));
  EXPECT_TRUE(handler_->isBlocked(0));
  EXPECT_EQ(handler_->numHeldItems(), 1u);
  feed(1, record(4));
  feed(1, barrier(2));
  EXPECT_THAT(log_, ElementsAre("c1:r3", "snapshot 1", "c0:r1", "c1:r4", "snapshot 2", "c0:r2"));
}

TEST_F(BarrierHandlerTest, atLeastOnceDoesNotBlock) {
  makeHandler(CheckpointingMode::kAtLeastOnce, 3);
  feed(0, record(1));
  feed(0, barrier(1, CheckpointType::kAtLeastOnce));
  feed(0, record(2));
  feed(1, barrier(1, CheckpointType::kAtLeastOnce));
  feed(1, record(3));
  for (int c = 0; c < 3; ++c) EXPECT_FALSE(handler_->isBlocked(c));
  EXPECT_EQ(handler_->numHeldItems(), 0u);
  EXPECT_EQ(handler_->pendingCheckpoint(), 1);
  feed(2, record(4));
  feed(2, barrier(1, CheckpointType::kAtLeastOnce));
  feed(2, record(5));
  EXPECT_THAT(log_, ElementsAre("c0:r1", "c0:r2", "c1:r3", "c2:r4", "snapshot 1", "c2:r5"));
  ASSERT_EQ(snapshots_.size(), 1u);
  EXPECT_EQ(snapshots_[0].type, CheckpointType::kAtLeastOnce);
}

TEST_F(BarrierHandlerTest, newerBarrierAbortsTheOlderAlignment) {
  makeHandler(CheckpointingMode::kExactlyOnce, 2);
  feed(0, barrier(1));
  feed(0, record(1));  // held
  // Channel 1 never sent barrier 1 (its producer declined it): barrier 2 supersedes it.
  feed(1, barrier(2));
  EXPECT_THAT(log_, ElementsAre("abort 1", "c0:r1"));
  EXPECT_FALSE(handler_->isBlocked(0));
  EXPECT_TRUE(handler_->isBlocked(1));
  EXPECT_EQ(handler_->pendingCheckpoint(), 2);
  feed(1, record(2));   // held for checkpoint 2
  feed(0, barrier(1));  // a late barrier of the aborted checkpoint: dropped
  feed(0, record(3));
  feed(0, barrier(2));
  EXPECT_THAT(log_, ElementsAre("abort 1", "c0:r1", "c0:r3", "snapshot 2", "c1:r2"));
  // Barriers of a completed checkpoint are dropped as well.
  feed(0, barrier(2));
  feed(0, record(4));
  EXPECT_FALSE(handler_->isBlocked(0));
  EXPECT_EQ(snapshots_.size(), 1u);
  EXPECT_EQ(handler_->lastHandledCheckpoint(), 2);
}

TEST_F(BarrierHandlerTest, newerBarrierAmongTheHeldItemsCompletesAfterTheAbort) {
  makeHandler(CheckpointingMode::kExactlyOnce, 2);
  feed(0, barrier(1));
  feed(0, record(1));
  feed(0, barrier(2));
  feed(0, record(2));
  feed(1, barrier(2));  // aborts 1; the replay of channel 0 reaches its barrier 2
  EXPECT_THAT(log_, ElementsAre("abort 1", "c0:r1", "snapshot 2", "c0:r2"));
  EXPECT_EQ(handler_->numHeldItems(), 0u);
}

TEST_F(BarrierHandlerTest, endOfInputCountsAsTheChannelsBarrier) {
  makeHandler(CheckpointingMode::kExactlyOnce, 2);
  feed(0, barrier(1));
  feed(0, record(1));  // held
  feed(1, record(2));
  feed(1, end());  // channel 1 ends during the alignment: checkpoint 1 completes
  EXPECT_THAT(log_, ElementsAre("c1:r2", "c1:end", "snapshot 1", "c0:r1"));
  // A channel that ended before a checkpoint started counts as aligned from the start.
  feed(0, record(3));
  feed(0, barrier(2));
  feed(0, record(4));
  EXPECT_THAT(
      log_, ElementsAre("c1:r2", "c1:end", "snapshot 1", "c0:r1", "c0:r3", "snapshot 2", "c0:r4"));
  EXPECT_FALSE(handler_->isBlocked(0));
}

TEST_F(BarrierHandlerTest, callbackErrorsAreReturned) {
  handler_ = std::make_unique<BarrierHandler>(
      CheckpointingMode::kExactlyOnce, 1, [](int, BufferOrEvent&) { return Status::ok(); },
      [](const CheckpointBarrier&) { return Status::internal("snapshot failed"); });
  ASSERT_STATUS(StatusCode::kInternal, handler_->process(0, barrier(1)));
}

TEST_F(BarrierHandlerTest, unalignedSnapshotsAtTheFirstBarrierAndPersistsWhatPrecedesEachBarrier) {
  makeUnalignedHandler(2);
  feed(0, record(1));
  feed(1, record(2));
  // Barrier 1 overtook two items of channel 0: they are its next two items.
  feed(0, barrier(1, CheckpointType::kUnaligned), 2);
  ASSERT_EQ(snapshots_.size(), 1u);
  EXPECT_EQ(snapshots_[0].type, CheckpointType::kUnaligned);
  EXPECT_FALSE(handler_->isBlocked(0));
  EXPECT_TRUE(handler_->isRecording(1));
  feed(1, record(3));
  feed(0, record(4));
  feed(0, watermark(7));
  feed(0, record(5));  // after the overtaken ones: not persisted
  feed(1, barrier(1, CheckpointType::kUnaligned));
  feed(1, record(6));
  EXPECT_THAT(log_, ElementsAre("c0:r1", "c1:r2", "snapshot 1", "prioritize c1 1", "persist c1:r3",
                                "c1:r3", "persist c0:r4", "c0:r4", "persist c0:wm7", "c0:wm7",
                                "c0:r5", "complete 1", "c1:r6"));
  EXPECT_EQ(handler_->lastHandledCheckpoint(), 1);
  EXPECT_EQ(handler_->pendingCheckpoint(), -1);
}

TEST_F(BarrierHandlerTest, unalignedCompletesOnlyOnceTheOvertakenItemsArePersisted) {
  makeUnalignedHandler(1);
  feed(0, barrier(1, CheckpointType::kUnaligned), 2);
  feed(0, record(1));
  EXPECT_THAT(log_, ElementsAre("snapshot 1", "persist c0:r1", "c0:r1"));
  feed(0, record(2));
  feed(0, record(3));
  EXPECT_THAT(log_, ElementsAre("snapshot 1", "persist c0:r1", "c0:r1", "persist c0:r2", "c0:r2",
                                "complete 1", "c0:r3"));
}

TEST_F(BarrierHandlerTest, unalignedEndOfInputEndsTheChannelsState) {
  makeUnalignedHandler(2);
  feed(0, barrier(4, CheckpointType::kUnaligned));
  feed(1, record(1));
  feed(1, end());
  EXPECT_THAT(log_, ElementsAre("snapshot 4", "prioritize c1 4", "persist c1:r1", "c1:r1", "c1:end",
                                "complete 4"));
}

TEST_F(BarrierHandlerTest, newerUnalignedBarrierAbortsThePendingOneAndDropsItsOvertakenCount) {
  makeUnalignedHandler(2);
  feed(0, barrier(1, CheckpointType::kUnaligned), 1);
  // Barrier 2 went ahead of barrier 1's overtaken item on channel 0, and overtook it too.
  feed(0, barrier(2, CheckpointType::kUnaligned), 1);
  feed(0, record(1));
  feed(1, barrier(1, CheckpointType::kUnaligned));  // superseded: dropped
  feed(1, barrier(2, CheckpointType::kUnaligned));
  EXPECT_THAT(log_, ElementsAre("snapshot 1", "prioritize c1 1", "abort 1", "snapshot 2",
                                "prioritize c1 2", "persist c0:r1", "c0:r1", "complete 2"));
}

TEST_F(BarrierHandlerTest, alignedCheckpointTurnsUnalignedWhenItsAlignmentTimesOut) {
  makeUnalignedHandler(2, std::chrono::milliseconds(100));
  now_ = 1010;  // barrier 1 was triggered at 1001
  feed(0, barrier(1, CheckpointType::kAlignedTimeout));
  feed(0, record(1));  // after the barrier: held
  EXPECT_TRUE(handler_->isBlocked(0));
  EXPECT_EQ(handler_->alignmentDeadline(), 1101);
  ASSERT_OK(handler_->checkAlignmentTimeout());  // not yet
  EXPECT_TRUE(handler_->isBlocked(0));
  now_ = 1101;
  ASSERT_OK(handler_->checkAlignmentTimeout());
  EXPECT_TRUE(handler_->isPendingUnaligned());
  EXPECT_EQ(handler_->alignmentDeadline(), INT64_MAX);
  ASSERT_EQ(snapshots_.size(), 1u);
  EXPECT_EQ(snapshots_[0].type, CheckpointType::kUnaligned);
  feed(1, record(2));
  feed(1, barrier(1, CheckpointType::kAlignedTimeout), 1);  // prioritized: overtook one item
  feed(1, record(3));
  EXPECT_THAT(log_, ElementsAre("snapshot 1", "prioritize c1 1", "c0:r1", "persist c1:r2", "c1:r2",
                                "persist c1:r3", "c1:r3", "complete 1"));
}

TEST_F(BarrierHandlerTest,
       barrierArrivingAfterTheTimeoutStartsUnalignedAndUnalignedBarrierTurnsIt) {
  makeUnalignedHandler(3, std::chrono::milliseconds(100));
  now_ = 5000;
  feed(2, barrier(1, CheckpointType::kAlignedTimeout));
  ASSERT_EQ(snapshots_.size(), 1u);
  EXPECT_EQ(snapshots_[0].type, CheckpointType::kUnaligned);
  EXPECT_THAT(log_, ElementsAre("snapshot 1", "prioritize c0 1", "prioritize c1 1"));

  // Within the timeout, a kUnaligned barrier from an upstream task that turned it.
  log_.clear();
  snapshots_.clear();
  now_ = 1002;
  feed(0, barrier(2, CheckpointType::kAlignedTimeout));
  EXPECT_TRUE(handler_->isBlocked(0));
  feed(0, record(1));
  feed(1, barrier(2, CheckpointType::kUnaligned));
  EXPECT_THAT(log_, ElementsAre("abort 1", "snapshot 2", "prioritize c2 2", "c0:r1"));
}

TEST_F(BarrierHandlerTest, aBarrierThatOvertookItemsTurnsAnAlignedCheckpointUnaligned) {
  // Items that precede a barrier cannot be held behind it: the checkpoint turns unaligned.
  makeUnalignedHandler(2, std::chrono::milliseconds(100000));
  now_ = 1002;
  feed(0, barrier(1, CheckpointType::kAlignedTimeout), 1);
  feed(0, record(1));
  EXPECT_THAT(log_, ElementsAre("snapshot 1", "prioritize c1 1", "persist c0:r1", "c0:r1"));
}

TEST_F(BarrierHandlerTest, savepointsStayAlignedPastTheTimeout) {
  makeUnalignedHandler(2, std::chrono::milliseconds(1));
  now_ = 100000;
  feed(0, BufferOrEvent(CheckpointBarrier{1, 1001, CheckpointType::kAligned, true}.toEvent()));
  ASSERT_OK(handler_->checkAlignmentTimeout());
  EXPECT_TRUE(handler_->isBlocked(0));
  EXPECT_TRUE(snapshots_.empty());
  feed(1, BufferOrEvent(CheckpointBarrier{1, 1001, CheckpointType::kAligned, true}.toEvent()));
  EXPECT_THAT(log_, ElementsAre("snapshot 1"));
}

TEST_F(BarrierHandlerTest, cancellationMarkerAbortsTheAlignmentAndIsPassedOnOnce) {
  makeUnalignedHandler(2);
  feed(0, barrier(1));
  feed(0, record(1));  // held
  feed(1, cancel(1));
  feed(0, cancel(1));   // the second marker: dropped
  feed(1, barrier(1));  // a barrier of the cancelled checkpoint: dropped
  feed(1, record(2));
  feed(0, barrier(2));
  feed(1, barrier(2));
  EXPECT_THAT(log_, ElementsAre("abort 1", "cancelled 1", "c0:r1", "c1:r2", "snapshot 2"));
}

TEST_F(BarrierHandlerTest, cancellationMarkerAheadOfTheBarriersMakesThemBeDropped) {
  makeUnalignedHandler(2);
  feed(0, cancel(3));
  feed(0, barrier(3));
  feed(1, barrier(3));
  feed(1, record(1));
  EXPECT_THAT(log_, ElementsAre("cancelled 3", "c1:r1"));
  EXPECT_EQ(handler_->pendingCheckpoint(), -1);
}

TEST_F(BarrierHandlerTest, cancellationMarkerDropsThePendingChannelState) {
  makeUnalignedHandler(2);
  feed(0, barrier(1, CheckpointType::kUnaligned), 1);
  feed(1, cancel(1));
  feed(0, record(1));  // overtaken by barrier 1, but checkpoint 1 is gone: not persisted
  feed(1, record(2));
  EXPECT_THAT(log_, ElementsAre("snapshot 1", "prioritize c1 1", "abort 1", "cancelled 1", "c0:r1",
                                "c1:r2"));
}

TEST_F(BarrierHandlerTest, abortCheckpointReleasesTheHeldItems) {
  makeUnalignedHandler(2);
  feed(0, barrier(1));
  feed(0, record(1));
  ASSERT_OK(handler_->abortCheckpoint(2));  // not pending: nothing happens
  EXPECT_TRUE(handler_->isBlocked(0));
  ASSERT_OK(handler_->abortCheckpoint(1));
  feed(1, barrier(1));  // dropped
  EXPECT_THAT(log_, ElementsAre("abort 1", "c0:r1"));
  EXPECT_EQ(handler_->pendingCheckpoint(), -1);
}

TEST(CheckpointingModeTest, unalignedKeysChooseTheBarrierType) {
  Configuration config;
  ASSERT_OK_AND_ASSIGN(CheckpointType type, barrierTypeOf(config));
  EXPECT_EQ(type, CheckpointType::kAligned);
  config.set("execution.checkpointing.unaligned.enabled", "true");
  ASSERT_OK_AND_ASSIGN(type, barrierTypeOf(config));
  EXPECT_EQ(type, CheckpointType::kUnaligned);
  config.set("execution.checkpointing.aligned-checkpoint-timeout", "30 s");
  ASSERT_OK_AND_ASSIGN(type, barrierTypeOf(config));
  EXPECT_EQ(type, CheckpointType::kAlignedTimeout);
  config.set("execution.checkpointing.mode", "AT_LEAST_ONCE");
  auto bad = barrierTypeOf(config);
  ASSERT_STATUS(StatusCode::kInvalidArgument, bad);
  EXPECT_THAT(bad.status().message(), HasSubstr("execution.checkpointing.unaligned.enabled"));
  config.set("execution.checkpointing.unaligned.enabled", "maybe");
  ASSERT_STATUS(StatusCode::kInvalidArgument, barrierTypeOf(config));
}

TEST(CheckpointingModeTest, readsTheKeyInAnyCase) {
  Configuration config;
  ASSERT_OK_AND_ASSIGN(CheckpointingMode mode, checkpointingModeOf(config));
  EXPECT_EQ(mode, CheckpointingMode::kExactlyOnce);
  config.set("execution.checkpointing.mode", "at_least_once");
  ASSERT_OK_AND_ASSIGN(mode, checkpointingModeOf(config));
  EXPECT_EQ(mode, CheckpointingMode::kAtLeastOnce);
  EXPECT_EQ(barrierTypeOf(mode), CheckpointType::kAtLeastOnce);
  config.set("execution.checkpointing.mode", "sometimes");
  auto bad = checkpointingModeOf(config);
  ASSERT_FALSE(bad.isOk());
  EXPECT_THAT(bad.status().message(), HasSubstr("execution.checkpointing.mode"));
  EXPECT_THAT(bad.status().message(), HasSubstr("sometimes"));
}

}  // namespace
}  // namespace strom::checkpoint
