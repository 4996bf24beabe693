#include "runtime/network/buffer.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <utility>

namespace strom::network {

// --- NetworkBufferPool -----------------------------------------------------------------------

Result<std::unique_ptr<NetworkBufferPool>> NetworkBufferPool::create(size_t numSegments,
                                                                     size_t segmentSize) {
  if (numSegments == 0 || segmentSize == 0) {
    return Status::invalidArgument("network buffer pool: " + std::to_string(numSegments) +
                                   " segments of " + std::to_string(segmentSize) +
                                   " bytes; both must be positive");
  }
  if (numSegments > std::numeric_limits<size_t>::max() / segmentSize) {
    return Status::invalidArgument("network buffer pool: " + std::to_string(numSegments) +
                                   " segments of " + std::to_string(segmentSize) +
                                   " bytes overflow the address space");
  }
  return std::make_unique<NetworkBufferPool>(PrivateTag{}, numSegments, segmentSize);
}

NetworkBufferPool::NetworkBufferPool(PrivateTag, size_t numSegments, size_t segmentSize)
    : numSegments_(numSegments),
      segmentSize_(segmentSize),
      memory_(std::make_unique_for_overwrite<std::byte[]>(numSegments * segmentSize)) {
  free_.reserve(numSegments_);
  // Hand out low addresses first: pop_back() takes from the end.
  for (size_t i = numSegments_; i > 0; --i) free_.push_back(memory_.get() + (i - 1) * segmentSize_);
}

NetworkBufferPool::~NetworkBufferPool() {
  // Every local pool, and so every Buffer, must be gone: they point into memory_.
  assert(free_.size() == numSegments_ && "NetworkBufferPool destroyed while segments are in use");
}

size_t NetworkBufferPool::numAvailableSegments() const {
  std::lock_guard lock(mu_);
  return free_.size();
}

Result<std::vector<std::byte*>> NetworkBufferPool::requestSegments(size_t count) {
  std::lock_guard lock(mu_);
  if (count > free_.size()) {
    return Status::resourceExhausted(std::to_string(count) + " network buffers needed but only " +
                                     std::to_string(free_.size()) + " of " +
                                     std::to_string(numSegments_) +
                                     " are free; give the TaskManager more network segments");
  }
  std::vector<std::byte*> segments(free_.end() - static_cast<std::ptrdiff_t>(count), free_.end());
  free_.resize(free_.size() - count);
  return segments;
}

std::byte* NetworkBufferPool::tryRequestSegment() {
  std::lock_guard lock(mu_);
  if (free_.empty()) return nullptr;
  std::byte* segment = free_.back();
  free_.pop_back();
  return segment;
}

void NetworkBufferPool::recycleSegment(std::byte* segment) {
  std::lock_guard lock(mu_);
  assert(free_.size() < numSegments_);
  free_.push_back(segment);  // never reallocates: capacity is numSegments_
}

// --- Buffer ----------------------------------------------------------------------------------

Buffer::Buffer(Buffer&& other) noexcept
    : pool_(std::move(other.pool_)),
      segment_(std::exchange(other.segment_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      size_(std::exchange(other.size_, 0)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::move(other.pool_);
    segment_ = std::exchange(other.segment_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void Buffer::setSize(size_t size) {
  assert(size <= capacity_);
  size_ = size;
}

void Buffer::release() {
  if (segment_ == nullptr) return;
  pool_->recycle(std::exchange(segment_, nullptr));
  capacity_ = 0;
  size_ = 0;
  pool_.reset();  // may destroy the pool if its owner already dropped it
}

// --- LocalBufferPool -------------------------------------------------------------------------

Result<std::shared_ptr<LocalBufferPool>> LocalBufferPool::create(NetworkBufferPool& global,
                                                                 size_t minBuffers,
                                                                 size_t maxBuffers,
                                                                 std::string name) {
  if (minBuffers == 0 || minBuffers > maxBuffers) {
    return Status::invalidArgument(
        name + ": buffer pool needs 1 <= minBuffers <= maxBuffers, got " +
        std::to_string(minBuffers) + " and " + std::to_string(maxBuffers));
  }
  auto reserved = global.requestSegments(minBuffers);
  if (!reserved.isOk()) return reserved.status().withContext(name);
  return std::make_shared<LocalBufferPool>(PrivateTag{}, global, minBuffers, maxBuffers,
                                           std::move(name), std::move(reserved).value());
}

LocalBufferPool::LocalBufferPool(PrivateTag, NetworkBufferPool& global, size_t minBuffers,
                                 size_t maxBuffers, std::string name,
                                 std::vector<std::byte*> reserved)
    : global_(global),
      minBuffers_(minBuffers),
      maxBuffers_(maxBuffers),
      segmentSize_(global.segmentSize()),
      name_(std::move(name)),
      free_(std::move(reserved)),
      numSegmentsHeld_(free_.size()) {
  free_.reserve(maxBuffers_);  // recycle() then never allocates
}

LocalBufferPool::~LocalBufferPool() {
  // Every Buffer holds a reference, so all of them came back before this runs.
  assert(inUse_ == 0 && free_.size() == numSegmentsHeld_);
  for (std::byte* segment : free_) global_.recycleSegment(segment);
}

Result<Buffer> LocalBufferPool::requestBuffer() {
  std::unique_lock lock(mu_);
  std::byte* segment = nullptr;
  for (;;) {
    if (closed_) return Status::cancelled(name_ + ": buffer pool closed");
    if (!free_.empty()) {
      segment = free_.back();
      free_.pop_back();
      break;
    }
    if (numSegmentsHeld_ < maxBuffers_) {
      segment = global_.tryRequestSegment();
      if (segment != nullptr) {
        ++numSegmentsHeld_;
        break;
      }
    }
    ++numWaiters_;
    bufferReturned_.wait(lock);
    --numWaiters_;
  }
  ++inUse_;
  maxEverInUse_ = std::max(maxEverInUse_, inUse_);
  return Buffer(shared_from_this(), segment, segmentSize_);
}

void LocalBufferPool::recycle(std::byte* segment) {
  {
    std::lock_guard lock(mu_);
    --inUse_;
    if (numWaiters_ == 0 && numSegmentsHeld_ > minBuffers_) {
      // A floating segment nobody here waits for: let other partitions of the TaskManager use
      // it.
      --numSegmentsHeld_;
      global_.recycleSegment(segment);
    } else {
      free_.push_back(segment);
      // One returned segment satisfies one requester; close() wakes all of them.
      if (numWaiters_ > 0) bufferReturned_.notify_one();
    }
  }
  if (recycleListener_) recycleListener_();
}

Buffer LocalBufferPool::tryRequestBuffer() {
  std::lock_guard lock(mu_);
  if (closed_) return Buffer();
  std::byte* segment = nullptr;
  if (!free_.empty()) {
    segment = free_.back();
    free_.pop_back();
  } else if (numSegmentsHeld_ < maxBuffers_) {
    segment = global_.tryRequestSegment();
    if (segment == nullptr) return Buffer();
    ++numSegmentsHeld_;
  } else {
    return Buffer();
  }
  ++inUse_;
  maxEverInUse_ = std::max(maxEverInUse_, inUse_);
  return Buffer(shared_from_this(), segment, segmentSize_);
}

void LocalBufferPool::setRecycleListener(std::function<void()> listener) {
  recycleListener_ = std::move(listener);
}

void LocalBufferPool::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  bufferReturned_.notify_all();
}

bool LocalBufferPool::isClosed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

size_t LocalBufferPool::buffersInUse() const {
  std::lock_guard lock(mu_);
  return inUse_;
}

size_t LocalBufferPool::numSegmentsHeld() const {
  std::lock_guard lock(mu_);
  return numSegmentsHeld_;
}

size_t LocalBufferPool::numBlockedRequesters() const {
  std::lock_guard lock(mu_);
  return numWaiters_;
}

size_t LocalBufferPool::maxBuffersEverInUse() const {
  std::lock_guard lock(mu_);
  return maxEverInUse_;
}

}  // namespace strom::network
