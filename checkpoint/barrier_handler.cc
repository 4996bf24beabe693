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

Result<std::chrono::milliseconds> alignedCheckpointTimeoutOf(const Configuration& configuration) {
  return configuration.getDuration("execution.checkpointing.aligned-checkpoint-timeout",
                                   std::chrono::milliseconds(0));
}

Result<CheckpointType> barrierTypeOf(const Configuration& configuration) {
  STROM_ASSIGN_OR_RETURN(CheckpointingMode mode, checkpointingModeOf(configuration));
  STROM_ASSIGN_OR_RETURN(bool unaligned,
                         configuration.getBool("execution.checkpointing.unaligned.enabled", false));
  if (!unaligned) return barrierTypeOf(mode);
  if (mode != CheckpointingMode::kExactlyOnce) {
    return Status::invalidArgument(
        "config key 'execution.checkpointing.unaligned.enabled': unaligned checkpoints need "
        "execution.checkpointing.mode EXACTLY_ONCE");
  }
  STROM_ASSIGN_OR_RETURN(std::chrono::milliseconds timeout,
                         alignedCheckpointTimeoutOf(configuration));
  return timeout.count() > 0 ? CheckpointType::kAlignedTimeout : CheckpointType::kUnaligned;
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
                               Snapshot snapshot, Abort abort, BarrierHandlerCallbacks channelState)
    : mode_(mode),
      deliver_(std::move(deliver)),
      snapshot_(std::move(snapshot)),
      abort_(std::move(abort)),
      channelState_(std::move(channelState)),
      channels_(static_cast<size_t>(numChannels)) {}

size_t BarrierHandler::numHeldItems() const {
  size_t n = 0;
  for (const Channel& channel : channels_) n += channel.held.size();
  return n;
}

Status BarrierHandler::process(int channel, BufferOrEvent item, size_t overtaken) {
  assert(channel >= 0 && channel < numChannels());
  STROM_RETURN_IF_ERROR(handle(channel, item, overtaken));
  return drainReplay();
}

Status BarrierHandler::drainReplay() {
  // Bounded: every held item is replayed at most once per release, and each release consumes a
  // barrier.
  while (!replay_.empty()) {
    auto [from, next] = std::move(replay_.front());
    replay_.pop_front();
    STROM_RETURN_IF_ERROR(handle(from, next.item, next.overtaken));
  }
  return Status::ok();
}

Status BarrierHandler::checkAlignmentTimeout() {
  if (!pending_ || unaligned_ || current_.savepoint || !channelState_.complete ||
      mode_ != CheckpointingMode::kExactlyOnce || !alignmentTimedOut()) {
    return Status::ok();
  }
  STROM_RETURN_IF_ERROR(switchToUnaligned());
  return drainReplay();
}

int64_t BarrierHandler::alignmentDeadline() const {
  if (!pending_ || unaligned_ || current_.type != CheckpointType::kAlignedTimeout) {
    return INT64_MAX;
  }
  return current_.timestamp + channelState_.alignedTimeout.count();
}

bool BarrierHandler::alignmentTimedOut() const {
  return channelState_.now && channelState_.now() >= alignmentDeadline();
}

Status BarrierHandler::handle(int channel, BufferOrEvent& item, size_t overtaken) {
  Channel& state = channels_[static_cast<size_t>(channel)];
  if (state.blocked) {
    state.held.push_back(Item{std::move(item), overtaken});
    return Status::ok();
  }
  bool overtakenItem = state.overtakenLeft > 0;  // precedes the barrier handled before it
  if (overtakenItem) {
    --state.overtakenLeft;
    --overtakenLeft_;
  }
  if (item.isEvent() && item.event().type == EventType::kCheckpointBarrier) {
    STROM_RETURN_IF_ERROR(
        onBarrier(channel, CheckpointBarrier::fromEvent(item.event()), overtaken));
    return overtakenItem ? completeIfAligned() : Status::ok();
  }
  if (item.isEvent() && item.event().type == EventType::kCancelCheckpointMarker) {
    onCancellationMarker(item.event().value);
    return overtakenItem ? completeIfAligned() : Status::ok();
  }
  bool ended = item.isEndOfPartition();
  if ((state.recording || overtakenItem) && !ended) channelState_.persist(channel, item);
  STROM_RETURN_IF_ERROR(deliver_(channel, item));
  if (ended) {
    state.ended = true;
    if (pending_ && !state.barrierSeen) {
      state.recording = false;
      ++numArrived_;  // end of input counts as this channel's barrier
      return completeIfAligned();
    }
  }
  return overtakenItem ? completeIfAligned() : Status::ok();
}

