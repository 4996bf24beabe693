#pragma once

// Building blocks of the heap keyed state handles of <strom/state.h>: the non-template state
// base that the backend's registry holds, the per-key-id value storage shared by value,
// reducing and aggregating state, and the iteration views of map state.
//
// Storage model: the backend maps each key to a dense key id (KeyedStateBackend); every state
// keeps its values in a vector indexed by key id, so one key lookup per record serves all the
// states a record touches. A state with TTL keeps a last-access timestamp per value (per
// element of a list, per entry of a map) in epoch milliseconds.

#include <strom/detail/flat_hash_map.h>
#include <strom/detail/keyed_state_store.h>
#include <strom/key.h>
#include <strom/type_serializer.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

namespace strom {

class KeyedStateBackend;

namespace detail {

/// The key id of "no key": returned for a read of a key that has no state.
inline constexpr uint32_t kNoKeyId = std::numeric_limits<uint32_t>::max();

enum class StateKind { kValue, kList, kMap, kReducing, kAggregating };

/// Return the Flink name of `kind`, such as "ValueState".
inline const char* stateKindName(StateKind kind) {
  switch (kind) {
    case StateKind::kValue:
      return "ValueState";
    case StateKind::kList:
      return "ListState";
    case StateKind::kMap:
      return "MapState";
    case StateKind::kReducing:
      return "ReducingState";
    case StateKind::kAggregating:
      return "AggregatingState";
  }
  return "State";
}

/// The TTL rules of one state, flattened from StateTtlConfig for the access paths.
struct TtlPolicy {
  int64_t ttlMillis = 0;       // 0: no TTL
  bool updateOnRead = false;   // kOnReadAndWrite
  bool returnExpired = false;  // kReturnExpiredIfNotCleanedUp
  bool enabled() const { return ttlMillis > 0; }
  bool isExpired(int64_t lastAccess, int64_t nowMillis) const {
    return nowMillis - lastAccess >= ttlMillis;
  }
  bool operator==(const TtlPolicy&) const = default;
};

/// Return the identity of TypeSerializer<T> that snapshots record so that a restore detects an
/// incompatible serializer: TypeSerializer<T>::kIdentity when the specialization declares one
/// (a string, to be changed when its encoding changes), else the mangled name of T.
template <class T>
std::string serializerIdentity() {
  if constexpr (requires { TypeSerializer<T>::kIdentity; }) {
    return std::string(TypeSerializer<T>::kIdentity);
  } else {
    return typeid(T).name();
  }
}

/// The non-template face of a registered keyed state, owned by its KeyedStateBackend. The
/// handles of <strom/state.h> derive from it. Single-threaded, like its backend.
class StateBase {
 public:
  virtual ~StateBase() = default;
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;

  const std::string& name() const { return name_; }
  StateKind kind() const { return kind_; }
  /// The handle's C++ type, which encodes the value types.
  std::type_index type() const { return type_; }
  const TtlPolicy& ttlPolicy() const { return ttl_; }

  /// Return whether key id `keyId` holds no value in this state. Expired values that were not
  /// cleaned up count as values.
  virtual bool isEmptyFor(uint32_t keyId) const = 0;
  /// Drop the values of `keyId` that are expired at `nowMillis`, whatever the visibility.
  /// Return true if this emptied the state for `keyId`. Used by compaction, which does the
  /// backend's bookkeeping itself.
  virtual bool dropExpiredFor(uint32_t keyId, int64_t nowMillis) = 0;

  // ---- Snapshot support (include/strom/detail/keyed_state_snapshot.h) ----------------------

  /// Return whether every value type of the state has a TypeSerializer.
  virtual bool isSerializable() const = 0;
  /// Return the serializerIdentity() of each serialized value type, in encoding order.
  virtual std::vector<std::string> serializerIdentities() const = 0;
  /// Append the value of `keyId`, which must not be empty, with its TTL timestamps when TTL is
  /// enabled (layout: docs/formats.md, keyed state snapshots). Requires isSerializable().
  virtual void snapshotValue(uint32_t keyId, DataOutput& out) const = 0;
  /// Decode one value written by snapshotValue() (with TTL timestamps iff ttlPolicy() is
  /// enabled). If `apply`, make it the value of the backend's current key, creating the key,
  /// with the decoded timestamps; otherwise only check that it decodes. Return false on
  /// truncated or malformed input (then nothing was changed).
  virtual bool restoreValue(DataInput& in, bool apply) = 0;

  // ---- Store mode: the RocksDB backend (include/strom/detail/keyed_state_store.h) ----------
  // The state's values in memory are then a cache of the store's: a key id's value is loaded
  // from the store on its first access, writes mark it dirty, and the backend writes the dirty
  // values back (writeDirtyToStore) before a snapshot and before it evicts the cache.

