#pragma once

// Keyed state, in Flink's shape: descriptors name a state and its value types, the keyed
// backend of an operator instance hands out one handle per descriptor, and every handle reads
// and writes the value of the backend's CURRENT key (the key of the record or timer being
// processed).
//
//   class CountWords : public RichFlatMapFunction<std::string, std::pair<std::string, int64_t>> {
//     void open() override {
//       ValueStateDescriptor<int64_t> descriptor("count");
//       descriptor.enableTimeToLive(StateTtlConfig::newBuilder(std::chrono::hours(1)).build());
//       count_ = &getRuntimeContext().getState(descriptor);
//     }
//     void flatMap(const std::string& word, Collector<...>& out) override {
//       const int64_t* previous = count_->valuePtr();
//       int64_t next = (previous ? *previous : 0) + 1;
//       count_->update(next);
//       out.collect({word, next});
//     }
//     ValueState<int64_t>* count_ = nullptr;
//   };
//
// Handles are owned by the backend and stay valid for its lifetime; get them once, in open().
// Misuse (a name registered twice with different kinds, value types or TTL; access without a
// current key) throws std::logic_error naming the state. All access is on the task thread.
//
// Costs: the first state access of a record resolves the current key to a dense key id with
// one hash lookup (the key was hashed once, by the operator); the other states of that record
// reuse the id. Reading a value or overwriting an existing one does not allocate for trivially
// copyable values. ReducingState calls its reduce function through std::function, and
// AggregatingState is an interface over a type-erased aggregate function: one indirect call per
// add each.

#include <strom/detail/flat_hash_map.h>
#include <strom/detail/heap_state.h>
#include <strom/key.h>
#include <strom/type_serializer.h>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

namespace strom {

class KeyedStateBackend;

/// Time-to-live of keyed state (Flink's StateTtlConfig). Every value of a state with TTL
/// carries its last-access time (per element of a list state, per entry of a map state); a
/// value expires `ttl` after that time. Time is the backend's current time, which the operator
/// sets once per batch (processing time, epoch ms). Value type.
///
///   StateTtlConfig ttl = StateTtlConfig::newBuilder(std::chrono::minutes(10))
///                            .setUpdateType(StateTtlConfig::UpdateType::kOnReadAndWrite)
///                            .setStateVisibility(StateTtlConfig::StateVisibility::kNeverReturnExpired)
///                            .build();
///
/// Clean-up: an expired value is removed when a read finds it (kNeverReturnExpired), when it is
/// overwritten, and when the backend compacts (KeyedStateBackend::compact()). Under
/// kReturnExpiredIfNotCleanedUp a read returns an expired value without removing or refreshing
/// it (Flink's read removes it after returning it once), so it stays visible until compaction
/// or an overwrite. A read-modify-write (ReducingState, AggregatingState) always treats an
/// expired value as absent, as Flink does.
class StateTtlConfig {
 public:
  /// Which accesses refresh a value's last-access time.
  enum class UpdateType {
    kOnCreateAndWrite,  // writes only (the default)
    kOnReadAndWrite,    // reads of unexpired values too
  };
  /// Whether reads see expired values.
  enum class StateVisibility {
    kNeverReturnExpired,           // an expired value reads as absent (the default)
    kReturnExpiredIfNotCleanedUp,  // an expired value is returned until it is cleaned up
  };

  class Builder {
   public:
    explicit Builder(std::chrono::milliseconds ttl) : ttl_(ttl) {}
    Builder& setTtl(std::chrono::milliseconds ttl) {
      ttl_ = ttl;
      return *this;
    }
    Builder& setUpdateType(UpdateType updateType) {
      updateType_ = updateType;
      return *this;
    }
    Builder& updateTtlOnCreateAndWrite() { return setUpdateType(UpdateType::kOnCreateAndWrite); }
    Builder& updateTtlOnReadAndWrite() { return setUpdateType(UpdateType::kOnReadAndWrite); }
    Builder& setStateVisibility(StateVisibility visibility) {
      visibility_ = visibility;
      return *this;
    }
    Builder& neverReturnExpired() {
      return setStateVisibility(StateVisibility::kNeverReturnExpired);
    }
    Builder& returnExpiredIfNotCleanedUp() {
      return setStateVisibility(StateVisibility::kReturnExpiredIfNotCleanedUp);
    }
    /// Return the config. Throws std::invalid_argument unless the TTL is positive.
    StateTtlConfig build() const {
      if (ttl_.count() <= 0) {
        throw std::invalid_argument("StateTtlConfig: the TTL must be positive, got " +
                                    std::to_string(ttl_.count()) + " ms");
      }
      return StateTtlConfig(ttl_, updateType_, visibility_);
    }

   private:
    std::chrono::milliseconds ttl_;
    UpdateType updateType_ = UpdateType::kOnCreateAndWrite;
    StateVisibility visibility_ = StateVisibility::kNeverReturnExpired;
  };

  /// Start a config whose values live `ttl` after their last access.
  static Builder newBuilder(std::chrono::milliseconds ttl) { return Builder(ttl); }

  std::chrono::milliseconds ttl() const { return ttl_; }
  UpdateType updateType() const { return updateType_; }
  StateVisibility stateVisibility() const { return visibility_; }
  bool operator==(const StateTtlConfig&) const = default;

