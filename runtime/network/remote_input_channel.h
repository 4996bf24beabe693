#pragma once

// The consumer side of a remote (TCP) channel (DESIGN §5): RemoteInputChannel, its shared state
// that the io thread fills, and the per-gate pool of floating buffers.

#include <strom/status.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/network/buffer.h"
#include "runtime/network/connection_manager.h"
#include "runtime/network/frame.h"
#include "runtime/network/input_gate.h"
#include "runtime/network/result_partition.h"

namespace strom::network {

class RemoteChannelState;

/// How a remote channel retries a partition request that its producer's TaskManager answered
/// with "partition not found" (the producer is not deployed yet): after `initial`, then after
/// twice the previous wait, capped at `max`; once a request sent after a wait of `max` is
/// answered "not found" too, the channel fails (Flink's `taskmanager.network.request-backoff.*`).
struct RequestBackoff {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{10000};
};

/// The floating buffers of one input gate (`taskmanager.network.memory.floating-buffers-per-
/// gate`), reserved from the NetworkBufferPool at creation. A remote channel whose producer
/// announces a backlog larger than the free buffers it holds borrows from here; when none is
/// free the channel is queued, and a floating buffer coming back is offered to the queued
/// channels in order.
///
/// Thread contract: thread-safe. Held by std::shared_ptr, shared by the gate's channels.
class FloatingBufferPool {
 public:
  /// Reserve `numBuffers` (>= 1) segments of `global`. ResourceExhausted as LocalBufferPool.
  static Result<std::shared_ptr<FloatingBufferPool>> create(NetworkBufferPool& global,
                                                            size_t numBuffers, std::string name);

  const LocalBufferPool& bufferPool() const { return *pool_; }

  /// Take up to `count` buffers; if fewer were free, queue `waiter` to be offered the next one
  /// that comes back. REQUIRES: the waiter's RemoteChannelState::mu_ held.
  std::vector<Buffer> request(size_t count, const std::weak_ptr<RemoteChannelState>& waiter);

 private:
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  FloatingBufferPool(PrivateTag, std::shared_ptr<LocalBufferPool> pool);

 private:
  /// A buffer came back: offer it to the queued channels (any thread, no lock held).
  void onRecycle();

  std::shared_ptr<LocalBufferPool> pool_;
  std::mutex mu_;
  std::deque<std::weak_ptr<RemoteChannelState>> waiters_;  // guarded by mu_
};

/// What a RemoteInputChannel shares with the io thread: its free buffers (each one credit), the
/// buffers and events received, the expected sequence number and the failure. Internal to the
/// network module; RemoteInputChannel is the interface.
///
/// Thread contract: thread-safe; the io thread calls the "io thread" methods, the consumer
/// thread the InputChannel ones, and recycle callbacks arrive on any thread. Buffers are never
/// destroyed under mu_ (their recycling calls back into this class).
class RemoteChannelState : public std::enable_shared_from_this<RemoteChannelState> {
 public:
  RemoteChannelState(uint32_t id, ResultPartitionId partition, int subpartition, std::string peer,
                     std::shared_ptr<LocalBufferPool> exclusive,
                     std::shared_ptr<FloatingBufferPool> floating, RequestBackoff backoff = {});

  uint32_t id() const { return id_; }
  const std::string& peer() const { return peer_; }
  const ResultPartitionId& partition() const { return partition_; }

  /// Take the exclusive buffers and install the recycle callback. Called once after creation.
  Status setUp();
  /// Set the connection that announces this channel's credit (io thread, at registration).
  void setAnnouncer(std::weak_ptr<CreditAnnouncer> connection);

  // --- io thread. ------------------------------------------------------------------------------

  /// Return the partition request, its credit being every free buffer held now.
  PartitionRequest makeRequest();
  /// Copy a received buffer or event into a free buffer and queue it; a priority event (an
  /// unaligned barrier, sent without credit) goes ahead of the items queued, as does a barrier
  /// prioritizeBarrier() asked for. Protocol violations (a sequence gap, a frame beyond credit,
  /// a payload larger than a buffer, a bad event, a priority frame that is no barrier) give
  /// Corruption naming the peer and the violation. On success `creditToAnnounce` is the credit
  /// won from floating buffers because of the announced backlog.
  Status onBuffer(const BufferMessage& message, uint32_t& creditToAnnounce);
  /// Return and reset the credit not yet announced to the producer (0 while no request is
  /// outstanding: the next request carries it).
  uint32_t takeUnannouncedCredit();
  /// The producer answered the request with "partition not found": forget the request and
  /// return how long to wait before sending it again, or NotFound naming the partition and the
  /// peer once the backoff is exhausted.
  Result<std::chrono::milliseconds> onPartitionNotFound();
  /// Return how many frames the producer may still send to this channel if it is dropped now:
  /// the credit announced and not used, 0 with no request outstanding or after end of
  /// partition.
  uint32_t creditInFlight() const;
  /// Fail the channel with `status` (first failure wins), wake the listener and give the free
  /// buffers back.
  void fail(Status status);
  bool isReleased() const;

  // --- consumer thread. ------------------------------------------------------------------------

  std::optional<BufferOrEvent> poll();
  bool hasData() const;
  void setListener(DataAvailabilityListener* listener, int channelIndex);
  size_t lastPolledOvertaken() const;
  bool hasPriorityEvent() const;
  void prioritizeBarrier(int64_t checkpointId);
  Status status() const;
  /// Stop receiving: drop queued items and free buffers; later frames are ignored.
  void release();

  // --- recycle callbacks (any thread). ---------------------------------------------------------

  /// An exclusive buffer came back: take it as a free buffer and announce its credit.
  void onExclusiveRecycled();
  /// A floating buffer may be free: take as many as the backlog needs. Return whether any was
  /// taken (false: offer it to the next waiter).
  bool onFloatingAvailable();

