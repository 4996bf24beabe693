#include "runtime/network/input_gate.h"

#include <cassert>

namespace strom::network {

Result<std::unique_ptr<LocalInputChannel>> LocalInputChannel::create(
    const ResultPartitionManager& manager, const ResultPartitionId& id, int index) {
  STROM_ASSIGN_OR_RETURN(std::shared_ptr<ResultSubpartition> subpartition,
                         manager.requestSubpartition(id, index));
  return std::make_unique<LocalInputChannel>(std::move(subpartition));
}

InputGate::InputGate(std::vector<std::unique_ptr<InputChannel>> channels, WakeupSignal& wakeup)
    : channels_(std::move(channels)),
      wakeup_(wakeup),
      ring_(channels_.size()),
      queued_(channels_.size(), false),
      finished_(channels_.size(), false) {
  // Last: a channel with data calls notifyDataAvailable() right away, maybe from another thread.
  for (int i = 0; i < numChannels(); ++i) channels_[i]->setListener(this, i);
}

InputGate::~InputGate() {
  for (auto& channel : channels_) channel->setListener(nullptr, 0);
}

bool InputGate::enqueueLocked(int channelIndex) {
  if (queued_[channelIndex]) return false;
  queued_[channelIndex] = true;
  ring_[(ringHead_ + ringSize_) % ring_.size()] = channelIndex;
  ++ringSize_;
  return true;
}

void InputGate::notifyDataAvailable(int channelIndex) {
  {
    std::lock_guard lock(mu_);
    enqueueLocked(channelIndex);
  }
  // Signal even if the channel was queued already: cheap, and a waiter never misses data.
  wakeup_.signal();
}

void InputGate::notifyPriorityEvent(int channelIndex) {
  {
    std::lock_guard lock(mu_);
    priority_.push_back(channelIndex);
    numPriority_.store(priority_.size(), std::memory_order_release);
  }
  wakeup_.signal();
}

std::optional<std::pair<int, BufferOrEvent>> InputGate::takeFrom(int channelIndex) {
  // Poll without mu_: the channel's lock comes before ours (it notifies us under it).
  InputChannel& channel = *channels_[channelIndex];
  std::optional<BufferOrEvent> item = channel.poll();
  if (!item) return std::nullopt;  // a stale entry: its data was taken on an earlier turn
  // Only this thread takes items, so the channel can only have gained data since poll(). If it
  // has data now, requeue it; if not, its next item makes it notify us.
  if (channel.hasData()) {
    std::lock_guard lock(mu_);
    enqueueLocked(channelIndex);
  }
  if (item->isEndOfPartition()) {
    assert(!finished_[channelIndex]);
    finished_[channelIndex] = true;
    ++numFinished_;
  }
  return std::make_pair(channelIndex, std::move(*item));
}

std::optional<std::pair<int, BufferOrEvent>> InputGate::pollPriority() {
  for (;;) {
    int channelIndex;
    {
      std::lock_guard lock(mu_);
      if (priority_.empty()) return std::nullopt;
      channelIndex = priority_.front();
      priority_.pop_front();
      numPriority_.store(priority_.size(), std::memory_order_release);
    }
    // Stale when a regular turn already took the priority event.
    if (!channels_[channelIndex]->hasPriorityEvent()) continue;
    if (auto next = takeFrom(channelIndex)) return next;
  }
}

std::optional<std::pair<int, BufferOrEvent>> InputGate::pollNext() {
  // The atomic spares the lock on every item while no priority event waits.
  if (hasPriorityEvent()) {
    if (auto next = pollPriority()) return next;
  }
  for (;;) {
    int channelIndex;
    {
      std::lock_guard lock(mu_);
      if (ringSize_ == 0) return std::nullopt;
      channelIndex = ring_[ringHead_];
      ringHead_ = (ringHead_ + 1) % ring_.size();
      --ringSize_;
      queued_[channelIndex] = false;
    }
    if (auto next = takeFrom(channelIndex)) return next;
  }
}

Status InputGate::status() const {
  for (size_t i = 0; i < channels_.size(); ++i) {
    if (finished_[i]) continue;  // it delivered everything: a later failure does not matter
    Status status = channels_[i]->status();
    if (!status.isOk()) return status;
  }
  return Status::ok();
}

}  // namespace strom::network
