#include "checkpoint/channel_state_names.h"

#include <charconv>

namespace strom::checkpoint {

std::string inputChannelStateName(int gate, int channel) {
  return "in-" + std::to_string(gate) + "-" + std::to_string(channel);
}

std::string outputChannelStateName(int partition, int subpartition) {
  return "out-" + std::to_string(partition) + "-" + std::to_string(subpartition);
}

std::string replayChannelStateName(int partition) { return "replay-" + std::to_string(partition); }

Result<ChannelStateName> parseChannelStateName(std::string_view name) {
  auto bad = [&] {
    return Status::invalidArgument("channel state '" + std::string(name) +
                                   "' is not named in-<gate>-<channel>, "
                                   "out-<partition>-<subpartition> or replay-<partition>");
  };
  ChannelStateName parsed;
  std::string_view rest;
  if (name.starts_with("in-")) {
    rest = name.substr(3);
  } else if (name.starts_with("out-")) {
    parsed.kind = ChannelStateName::Kind::kOutput;
    rest = name.substr(4);
  } else if (name.starts_with("replay-")) {
    parsed.kind = ChannelStateName::Kind::kReplay;
    rest = name.substr(7);
    const char* end = rest.data() + rest.size();
    auto [after, error] = std::from_chars(rest.data(), end, parsed.first);
    if (error != std::errc() || after != end || parsed.first < 0 || rest.empty()) return bad();
    return parsed;
  } else {
    return bad();
  }
  const char* end = rest.data() + rest.size();
  auto [afterFirst, error1] = std::from_chars(rest.data(), end, parsed.first);
  if (error1 != std::errc() || afterFirst == end || *afterFirst != '-') return bad();
  auto [afterSecond, error2] = std::from_chars(afterFirst + 1, end, parsed.second);
  if (error2 != std::errc() || afterSecond != end || parsed.first < 0 || parsed.second < 0) {
    return bad();
  }
  return parsed;
}

}  // namespace strom::checkpoint