  /// Return the store that holds this state's values, or nullptr in heap mode.
  KeyedStateStore* stateStore() const { return store_; }
  /// Return the key ids whose values changed since the last writeDirtyToStore().
  const std::vector<uint32_t>& dirtyKeyIds() const { return dirtyIds_; }
  /// Write the dirty values to the store, the key of id `i` being `keyBytes[i]` (the encoded
  /// key of keyed_state_store.h, without a user key), and mark them clean. `scratch` is reused.
  virtual void writeDirtyToStore(const std::vector<std::string>& keyBytes,
                                 std::string& scratch) = 0;
  /// Drop every cached value, which must be clean, releasing the memory.
  virtual void evictAll() = 0;
  /// Drop the cached value of `keyId`, which must be clean (the key leaves the cache).
  virtual void evictKey(uint32_t keyId) = 0;

 protected:
  static constexpr uint8_t kLoaded = 1;   // the key id's value was read from the store
  static constexpr uint8_t kDirty = 2;    // in dirtyIds_: differs from the store's
  static constexpr uint8_t kPending = 4;  // a list not loaded: appends to merge into the store

  StateBase(KeyedStateBackend& backend, std::string name, StateKind kind, std::type_index type,
            TtlPolicy ttl)
      : backend_(backend), name_(std::move(name)), kind_(kind), type_(type), ttl_(ttl) {}

  // The following four are defined in <strom/detail/keyed_state_backend.h>, after the backend.

  /// Return the current key's id, creating it if `create`; kNoKeyId if the key has no state
  /// and !create. Throws std::logic_error naming this state if there is no current key.
  uint32_t keyId(bool create);
  /// Return the backend's current time (epoch ms), set once per batch.
  int64_t now() const;
  /// Record that this state of the current key, `keyId`, went from empty to non-empty.
  void noteFilled(uint32_t keyId);
  /// Record that this state of the current key went from non-empty to empty. When all states
  /// of the key are empty, the backend erases the key and recycles its id.
  void noteEmptied(uint32_t keyId);

  bool isExpired(int64_t lastAccess) const { return ttl_.isExpired(lastAccess, now()); }

  /// Read the value of key id `keyId`, the current key, from the store into memory (store mode,
  /// on the key id's first access). Throws std::runtime_error naming the state if the store
  /// fails or holds a value that does not decode.
  virtual void loadFromStore(uint32_t keyId) = 0;
  /// Mark the value of `keyId` as changed (store mode; nothing in heap mode).
  void markDirty(uint32_t keyId) {
    if (store_ != nullptr) [[unlikely]] {
      uint8_t& flags = storeFlags_[keyId];
      if ((flags & kDirty) == 0) {
        flags |= kDirty;
        dirtyIds_.push_back(keyId);
      }
    }
  }
  /// Return the current key's id for an append that need not read the stored value (list
  /// state in store mode): creates the key, never loads.
  uint32_t keyIdForAppend();
  /// Return the store flags of `keyId` (store mode; the key id was resolved by keyId()).
  uint8_t& storeFlags(uint32_t keyId) { return storeFlags_[keyId]; }
  /// Forget the store flags of every key id (after an eviction).
  void resetStoreFlags() {
    storeFlags_.clear();
    dirtyIds_.clear();
  }
  /// Forget the store flags of `keyId` (after its eviction).
  void resetStoreFlags(uint32_t keyId) {
    if (keyId < storeFlags_.size()) storeFlags_[keyId] = 0;
  }
  /// Return the current key's encoded key (keyed_state_store.h; valid until the key changes).
  std::string_view currentStoreKey() const;
  uint32_t storeColumn() const { return column_; }
  /// Throw std::runtime_error for a store failure of this state.
  [[noreturn]] void throwStoreError(const Status& status) const {
    throw std::runtime_error("state '" + name_ + "': " + status.toString());
  }
  /// Throw std::runtime_error for a stored value of this state that does not decode.
  [[noreturn]] void throwCorruptStoredValue() const {
    throw std::runtime_error("state '" + name_ +
                             "': a value in the RocksDB store does not decode (corrupt, or "
                             "written with another serializer)");
  }

 private:
  friend class ::strom::KeyedStateBackend;

  // Make the value of `keyId` usable in store mode: size the flags, load on first access.
  void prepareStored(uint32_t keyId) {
    if (keyId >= storeFlags_.size()) storeFlags_.resize(size_t{keyId} + 1, 0);
    if ((storeFlags_[keyId] & kLoaded) == 0) {
      storeFlags_[keyId] |= kLoaded;
      loadFromStore(keyId);
    }
  }

  KeyedStateStore* store_ = nullptr;  // store mode: not owned
  uint32_t column_ = 0;
  std::vector<uint8_t> storeFlags_;  // by key id: kLoaded | kDirty | kPending
  std::vector<uint32_t> dirtyIds_;

