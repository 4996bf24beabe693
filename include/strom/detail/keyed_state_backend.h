#pragma once

// The heap keyed-state backend of a keyed operator instance (DESIGN §6).

#include <strom/detail/flat_hash_map.h>
#include <strom/detail/heap_state.h>
#include <strom/detail/keyed_state_store.h>
#include <strom/key.h>
#include <strom/state.h>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

namespace strom {

/// The keyed state of one keyed operator instance: the registry of its states and the table
/// that maps each key to a dense key id, one table per key group of the instance's range.
/// Every state stores its values in a vector indexed by key id, so a record that touches
/// several states costs one hash lookup.
///
/// Per record, the operator sets the current key (HeapKeyedStateBackend::setCurrentKey, which
/// only stores the key and its precomputed hash and key group); the first state access then
/// resolves the key id with one virtual call into the typed key table, and the others reuse
/// it. Reads never create a key; the first write does.
///
/// Key ids are recycled eagerly: when a write, clear or expired read empties the last
/// non-empty state of the current key, the key is erased from its table and its id goes to a
/// free list. Keys whose values only expired (TTL) but were not read, and keys created by a
/// write whose user code threw, stay until compact(). So numKeys() counts the keys that hold
/// state, plus those.
///
/// Store mode (the RocksDB backend, attachStore()): the key tables and the states' vectors are
/// then a bounded cache over a KeyedStateStore. A key's state value is loaded from the store on
/// its first access (a read of an absent key creates its entry in the cache), writes mark it
/// dirty, and flushToStore() writes the dirty values back in one commit: before a snapshot, and
/// in evictCache(), which then drops every cached key. Between batches the operator calls
/// maybeEvictCache(), which evicts once more than maxCachedKeys keys are cached. So a key that
/// many records of a batch (or of many batches) touch costs one store read and one write per
/// write-back, whatever the number of records: Flink's mini-batch, on every keyed operator.
///
/// Thread contract: owned and used by its task's thread only.
class KeyedStateBackend {
 public:
  /// The key id of a current key without state (a read of an absent key).
  static constexpr uint32_t kNoKeyId = detail::kNoKeyId;

  virtual ~KeyedStateBackend() = default;
  KeyedStateBackend(const KeyedStateBackend&) = delete;
  KeyedStateBackend& operator=(const KeyedStateBackend&) = delete;

  const KeyGroupRange& keyGroupRange() const { return keyGroupRange_; }
  int maxParallelism() const { return maxParallelism_; }

  /// Set the time (epoch ms) against which TTL is checked and stamped. Call once per batch.
  void setCurrentTime(int64_t nowMillis) { nowMillis_ = nowMillis; }
  int64_t currentTime() const { return nowMillis_; }

  bool hasCurrentKey() const { return hasCurrentKey_; }
  /// Forget the current key: state access throws until a key is set again (for code that runs
  /// outside any key, such as the broadcast side of a keyed broadcast operator).
  void clearCurrentKey() {
    hasCurrentKey_ = false;
    cachedKeyId_ = kUnresolvedKeyId;
  }
  /// The key group and hash of the current key; meaningful only if hasCurrentKey().
  int currentKeyGroup() const { return currentKeyGroup_; }
  uint64_t currentKeyHash() const { return currentKeyHash_; }

  /// Return the id of the current key: the cached one, or one resolved through the key
  /// table. If the key has no state, create it when `create` (a write), else return kNoKeyId
  /// (a read, which must not insert). Throws std::logic_error, naming `stateName`, if there is
  /// no current key.
  uint32_t currentKeyId(bool create, std::string_view stateName = {}) {
    const uint32_t id = cachedKeyId_;
    if (id < kUnresolvedKeyId) [[likely]] {
      return id;
    }
    if (id == kNoKeyId && !create) return kNoKeyId;
    return resolveCurrentKeyId(create, stateName);
  }

  /// Return the number of keys in the key tables.
  size_t numKeys() const { return numKeys_; }
  /// Return the number of registered states.
  size_t numStates() const { return states_.size(); }
  /// Return registered state `index` (< numStates()), in registration order: for snapshots.
  const detail::StateBase& stateAt(size_t index) const { return *states_[index]; }
  /// Return the registered state named `name`, or nullptr: for restores.
  detail::StateBase* findRegisteredState(std::string_view name) const { return findState(name); }

