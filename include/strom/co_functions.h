#pragma once

// User-function interfaces of two-input operators, in Flink's shape: connected streams
// (CoMap, CoFlatMap, CoProcess, KeyedCoProcess), the broadcast-state pattern, and the
// interval join. Operators hold the user's concrete function by value, so its virtual
// methods are bound statically: no virtual call per record.

#include <strom/detail/flat_hash_map.h>
#include <strom/detail/heap_state.h>
#include <strom/functions.h>
#include <strom/operator.h>
#include <strom/operator_state.h>
#include <strom/state.h>
#include <strom/status.h>
#include <strom/type_serializer.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

namespace strom {

/// Flink's CoMapFunction: one function per input of connected streams, one output type.
template <class IN1, class IN2, class OUT>
class CoMapFunction : public RichFunction {
 public:
  virtual OUT map1(const IN1& value) = 0;
  virtual OUT map2(const IN2& value) = 0;
};

/// Flink's CoFlatMapFunction.
template <class IN1, class IN2, class OUT>
class CoFlatMapFunction : public RichFunction {
 public:
  virtual void flatMap1(const IN1& value, Collector<OUT>& out) = 0;
  virtual void flatMap2(const IN2& value, Collector<OUT>& out) = 0;
};

/// Flink's CoProcessFunction: per-record calls for each input of non-keyed connected
/// streams, with side outputs, the clock and the watermark (timers need keyed streams).
template <class IN1, class IN2, class OUT>
class CoProcessFunction : public RichFunction {
 public:
  using Context = ProcessContext;
  virtual void processElement1(const IN1& value, Context& ctx, Collector<OUT>& out) = 0;
  virtual void processElement2(const IN2& value, Context& ctx, Collector<OUT>& out) = 0;
};

/// Flink's KeyedCoProcessFunction: both inputs keyed by the same key type; keyed state and
/// timers of the current key.
template <class K, class IN1, class IN2, class OUT>
class KeyedCoProcessFunction : public RichFunction {
 public:
  using Context = KeyedContext<K>;
  using OnTimerContext = KeyedOnTimerContext<K>;
  virtual void processElement1(const IN1& value, Context& ctx, Collector<OUT>& out) = 0;
  virtual void processElement2(const IN2& value, Context& ctx, Collector<OUT>& out) = 0;
  virtual void onTimer(int64_t /*timestamp*/, OnTimerContext& /*ctx*/, Collector<OUT>& /*out*/) {}
};

// ---- Broadcast state ----------------------------------------------------------------------

namespace detail {
/// The type-erased face of a BroadcastState<UK, UV>, for snapshots and restores. Each entry is
/// one operator state element (mode broadcast; layout in <strom/operator_state.h>).
class BroadcastStateBase {
 public:
  virtual ~BroadcastStateBase() = default;
  /// Append one element per entry; InvalidArgument naming `name` if UK or UV has no
  /// TypeSerializer.
  virtual Status snapshot(const std::string& name, std::vector<std::string>& elements) const = 0;
  /// Replace the entries with the decoded `elements`; on error nothing is changed.
  virtual Status restore(const std::string& name, const std::vector<std::string>& elements) = 0;
};
}  // namespace detail

/// A map replicated to every subtask of a broadcast-connected operator (Flink's
/// BroadcastState): written only by the broadcast side, so every subtask holds the same
/// entries when every subtask applies the same updates. Task thread only.
template <class UK, class UV>
class BroadcastState final : public detail::BroadcastStateBase {
 public:
  void put(UK key, UV value) {
    const uint64_t hash = detail::mapKeyHash(key);
    auto [slot, inserted] = map_.tryEmplace(std::move(key), hash, std::move(value));
    if (!inserted) *slot = std::move(value);  // NOLINT(bugprone-use-after-move)
  }
  void remove(const UK& key) { map_.erase(key, detail::mapKeyHash(key)); }
  void clear() { map_.clear(); }

  /// Return the value of `key`, or nullptr: the read without a copy.
  const UV* getPtr(const UK& key) const { return map_.find(key, detail::mapKeyHash(key)); }
  std::optional<UV> get(const UK& key) const {
    const UV* value = getPtr(key);
    return value ? std::optional<UV>(*value) : std::nullopt;
  }
  bool contains(const UK& key) const { return getPtr(key) != nullptr; }
  size_t size() const { return map_.size(); }
  bool isEmpty() const { return map_.empty(); }
  /// Iterate over the entries (structured bindings: `for (const auto& [k, v] : s.entries())`),
  /// in unspecified order; valid until the next write.
  const detail::FlatHashMap<UK, UV>& entries() const { return map_; }

