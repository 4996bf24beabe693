#include "runtime/network/remote_input_channel.h"

#include <cstring>
#include <utility>

namespace strom::network {

// --- FloatingBufferPool ----------------------------------------------------------------------

Result<std::shared_ptr<FloatingBufferPool>> FloatingBufferPool::create(NetworkBufferPool& global,
                                                                       size_t numBuffers,
                                                                       std::string name) {
  STROM_ASSIGN_OR_RETURN(auto pool,
                         LocalBufferPool::create(global, numBuffers, numBuffers, std::move(name)));
  auto floating = std::make_shared<FloatingBufferPool>(PrivateTag{}, pool);
  std::weak_ptr<FloatingBufferPool> weak = floating;
  pool->setRecycleListener([weak] {
    if (auto self = weak.lock()) self->onRecycle();
  });
  return floating;
}

FloatingBufferPool::FloatingBufferPool(PrivateTag, std::shared_ptr<LocalBufferPool> pool)
    : pool_(std::move(pool)) {}

std::vector<Buffer> FloatingBufferPool::request(size_t count,
                                                const std::weak_ptr<RemoteChannelState>& waiter) {
  std::vector<Buffer> buffers;
  // Taking and queueing under one lock: a buffer that comes back after a failed take finds the
  // waiter queued (onRecycle takes mu_ after the buffer is back in pool_).
  std::lock_guard lock(mu_);
  while (buffers.size() < count) {
    Buffer buffer = pool_->tryRequestBuffer();
    if (!buffer.isValid()) {
      waiters_.push_back(waiter);
      break;
    }
    buffers.push_back(std::move(buffer));
  }
  return buffers;
}

void FloatingBufferPool::onRecycle() {
  // Offer the returned buffer to the queued channels in order until one takes it. Bounded by
  // the number of waiters at the start: a channel that re-queues itself is not asked twice.
  size_t rounds;
  {
    std::lock_guard lock(mu_);
    rounds = waiters_.size();
  }
  for (size_t i = 0; i < rounds; ++i) {
    std::shared_ptr<RemoteChannelState> channel;
    {
      std::lock_guard lock(mu_);
      if (waiters_.empty()) return;
      channel = waiters_.front().lock();
      waiters_.pop_front();
    }
    if (channel && channel->onFloatingAvailable()) return;
  }
}

// --- RemoteChannelState ----------------------------------------------------------------------

RemoteChannelState::RemoteChannelState(uint32_t id, ResultPartitionId partition, int subpartition,
                                       std::string peer, std::shared_ptr<LocalBufferPool> exclusive,
                                       std::shared_ptr<FloatingBufferPool> floating,
                                       RequestBackoff backoff)
    : id_(id),
      partition_(std::move(partition)),
      subpartition_(subpartition),
      peer_(std::move(peer)),
      exclusive_(std::move(exclusive)),
      floating_(std::move(floating)),
      backoff_(backoff) {}

Status RemoteChannelState::setUp() {
  std::weak_ptr<RemoteChannelState> weak = weak_from_this();
  exclusive_->setRecycleListener([weak] {
    if (auto self = weak.lock()) self->onExclusiveRecycled();
  });
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < exclusive_->maxBuffers(); ++i) {
    Buffer buffer = exclusive_->tryRequestBuffer();
    if (!buffer.isValid()) {
      return Status::resourceExhausted("remote channel " + partition_.toString() + "#" +
                                       std::to_string(subpartition_) +
                                       ": no free exclusive buffer");
    }
    free_.push_back(std::move(buffer));
  }
  return Status::ok();
}

void RemoteChannelState::setAnnouncer(std::weak_ptr<CreditAnnouncer> connection) {
  std::lock_guard lock(mu_);
  announcer_ = std::move(connection);
}

PartitionRequest RemoteChannelState::makeRequest() {
  std::lock_guard lock(mu_);
  requested_ = true;
  ++numRequests_;
  unannouncedCredit_ = 0;
  announcePending_ = false;
  senderCredit_ = static_cast<uint32_t>(free_.size());
  return PartitionRequest{id_, static_cast<uint32_t>(subpartition_),
                          static_cast<uint32_t>(free_.size()), partition_};
}