  /// Drop expired TTL values of all keys (whatever their visibility), and erase the keys whose
  /// states are then all empty, recycling their ids. O(keys x states): call it at a cheap
  /// moment, such as after a checkpoint or from a periodic timer, not per record. In store mode
  /// this is evictCache() (the store's compaction filter drops expired values); it throws
  /// std::runtime_error if the write-back fails.
  virtual void compact() = 0;

  // ---- Store mode --------------------------------------------------------------------------

  /// Keep the values of this backend's states in `store` (not owned; must outlive the
  /// backend), caching at most about `maxCachedKeys` keys in memory between batches. Call
  /// before any state is registered. Every state's value types then need a TypeSerializer
  /// (registering one without throws std::logic_error naming it).
  void attachStore(KeyedStateStore& store, size_t maxCachedKeys) {
    assert(states_.empty() && numKeys_ == 0);
    store_ = &store;
    maxCachedKeys_ = maxCachedKeys;
  }
  /// Return the store of store mode, or nullptr (heap mode).
  KeyedStateStore* store() const { return store_; }
  /// Store mode: write every dirty value to the store and commit. IOError (or another store
  /// error) otherwise; then the cache is unchanged but the store may hold part of the writes.
  Status flushToStore() {
    if (store_ == nullptr) return Status::ok();
    bool anyDirty = false;
    for (const std::unique_ptr<detail::StateBase>& state : states_) {
      anyDirty = anyDirty || !state->dirtyKeyIds().empty();
    }
    if (!anyDirty) return Status::ok();
    wantedKeys_.assign(liveStates_.size(), 0);
    for (const std::unique_ptr<detail::StateBase>& state : states_) {
      for (const uint32_t id : state->dirtyKeyIds()) wantedKeys_[id] = 1;
    }
    if (keyBytesById_.size() < liveStates_.size()) keyBytesById_.resize(liveStates_.size());
    encodeKeys(wantedKeys_, keyBytesById_);
    for (const std::unique_ptr<detail::StateBase>& state : states_) {
      // In key order: RocksDB inserts a run of ascending keys into its memtable's skip list
      // from where the previous one went, instead of searching from the top each time.
      std::sort(state->dirtyIds_.begin(), state->dirtyIds_.end(),
                [&](uint32_t a, uint32_t b) { return keyBytesById_[a] < keyBytesById_[b]; });
      state->writeDirtyToStore(keyBytesById_, scratch_);
      state->dirtyIds_.clear();
    }
    return store_->commit();
  }
  /// Store mode: flushToStore(), then drop every cached key and value. State handles stay
  /// valid; pointers into values do not.
  Status evictCache() {
    if (store_ == nullptr) return Status::ok();
    STROM_RETURN_IF_ERROR(flushToStore());
    clearKeyTables();
    for (const std::unique_ptr<detail::StateBase>& state : states_) state->evictAll();
    liveStates_.clear();
    freeKeyIds_.clear();
    usedKeys_.clear();
    numKeys_ = 0;
    if (hasCurrentKey_) cachedKeyId_ = kUnresolvedKeyId;
    return Status::ok();
  }
  /// Store mode: once more than maxCachedKeys keys are cached, write back and drop the keys
  /// not used since the last eviction (a clock: a key used since then stays, and must be used
  /// again to survive the next one); if more than half the bound still remains, drop them all.
  /// Call between batches, when no pointer into a value is held.
  Status maybeEvictCache() {
    if (store_ == nullptr || numKeys_ <= maxCachedKeys_) return Status::ok();
    STROM_RETURN_IF_ERROR(flushToStore());
    evictUnusedKeys();
    if (numKeys_ > maxCachedKeys_ / 2) return evictCache();
    if (hasCurrentKey_) cachedKeyId_ = kUnresolvedKeyId;
    return Status::ok();
  }
  /// Return the current key encoded as a store key: keyGroup:u16be serializedKey (store mode;
  /// valid until the current key changes).
  std::string_view currentStoreKey() {
    if (!storeKeyValid_) {
      storeKey_.clear();
      encodeCurrentKey(storeKey_);
      storeKeyValid_ = true;
    }
    return storeKey_;
  }

