#pragma once

// The channel state of an unaligned checkpoint (FLIP-76): the in-flight data of one input
// channel or one output subpartition of a task, persisted as one state handle of kind "channel"
// (docs/formats.md, "Channel state").
//
//   channel-state := item*
//   item          := 0x00 length:u32le byte{length}    ; a piece of the channel's record stream
//                  | 0x01 type:u8 value:i64le          ; an event (watermark, watermark status)
//
// The buffer pieces concatenate to the channel's record stream, which may begin or end inside a
// record: an input channel's state continues in what its producer's output state holds.
// Checkpoint barriers, cancellation markers and EndOfPartition are never persisted.

#include <strom/status.h>

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "checkpoint/channel_state_names.h"
#include "runtime/network/result_partition.h"

namespace strom::checkpoint {

/// Append `bytes` (a piece of the record stream) to `out`; nothing when empty.
void appendChannelStateBytes(std::string& out, std::span<const std::byte> bytes);
/// Append `item` to `out`: a buffer's bytes, or an event other than a barrier or
/// EndOfPartition (those are skipped).
void appendChannelStateItem(std::string& out, const network::BufferOrEvent& item);

/// Decode `state`, calling `onBytes` for each piece of the record stream and `onEvent` for each
/// event, in order; the first error of a callback is returned. Corruption naming `what` (the
/// file and handle) for truncated or malformed items.
Status forEachChannelStateItem(std::string_view state, std::string_view what,
                               const std::function<Status(std::span<const std::byte>)>& onBytes,
                               const std::function<Status(const network::Event&)>& onEvent);

}  // namespace strom::checkpoint