 private:
  StateTtlConfig(std::chrono::milliseconds ttl, UpdateType updateType, StateVisibility visibility)
      : ttl_(ttl), updateType_(updateType), visibility_(visibility) {}

  std::chrono::milliseconds ttl_;
  UpdateType updateType_;
  StateVisibility visibility_;
};

/// An incremental aggregation (Flink's AggregateFunction): values of IN are added to an
/// accumulator ACC, which yields a result OUT. Derive from it, or pass any copyable object
/// with these four methods where an aggregate function is taken. add() and merge() take their
/// accumulators by value and return the new one, so they may move from them.
template <class IN, class ACC, class OUT>
class AggregateFunction {
 public:
  using InputType = IN;
  using AccumulatorType = ACC;
  using OutputType = OUT;

  virtual ~AggregateFunction() = default;
  /// Return a new, empty accumulator.
  virtual ACC createAccumulator() = 0;
  /// Return `accumulator` with `value` added.
  virtual ACC add(const IN& value, ACC accumulator) = 0;
  /// Return the result of `accumulator`.
  virtual OUT getResult(const ACC& accumulator) = 0;
  /// Return the merge of two accumulators (used when windows merge).
  virtual ACC merge(ACC a, ACC b) = 0;
};

namespace detail {

template <class F, class IN, class ACC, class OUT>
concept AggregateFunctionLike = std::copy_constructible<F> &&
    requires(F& function, const IN& in, ACC acc, const ACC& constAcc) {
  { function.createAccumulator() } -> std::convertible_to<ACC>;
  { function.add(in, std::move(acc)) } -> std::convertible_to<ACC>;
  { function.getResult(constAcc) } -> std::convertible_to<OUT>;
  { function.merge(std::move(acc), std::move(acc)) } -> std::convertible_to<ACC>;
};

// Adapts an object with the AggregateFunction methods to the interface.
template <class IN, class ACC, class OUT, class F>
class AggregateFunctionAdapter final : public AggregateFunction<IN, ACC, OUT> {
 public:
  explicit AggregateFunctionAdapter(F function) : function_(std::move(function)) {}
  ACC createAccumulator() override { return function_.createAccumulator(); }
  ACC add(const IN& value, ACC accumulator) override {
    return function_.add(value, std::move(accumulator));
  }
  OUT getResult(const ACC& accumulator) override { return function_.getResult(accumulator); }
  ACC merge(ACC a, ACC b) override { return function_.merge(std::move(a), std::move(b)); }

 private:
  F function_;
};

}  // namespace detail

/// What every state descriptor has: the state's name, unique within its operator, and its
/// optional TTL. Value type.
class StateDescriptor {
 public:
  const std::string& name() const { return name_; }
  /// Give the state's values a time-to-live.
  void enableTimeToLive(const StateTtlConfig& ttlConfig) { ttlConfig_ = ttlConfig; }
  const std::optional<StateTtlConfig>& ttlConfig() const { return ttlConfig_; }

 protected:
  /// Throws std::invalid_argument if `name` is empty or starts with "_timer_state/" (the
  /// names of the timer queues' columns in RocksDB).
  explicit StateDescriptor(std::string name) : name_(std::move(name)) {
    if (name_.empty()) throw std::invalid_argument("state descriptor: the name must not be empty");
    if (name_.starts_with(kTimerColumnPrefix)) {
      throw std::invalid_argument("state descriptor '" + name_ + "': names that start with '" +
                                  std::string(kTimerColumnPrefix) + "' are reserved for timers");
    }
  }

 private:
  std::string name_;
  std::optional<StateTtlConfig> ttlConfig_;
};

/// Describes a ValueState<T>.
template <class T>
class ValueStateDescriptor : public StateDescriptor {
 public:
  using ValueType = T;
  explicit ValueStateDescriptor(std::string name) : StateDescriptor(std::move(name)) {}
};

/// Describes a ListState<T>.
template <class T>
class ListStateDescriptor : public StateDescriptor {
 public:
  using ElementType = T;
  explicit ListStateDescriptor(std::string name) : StateDescriptor(std::move(name)) {}
};

/// Describes a MapState<UK, UV>. UK must be hashable (KeyTraits, else std::hash) and equality
/// comparable.
template <class UK, class UV>
class MapStateDescriptor : public StateDescriptor {
 public:
  static_assert(detail::MapStateKey<UK>,
                "MapState keys need KeyTraits<UK> or std::hash<UK>, and operator==");
  using KeyType = UK;
  using ValueType = UV;
  explicit MapStateDescriptor(std::string name) : StateDescriptor(std::move(name)) {}
};

/// Describes a ReducingState<T>: `reduceFunction` is any callable T(const T&, const T&),
/// stored in a std::function (copied into each state; one indirect call per add).
template <class T>
class ReducingStateDescriptor : public StateDescriptor {
 public:
  using ValueType = T;
  using ReduceFunction = std::function<T(const T&, const T&)>;

  /// Throws std::invalid_argument if `reduceFunction` is an empty std::function.
  template <class F>
  requires std::is_invocable_r_v<T, F&, const T&, const T&> ReducingStateDescriptor(
      std::string name, F reduceFunction)
      : StateDescriptor(std::move(name)), reduceFunction_(std::move(reduceFunction)) {
    if (!reduceFunction_) {
      throw std::invalid_argument("state '" + this->name() + "': empty reduce function");
    }
  }