  /// Return the value state of `descriptor`, registering it on first use. Throws
  /// std::logic_error if the name is registered with another kind, value type or TTL.
  template <class T>
  ValueState<T>& getState(const ValueStateDescriptor<T>& descriptor) {
    return registerState<ValueState<T>>(descriptor, detail::StateKind::kValue);
  }
  template <class T>
  ListState<T>& getListState(const ListStateDescriptor<T>& descriptor) {
    return registerState<ListState<T>>(descriptor, detail::StateKind::kList);
  }
  template <class UK, class UV>
  MapState<UK, UV>& getMapState(const MapStateDescriptor<UK, UV>& descriptor) {
    return registerState<MapState<UK, UV>>(descriptor, detail::StateKind::kMap);
  }
  template <class T>
  ReducingState<T>& getReducingState(const ReducingStateDescriptor<T>& descriptor) {
    return registerState<ReducingState<T>>(descriptor, detail::StateKind::kReducing);
  }
  template <class IN, class ACC, class OUT>
  AggregatingState<IN, OUT>& getAggregatingState(
      const AggregatingStateDescriptor<IN, ACC, OUT>& descriptor) {
    return registerState<detail::HeapAggregatingState<IN, ACC, OUT>>(
        descriptor, detail::StateKind::kAggregating);
  }

 protected:
  // Valid ids are below both markers.
  static constexpr uint32_t kUnresolvedKeyId = kNoKeyId - 1;

  KeyedStateBackend(KeyGroupRange range, int maxParallelism)
      : keyGroupRange_(range), maxParallelism_(maxParallelism) {
    assert(maxParallelism > 0);
    assert(range.size() == 0 || (range.startKeyGroup >= 0 && range.endKeyGroup < maxParallelism));
  }

  /// Look up the current key in its key table; if absent and `create`, insert it with the id
  /// of allocateKeyId(). Return its id, or kNoKeyId.
  virtual uint32_t lookupCurrentKey(bool create) = 0;
  /// Erase the current key from its key table.
  virtual void eraseCurrentKey() = 0;
  /// Store mode: append the current key's store key to `out`.
  virtual void encodeCurrentKey(std::string& out) const = 0;
  /// Store mode: set keyBytes[id] to the store key of every cached key whose id has
  /// wanted[id] != 0.
  virtual void encodeKeys(const std::vector<uint8_t>& wanted,
                          std::vector<std::string>& keyBytes) const = 0;
  /// Store mode: erase every key from the key tables.
  virtual void clearKeyTables() = 0;
  /// Store mode: erase the keys for which releaseIfUnused() returns true.
  virtual void evictUnusedKeys() = 0;

  /// Store mode: note that the key of `keyId` was used (it survives the next eviction).
  void noteUsed(uint32_t keyId) {
    if (keyId >= usedKeys_.size()) usedKeys_.resize(size_t{keyId} + 1, 0);
    usedKeys_[keyId] = 1;
  }
  /// Store mode, for evictUnusedKeys(): if `keyId` was not used since the last eviction, drop
  /// its (clean) values, free the id and return true; else clear its mark and return false.
  bool releaseIfUnused(uint32_t keyId) {
    if (keyId < usedKeys_.size() && usedKeys_[keyId] != 0) {
      usedKeys_[keyId] = 0;
      return false;
    }
    for (const std::unique_ptr<detail::StateBase>& state : states_) state->evictKey(keyId);
    freeKeyId(keyId);
    return true;
  }

  /// Make (hash, keyGroup) the current key's, for the typed setCurrentKey().
  void setCurrentKeyHash(uint64_t hash, int keyGroup) {
    currentKeyHash_ = hash;
    currentKeyGroup_ = keyGroup;
    hasCurrentKey_ = true;
    cachedKeyId_ = kUnresolvedKeyId;
    storeKeyValid_ = false;
  }
  /// Forget the cached key id (after the key tables changed behind it).
  void invalidateKeyId() { cachedKeyId_ = kUnresolvedKeyId; }
  /// Cache the current key's id (or kNoKeyId) found by the typed backend. In store mode an
  /// absent key stays unresolved: its first state access creates it and loads its value.
  void cacheKeyId(uint32_t keyId) {
    if (store_ != nullptr) [[unlikely]] {
      if (keyId == kNoKeyId) {
        cachedKeyId_ = kUnresolvedKeyId;
        return;
      }
      noteUsed(keyId);
    }
    cachedKeyId_ = keyId;
  }

