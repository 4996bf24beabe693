#pragma once

// A cheap, order-independent checksum of query result rows, computed the same way by the
// engine's blackhole sink and by the hand-written loops, so that the benchmark mode checks
// that both computed the same rows without paying for formatting them.

#include <strom/fields.h>

#include <bit>
#include <cstdint>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "bench/nexmark/csv.h"

namespace strom::nexmark {

/// Fold `value` into the row hash `h`: numbers by value, strings by length and their first and
/// last byte (not their whole content: the checksum must stay cheap next to the query).
template <class T>
inline uint64_t foldRowField(uint64_t h, const T& value) {
  constexpr uint64_t kPrime = 0x100000001b3ULL;
  if constexpr (std::is_same_v<T, Decimal3>) {
    return (h ^ static_cast<uint64_t>(value.thousandths)) * kPrime;
  } else if constexpr (std::is_floating_point_v<T>) {
    return (h ^ std::bit_cast<uint64_t>(static_cast<double>(value))) * kPrime;
  } else if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
    return (h ^ static_cast<uint64_t>(value)) * kPrime;
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    std::string_view s(value);
    uint64_t v = s.size();
    if (!s.empty())
      v ^= (uint64_t{static_cast<uint8_t>(s.front())} << 32) ^
           (uint64_t{static_cast<uint8_t>(s.back())} << 40);
    return (h ^ v) * kPrime;
  } else if constexpr (internal::IsOptional<T>::value) {
    return value.has_value() ? foldRowField(h, *value) : (h ^ 0x9e3779b97f4a7c15ULL) * kPrime;
  } else {
    static_assert(HasFields<T>,
                  "a Nexmark result field must be a number, a string, Decimal3, "
                  "an optional or a STROM_FIELDS struct");
    std::apply([&h](const auto&... field) { ((h = foldRowField(h, field)), ...); },
               value.stromFields());
    return h;
  }
}

/// Return the checksum of one row; the checksum of a result is the (wrapping) sum over its rows.
template <class Row>
inline uint64_t rowChecksum(const Row& row) {
  uint64_t h = foldRowField(0xcbf29ce484222325ULL, row);
  return h ^ (h >> 29);
}

/// Rows counted and checksummed: what a hand-written loop and the engine's blackhole sink
/// both produce.
struct RowTally {
  int64_t rows = 0;
  uint64_t checksum = 0;

  template <class Row>
  void add(const Row& row) {
    ++rows;
    checksum += rowChecksum(row);
  }
  bool operator==(const RowTally&) const = default;
};

}  // namespace strom::nexmark