  const ReduceFunction& reduceFunction() const { return reduceFunction_; }

 private:
  ReduceFunction reduceFunction_;
};

/// Describes an AggregatingState<IN, OUT> with accumulator ACC. The aggregate function is a
/// copyable object: a class derived from AggregateFunction<IN, ACC, OUT>, or any type with
/// the same four methods. The descriptor keeps a copy, and every state it creates (one per
/// operator instance) gets its own copy, so the function may keep per-instance scratch data.
template <class IN, class ACC, class OUT>
class AggregatingStateDescriptor : public StateDescriptor {
 public:
  using Function = AggregateFunction<IN, ACC, OUT>;

  template <class F>
  requires detail::AggregateFunctionLike<F, IN, ACC, OUT> AggregatingStateDescriptor(
      std::string name, F aggregateFunction)
      : StateDescriptor(std::move(name)), factory_(makeFactory(std::move(aggregateFunction))) {}

  /// Return a new copy of the aggregate function.
  std::unique_ptr<Function> createFunction() const { return factory_(); }

 private:
  template <class F>
  static std::function<std::unique_ptr<Function>()> makeFactory(F function) {
    return [function = std::move(function)]() -> std::unique_ptr<Function> {
      if constexpr (std::is_base_of_v<Function, F>) {
        return std::make_unique<F>(function);
      } else {
        return std::make_unique<detail::AggregateFunctionAdapter<IN, ACC, OUT, F>>(function);
      }
    };
  }

  std::function<std::unique_ptr<Function>()> factory_;
};

namespace detail {
/// Return the TTL rules of `descriptor`.
inline TtlPolicy ttlPolicyOf(const StateDescriptor& descriptor) {
  if (!descriptor.ttlConfig()) return {};
  const StateTtlConfig& config = *descriptor.ttlConfig();
  return TtlPolicy{
      config.ttl().count(), config.updateType() == StateTtlConfig::UpdateType::kOnReadAndWrite,
      config.stateVisibility() == StateTtlConfig::StateVisibility::kReturnExpiredIfNotCleanedUp};
}
}  // namespace detail

// ---- State handles ------------------------------------------------------------------------
// Created by KeyedStateBackend::getState() and friends, which own them; user code holds
// references. Every method acts on the backend's current key and throws std::logic_error if
// there is none. Pointers and references returned by a handle stay valid until the next
// write to the same state (of any key).

/// A single value per key (Flink's ValueState).
template <class T>
class ValueState final : public detail::SingleValueState<T> {
 public:
  ValueState(KeyedStateBackend& backend, const ValueStateDescriptor<T>& descriptor)
      : detail::SingleValueState<T>(backend, descriptor.name(), detail::StateKind::kValue,
                                    typeid(ValueState), detail::ttlPolicyOf(descriptor)) {}

  /// Return a copy of the current key's value, or nullopt.
  std::optional<T> value() {
    const T* current = this->readValue();
    return current ? std::optional<T>(*current) : std::nullopt;
  }
  /// Return the current key's value, or nullptr: the read without a copy.
  const T* valuePtr() { return this->readValue(); }
  /// Return the current key's value for an update in place, or nullptr (absent or expired):
  /// the read-modify-write without a copy. With TTL the value is stamped as by update().
  T* valuePtrForUpdate() {
    uint32_t id = 0;
    T* value = this->valueForUpdate(id);
    if (value != nullptr) this->touch(id);
    return value;
  }
  /// Set the current key's value.
  void update(T value) { this->store(std::move(value)); }
  /// Remove the current key's value.
  void clear() { this->clearValue(); }
};

/// A list of values per key (Flink's ListState). With TTL, each element expires on its own.
template <class T>
class ListState final : public detail::StateBase {
 public:
  ListState(KeyedStateBackend& backend, const ListStateDescriptor<T>& descriptor)
      : detail::StateBase(backend, descriptor.name(), detail::StateKind::kList, typeid(ListState),
                          detail::ttlPolicyOf(descriptor)) {}

  /// Return the current key's elements in insertion order; empty if it has none. The
  /// reference is to the state's storage: valid until the next write to this state.
  const std::vector<T>& get() {
    const uint32_t id = keyId(false);
    if (id >= lists_.size() || lists_[id].empty()) return empty_;
    if (ttlPolicy().enabled()) [[unlikely]] {
      return readWithTtl(id);
    }
    return lists_[id];
  }

  /// Append `value` to the current key's list. With the RocksDB backend this does not read
  /// the stored list: the element is merged into it when the backend writes back.
  void add(T value) {
    const uint32_t id = appendKeyId();
    if (id >= lists_.size()) [[unlikely]] {
      grow(id);
    }
    std::vector<T>& list = lists_[id];
    const bool wasEmpty = list.empty();
    list.push_back(std::move(value));
    if (ttlPolicy().enabled()) [[unlikely]] {
      lastAccess_[id].push_back(now());
    }
    markDirty(id);
    if (wasEmpty) noteFilled(id);
  }

