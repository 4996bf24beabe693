#include "state/rocksdb/ttl_filter.h"

#include <cstring>
#include <limits>

namespace strom::state {
namespace {

constexpr size_t kStampBytes = sizeof(int64_t);

int64_t lastAccessOf(std::string_view bytes) {
  // The last 8 bytes, little-endian (the build refuses big-endian targets).
  int64_t stamp;
  std::memcpy(&stamp, bytes.data() + bytes.size() - kStampBytes, kStampBytes);
  return stamp;
}

/// Decode a LEB128 varint of at most 10 bytes from the front of `in`, advancing it. Return false
/// on a truncated or overlong varint.
bool readVarint(std::string_view& in, uint64_t& value) {
  value = 0;
  for (int i = 0; i < 10; ++i) {
    if (i >= static_cast<int>(in.size())) {
      return false;
    }
    uint8_t byte = static_cast<uint8_t>(in[i]);
    value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      in.remove_prefix(i + 1);
      return true;
    }
  }
  return false;
}

/// One list record: the whole record (length prefix included) and its element.
struct ListRecord {
  std::string_view record;
  std::string_view element;
};

/// Split the next record off the front of `in`. Return false when it does not parse.
bool readRecord(std::string_view& in, ListRecord& out) {
  std::string_view rest = in;
  uint64_t length;
  if (!readVarint(rest, length) || length > rest.size() || length < kStampBytes) {
    return false;
  }
  size_t prefixLength = in.size() - rest.size();
  out.element = rest.substr(0, length);
  out.record = in.substr(0, prefixLength + length);
  in.remove_prefix(out.record.size());
  return true;
}

TtlVerdict applyToList(std::string_view value, int64_t cutoff, std::string& survivors) {
  // First pass: validate everything and count, so a malformed value is kept whole and nothing
  // is copied when no element expired.
  size_t numRecords = 0;
  size_t numExpired = 0;
  std::string_view in = value;
  ListRecord record;
  while (!in.empty()) {
    if (!readRecord(in, record)) {
      return TtlVerdict::kKeep;
    }
    ++numRecords;
    if (lastAccessOf(record.element) < cutoff) {
      ++numExpired;
    }
  }
  if (numExpired == 0) {
    return TtlVerdict::kKeep;
  }
  if (numExpired == numRecords) {
    return TtlVerdict::kRemove;
  }
  survivors.clear();
  in = value;
  while (readRecord(in, record)) {
    if (lastAccessOf(record.element) >= cutoff) {
      survivors.append(record.record);
    }
  }
  return TtlVerdict::kChange;
}

}  // namespace

int64_t ttlCutoff(int64_t nowMillis, int64_t ttlMillis) {
  // Expired: lastAccess + ttl <= now, that is lastAccess < now - ttl + 1.
  int64_t cutoff;
  if (__builtin_sub_overflow(nowMillis, ttlMillis, &cutoff)) {
    return std::numeric_limits<int64_t>::min();  // nothing can have expired
  }
  if (cutoff == std::numeric_limits<int64_t>::max()) {
    return cutoff;
  }
  return cutoff + 1;
}

TtlVerdict applyTtl(StoredStateSpec::Layout layout, std::string_view value, int64_t cutoff,
                    std::string& survivors) {
  switch (layout) {
    case StoredStateSpec::Layout::kSingleValue:
    case StoredStateSpec::Layout::kMap:
      if (value.size() < kStampBytes) {
        return TtlVerdict::kKeep;
      }
      return lastAccessOf(value) < cutoff ? TtlVerdict::kRemove : TtlVerdict::kKeep;
    case StoredStateSpec::Layout::kList:
      return applyToList(value, cutoff, survivors);
    case StoredStateSpec::Layout::kTimers:
      return TtlVerdict::kKeep;  // timers have no TTL
  }
  return TtlVerdict::kKeep;
}

}  // namespace strom::state
