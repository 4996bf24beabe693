#include "runtime/network/frame.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

namespace strom::network {
namespace {

// The build refuses big-endian targets (type_serializer.h), so a memcpy is a little-endian
// encoding.
template <class T>
void put(std::byte*& out, T value) {
  static_assert(std::is_integral_v<T>);
  std::memcpy(out, &value, sizeof(T));
  out += sizeof(T);
}

template <class T>
void append(std::vector<std::byte>& out, T value) {
  std::byte bytes[sizeof(T)];
  std::byte* p = bytes;
  put(p, value);
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

void appendHeader(std::vector<std::byte>& out, FrameType type, uint32_t length) {
  append<uint8_t>(out, kFrameMagic);
  append<uint8_t>(out, kFrameVersion);
  append<uint8_t>(out, static_cast<uint8_t>(type));
  append<uint8_t>(out, 0);
  append<uint32_t>(out, length);
}

/// Reads fixed-width fields from a body, checking each length first.
class BodyReader {
 public:
  explicit BodyReader(std::span<const std::byte> body) : body_(body) {}

  template <class T>
  bool read(T& value) {
    if (body_.size() - offset_ < sizeof(T)) return false;
    std::memcpy(&value, body_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return true;
  }
  std::span<const std::byte> rest() {
    auto rest = body_.subspan(offset_);
    offset_ = body_.size();
    return rest;
  }
  bool take(size_t n, std::span<const std::byte>& bytes) {
    if (body_.size() - offset_ < n) return false;
    bytes = body_.subspan(offset_, n);
    offset_ += n;
    return true;
  }
  bool atEnd() const { return offset_ == body_.size(); }

 private:
  std::span<const std::byte> body_;
  size_t offset_ = 0;
};

Status malformed(FrameType type, const char* what) {
  return Status::corruption(std::string("network frame: malformed ") + frameTypeName(type) +
                            " frame: " + what);
}

}  // namespace

const char* frameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kPartitionRequest:
      return "partition-request";
    case FrameType::kBuffer:
      return "buffer";
    case FrameType::kAddCredit:
      return "add-credit";
    case FrameType::kCancelRequest:
      return "cancel-request";
    case FrameType::kCloseRequest:
      return "close-request";
    case FrameType::kError:
      return "error";
    case FrameType::kPartitionNotFound:
      return "partition-not-found";
  }
  return "unknown";
}

Status encodeFrame(const Frame& frame, std::vector<std::byte>& out) {
  constexpr size_t kMaxLength = std::numeric_limits<uint32_t>::max();
  return std::visit(
      [&out](const auto& message) -> Status {
        using T = std::decay_t<decltype(message)>;
        if constexpr (std::is_same_v<T, PartitionRequest>) {
          const std::string& jobId = message.partition.jobId;
          if (jobId.size() > std::numeric_limits<uint16_t>::max()) {
            return Status::invalidArgument("network frame: job id of " +
                                           std::to_string(jobId.size()) +
                                           " bytes, at most 65535 allowed");
          }
          appendHeader(out, FrameType::kPartitionRequest, static_cast<uint32_t>(26 + jobId.size()));
          append<uint32_t>(out, message.channel);
          append<uint32_t>(out, message.subpartition);
          append<uint32_t>(out, message.credit);
          append<int32_t>(out, message.partition.edgeIndex);
          append<int32_t>(out, message.partition.producerSubtask);
          append<int32_t>(out, message.partition.attempt);
          append<uint16_t>(out, static_cast<uint16_t>(jobId.size()));
          const auto* bytes = reinterpret_cast<const std::byte*>(jobId.data());
          out.insert(out.end(), bytes, bytes + jobId.size());
        } else if constexpr (std::is_same_v<T, BufferMessage>) {
          if (message.payload.size() > kMaxLength - 13) {
            return Status::invalidArgument("network frame: buffer payload too large");
          }
          size_t offset = out.size();
          out.resize(offset + kBufferFramePrefixSize);
          encodeBufferFramePrefix(message, message.payload.size(),
                                  std::span<std::byte, kBufferFramePrefixSize>(
                                      out.data() + offset, kBufferFramePrefixSize));
          out.insert(out.end(), message.payload.begin(), message.payload.end());
        } else if constexpr (std::is_same_v<T, AddCredit>) {
          appendHeader(out, FrameType::kAddCredit, 8);
          append<uint32_t>(out, message.channel);
          append<uint32_t>(out, message.credit);
        } else if constexpr (std::is_same_v<T, CancelRequest>) {
          appendHeader(out, FrameType::kCancelRequest, 4);
          append<uint32_t>(out, message.channel);
        } else if constexpr (std::is_same_v<T, CloseRequest>) {
          appendHeader(out, FrameType::kCloseRequest, 0);
        } else if constexpr (std::is_same_v<T, PartitionNotFound>) {
          appendHeader(out, FrameType::kPartitionNotFound, 4);
          append<uint32_t>(out, message.channel);
        } else {
          static_assert(std::is_same_v<T, ErrorResponse>);
          if (message.message.size() > kMaxLength - 4) {
            return Status::invalidArgument("network frame: error message too large");
          }
          appendHeader(out, FrameType::kError, static_cast<uint32_t>(4 + message.message.size()));
          append<uint32_t>(out, message.channel);
          const auto* bytes = reinterpret_cast<const std::byte*>(message.message.data());
          out.insert(out.end(), bytes, bytes + message.message.size());
        }
        return Status::ok();
      },
      frame);
}

void encodeBufferFramePrefix(const BufferMessage& message, size_t payloadSize,
                             std::span<std::byte, kBufferFramePrefixSize> out) {
  std::byte* p = out.data();
  put<uint8_t>(p, kFrameMagic);
  put<uint8_t>(p, kFrameVersion);
  put<uint8_t>(p, static_cast<uint8_t>(FrameType::kBuffer));
  put<uint8_t>(p, 0);
  put<uint32_t>(p, static_cast<uint32_t>(13 + payloadSize));
  put<uint32_t>(p, message.channel);
  put<uint32_t>(p, message.sequence);
  put<uint32_t>(p, message.backlog);
  put<uint8_t>(p, static_cast<uint8_t>((message.isEvent ? kBufferFlagEvent : 0) |
                                       (message.isPriority ? kBufferFlagPriority : 0)));
}

void encodeEventPayload(uint8_t type, int64_t value, int64_t timestamp, uint8_t options,
                        std::span<std::byte, kEventPayloadSize> out) {
  std::byte* p = out.data();
  put<uint8_t>(p, type);
  put<int64_t>(p, value);
  put<int64_t>(p, timestamp);
  put<uint8_t>(p, options);
}

Status decodeEventPayload(std::span<const std::byte> payload, uint8_t& type, int64_t& value,
                          int64_t& timestamp, uint8_t& options) {
  if (payload.size() != kEventPayloadSize) {
    return Status::corruption("network frame: event payload of " + std::to_string(payload.size()) +
                              " bytes, expected " + std::to_string(kEventPayloadSize));
  }
  std::memcpy(&type, payload.data(), 1);
  std::memcpy(&value, payload.data() + 1, 8);
  std::memcpy(&timestamp, payload.data() + 9, 8);
  std::memcpy(&options, payload.data() + 17, 1);
  return Status::ok();
}

// --- FrameDecoder ----------------------------------------------------------------------------

FrameDecoder::FrameDecoder(size_t maxBodySize) : maxBodySize_(maxBodySize) {}

std::span<std::byte> FrameDecoder::prepare(size_t minBytes) {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (begin_ > 0 && data_.size() - end_ < minBytes) {
    // Move the unconsumed tail to the front before growing.
    std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (data_.size() - end_ < minBytes) data_.resize(end_ + minBytes);
  return {data_.data() + end_, data_.size() - end_};
}

void FrameDecoder::commit(size_t bytes) { end_ += std::min(bytes, data_.size() - end_); }

void FrameDecoder::append(std::span<const std::byte> bytes) {
  auto space = prepare(bytes.size());
  std::copy(bytes.begin(), bytes.end(), space.begin());
  commit(bytes.size());
}

Result<std::optional<Frame>> FrameDecoder::next() {
  if (!failure_.isOk()) return failure_;
  size_t available = end_ - begin_;
  if (available < kFrameHeaderSize) return std::optional<Frame>();
  const std::byte* header = data_.data() + begin_;
  auto magic = static_cast<uint8_t>(header[0]);
  auto version = static_cast<uint8_t>(header[1]);
  auto type = static_cast<uint8_t>(header[2]);
  auto reserved = static_cast<uint8_t>(header[3]);
  uint32_t length = 0;
  std::memcpy(&length, header + 4, sizeof(length));
  if (magic != kFrameMagic) {
    failure_ = Status::corruption("network frame: bad magic byte " + std::to_string(magic));
  } else if (version != kFrameVersion) {
    failure_ = Status::corruption("network frame: unsupported version " + std::to_string(version));
  } else if (type < static_cast<uint8_t>(FrameType::kPartitionRequest) ||
             type > static_cast<uint8_t>(FrameType::kPartitionNotFound)) {
    failure_ = Status::corruption("network frame: unknown type " + std::to_string(type));
  } else if (reserved != 0) {
    failure_ = Status::corruption("network frame: reserved byte is " + std::to_string(reserved));
  } else if (length > maxBodySize_) {
    failure_ = Status::corruption("network frame: body of " + std::to_string(length) +
                                  " bytes exceeds the limit of " + std::to_string(maxBodySize_));
  }
  if (!failure_.isOk()) return failure_;
  if (available - kFrameHeaderSize < length) return std::optional<Frame>();
  std::span<const std::byte> body(header + kFrameHeaderSize, length);
  auto frame = decodeBody(static_cast<FrameType>(type), body);
  if (!frame.isOk()) {
    failure_ = frame.status();
    return failure_;
  }
  begin_ += kFrameHeaderSize + length;
  return std::optional<Frame>(std::move(frame).value());
}

Result<Frame> FrameDecoder::decodeBody(FrameType type, std::span<const std::byte> body) const {
  BodyReader reader(body);
  switch (type) {
    case FrameType::kPartitionRequest: {
      PartitionRequest request;
      uint16_t jobIdLength = 0;
      std::span<const std::byte> jobId;
      if (!reader.read(request.channel) || !reader.read(request.subpartition) ||
          !reader.read(request.credit) || !reader.read(request.partition.edgeIndex) ||
          !reader.read(request.partition.producerSubtask) ||
          !reader.read(request.partition.attempt) || !reader.read(jobIdLength) ||
          !reader.take(jobIdLength, jobId)) {
        return malformed(type, "truncated");
      }
      if (!reader.atEnd()) return malformed(type, "trailing bytes");
      request.partition.jobId.assign(reinterpret_cast<const char*>(jobId.data()), jobId.size());
      return Frame(std::move(request));
    }
    case FrameType::kBuffer: {
      BufferMessage message;
      uint8_t flags = 0;
      if (!reader.read(message.channel) || !reader.read(message.sequence) ||
          !reader.read(message.backlog) || !reader.read(flags)) {
        return malformed(type, "truncated");
      }
      if ((flags & ~uint8_t{kBufferFlagEvent | kBufferFlagPriority}) != 0) {
        return malformed(type, "unknown flags");
      }
      message.isEvent = (flags & kBufferFlagEvent) != 0;
      message.isPriority = (flags & kBufferFlagPriority) != 0;
      if (message.isPriority && !message.isEvent) {
        return malformed(type, "the priority flag without the event flag");
      }
      message.payload = reader.rest();
      if (message.isEvent && message.payload.size() != kEventPayloadSize) {
        return malformed(type, "event payload is not 18 bytes");
      }
      return Frame(message);
    }
    case FrameType::kAddCredit: {
      AddCredit message;
      if (!reader.read(message.channel) || !reader.read(message.credit)) {
        return malformed(type, "truncated");
      }
      if (!reader.atEnd()) return malformed(type, "trailing bytes");
      if (message.credit == 0) return malformed(type, "zero credit");
      return Frame(message);
    }
    case FrameType::kCancelRequest: {
      CancelRequest message;
      if (!reader.read(message.channel)) return malformed(type, "truncated");
      if (!reader.atEnd()) return malformed(type, "trailing bytes");
      return Frame(message);
    }
    case FrameType::kCloseRequest:
      if (!reader.atEnd()) return malformed(type, "trailing bytes");
      return Frame(CloseRequest{});
    case FrameType::kError: {
      ErrorResponse message;
      if (!reader.read(message.channel)) return malformed(type, "truncated");
      auto text = reader.rest();
      message.message.assign(reinterpret_cast<const char*>(text.data()), text.size());
      return Frame(std::move(message));
    }
    case FrameType::kPartitionNotFound: {
      PartitionNotFound message;
      if (!reader.read(message.channel)) return malformed(type, "truncated");
      if (!reader.atEnd()) return malformed(type, "trailing bytes");
      return Frame(message);
    }
  }
  return Status::corruption("network frame: unknown type");
}

}  // namespace strom::network