  /// Append all of `values` to the current key's list.
  void addAll(std::vector<T> values) {
    if (values.empty()) return;
    const uint32_t id = appendKeyId();
    if (id >= lists_.size()) [[unlikely]] {
      grow(id);
    }
    std::vector<T>& list = lists_[id];
    const bool wasEmpty = list.empty();
    const size_t count = values.size();
    if (wasEmpty) {
      list = std::move(values);
    } else {
      list.insert(list.end(), std::make_move_iterator(values.begin()),
                  std::make_move_iterator(values.end()));
    }
    if (ttlPolicy().enabled()) [[unlikely]] {
      lastAccess_[id].insert(lastAccess_[id].end(), count, now());
    }
    markDirty(id);
    if (wasEmpty) noteFilled(id);
  }

  /// Replace the current key's list with `values` (an empty one clears it).
  void update(std::vector<T> values) {
    if (values.empty()) {
      clear();
      return;
    }
    const uint32_t id = keyId(true);
    if (id >= lists_.size()) [[unlikely]] {
      grow(id);
    }
    const bool wasEmpty = lists_[id].empty();
    const size_t count = values.size();
    lists_[id] = std::move(values);
    if (ttlPolicy().enabled()) [[unlikely]] {
      lastAccess_[id].assign(count, now());
    }
    markDirty(id);
    if (wasEmpty) noteFilled(id);
  }

  /// Remove the current key's list, releasing its memory.
  void clear() {
    const uint32_t id = keyId(false);
    if (id >= lists_.size() || lists_[id].empty()) return;
    release(id);
    markDirty(id);
    noteEmptied(id);
  }

 private:
  bool isEmptyFor(uint32_t keyId) const override {
    return keyId >= lists_.size() || lists_[keyId].empty();
  }

  bool isSerializable() const override { return Serializable<T>; }
  std::vector<std::string> serializerIdentities() const override {
    return {detail::serializerIdentity<T>()};
  }
  // varint(count) (T [lastAccess:i64le]){count}, count >= 1
  void snapshotValue(uint32_t keyId, DataOutput& out) const override {
    if constexpr (Serializable<T>) {
      const std::vector<T>& list = lists_[keyId];
      out.writeVarint(list.size());
      for (size_t i = 0; i < list.size(); ++i) {
        TypeSerializer<T>::serialize(list[i], out);
        if (ttlPolicy().enabled()) out.writeFixed(lastAccess_[keyId][i]);
      }
    }
  }
  bool restoreValue(DataInput& in, bool apply) override {
    if constexpr (Serializable<T>) {
      const size_t minElementSize = std::max<size_t>(
          1, detail::minSerializedSize<T>() + (ttlPolicy().enabled() ? sizeof(int64_t) : 0));
      size_t count = 0;
      if (!detail::readCount(in, minElementSize, count) || count == 0) return in.fail();
      std::vector<T> values;
      values.reserve(count);
      std::vector<int64_t> stamps(ttlPolicy().enabled() ? count : 0);
      for (size_t i = 0; i < count; ++i) {
        T element{};  // not values[i]: std::vector<bool> has no bool&
        if (!TypeSerializer<T>::deserialize(in, element)) return false;
        values.push_back(std::move(element));
        if (ttlPolicy().enabled() && !in.readFixed(stamps[i])) return false;
      }
      if (!apply) return true;
      const uint32_t id = keyId(true);
      if (id >= lists_.size()) grow(id);
      const bool wasEmpty = lists_[id].empty();
      lists_[id] = std::move(values);
      if (ttlPolicy().enabled()) lastAccess_[id] = std::move(stamps);
      markDirty(id);
      if (wasEmpty) noteFilled(id);
      return true;
    } else {
      return in.fail();
    }
  }

  // ---- Store mode. The stored list is the concatenation of its elements' records,
  // varint(n) element{n} with element := T [lastAccess:i64] (keyed_state_store.h).

  // The key id for add(): in store mode the list is not loaded; its elements so far are then
  // pending appends (kPending) that loadFromStore() puts after the stored ones.
  uint32_t appendKeyId() {
    if (stateStore() == nullptr) [[likely]] {
      return keyId(true);
    }
    const uint32_t id = keyIdForAppend();
    if ((storeFlags(id) & kLoaded) == 0) storeFlags(id) |= kPending;
    return id;
  }

  void loadFromStore(uint32_t id) override {
    if constexpr (Serializable<T>) {
      Result<bool> found = stateStore()->get(storeColumn(), currentStoreKey(), buffer_);
      if (!found.isOk()) throwStoreError(found.status());
      storeFlags(id) &= static_cast<uint8_t>(~kPending);
      if (!*found) return;
      std::vector<T> values;
      std::vector<int64_t> stamps;
      DataInput in(buffer_);
      while (in.remaining() != 0) {
        uint64_t length = 0;
        std::string_view record;
        T element{};
        int64_t lastAccess = 0;
        if (!in.readVarint(length) || length > in.remaining() || !in.readView(length, record)) {
          throwCorruptStoredValue();
        }
        DataInput elementIn(record);
        if (!TypeSerializer<T>::deserialize(elementIn, element) ||
            (ttlPolicy().enabled() && !elementIn.readFixed(lastAccess)) ||
            elementIn.remaining() != 0) {
          throwCorruptStoredValue();
        }
        values.push_back(std::move(element));
        if (ttlPolicy().enabled()) stamps.push_back(lastAccess);
      }
      if (values.empty()) return;
      if (id >= lists_.size()) grow(id);
      std::vector<T>& list = lists_[id];
      const bool wasEmpty = list.empty();
      // Pending appends (if any) come after the stored elements.
      values.insert(values.end(), std::make_move_iterator(list.begin()),
                    std::make_move_iterator(list.end()));
      list = std::move(values);
      if (ttlPolicy().enabled()) {
        stamps.insert(stamps.end(), lastAccess_[id].begin(), lastAccess_[id].end());
        lastAccess_[id] = std::move(stamps);
      }
      if (wasEmpty) noteFilled(id);
    }
  }

