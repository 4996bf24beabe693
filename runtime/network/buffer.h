#pragma once

// Network memory (DESIGN §5): one NetworkBufferPool of fixed-size segments per TaskManager,
// one LocalBufferPool per produced result partition drawing from it, and Buffer, the RAII
// handle of one segment that travels from the producer to the consumer.
//
// Lock order: LocalBufferPool::mu_ before NetworkBufferPool::mu_. The global pool never calls
// into a local pool.

#include <strom/status.h>

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace strom::network {

class LocalBufferPool;

/// All network memory of one TaskManager: `numSegments` segments of `segmentSize` bytes,
/// allocated once at creation and never grown. Local pools reserve and borrow segments from it.
///
/// Thread contract: thread-safe. It must outlive every LocalBufferPool created from it (and so
/// every Buffer: a Buffer keeps its LocalBufferPool alive); the TaskManager destroys it last.
class NetworkBufferPool {
 public:
  /// Allocate the segments. InvalidArgument if either argument is zero or the total overflows.
  static Result<std::unique_ptr<NetworkBufferPool>> create(size_t numSegments, size_t segmentSize);

  NetworkBufferPool(const NetworkBufferPool&) = delete;
  NetworkBufferPool& operator=(const NetworkBufferPool&) = delete;
  ~NetworkBufferPool();

  size_t numSegments() const { return numSegments_; }
  size_t segmentSize() const { return segmentSize_; }
  /// Return how many segments no local pool holds right now.
  size_t numAvailableSegments() const;

  // --- For LocalBufferPool. -------------------------------------------------------------------

  /// Take `count` segments, all or none. ResourceExhausted, naming `count` and the number of
  /// free segments, if fewer than `count` are free.
  Result<std::vector<std::byte*>> requestSegments(size_t count);
  /// Take one segment; return nullptr if none is free. Never blocks.
  std::byte* tryRequestSegment();
  /// Give back a segment taken from this pool.
  void recycleSegment(std::byte* segment);

 private:
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  NetworkBufferPool(PrivateTag, size_t numSegments, size_t segmentSize);

 private:
  const size_t numSegments_;
  const size_t segmentSize_;
  std::unique_ptr<std::byte[]> memory_;  // numSegments_ * segmentSize_ bytes
  mutable std::mutex mu_;
  std::vector<std::byte*> free_;  // guarded by mu_; capacity numSegments_, never reallocates
};

/// Move-only RAII handle of one network segment: `capacity()` bytes at `data()`, of which the
/// first `size()` hold data. On destruction it hands the segment back to its LocalBufferPool,
/// waking a requester blocked there. It keeps that pool alive until then.
///
/// Thread contract: owned by one thread at a time; it may be moved to another thread (the
/// subpartition queue does so under its lock) and destroyed there. A default-constructed or
/// moved-from Buffer is empty: isValid() is false and it owns nothing.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }

  bool isValid() const { return segment_ != nullptr; }
  std::byte* data() { return segment_; }
  const std::byte* data() const { return segment_; }
  size_t capacity() const { return capacity_; }
  size_t size() const { return size_; }
  /// Set the number of bytes that hold data; `size` must not exceed capacity().
  void setSize(size_t size);
  /// Return the bytes that hold data.
  std::span<const std::byte> bytes() const { return {segment_, size_}; }
  /// Return the segment to its pool now; the Buffer becomes empty.
  void release();

 private:
  friend class LocalBufferPool;
  Buffer(std::shared_ptr<LocalBufferPool> pool, std::byte* segment, size_t capacity)
      : pool_(std::move(pool)), segment_(segment), capacity_(capacity) {}

  std::shared_ptr<LocalBufferPool> pool_;
  std::byte* segment_ = nullptr;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

/// The buffers of one produced result partition. At creation it reserves `minBuffers` segments
/// of the NetworkBufferPool, which it holds for its whole life; beyond those it borrows up to
/// `maxBuffers - minBuffers` floating segments on demand and gives each back to the global pool
/// as soon as it is returned while nobody waits for one.
///
/// requestBuffer() blocks while `maxBuffers` buffers are in use, or while fewer are in use but
/// the global pool has no free segment: that is back-pressure. A blocked requester wakes when one
/// of this pool's buffers comes back (which the reserved minimum guarantees as long as consumers
/// read) or when close() is called.
///
/// Thread contract: thread-safe. Normally one producer thread requests buffers and the consumer
/// threads return them. Held by std::shared_ptr: every outstanding Buffer shares ownership, so
/// the pool, and its segments, go back to the NetworkBufferPool only after the owner dropped it
/// and all its buffers came back.
class LocalBufferPool : public std::enable_shared_from_this<LocalBufferPool> {
 public:
  /// Reserve `minBuffers` segments of `global`. `name` prefixes error messages (the partition
  /// id). InvalidArgument unless 1 <= minBuffers <= maxBuffers; ResourceExhausted, naming how
  /// many buffers are needed and how many are free, if `global` has too few free segments.
  static Result<std::shared_ptr<LocalBufferPool>> create(NetworkBufferPool& global,
                                                         size_t minBuffers, size_t maxBuffers,
                                                         std::string name);

  LocalBufferPool(const LocalBufferPool&) = delete;
  LocalBufferPool& operator=(const LocalBufferPool&) = delete;
  ~LocalBufferPool();

  /// Return an empty buffer (size() == 0) of segmentSize() bytes, blocking while none may be
  /// handed out. Cancelled once close() was called (also for requesters already blocked).
  Result<Buffer> requestBuffer();
  /// Return an empty buffer if one may be handed out without blocking; otherwise (also once
  /// closed) an invalid Buffer. Never blocks.
  Buffer tryRequestBuffer();
  /// Call `listener` (on the releasing thread, without this pool's lock held) each time a
  /// buffer comes back. Set it before the first buffer is handed out; it must not destroy the
  /// pool. Used by remote input channels to turn a recycled buffer into credit.
  void setRecycleListener(std::function<void()> listener);
  /// Fail current and future requestBuffer() calls with Cancelled and wake every waiter.
  /// Buffers already handed out stay valid. Idempotent.
  void close();

  const std::string& name() const { return name_; }
  size_t minBuffers() const { return minBuffers_; }
  size_t maxBuffers() const { return maxBuffers_; }
  size_t segmentSize() const { return segmentSize_; }
  bool isClosed() const;
  /// Return how many of this pool's buffers exist as Buffer objects right now.
  size_t buffersInUse() const;
  /// Return how many segments this pool holds (in use or free), minBuffers..maxBuffers.
  size_t numSegmentsHeld() const;
  /// Return how many requestBuffer() calls are blocked right now (a back-pressure gauge).
  size_t numBlockedRequesters() const;
  /// Test hook: the highest buffersInUse() ever observed.
  size_t maxBuffersEverInUse() const;

 private:
  friend class Buffer;
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  LocalBufferPool(PrivateTag, NetworkBufferPool& global, size_t minBuffers, size_t maxBuffers,
                  std::string name, std::vector<std::byte*> reserved);

 private:
  /// Take back the segment of a Buffer being released (any thread).
  void recycle(std::byte* segment);

  NetworkBufferPool& global_;
  const size_t minBuffers_;
  const size_t maxBuffers_;
  const size_t segmentSize_;
  const std::string name_;

  mutable std::mutex mu_;
  std::condition_variable bufferReturned_;  // waited on by blocked requesters, with mu_
  std::vector<std::byte*> free_;            // guarded by mu_; capacity maxBuffers_
  size_t numSegmentsHeld_;                  // guarded by mu_; inUse_ + free_.size()
  size_t inUse_ = 0;                        // guarded by mu_
  size_t maxEverInUse_ = 0;                 // guarded by mu_
  size_t numWaiters_ = 0;                   // guarded by mu_
  bool closed_ = false;                     // guarded by mu_
  // Set before buffers are handed out, then only read (the hand-over of a Buffer orders it).
  std::function<void()> recycleListener_;
};

}  // namespace strom::network
