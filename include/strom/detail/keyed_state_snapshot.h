#pragma once

// Snapshots of heap keyed state and keyed timers, per key group, and their restore into a
// backend of any key-group range (rescaling; DESIGN §6). The layout, also in docs/formats.md
// ("Keyed state snapshots"); u32/u64/i32/i64 are little-endian, string and varint as in
// <strom/type_serializer.h>:
//
//   snapshot     := header meta metaChecksum:u64 index indexChecksum:u64 section{n}
//   header       := magic:byte{4}="SKGS" version:u32=2 maxParallelism:u32
//                   startKeyGroup:i32 endKeyGroup:i32 metaLength:u64 headerChecksum:u64
//                                         ; n = endKeyGroup - startKeyGroup + 1 (may be 0)
//   meta         := keySerializer:string varint(numStates) stateMeta{numStates}
//                   varint(numTimerQueues) timerMeta{numTimerQueues} stateStorage:u8
//                                         ; stateStorage from version 2 on: 0 = the states'
//                                         ; values are in this snapshot; 1 = they and the
//                                         ; timers are in the RocksDB files of the same
//                                         ; checkpoint (handles of kind "keyed-rocksdb"),
//                                         ; every stateBlock and timerBlock has count 0
//   stateMeta    := name:string kind:u8 varint(numSerializers) serializer:string{numSerializers}
//                   ttlEnabled:u8 ttlMillis:i64
//   timerMeta    := name:string namespaceSerializer:string
//   index        := (offset:u64 length:u64 checksum:u64){n}   ; key group start + i, offsets
//                                                              ; from the snapshot's first byte
//   section      := stateBlock{numStates} timerBlock{numTimerQueues}   ; in meta order
//   stateBlock   := varint(count) (key value){count}
//   value        := V [lastAccess:i64]                          ; Value, Reducing, Aggregating
//                 | varint(c) (T [lastAccess:i64]){c}           ; List, c >= 1
//                 | varint(c) (UK UV [lastAccess:i64]){c}       ; Map, c >= 1, keys distinct
//   timerBlock   := varint(count) (time:i64 key namespace){count}
//
// headerChecksum is XXH3-64 (hashBytes) of the 28 header bytes before it; metaChecksum,
// indexChecksum and each index entry's checksum are XXH3-64 of the meta, index and section
// bytes. lastAccess is present iff the state's ttlEnabled. A serializer is named by
// serializerIdentity<T>() (heap_state.h).

#include <strom/detail/heap_state.h>
#include <strom/detail/keyed_state_backend.h>
#include <strom/detail/timer_queue.h>
#include <strom/key.h>
#include <strom/operator.h>
#include <strom/state.h>
#include <strom/status.h>
#include <strom/type_serializer.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strom {

namespace detail {

inline constexpr char kKeyedSnapshotMagic[4] = {'S', 'K', 'G', 'S'};
inline constexpr uint32_t kKeyedSnapshotVersion = 2;  // reads 1 too
inline constexpr size_t kKeyedSnapshotHeaderSize = 36;
inline constexpr size_t kKeyedSnapshotChecksummedHeader = 28;
inline constexpr size_t kKeyedSnapshotIndexEntrySize = 24;

/// The type-erased face of one KeyedTimerQueue<K, N> for snapshots and restores.
class TimerQueueSnapshotAdapter {
 public:
  virtual ~TimerQueueSnapshotAdapter() = default;
  virtual bool isSerializable() const = 0;
  virtual std::string namespaceSerializer() const = 0;
  virtual size_t size() const = 0;
  /// Append every timer (time key namespace) to blocks[keyGroup - range start] and count it
  /// in counts[...]. Return the key group of a timer outside `range`, or -1.
  virtual int snapshot(const KeyGroupRange& range, int maxParallelism,
                       std::vector<std::string>& blocks, std::vector<uint64_t>& counts) const = 0;
  /// Decode one timer; return false if it does not decode. Set `timerKeyGroup` to its key's
  /// group. If `apply`, add it to the queue (the caller checked its key group beforehand with
  /// a pass where `apply` was false).
  virtual bool restoreTimer(DataInput& in, int maxParallelism, int keyGroup, bool apply,
                            int& timerKeyGroup) = 0;
  /// Store mode (KeyedTimerQueue::attachStore): keep the queue's timers in `store`.
  virtual Status attachStore(KeyedStateStore& store, const std::string& name) = 0;
  virtual bool inStore() const = 0;
  virtual void storeMayHoldTimers() = 0;
  virtual Status flushToStore() = 0;
};

template <class K, class N>
class TypedTimerQueueSnapshotAdapter final : public TimerQueueSnapshotAdapter {
 public:
  explicit TypedTimerQueueSnapshotAdapter(KeyedTimerQueue<K, N>& queue) : queue_(&queue) {}

