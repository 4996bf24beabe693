#include "runtime/network/result_partition.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <string>
#include <utility>

namespace strom::network {

// --- ResultSubpartition ----------------------------------------------------------------------

void ResultSubpartition::add(BufferOrEvent item) {
  std::lock_guard lock(mu_);
  if (item.isEvent() && item.event().type == EventType::kWatermark &&
      queue_.size() > numPriority_ && queue_.back().isEvent() &&
      queue_.back().event().type == EventType::kWatermark) {
    queue_.back() = std::move(item);  // the later watermark supersedes the queued one
    return;
  }
  bool wasEmpty = queue_.empty();
  bool prioritize = isBarrierFrom(item, prioritizeFrom_) && item.event().value == prioritizeFrom_;
  if (isBarrierFrom(item, prioritizeFrom_)) prioritizeFrom_ = INT64_MAX;  // asked for one only
  queue_.push_back(std::move(item));
  if (prioritize) {
    prioritizeLocked(queue_.size() - 1);
    if (listener_ != nullptr) listener_->notifyPriorityEvent(listenerChannelIndex_);
    return;
  }
  if (wasEmpty && listener_ != nullptr) listener_->notifyDataAvailable(listenerChannelIndex_);
}

void ResultSubpartition::addPriorityEvent(const Event& event,
                                          const OvertakenVisitor& visitOvertaken) {
  std::lock_guard lock(mu_);
  if (isBarrierFrom(BufferOrEvent(event), prioritizeFrom_)) prioritizeFrom_ = INT64_MAX;
  for (size_t i = numPriority_; i < queue_.size(); ++i) visitOvertaken(queue_[i]);
  queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(numPriority_), BufferOrEvent(event));
  overtaken_.push_back(0);  // the producer persisted what it overtook
  ++numPriority_;
  if (listener_ != nullptr) listener_->notifyPriorityEvent(listenerChannelIndex_);
}

void ResultSubpartition::prioritizeLocked(size_t index) {
  BufferOrEvent barrier = std::move(queue_[index]);
  queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(index));
  queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(numPriority_), std::move(barrier));
  overtaken_.push_back(index - numPriority_);
  ++numPriority_;
}

void ResultSubpartition::prioritizeBarrier(int64_t checkpointId) {
  std::lock_guard lock(mu_);
  for (size_t i = numPriority_; i < queue_.size(); ++i) {
    if (isBarrierFrom(queue_[i], checkpointId)) {
      // Only barrier `checkpointId` itself: a later one belongs to a checkpoint not asked for.
      if (queue_[i].event().value != checkpointId) return;
      prioritizeLocked(i);
      if (listener_ != nullptr) listener_->notifyPriorityEvent(listenerChannelIndex_);
      return;
    }
  }
  // Not queued; a barrier >= it already went by (priority): nothing to wait for.
  prioritizeFrom_ = checkpointId;
}

std::optional<BufferOrEvent> ResultSubpartition::poll(bool* priority) {
  std::lock_guard lock(mu_);
  if (queue_.empty()) return std::nullopt;
  std::optional<BufferOrEvent> item(std::move(queue_.front()));
  queue_.pop_front();
  bool wasPriority = numPriority_ > 0;
  if (wasPriority) {
    --numPriority_;
    lastPolledOvertaken_ = overtaken_.front();
    overtaken_.pop_front();
  } else {
    lastPolledOvertaken_ = 0;
  }
  if (priority != nullptr) *priority = wasPriority;
  if (item->isEvent() && item->event().type == EventType::kCheckpointBarrier) {
    lastPolledBarrier_.store(item->event().value, std::memory_order_release);
  }
  return item;
}

bool ResultSubpartition::prioritizeOwnBarrier(int64_t checkpointId, const Event& replacement,
                                              const OvertakenVisitor& visitOvertaken) {
  std::lock_guard lock(mu_);
  for (size_t i = numPriority_; i < queue_.size(); ++i) {
    const BufferOrEvent& item = queue_[i];
    if (!item.isEvent() || item.event().type != EventType::kCheckpointBarrier ||
        item.event().value != checkpointId) {
      continue;
    }
    for (size_t j = numPriority_; j < i; ++j) visitOvertaken(queue_[j]);
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
    queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(numPriority_),
                  BufferOrEvent(replacement));
    overtaken_.push_back(0);  // the producer persisted what it overtook
    ++numPriority_;
    if (listener_ != nullptr) listener_->notifyPriorityEvent(listenerChannelIndex_);
    return true;
  }
  return false;
}

size_t ResultSubpartition::lastPolledOvertaken() const {
  std::lock_guard lock(mu_);
  return lastPolledOvertaken_;
}

bool ResultSubpartition::hasPriorityEvent() const {
  std::lock_guard lock(mu_);
  return numPriority_ > 0;
}

bool ResultSubpartition::hasData() const {
  std::lock_guard lock(mu_);
  return !queue_.empty();
}