  // Test hooks.
  size_t testingNumFreeBuffers() const;
  int testingNumRequests() const;

 private:
  struct Received {
    BufferOrEvent item;
    Buffer creditHolder;  // for an event: the free buffer its credit used, freed by poll()
  };

  /// Borrow floating buffers if the backlog exceeds the free buffers; return the credit won.
  /// REQUIRES: mu_ held.
  uint32_t requestFloatingLocked();
  /// Move the barrier at received_[index] (not a priority item) to the front, behind the
  /// priority items, recording that it overtook the others. REQUIRES: mu_ held.
  void prioritizeLocked(size_t index);
  /// Add `credit` to the unannounced credit and, if needed, ask the connection to announce
  /// it. REQUIRES: mu_ held.
  void addCreditLocked(uint32_t credit);

  const uint32_t id_;
  const ResultPartitionId partition_;
  const int subpartition_;
  const std::string peer_;
  const std::shared_ptr<LocalBufferPool> exclusive_;
  const std::shared_ptr<FloatingBufferPool> floating_;  // may be null
  const RequestBackoff backoff_;

  mutable std::mutex mu_;
  std::vector<Buffer> free_;       // guarded by mu_
  std::deque<Received> received_;  // guarded by mu_
  // The first numPriority_ items of received_ are priority events (unaligned barriers, which
  // overtook the items behind them); overtaken_[i] is how many priority event i overtook.
  size_t numPriority_ = 0;              // guarded by mu_
  std::deque<size_t> overtaken_;        // guarded by mu_
  int64_t prioritizeFrom_ = INT64_MAX;  // guarded by mu_; see prioritizeBarrier()
  size_t lastPolledOvertaken_ = 0;      // guarded by mu_; of the last polled item
  uint32_t nextSequence_ = 0;           // guarded by mu_
  uint32_t backlog_ = 0;                // guarded by mu_
  uint32_t unannouncedCredit_ = 0;      // guarded by mu_
  uint32_t senderCredit_ = 0;           // guarded by mu_; credit announced and not yet used
  bool requested_ = false;              // guarded by mu_
  bool ended_ = false;                  // guarded by mu_; end of partition received
  int numRequests_ = 0;                 // guarded by mu_
  std::chrono::milliseconds currentBackoff_{0};   // guarded by mu_; 0: no retry yet
  bool announcePending_ = false;                  // guarded by mu_
  bool waitingForFloating_ = false;               // guarded by mu_
  bool released_ = false;                         // guarded by mu_
  Status failure_;                                // guarded by mu_
  DataAvailabilityListener* listener_ = nullptr;  // guarded by mu_; not owned
  int listenerChannelIndex_ = 0;                  // guarded by mu_
  std::weak_ptr<CreditAnnouncer> announcer_;      // guarded by mu_
};

/// A channel to a producer in another TaskManager, reached over TCP through a
/// ConnectionManager. It holds `exclusiveBuffers` buffers of its own
/// (`taskmanager.network.memory.buffers-per-channel`) and borrows floating ones from its gate's
/// FloatingBufferPool when the producer's backlog needs them. Every free buffer is one credit;
/// received bytes are copied once into such a buffer, which poll() hands to the consumer, and
/// recycling it returns the credit. A request for a partition its producer has not registered
/// yet is sent again with a backoff (RequestBackoff). A protocol violation, a remote error or an
/// exhausted backoff fails the channel: status() then says why, naming the peer.
///
/// Thread contract: as InputChannel. The ConnectionManager, `global` and `floating` must
/// outlive it.
class RemoteInputChannel final : public InputChannel {
 public:
  /// Take the exclusive buffers from `global` and request subpartition `subpartition` of
  /// `partition` from the TaskManager whose data address is `producerAddress` ("host:port").
  /// ResourceExhausted if `global` has too few free segments.
  static Result<std::unique_ptr<RemoteInputChannel>> create(
      ConnectionManager& connections, const std::string& producerAddress,
      const ResultPartitionId& partition, int subpartition, NetworkBufferPool& global,
      int exclusiveBuffers, std::shared_ptr<FloatingBufferPool> floating,
      RequestBackoff backoff = {});
  ~RemoteInputChannel() override;

  std::optional<BufferOrEvent> poll() override { return state_->poll(); }
  bool hasData() const override { return state_->hasData(); }
  void setListener(DataAvailabilityListener* listener, int channelIndex) override {
    state_->setListener(listener, channelIndex);
  }
  Status status() const override { return state_->status(); }
  bool hasPriorityEvent() const override { return state_->hasPriorityEvent(); }
  size_t numOvertaken() const override { return state_->lastPolledOvertaken(); }
  void prioritizeBarrier(int64_t checkpointId) override { state_->prioritizeBarrier(checkpointId); }

  uint32_t id() const { return state_->id(); }
  const LocalBufferPool& exclusiveBufferPool() const { return *exclusive_; }
  /// Test hook: the free buffers held, i.e. the credit given or about to be given.
  size_t testingNumFreeBuffers() const { return state_->testingNumFreeBuffers(); }
  /// Test hook: how many partition requests were sent (retries included).
  int testingNumRequests() const { return state_->testingNumRequests(); }

 private:
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  RemoteInputChannel(PrivateTag, ConnectionManager& connections,
                     std::shared_ptr<LocalBufferPool> exclusive,
                     std::shared_ptr<RemoteChannelState> state, std::string producerAddress);

 private:
  ConnectionManager& connections_;
  std::shared_ptr<LocalBufferPool> exclusive_;
  std::shared_ptr<RemoteChannelState> state_;
  std::string producerAddress_;
};

}  // namespace strom::network