  /// Return a free key id for a new key.
  uint32_t allocateKeyId() {
    uint32_t id;
    if (!freeKeyIds_.empty()) {
      id = freeKeyIds_.back();
      freeKeyIds_.pop_back();
    } else {
      assert(liveStates_.size() < kUnresolvedKeyId);
      id = static_cast<uint32_t>(liveStates_.size());
      liveStates_.push_back(0);
    }
    ++numKeys_;
    return id;
  }

  /// For compaction: drop the expired values of `keyId` in every state; if all its states are
  /// then empty, free the id and return true (the caller erases the key).
  bool releaseIfEmpty(uint32_t keyId) {
    for (const std::unique_ptr<detail::StateBase>& state : states_) {
      if (state->dropExpiredFor(keyId, nowMillis_)) --liveStates_[keyId];
    }
    if (liveStates_[keyId] != 0) return false;
    freeKeyId(keyId);
    return true;
  }

  uint64_t currentKeyHash_ = 0;
  int currentKeyGroup_ = -1;

 private:
  friend class detail::StateBase;

  // In store mode a key stays cached until eviction even when all its states are empty: its
  // removals must still be written back.
  void noteFilled(uint32_t keyId) {
    if (store_ == nullptr) ++liveStates_[keyId];
  }
  void noteEmptied(uint32_t keyId) {
    if (store_ != nullptr) return;
    assert(keyId == cachedKeyId_ && liveStates_[keyId] > 0);
    if (--liveStates_[keyId] == 0) {
      eraseCurrentKey();
      freeKeyId(keyId);
      cachedKeyId_ = kNoKeyId;
    }
  }

  void freeKeyId(uint32_t keyId) {
    freeKeyIds_.push_back(keyId);
    --numKeys_;
  }

  uint32_t resolveCurrentKeyId(bool create, std::string_view stateName) {
    if (!hasCurrentKey_) [[unlikely]] {
      throw std::logic_error(
          (stateName.empty() ? std::string("keyed state")
                             : "state '" + std::string(stateName) + "'") +
          ": accessed without a current key (keyed state is available only while a keyed "
          "record or timer is processed)");
    }
    cachedKeyId_ = lookupCurrentKey(create || store_ != nullptr);
    if (store_ != nullptr) noteUsed(cachedKeyId_);
    return cachedKeyId_;
  }

  detail::StateBase* findState(std::string_view name) const {
    for (const std::unique_ptr<detail::StateBase>& state : states_) {
      if (state->name() == name) return state.get();
    }
    return nullptr;
  }

  static void checkCompatible(const detail::StateBase& existing, detail::StateKind kind,
                              std::type_index type, const detail::TtlPolicy& ttl) {
    const std::string prefix = "state '" + existing.name() + "' is already registered as a " +
                               detail::stateKindName(existing.kind());
    if (existing.kind() != kind) {
      throw std::logic_error(prefix + "; it cannot also be a " + detail::stateKindName(kind));
    }
    if (existing.type() != type) throw std::logic_error(prefix + " of different value types");
    if (existing.ttlPolicy() != ttl) {
      throw std::logic_error(prefix + " with a different TTL configuration");
    }
  }

  template <class State, class Descriptor>
  State& registerState(const Descriptor& descriptor, detail::StateKind kind) {
    if (detail::StateBase* existing = findState(descriptor.name())) {
      checkCompatible(*existing, kind, typeid(State), detail::ttlPolicyOf(descriptor));
      return static_cast<State&>(*existing);
    }
    auto state = std::make_unique<State>(*this, descriptor);
    if (store_ != nullptr) attachToStore(*state);
    State& result = *state;
    states_.push_back(std::move(state));
    return result;
  }

