#pragma once

// Records between tasks. The typed halves live here (they are instantiated with the user's
// record types); the runtime provides the byte transport behind BufferSink and
// PartitionWriter.
//
// Byte layout of the records in a data buffer (also in docs/formats.md):
//
//   buffer    := record*                 ; a record may continue in the channel's next buffer
//   record    := varint(length) body     ; length = bytes in body, 1 <= length <= 2^28
//   body      := flags:u8 [timestamp:i64le] payload
//   flags     := bit 0 set: a timestamp follows; other bits zero
//   payload   := TypeSerializer<T> encoding of the value (<strom/type_serializer.h>)

#include <strom/key.h>
#include <strom/operator.h>
#include <strom/record_batch.h>
#include <strom/status.h>
#include <strom/type_serializer.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeindex>
#include <utility>
#include <vector>

namespace strom {

/// How records of an edge are distributed over the consumer's subtasks.
enum class PartitionerKind {
  kForward,    // subtask i -> subtask i (equal parallelism)
  kRescale,    // round robin over a local subset of consumers (pointwise)
  kRebalance,  // round robin over all consumers
  kBroadcast,  // every record to every consumer
  kHash,       // by key group of the record's key
};

/// Return "FORWARD", "RESCALE", "REBALANCE", "BROADCAST" or "HASH".
inline const char* partitionerName(PartitionerKind kind) {
  switch (kind) {
    case PartitionerKind::kForward:
      return "FORWARD";
    case PartitionerKind::kRescale:
      return "RESCALE";
    case PartitionerKind::kRebalance:
      return "REBALANCE";
    case PartitionerKind::kBroadcast:
      return "BROADCAST";
    case PartitionerKind::kHash:
      return "HASH";
  }
  return "?";
}

/// Where a record writer puts bytes for one consumer channel. write() copies into the current
/// network buffer inline; only when it is full does the runtime's writeSlow() finish it and
/// take the next one (and may block for a free buffer: back-pressure). Task thread only.
class BufferSink {
 public:
  virtual ~BufferSink() = default;
  void write(const void* data, size_t size) {
    if (size <= static_cast<size_t>(end_ - pos_)) {
      std::memcpy(pos_, data, size);
      pos_ += size;
      return;
    }
    writeSlow(data, size);
  }