  KeyedStateBackend& backend_;
  const std::string name_;
  const StateKind kind_;
  const std::type_index type_;
  const TtlPolicy ttl_;
};

/// One optional value of type V per key id: the storage of value, reducing and aggregating
/// state. Reading or overwriting the value of an existing key does not allocate.
template <class V>
class SingleValueState : public StateBase {
 public:
  bool isEmptyFor(uint32_t keyId) const final {
    return keyId >= values_.size() || !values_[keyId].has_value();
  }
  bool dropExpiredFor(uint32_t keyId, int64_t nowMillis) final {
    if (!ttlPolicy().enabled() || isEmptyFor(keyId) ||
        !ttlPolicy().isExpired(lastAccess_[keyId], nowMillis)) {
      return false;
    }
    values_[keyId].reset();
    return true;
  }

  bool isSerializable() const final { return Serializable<V>; }
  std::vector<std::string> serializerIdentities() const final { return {serializerIdentity<V>()}; }
  void snapshotValue(uint32_t keyId, DataOutput& out) const final {
    if constexpr (Serializable<V>) {
      TypeSerializer<V>::serialize(*values_[keyId], out);
      if (ttlPolicy().enabled()) out.writeFixed(lastAccess_[keyId]);
    }
  }
  bool restoreValue(DataInput& in, bool apply) final {
    if constexpr (Serializable<V>) {
      V value{};
      int64_t lastAccess = 0;
      if (!TypeSerializer<V>::deserialize(in, value)) return false;
      if (ttlPolicy().enabled() && !in.readFixed(lastAccess)) return false;
      if (!apply) return true;
      const uint32_t id = keyId(true);
      assign(id, std::move(value), lastAccess);
      markDirty(id);
      return true;
    } else {
      return in.fail();
    }
  }

  // Store value: V [lastAccess:i64], as snapshotValue writes it.
  void writeDirtyToStore(const std::vector<std::string>& keyBytes, std::string& scratch) final {
    for (const uint32_t id : dirtyKeyIds()) {
      storeFlags(id) &= static_cast<uint8_t>(~kDirty);
      if (!values_[id].has_value()) {
        stateStore()->remove(storeColumn(), keyBytes[id]);
        continue;
      }
      scratch.clear();
      DataOutput out(scratch);
      snapshotValue(id, out);
      stateStore()->put(storeColumn(), keyBytes[id], scratch);
    }
  }
  void evictAll() final {
    values_.clear();
    lastAccess_.clear();
    resetStoreFlags();
  }
  void evictKey(uint32_t id) final {
    if (id < values_.size()) values_[id].reset();
    resetStoreFlags(id);
  }

 protected:
  using StateBase::StateBase;

  /// Return the current key's value as a read sees it, or nullptr. Applies TTL: an expired
  /// value is cleared and absent (kNeverReturnExpired), or returned without refreshing its
  /// timestamp (kReturnExpiredIfNotCleanedUp); an unexpired one is refreshed on
  /// kOnReadAndWrite. Never creates the key.
  V* readValue() {
    const uint32_t id = keyId(false);
    if (id >= values_.size() || !values_[id].has_value()) return nullptr;
    if (ttlPolicy().enabled()) [[unlikely]] {
      if (isExpired(lastAccess_[id])) {
        if (ttlPolicy().returnExpired) return &*values_[id];
        values_[id].reset();
        markDirty(id);
        noteEmptied(id);
        return nullptr;
      }
      if (ttlPolicy().updateOnRead) {
        lastAccess_[id] = now();
        markDirty(id);
      }
    }
    return &*values_[id];
  }

  /// For a read-modify-write: return the current key's unexpired value, or nullptr if it has
  /// none (an expired value counts as none, whatever the visibility, as in Flink). Sets `id`.
  V* valueForUpdate(uint32_t& id) {
    id = keyId(false);
    if (id >= values_.size() || !values_[id].has_value()) return nullptr;
    if (ttlPolicy().enabled() && isExpired(lastAccess_[id])) [[unlikely]] {
      return nullptr;
    }
    return &*values_[id];
  }

  /// Refresh the timestamp of `id` after a write through valueForUpdate(), and mark it
  /// changed.
  void touch(uint32_t id) {
    if (ttlPolicy().enabled()) [[unlikely]] {
      lastAccess_[id] = now();
    }
    markDirty(id);
  }

  /// Set the current key's value, creating the key if needed.
  void store(V value) {
    const uint32_t id = keyId(true);
    if (id >= values_.size()) [[unlikely]] {
      grow(id);
    }
    std::optional<V>& slot = values_[id];
    const bool wasEmpty = !slot.has_value();
    slot = std::move(value);
    touch(id);
    if (wasEmpty) noteFilled(id);
  }

