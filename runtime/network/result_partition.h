#pragma once

// The producer side of the network stack (DESIGN §5): a ResultPartition per produced
// intermediate result of a subtask, with one ResultSubpartition (a queue of buffers and events)
// per consumer subtask, and the ResultPartitionManager through which consumers find them.
//
// Lock order: ResultSubpartition::mu_ before the listener's locks (InputGate::mu_, then
// WakeupSignal's): notifications are delivered under the subpartition lock, so unregistering a
// listener waits for a notification in flight.

#include <strom/record_io.h>
#include <strom/status.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "runtime/network/buffer.h"
#include "runtime/network/result_partition_id.h"

namespace strom::network {

enum class EventType {
  kEndOfPartition,     // the last item of a subpartition
  kWatermark,          // value: the event-time watermark
  kWatermarkStatus,    // value: 1 when the producer's stream went idle, 0 when it became active
  kCheckpointBarrier,  // value: the checkpoint id; timestamp and options as below
  kCancelCheckpointMarker,  // value: a checkpoint a task upstream declined (Flink's marker)
};

/// An in-band event; `value` is the watermark for kWatermark, the status for kWatermarkStatus,
/// the checkpoint id for kCheckpointBarrier and kCancelCheckpointMarker, and 0 otherwise.
/// `timestamp` (the checkpoint's trigger time, epoch ms) and `options` (a
/// checkpoint::CheckpointType) belong to barriers and are 0 in every other event.
struct Event {
  EventType type = EventType::kEndOfPartition;
  int64_t value = 0;
  int64_t timestamp = 0;
  uint8_t options = 0;
  bool operator==(const Event&) const = default;
};

/// One item of a subpartition: a Buffer of records (see <strom/record_io.h> for their layout; a
/// record may continue in the next buffer of the same subpartition) or an Event. Move-only.
struct BufferOrEvent {
  BufferOrEvent(Buffer buffer) : content(std::move(buffer)) {}  // NOLINT: implicit by design
  BufferOrEvent(Event event) : content(event) {}                // NOLINT: implicit by design

  bool isBuffer() const { return std::holds_alternative<Buffer>(content); }
  bool isEvent() const { return std::holds_alternative<Event>(content); }
  bool isEndOfPartition() const { return isEvent() && event().type == EventType::kEndOfPartition; }
  Buffer& buffer() { return std::get<Buffer>(content); }
  const Buffer& buffer() const { return std::get<Buffer>(content); }
  const Event& event() const { return std::get<Event>(content); }

  std::variant<Buffer, Event> content;
};

/// Told when a subpartition (seen through an input channel) goes from empty to non-empty.
class DataAvailabilityListener {
 public:
  virtual ~DataAvailabilityListener() = default;
  /// Called on the producer's thread, under the subpartition's lock: must be quick and must
  /// not call back into the subpartition.
  virtual void notifyDataAvailable(int channelIndex) = 0;
  /// A priority event (an unaligned checkpoint barrier) went to the front of the queue, which
  /// may have held data already. Same rules as notifyDataAvailable.
  virtual void notifyPriorityEvent(int channelIndex) { notifyDataAvailable(channelIndex); }
};

/// Called on each item a priority event overtakes, oldest first (see ResultSubpartition).
using OvertakenVisitor = std::function<void(const BufferOrEvent& item)>;

/// Return whether `item` is a checkpoint barrier of checkpoint `checkpointId` or a later one.
inline bool isBarrierFrom(const BufferOrEvent& item, int64_t checkpointId) {
  return item.isEvent() && item.event().type == EventType::kCheckpointBarrier &&
         item.event().value >= checkpointId;
}

/// The queue of buffers and events for one consumer subtask.
///
/// Thread contract: one producer thread calls add(); one consumer thread calls poll(),
/// hasData() and setListener(). Internally synchronized. Held by std::shared_ptr: the partition
/// and the consumer's channel share it, so queued buffers stay valid if the producer goes away.
///
/// Adjacent watermarks are coalesced: a watermark added right behind a queued watermark replaces
/// it, so a consumer that does not read cannot make the queue grow without limit. Only a
/// watermark directly behind a watermark is replaced: a watermark-status event between them
/// keeps both, so statuses are never dropped nor reordered relative to watermarks.
///
/// Priority events (unaligned checkpoint barriers, FLIP-76) go ahead of every queued item that
/// is not a priority event itself. Who persists the items a priority event overtakes depends on
/// who moved it: addPriorityEvent() lets the producer visit them at once (its output channel
/// state); a barrier moved forward for the consumer (prioritizeBarrier()) records how many items
/// it overtook, and the consumer persists that many items after it (lastPolledOvertaken(): its
/// input channel state).
class ResultSubpartition {
 public:
  explicit ResultSubpartition(int index) : index_(index) {}
  ResultSubpartition(const ResultSubpartition&) = delete;
  ResultSubpartition& operator=(const ResultSubpartition&) = delete;

