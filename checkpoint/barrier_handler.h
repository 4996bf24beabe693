#pragma once

// Checkpoint barriers on a task's inputs (DESIGN §6; docs/architecture.md, "Checkpoint
// barriers"). A source task emits barrier n between two batches; every other task meets one
// barrier n per input channel and takes its snapshot once the BarrierHandler says the barriers of
// all its channels are in, then forwards barrier n on all its outputs.

#include <strom/config.h>
#include <strom/status.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/network/result_partition.h"

namespace strom::checkpoint {

/// How a barrier is to be handled; travels in the barrier (Event::options, docs/formats.md §5).
enum class CheckpointType : uint8_t {
  kAligned = 0,      // exactly-once: channels whose barrier arrived wait for the others
  kAtLeastOnce = 1,  // no waiting: the snapshot is taken when the last barrier arrives
  kUnaligned = 2,    // exactly-once: the barrier overtakes in-flight data, which is persisted
  /// Aligned, but a task where more than execution.checkpointing.aligned-checkpoint-timeout
  /// passed since the trigger turns it unaligned (and emits it unaligned).
  kAlignedTimeout = 3,
};

/// `execution.checkpointing.mode`.
enum class CheckpointingMode { kExactlyOnce, kAtLeastOnce };

/// Read `execution.checkpointing.mode` (EXACTLY_ONCE, the default, or AT_LEAST_ONCE, in any
/// case). InvalidArgument naming the key and the value otherwise.
Result<CheckpointingMode> checkpointingModeOf(const Configuration& configuration);
/// Return the barrier type that sources of a job in `mode` emit.
CheckpointType barrierTypeOf(CheckpointingMode mode);
/// Return the barrier type of a job's periodic checkpoints: execution.checkpointing.mode, with
/// execution.checkpointing.unaligned.enabled (kUnaligned, or kAlignedTimeout when
/// execution.checkpointing.aligned-checkpoint-timeout is positive). InvalidArgument naming the
/// key for a bad value, or for unaligned checkpoints in AT_LEAST_ONCE mode.
Result<CheckpointType> barrierTypeOf(const Configuration& configuration);
/// Read execution.checkpointing.aligned-checkpoint-timeout (default 0). InvalidArgument naming
/// the key if it does not parse.
Result<std::chrono::milliseconds> alignedCheckpointTimeoutOf(const Configuration& configuration);

/// The bits of a barrier event's options byte (docs/formats.md §5).
inline constexpr uint8_t kBarrierTypeMask = 0x0f;      // CheckpointType
inline constexpr uint8_t kBarrierSavepointBit = 0x10;  // a savepoint
inline constexpr uint8_t kBarrierTerminateBit = 0x20;  // stop with a savepoint

/// Barrier n of one checkpoint.
struct CheckpointBarrier {
  int64_t checkpointId = 0;
  int64_t timestamp = 0;  // trigger time, epoch milliseconds
  CheckpointType type = CheckpointType::kAligned;
  /// A savepoint (always aligned): the JobManager moves its files into the savepoint's
  /// directory once it completes.
  bool savepoint = false;
  /// Stop with a savepoint: sources emit nothing after this barrier, and every task ends once
  /// the savepoint completes (notifyCheckpointComplete).
  bool terminate = false;