  bool isSerializable() const override { return Serializable<N>; }
  std::string namespaceSerializer() const override { return serializerIdentity<N>(); }
  size_t size() const override { return queue_->size(); }

  int snapshot(const KeyGroupRange& range, int maxParallelism, std::vector<std::string>& blocks,
               std::vector<uint64_t>& counts) const override {
    int outside = -1;
    if (queue_->inStore()) return outside;  // its timers are in the store's files
    if constexpr (Serializable<N>) {
      queue_->forEachTimer([&](const K& key, const N& ns, int64_t time) {
        const int keyGroup = keyGroupForHash(keyHash(key), maxParallelism);
        if (!range.contains(keyGroup)) {
          outside = keyGroup;
          return;
        }
        const size_t index = static_cast<size_t>(keyGroup - range.startKeyGroup);
        DataOutput out(blocks[index]);
        out.writeFixed(time);
        TypeSerializer<K>::serialize(key, out);
        TypeSerializer<N>::serialize(ns, out);
        ++counts[index];
      });
    }
    return outside;
  }

  bool restoreTimer(DataInput& in, int maxParallelism, int keyGroup, bool apply,
                    int& timerKeyGroup) override {
    if constexpr (Serializable<N>) {
      int64_t time = 0;
      K key{};
      N ns{};
      if (!in.readFixed(time) || !TypeSerializer<K>::deserialize(in, key) ||
          !TypeSerializer<N>::deserialize(in, ns)) {
        return false;
      }
      const uint64_t hash = keyHash(key);
      timerKeyGroup = keyGroupForHash(hash, maxParallelism);
      if (apply && timerKeyGroup == keyGroup) queue_->add(key, hash, ns, time);
      return true;
    } else {
      return in.fail();
    }
  }

  Status attachStore(KeyedStateStore& store, const std::string& name) override {
    if constexpr (Serializable<K> && Serializable<N>) {
      StoredStateSpec spec;
      spec.name = std::string(kTimerColumnPrefix) + name;
      spec.layout = StoredStateSpec::Layout::kTimers;
      STROM_ASSIGN_OR_RETURN(uint32_t column, store.openColumn(spec));
      queue_->attachStore(store, column, store.maxCachedKeys(), name);
    }
    // Otherwise the queue stays on the heap, and a snapshot reports the missing serializer.
    return Status::ok();
  }
  bool inStore() const override { return queue_->inStore(); }
  void storeMayHoldTimers() override { queue_->storeMayHoldTimers(); }
  Status flushToStore() override { return queue_->flushToStore(); }

 private:
  KeyedTimerQueue<K, N>* queue_;  // not owned
};

struct SnapshotStateMeta {
  std::string name;
  StateKind kind = StateKind::kValue;
  std::vector<std::string> serializers;
  bool ttlEnabled = false;
  int64_t ttlMillis = 0;
};

struct SnapshotTimerMeta {
  std::string name;
  std::string namespaceSerializer;
};

struct SnapshotIndexEntry {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t checksum = 0;
};

/// The header, meta and index of a snapshot, checked against their checksums and bounds.
struct ParsedKeyedSnapshot {
  int maxParallelism = 0;
  KeyGroupRange range;
  std::string keySerializer;
  std::vector<SnapshotStateMeta> states;
  std::vector<SnapshotTimerMeta> timers;
  bool externalStateData = false;         // stateStorage 1: the values are in RocksDB files
  std::vector<SnapshotIndexEntry> index;  // by key group - range.startKeyGroup
};

inline uint64_t snapshotChecksum(std::string_view bytes) {
  return hashBytes(bytes.data(), bytes.size());
}

inline void patchFixed64(std::string& buffer, size_t position, uint64_t value) {
  std::memcpy(buffer.data() + position, &value, sizeof(value));
}

inline std::string hex(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text = "0x";
  for (int shift = 60; shift >= 0; shift -= 4) text.push_back(kDigits[(value >> shift) & 0xf]);
  return text;
}

inline std::string joinNames(const std::vector<std::string>& names) {
  std::string text = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i != 0) text += ", ";
    text += "'" + names[i] + "'";
  }
  return text + "]";
}

inline bool readString(DataInput& in, std::string& value) {
  return TypeSerializer<std::string>::deserialize(in, value);
}