  void writeDirtyToStore(const std::vector<std::string>& keyBytes, std::string& scratch) override {
    if constexpr (Serializable<T>) {
      for (const uint32_t id : dirtyKeyIds()) {
        uint8_t& flags = storeFlags(id);
        const bool pending = (flags & kPending) != 0;
        flags &= static_cast<uint8_t>(~(kDirty | kPending));
        const std::vector<T>& list = lists_[id];
        if (list.empty()) {
          if (!pending) stateStore()->remove(storeColumn(), keyBytes[id]);
          continue;
        }
        scratch.clear();
        DataOutput out(scratch);
        for (size_t i = 0; i < list.size(); ++i) {
          element_.clear();
          DataOutput elementOut(element_);
          TypeSerializer<T>::serialize(list[i], elementOut);
          if (ttlPolicy().enabled()) elementOut.writeFixed(lastAccess_[id][i]);
          out.writeVarint(element_.size());
          out.write(element_.data(), element_.size());
        }
        if (pending) {
          // Appends to a list that was never read: merge them, and forget them here (the
          // next access loads the whole list).
          stateStore()->merge(storeColumn(), keyBytes[id], scratch);
          release(id);
          flags &= static_cast<uint8_t>(~kLoaded);
        } else {
          stateStore()->put(storeColumn(), keyBytes[id], scratch);
        }
      }
    }
  }

  void evictAll() override {
    lists_.clear();
    lastAccess_.clear();
    resetStoreFlags();
  }
  void evictKey(uint32_t id) override {
    if (id < lists_.size()) release(id);
    resetStoreFlags(id);
  }

  bool dropExpiredFor(uint32_t keyId, int64_t nowMillis) override {
    if (!ttlPolicy().enabled() || isEmptyFor(keyId)) return false;
    removeExpired(keyId, nowMillis);
    if (!lists_[keyId].empty()) return false;
    release(keyId);
    return true;
  }

  const std::vector<T>& readWithTtl(uint32_t id) {
    const int64_t nowMillis = now();
    if (!ttlPolicy().returnExpired) {
      const size_t before = lists_[id].size();
      removeExpired(id, nowMillis);
      if (lists_[id].size() != before) markDirty(id);
      if (lists_[id].empty()) {
        release(id);
        noteEmptied(id);
        return empty_;
      }
    }
    if (ttlPolicy().updateOnRead) {
      for (int64_t& lastAccess : lastAccess_[id]) {
        if (!ttlPolicy().isExpired(lastAccess, nowMillis)) lastAccess = nowMillis;
      }
      markDirty(id);
    }
    return lists_[id];
  }

  // Remove the expired elements of `id`, keeping the order of the others.
  void removeExpired(uint32_t id, int64_t nowMillis) {
    std::vector<T>& list = lists_[id];
    std::vector<int64_t>& stamps = lastAccess_[id];
    size_t kept = 0;
    for (size_t i = 0; i < list.size(); ++i) {
      if (ttlPolicy().isExpired(stamps[i], nowMillis)) continue;
      if (kept != i) {
        list[kept] = std::move(list[i]);
        stamps[kept] = stamps[i];
      }
      ++kept;
    }
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(kept), list.end());
    stamps.resize(kept);
  }

  void release(uint32_t id) {
    std::vector<T>().swap(lists_[id]);
    if (ttlPolicy().enabled()) std::vector<int64_t>().swap(lastAccess_[id]);
  }

  void grow(uint32_t id) {
    lists_.resize(size_t{id} + 1);
    if (ttlPolicy().enabled()) lastAccess_.resize(size_t{id} + 1);
  }

  std::vector<std::vector<T>> lists_;             // by key id
  std::vector<std::vector<int64_t>> lastAccess_;  // by key id, per element; only with TTL
  const std::vector<T> empty_;
  std::string buffer_;   // store mode: reused by loadFromStore
  std::string element_;  // store mode: one element's record, reused
};

/// A map from user keys UK to values UV per key (Flink's MapState), stored as a flat hash map
/// per key. With TTL, each entry expires on its own.
template <class UK, class UV>
class MapState final : public detail::StateBase {
  using Entry = detail::TimestampedValue<UV>;
  using Map = detail::FlatHashMap<UK, Entry>;

 public:
  /// Views of the current key's map: valid until the next write to this state.
  using EntryRange = detail::MapStateRange<UK, UV, detail::MapProjection::kEntries>;
  using KeyRange = detail::MapStateRange<UK, UV, detail::MapProjection::kKeys>;
  using ValueRange = detail::MapStateRange<UK, UV, detail::MapProjection::kValues>;

  MapState(KeyedStateBackend& backend, const MapStateDescriptor<UK, UV>& descriptor)
      : detail::StateBase(backend, descriptor.name(), detail::StateKind::kMap, typeid(MapState),
                          detail::ttlPolicyOf(descriptor)) {}

