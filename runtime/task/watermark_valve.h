#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace strom::runtime {

/// Combines the watermarks and watermark statuses of a task's input channels into the task's
/// (Flink's StatusWatermarkValve):
/// - The combined watermark is the minimum over the active, aligned channels of every gate of
///   the last watermark each sent. It never goes backwards; a channel's own watermark only
///   moves forward.
/// - An idle channel is left out of the minimum and its watermarks are ignored. When every
///   channel that has not ended is idle, the valve is idle: if the channel that went idle last
///   held the combined watermark, the maximum watermark over the channels is emitted first
///   (nothing will advance them any more).
/// - A channel that becomes active again rejoins the minimum only once its watermark reaches
///   the combined watermark, so that the combined watermark does not go back.
/// - A channel that ended no longer holds anything back; once all ended, the combined
///   watermark is INT64_MAX and the valve is active.
///
/// The caller sees status changes through idle(): it forwards a change to active before, and a
/// change to idle after, the watermark a call returns. Task thread only.
class WatermarkValve {
 public:
  /// `channelsPerGate[g]` is the number of channels of gate g.
  explicit WatermarkValve(const std::vector<int>& channelsPerGate) {
    channels_.reserve(channelsPerGate.size());
    for (int n : channelsPerGate) channels_.emplace_back(static_cast<size_t>(std::max(n, 0)));
  }

  /// Note `watermark` from channel `channel` of gate `gate`; return the combined watermark if
  /// it advanced.
  std::optional<int64_t> onWatermark(int gate, int channel, int64_t watermark) {
    Channel& c = at(gate, channel);
    if (c.status != Status::kActive || watermark <= c.watermark) return std::nullopt;
    c.watermark = watermark;
    if (!c.aligned && watermark >= current_) c.aligned = true;
    return advance();
  }

  /// Note that channel `channel` of gate `gate` went idle (`idle` true) or became active
  /// again; return the combined watermark if it advanced. May change idle().
  std::optional<int64_t> onWatermarkStatus(int gate, int channel, bool idle) {
    Channel& c = at(gate, channel);
    if (c.status == Status::kEnded || (c.status == Status::kIdle) == idle) return std::nullopt;
    if (!idle) {
      c.status = Status::kActive;
      c.aligned = c.watermark >= current_;
      idle_ = false;
      return std::nullopt;
    }
    c.status = Status::kIdle;
    c.aligned = false;
    return afterChannelLeft(c.watermark);
  }

  /// Note that channel `channel` of gate `gate` ended; return the combined watermark if it
  /// advanced. May change idle().
  std::optional<int64_t> onEndOfChannel(int gate, int channel) {
    Channel& c = at(gate, channel);
    if (c.status == Status::kEnded) return std::nullopt;
    c.status = Status::kEnded;
    c.aligned = false;
    bool allEnded = true;
    for (const auto& channels : channels_) {
      for (const Channel& other : channels) allEnded = allEnded && other.status == Status::kEnded;
    }
    if (allEnded) {
      idle_ = false;
      if (current_ == kMax) return std::nullopt;
      current_ = kMax;
      return kMax;
    }
    return afterChannelLeft(c.watermark);
  }

  /// Return the combined watermark forwarded last, or INT64_MIN.
  int64_t current() const { return current_; }
  /// Return whether every channel that has not ended is idle (and at least one is).
  bool idle() const { return idle_; }

 private:
  static constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  static constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

  enum class Status { kActive, kIdle, kEnded };
  struct Channel {
    int64_t watermark = kMin;
    Status status = Status::kActive;
    bool aligned = true;  // takes part in the minimum
  };

  Channel& at(int gate, int channel) {
    return channels_[static_cast<size_t>(gate)][static_cast<size_t>(channel)];
  }

  /// A channel with watermark `watermark` stopped being active (idle or ended).
  std::optional<int64_t> afterChannelLeft(int64_t watermark) {
    bool anyActive = false;
    for (const auto& channels : channels_) {
      for (const Channel& c : channels) anyActive = anyActive || c.status == Status::kActive;
    }
    if (anyActive) return advance();
    if (idle_) return std::nullopt;
    idle_ = true;
    if (watermark != current_) return std::nullopt;
    // The channel held the combined watermark back and none will advance any more: flush.
    int64_t maximum = kMin;
    for (const auto& channels : channels_) {
      for (const Channel& c : channels) {
        if (c.status == Status::kIdle) maximum = std::max(maximum, c.watermark);
      }
    }
    if (maximum <= current_) return std::nullopt;
    current_ = maximum;
    return maximum;
  }

  std::optional<int64_t> advance() {
    int64_t minimum = kMax;
    bool any = false;
    for (const auto& channels : channels_) {
      for (const Channel& c : channels) {
        if (c.status != Status::kActive || !c.aligned) continue;
        minimum = std::min(minimum, c.watermark);
        any = true;
      }
    }
    if (!any || minimum <= current_) return std::nullopt;
    current_ = minimum;
    return minimum;
  }

  std::vector<std::vector<Channel>> channels_;  // per gate, per channel
  int64_t current_ = kMin;
  bool idle_ = false;
};

}  // namespace strom::runtime