Status RemoteChannelState::onBuffer(const BufferMessage& message, uint32_t& creditToAnnounce) {
  creditToAnnounce = 0;
  std::lock_guard lock(mu_);
  if (released_ || !failure_.isOk()) {
    // See creditInFlight(); a priority event used no credit.
    if (senderCredit_ > 0 && !message.isPriority) --senderCredit_;
    return Status::ok();  // late frames of a dead channel
  }
  auto violation = [&](const std::string& what) {
    return Status::corruption("remote channel " + std::to_string(id_) + " (" +
                              partition_.toString() + "#" + std::to_string(subpartition_) +
                              ") from " + peer_ + ": " + what);
  };
  if (message.sequence != nextSequence_) {
    return violation("sequence number " + std::to_string(message.sequence) + ", expected " +
                     std::to_string(nextSequence_));
  }
  Buffer buffer;  // the free buffer the frame's credit stands for; none for a priority event
  if (!message.isPriority) {
    if (senderCredit_ == 0) {
      return violation("buffer " + std::to_string(message.sequence) +
                       " sent beyond the announced credit");
    }
    // Every credit given is a free buffer held: the sender's credit never exceeds free_.size().
    if (free_.empty())
      return Status::internal("remote channel " + std::to_string(id_) +
                              ": credit without a free buffer");
    --senderCredit_;
    buffer = std::move(free_.back());
    free_.pop_back();
  }
  ++nextSequence_;
  bool wasEmpty = received_.empty();
  bool priority = false;
  if (message.isEvent) {
    uint8_t type = 0;
    Event event;
    Status decoded =
        decodeEventPayload(message.payload, type, event.value, event.timestamp, event.options);
    if (!decoded.isOk() || type > static_cast<uint8_t>(EventType::kCancelCheckpointMarker)) {
      if (buffer.isValid()) free_.push_back(std::move(buffer));
      return violation("malformed event");
    }
    event.type = static_cast<EventType>(type);
    if (message.isPriority && event.type != EventType::kCheckpointBarrier) {
      return violation("a priority event that is not a checkpoint barrier");
    }
    if (event.type == EventType::kEndOfPartition) ended_ = true;
    received_.push_back(Received{BufferOrEvent(event), std::move(buffer)});
    // prioritizeBarrier() asked for barrier prioritizeFrom_ only; any barrier >= it ends that.
    bool asked = event.type == EventType::kCheckpointBarrier && event.value == prioritizeFrom_;
    if (event.type == EventType::kCheckpointBarrier && event.value >= prioritizeFrom_) {
      prioritizeFrom_ = INT64_MAX;
    }
    if (message.isPriority || asked) {
      // A priority event: the producer persisted what it overtook there. Either way, here it
      // overtakes what is queued, which the consumer persists.
      prioritizeLocked(received_.size() - 1);
      priority = true;
    }
  } else {
    if (message.isPriority) return violation("a priority frame that is not an event");
    if (message.payload.size() > buffer.capacity()) {
      free_.push_back(std::move(buffer));
      return violation("payload of " + std::to_string(message.payload.size()) +
                       " bytes exceeds the buffer size");
    }
    // The one copy: from the connection's read buffer into the receiver's own buffer.
    if (!message.payload.empty()) {
      std::memcpy(buffer.data(), message.payload.data(), message.payload.size());
    }
    buffer.setSize(message.payload.size());
    received_.push_back(Received{BufferOrEvent(std::move(buffer)), Buffer()});
  }
  if (!message.isPriority) {
    backlog_ = message.backlog;
    creditToAnnounce = requestFloatingLocked();
    senderCredit_ += creditToAnnounce;  // announced by the caller right away
  }
  if (listener_ != nullptr) {
    if (priority) {
      listener_->notifyPriorityEvent(listenerChannelIndex_);
    } else if (wasEmpty) {
      listener_->notifyDataAvailable(listenerChannelIndex_);
    }
  }
  return Status::ok();
}

void RemoteChannelState::prioritizeLocked(size_t index) {
  Received barrier = std::move(received_[index]);
  received_.erase(received_.begin() + static_cast<std::ptrdiff_t>(index));
  received_.insert(received_.begin() + static_cast<std::ptrdiff_t>(numPriority_),
                   std::move(barrier));
  overtaken_.push_back(index - numPriority_);
  ++numPriority_;
}