  /// The serializer identity the elements of this state are written with: "UK,UV".
  static std::string serializerIdentity() {
    return detail::serializerIdentity<UK>() + "," + detail::serializerIdentity<UV>();
  }
  Status snapshot(const std::string& name, std::vector<std::string>& elements) const override {
    if constexpr (Serializable<UK> && Serializable<UV>) {
      const uint64_t hash = detail::operatorStateSerializerHash(serializerIdentity());
      elements.reserve(elements.size() + map_.size());
      for (const auto& [key, value] : map_) {
        std::string element;
        detail::beginOperatorStateElement(element, OperatorStateMode::kBroadcast, hash);
        DataOutput out(element);
        TypeSerializer<UK>::serialize(key, out);
        TypeSerializer<UV>::serialize(value, out);
        elements.push_back(std::move(element));
      }
      return Status::ok();
    } else {
      return Status::invalidArgument("broadcast state '" + name +
                                     "': its key or value type has no TypeSerializer");
    }
  }
  Status restore(const std::string& name, const std::vector<std::string>& elements) override {
    if constexpr (Serializable<UK> && Serializable<UV>) {
      const std::string identity = serializerIdentity();
      detail::FlatHashMap<UK, UV> map;
      for (size_t i = 0; i < elements.size(); ++i) {
        STROM_ASSIGN_OR_RETURN(std::string_view payload,
                               detail::checkOperatorStateElement(
                                   elements[i], name, i, OperatorStateMode::kBroadcast, identity));
        DataInput in(payload);
        UK key{};
        UV value{};
        if (!TypeSerializer<UK>::deserialize(in, key) ||
            !TypeSerializer<UV>::deserialize(in, value) || in.remaining() != 0) {
          return Status::corruption("operator state '" + name + "': element " + std::to_string(i) +
                                    " does not decode as '" + identity +
                                    "' (truncated or corrupt)");
        }
        const uint64_t hash = detail::mapKeyHash(key);
        auto [slot, inserted] = map.tryEmplace(std::move(key), hash, std::move(value));
        if (!inserted) {
          return Status::corruption("operator state '" + name + "': element " + std::to_string(i) +
                                    " repeats a key");
        }
        (void)slot;
      }
      map_ = std::move(map);
      return Status::ok();
    } else {
      if (elements.empty()) return Status::ok();
      return Status::invalidArgument("broadcast state '" + name +
                                     "': its key or value type has no TypeSerializer");
    }
  }

 private:
  detail::FlatHashMap<UK, UV> map_;
};

/// The view of broadcast state that the non-broadcast side gets: reads only.
template <class UK, class UV>
using ReadOnlyBroadcastState = const BroadcastState<UK, UV>;

namespace detail {
/// The broadcast states of one operator instance, by descriptor name.
class BroadcastStateStore {
 public:
  /// A store of the states named in `declared` (those given to DataStream::broadcast).
  explicit BroadcastStateStore(std::vector<std::string> declared)
      : declared_(std::move(declared)) {}

  template <class UK, class UV>
  BroadcastState<UK, UV>& get(const MapStateDescriptor<UK, UV>& descriptor) {
    for (Entry& entry : states_) {
      if (entry.name != descriptor.name()) continue;
      if (entry.type != typeid(BroadcastState<UK, UV>)) {
        throw std::logic_error("broadcast state '" + descriptor.name() +
                               "' is already used with other key or value types");
      }
      return static_cast<BroadcastState<UK, UV>&>(*entry.state);
    }
    if (std::find(declared_.begin(), declared_.end(), descriptor.name()) == declared_.end()) {
      throw std::logic_error("broadcast state '" + descriptor.name() +
                             "' was not declared: pass its descriptor to broadcast(...)");
    }
    auto state = std::make_unique<BroadcastState<UK, UV>>();
    if (restored_ != nullptr) {
      // The restored entries, checked by setRestored(), decoded at the state's first use.
      if (std::optional<std::vector<std::string>> elements =
              restored_->claimRestored(descriptor.name())) {
        Status status = state->restore(descriptor.name(), *elements);
        if (!status.isOk()) {
          throw std::runtime_error("restoring broadcast state: " + status.message());
        }
      }
    }
    states_.push_back(Entry{descriptor.name(), typeid(BroadcastState<UK, UV>), std::move(state)});
    return static_cast<BroadcastState<UK, UV>&>(*states_.back().state);
  }

