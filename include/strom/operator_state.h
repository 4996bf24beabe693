#pragma once

// Operator state of user functions, in Flink's shape: CheckpointedFunction with its
// OperatorStateStore (list state, split round-robin on rescale, and union list state, given
// whole to every subtask), and CheckpointListener for checkpoint notifications.
//
//   class Buffering : public RichMapFunction<int64_t, int64_t>, public CheckpointedFunction {
//    public:
//     void initializeState(FunctionInitializationContext& context) override {
//       buffered_ = &context.getOperatorStateStore().getListState(
//           ListStateDescriptor<int64_t>("buffered"));
//     }
//     void snapshotState(FunctionSnapshotContext&) override {}  // the list is the state
//     ...
//    private:
//     OperatorListState<int64_t>* buffered_ = nullptr;
//   };
//
// Every element of an operator state is written as its own byte string (the task deals them out
// on rescale: StateSnapshotContext::addOperatorState). Layout (docs/formats.md, "Operator state
// elements"); u8/u64 little-endian, T, UK and UV TypeSerializer encodings:
//
//   element        := mode:u8 serializerHash:u64 payload
//   payload        := T            ; list (mode 0) and union list (mode 1) state: one element
//                   | UK UV        ; broadcast state (mode 2): one map entry
//   serializerHash := XXH3-64 (hashBytes) of serializerIdentity<T>(), or of
//                     serializerIdentity<UK>() "," serializerIdentity<UV>()

#include <strom/detail/heap_state.h>
#include <strom/detail/keyed_state_backend.h>
#include <strom/key.h>
#include <strom/operator.h>
#include <strom/state.h>
#include <strom/status.h>
#include <strom/type_serializer.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

namespace strom {

namespace detail {

inline constexpr size_t kOperatorStateElementHeaderSize = 9;

/// Return how `mode` is named in errors, such as "union list state".
inline const char* operatorStateModeName(OperatorStateMode mode) {
  switch (mode) {
    case OperatorStateMode::kSplit:
      return "list state";
    case OperatorStateMode::kUnion:
      return "union list state";
    case OperatorStateMode::kBroadcast:
      return "broadcast state";
  }
  return "operator state";
}

inline uint64_t operatorStateSerializerHash(std::string_view identity) {
  return hashBytes(identity.data(), identity.size());
}

inline std::string operatorStateHex(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text = "0x";
  for (int shift = 60; shift >= 0; shift -= 4) text.push_back(kDigits[(value >> shift) & 0xf]);
  return text;
}

/// Start an element of operator state: append its header to a cleared `element`.
inline void beginOperatorStateElement(std::string& element, OperatorStateMode mode,
                                      uint64_t serializerHash) {
  element.clear();
  DataOutput out(element);
  out.writeFixed(static_cast<uint8_t>(mode));
  out.writeFixed(serializerHash);
}

/// Read the mode of an element from its header; Corruption if it has no valid header.
inline Result<OperatorStateMode> operatorStateElementMode(std::string_view element,
                                                          const std::string& stateName,
                                                          size_t index) {
  if (element.size() < kOperatorStateElementHeaderSize) {
    return Status::corruption("operator state '" + stateName + "': element " +
                              std::to_string(index) + " is truncated (" +
                              std::to_string(element.size()) + " bytes, fewer than the " +
                              std::to_string(kOperatorStateElementHeaderSize) + "-byte header)");
  }
  const auto mode = static_cast<uint8_t>(element[0]);
  if (mode > static_cast<uint8_t>(OperatorStateMode::kBroadcast)) {
    return Status::corruption("operator state '" + stateName + "': element " +
                              std::to_string(index) + " has the unknown mode " +
                              std::to_string(mode));
  }
  return static_cast<OperatorStateMode>(mode);
}

/// Check the header of element `index` of state `stateName` against the mode and serializer it
/// is read with; return its payload. Errors name the state: Corruption for a truncated header
/// or an unknown mode, InvalidArgument for another mode or serializer.
inline Result<std::string_view> checkOperatorStateElement(std::string_view element,
                                                          const std::string& stateName,
                                                          size_t index, OperatorStateMode mode,
                                                          const std::string& identity) {
  STROM_ASSIGN_OR_RETURN(OperatorStateMode written,
                         operatorStateElementMode(element, stateName, index));
  if (written != mode) {
    return Status::invalidArgument("operator state '" + stateName + "' was written as " +
                                   operatorStateModeName(written) + " and is read as " +
                                   operatorStateModeName(mode));
  }
  uint64_t stored = 0;
  std::memcpy(&stored, element.data() + 1, sizeof(stored));
  const uint64_t expected = operatorStateSerializerHash(identity);
  if (stored != expected) {
    return Status::invalidArgument("operator state '" + stateName +
                                   "': serializer mismatch: the checkpoint's elements " +
                                   "were written with serializer hash " + operatorStateHex(stored) +
                                   ", the state is read with serializer '" + identity + "' (hash " +
                                   operatorStateHex(expected) + ")");
  }
  return element.substr(kOperatorStateElementHeaderSize);
}

/// One operator state of an operator, as the operator hands it to StateSnapshotContext.
struct OperatorStateEntry {
  std::string name;
  OperatorStateMode mode = OperatorStateMode::kSplit;
  std::vector<std::string> elements;
};

/// The type-erased face of one registered list or union list state.
class OperatorStateBase {
 public:
  OperatorStateBase(std::string name, OperatorStateMode mode, std::type_index type)
      : name_(std::move(name)), mode_(mode), type_(type) {}
  virtual ~OperatorStateBase() = default;
  OperatorStateBase(const OperatorStateBase&) = delete;
  OperatorStateBase& operator=(const OperatorStateBase&) = delete;