  network::Event toEvent() const;
  /// REQUIRES: event.type == EventType::kCheckpointBarrier.
  static CheckpointBarrier fromEvent(const network::Event& event);
  bool operator==(const CheckpointBarrier&) const = default;
};

/// What a task does for the cancellation markers and the unaligned checkpoints of its
/// BarrierHandler.
struct BarrierHandlerCallbacks {
  /// Checkpoint `checkpointId` was cancelled upstream (its first cancellation marker here):
  /// pass the marker on.
  std::function<void(int64_t checkpointId)> cancelled;
  /// Persist `item` of `channel`: input processed after the snapshot, before its barrier.
  std::function<void(int channel, const network::BufferOrEvent& item)> persist;
  /// Let the barrier of `checkpointId` overtake what `channel` has queued
  /// (network::InputChannel::prioritizeBarrier).
  std::function<void(int channel, int64_t checkpointId)> prioritize;
  /// The channel state of checkpoint `checkpointId` is complete.
  std::function<Status(int64_t checkpointId)> complete;
  /// The current time, epoch milliseconds (compared with the barriers' trigger times).
  std::function<int64_t()> now;
  /// execution.checkpointing.aligned-checkpoint-timeout, for kAlignedTimeout barriers.
  std::chrono::milliseconds alignedTimeout{0};
};

/// Sits between a task's input gates and its record readers: every item the task polls goes
/// through process(), which hands it on through `deliver` or holds it, and calls `snapshot` once
/// per checkpoint when its barriers are complete. Channels are numbered over all of the task's
/// gates (gate 0's channels first).
///
/// Exactly-once (aligned): when barrier n arrives on a channel, that channel's later items are
/// held, in order, until barrier n arrived on every channel; then `snapshot(n)` runs and the held
/// items are processed as if they arrived just then. The records a snapshot covers are exactly
/// those before barrier n on every channel. The held items keep their network buffers, so a
/// blocked channel's producer is back-pressured once its buffers (or credit) run out.
///
/// Unaligned (FLIP-76; barriers of type kUnaligned, which overtook the in-flight data as
/// priority events): the first barrier n triggers `snapshot(n)` at once (of type kUnaligned, so
/// that the task emits its barriers as priority events), and nothing is held. The channel state
/// of checkpoint n is the input the snapshot does not cover and that precedes barrier n: on each
/// channel, the task's own persisted bytes at the snapshot (a partial record), then every item
/// processed before its barrier n arrived, then the items that barrier overtook (process() is
/// told how many; they are the channel's next items), each passed to `persist` as it is
/// processed. Once every channel's barrier n and the items it overtook arrived (or the channel
/// ended), `complete(n)` says the channel state is whole.
///
/// Aligned with a timeout (kAlignedTimeout): aligned, until `alignedTimeout` passed since the
/// checkpoint's trigger (when a barrier arrives, or checkAlignmentTimeout() finds it): then the
/// checkpoint turns unaligned here. The held items of the blocked channels are released (they
/// follow their barrier: no channel state), the snapshot is taken, and every channel still
/// waiting for its barrier records its input as above and is asked to let its barrier overtake
/// what is queued (`prioritize`). A kUnaligned barrier of the pending checkpoint (an upstream
/// task turned it) turns it unaligned too.
///
/// At-least-once: nothing is held; `snapshot(n)` runs when the last channel's barrier n arrives
/// (it may cover records after barrier n of the faster channels).
///
/// Cancellation markers (a task upstream declined checkpoint n, Flink's CancelCheckpointMarker):
/// the first marker n aborts checkpoint n here if it is pending (held items released, channel
/// state dropped, `abort(n)`), or makes later barriers n be dropped, and calls `cancelled(n)` so
/// that the task passes it on. abortCheckpoint() does the same for a checkpoint the
/// JobManager aborted, without the marker.
///
/// All: a channel that delivered EndOfPartition counts as having delivered every later barrier.
/// A barrier newer than the pending checkpoint aborts it (`abort(old)`; held items are released,
/// channel state is dropped) and starts the new one. Barriers of a checkpoint that completed or
/// was aborted are dropped, and are never persisted. Watermarks and statuses are items like
/// records: held, or persisted, with their channel.
///
/// Thread contract: not thread-safe; the task thread owns it. The callbacks run inside process()
/// and checkAlignmentTimeout().
class BarrierHandler {
 public:
  /// Hand one item of channel `channel` to the task (records, watermarks, EndOfPartition).
  using Deliver = std::function<Status(int channel, network::BufferOrEvent& item)>;
  /// Take the snapshot of `barrier` and forward it.
  using Snapshot = std::function<Status(const CheckpointBarrier& barrier)>;
  /// Checkpoint `checkpointId` was abandoned here: a newer barrier or a cancellation marker
  /// overtook its alignment, or abortCheckpoint() was called.
  using Abort = std::function<void(int64_t checkpointId)>;
  using BarrierHandlerCallbacks = checkpoint::BarrierHandlerCallbacks;