void RemoteChannelState::prioritizeBarrier(int64_t checkpointId) {
  std::lock_guard lock(mu_);
  for (size_t i = numPriority_; i < received_.size(); ++i) {
    if (isBarrierFrom(received_[i].item, checkpointId)) {
      // Only barrier `checkpointId` itself: a later one belongs to a checkpoint not asked for.
      if (received_[i].item.event().value != checkpointId) return;
      prioritizeLocked(i);
      if (listener_ != nullptr) listener_->notifyPriorityEvent(listenerChannelIndex_);
      return;
    }
  }
  prioritizeFrom_ = checkpointId;
}

bool RemoteChannelState::hasPriorityEvent() const {
  std::lock_guard lock(mu_);
  return numPriority_ > 0;
}

size_t RemoteChannelState::lastPolledOvertaken() const {
  std::lock_guard lock(mu_);
  return lastPolledOvertaken_;
}

uint32_t RemoteChannelState::requestFloatingLocked() {
  if (floating_ == nullptr || waitingForFloating_ || released_ || backlog_ <= free_.size()) {
    return 0;
  }
  std::vector<Buffer> buffers = floating_->request(backlog_ - free_.size(), weak_from_this());
  if (buffers.size() < backlog_ - free_.size()) waitingForFloating_ = true;
  auto credit = static_cast<uint32_t>(buffers.size());
  for (Buffer& buffer : buffers) free_.push_back(std::move(buffer));
  return credit;
}

uint32_t RemoteChannelState::takeUnannouncedCredit() {
  std::lock_guard lock(mu_);
  announcePending_ = false;
  if (released_ || !failure_.isOk() || !requested_) return 0;
  uint32_t credit = std::exchange(unannouncedCredit_, 0);
  senderCredit_ += credit;
  return credit;
}

Result<std::chrono::milliseconds> RemoteChannelState::onPartitionNotFound() {
  std::lock_guard lock(mu_);
  // The producer kept nothing of the request: its credit goes with the next one.
  requested_ = false;
  senderCredit_ = 0;
  if (currentBackoff_.count() == 0) {
    currentBackoff_ = backoff_.initial;
  } else if (currentBackoff_ < backoff_.max) {
    currentBackoff_ = std::min(currentBackoff_ * 2, backoff_.max);
  } else {
    return Status::notFound("remote channel " + std::to_string(id_) + ": result partition " +
                            partition_.toString() + " (subpartition " +
                            std::to_string(subpartition_) + ") was not found on " + peer_ +
                            " after " + std::to_string(numRequests_) +
                            " requests (taskmanager.network.request-backoff.max is " +
                            std::to_string(backoff_.max.count()) + " ms)");
  }
  return currentBackoff_;
}

uint32_t RemoteChannelState::creditInFlight() const {
  std::lock_guard lock(mu_);
  return requested_ && !ended_ ? senderCredit_ : 0;
}

void RemoteChannelState::addCreditLocked(uint32_t credit) {
  if (credit == 0) return;
  unannouncedCredit_ += credit;
  // Before the request is sent, the request itself carries every free buffer as credit.
  if (!requested_ || announcePending_) return;
  if (auto connection = announcer_.lock()) {
    announcePending_ = true;
    connection->announceCredit(shared_from_this());
  }
}

void RemoteChannelState::fail(Status status) {
  std::vector<Buffer> freed;
  {
    std::lock_guard lock(mu_);
    if (!failure_.isOk() || released_) return;
    failure_ = std::move(status);
    freed.swap(free_);
    if (listener_ != nullptr) listener_->notifyDataAvailable(listenerChannelIndex_);
  }
  // freed is destroyed here, without mu_: recycling calls back into this class.
}

bool RemoteChannelState::isReleased() const {
  std::lock_guard lock(mu_);
  return released_;
}