  /// Restore the declared states from `store`'s restored operator state, each at its first use
  /// (the function's state types are known only then); until then the elements stay in
  /// `store`, which writes them again at every checkpoint. Check the elements' headers now:
  /// Corruption or InvalidArgument naming the state if one was not written as broadcast state.
  /// `store` must outlive this store's use of it.
  Status setRestored(OperatorStateStore& store) {
    restored_ = &store;
    for (const std::string& name : declared_) {
      const std::vector<std::string>* elements = store.peekRestored(name);
      if (elements == nullptr) continue;
      for (size_t i = 0; i < elements->size(); ++i) {
        STROM_ASSIGN_OR_RETURN(OperatorStateMode mode,
                               operatorStateElementMode((*elements)[i], name, i));
        if (mode != OperatorStateMode::kBroadcast) {
          return Status::invalidArgument("operator state '" + name + "' was written as " +
                                         operatorStateModeName(mode) +
                                         " and is read as broadcast state");
        }
      }
    }
    return Status::ok();
  }
  /// Append every used state (mode broadcast) to `entries`.
  Status snapshot(std::vector<OperatorStateEntry>& entries) const {
    for (const Entry& entry : states_) {
      OperatorStateEntry out{entry.name, OperatorStateMode::kBroadcast, {}};
      STROM_RETURN_IF_ERROR(entry.state->snapshot(entry.name, out.elements));
      entries.push_back(std::move(out));
    }
    return Status::ok();
  }

 private:
  struct Entry {
    std::string name;
    std::type_index type;
    std::unique_ptr<BroadcastStateBase> state;
  };
  std::vector<std::string> declared_;
  std::vector<Entry> states_;
  OperatorStateStore* restored_ = nullptr;  // the operator's; set on initializeState
};
}  // namespace detail

/// Gives a context read (`Writable` false) or read-write access to broadcast state.
template <class Base, bool Writable>
class WithBroadcastState : public Base {
 public:
  template <class... Args>
  WithBroadcastState(detail::BroadcastStateStore& store, Args&&... args)
      : Base(std::forward<Args>(args)...), store_(store) {}

  template <class UK, class UV>
  auto& getBroadcastState(const MapStateDescriptor<UK, UV>& descriptor) {
    if constexpr (Writable) {
      return store_.get(descriptor);
    } else {
      return static_cast<ReadOnlyBroadcastState<UK, UV>&>(store_.get(descriptor));
    }
  }

 private:
  detail::BroadcastStateStore& store_;
};

/// Flink's BroadcastProcessFunction: a non-keyed stream connected to a broadcast stream.
/// processBroadcastElement may write the broadcast state; processElement only reads it.
template <class IN1, class IN2, class OUT>
class BroadcastProcessFunction : public RichFunction {
 public:
  using ReadOnlyContext = WithBroadcastState<ProcessContext, false>;
  using Context = WithBroadcastState<ProcessContext, true>;
  virtual void processElement(const IN1& value, ReadOnlyContext& ctx, Collector<OUT>& out) = 0;
  virtual void processBroadcastElement(const IN2& value, Context& ctx, Collector<OUT>& out) = 0;
};

/// Flink's KeyedBroadcastProcessFunction: a keyed stream connected to a broadcast stream.
/// The keyed side has keyed state, timers and read-only broadcast state; the broadcast side
/// writes the broadcast state and has no current key.
template <class K, class IN1, class IN2, class OUT>
class KeyedBroadcastProcessFunction : public RichFunction {
 public:
  using ReadOnlyContext = WithBroadcastState<KeyedContext<K>, false>;
  using Context = WithBroadcastState<ProcessContext, true>;
  using OnTimerContext = WithBroadcastState<KeyedOnTimerContext<K>, false>;
  virtual void processElement(const IN1& value, ReadOnlyContext& ctx, Collector<OUT>& out) = 0;
  virtual void processBroadcastElement(const IN2& value, Context& ctx, Collector<OUT>& out) = 0;
  virtual void onTimer(int64_t /*timestamp*/, OnTimerContext& /*ctx*/, Collector<OUT>& /*out*/) {}
};

// ---- Interval join ------------------------------------------------------------------------

/// Flink's ProcessJoinFunction: called once per joined pair of an interval join.
template <class IN1, class IN2, class OUT>
class ProcessJoinFunction : public RichFunction {
 public:
  class Context : public ProcessContextBase {
   public:
    using ProcessContextBase::ProcessContextBase;
    int64_t getLeftTimestamp() const { return left_; }
    int64_t getRightTimestamp() const { return right_; }
    /// The timestamp of the joined result: the larger of the two.
    int64_t getTimestamp() const { return timestamp(); }
    void setPair(int64_t left, int64_t right) {
      left_ = left;
      right_ = right;
      setTimestamp(left > right ? left : right);
    }

   private:
    int64_t left_ = kNoTimestamp;
    int64_t right_ = kNoTimestamp;
  };
  virtual void processElement(const IN1& left, const IN2& right, Context& ctx,
                              Collector<OUT>& out) = 0;
};

}  // namespace strom
