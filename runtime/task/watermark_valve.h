#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace strom::runtime {

/// Combines the watermarks of a task's input channels into the task's watermark (Flink's
/// StatusWatermarkValve, without idleness): the minimum over every channel of every gate of
/// the last watermark it sent. A channel's watermark only moves forward; a channel that
/// ended no longer holds the minimum back. Task thread only.
class WatermarkValve {
 public:
  /// `channelsPerGate[g]` is the number of channels of gate g.
  explicit WatermarkValve(const std::vector<int>& channelsPerGate) {
    channels_.reserve(channelsPerGate.size());
    for (int n : channelsPerGate) {
      channels_.emplace_back(static_cast<size_t>(std::max(n, 0)), kMin);
    }
  }

  /// Note `watermark` from channel `channel` of gate `gate`; return the combined watermark if
  /// it advanced.
  std::optional<int64_t> onWatermark(int gate, int channel, int64_t watermark) {
    int64_t& last = channels_[static_cast<size_t>(gate)][static_cast<size_t>(channel)];
    if (watermark <= last) return std::nullopt;
    last = watermark;
    return advance();
  }

  /// Note that channel `channel` of gate `gate` ended; return the combined watermark if it
  /// advanced.
  std::optional<int64_t> onEndOfChannel(int gate, int channel) {
    channels_[static_cast<size_t>(gate)][static_cast<size_t>(channel)] = kMax;
    return advance();
  }

  /// Return the combined watermark forwarded last, or INT64_MIN.
  int64_t current() const { return current_; }

 private:
  static constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  static constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

  std::optional<int64_t> advance() {
    int64_t minimum = kMax;
    bool any = false;
    for (const auto& gate : channels_) {
      for (int64_t w : gate) {
        minimum = std::min(minimum, w);
        any = true;
      }
    }
    if (!any || minimum <= current_) return std::nullopt;
    current_ = minimum;
    return minimum;
  }

  std::vector<std::vector<int64_t>> channels_;  // per gate, per channel: the last watermark
  int64_t current_ = kMin;
};

}  // namespace strom::runtime