  /// Return a copy of the value of `key` in the current key's map, or nullopt.
  std::optional<UV> get(const UK& key) {
    const UV* value = getPtr(key);
    return value ? std::optional<UV>(*value) : std::nullopt;
  }

  /// Return the value of `key` in the current key's map, or nullptr: the read without a copy.
  const UV* getPtr(const UK& key) {
    const uint32_t id = keyId(false);
    if (id >= maps_.size() || maps_[id].empty()) return nullptr;
    Map& map = maps_[id];
    const uint64_t hash = detail::mapKeyHash(key);
    Entry* entry = map.find(key, hash);
    if (entry == nullptr) return nullptr;
    if (ttlPolicy().enabled()) [[unlikely]] {
      if (isExpired(entry->lastAccess)) {
        if (ttlPolicy().returnExpired) return &entry->value;
        touched(id, key);
        map.erase(key, hash);
        if (map.empty()) emptied(id);
        return nullptr;
      }
      if (ttlPolicy().updateOnRead) {
        entry->lastAccess = now();
        touched(id, key);
      }
    }
    return &entry->value;
  }

  /// Return the value of `key` in the current key's map for an update in place, or nullptr:
  /// the read-modify-write without a copy. An expired entry counts as absent (and is
  /// removed); with TTL the entry's last-access time is stamped as by put().
  UV* getPtrForUpdate(const UK& key) {
    const uint32_t id = keyId(false);
    if (id >= maps_.size() || maps_[id].empty()) return nullptr;
    Map& map = maps_[id];
    const uint64_t hash = detail::mapKeyHash(key);
    Entry* entry = map.find(key, hash);
    if (entry == nullptr) return nullptr;
    touched(id, key);
    if (ttlPolicy().enabled()) [[unlikely]] {
      if (isExpired(entry->lastAccess)) {
        map.erase(key, hash);
        if (map.empty()) emptied(id);
        return nullptr;
      }
      entry->lastAccess = now();
    }
    return &entry->value;
  }

  /// Set the value of `key` in the current key's map.
  void put(UK key, UV value) {
    const uint32_t id = keyId(true);
    if (id >= maps_.size()) [[unlikely]] {
      maps_.resize(size_t{id} + 1);
    }
    Map& map = maps_[id];
    const bool wasEmpty = map.empty();
    touched(id, key);
    const uint64_t hash = detail::mapKeyHash(key);
    const int64_t stamp = ttlPolicy().enabled() ? now() : 0;
    auto [entry, inserted] = map.tryEmplace(std::move(key), hash, std::move(value), stamp);
    if (!inserted) {
      // tryEmplace consumes its arguments only when it inserts.
      entry->value = std::move(value);  // NOLINT(bugprone-use-after-move)
      entry->lastAccess = stamp;
    }
    if (wasEmpty) noteFilled(id);
  }

  /// Put every (key, value) pair of `entries` (any range of pairs, such as a std::map).
  template <class Range>
  void putAll(const Range& entries) {
    for (const auto& [key, value] : entries) put(key, value);
  }

  /// Remove `key` from the current key's map.
  void remove(const UK& key) {
    const uint32_t id = keyId(false);
    if (id >= maps_.size() || maps_[id].empty()) return;
    if (!maps_[id].erase(key, detail::mapKeyHash(key))) return;
    touched(id, key);
    if (maps_[id].empty()) emptied(id);
  }

  /// Return whether the current key's map has `key` (a read, for TTL).
  bool contains(const UK& key) { return getPtr(key) != nullptr; }

  /// Return whether the current key's map has no (visible) entries.
  bool isEmpty() { return visibleMap().empty(); }

  /// Iterate over the current key's entries as std::pair<const UK&, const UV&>.
  EntryRange entries() { return EntryRange(visibleMap()); }
  KeyRange keys() { return KeyRange(visibleMap()); }
  ValueRange values() { return ValueRange(visibleMap()); }

  /// Remove the current key's map, releasing its memory.
  void clear() {
    const uint32_t id = keyId(false);
    if (id >= maps_.size() || maps_[id].empty()) return;
    touchedAll(id);
    emptied(id);
  }

 private:
  bool isEmptyFor(uint32_t keyId) const override {
    return keyId >= maps_.size() || maps_[keyId].empty();
  }

