#pragma once

// The names of channel-state handles (docs/formats.md, "Channel state"), shared by the tasks
// that write and read them and by state assignment.

#include <strom/status.h>

#include <string>
#include <string_view>

namespace strom::checkpoint {

/// The handle names of channel state: "in-<gate>-<channel>" and "out-<partition>-<subpartition>"
/// as tasks write them, and "replay-<partition>" for the in-flight records of an edge whose
/// parallelism changed, which state assignment gives the producer to send again through its
/// partitioner (each old channel's input part, then its output part: whole records).
std::string inputChannelStateName(int gate, int channel);
std::string outputChannelStateName(int partition, int subpartition);
std::string replayChannelStateName(int partition);

/// A channel-state handle's name, parsed.
struct ChannelStateName {
  enum class Kind { kInput, kOutput, kReplay };
  Kind kind = Kind::kInput;
  int first = 0;   // gate or partition
  int second = 0;  // channel or subpartition; 0 for kReplay
};
/// Parse a handle name; InvalidArgument naming it if it is none of the forms.
Result<ChannelStateName> parseChannelStateName(std::string_view name);

}  // namespace strom::checkpoint