/// Parse and check the header, meta and index of `bytes`. Errors do not name the snapshot (the
/// caller adds it).
inline Result<ParsedKeyedSnapshot> parseKeyedSnapshot(std::string_view bytes) {
  if (bytes.size() < kKeyedSnapshotHeaderSize) {
    return Status::corruption("truncated: " + std::to_string(bytes.size()) +
                              " bytes, fewer than the " + std::to_string(kKeyedSnapshotHeaderSize) +
                              "-byte header");
  }
  if (std::memcmp(bytes.data(), kKeyedSnapshotMagic, sizeof(kKeyedSnapshotMagic)) != 0) {
    return Status::corruption("not a keyed state snapshot (bad magic)");
  }
  DataInput header(bytes.substr(sizeof(kKeyedSnapshotMagic), kKeyedSnapshotHeaderSize));
  uint32_t version = 0;
  uint32_t maxParallelism = 0;
  int32_t start = 0;
  int32_t end = 0;
  uint64_t metaLength = 0;
  uint64_t headerChecksum = 0;
  if (!header.readFixed(version) || !header.readFixed(maxParallelism) || !header.readFixed(start) ||
      !header.readFixed(end) || !header.readFixed(metaLength) ||
      !header.readFixed(headerChecksum)) {
    return Status::internal("keyed state snapshot header does not decode");
  }
  const uint64_t computedHeader =
      snapshotChecksum(bytes.substr(0, kKeyedSnapshotChecksummedHeader));
  if (computedHeader != headerChecksum) {
    return Status::corruption("header checksum mismatch (stored " + hex(headerChecksum) +
                              ", computed " + hex(computedHeader) + ")");
  }
  if (version != kKeyedSnapshotVersion && version != 1) {
    return Status::invalidArgument("unsupported version " + std::to_string(version) +
                                   " (this build reads version " +
                                   std::to_string(kKeyedSnapshotVersion) + ")");
  }
  ParsedKeyedSnapshot parsed;
  parsed.range = KeyGroupRange{start, end};
  if (maxParallelism == 0 || maxParallelism > (1u << 20) ||
      (parsed.range.size() > 0 && (start < 0 || end >= static_cast<int64_t>(maxParallelism)))) {
    return Status::corruption("bad key group range [" + std::to_string(start) + ", " +
                              std::to_string(end) + "] of max parallelism " +
                              std::to_string(maxParallelism));
  }
  parsed.maxParallelism = static_cast<int>(maxParallelism);

  // Meta.
  size_t position = kKeyedSnapshotHeaderSize;
  if (metaLength > bytes.size() - position || bytes.size() - position - metaLength < 8) {
    return Status::corruption("truncated: the " + std::to_string(metaLength) +
                              "-byte state meta section and its checksum end beyond the " +
                              std::to_string(bytes.size()) + "-byte snapshot");
  }
  const std::string_view metaBytes = bytes.substr(position, metaLength);
  position += metaLength;
  uint64_t metaChecksum = 0;
  std::memcpy(&metaChecksum, bytes.data() + position, sizeof(metaChecksum));
  position += sizeof(metaChecksum);
  const uint64_t computedMeta = snapshotChecksum(metaBytes);
  if (computedMeta != metaChecksum) {
    return Status::corruption("state meta section checksum mismatch (stored " + hex(metaChecksum) +
                              ", computed " + hex(computedMeta) + ")");
  }
  DataInput meta(metaBytes);
  size_t numStates = 0;
  bool metaOk = readString(meta, parsed.keySerializer) && readCount(meta, 1, numStates);
  for (size_t i = 0; metaOk && i < numStates; ++i) {
    SnapshotStateMeta state;
    uint8_t kind = 0;
    size_t numSerializers = 0;
    metaOk = readString(meta, state.name) && meta.readFixed(kind) &&
             kind <= static_cast<uint8_t>(StateKind::kAggregating) &&
             readCount(meta, 1, numSerializers);
    state.kind = static_cast<StateKind>(kind);
    for (size_t s = 0; metaOk && s < numSerializers; ++s) {
      state.serializers.emplace_back();
      metaOk = readString(meta, state.serializers.back());
    }
    metaOk = metaOk && meta.readFixed(state.ttlEnabled) && meta.readFixed(state.ttlMillis);
    for (const SnapshotStateMeta& other : parsed.states) {
      if (metaOk && other.name == state.name) {
        return Status::corruption("state '" + state.name + "' appears twice in the state meta");
      }
    }
    parsed.states.push_back(std::move(state));
  }
  size_t numTimers = 0;
  metaOk = metaOk && readCount(meta, 1, numTimers);
  for (size_t i = 0; metaOk && i < numTimers; ++i) {
    SnapshotTimerMeta timer;
    metaOk = readString(meta, timer.name) && readString(meta, timer.namespaceSerializer);
    parsed.timers.push_back(std::move(timer));
  }
  if (metaOk && version >= 2) {
    uint8_t storage = 0;
    metaOk = meta.readFixed(storage) && storage <= 1;
    parsed.externalStateData = storage == 1;
  }
  if (!metaOk || meta.remaining() != 0) {
    return Status::corruption("the state meta section does not decode");
  }

  // Index.
  const size_t numKeyGroups = static_cast<size_t>(parsed.range.size());
  const size_t indexLength = numKeyGroups * kKeyedSnapshotIndexEntrySize;
  if (bytes.size() - position < indexLength + 8) {
    return Status::corruption("truncated: the key group index of " + std::to_string(numKeyGroups) +
                              " entries ends beyond the " + std::to_string(bytes.size()) +
                              "-byte snapshot");
  }
  const std::string_view indexBytes = bytes.substr(position, indexLength);
  position += indexLength;
  uint64_t indexChecksum = 0;
  std::memcpy(&indexChecksum, bytes.data() + position, sizeof(indexChecksum));
  position += sizeof(indexChecksum);
  const uint64_t computedIndex = snapshotChecksum(indexBytes);
  if (computedIndex != indexChecksum) {
    return Status::corruption("key group index checksum mismatch (stored " + hex(indexChecksum) +
                              ", computed " + hex(computedIndex) + ")");
  }
  DataInput index(indexBytes);
  parsed.index.resize(numKeyGroups);
  for (size_t i = 0; i < numKeyGroups; ++i) {
    SnapshotIndexEntry& entry = parsed.index[i];
    if (!index.readFixed(entry.offset) || !index.readFixed(entry.length) ||
        !index.readFixed(entry.checksum)) {
      return Status::internal("key group index does not decode");
    }
    const int keyGroup = parsed.range.startKeyGroup + static_cast<int>(i);
    if (entry.offset < position || entry.offset > bytes.size() ||
        entry.length > bytes.size() - entry.offset) {
      return Status::corruption("truncated: the section of key group " + std::to_string(keyGroup) +
                                " (bytes " + std::to_string(entry.offset) + " to " +
                                std::to_string(entry.offset + entry.length) + ") ends beyond the " +
                                std::to_string(bytes.size()) + "-byte snapshot");
    }
  }
  return parsed;
}

}  // namespace detail

