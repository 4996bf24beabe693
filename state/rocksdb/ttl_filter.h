#pragma once

// The TTL decision of the RocksDB backend's compaction filter, on the byte layouts of
// <strom/detail/keyed_state_store.h> (docs/formats.md, "RocksDB keyed state"):
//
//   Value, Reducing, Aggregating:  V lastAccess:i64le
//   Map entry:                     UV lastAccess:i64le
//   List:                          (varint(n) element{n})*   element := T lastAccess:i64le
//
// A value (a list element) has expired when lastAccess + ttl <= now. The filter knows no value
// types: it reads only the last 8 bytes of a value or of each list element. It is kept apart
// from the RocksDB adapter (rocksdb_options.cc) so that it can be tested on its own.

#include <strom/detail/keyed_state_store.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace strom::state {

/// What the TTL compaction filter does with one stored value (or list merge operand).
enum class TtlVerdict : uint8_t {
  kKeep,    // nothing expired, or the value is malformed: keep it unchanged
  kRemove,  // the value, or every element of the list, has expired
  kChange,  // some list elements expired: the value becomes the surviving records
};

/// Return the oldest lastAccess that has not expired at `nowMillis` for `ttlMillis`: values whose
/// lastAccess is below it have expired. Saturates instead of overflowing.
int64_t ttlCutoff(int64_t nowMillis, int64_t ttlMillis);

/// Decide what happens to `value`, laid out as `layout`, when values with a lastAccess below
/// `cutoff` have expired. For kChange, `survivors` receives the records of the list elements that
/// have not expired, in their order; otherwise it is left alone. A value that does not parse
/// (shorter than 8 bytes, a bad varint, a record that overruns the value, an element shorter
/// than 8 bytes) is kept unchanged.
TtlVerdict applyTtl(StoredStateSpec::Layout layout, std::string_view value, int64_t cutoff,
                    std::string& survivors);

}  // namespace strom::state
