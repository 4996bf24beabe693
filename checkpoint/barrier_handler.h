#pragma once

// Checkpoint barriers on a task's inputs (DESIGN §6; docs/architecture.md, "Checkpoint
// barriers"). A source task emits barrier n between two batches; every other task meets one
// barrier n per input channel and takes its snapshot once the BarrierHandler says the barriers of
// all its channels are in, then forwards barrier n on all its outputs.

#include <strom/config.h>
#include <strom/status.h>

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
  kUnaligned = 2,    // reserved: the barrier overtakes buffered data (not handled yet)
};

/// `execution.checkpointing.mode`.
enum class CheckpointingMode { kExactlyOnce, kAtLeastOnce };

/// Read `execution.checkpointing.mode` (EXACTLY_ONCE, the default, or AT_LEAST_ONCE, in any
/// case). InvalidArgument naming the key and the value otherwise.
Result<CheckpointingMode> checkpointingModeOf(const Configuration& configuration);
/// Return the barrier type that sources of a job in `mode` emit.
CheckpointType barrierTypeOf(CheckpointingMode mode);

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
/// At-least-once: nothing is held; `snapshot(n)` runs when the last channel's barrier n arrives
/// (it may cover records after barrier n of the faster channels).
///
/// Both: a channel that delivered EndOfPartition counts as having delivered every later barrier.
/// A barrier newer than the one being aligned aborts that checkpoint (`abort(old)`; held items
/// are released) and starts the new one. Barriers of a checkpoint that completed or was aborted
/// are dropped. Watermarks and statuses are items like records: held with their channel.
///
/// Thread contract: not thread-safe; the task thread owns it. The callbacks run inside process().
class BarrierHandler {
 public:
  /// Hand one item of channel `channel` to the task (records, watermarks, EndOfPartition).
  using Deliver = std::function<Status(int channel, network::BufferOrEvent& item)>;
  /// Take the snapshot of `barrier` and forward it.
  using Snapshot = std::function<Status(const CheckpointBarrier& barrier)>;
  /// Checkpoint `checkpointId` was abandoned here (a newer barrier overtook its alignment).
  using Abort = std::function<void(int64_t checkpointId)>;

  BarrierHandler(CheckpointingMode mode, int numChannels, Deliver deliver, Snapshot snapshot,
                 Abort abort = {});

  /// Process the next item of channel `channel` (and any held items this releases). Returns the
  /// first error of a callback; the handler must not be used after an error.
  Status process(int channel, network::BufferOrEvent item);

  CheckpointingMode mode() const { return mode_; }
  int numChannels() const { return static_cast<int>(channels_.size()); }
  /// Return whether `channel`'s items are held now (aligned mode, its barrier has arrived).
  bool isBlocked(int channel) const { return channels_[channel].blocked; }
  /// Return the id of the checkpoint whose barriers are being collected, or -1.
  int64_t pendingCheckpoint() const { return pending_ ? current_.checkpointId : -1; }
  /// Return the id of the last checkpoint snapshotted or aborted here, or -1.
  int64_t lastHandledCheckpoint() const { return lastHandled_; }
  /// Return the number of items held on all channels.
  size_t numHeldItems() const;

 private:
  struct Channel {
    bool barrierSeen = false;  // barrier of the pending checkpoint arrived
    bool blocked = false;
    bool ended = false;
    std::deque<network::BufferOrEvent> held;
  };

  Status handle(int channel, network::BufferOrEvent& item);
  Status onBarrier(int channel, const CheckpointBarrier& barrier);
  /// Snapshot the pending checkpoint if every channel has its barrier or ended.
  Status completeIfAligned();
  /// End the pending checkpoint; move every held item to replay_.
  void release();

  const CheckpointingMode mode_;
  Deliver deliver_;
  Snapshot snapshot_;
  Abort abort_;
  std::vector<Channel> channels_;
  bool pending_ = false;
  CheckpointBarrier current_;
  int numArrived_ = 0;  // channels with barrierSeen or ended, while pending_
  int64_t lastHandled_ = -1;
  // Released items not processed yet, in the order to process them.
  std::deque<std::pair<int, network::BufferOrEvent>> replay_;
};

}  // namespace strom::checkpoint
