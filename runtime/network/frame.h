#pragma once

// The frames of the TCP data connection between two TaskManagers (DESIGN §5): one connection per
// TaskManager pair carries every remote channel between them. Layout (also in docs/formats.md,
// section "Network frames"; every integer is little-endian):
//
//   frame            := header body
//   header           := magic:u8 version:u8 type:u8 reserved:u8 length:u32le
//                       ; magic = 0x53 ('S'), version = 2, reserved = 0,
//                       ; length = bytes in body, at most the decoder's maxBodySize
//   body             := partitionRequest | buffer | addCredit | cancelRequest | closeRequest
//                     | error | partitionNotFound                 ; selected by type
//   partitionRequest := channel:u32le subpartition:u32le credit:u32le       ; type 1
//                       edgeIndex:i32le producerSubtask:i32le attempt:i32le
//                       jobIdLength:u16le jobId:byte{jobIdLength}
//   buffer           := channel:u32le sequence:u32le backlog:u32le flags:u8  ; type 2
//                       payload:byte*                         ; length - 13 bytes
//                       ; flags bit 0: the payload is an event; bit 1: a priority
//                       ; event (an unaligned checkpoint barrier), sent without credit and
//                       ; put ahead of the items the consumer has queued; other bits zero
//   event payload    := eventType:u8 value:i64le timestamp:i64le options:u8  ; 18 bytes
//                       ; EventType (0..4); timestamp and options: barriers only,
//                       ; else 0
//   addCredit        := channel:u32le credit:u32le           ; type 3, credit >= 1
//   cancelRequest    := channel:u32le                        ; type 4
//   closeRequest     := (empty)                              ; type 5
//   error            := channel:u32le message:byte*          ; type 6, length - 4 bytes
//                       ; channel = 0xffffffff: the whole connection failed
//   partitionNotFound := channel:u32le                       ; type 7
//                       ; the requested partition is not (yet) registered: the consumer may
//                       ; send the request again later
//
// `channel` is the receiver's channel id, chosen by the consumer side and unique on its
// connection. `sequence` counts the buffers (and events) of one channel from 0. `backlog` is
// the number of items still queued in the producer's subpartition after this one.

#include <strom/status.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "runtime/network/result_partition_id.h"