/// Takes snapshots of a HeapKeyedStateBackend<K> and of the keyed timer queues of its
/// operator, one section per key group, and restores them into a backend of any key-group
/// range (docs/formats.md, "Keyed state snapshots"; docs/architecture.md §6).
///
///   KeyedStateSnapshotter<std::string> snapshotter(backend);
///   snapshotter.addTimerQueue("event", eventTimers);
///   STROM_ASSIGN_OR_RETURN(std::string bytes, snapshotter.snapshot());  // task thread
///   // ... write `bytes` out on any thread ...
///   // Restore, possibly at another parallelism: register every state first, then
///   STROM_RETURN_IF_ERROR(snapshotter.restore(inputs));
///
/// Keys, state values and timer namespaces are written with their TypeSerializers.
///
/// Thread contract: used on the task thread that owns the backend and the queues, which it
/// references (they must outlive it). snapshot() returns a self-contained buffer that any
/// thread may then write out.
template <Keyable K>
class KeyedStateSnapshotter {
 public:
  explicit KeyedStateSnapshotter(HeapKeyedStateBackend<K>& backend) : backend_(&backend) {}

  /// Include `queue` in snapshots and restores under `name`, unique per operator (such as
  /// "event-time" and "processing-time"). The queue must outlive the snapshotter. With a
  /// backend in store mode (RocksDB), the queue keeps its timers in the store too, in the
  /// column "_timer_state/<name>"; it must have been constructed with the backend's key-group
  /// range and hold no timer. Throws std::runtime_error if the store cannot open the column.
  template <class N>
  void addTimerQueue(std::string name, detail::KeyedTimerQueue<K, N>& queue) {
    auto adapter = std::make_unique<detail::TypedTimerQueueSnapshotAdapter<K, N>>(queue);
    if (backend_->store() != nullptr) {
      Status attached = adapter->attachStore(*backend_->store(), name);
      if (!attached.isOk()) {
        throw std::runtime_error("timer queue '" + name + "': " + attached.toString());
      }
    }
    timerNames_.push_back(std::move(name));
    timers_.push_back(std::move(adapter));
  }