  void attachToStore(detail::StateBase& state) {
    if (!state.isSerializable()) {
      throw std::logic_error("state '" + state.name() +
                             "': the RocksDB state backend needs a TypeSerializer for every "
                             "value type of a state");
    }
    StoredStateSpec spec;
    spec.name = state.name();
    spec.layout = state.kind() == detail::StateKind::kList  ? StoredStateSpec::Layout::kList
                  : state.kind() == detail::StateKind::kMap ? StoredStateSpec::Layout::kMap
                                                            : StoredStateSpec::Layout::kSingleValue;
    spec.ttlMillis = state.ttlPolicy().ttlMillis;
    Result<uint32_t> column = store_->openColumn(spec);
    if (!column.isOk()) {
      throw std::runtime_error("state '" + state.name() + "': " + column.status().toString());
    }
    state.store_ = store_;
    state.column_ = *column;
  }

  const KeyGroupRange keyGroupRange_;
  const int maxParallelism_;
  int64_t nowMillis_ = 0;
  bool hasCurrentKey_ = false;
  uint32_t cachedKeyId_ = kUnresolvedKeyId;
  size_t numKeys_ = 0;
  std::vector<uint32_t> liveStates_;  // by key id: the number of non-empty states
  std::vector<uint32_t> freeKeyIds_;
  std::vector<std::unique_ptr<detail::StateBase>> states_;
  // Store mode.
  KeyedStateStore* store_ = nullptr;
  size_t maxCachedKeys_ = 0;
  std::string storeKey_;  // the current key's store key, when storeKeyValid_
  bool storeKeyValid_ = false;
  std::vector<uint8_t> wantedKeys_;        // flushToStore: by key id, reused
  std::vector<std::string> keyBytesById_;  // flushToStore: by key id, reused
  std::vector<uint8_t> usedKeys_;          // by key id: used since the last eviction
  std::string scratch_;                    // flushToStore: values, reused
};

/// The heap backend for keys of type K: one detail::FlatHashMap<K, key id> per key group.
template <Keyable K>
class HeapKeyedStateBackend final : public KeyedStateBackend {
 public:
  /// A backend for the key groups `range` (of `maxParallelism`).
  HeapKeyedStateBackend(KeyGroupRange range, int maxParallelism)
      : KeyedStateBackend(range, maxParallelism), tables_(static_cast<size_t>(range.size())) {}

  /// Make `key`, whose hash (keyHash) is `hash` and key group `keyGroup`, the current key. The
  /// key is copied (into storage reused across calls), so it need not outlive the call.
  /// Requires: `keyGroup` is in keyGroupRange() and is the key group of `hash`.
  void setCurrentKey(const K& key, uint64_t hash, int keyGroup) {
    assert(keyGroupRange().contains(keyGroup));
    assert(keyGroupForHash(hash, maxParallelism()) == keyGroup);
    if constexpr (std::is_copy_assignable_v<K>) {
      if (currentKey_.has_value()) {
        *currentKey_ = key;
      } else {
        currentKey_.emplace(key);
      }
    } else {
      currentKey_.emplace(key);
    }
    setCurrentKeyHash(hash, keyGroup);
    // Look the key up here, where its type is known, so that state reads and updates of an
    // existing key cost no virtual call; only the first write of a new key goes through
    // lookupCurrentKey(create). A read never inserts.
    const uint32_t* keyId = currentTable().find(*currentKey_, currentKeyHash_);
    cacheKeyId(keyId != nullptr ? *keyId : kNoKeyId);
  }

  /// Make `key` the current key, hashing it (for timers, tests and cold paths).
  void setCurrentKey(const K& key) {
    const uint64_t hash = keyHash(key);
    setCurrentKey(key, hash, keyGroupForHash(hash, maxParallelism()));
  }

  /// Return the current key. Requires: hasCurrentKey().
  const K& currentKey() const {
    assert(currentKey_.has_value());
    return *currentKey_;
  }

  /// Call `fn(const K& key, uint32_t keyId)` for every key of `keyGroup` (in keyGroupRange()),
  /// in unspecified order. `fn` must not change the key tables: no state writes, no
  /// compact().
  template <class Fn>
  void forEachKey(int keyGroup, Fn&& fn) const {
    assert(keyGroupRange().contains(keyGroup));
    for (const auto& [key, keyId] : tables_[tableIndex(keyGroup)]) fn(key, keyId);
  }