  const std::string& name() const { return name_; }
  OperatorStateMode mode() const { return mode_; }
  std::type_index type() const { return type_; }
  /// Serialize every element; InvalidArgument naming the state if T has no TypeSerializer.
  virtual Status snapshot(std::vector<std::string>& elements) const = 0;
  /// Replace the elements with the decoded `elements`; on error nothing is changed.
  virtual Status restore(const std::vector<std::string>& elements) = 0;

 private:
  const std::string name_;
  const OperatorStateMode mode_;
  const std::type_index type_;
};

}  // namespace detail

/// A list of values that belongs to an operator subtask, not to a key (Flink's operator
/// ListState): list state or union list state of OperatorStateStore. Task thread only.
template <class T>
class OperatorListState final : public detail::OperatorStateBase {
 public:
  OperatorListState(std::string name, OperatorStateMode mode)
      : detail::OperatorStateBase(std::move(name), mode, typeid(OperatorListState)) {}

  /// Return the elements in insertion order (after a restore: in the order dealt out).
  const std::vector<T>& get() const { return values_; }
  void add(T value) { values_.push_back(std::move(value)); }
  void addAll(std::vector<T> values) {
    values_.insert(values_.end(), std::make_move_iterator(values.begin()),
                   std::make_move_iterator(values.end()));
  }
  /// Replace the elements with `values`.
  void update(std::vector<T> values) { values_ = std::move(values); }
  void clear() { values_.clear(); }

  Status snapshot(std::vector<std::string>& elements) const override {
    if constexpr (Serializable<T>) {
      const uint64_t hash = detail::operatorStateSerializerHash(detail::serializerIdentity<T>());
      elements.resize(values_.size());
      for (size_t i = 0; i < values_.size(); ++i) {
        detail::beginOperatorStateElement(elements[i], mode(), hash);
        DataOutput out(elements[i]);
        TypeSerializer<T>::serialize(values_[i], out);
      }
      return Status::ok();
    } else {
      return Status::invalidArgument("operator state '" + name() +
                                     "': its element type has no TypeSerializer");
    }
  }

  Status restore(const std::vector<std::string>& elements) override {
    if constexpr (Serializable<T>) {
      const std::string identity = detail::serializerIdentity<T>();
      std::vector<T> values(elements.size());
      for (size_t i = 0; i < elements.size(); ++i) {
        STROM_ASSIGN_OR_RETURN(
            std::string_view payload,
            detail::checkOperatorStateElement(elements[i], name(), i, mode(), identity));
        DataInput in(payload);
        if (!TypeSerializer<T>::deserialize(in, values[i]) || in.remaining() != 0) {
          return Status::corruption("operator state '" + name() + "': element " +
                                    std::to_string(i) + " does not decode as '" + identity +
                                    "' (truncated or corrupt)");
        }
      }
      values_ = std::move(values);
      return Status::ok();
    } else {
      if (elements.empty()) return Status::ok();
      return Status::invalidArgument("operator state '" + name() +
                                     "': its element type has no TypeSerializer");
    }
  }

