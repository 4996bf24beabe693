#pragma once

// The byte-level store under the keyed state of one operator instance when the job's state
// backend is RocksDB (`state.backend.type: rocksdb`; DESIGN §6). The typed state handles of
// <strom/state.h> keep a bounded cache of decoded values in memory and read and write the store
// through this interface; the RocksDB implementation lives in the engine (state/rocksdb/), so a
// job library compiled against these headers needs no RocksDB headers.
//
// Layout (docs/formats.md, "RocksDB keyed state"). One column per registered state. A key is
//
//   keyGroup:u16be serializedKey namespace [serializedUserKey]
//
// where the namespace is empty (Strom's windows keep their windows in map-state user keys)
// and the user key is present for map state only: one store entry per map entry. Values:
//
//   Value, Reducing, Aggregating:  V [lastAccess:i64le]
//   Map entry:                     UV [lastAccess:i64le]
//   List:                          (varint(n) element{n})*   element := T [lastAccess:i64le]
//
// lastAccess is present iff the state has a TTL; it is the last 8 bytes of a value, of a map
// entry's value and of each list element, so the store's TTL compaction filter drops expired
// values without knowing their types. A list is the concatenation of its elements' records:
// merge() appends records without reading the list.
//
// Timers (with the RocksDB backend the keyed timer queues live in the store too) have a
// column per queue, named "_timer_state/<queue>", whose keys are
//
//   keyGroup:u16be time:u64be serializedKey serializedNamespace
//
// with the time's sign bit flipped, so that a key group's timers are in time order; the value
// is empty.

#include <strom/status.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace strom {

/// The start of the names of the timer queues' columns ("_timer_state/<queue>"); a state may
/// not have a name that starts so.
inline constexpr std::string_view kTimerColumnPrefix = "_timer_state/";

/// What a store is told about one state when its column is opened.
struct StoredStateSpec {
  /// The state's name (unique within the operator): names the column.
  std::string name;
  /// How values are laid out, for the TTL compaction filter and the list merge operator.
  enum class Layout : uint8_t { kSingleValue = 0, kList = 1, kMap = 2, kTimers = 3 };
  Layout layout = Layout::kSingleValue;
  /// The state's TTL in milliseconds, 0 for none. With a TTL, the store may drop a value (a
  /// list element) whose lastAccess + ttl <= the wall clock in epoch ms when it compacts.
  int64_t ttlMillis = 0;
};

/// The key-value store of one operator instance's keyed state. Writes are buffered and become
/// visible to reads, atomically, at commit(). Errors name the state (column) and the store's
/// directory. Thread contract: used by its task's thread only.
class KeyedStateStore {
 public:
  virtual ~KeyedStateStore() = default;

  /// Return the column of `spec.name`, creating it on first use. The same name always yields
  /// the same column; opening it with another layout or TTL is InvalidArgument. IOError when
  /// the column cannot be created.
  virtual Result<uint32_t> openColumn(const StoredStateSpec& spec) = 0;

  /// Read `key` of `column` into `value` (replacing its contents). Return whether it exists.
  /// Corruption or IOError naming the state and the file when the read fails.
  virtual Result<bool> get(uint32_t column, std::string_view key, std::string& value) = 0;

  /// Call `fn(key, value)` for each entry of `column` whose key starts with `prefix`, in key
  /// order, as of the last commit(). The views are valid during the call only.
  virtual Status scan(
      uint32_t column, std::string_view prefix,
      const std::function<void(std::string_view key, std::string_view value)>& fn) = 0;

  /// Call `fn(key, value)` for each entry of `column` whose key starts with `prefix` and is
  /// not less than `from`, in key order, as of the last commit(), until `fn` returns false.
  virtual Status scanFrom(
      uint32_t column, std::string_view prefix, std::string_view from,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) = 0;

  /// Buffer a write of `value` to `key`.
  virtual void put(uint32_t column, std::string_view key, std::string_view value) = 0;
  /// Buffer an append of `records` to the list at `key` (list columns only).
  virtual void merge(uint32_t column, std::string_view key, std::string_view records) = 0;
  /// Buffer the removal of `key`.
  virtual void remove(uint32_t column, std::string_view key) = 0;
  /// Buffer the removal of every key of `column` that starts with `prefix`.
  virtual void removePrefix(uint32_t column, std::string_view prefix) = 0;
  /// Apply the buffered writes, in the order they were made, atomically. IOError (such as a
  /// full disk) naming the store's directory; then the writes are lost and the task must fail.
  virtual Status commit() = 0;

  /// How many keys the state handles may cache in memory between batches
  /// (`state.backend.rocksdb.cache.max-keys`).
  virtual size_t maxCachedKeys() const = 0;
};

}  // namespace strom