  bool isSerializable() const override { return Serializable<UK> && Serializable<UV>; }
  std::vector<std::string> serializerIdentities() const override {
    return {detail::serializerIdentity<UK>(), detail::serializerIdentity<UV>()};
  }
  // varint(count) (UK UV [lastAccess:i64le]){count}, count >= 1, keys distinct
  void snapshotValue(uint32_t keyId, DataOutput& out) const override {
    if constexpr (Serializable<UK> && Serializable<UV>) {
      const Map& map = maps_[keyId];
      out.writeVarint(map.size());
      for (auto it = map.begin(); it != map.end(); ++it) {
        TypeSerializer<UK>::serialize(it.key(), out);
        TypeSerializer<UV>::serialize(it.value().value, out);
        if (ttlPolicy().enabled()) out.writeFixed(it.value().lastAccess);
      }
    }
  }
  bool restoreValue(DataInput& in, bool apply) override {
    if constexpr (Serializable<UK> && Serializable<UV>) {
      const size_t minEntrySize =
          std::max<size_t>(1, detail::minSerializedSize<UK>() + detail::minSerializedSize<UV>() +
                                  (ttlPolicy().enabled() ? sizeof(int64_t) : 0));
      size_t count = 0;
      if (!detail::readCount(in, minEntrySize, count) || count == 0) return in.fail();
      Map map;
      map.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        UK key{};
        UV value{};
        int64_t lastAccess = 0;
        if (!TypeSerializer<UK>::deserialize(in, key) ||
            !TypeSerializer<UV>::deserialize(in, value)) {
          return false;
        }
        if (ttlPolicy().enabled() && !in.readFixed(lastAccess)) return false;
        const uint64_t hash = detail::mapKeyHash(key);
        if (!map.tryEmplace(std::move(key), hash, std::move(value), lastAccess).second) {
          return in.fail();  // a duplicate user key
        }
      }
      if (!apply) return true;
      const uint32_t id = keyId(true);
      if (id >= maps_.size()) maps_.resize(size_t{id} + 1);
      touchedAll(id);  // the entries the restore replaces
      const bool wasEmpty = maps_[id].empty();
      maps_[id] = std::move(map);
      touchedAll(id);
      if (wasEmpty) noteFilled(id);
      return true;
    } else {
      return in.fail();
    }
  }

  // ---- Store mode: one store entry per map entry, keyed by the encoded key followed by the
  // user key, holding UV [lastAccess:i64] (keyed_state_store.h). A key's map is loaded whole,
  // with a prefix scan, on its first access; writes record the user keys they touch, which the
  // write-back puts or removes.

  void touched(uint32_t id, const UK& key) {
    if (stateStore() != nullptr) [[unlikely]] {
      // Each (key id, user key) once per write-back, however often it is written.
      touched_.tryEmplace(std::pair<uint32_t, UK>(id, key),
                          detail::murmurMix(detail::mapKeyHash(key) ^ id), char{0});
      markDirty(id);
    }
  }
  void touchedAll(uint32_t id) {
    if (stateStore() != nullptr) [[unlikely]] {
      for (auto it = maps_[id].begin(); it != maps_[id].end(); ++it) touched(id, it.key());
    }
  }

  void loadFromStore(uint32_t id) override {
    if constexpr (Serializable<UK> && Serializable<UV>) {
      const std::string_view prefix = currentStoreKey();
      Map map;
      bool corrupt = false;
      Status status = stateStore()->scan(
          storeColumn(), prefix, [&](std::string_view storedKey, std::string_view storedValue) {
            UK key{};
            UV value{};
            int64_t lastAccess = 0;
            DataInput keyIn(storedKey.substr(prefix.size()));
            DataInput valueIn(storedValue);
            if (!TypeSerializer<UK>::deserialize(keyIn, key) || keyIn.remaining() != 0 ||
                !TypeSerializer<UV>::deserialize(valueIn, value) ||
                (ttlPolicy().enabled() && !valueIn.readFixed(lastAccess)) ||
                valueIn.remaining() != 0) {
              corrupt = true;
              return;
            }
            const uint64_t hash = detail::mapKeyHash(key);
            map.tryEmplace(std::move(key), hash, std::move(value), lastAccess);
          });
      if (!status.isOk()) throwStoreError(status);
      if (corrupt) throwCorruptStoredValue();
      if (map.empty()) return;
      if (id >= maps_.size()) maps_.resize(size_t{id} + 1);
      maps_[id] = std::move(map);
      noteFilled(id);
    }
  }

  void writeDirtyToStore(const std::vector<std::string>& keyBytes, std::string& scratch) override {
    if constexpr (Serializable<UK> && Serializable<UV>) {
      // The touched entries' store keys, written in key order (see flushToStore).
      std::vector<std::pair<std::string, const Entry*>> writes;
      writes.reserve(touched_.size());
      for (auto it = touched_.begin(); it != touched_.end(); ++it) {
        const auto& [id, userKey] = it.key();
        std::string key = keyBytes[id];
        DataOutput keyOut(key);
        TypeSerializer<UK>::serialize(userKey, keyOut);
        const Entry* entry =
            id < maps_.size() ? maps_[id].find(userKey, detail::mapKeyHash(userKey)) : nullptr;
        writes.emplace_back(std::move(key), entry);
      }
      std::sort(writes.begin(), writes.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [key, entry] : writes) {
        if (entry == nullptr) {
          stateStore()->remove(storeColumn(), key);
          continue;
        }
        scratch.clear();
        DataOutput valueOut(scratch);
        TypeSerializer<UV>::serialize(entry->value, valueOut);
        if (ttlPolicy().enabled()) valueOut.writeFixed(entry->lastAccess);
        stateStore()->put(storeColumn(), key, scratch);
      }
      touched_.clear();
      for (const uint32_t id : dirtyKeyIds()) storeFlags(id) &= static_cast<uint8_t>(~kDirty);
    }
  }

  void evictAll() override {
    maps_.clear();
    touched_.clear();
    resetStoreFlags();
  }
  void evictKey(uint32_t id) override {
    if (id < maps_.size()) maps_[id] = Map();
    resetStoreFlags(id);
  }

  bool dropExpiredFor(uint32_t keyId, int64_t nowMillis) override {
    if (!ttlPolicy().enabled() || isEmptyFor(keyId)) return false;
    maps_[keyId].eraseIf([&](const UK&, const Entry& entry) {
      return ttlPolicy().isExpired(entry.lastAccess, nowMillis);
    });
    if (!maps_[keyId].empty()) return false;
    maps_[keyId] = Map();
    return true;
  }

  // Return the current key's map as reads see it: with TTL, drop expired entries
  // (kNeverReturnExpired) and refresh the others (kOnReadAndWrite).
  const Map& visibleMap() {
    const uint32_t id = keyId(false);
    if (id >= maps_.size() || maps_[id].empty()) return empty_;
    Map& map = maps_[id];
    if (ttlPolicy().enabled()) [[unlikely]] {
      const int64_t nowMillis = now();
      if (!ttlPolicy().returnExpired) {
        map.eraseIf([&](const UK& key, const Entry& entry) {
          const bool expired = ttlPolicy().isExpired(entry.lastAccess, nowMillis);
          if (expired) touched(id, key);
          return expired;
        });
        if (map.empty()) {
          emptied(id);
          return empty_;
        }
      }
      if (ttlPolicy().updateOnRead) {
        for (auto it = map.begin(); it != map.end(); ++it) {
          Entry& entry = it.value();
          if (!ttlPolicy().isExpired(entry.lastAccess, nowMillis)) entry.lastAccess = nowMillis;
        }
        touchedAll(id);
      }
    }
    return map;
  }

  // Release the memory of the map of `id` and tell the backend it is empty.
  void emptied(uint32_t id) {
    maps_[id] = Map();
    noteEmptied(id);
  }

  std::vector<Map> maps_;  // by key id
  const Map empty_;
  // Store mode: the (key id, user key) pairs written since the last write-back.
  detail::FlatHashMap<std::pair<uint32_t, UK>, char> touched_;
};