 private:
  std::vector<T> values_;
};

/// The operator state of one operator subtask (Flink's OperatorStateStore): what a
/// CheckpointedFunction registers in initializeState. The states are written at every
/// checkpoint and handed back on restore: list state split round-robin over the new subtasks,
/// union list state whole to every subtask. Owned by the operator; task thread only.
class OperatorStateStore {
 public:
  OperatorStateStore() = default;
  OperatorStateStore(const OperatorStateStore&) = delete;
  OperatorStateStore& operator=(const OperatorStateStore&) = delete;

  /// Return list state `descriptor.name()` (mode split), restored from the checkpoint when the
  /// operator restores. Throws std::logic_error if the name is registered with another type or
  /// mode, or if the restored state does not decode as T (then error() says why).
  template <class T>
  OperatorListState<T>& getListState(const ListStateDescriptor<T>& descriptor) {
    return getOrRegister<T>(descriptor.name(), OperatorStateMode::kSplit);
  }
  /// Return union list state `descriptor.name()`: on restore, every subtask gets the elements
  /// of all subtasks. Throws as getListState.
  template <class T>
  OperatorListState<T>& getUnionListState(const ListStateDescriptor<T>& descriptor) {
    return getOrRegister<T>(descriptor.name(), OperatorStateMode::kUnion);
  }
  /// Return the names of the registered states.
  std::vector<std::string> getRegisteredStateNames() const {
    std::vector<std::string> names;
    for (const auto& state : states_) names.push_back(state->name());
    return names;
  }

  // ---- For operators ----------------------------------------------------------------------

  /// Take the operator state restored for this operator: each state waits until it is
  /// registered (claimed); the states never claimed are written again at every checkpoint.
  void setRestored(const StateInitializationContext& context) {
    restored_.clear();
    for (const std::string& name : context.operatorStateNames()) {
      restored_.emplace(name, context.operatorState(name));
    }
  }
  /// Remove and return the restored elements of `name`, or nullopt when there are none.
  std::optional<std::vector<std::string>> claimRestored(const std::string& name) {
    auto it = restored_.find(name);
    if (it == restored_.end()) return std::nullopt;
    std::vector<std::string> elements = std::move(it->second);
    restored_.erase(it);
    return elements;
  }
  /// Return the restored elements of `name` not claimed yet, or nullptr.
  const std::vector<std::string>* peekRestored(const std::string& name) const {
    auto it = restored_.find(name);
    return it == restored_.end() ? nullptr : &it->second;
  }
  /// Append every registered state, then every restored state nobody claimed (with the mode it
  /// was written with), to `entries`. InvalidArgument naming a state whose type has no
  /// TypeSerializer; Corruption for an unclaimed element without a valid header.
  Status snapshot(std::vector<detail::OperatorStateEntry>& entries) const {
    for (const auto& state : states_) {
      detail::OperatorStateEntry entry{state->name(), state->mode(), {}};
      STROM_RETURN_IF_ERROR(state->snapshot(entry.elements));
      entries.push_back(std::move(entry));
    }
    for (const auto& [name, elements] : restored_) {
      if (elements.empty()) continue;  // nothing to carry, and no mode to carry it with
      STROM_ASSIGN_OR_RETURN(OperatorStateMode mode,
                             detail::operatorStateElementMode(elements.front(), name, 0));
      entries.push_back(detail::OperatorStateEntry{name, mode, elements});
    }
    return Status::ok();
  }
  /// The error behind the last exception a get...State call threw (OK when none did).
  const Status& error() const { return error_; }