  void compact() override {
    if (store() != nullptr) {
      Status status = evictCache();
      if (!status.isOk()) throw std::runtime_error("keyed state: " + status.toString());
      return;
    }
    for (detail::FlatHashMap<K, uint32_t>& table : tables_) {
      table.eraseIf([this](const K&, uint32_t& keyId) { return releaseIfEmpty(keyId); });
    }
    invalidateKeyId();
  }

 private:
  size_t tableIndex(int keyGroup) const {
    return static_cast<size_t>(keyGroup - keyGroupRange().startKeyGroup);
  }
  detail::FlatHashMap<K, uint32_t>& currentTable() { return tables_[tableIndex(currentKeyGroup_)]; }

  uint32_t lookupCurrentKey(bool create) override {
    detail::FlatHashMap<K, uint32_t>& table = currentTable();
    if (!create) {
      const uint32_t* keyId = table.find(*currentKey_, currentKeyHash_);
      return keyId != nullptr ? *keyId : kNoKeyId;
    }
    auto [keyId, inserted] = table.tryEmplace(*currentKey_, currentKeyHash_, kNoKeyId);
    if (inserted) *keyId = allocateKeyId();
    return *keyId;
  }

  void eraseCurrentKey() override {
    [[maybe_unused]] const bool erased = currentTable().erase(*currentKey_, currentKeyHash_);
    assert(erased);
  }

  static void encodeStoreKey(int keyGroup, const K& key, std::string& out) {
    if constexpr (Serializable<K>) {
      out.push_back(static_cast<char>((keyGroup >> 8) & 0xff));
      out.push_back(static_cast<char>(keyGroup & 0xff));
      DataOutput keyOut(out);
      TypeSerializer<K>::serialize(key, keyOut);
    } else {
      throw std::logic_error("the RocksDB state backend needs a TypeSerializer for the key type");
    }
  }

  void encodeCurrentKey(std::string& out) const override {
    encodeStoreKey(currentKeyGroup_, *currentKey_, out);
  }

  void encodeKeys(const std::vector<uint8_t>& wanted,
                  std::vector<std::string>& keyBytes) const override {
    for (size_t i = 0; i < tables_.size(); ++i) {
      const int keyGroup = keyGroupRange().startKeyGroup + static_cast<int>(i);
      for (const auto& [key, keyId] : tables_[i]) {
        if (keyId >= wanted.size() || wanted[keyId] == 0) continue;
        keyBytes[keyId].clear();
        encodeStoreKey(keyGroup, key, keyBytes[keyId]);
      }
    }
  }

  void clearKeyTables() override {
    for (detail::FlatHashMap<K, uint32_t>& table : tables_) table.clear();
  }

  void evictUnusedKeys() override {
    for (detail::FlatHashMap<K, uint32_t>& table : tables_) {
      table.eraseIf([this](const K&, uint32_t& keyId) { return releaseIfUnused(keyId); });
    }
  }

  std::vector<detail::FlatHashMap<K, uint32_t>> tables_;  // by key group - start
  std::optional<K> currentKey_;
};

// ---- detail::StateBase's calls into the backend -------------------------------------------

inline uint32_t detail::StateBase::keyId(bool create) {
  const uint32_t id = backend_.currentKeyId(create, name_);
  if (store_ != nullptr) [[unlikely]] {
    prepareStored(id);
  }
  return id;
}
inline int64_t detail::StateBase::now() const { return backend_.currentTime(); }
inline void detail::StateBase::noteFilled(uint32_t keyId) { backend_.noteFilled(keyId); }
inline void detail::StateBase::noteEmptied(uint32_t keyId) { backend_.noteEmptied(keyId); }
inline uint32_t detail::StateBase::keyIdForAppend() {
  const uint32_t id = backend_.currentKeyId(true, name_);
  if (id >= storeFlags_.size()) storeFlags_.resize(size_t{id} + 1, 0);
  return id;
}
inline std::string_view detail::StateBase::currentStoreKey() const {
  return backend_.currentStoreKey();
}

}  // namespace strom