namespace strom::network {

inline constexpr uint8_t kFrameMagic = 0x53;
inline constexpr uint8_t kFrameVersion = 2;
inline constexpr size_t kFrameHeaderSize = 8;
/// Bytes of a buffer frame before its payload: the header and the fixed body fields.
inline constexpr size_t kBufferFramePrefixSize = kFrameHeaderSize + 13;
/// Bytes of an encoded event payload.
inline constexpr size_t kEventPayloadSize = 18;
/// The flags of a buffer frame.
inline constexpr uint8_t kBufferFlagEvent = 0x01;
inline constexpr uint8_t kBufferFlagPriority = 0x02;
/// The channel id of an error that concerns the whole connection.
inline constexpr uint32_t kConnectionWide = 0xffffffffu;

enum class FrameType : uint8_t {
  kPartitionRequest = 1,
  kBuffer = 2,
  kAddCredit = 3,
  kCancelRequest = 4,
  kCloseRequest = 5,
  kError = 6,
  kPartitionNotFound = 7,
};

/// Consumer → producer: start sending subpartition `subpartition` of `partition` to channel
/// `channel`, which holds `credit` free buffers.
struct PartitionRequest {
  uint32_t channel = 0;
  uint32_t subpartition = 0;
  uint32_t credit = 0;
  ResultPartitionId partition;
  bool operator==(const PartitionRequest&) const = default;
};

/// Producer → consumer: one buffer or event of channel `channel`. `payload` views bytes owned by
/// whoever produced the message (the decoder: valid until its next call).
struct BufferMessage {
  uint32_t channel = 0;
  uint32_t sequence = 0;
  uint32_t backlog = 0;
  bool isEvent = false;
  bool isPriority = false;  // a priority event: sent without credit (requires isEvent)
  std::span<const std::byte> payload;
};

/// Consumer → producer: `credit` more free buffers for channel `channel`.
struct AddCredit {
  uint32_t channel = 0;
  uint32_t credit = 0;
  bool operator==(const AddCredit&) const = default;
};

/// Consumer → producer: stop sending to channel `channel` and forget it.
struct CancelRequest {
  uint32_t channel = 0;
  bool operator==(const CancelRequest&) const = default;
};

/// Consumer → producer: the consumer closes the connection; no more requests follow.
struct CloseRequest {
  bool operator==(const CloseRequest&) const = default;
};

/// Either direction: channel `channel` (or, with kConnectionWide, every channel) failed.
struct ErrorResponse {
  uint32_t channel = kConnectionWide;
  std::string message;
  bool operator==(const ErrorResponse&) const = default;
};

/// Producer → consumer: the partition that channel `channel` requested is not registered (its
/// producer may not be deployed yet). The request is forgotten; the consumer may send it again.
struct PartitionNotFound {
  uint32_t channel = 0;
  bool operator==(const PartitionNotFound&) const = default;
};

using Frame = std::variant<PartitionRequest, BufferMessage, AddCredit, CancelRequest, CloseRequest,
                           ErrorResponse, PartitionNotFound>;

/// Append the encoding of `frame` to `out`. InvalidArgument if a field does not fit its
/// encoding (a job id longer than 65535 bytes, a body longer than 2^32 - 1 bytes).
Status encodeFrame(const Frame& frame, std::vector<std::byte>& out);

/// Write the header and fixed fields of a buffer frame whose payload has `payloadSize` bytes
/// into `out`; the payload itself follows it on the wire (a gather write sends both).
void encodeBufferFramePrefix(const BufferMessage& message, size_t payloadSize,
                             std::span<std::byte, kBufferFramePrefixSize> out);

/// Write the payload of event (`type`, `value`, `timestamp`, `options`) into `out`.
void encodeEventPayload(uint8_t type, int64_t value, int64_t timestamp, uint8_t options,
                        std::span<std::byte, kEventPayloadSize> out);
/// Read an event payload. Corruption if it is not kEventPayloadSize bytes.
Status decodeEventPayload(std::span<const std::byte> payload, uint8_t& type, int64_t& value,
                          int64_t& timestamp, uint8_t& options);

/// Return a short name of `type` for messages ("buffer", "add-credit", ...).
const char* frameTypeName(FrameType type);

/// Cuts a byte stream into frames. The stream may be split anywhere: bytes go in through
/// prepare()/commit() (read a socket straight into it) or append(), and next() returns each frame
/// once all its bytes are there. Every length is checked before use: a truncated, oversized or
/// malformed frame yields a Corruption status, after which the decoder stays failed.
///
/// Memory is bounded by kFrameHeaderSize + maxBodySize plus one read's worth of bytes.
///
/// Thread contract: not thread-safe; one connection's io thread owns it.
class FrameDecoder {
 public:
  explicit FrameDecoder(size_t maxBodySize);

  /// Return writable space for at least `minBytes` more bytes; commit() what was written.
  std::span<std::byte> prepare(size_t minBytes);
  void commit(size_t bytes);
  /// Copy `bytes` in (tests and small writes).
  void append(std::span<const std::byte> bytes);

  /// Return the next complete frame, nullopt if more bytes are needed, or Corruption. A
  /// BufferMessage's payload views the decoder's memory and is valid until the next call of
  /// any method.
  Result<std::optional<Frame>> next();

  /// Return the bytes received but not yet returned as frames.
  size_t bufferedBytes() const { return end_ - begin_; }

 private:
  Result<Frame> decodeBody(FrameType type, std::span<const std::byte> body) const;

  const size_t maxBodySize_;
  std::vector<std::byte> data_;
  size_t begin_ = 0;  // first byte not yet consumed
  size_t end_ = 0;    // one past the last committed byte
  Status failure_;
};

}  // namespace strom::network