 private:
  template <class T>
  OperatorListState<T>& getOrRegister(const std::string& name, OperatorStateMode mode) {
    for (const auto& state : states_) {
      if (state->name() != name) continue;
      if (state->type() != typeid(OperatorListState<T>) || state->mode() != mode) {
        fail(Status::invalidArgument("operator state '" + name + "' is already registered as " +
                                     detail::operatorStateModeName(state->mode()) +
                                     " of another element type or mode"));
      }
      return static_cast<OperatorListState<T>&>(*state);
    }
    auto state = std::make_unique<OperatorListState<T>>(name, mode);
    if (const std::vector<std::string>* elements = peekRestored(name)) {
      Status status = state->restore(*elements);
      if (!status.isOk()) fail(std::move(status));
      restored_.erase(name);
    }
    states_.push_back(std::move(state));
    return static_cast<OperatorListState<T>&>(*states_.back());
  }
  [[noreturn]] void fail(Status status) {
    error_ = std::move(status);
    throw std::logic_error(error_.message());
  }

  std::vector<std::unique_ptr<detail::OperatorStateBase>> states_;
  std::map<std::string, std::vector<std::string>> restored_;  // not claimed yet
  Status error_;
};

/// What a CheckpointedFunction's snapshotState gets (Flink's FunctionSnapshotContext).
class FunctionSnapshotContext {
 public:
  FunctionSnapshotContext(int64_t checkpointId, int64_t checkpointTimestamp, bool savepoint)
      : checkpointId_(checkpointId),
        checkpointTimestamp_(checkpointTimestamp),
        savepoint_(savepoint) {}
  int64_t getCheckpointId() const { return checkpointId_; }
  /// The checkpoint's trigger time, epoch milliseconds of the JobManager's clock.
  int64_t getCheckpointTimestamp() const { return checkpointTimestamp_; }
  bool isSavepoint() const { return savepoint_; }

 private:
  int64_t checkpointId_;
  int64_t checkpointTimestamp_;
  bool savepoint_;
};

/// What a CheckpointedFunction's initializeState gets (Flink's FunctionInitializationContext).
class FunctionInitializationContext {
 public:
  /// `keyedBackend` is the operator's keyed state, or null on a stream that is not keyed.
  FunctionInitializationContext(bool restored, int64_t restoredCheckpointId,
                                OperatorStateStore& store, KeyedStateBackend* keyedBackend)
      : restored_(restored),
        restoredCheckpointId_(restoredCheckpointId),
        store_(store),
        keyedBackend_(keyedBackend) {}
  /// True when the job restores from a checkpoint or savepoint.
  bool isRestored() const { return restored_; }
  /// The restored checkpoint's id, or -1.
  int64_t getRestoredCheckpointId() const { return restoredCheckpointId_; }
  OperatorStateStore& getOperatorStateStore() { return store_; }
  /// Return the operator's keyed state, to register keyed states (their values are restored
  /// after initializeState returns). Throws std::logic_error on a stream that is not keyed.
  KeyedStateBackend& getKeyedStateStore() {
    if (keyedBackend_ == nullptr) {
      throw std::logic_error("keyed state is only available on a keyed stream (after keyBy)");
    }
    return *keyedBackend_;
  }

 private:
  bool restored_;
  int64_t restoredCheckpointId_;
  OperatorStateStore& store_;
  KeyedStateBackend* keyedBackend_;  // not owned; null when not keyed
};

/// A user function with operator state (Flink's CheckpointedFunction). Works with every
/// operator that runs a user function (map, flatMap, filter, process, window functions, co- and
/// broadcast functions, keyed or not). initializeState is called once after open(), on a fresh
/// start too (isRestored() false), before the first record; register the states there.
/// snapshotState is called on the task thread when a checkpoint is taken, before the states are
/// written: bring them up to date. An exception from either fails the restore or declines the
/// checkpoint with its message.
class CheckpointedFunction {
 public:
  virtual ~CheckpointedFunction() = default;
  virtual void snapshotState(FunctionSnapshotContext& context) = 0;
  virtual void initializeState(FunctionInitializationContext& context) = 0;
};

/// A user function told when checkpoints complete or abort (Flink's CheckpointListener), on the
/// task thread. Checkpoints complete in id order, but a notification may be lost or skipped for
/// a newer one: on completion of n, commit everything up to n.
class CheckpointListener {
 public:
  virtual ~CheckpointListener() = default;
  virtual void notifyCheckpointComplete(int64_t checkpointId) = 0;
  virtual void notifyCheckpointAborted(int64_t /*checkpointId*/) {}
};

}  // namespace strom