  BarrierHandler(CheckpointingMode mode, int numChannels, Deliver deliver, Snapshot snapshot,
                 Abort abort = {}, BarrierHandlerCallbacks channelState = {});

  /// Process the next item of channel `channel` (and any held items this releases). For a
  /// barrier that overtook items as a priority event, `overtaken` says how many
  /// (network::InputChannel::numOvertaken()): the channel's next that many items precede it.
  /// Returns the first error of a callback; the handler must not be used after an error.
  Status process(int channel, network::BufferOrEvent item, size_t overtaken = 0);
  /// Abort checkpoint `checkpointId` if it is pending (the JobManager aborted it): held items are
  /// processed, channel state is dropped. Errors as process().
  Status abortCheckpoint(int64_t checkpointId);
  /// Turn the pending kAlignedTimeout checkpoint unaligned if its timeout passed. Errors as
  /// process().
  Status checkAlignmentTimeout();
  /// Return when (epoch ms) the pending alignment times out, or INT64_MAX.
  int64_t alignmentDeadline() const;

  CheckpointingMode mode() const { return mode_; }
  int numChannels() const { return static_cast<int>(channels_.size()); }
  /// Return whether `channel`'s items are held now (aligned mode, its barrier has arrived).
  bool isBlocked(int channel) const { return channels_[channel].blocked; }
  /// Return whether `channel`'s items are persisted now (unaligned, its barrier has not arrived).
  bool isRecording(int channel) const { return channels_[channel].recording; }
  /// Return the id of the checkpoint whose barriers are being collected, or -1.
  int64_t pendingCheckpoint() const { return pending_ ? current_.checkpointId : -1; }
  /// Return whether the pending checkpoint is unaligned here (its snapshot was taken).
  bool isPendingUnaligned() const { return pending_ && unaligned_; }
  /// Return the id of the last checkpoint snapshotted or aborted here, or -1.
  int64_t lastHandledCheckpoint() const { return lastHandled_; }
  /// Return the number of items held on all channels.
  size_t numHeldItems() const;

 private:
  /// An item and, for a barrier, how many items it overtook.
  struct Item {
    network::BufferOrEvent item;
    size_t overtaken = 0;
  };
  struct Channel {
    bool barrierSeen = false;  // barrier of the pending checkpoint arrived
    bool blocked = false;
    bool ended = false;
    bool recording = false;    // unaligned: items are persisted until the barrier arrives
    size_t overtakenLeft = 0;  // unaligned: items its barrier overtook, still to persist
    std::deque<Item> held;
  };

  Status handle(int channel, network::BufferOrEvent& item, size_t overtaken);
  /// Process the released items, each as if it arrived now.
  Status drainReplay();
  Status onBarrier(int channel, const CheckpointBarrier& barrier, size_t overtaken);
  void onCancellationMarker(int64_t checkpointId);
  /// Turn the pending checkpoint unaligned: release the blocked channels, take the snapshot,
  /// start recording the channels still waiting for their barrier.
  Status switchToUnaligned();
  bool alignmentTimedOut() const;
  /// Snapshot the pending checkpoint if every channel has its barrier or ended (aligned), or
  /// complete its channel state (unaligned).
  Status completeIfAligned();
  /// End the pending checkpoint; move every held item to replay_.
  void release();
  /// Move `channel`'s held items to replay_, in order.
  void replayHeld(size_t channel);

  const CheckpointingMode mode_;
  Deliver deliver_;
  Snapshot snapshot_;
  Abort abort_;
  BarrierHandlerCallbacks channelState_;
  std::vector<Channel> channels_;
  bool pending_ = false;
  bool unaligned_ = false;  // the pending checkpoint's snapshot was taken unaligned
  CheckpointBarrier current_;
  int numArrived_ = 0;        // channels with barrierSeen or ended, while pending_
  size_t overtakenLeft_ = 0;  // sum of the channels' overtakenLeft
  int64_t lastHandled_ = -1;
  // Released items not processed yet, in the order to process them.
  std::deque<std::pair<int, Item>> replay_;
};

}  // namespace strom::checkpoint
