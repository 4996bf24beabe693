#include "checkpoint/barrier_handler.h"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <string>

namespace strom::checkpoint {

using network::BufferOrEvent;
using network::Event;
using network::EventType;

Result<CheckpointingMode> checkpointingModeOf(const Configuration& configuration) {
  std::string value = configuration.getString("execution.checkpointing.mode", "EXACTLY_ONCE");
  std::string upper = value;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "EXACTLY_ONCE") return CheckpointingMode::kExactlyOnce;
  if (upper == "AT_LEAST_ONCE") return CheckpointingMode::kAtLeastOnce;
  return Status::invalidArgument("config key 'execution.checkpointing.mode': '" + value +
                                 "' is not one of: EXACTLY_ONCE AT_LEAST_ONCE");
}

CheckpointType barrierTypeOf(CheckpointingMode mode) {
  return mode == CheckpointingMode::kExactlyOnce ? CheckpointType::kAligned
                                                 : CheckpointType::kAtLeastOnce;
}

Event CheckpointBarrier::toEvent() const {
  uint8_t options = static_cast<uint8_t>(type);
  if (savepoint) options |= kBarrierSavepointBit;
  if (terminate) options |= kBarrierTerminateBit;
  return Event{EventType::kCheckpointBarrier, checkpointId, timestamp, options};
}

CheckpointBarrier CheckpointBarrier::fromEvent(const Event& event) {
  assert(event.type == EventType::kCheckpointBarrier);
  return CheckpointBarrier{
      event.value, event.timestamp, static_cast<CheckpointType>(event.options & kBarrierTypeMask),
      (event.options & kBarrierSavepointBit) != 0, (event.options & kBarrierTerminateBit) != 0};
}

BarrierHandler::BarrierHandler(CheckpointingMode mode, int numChannels, Deliver deliver,
                               Snapshot snapshot, Abort abort)
    : mode_(mode),
      deliver_(std::move(deliver)),
      snapshot_(std::move(snapshot)),
      abort_(std::move(abort)),
      channels_(static_cast<size_t>(numChannels)) {}

size_t BarrierHandler::numHeldItems() const {
  size_t n = 0;
  for (const Channel& channel : channels_) n += channel.held.size();
  return n;
}

Status BarrierHandler::process(int channel, BufferOrEvent item) {
  assert(channel >= 0 && channel < numChannels());
  STROM_RETURN_IF_ERROR(handle(channel, item));
  // Items released by a completed or aborted alignment, each as if it arrived now. Bounded: every
  // held item is replayed at most once per release, and each release consumes a barrier.
  while (!replay_.empty()) {
    auto [from, next] = std::move(replay_.front());
    replay_.pop_front();
    STROM_RETURN_IF_ERROR(handle(from, next));
  }
  return Status::ok();
}

Status BarrierHandler::handle(int channel, BufferOrEvent& item) {
  Channel& state = channels_[static_cast<size_t>(channel)];
  if (state.blocked) {
    state.held.push_back(std::move(item));
    return Status::ok();
  }
  if (item.isEvent() && item.event().type == EventType::kCheckpointBarrier) {
    return onBarrier(channel, CheckpointBarrier::fromEvent(item.event()));
  }
  bool ended = item.isEndOfPartition();
  STROM_RETURN_IF_ERROR(deliver_(channel, item));
  if (!ended) return Status::ok();
  state.ended = true;
  if (!pending_ || state.barrierSeen) return Status::ok();
  ++numArrived_;  // end of input counts as this channel's barrier
  return completeIfAligned();
}

Status BarrierHandler::onBarrier(int channel, const CheckpointBarrier& barrier) {
  if (barrier.checkpointId <= lastHandled_) return Status::ok();  // completed or aborted
  if (pending_ && barrier.checkpointId < current_.checkpointId) return Status::ok();  // superseded
  if (pending_ && barrier.checkpointId > current_.checkpointId) {
    int64_t aborted = current_.checkpointId;
    lastHandled_ = aborted;
    release();
    if (abort_) abort_(aborted);
  }
  if (!pending_) {
    pending_ = true;
    current_ = barrier;
    numArrived_ = static_cast<int>(std::count_if(channels_.begin(), channels_.end(),
                                                 [](const Channel& c) { return c.ended; }));
  }
  Channel& state = channels_[static_cast<size_t>(channel)];
  if (state.barrierSeen) return Status::ok();  // a second barrier n on one channel: ignore it
  state.barrierSeen = true;
  ++numArrived_;
  if (mode_ == CheckpointingMode::kExactlyOnce) state.blocked = true;
  return completeIfAligned();
}

Status BarrierHandler::completeIfAligned() {
  if (numArrived_ < numChannels()) return Status::ok();
  CheckpointBarrier barrier = current_;
  lastHandled_ = barrier.checkpointId;
  release();
  return snapshot_(barrier);
}

void BarrierHandler::release() {
  pending_ = false;
  numArrived_ = 0;
  for (size_t c = 0; c < channels_.size(); ++c) {
    Channel& state = channels_[c];
    state.barrierSeen = false;
    state.blocked = false;
    while (!state.held.empty()) {
      replay_.emplace_back(static_cast<int>(c), std::move(state.held.front()));
      state.held.pop_front();
    }
  }
}

}  // namespace strom::checkpoint