  /// Remove the current key's value.
  void clearValue() {
    const uint32_t id = keyId(false);
    if (id >= values_.size() || !values_[id].has_value()) return;
    values_[id].reset();
    markDirty(id);
    noteEmptied(id);
  }

 private:
  void loadFromStore(uint32_t id) final {
    if constexpr (Serializable<V>) {
      Result<bool> found = stateStore()->get(storeColumn(), currentStoreKey(), loadBuffer_);
      if (!found.isOk()) throwStoreError(found.status());
      if (!*found) return;
      DataInput in(loadBuffer_);
      V value{};
      int64_t lastAccess = 0;
      if (!TypeSerializer<V>::deserialize(in, value) ||
          (ttlPolicy().enabled() && !in.readFixed(lastAccess)) || in.remaining() != 0) {
        throwCorruptStoredValue();
      }
      assign(id, std::move(value), lastAccess);
    }
  }

  // Make `value` (last accessed at `lastAccess`) the value of `id`.
  void assign(uint32_t id, V value, int64_t lastAccess) {
    if (id >= values_.size()) grow(id);
    const bool wasEmpty = !values_[id].has_value();
    values_[id] = std::move(value);
    if (ttlPolicy().enabled()) lastAccess_[id] = lastAccess;
    if (wasEmpty) noteFilled(id);
  }

  void grow(uint32_t id) {
    values_.resize(size_t{id} + 1);
    if (ttlPolicy().enabled()) lastAccess_.resize(size_t{id} + 1);
  }

  std::vector<std::optional<V>> values_;  // by key id
  std::vector<int64_t> lastAccess_;       // by key id; used only with TTL
  std::string loadBuffer_;                // store mode: reused by loadFromStore
};

/// A map-state value with its last-access time (unused without TTL).
template <class V>
struct TimestampedValue {
  TimestampedValue(V initialValue, int64_t initialAccess)
      : value(std::move(initialValue)), lastAccess(initialAccess) {}
  V value;
  int64_t lastAccess;
};

template <class K>
concept HasKeyTraits = requires(const K& key) {
  { KeyTraits<K>::hash(key) } -> std::convertible_to<uint64_t>;
};

template <class K>
concept StdHashable = requires(const K& key) {
  { std::hash<K>{}(key) } -> std::convertible_to<size_t>;
};

/// A type usable as the user key of map state: hashable with KeyTraits or std::hash, and
/// equality comparable.
template <class K>
concept MapStateKey = (HasKeyTraits<K> || StdHashable<K>)&&std::equality_comparable<K>;

/// Return the hash of a map-state user key: KeyTraits when specialized, else std::hash mixed
/// with the murmur finalizer (std::hash of an integer is the identity).
template <MapStateKey K>
uint64_t mapKeyHash(const K& key) {
  if constexpr (HasKeyTraits<K>) {
    return KeyTraits<K>::hash(key);
  } else {
    return murmurMix(static_cast<uint64_t>(std::hash<K>{}(key)));
  }
}

enum class MapProjection { kEntries, kKeys, kValues };

/// A read-only view of the map of one key of a MapState: its entries as
/// std::pair<const UK&, const UV&>, its keys or its values, in unspecified order.
template <class UK, class UV, MapProjection kProjection>
class MapStateRange {
  using Map = FlatHashMap<UK, TimestampedValue<UV>>;

 public:
  class Iterator {
    using Inner = typename Map::const_iterator;

   public:
    using iterator_concept = std::forward_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using difference_type = std::ptrdiff_t;
    using reference = std::conditional_t<
        kProjection == MapProjection::kEntries, std::pair<const UK&, const UV&>,
        std::conditional_t<kProjection == MapProjection::kKeys, const UK&, const UV&>>;
    using value_type = std::conditional_t<kProjection == MapProjection::kEntries, reference,
                                          std::remove_cvref_t<reference>>;

    Iterator() = default;
    explicit Iterator(Inner inner) : inner_(inner) {}

    reference operator*() const {
      if constexpr (kProjection == MapProjection::kEntries) {
        return {inner_.key(), inner_.value().value};
      } else if constexpr (kProjection == MapProjection::kKeys) {
        return inner_.key();
      } else {
        return inner_.value().value;
      }
    }
    Iterator& operator++() {
      ++inner_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator previous = *this;
      ++inner_;
      return previous;
    }
    bool operator==(const Iterator& other) const { return inner_ == other.inner_; }

   private:
    Inner inner_;
  };

  explicit MapStateRange(const Map& map) : map_(&map) {}
  Iterator begin() const { return Iterator(map_->begin()); }
  Iterator end() const { return Iterator(map_->end()); }
  bool empty() const { return map_->empty(); }
  size_t size() const { return map_->size(); }

 private:
  const Map* map_;
};

}  // namespace detail
}  // namespace strom