  /// Store mode (RocksDB): write the timers held only in memory and the backend's cached
  /// changes to the store; call before snapshot() and before the store's checkpoint.
  Status flushToStore() {
    for (const auto& timers : timers_) STROM_RETURN_IF_ERROR(timers->flushToStore());
    return backend_->flushToStore();
  }

  /// Serialize every registered state (all keys, with TTL timestamps where TTL is enabled) and
  /// every timer of the added queues into one buffer, per key group of the backend's range.
  /// This is the synchronous part of a checkpoint: it runs on the task thread and copies
  /// nothing the caller must keep. Expired values that were not cleaned up are included, with
  /// their timestamps. Errors: InvalidArgument if a state value type or timer namespace has
  /// no TypeSerializer; Internal if a timer's key lies outside the backend's range.
  Result<std::string> snapshot() const {
    static_assert(Serializable<K>, "snapshots need a TypeSerializer for the key type");
    const HeapKeyedStateBackend<K>& backend = *backend_;
    for (size_t s = 0; s < backend.numStates(); ++s) {
      const detail::StateBase& state = backend.stateAt(s);
      if (!state.isSerializable()) {
        return Status::invalidArgument("keyed state snapshot: state '" + state.name() +
                                       "': a value type has no TypeSerializer");
      }
    }
    for (size_t t = 0; t < timers_.size(); ++t) {
      if (!timers_[t]->isSerializable()) {
        return Status::invalidArgument("keyed state snapshot: timer queue '" + timerNames_[t] +
                                       "': its namespace type has no TypeSerializer");
      }
    }
    const KeyGroupRange range = backend.keyGroupRange();
    const int maxParallelism = backend.maxParallelism();
    const size_t numKeyGroups = static_cast<size_t>(range.size());

    // Timers, bucketed by key group.
    std::vector<std::vector<std::string>> timerBlocks(timers_.size());
    std::vector<std::vector<uint64_t>> timerCounts(timers_.size());
    for (size_t t = 0; t < timers_.size(); ++t) {
      timerBlocks[t].resize(numKeyGroups);
      timerCounts[t].assign(numKeyGroups, 0);
      const int outside =
          timers_[t]->snapshot(range, maxParallelism, timerBlocks[t], timerCounts[t]);
      if (outside >= 0) {
        return Status::internal("keyed state snapshot: timer queue '" + timerNames_[t] +
                                "' holds a timer of key group " + std::to_string(outside) +
                                ", outside the backend's range");
      }
    }

    std::string buffer;
    DataOutput out(buffer);
    // Header, with metaLength and the checksum patched in below.
    out.write(detail::kKeyedSnapshotMagic, sizeof(detail::kKeyedSnapshotMagic));
    out.writeFixed(detail::kKeyedSnapshotVersion);
    out.writeFixed(static_cast<uint32_t>(maxParallelism));
    out.writeFixed(static_cast<int32_t>(range.startKeyGroup));
    out.writeFixed(static_cast<int32_t>(range.endKeyGroup));
    out.writeFixed(uint64_t{0});
    out.writeFixed(uint64_t{0});

    // Meta.
    const size_t metaStart = buffer.size();
    TypeSerializer<std::string>::serialize(detail::serializerIdentity<K>(), out);
    out.writeVarint(backend.numStates());
    for (size_t s = 0; s < backend.numStates(); ++s) {
      const detail::StateBase& state = backend.stateAt(s);
      TypeSerializer<std::string>::serialize(state.name(), out);
      out.writeFixed(static_cast<uint8_t>(state.kind()));
      const std::vector<std::string> serializers = state.serializerIdentities();
      out.writeVarint(serializers.size());
      for (const std::string& serializer : serializers) {
        TypeSerializer<std::string>::serialize(serializer, out);
      }
      out.writeFixed(state.ttlPolicy().enabled());
      out.writeFixed(state.ttlPolicy().ttlMillis);
    }
    out.writeVarint(timers_.size());
    for (size_t t = 0; t < timers_.size(); ++t) {
      TypeSerializer<std::string>::serialize(timerNames_[t], out);
      TypeSerializer<std::string>::serialize(timers_[t]->namespaceSerializer(), out);
    }
    // In store mode the values and timers are in the store's files, written back before this
    // call (flushToStore()).
    const bool external = backend.store() != nullptr;
    out.writeFixed(static_cast<uint8_t>(external ? 1 : 0));
    const size_t metaLength = buffer.size() - metaStart;
    out.writeFixed(
        detail::snapshotChecksum(std::string_view(buffer).substr(metaStart, metaLength)));
    detail::patchFixed64(buffer, 20, metaLength);
    detail::patchFixed64(buffer, 28,
                         detail::snapshotChecksum(std::string_view(buffer).substr(
                             0, detail::kKeyedSnapshotChecksummedHeader)));

    // Index placeholder, then the sections.
    const size_t indexStart = buffer.size();
    buffer.resize(indexStart + numKeyGroups * detail::kKeyedSnapshotIndexEntrySize + 8);
    std::vector<std::pair<const K*, uint32_t>> keys;  // of one key group
    for (size_t i = 0; i < numKeyGroups; ++i) {
      const int keyGroup = range.startKeyGroup + static_cast<int>(i);
      const size_t sectionStart = buffer.size();
      keys.clear();
      if (!external) {
        backend.forEachKey(keyGroup,
                           [&](const K& key, uint32_t keyId) { keys.emplace_back(&key, keyId); });
      }
      for (size_t s = 0; s < backend.numStates(); ++s) {
        const detail::StateBase& state = backend.stateAt(s);
        uint64_t count = 0;
        for (const auto& [key, keyId] : keys) count += state.isEmptyFor(keyId) ? 0 : 1;
        out.writeVarint(count);
        for (const auto& [key, keyId] : keys) {
          if (state.isEmptyFor(keyId)) continue;
          TypeSerializer<K>::serialize(*key, out);
          state.snapshotValue(keyId, out);
        }
      }
      for (size_t t = 0; t < timers_.size(); ++t) {
        out.writeVarint(timerCounts[t][i]);
        out.write(timerBlocks[t][i].data(), timerBlocks[t][i].size());
      }
      const size_t entry = indexStart + i * detail::kKeyedSnapshotIndexEntrySize;
      const size_t length = buffer.size() - sectionStart;
      detail::patchFixed64(buffer, entry, sectionStart);
      detail::patchFixed64(buffer, entry + 8, length);
      detail::patchFixed64(
          buffer, entry + 16,
          detail::snapshotChecksum(std::string_view(buffer).substr(sectionStart, length)));
    }
    const size_t indexLength = numKeyGroups * detail::kKeyedSnapshotIndexEntrySize;
    detail::patchFixed64(
        buffer, indexStart + indexLength,
        detail::snapshotChecksum(std::string_view(buffer).substr(indexStart, indexLength)));
    return buffer;
  }

