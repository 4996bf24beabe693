#pragma once

// The RocksDB side of the RocksDB state backend: the options every store's database and column
// families are opened with, the list merge operator, the TTL compaction filter, and the one
// adapter from rocksdb::Status to Status (STYLE §4). Only state/rocksdb/*.cc include this.

#include <rocksdb/options.h>
#include <rocksdb/status.h>
#include <strom/detail/keyed_state_store.h>
#include <strom/status.h>

#include <cstdint>
#include <functional>
#include <string_view>

#include "state/rocksdb/rocksdb_resources.h"

namespace strom::state {

/// The name of the list merge operator, which concatenates operands byte-wise.
inline constexpr const char* kListAppendOperatorName = "strom.list-append";
/// The name of the TTL compaction filter (and of its factory).
inline constexpr const char* kTtlCompactionFilterName = "strom.ttl";

/// Convert `status` (not OK) to a Status whose message is `context + ": " + RocksDB's message`.
/// An IOError with the PathNotFound subcode becomes NotFound; a full disk stays IOError.
Status fromRocksDb(const rocksdb::Status& status, std::string_view context);

/// Return the database options of a store: the shared write buffer manager, RocksDB's log sent to
/// the "state" logger (errors only; no LOG files), no flush at close.
rocksdb::DBOptions storeDbOptions(const RocksDbResources& resources);

/// Return the options of the default column family, which holds the store's metadata only.
rocksdb::ColumnFamilyOptions metadataColumnOptions(const RocksDbResources& resources);

/// Return the options of a state column: the shared block-based table factory, the list merge
/// operator for lists, and a TTL compaction filter when `ttlMillis` > 0 that reads `clock` (epoch
/// ms) once per compaction, on a RocksDB background thread.
rocksdb::ColumnFamilyOptions stateColumnOptions(const RocksDbResources& resources,
                                                StoredStateSpec::Layout layout, int64_t ttlMillis,
                                                const std::function<int64_t()>& clock);

/// Return the options to read a restore source's state columns with (read-only: the merge
/// operator, so merged lists read whole; no compaction filter).
rocksdb::ColumnFamilyOptions sourceColumnOptions(const RocksDbResources& resources);

}  // namespace strom::state