 protected:
  virtual void writeSlow(const void* data, size_t size) = 0;
  std::byte* pos_ = nullptr;  // next free byte of the current buffer
  std::byte* end_ = nullptr;  // end of the current buffer
};

/// The runtime's side of one produced result partition: one BufferSink per consumer channel.
class PartitionWriter {
 public:
  virtual ~PartitionWriter() = default;
  virtual int numChannels() const = 0;
  virtual BufferSink& channel(int index) = 0;
  /// Send the watermark `watermark` to every channel, after the records written so far.
  virtual void emitWatermark(int64_t watermark) = 0;
  /// Send the watermark status `idle` (true: idle, false: active) to every channel, after the
  /// records written so far. This default drops it (writers without event time).
  virtual void emitWatermarkStatus(bool /*idle*/) {}
};

/// What a writer needs to know about the edge it writes.
struct WriterContext {
  int subtaskIndex = 0;      // of the producer
  int maxParallelism = 128;  // of the consumer, for key groups
};

/// Creates the typed record writer of one edge (immutable, shareable across threads).
class PartitionerFactory {
 public:
  virtual ~PartitionerFactory() = default;
  virtual PartitionerKind kind() const = 0;
  /// Return an Input<T> that serializes each record into `partition`'s channels.
  virtual std::unique_ptr<InputBase> createWriter(PartitionWriter& partition,
                                                  const WriterContext& context) const = 0;
};

/// Deserializes one input of a task into batches for its first operator.
class RecordReaderBase {
 public:
  virtual ~RecordReaderBase() = default;
  /// Decode the records of `data`, one buffer of channel `channel`, handing full batches to
  /// the consumer. A record that continues in the channel's next buffer is kept.
  virtual Status processBuffer(int channel, std::span<const std::byte> data) = 0;
  /// Hand the pending (partial) batch to the consumer.
  virtual void flush() = 0;
  /// Check that channel `channel` ended on a record boundary.
  virtual Status endOfChannel(int channel) = 0;
  /// Return the bytes of channel `channel`'s record that began in a processed buffer and
  /// continues in the next one (empty on a record boundary). An unaligned checkpoint persists
  /// them first in the channel's state: they are input the snapshot does not cover.
  virtual std::string_view pendingBytes(int channel) const = 0;
};

namespace detail {

inline constexpr uint32_t kMaxRecordBytes = 1u << 28;

inline size_t encodeVarint(uint64_t value, uint8_t* out) {
  size_t n = 0;
  while (value >= 0x80) {
    out[n++] = static_cast<uint8_t>(value) | 0x80;
    value >>= 7;
  }
  out[n++] = static_cast<uint8_t>(value);
  return n;
}

enum class VarintParse { kOk, kIncomplete, kCorrupt };

/// Parse a record length prefix (at most 5 bytes for lengths below 2^28).
inline VarintParse decodeLength(const std::byte* data, size_t size, uint32_t& value,
                                size_t& consumed) {
  uint64_t result = 0;
  for (size_t i = 0; i < 5; ++i) {
    if (i == size) return VarintParse::kIncomplete;
    uint8_t b = static_cast<uint8_t>(data[i]);
    result |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (result == 0 || result > kMaxRecordBytes) return VarintParse::kCorrupt;
      value = static_cast<uint32_t>(result);
      consumed = i + 1;
      return VarintParse::kOk;
    }
  }
  return VarintParse::kCorrupt;
}

/// Serializes records once into a reused scratch buffer and writes them to the channels a
/// Selector picks. `Selector::select(value, numChannels, emit)` calls emit(channel) for each
/// target channel.
template <class T, class Selector>
class RecordWriter final : public Input<T> {
 public:
  RecordWriter(PartitionWriter& partition, Selector selector)
      : partition_(partition),
        selector_(std::move(selector)),
        numChannels_(partition.numChannels()) {
    channels_.reserve(numChannels_);
    for (int i = 0; i < numChannels_; ++i) channels_.push_back(&partition.channel(i));
  }

  void processBatch(RecordBatch<T>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      const T& value = batch[i];
      int64_t timestamp = batch.timestamp(i);
      payload_.clear();
      DataOutput out(payload_);
      serializeValue(value, out);
      uint8_t header[16];
      size_t bodySize = payload_.size() + 1 + (timestamp != kNoTimestamp ? 8 : 0);
      if (bodySize > kMaxRecordBytes) [[unlikely]] {
        // Readers reject such a length as corrupt; fail here, naming the cause.
        throw std::length_error("a record of " + std::to_string(bodySize) +
                                " bytes exceeds the limit of " + std::to_string(kMaxRecordBytes) +
                                " bytes per record");
      }
      size_t headerSize = encodeVarint(bodySize, header);
      header[headerSize++] = timestamp != kNoTimestamp ? 1 : 0;
      if (timestamp != kNoTimestamp) {
        std::memcpy(header + headerSize, &timestamp, 8);
        headerSize += 8;
      }
      selector_.select(value, numChannels_, [&](int channel) {
        BufferSink& sink = *channels_[channel];
        sink.write(header, headerSize);
        sink.write(payload_.data(), payload_.size());
      });
    }
  }

  void processWatermark(int64_t watermark) override { partition_.emitWatermark(watermark); }
  void processWatermarkStatus(bool idle) override { partition_.emitWatermarkStatus(idle); }

 private:
  PartitionWriter& partition_;  // owned by the runtime
  Selector selector_;
  int numChannels_;
  std::vector<BufferSink*> channels_;  // owned by the runtime's partition
  std::string payload_;                // reused: no allocation per record once warm
};

struct FirstChannelSelector {
  template <class T, class Emit>
  void select(const T&, int, Emit&& emit) {
    emit(0);
  }
};

struct RoundRobinSelector {
  int next = 0;
  template <class T, class Emit>
  void select(const T&, int numChannels, Emit&& emit) {
    emit(next);
    if (++next == numChannels) next = 0;
  }
};