  /// Restore the backend and the added timer queues from `inputs`, snapshots of subtasks of
  /// the same operator with any key-group ranges: take exactly the key groups of the
  /// backend's range, each of which must be in exactly one input. Only those sections are
  /// checksummed and decoded. Every state in an input must be registered in the backend
  /// first (same name, kind, serializers and TTL enablement; the TTL duration may change), and
  /// every timer queue added. All inputs are checked and decoded before anything is applied,
  /// so on error the backend and queues are unchanged.
  /// Errors, each naming the input and the state, queue or key group: FailedPrecondition if
  /// the backend has keys or a queue has timers; Corruption on a checksum mismatch, a
  /// truncated input or a section that does not decode; NotFound for a state or timer queue
  /// that is not registered; InvalidArgument for a serializer, kind, TTL or max parallelism
  /// mismatch, an unsupported version, or a key group in several inputs or in none.
  Status restore(std::span<const KeyedStateSnapshotInput> inputs) {
    static_assert(Serializable<K>, "snapshots need a TypeSerializer for the key type");
    HeapKeyedStateBackend<K>& backend = *backend_;
    if (backend.numKeys() != 0) {
      return Status::failedPrecondition("keyed state restore: the backend already holds " +
                                        std::to_string(backend.numKeys()) +
                                        " keys; restore into a new backend");
    }
    for (size_t t = 0; t < timers_.size(); ++t) {
      if (timers_[t]->size() != 0) {
        return Status::failedPrecondition("keyed state restore: timer queue '" + timerNames_[t] +
                                          "' is not empty");
      }
    }
    const KeyGroupRange range = backend.keyGroupRange();
    const size_t numKeyGroups = static_cast<size_t>(range.size());
    std::vector<Plan> plans;
    plans.reserve(inputs.size());
    std::vector<int> owner(numKeyGroups, -1);  // by key group - start: index into plans
    for (const KeyedStateSnapshotInput& input : inputs) {
      Result<Plan> plan = planInput(input);
      if (!plan.isOk())
        return plan.status().withContext("keyed state snapshot '" + input.name + "'");
      const KeyGroupRange& theirs = plan->parsed.range;
      for (int keyGroup = std::max(theirs.startKeyGroup, range.startKeyGroup);
           keyGroup <= std::min(theirs.endKeyGroup, range.endKeyGroup); ++keyGroup) {
        int& slot = owner[static_cast<size_t>(keyGroup - range.startKeyGroup)];
        if (slot >= 0) {
          return Status::invalidArgument(
              "keyed state restore: key group " + std::to_string(keyGroup) + " is in both '" +
              plans[static_cast<size_t>(slot)].input->name + "' and '" + input.name + "'");
        }
        slot = static_cast<int>(plans.size());
      }
      plans.push_back(std::move(plan).value());
    }
    for (size_t i = 0; i < numKeyGroups; ++i) {
      if (owner[i] < 0) {
        return Status::invalidArgument("keyed state restore: key group " +
                                       std::to_string(range.startKeyGroup + static_cast<int>(i)) +
                                       " of the backend's range [" +
                                       std::to_string(range.startKeyGroup) + ", " +
                                       std::to_string(range.endKeyGroup) + "] is in none of the " +
                                       std::to_string(inputs.size()) + " snapshots");
      }
    }
    // Check every section, then apply: nothing is changed unless all of them decode.
    for (const bool apply : {false, true}) {
      if (apply) {
        // Timers in RocksDB files the store was restored from: read back as they come due.
        for (const Plan& plan : plans) {
          if (!plan.parsed.externalStateData) continue;
          for (const auto& timers : timers_) {
            if (timers->inStore()) timers->storeMayHoldTimers();
          }
          break;
        }
      }
      for (size_t i = 0; i < numKeyGroups; ++i) {
        Plan& plan = plans[static_cast<size_t>(owner[i])];
        const int keyGroup = range.startKeyGroup + static_cast<int>(i);
        const detail::SnapshotIndexEntry& entry =
            plan.parsed.index[static_cast<size_t>(keyGroup - plan.parsed.range.startKeyGroup)];
        const std::string_view section = plan.input->bytes.substr(entry.offset, entry.length);
        if (!apply) {
          const uint64_t computed = detail::snapshotChecksum(section);
          if (computed != entry.checksum) {
            return Status::corruption(
                "keyed state snapshot '" + plan.input->name + "': key group " +
                std::to_string(keyGroup) + ": section checksum mismatch (stored " +
                detail::hex(entry.checksum) + ", computed " + detail::hex(computed) + ")");
          }
        }
        Status status = decodeSection(plan, keyGroup, section, apply);
        // Restoring values into a store: bound the cache as in processing.
        if (status.isOk() && apply) status = backend.maybeEvictCache();
        if (!status.isOk()) {
          backend.clearCurrentKey();
          return status.withContext("keyed state snapshot '" + plan.input->name + "'");
        }
      }
    }
    backend.clearCurrentKey();
    return Status::ok();
  }

