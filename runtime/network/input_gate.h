#pragma once

// The consumer side of the network stack (DESIGN §5): an InputGate per input of a subtask, with
// one InputChannel per producer subtask. Local channels read the producer's subpartition in
// memory; remote (TCP, credit-based) channels will implement the same InputChannel interface.

#include <strom/status.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "runtime/network/result_partition.h"
#include "runtime/network/wakeup_signal.h"

namespace strom::network {

/// One producer subtask's data as seen by one consumer subtask.
///
/// Thread contract: poll(), hasData() and setListener() are called by the consumer's task
/// thread (through its InputGate); implementations notify the listener from other threads.
class InputChannel {
 public:
  virtual ~InputChannel() = default;
  /// Return the next buffer or event, or nullopt if none has arrived. Never blocks.
  virtual std::optional<BufferOrEvent> poll() = 0;
  /// Return whether poll() would return an item.
  virtual bool hasData() const = 0;
  /// Tell `listener` `channelIndex` whenever the channel goes from empty to non-empty, and at
  /// once if data is already there; nullptr unregisters (no calls after this returns).
  virtual void setListener(DataAvailabilityListener* listener, int channelIndex) = 0;
  /// Return whether a priority event is at the front of the channel.
  virtual bool hasPriorityEvent() const = 0;
  /// After poll() returned a priority event (an unaligned checkpoint barrier): return how many
  /// items it overtook that this consumer must persist as input channel state. They are still
  /// queued: the next that many items poll() returns. 0 after any other item, or when the
  /// producer persisted them (output channel state).
  virtual size_t numOvertaken() const = 0;
  /// Let the barrier of checkpoint `checkpointId` overtake the items queued ahead of it, as a
  /// priority event: now if it is queued here, else as soon as it arrives (unless a later
  /// barrier arrives first).
  /// numOvertaken() then says how many items it overtook (an aligned checkpoint turned
  /// unaligned).
  virtual void prioritizeBarrier(int64_t checkpointId) = 0;
  /// OK, or why the channel failed (a remote peer's error or a protocol violation). A failed
  /// channel delivers what it received before the failure, then nothing more; the failure
  /// notifies the listener so that the consumer wakes up and checks. Any thread.
  virtual Status status() const { return Status::ok(); }
};

/// A channel to a producer in the same TaskManager: reads its ResultSubpartition directly and
/// hands over the producer's Buffer without copying it.
class LocalInputChannel final : public InputChannel {
 public:
  explicit LocalInputChannel(std::shared_ptr<ResultSubpartition> subpartition)
      : subpartition_(std::move(subpartition)) {}

  /// Look up subpartition `index` of partition `id` in `manager`. NotFound if the partition is
  /// not registered yet (the caller may retry later).
  static Result<std::unique_ptr<LocalInputChannel>> create(const ResultPartitionManager& manager,
                                                           const ResultPartitionId& id, int index);

  std::optional<BufferOrEvent> poll() override { return subpartition_->poll(); }
  bool hasData() const override { return subpartition_->hasData(); }
  void setListener(DataAvailabilityListener* listener, int channelIndex) override {
    subpartition_->setListener(listener, channelIndex);
  }
  bool hasPriorityEvent() const override { return subpartition_->hasPriorityEvent(); }
  size_t numOvertaken() const override { return subpartition_->lastPolledOvertaken(); }
  void prioritizeBarrier(int64_t checkpointId) override {
    subpartition_->prioritizeBarrier(checkpointId);
  }

 private:
  std::shared_ptr<ResultSubpartition> subpartition_;
};

/// Merges the channels of one input. pollNext() serves the channels that have data fairly, in
/// the order they got it: a FIFO holds each channel with data once; after one item is taken from
/// a channel it goes to the back of the FIFO if it still has data. A channel that got a priority
/// event is served before all others. Every time a channel gets data
/// the gate signals `wakeup`, so a task thread waiting there wakes up.
///
/// Thread contract: pollNext(), isFinished(), isChannelFinished(), numFinishedChannels() and
/// channel() belong to the consumer's task thread. notifyDataAvailable() is called by producer
/// threads. Construction registers the gate with every channel and destruction unregisters it;
/// `wakeup` must outlive the gate.
class InputGate final : public DataAvailabilityListener {
 public:
  InputGate(std::vector<std::unique_ptr<InputChannel>> channels, WakeupSignal& wakeup);
  ~InputGate() override;
  InputGate(const InputGate&) = delete;
  InputGate& operator=(const InputGate&) = delete;

  int numChannels() const { return static_cast<int>(channels_.size()); }
  InputChannel& channel(int index) { return *channels_[index]; }

  /// Return the next (channel index, buffer or event), or nullopt if no channel has data now.
  /// Never blocks. Each channel's EndOfPartition is returned once, like any other event.
  std::optional<std::pair<int, BufferOrEvent>> pollNext();
  /// Return the next priority event (channel index, event), or nullopt if none is waiting.
  std::optional<std::pair<int, BufferOrEvent>> pollPriority();
  /// Return whether a channel may have a priority event waiting (cheap; pollPriority() says).
  bool hasPriorityEvent() const { return numPriority_.load(std::memory_order_acquire) > 0; }
  /// Return whether every channel has delivered EndOfPartition (true for zero channels).
  bool isFinished() const { return numFinished_ == numChannels(); }
  bool isChannelFinished(int index) const { return finished_[index]; }
  int numFinishedChannels() const { return numFinished_; }
  /// Return the first status (InputChannel::status()) of a failed channel that has not
  /// delivered EndOfPartition, or OK. O(channels); task thread.
  Status status() const;

  // DataAvailabilityListener
  void notifyDataAvailable(int channelIndex) override;
  void notifyPriorityEvent(int channelIndex) override;

 private:
  /// Take the next item of channel `channelIndex`, requeueing it if it has more; nullopt if it
  /// has none.
  std::optional<std::pair<int, BufferOrEvent>> takeFrom(int channelIndex);
  /// Append `channelIndex` to the FIFO unless it is there; return whether it was appended.
  /// REQUIRES: mu_ held.
  bool enqueueLocked(int channelIndex);

  std::vector<std::unique_ptr<InputChannel>> channels_;
  WakeupSignal& wakeup_;

  std::mutex mu_;
  // The FIFO of channels with data: a ring of numChannels() slots, as each channel is in it at
  // most once. All guarded by mu_.
  std::vector<int> ring_;
  size_t ringHead_ = 0;
  size_t ringSize_ = 0;
  std::vector<bool> queued_;
  std::deque<int> priority_;            // channels that got a priority event, served first
  std::atomic<size_t> numPriority_{0};  // priority_.size(), read without mu_

  // Task thread only.
  std::vector<bool> finished_;
  int numFinished_ = 0;
};

}  // namespace strom::network