struct BroadcastSelector {
  template <class T, class Emit>
  void select(const T&, int numChannels, Emit&& emit) {
    for (int c = 0; c < numChannels; ++c) emit(c);
  }
};

template <class KeySelector>
struct KeyGroupSelector {
  KeySelector keySelector;
  int maxParallelism;
  template <class T, class Emit>
  void select(const T& value, int numChannels, Emit&& emit) {
    int keyGroup = keyGroupForHash(keyHash(keySelector(value)), maxParallelism);
    emit(operatorIndexForKeyGroup(maxParallelism, numChannels, keyGroup));
  }
};

template <class T>
class SimplePartitionerFactory final : public PartitionerFactory {
 public:
  explicit SimplePartitionerFactory(PartitionerKind kind) : kind_(kind) {}
  PartitionerKind kind() const override { return kind_; }
  std::unique_ptr<InputBase> createWriter(PartitionWriter& partition,
                                          const WriterContext& context) const override {
    switch (kind_) {
      case PartitionerKind::kForward:
        return std::make_unique<RecordWriter<T, FirstChannelSelector>>(partition,
                                                                       FirstChannelSelector{});
      case PartitionerKind::kRescale:
      case PartitionerKind::kRebalance: {
        // Start each producer at another channel so that small inputs still spread.
        int start =
            partition.numChannels() == 0 ? 0 : context.subtaskIndex % partition.numChannels();
        return std::make_unique<RecordWriter<T, RoundRobinSelector>>(partition,
                                                                     RoundRobinSelector{start});
      }
      case PartitionerKind::kBroadcast:
        return std::make_unique<RecordWriter<T, BroadcastSelector>>(partition, BroadcastSelector{});
      case PartitionerKind::kHash:
        break;  // keyed edges use KeyedPartitionerFactory
    }
    return nullptr;
  }

 private:
  PartitionerKind kind_;
};

template <class T, class KeySelector>
class KeyedPartitionerFactory final : public PartitionerFactory {
 public:
  explicit KeyedPartitionerFactory(KeySelector keySelector) : keySelector_(keySelector) {}
  PartitionerKind kind() const override { return PartitionerKind::kHash; }
  std::unique_ptr<InputBase> createWriter(PartitionWriter& partition,
                                          const WriterContext& context) const override {
    return std::make_unique<RecordWriter<T, KeyGroupSelector<KeySelector>>>(
        partition, KeyGroupSelector<KeySelector>{keySelector_, context.maxParallelism});
  }

 private:
  KeySelector keySelector_;
};

template <class T>
class RecordReader final : public RecordReaderBase {
 public:
  RecordReader(Input<T>& consumer, std::string consumerName, int numChannels, size_t maxRows)
      : consumer_(consumer),
        consumerName_(std::move(consumerName)),
        pending_(numChannels),
        maxRows_(maxRows == 0 ? 1 : maxRows) {
    batch_.reserve(maxRows_);
  }

  Status processBuffer(int channel, std::span<const std::byte> data) override {
    std::string& pending = pending_[channel];
    const std::byte* pos = data.data();
    const std::byte* end = pos + data.size();
    if (!pending.empty()) {
      // Complete the record that began in an earlier buffer of this channel.
      STROM_RETURN_IF_ERROR(completePending(channel, pending, pos, end));
      if (!pending.empty()) return Status::ok();  // still incomplete: all of data consumed
    }
    while (pos < end) {
      uint32_t length = 0;
      size_t prefix = 0;
      auto parse = decodeLength(pos, static_cast<size_t>(end - pos), length, prefix);
      if (parse == VarintParse::kCorrupt) return corrupt(channel, "bad record length");
      if (parse == VarintParse::kIncomplete || static_cast<size_t>(end - pos) < prefix + length) {
        pending.assign(reinterpret_cast<const char*>(pos), static_cast<size_t>(end - pos));
        return Status::ok();
      }
      STROM_RETURN_IF_ERROR(decodeBody(channel, pos + prefix, length));
      pos += prefix + length;
    }
    return Status::ok();
  }