/// A value per key that folds in every added value with a reduce function (Flink's
/// ReducingState).
template <class T>
class ReducingState final : public detail::SingleValueState<T> {
 public:
  ReducingState(KeyedStateBackend& backend, const ReducingStateDescriptor<T>& descriptor)
      : detail::SingleValueState<T>(backend, descriptor.name(), detail::StateKind::kReducing,
                                    typeid(ReducingState), detail::ttlPolicyOf(descriptor)),
        reduceFunction_(descriptor.reduceFunction()) {}

  /// Return a copy of the current key's reduced value, or nullopt.
  std::optional<T> get() {
    const T* current = this->readValue();
    return current ? std::optional<T>(*current) : std::nullopt;
  }
  /// Return the current key's reduced value, or nullptr: the read without a copy.
  const T* getPtr() { return this->readValue(); }

  /// Fold `value` into the current key's value: reduce(current, value), or `value` if the key
  /// has none (or only an expired one).
  void add(T value) {
    uint32_t id = 0;
    if (T* current = this->valueForUpdate(id)) {
      *current = reduceFunction_(*current, value);
      this->touch(id);
    } else {
      this->store(std::move(value));
    }
  }

  /// Remove the current key's value.
  void clear() { this->clearValue(); }

 private:
  const typename ReducingStateDescriptor<T>::ReduceFunction reduceFunction_;
};

/// An aggregate per key that takes values of IN and yields OUT (Flink's AggregatingState). The
/// accumulator type is hidden: this is an interface (one virtual call per method), implemented
/// by the backend for the descriptor's AggregateFunction.
template <class IN, class OUT>
class AggregatingState {
 public:
  virtual ~AggregatingState() = default;
  /// Return the result of the current key's accumulator, or nullopt if it has none.
  virtual std::optional<OUT> get() = 0;
  /// Add `value` to the current key's accumulator, creating it if the key has none (or only an
  /// expired one).
  virtual void add(const IN& value) = 0;
  /// Remove the current key's accumulator.
  virtual void clear() = 0;
};

namespace detail {

/// The heap implementation of AggregatingState: an ACC per key id.
template <class IN, class ACC, class OUT>
class HeapAggregatingState final : public AggregatingState<IN, OUT>, public SingleValueState<ACC> {
 public:
  HeapAggregatingState(KeyedStateBackend& backend,
                       const AggregatingStateDescriptor<IN, ACC, OUT>& descriptor)
      : SingleValueState<ACC>(backend, descriptor.name(), StateKind::kAggregating,
                              typeid(HeapAggregatingState), ttlPolicyOf(descriptor)),
        function_(descriptor.createFunction()) {}

  std::optional<OUT> get() override {
    const ACC* accumulator = this->readValue();
    if (accumulator == nullptr) return std::nullopt;
    return function_->getResult(*accumulator);
  }

  void add(const IN& value) override {
    uint32_t id = 0;
    if (ACC* accumulator = this->valueForUpdate(id)) {
      *accumulator = function_->add(value, std::move(*accumulator));
      this->touch(id);
    } else {
      // Run the user's code before creating the key, so that a throw leaves no empty key.
      this->store(function_->add(value, function_->createAccumulator()));
    }
  }

  void clear() override { this->clearValue(); }

 private:
  const std::unique_ptr<AggregateFunction<IN, ACC, OUT>> function_;
};

}  // namespace detail
}  // namespace strom

// The handles above call into the backend (key ids, time, bookkeeping) through
// detail::StateBase, whose inline helpers need the complete KeyedStateBackend. The backend
// header includes this one first, so either include order yields complete definitions.
#include <strom/detail/keyed_state_backend.h>