  int index() const { return index_; }

  /// Enqueue `item` (producer thread); notify the listener if the queue was empty.
  void add(BufferOrEvent item);
  /// Enqueue `event` ahead of every queued item except earlier priority events, first calling
  /// `visitOvertaken` (under the lock: quick, no calls back) on each item it overtakes, oldest
  /// first; they stay queued. Notifies the listener (notifyPriorityEvent). Producer thread.
  void addPriorityEvent(const Event& event, const OvertakenVisitor& visitOvertaken);
  /// Dequeue the oldest item (a priority event first), or nullopt if the queue is empty
  /// (consumer thread). `priority`, when given, says whether it was a priority event.
  std::optional<BufferOrEvent> poll(bool* priority = nullptr);
  /// Let the barrier of checkpoint `checkpointId` overtake the items queued ahead of it: now if
  /// it is queued, else when it is added (unless a later barrier comes first). The consumer
  /// persists the items it overtook: lastPolledOvertaken() after polling it (consumer thread).
  void prioritizeBarrier(int64_t checkpointId);
  /// Producer side of an alignment timeout: if barrier `checkpointId` is still queued, put
  /// `replacement` (the barrier, now unaligned) ahead of the items queued before it, calling
  /// `visitOvertaken` on each of them, oldest first (the producer's output channel state), and
  /// return true; false if it has been polled already. Producer thread.
  bool prioritizeOwnBarrier(int64_t checkpointId, const Event& replacement,
                            const OvertakenVisitor& visitOvertaken);
  /// Return the id of the last checkpoint barrier poll() returned, or -1. Any thread.
  int64_t lastPolledBarrier() const { return lastPolledBarrier_.load(std::memory_order_acquire); }
  /// Return how many items the priority event returned by the last poll() overtook for the
  /// consumer (0 after addPriorityEvent() or another item; see prioritizeBarrier()): the next
  /// that many non-priority items poll() returns. Consumer thread.
  size_t lastPolledOvertaken() const;
  /// Return whether a priority event is at the front of the queue.
  bool hasPriorityEvent() const;
  /// Return whether an item is queued.
  bool hasData() const;
  /// Return the number of queued items.
  size_t queueSize() const;
  /// Register `listener` (nullptr: unregister) to be told `channelIndex` when data arrives.
  /// Notifies it at once if data is already queued. After this returns, the previous listener
  /// receives no more calls.
  void setListener(DataAvailabilityListener* listener, int channelIndex);

 private:
  /// Move the barrier at queue_[index] (not a priority item) to the front, behind the priority
  /// items, recording that it overtook the others for the consumer. REQUIRES: mu_ held.
  void prioritizeLocked(size_t index);

  const int index_;
  mutable std::mutex mu_;
  std::deque<BufferOrEvent> queue_;  // guarded by mu_
  // The first numPriority_ items of queue_ are priority events; overtaken_[i] is how many items
  // priority event i overtook for the consumer. Guarded by mu_.
  size_t numPriority_ = 0;
  std::deque<size_t> overtaken_;
  int64_t prioritizeFrom_ = INT64_MAX;  // guarded by mu_; the barrier prioritizeBarrier() awaits
  size_t lastPolledOvertaken_ = 0;      // guarded by mu_: of the last polled item
  std::atomic<int64_t> lastPolledBarrier_{-1};
  DataAvailabilityListener* listener_ = nullptr;  // guarded by mu_; not owned
  int listenerChannelIndex_ = 0;                  // guarded by mu_
};

/// The output of one producer subtask on one job edge: one subpartition per consumer subtask,
/// written through channel(i) by a typed record writer.
///
/// Buffers come from a LocalBufferPool of minBuffers = numSubpartitions + 1 and maxBuffers =
/// numSubpartitions * buffersPerChannel + floatingBuffers (but at least minBuffers). Each channel
/// holds at most one current buffer, taken when a write needs one; a full buffer is enqueued at
/// once, a partial one by flushAll(), emitEvent() or finish(). A write that needs a buffer while
/// none is free blocks (back-pressure) until the consumers return one, or until close().
///
/// Thread contract: channel(i) writes, flushAll(), hasUnflushedData(), emitEvent() and finish()
/// belong to the producer's task thread. close(), status(), subpartition(), id() and
/// bufferPool() may be called from any thread. Held by std::shared_ptr, shared by the producer
/// task and the ResultPartitionManager.
class ResultPartition final : public PartitionWriter {
 public:
  /// Create the partition and reserve its minimum buffers in `pool`, which must outlive it.
  /// InvalidArgument for non-positive counts; ResourceExhausted (with the id, the buffers needed
  /// and free) if `pool` has too few free segments.
  static Result<std::unique_ptr<ResultPartition>> create(ResultPartitionId id, int numSubpartitions,
                                                         NetworkBufferPool& pool,
                                                         int buffersPerChannel = 2,
                                                         int floatingBuffers = 8);
  ~ResultPartition() override;