  void flush() override {
    if (batch_.empty()) return;
    detail::callNamingOperator(consumerName_, [&] { consumer_.processBatch(batch_); });
    batch_.clear();
  }

  std::string_view pendingBytes(int channel) const override { return pending_[channel]; }

  Status endOfChannel(int channel) override {
    if (!pending_[channel].empty()) {
      return corrupt(channel, "input ended inside a record (" +
                                  std::to_string(pending_[channel].size()) + " bytes pending)");
    }
    return Status::ok();
  }

 private:
  Status completePending(int channel, std::string& pending, const std::byte*& pos,
                         const std::byte* end) {
    uint32_t length = 0;
    size_t prefix = 0;
    auto parse = decodeLength(reinterpret_cast<const std::byte*>(pending.data()), pending.size(),
                              length, prefix);
    while (parse == VarintParse::kIncomplete) {
      if (pos == end) return Status::ok();
      pending.push_back(static_cast<char>(*pos++));
      parse = decodeLength(reinterpret_cast<const std::byte*>(pending.data()), pending.size(),
                           length, prefix);
    }
    if (parse == VarintParse::kCorrupt) return corrupt(channel, "bad record length");
    size_t missing = prefix + length - pending.size();
    size_t take = std::min(missing, static_cast<size_t>(end - pos));
    pending.append(reinterpret_cast<const char*>(pos), take);
    pos += take;
    if (take < missing) return Status::ok();
    Status status =
        decodeBody(channel, reinterpret_cast<const std::byte*>(pending.data()) + prefix, length);
    pending.clear();
    return status;
  }

  Status decodeBody(int channel, const std::byte* body, uint32_t length) {
    uint8_t flags = static_cast<uint8_t>(body[0]);
    size_t offset = 1;
    int64_t timestamp = kNoTimestamp;
    if (flags > 1) return corrupt(channel, "bad record flags");
    if (flags == 1) {
      if (length < 9) return corrupt(channel, "record too short for its timestamp");
      std::memcpy(&timestamp, body + 1, 8);
      offset = 9;
    }
    DataInput in(std::string_view(reinterpret_cast<const char*>(body) + offset, length - offset),
                 &batch_.arena());
    T& value = batch_.emplaceDefault(timestamp);
    if (!deserializeValue(in, value) || in.remaining() != 0) {
      batch_.popBack();
      return corrupt(channel, "record does not decode as its type");
    }
    if (batch_.size() >= maxRows_) flush();
    return Status::ok();
  }

  Status corrupt(int channel, const std::string& what) const {
    return Status::corruption("input of '" + consumerName_ + "', channel " +
                              std::to_string(channel) + ": " + what);
  }

  Input<T>& consumer_;
  std::string consumerName_;
  std::vector<std::string> pending_;  // per channel: bytes of a record that spans buffers
  size_t maxRows_;
  RecordBatch<T> batch_;
};

}  // namespace detail

/// The typed operations on a record type that the runtime needs for an edge: readers and the
/// non-keyed writers. Created by the API for every stream; immutable, shareable.
class RecordTypeOps {
 public:
  virtual ~RecordTypeOps() = default;
  virtual std::type_index type() const = 0;
  virtual std::unique_ptr<RecordReaderBase> createReader(InputBase& consumer,
                                                         std::string consumerName, int numChannels,
                                                         size_t maxRows) const = 0;
  /// Return the factory of the writers of a non-keyed edge of kind `kind`.
  virtual std::shared_ptr<const PartitionerFactory> partitioner(PartitionerKind kind) const = 0;
};

template <class T>
class TypedRecordOps final : public RecordTypeOps {
 public:
  std::type_index type() const override { return typeid(T); }
  std::unique_ptr<RecordReaderBase> createReader(InputBase& consumer, std::string consumerName,
                                                 int numChannels, size_t maxRows) const override {
    return std::make_unique<detail::RecordReader<T>>(static_cast<Input<T>&>(consumer),
                                                     std::move(consumerName), numChannels, maxRows);
  }
  std::shared_ptr<const PartitionerFactory> partitioner(PartitionerKind kind) const override {
    return std::make_shared<detail::SimplePartitionerFactory<T>>(kind);
  }
};

}  // namespace strom