size_t ResultSubpartition::queueSize() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void ResultSubpartition::setListener(DataAvailabilityListener* listener, int channelIndex) {
  std::lock_guard lock(mu_);
  listener_ = listener;
  listenerChannelIndex_ = channelIndex;
  if (listener_ != nullptr && !queue_.empty()) listener_->notifyDataAvailable(channelIndex);
}

// --- ResultPartition::ChannelSink ------------------------------------------------------------

/// The BufferSink of one subpartition. Without a current buffer, pos_ and end_ both point at
/// sentinel_, so that every non-empty write takes writeSlow() (and an empty one stays harmless).
class ResultPartition::ChannelSink final : public BufferSink {
 public:
  ChannelSink(ResultPartition& partition, int index) : partition_(partition), index_(index) {
    pos_ = end_ = &sentinel_;
  }

  bool hasBuffer() const { return current_.isValid(); }

  /// Remove the current buffer, sized to the bytes written, and return it.
  Buffer takeBuffer() {
    current_.setSize(static_cast<size_t>(pos_ - current_.data()));
    pos_ = end_ = &sentinel_;
    --partition_.numChannelsWithBuffer_;
    return std::move(current_);
  }

 protected:
  void writeSlow(const void* data, size_t size) override {
    const auto* source = static_cast<const std::byte*>(data);
    while (size > 0) {
      if (hasBuffer()) {
        size_t chunk = std::min(size, static_cast<size_t>(end_ - pos_));
        std::memcpy(pos_, source, chunk);
        pos_ += chunk;
        source += chunk;
        size -= chunk;
        // A full buffer goes to the consumer at once; the next one is taken only when needed.
        if (pos_ == end_) partition_.flushChannel(index_);
      } else if (!takeNextBuffer()) {
        return;  // closed or failed: the rest of the record is discarded
      }
    }
  }

 private:
  bool takeNextBuffer() {
    if (partition_.failed_) return false;
    if (partition_.finished_) {
      partition_.fail(Status::internal("result partition " + partition_.id_.toString() +
                                       ": write after finish()"));
      return false;
    }
    Result<Buffer> buffer = partition_.bufferPool_->requestBuffer();  // blocks: back-pressure
    if (!buffer.isOk()) {
      partition_.fail(buffer.status());
      return false;
    }
    current_ = std::move(buffer).value();
    pos_ = current_.data();
    end_ = pos_ + current_.capacity();
    ++partition_.numChannelsWithBuffer_;
    return true;
  }

  ResultPartition& partition_;
  const int index_;
  Buffer current_;
  std::byte sentinel_{};
};

// --- ResultPartition -------------------------------------------------------------------------

Result<std::unique_ptr<ResultPartition>> ResultPartition::create(ResultPartitionId id,
                                                                 int numSubpartitions,
                                                                 NetworkBufferPool& pool,
                                                                 int buffersPerChannel,
                                                                 int floatingBuffers) {
  std::string name = "result partition " + id.toString();
  if (numSubpartitions <= 0 || buffersPerChannel <= 0 || floatingBuffers < 0) {
    return Status::invalidArgument(name +
                                   ": needs numSubpartitions > 0, buffersPerChannel > 0 "
                                   "and floatingBuffers >= 0, got " +
                                   std::to_string(numSubpartitions) + ", " +
                                   std::to_string(buffersPerChannel) + ", " +
                                   std::to_string(floatingBuffers));
  }
  size_t minBuffers = static_cast<size_t>(numSubpartitions) + 1;
  size_t maxBuffers = std::max(
      minBuffers, static_cast<size_t>(numSubpartitions) * static_cast<size_t>(buffersPerChannel) +
                      static_cast<size_t>(floatingBuffers));
  STROM_ASSIGN_OR_RETURN(std::shared_ptr<LocalBufferPool> bufferPool,
                         LocalBufferPool::create(pool, minBuffers, maxBuffers, std::move(name)));
  return std::make_unique<ResultPartition>(PrivateTag{}, std::move(id), numSubpartitions,
                                           std::move(bufferPool));
}

ResultPartition::ResultPartition(PrivateTag, ResultPartitionId id, int numSubpartitions,
                                 std::shared_ptr<LocalBufferPool> bufferPool)
    : id_(std::move(id)), bufferPool_(std::move(bufferPool)) {
  subpartitions_.reserve(numSubpartitions);
  sinks_.reserve(numSubpartitions);
  for (int i = 0; i < numSubpartitions; ++i) {
    subpartitions_.push_back(std::make_shared<ResultSubpartition>(i));
    sinks_.push_back(std::make_unique<ChannelSink>(*this, i));
  }
}

ResultPartition::~ResultPartition() = default;

BufferSink& ResultPartition::channel(int index) {
  assert(index >= 0 && index < numChannels());
  return *sinks_[index];
}