  const ResultPartitionId& id() const { return id_; }
  int numSubpartitions() const { return static_cast<int>(subpartitions_.size()); }

  // PartitionWriter
  int numChannels() const override { return numSubpartitions(); }
  BufferSink& channel(int index) override;
  void emitWatermark(int64_t watermark) override { emitEvent(EventType::kWatermark, watermark); }
  void emitWatermarkStatus(bool idle) override {
    emitEvent(EventType::kWatermarkStatus, idle ? 1 : 0);
  }

  /// Enqueue every non-empty current buffer.
  void flushAll();
  /// Return whether a channel holds written bytes not yet enqueued. O(1).
  bool hasUnflushedData() const { return numChannelsWithBuffer_ > 0; }
  /// Enqueue each channel's current buffer, then `Event{type, value}`, to every subpartition.
  void emitEvent(EventType type, int64_t value) { emitEvent(Event{type, value}); }
  void emitEvent(const Event& event);
  /// Enqueue each channel's current buffer, then `event` as a priority event (see
  /// ResultSubpartition) to every subpartition, calling `visitOvertaken(subpartition, item)` on
  /// each queued item it overtakes: the partition's output channel state for an unaligned
  /// checkpoint.
  void emitPriorityEvent(
      const Event& event,
      const std::function<void(int subpartition, const BufferOrEvent& item)>& visitOvertaken);
  /// Enqueue channel `index`'s current buffer, then `event` to subpartition `index` only
  /// (restoring an unaligned checkpoint's output channel state).
  void emitEventTo(int index, const Event& event);
  /// flushAll(), then EndOfPartition to every subpartition. Idempotent. Later writes and events
  /// are discarded and make status() Internal.
  void finish();
  /// Cancel: close the buffer pool so that a write blocked for a buffer returns. From then on
  /// writes, flushes and events are discarded and status() is Cancelled. Idempotent.
  void close();
  /// OK, or why the partition stopped accepting data (Cancelled after close()).
  Status status() const;

  /// The queue of consumer subtask `index`, for ResultPartitionManager and tests.
  const std::shared_ptr<ResultSubpartition>& subpartition(int index) const;
  const LocalBufferPool& bufferPool() const { return *bufferPool_; }

 private:
  class ChannelSink;
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  ResultPartition(PrivateTag, ResultPartitionId id, int numSubpartitions,
                  std::shared_ptr<LocalBufferPool> bufferPool);

 private:
  /// Remember the first failure; writes are discarded from now on (task thread).
  void fail(Status status);
  /// Enqueue channel `index`'s current buffer if it has one (task thread).
  void flushChannel(int index);
  /// Flush each channel, then `add` an event to its subpartition (task thread). Fails the
  /// partition after finish().
  void addEventToAll(const std::function<void(ResultSubpartition&)>& add);

  const ResultPartitionId id_;
  std::shared_ptr<LocalBufferPool> bufferPool_;
  std::vector<std::shared_ptr<ResultSubpartition>> subpartitions_;
  std::vector<std::unique_ptr<ChannelSink>> sinks_;

  // Task thread only.
  int numChannelsWithBuffer_ = 0;
  bool finished_ = false;
  bool failed_ = false;  // fail() was called: discard further writes

  // Set by close() on any thread, read by the task thread. Relaxed would do for the flag itself
  // (the pool's own lock orders the wake-up); release/acquire keeps the reasoning simple.
  std::atomic<bool> closed_{false};

  mutable std::mutex mu_;
  Status failure_;  // guarded by mu_
};

/// Every result partition produced in one TaskManager, by id, so that consumer tasks can find
/// their subpartitions.
///
/// Thread contract: thread-safe.
class ResultPartitionManager {
 public:
  /// AlreadyExists if a partition with the same id is registered.
  Status registerPartition(std::shared_ptr<ResultPartition> partition);
  /// NotFound if no partition with `id` is registered.
  Status unregisterPartition(const ResultPartitionId& id);
  /// Drop every partition of job `jobId`; return how many.
  size_t unregisterPartitionsOfJob(std::string_view jobId);
  /// Return subpartition `index` of partition `id`. NotFound (naming `id`) if the partition is
  /// not registered (yet: the consumer may retry), InvalidArgument if `index` is out of range.
  Result<std::shared_ptr<ResultSubpartition>> requestSubpartition(const ResultPartitionId& id,
                                                                  int index) const;
  size_t numPartitions() const;

 private:
  mutable std::mutex mu_;
  // guarded by mu_
  std::unordered_map<ResultPartitionId, std::shared_ptr<ResultPartition>> partitions_;
};

}  // namespace strom::network