std::optional<BufferOrEvent> RemoteChannelState::poll() {
  std::optional<Received> next;
  {
    std::lock_guard lock(mu_);
    if (received_.empty()) return std::nullopt;
    next.emplace(std::move(received_.front()));
    received_.pop_front();
    if (numPriority_ > 0) {
      --numPriority_;
      lastPolledOvertaken_ = overtaken_.front();
      overtaken_.pop_front();
    } else {
      lastPolledOvertaken_ = 0;
    }
  }
  std::optional<BufferOrEvent> item(std::move(next->item));
  next.reset();  // frees an event's credit holder, without mu_
  return item;
}

bool RemoteChannelState::hasData() const {
  std::lock_guard lock(mu_);
  return !received_.empty();
}

void RemoteChannelState::setListener(DataAvailabilityListener* listener, int channelIndex) {
  std::lock_guard lock(mu_);
  listener_ = listener;
  listenerChannelIndex_ = channelIndex;
  if (listener_ != nullptr && (!received_.empty() || !failure_.isOk())) {
    listener_->notifyDataAvailable(channelIndex);
  }
}

Status RemoteChannelState::status() const {
  std::lock_guard lock(mu_);
  return failure_;
}

void RemoteChannelState::release() {
  std::vector<Buffer> freed;
  std::deque<Received> dropped;
  {
    std::lock_guard lock(mu_);
    released_ = true;
    listener_ = nullptr;
    freed.swap(free_);
    dropped.swap(received_);
    numPriority_ = 0;
    overtaken_.clear();
  }
  // Destroyed here, without mu_.
}

void RemoteChannelState::onExclusiveRecycled() {
  Buffer buffer;
  std::lock_guard lock(mu_);
  if (released_ || !failure_.isOk()) return;
  buffer = exclusive_->tryRequestBuffer();
  if (!buffer.isValid()) return;
  free_.push_back(std::move(buffer));
  addCreditLocked(1);
}

bool RemoteChannelState::onFloatingAvailable() {
  std::lock_guard lock(mu_);
  waitingForFloating_ = false;
  uint32_t credit = requestFloatingLocked();
  addCreditLocked(credit);
  return credit > 0;
}

size_t RemoteChannelState::testingNumFreeBuffers() const {
  std::lock_guard lock(mu_);
  return free_.size();
}

int RemoteChannelState::testingNumRequests() const {
  std::lock_guard lock(mu_);
  return numRequests_;
}

// --- RemoteInputChannel ----------------------------------------------------------------------

Result<std::unique_ptr<RemoteInputChannel>> RemoteInputChannel::create(
    ConnectionManager& connections, const std::string& producerAddress,
    const ResultPartitionId& partition, int subpartition, NetworkBufferPool& global,
    int exclusiveBuffers, std::shared_ptr<FloatingBufferPool> floating, RequestBackoff backoff) {
  if (exclusiveBuffers < 1) {
    return Status::invalidArgument("remote channel " + partition.toString() +
                                   ": buffers-per-channel must be >= 1, got " +
                                   std::to_string(exclusiveBuffers));
  }
  std::string name = "remote channel " + partition.toString() + "#" + std::to_string(subpartition) +
                     " from " + producerAddress;
  STROM_ASSIGN_OR_RETURN(auto exclusive,
                         LocalBufferPool::create(global, exclusiveBuffers, exclusiveBuffers, name));
  auto state = std::make_shared<RemoteChannelState>(connections.nextChannelId(), partition,
                                                    subpartition, producerAddress, exclusive,
                                                    std::move(floating), backoff);
  STROM_RETURN_IF_ERROR(state->setUp());
  connections.registerChannel(producerAddress, state);
  return std::make_unique<RemoteInputChannel>(PrivateTag{}, connections, std::move(exclusive),
                                              std::move(state), producerAddress);
}

RemoteInputChannel::RemoteInputChannel(PrivateTag, ConnectionManager& connections,
                                       std::shared_ptr<LocalBufferPool> exclusive,
                                       std::shared_ptr<RemoteChannelState> state,
                                       std::string producerAddress)
    : connections_(connections),
      exclusive_(std::move(exclusive)),
      state_(std::move(state)),
      producerAddress_(std::move(producerAddress)) {}

RemoteInputChannel::~RemoteInputChannel() {
  state_->release();
  connections_.unregisterChannel(producerAddress_, state_->id());
}

}  // namespace strom::network