const std::shared_ptr<ResultSubpartition>& ResultPartition::subpartition(int index) const {
  assert(index >= 0 && index < numSubpartitions());
  return subpartitions_[index];
}

void ResultPartition::flushChannel(int index) {
  ChannelSink& sink = *sinks_[index];
  if (!sink.hasBuffer()) return;
  Buffer buffer = sink.takeBuffer();
  if (closed_.load(std::memory_order_acquire)) return;  // cancelled: drop (and recycle) it
  subpartitions_[index]->add(std::move(buffer));
}

void ResultPartition::flushAll() {
  if (numChannelsWithBuffer_ == 0) return;
  for (int i = 0; i < numSubpartitions(); ++i) flushChannel(i);
}

void ResultPartition::addEventToAll(const std::function<void(ResultSubpartition&)>& add) {
  if (finished_) {
    fail(Status::internal("result partition " + id_.toString() + ": event after finish()"));
    return;
  }
  for (int i = 0; i < numSubpartitions(); ++i) {
    flushChannel(i);
    if (closed_.load(std::memory_order_acquire)) continue;
    add(*subpartitions_[i]);
  }
}

void ResultPartition::emitEvent(const Event& event) {
  addEventToAll([&](ResultSubpartition& subpartition) { subpartition.add(event); });
}

void ResultPartition::emitPriorityEvent(
    const Event& event,
    const std::function<void(int subpartition, const BufferOrEvent& item)>& visitOvertaken) {
  addEventToAll([&](ResultSubpartition& subpartition) {
    subpartition.addPriorityEvent(
        event, [&](const BufferOrEvent& item) { visitOvertaken(subpartition.index(), item); });
  });
}

void ResultPartition::emitEventTo(int index, const Event& event) {
  assert(index >= 0 && index < numSubpartitions());
  if (finished_) {
    fail(Status::internal("result partition " + id_.toString() + ": event after finish()"));
    return;
  }
  flushChannel(index);
  if (closed_.load(std::memory_order_acquire)) return;
  subpartitions_[index]->add(event);
}

void ResultPartition::finish() {
  if (finished_) return;
  emitEvent(EventType::kEndOfPartition, 0);  // flushes every channel first
  finished_ = true;
}

void ResultPartition::close() {
  closed_.store(true, std::memory_order_release);
  bufferPool_->close();
}

Status ResultPartition::status() const {
  {
    std::lock_guard lock(mu_);
    if (!failure_.isOk()) return failure_;
  }
  if (closed_.load(std::memory_order_acquire)) {
    return Status::cancelled("result partition " + id_.toString() + ": closed");
  }
  return Status::ok();
}

void ResultPartition::fail(Status status) {
  failed_ = true;
  std::lock_guard lock(mu_);
  if (failure_.isOk()) failure_ = std::move(status);
}

// --- ResultPartitionManager ------------------------------------------------------------------

Status ResultPartitionManager::registerPartition(std::shared_ptr<ResultPartition> partition) {
  const ResultPartitionId& id = partition->id();
  std::lock_guard lock(mu_);
  auto [it, inserted] = partitions_.try_emplace(id, partition);
  if (!inserted) {
    return Status::alreadyExists("result partition " + id.toString() + " is already registered");
  }
  return Status::ok();
}

Status ResultPartitionManager::unregisterPartition(const ResultPartitionId& id) {
  std::shared_ptr<ResultPartition> removed;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  auto it = partitions_.find(id);
  if (it == partitions_.end()) {
    return Status::notFound("result partition " + id.toString() + " is not registered");
  }
  removed = std::move(it->second);
  partitions_.erase(it);
  return Status::ok();
}

size_t ResultPartitionManager::unregisterPartitionsOfJob(std::string_view jobId) {
  std::vector<std::shared_ptr<ResultPartition>> removed;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  for (auto it = partitions_.begin(); it != partitions_.end();) {
    if (it->first.jobId == jobId) {
      removed.push_back(std::move(it->second));
      it = partitions_.erase(it);
    } else {
      ++it;
    }
  }
  return removed.size();
}

Result<std::shared_ptr<ResultSubpartition>> ResultPartitionManager::requestSubpartition(
    const ResultPartitionId& id, int index) const {
  std::lock_guard lock(mu_);
  auto it = partitions_.find(id);
  if (it == partitions_.end()) {
    return Status::notFound("result partition " + id.toString() + " is not registered");
  }
  const ResultPartition& partition = *it->second;
  if (index < 0 || index >= partition.numSubpartitions()) {
    return Status::invalidArgument("result partition " + id.toString() + ": no subpartition " +
                                   std::to_string(index) + " (it has " +
                                   std::to_string(partition.numSubpartitions()) + ")");
  }
  return partition.subpartition(index);
}

size_t ResultPartitionManager::numPartitions() const {
  std::lock_guard lock(mu_);
  return partitions_.size();
}

}  // namespace strom::network