 private:
  struct Plan {
    const KeyedStateSnapshotInput* input = nullptr;
    detail::ParsedKeyedSnapshot parsed;
    std::vector<detail::StateBase*> states;                  // by snapshot state index
    std::vector<detail::TimerQueueSnapshotAdapter*> timers;  // by snapshot timer index
  };

  // Parse `input` and match its meta to the registered states and timer queues.
  Result<Plan> planInput(const KeyedStateSnapshotInput& input) const {
    Plan plan;
    plan.input = &input;
    STROM_ASSIGN_OR_RETURN(plan.parsed, detail::parseKeyedSnapshot(input.bytes));
    const detail::ParsedKeyedSnapshot& parsed = plan.parsed;
    if (parsed.externalStateData && backend_->store() == nullptr) {
      return Status::invalidArgument(
          "the snapshot was taken with the RocksDB state backend and keeps its values in "
          "RocksDB files; restore it with state.backend.type: rocksdb");
    }
    if (parsed.maxParallelism != backend_->maxParallelism()) {
      return Status::invalidArgument(
          "max parallelism mismatch: the snapshot has " + std::to_string(parsed.maxParallelism) +
          " key groups, the backend " + std::to_string(backend_->maxParallelism()));
    }
    const std::string keySerializer = detail::serializerIdentity<K>();
    if (parsed.keySerializer != keySerializer) {
      return Status::invalidArgument("key serializer mismatch: the snapshot's is '" +
                                     parsed.keySerializer + "', the backend's is '" +
                                     keySerializer + "'");
    }
    for (const detail::SnapshotStateMeta& meta : parsed.states) {
      detail::StateBase* state = backend_->findRegisteredState(meta.name);
      const std::string prefix = "state '" + meta.name + "'";
      if (state == nullptr) {
        return Status::notFound(prefix + " (" + detail::stateKindName(meta.kind) +
                                ") is not registered in the restoring backend; register "
                                "every state before restoring");
      }
      if (state->kind() != meta.kind) {
        return Status::invalidArgument(
            prefix + ": the snapshot holds a " + detail::stateKindName(meta.kind) +
            ", the registered state is a " + detail::stateKindName(state->kind()));
      }
      const std::vector<std::string> serializers = state->serializerIdentities();
      if (serializers != meta.serializers) {
        return Status::invalidArgument(prefix + ": serializer mismatch: the snapshot's are " +
                                       detail::joinNames(meta.serializers) +
                                       ", the registered state's are " +
                                       detail::joinNames(serializers));
      }
      if (state->ttlPolicy().enabled() != meta.ttlEnabled) {
        return Status::invalidArgument(prefix + ": TTL mismatch: the snapshot was taken with TTL " +
                                       (meta.ttlEnabled ? "enabled" : "disabled") +
                                       ", the registered state has it " +
                                       (state->ttlPolicy().enabled() ? "enabled" : "disabled"));
      }
      plan.states.push_back(state);
    }
    for (const detail::SnapshotTimerMeta& meta : parsed.timers) {
      size_t t = 0;
      while (t < timers_.size() && timerNames_[t] != meta.name) ++t;
      if (t == timers_.size()) {
        return Status::notFound("timer queue '" + meta.name +
                                "' is not added to the restoring snapshotter");
      }
      const std::string ns = timers_[t]->namespaceSerializer();
      if (ns != meta.namespaceSerializer) {
        return Status::invalidArgument("timer queue '" + meta.name +
                                       "': namespace serializer mismatch: the snapshot's is '" +
                                       meta.namespaceSerializer + "', the queue's is '" + ns + "'");
      }
      plan.timers.push_back(timers_[t].get());
    }
    return plan;
  }