Status BarrierHandler::onBarrier(int channel, const CheckpointBarrier& barrier, size_t overtaken) {
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
    unaligned_ = false;
    current_ = barrier;
    numArrived_ = static_cast<int>(std::count_if(channels_.begin(), channels_.end(),
                                                 [](const Channel& c) { return c.ended; }));
  }
  Channel& state = channels_[static_cast<size_t>(channel)];
  if (state.barrierSeen) return Status::ok();  // a second barrier n on one channel: ignore it
  state.barrierSeen = true;
  ++numArrived_;
  // The items it overtook precede it on this channel: persisted (unaligned) as they come.
  auto persistOvertaken = [&] {
    state.recording = false;
    state.overtakenLeft = overtaken;
    overtakenLeft_ += overtaken;
  };
  if (unaligned_) {
    persistOvertaken();
    return completeIfAligned();
  }
  // Without channel-state callbacks (tests of aligned mode) every checkpoint stays aligned.
  // A barrier that overtook items (a priority event) precedes them: only unaligned can use it.
  if (mode_ == CheckpointingMode::kExactlyOnce && !current_.savepoint && channelState_.complete &&
      (barrier.type == CheckpointType::kUnaligned || overtaken > 0 ||
       (current_.type == CheckpointType::kAlignedTimeout && alignmentTimedOut()))) {
    STROM_RETURN_IF_ERROR(switchToUnaligned());
    persistOvertaken();
    return completeIfAligned();
  }
  if (mode_ == CheckpointingMode::kExactlyOnce) state.blocked = true;
  return completeIfAligned();
}

void BarrierHandler::onCancellationMarker(int64_t checkpointId) {
  if (checkpointId <= lastHandled_) return;  // completed, aborted, or cancelled already
  if (pending_ && checkpointId < current_.checkpointId) return;  // superseded
  int64_t aborted = pending_ ? current_.checkpointId : -1;
  lastHandled_ = checkpointId;  // its barriers (and any older ones) are dropped from now on
  release();
  if (aborted >= 0 && abort_) abort_(aborted);
  if (channelState_.cancelled) channelState_.cancelled(checkpointId);
}

Status BarrierHandler::abortCheckpoint(int64_t checkpointId) {
  if (!pending_ || current_.checkpointId != checkpointId) return Status::ok();
  lastHandled_ = checkpointId;
  release();
  if (abort_) abort_(checkpointId);
  return drainReplay();
}

Status BarrierHandler::switchToUnaligned() {
  unaligned_ = true;
  current_.type = CheckpointType::kUnaligned;
  for (size_t c = 0; c < channels_.size(); ++c) {
    Channel& state = channels_[c];
    // A blocked channel's held items follow its barrier: processed now, not persisted.
    state.blocked = false;
    replayHeld(c);
    state.recording = !state.barrierSeen && !state.ended;
  }
  STROM_RETURN_IF_ERROR(snapshot_(current_));
  for (size_t c = 0; c < channels_.size(); ++c) {
    if (channels_[c].recording)
      channelState_.prioritize(static_cast<int>(c), current_.checkpointId);
  }
  return Status::ok();
}

Status BarrierHandler::completeIfAligned() {
  if (!pending_ || numArrived_ < numChannels() || overtakenLeft_ > 0) return Status::ok();
  CheckpointBarrier barrier = current_;
  bool unaligned = unaligned_;
  lastHandled_ = barrier.checkpointId;
  release();
  return unaligned ? channelState_.complete(barrier.checkpointId) : snapshot_(barrier);
}

void BarrierHandler::replayHeld(size_t channel) {
  std::deque<Item>& held = channels_[channel].held;
  while (!held.empty()) {
    replay_.emplace_back(static_cast<int>(channel), std::move(held.front()));
    held.pop_front();
  }
}

void BarrierHandler::release() {
  pending_ = false;
  unaligned_ = false;
  numArrived_ = 0;
  overtakenLeft_ = 0;
  for (size_t c = 0; c < channels_.size(); ++c) {
    Channel& state = channels_[c];
    state.barrierSeen = false;
    state.blocked = false;
    state.recording = false;
    state.overtakenLeft = 0;
    replayHeld(c);
  }
}

}  // namespace strom::checkpoint
