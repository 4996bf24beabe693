#pragma once

#include <tuple>

/// Declare the fields of a user struct, inside its definition, so that Strom can serialize,
/// hash and print it:
///
///   struct Bid {
///     int64_t auction = 0;
///     std::string channel;
///     bool operator==(const Bid&) const = default;  // needed only to use it as a key
///     STROM_FIELDS(auction, channel)
///   };
#define STROM_FIELDS(...)                                     \
  auto stromFields()& { return std::tie(__VA_ARGS__); }       \
  auto stromFields() const& { return std::tie(__VA_ARGS__); } \
  static constexpr const char* stromFieldNames() { return #__VA_ARGS__; }

namespace strom {

/// A struct whose fields are declared with STROM_FIELDS.
template <class T>
concept HasFields = requires(T& mutableValue, const T& value) {
  mutableValue.stromFields();
  value.stromFields();
};

}  // namespace strom