  // Decode the section of `keyGroup`; apply it to the backend and queues if `apply`.
  Status decodeSection(Plan& plan, int keyGroup, std::string_view section, bool apply) {
    HeapKeyedStateBackend<K>& backend = *backend_;
    const int maxParallelism = backend.maxParallelism();
    const std::string where = "key group " + std::to_string(keyGroup);
    DataInput in(section);
    K key{};  // reused across entries
    for (size_t s = 0; s < plan.states.size(); ++s) {
      detail::StateBase& state = *plan.states[s];
      const std::string& name = plan.parsed.states[s].name;
      size_t count = 0;
      if (!detail::readCount(in, 1, count)) {
        return Status::corruption(where + ": state '" + name +
                                  "': the entry count does not decode");
      }
      for (size_t e = 0; e < count; ++e) {
        if (!TypeSerializer<K>::deserialize(in, key)) {
          return Status::corruption(where + ": state '" + name + "': a key does not decode");
        }
        const uint64_t hash = keyHash(key);
        const int entryKeyGroup = keyGroupForHash(hash, maxParallelism);
        if (entryKeyGroup != keyGroup) {
          return Status::corruption(where + ": state '" + name + "' holds a key of key group " +
                                    std::to_string(entryKeyGroup));
        }
        if (apply) backend.setCurrentKey(key, hash, keyGroup);
        if (!state.restoreValue(in, apply)) {
          return Status::corruption(where + ": state '" + name +
                                    "': a value does not decode (truncated or corrupt)");
        }
      }
    }
    for (size_t t = 0; t < plan.timers.size(); ++t) {
      const std::string& name = plan.parsed.timers[t].name;
      size_t count = 0;
      if (!detail::readCount(in, sizeof(int64_t), count)) {
        return Status::corruption(where + ": timer queue '" + name +
                                  "': the timer count does not decode");
      }
      for (size_t e = 0; e < count; ++e) {
        int timerKeyGroup = -1;
        if (!plan.timers[t]->restoreTimer(in, maxParallelism, keyGroup, apply, timerKeyGroup)) {
          return Status::corruption(where + ": timer queue '" + name +
                                    "': a timer does not decode (truncated or corrupt)");
        }
        if (timerKeyGroup != keyGroup) {
          return Status::corruption(where + ": timer queue '" + name +
                                    "' holds a timer of key group " +
                                    std::to_string(timerKeyGroup));
        }
      }
    }
    if (in.remaining() != 0) {
      return Status::corruption(where + ": " + std::to_string(in.remaining()) +
                                " bytes left over after its states and timers");
    }
    return Status::ok();
  }

  HeapKeyedStateBackend<K>* backend_;  // not owned
  std::vector<std::string> timerNames_;
  std::vector<std::unique_ptr<detail::TimerQueueSnapshotAdapter>> timers_;
};

}  // namespace strom
