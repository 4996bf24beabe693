#pragma once

// The binary encoding of record values: DataOutput/DataInput and TypeSerializer<T>.
//
// Byte layout of the built-in types. Every fixed-width value is little-endian; `X{n}` means n
// encodings of X back to back.
//
//   varint             := byte{1..10}          LEB128: 7 value bits per byte, least significant
//                                              group first, 0x80 set on every byte but the last.
//                                              Canonical: no trailing zero group (0x80 0x00 is
//                                              rejected), at most 10 bytes, and the 10th byte
//                                              is 0x00 or 0x01.
//   integer, char type := byte{sizeof(T)}      two's complement (int32_t: 4 bytes, int64_t: 8;
//                                              `long` is 8 bytes on LP64: prefer <cstdint> types)
//   float, double      := byte{4} | byte{8}    IEEE 754 bit pattern, NaN payloads kept
//   long double        := (not serializable: its in-memory form has padding bytes)
//   bool               := 0x00 | 0x01
//   enum E             := encoding of std::underlying_type_t<E>
//   string             := varint(len) byte{len}
//   string_view        := varint(len) byte{len}  (read into the DataInput's arena)
//   pair<A, B>         := A B
//   tuple<T1..Tn>      := T1 .. Tn             (tuple<> is zero bytes)
//   array<T, N>        := T{N}
//   vector<T>          := varint(count) T{count}
//   optional<T>        := 0x00 | 0x01 T
//   variant<T0..Tn>    := byte{index} T_index  (at most 255 alternatives; valueless rejected)
//   map<K, V>          := varint(count) (K V){count}   in key order; duplicate keys rejected
//   unordered_map<K,V> := varint(count) (K V){count}   in iteration order, so equal maps may
//                                                      encode differently; duplicates rejected
//   STROM_FIELDS struct:= field1 .. fieldn     in STROM_FIELDS order, no header
//
// The encoding carries no type tags or version: reader and writer must agree on T.

#include <strom/detail/byte_arena.h>
#include <strom/fields.h>

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace strom {

static_assert(std::endian::native == std::endian::little,
              "Strom's fixed-width encoding copies values in memory order: little endian only");

namespace detail {
/// Types written by DataOutput::writeFixed: arithmetic types whose object representation has
/// no padding (so not long double).
template <class T>
concept FixedWidth = std::is_arithmetic_v<T> && !std::is_same_v<std::remove_cv_t<T>, long double>;

/// The most bytes a 64-bit varint takes.
inline constexpr size_t kMaxVarintBytes = 10;
}  // namespace detail

/// Appends encoded bytes to a caller-owned string. The buffer must outlive the DataOutput.
/// Not thread-safe; it only appends, so bytes already in the buffer are kept.
class DataOutput {
 public:
  explicit DataOutput(std::string& buffer) : buffer_(&buffer) {}

  /// Append `size` bytes at `data`.
  void write(const void* data, size_t size) {
    if (size != 0) {
      buffer_->append(static_cast<const char*>(data), size);
    }
  }

  /// Append `value` in little-endian order, sizeof(T) bytes (bool: one byte, 0 or 1).
  template <class T>
  requires detail::FixedWidth<T>
  void writeFixed(T value) {
    if constexpr (std::is_same_v<T, bool>) {
      buffer_->push_back(value ? '\1' : '\0');
    } else {
      char bytes[sizeof(T)];
      std::memcpy(bytes, &value, sizeof(T));
      buffer_->append(bytes, sizeof(T));
    }
  }

  /// Append `value` as an LEB128 varint of 1 to 10 bytes.
  void writeVarint(uint64_t value) {
    char bytes[detail::kMaxVarintBytes];
    size_t length = 0;
    while (value >= 0x80) {
      bytes[length++] = static_cast<char>((value & 0x7f) | 0x80);
      value >>= 7;
    }
    bytes[length++] = static_cast<char>(value);
    buffer_->append(bytes, length);
  }

  /// Return the number of bytes in the buffer, including those it held before.
  size_t size() const { return buffer_->size(); }

 private:
  std::string* buffer_;  // not owned
};

/// A bounds-checked reader over bytes that may be truncated or corrupt. Every read returns
/// false, without reading out of bounds or throwing, when the input is too short or malformed;
/// the first failure sets the sticky failed() flag, after which every read fails. The viewed
/// bytes must outlive the DataInput. Not thread-safe.
class DataInput {
 public:
  /// Read `bytes`. Values with std::string_view fields are deserialized into `arena` (their
  /// views point there); without an arena they do not decode.
  explicit DataInput(std::string_view bytes, detail::ByteArena* arena = nullptr)
      : position_(bytes.data()), end_(bytes.data() + bytes.size()), arena_(arena) {}

  /// The arena string_view fields are copied into, or nullptr.
  detail::ByteArena* arena() const { return arena_; }

  /// Copy the next `size` bytes to `out`.
  [[nodiscard]] bool read(void* out, size_t size) {
    if (size > remaining() || failed_) [[unlikely]] {
      return fail();
    }
    if (size != 0) {
      std::memcpy(out, position_, size);
      position_ += size;
    }
    return true;
  }

  /// Read a value written by DataOutput::writeFixed. A bool byte other than 0 or 1 is
  /// malformed.
  template <class T>
  requires detail::FixedWidth<T>
  [[nodiscard]] bool readFixed(T& value) {
    if constexpr (std::is_same_v<T, bool>) {
      uint8_t byte = 0;
      if (!readFixed(byte)) {
        return false;
      }
      if (byte > 1) [[unlikely]] {
        return fail();
      }
      value = byte != 0;
      return true;
    } else {
      return read(&value, sizeof(T));
    }
  }

  /// Read a varint written by DataOutput::writeVarint. Encodings longer than 10 bytes, that
  /// overflow 64 bits or that end in a zero group (non-canonical) are malformed.
  [[nodiscard]] bool readVarint(uint64_t& value) {
    if (failed_) [[unlikely]] {
      return false;
    }
    if (position_ != end_ && static_cast<uint8_t>(*position_) < 0x80) [[likely]] {
      value = static_cast<uint8_t>(*position_++);
      return true;
    }
    uint64_t result = 0;
    const char* cursor = position_;
    for (size_t index = 0; index < detail::kMaxVarintBytes; ++index) {
      if (cursor == end_) {
        return fail();
      }
      uint8_t byte = static_cast<uint8_t>(*cursor++);
      if (index == detail::kMaxVarintBytes - 1 && byte > 1) {
        return fail();  // more than 64 bits, or more than 10 bytes
      }
      result |= static_cast<uint64_t>(byte & 0x7f) << (7 * index);
      if ((byte & 0x80) == 0) {
        if (byte == 0 && index > 0) {
          return fail();  // overlong
        }
        position_ = cursor;
        value = result;
        return true;
      }
    }
    return fail();  // unreachable: the 10th byte either ends the varint or fails above
  }

  /// Point `out` at the next `size` bytes, without copying, and skip them. `out` stays valid
  /// as long as the viewed bytes do.
  [[nodiscard]] bool readView(size_t size, std::string_view& out) {
    if (size > remaining() || failed_) [[unlikely]] {
      return fail();
    }
    out = std::string_view(position_, size);
    position_ += size;
    return true;
  }

  /// Return the number of unread bytes (0 after a failure).
  size_t remaining() const { return static_cast<size_t>(end_ - position_); }

  /// Return whether a read has failed.
  bool failed() const { return failed_; }

  /// Mark the input as malformed and return false. For serializers that find a bad value,
  /// such as a duplicate map key, so that failed() reports it.
  bool fail() {
    failed_ = true;
    position_ = end_;
    return false;
  }

 private:
  const char* position_;
  const char* end_;
  detail::ByteArena* arena_;
  bool failed_ = false;
};

/// How a value of type T is encoded. Each specialization has
///   static void serialize(const T& value, DataOutput& out);
///   static bool deserialize(DataInput& in, T& value);
/// and may declare `static constexpr size_t kMinSize`, the fewest bytes any value takes
/// (taken to be 1 when absent); containers use it to reject impossible element counts before
/// allocating. deserialize overwrites an existing `value`, reusing its memory where it can,
/// and returns false on truncated or corrupt input, leaving `value` valid but unspecified.
/// Specialize it for other types; built-in: see the grammar at the top of this file.
template <class T, class Enable = void>
struct TypeSerializer;  // not serializable unless specialized

/// A type with a TypeSerializer that can be default constructed and moved, as records are.
template <class T>
concept Serializable = std::default_initializable<T> && std::move_constructible<T> &&
    requires(const T& value, T& target, DataOutput& out, DataInput& in) {
  { TypeSerializer<T>::serialize(value, out) } -> std::same_as<void>;
  { TypeSerializer<T>::deserialize(in, target) } -> std::same_as<bool>;
};

/// Append the encoding of `value` to `out`.
template <Serializable T>
inline void serializeValue(const T& value, DataOutput& out) {
  TypeSerializer<T>::serialize(value, out);
}

/// Decode a T from `in` into `value`; return false on truncated or corrupt input.
template <Serializable T>
[[nodiscard]] inline bool deserializeValue(DataInput& in, T& value) {
  return TypeSerializer<T>::deserialize(in, value);
}

namespace detail {

/// Return TypeSerializer<T>::kMinSize, or 1 when the specialization does not declare it.
template <class T>
constexpr size_t minSerializedSize() {
  if constexpr (requires { TypeSerializer<T>::kMinSize; }) {
    return TypeSerializer<T>::kMinSize;
  } else {
    return 1;
  }
}

/// Read a container's element count and check that `count` values of at least
/// `minElementSize` bytes fit in the rest of the input, so that a corrupt count cannot make
/// the caller allocate more than a small multiple of the input size.
[[nodiscard]] inline bool readCount(DataInput& in, size_t minElementSize, size_t& count) {
  uint64_t value = 0;
  if (!in.readVarint(value)) {
    return false;
  }
  if (value > in.remaining() / minElementSize) [[unlikely]] {
    return in.fail();
  }
  count = static_cast<size_t>(value);
  return true;
}

/// Element types whose encoding is their in-memory bytes, so arrays of them are copied whole.
template <class T>
concept BulkCopyable = FixedWidth<T> && !std::is_same_v<T, bool>;

template <class Tuple>
struct AllSerializable;
template <class... Ts>
struct AllSerializable<std::tuple<Ts...>>
    : std::bool_constant<(Serializable<std::remove_cvref_t<Ts>> && ...)> {};

/// The std::tuple of const references that a STROM_FIELDS struct's stromFields() returns.
template <class T>
using FieldsTuple = decltype(std::declval<const T&>().stromFields());

template <class Tuple>
struct TupleMinSize;
template <class... Ts>
struct TupleMinSize<std::tuple<Ts...>>
    : std::integral_constant<size_t,
                             (size_t{0} + ... + minSerializedSize<std::remove_cvref_t<Ts>>())> {};

template <class Map>
void serializeMap(const Map& map, DataOutput& out) {
  out.writeVarint(map.size());
  for (const auto& [key, mapped] : map) {
    TypeSerializer<typename Map::key_type>::serialize(key, out);
    TypeSerializer<typename Map::mapped_type>::serialize(mapped, out);
  }
}

template <class Map>
bool deserializeMap(DataInput& in, Map& map) {
  using Key = typename Map::key_type;
  using Mapped = typename Map::mapped_type;
  constexpr size_t kEntryMinSize = minSerializedSize<Key>() + minSerializedSize<Mapped>();
  static_assert(kEntryMinSize > 0, "maps of zero-byte entries are not serializable");
  size_t count = 0;
  if (!readCount(in, kEntryMinSize, count)) {
    return false;
  }
  map.clear();
  if constexpr (requires { map.reserve(count); }) {
    map.reserve(count);
  }
  for (size_t i = 0; i < count; ++i) {
    Key key{};
    Mapped mapped{};
    if (!TypeSerializer<Key>::deserialize(in, key) ||
        !TypeSerializer<Mapped>::deserialize(in, mapped)) {
      return false;
    }
    size_t sizeBefore = map.size();
    map.emplace_hint(map.end(), std::move(key), std::move(mapped));
    if (map.size() == sizeBefore) [[unlikely]] {
      return in.fail();  // duplicate key
    }
  }
  return true;
}

}  // namespace detail

template <class T>
requires(detail::FixedWidth<T> && !std::is_same_v<T, bool>) struct TypeSerializer<T> {
  static constexpr size_t kMinSize = sizeof(T);
  static void serialize(const T& value, DataOutput& out) { out.writeFixed(value); }
  [[nodiscard]] static bool deserialize(DataInput& in, T& value) { return in.readFixed(value); }
};

template <>
struct TypeSerializer<bool> {
  static constexpr size_t kMinSize = 1;
  static void serialize(const bool& value, DataOutput& out) { out.writeFixed(value); }
  [[nodiscard]] static bool deserialize(DataInput& in, bool& value) { return in.readFixed(value); }
};

template <class T>
requires(std::is_enum_v<T>&& Serializable<std::underlying_type_t<T>>) struct TypeSerializer<T> {
  using Underlying = std::underlying_type_t<T>;
  static constexpr size_t kMinSize = sizeof(Underlying);
  static void serialize(const T& value, DataOutput& out) {
    out.writeFixed(static_cast<Underlying>(value));
  }
  // Any value of the underlying type is accepted. For an enum without a fixed underlying type,
  // a corrupt value outside the enumerators' bit range is undefined behaviour, as with a cast.
  [[nodiscard]] static bool deserialize(DataInput& in, T& value) {
    Underlying underlying{};
    if (!in.readFixed(underlying)) {
      return false;
    }
    value = static_cast<T>(underlying);
    return true;
  }
};

template <>
struct TypeSerializer<std::string> {
  static constexpr size_t kMinSize = 1;
  static void serialize(const std::string& value, DataOutput& out) {
    out.writeVarint(value.size());
    out.write(value.data(), value.size());
  }
  [[nodiscard]] static bool deserialize(DataInput& in, std::string& value) {
    uint64_t size = 0;
    std::string_view bytes;
    if (!in.readVarint(size) || size > in.remaining() ||
        !in.readView(static_cast<size_t>(size), bytes)) {
      return in.fail();
    }
    value.assign(bytes.data(), bytes.size());  // reuses the existing capacity
    return true;
  }
};

/// A view of bytes owned elsewhere: written like std::string; read into the input's arena
/// (the batch the record is read into), so the view lives as long as that batch.
template <>
struct TypeSerializer<std::string_view> {
  static constexpr size_t kMinSize = 1;
  static void serialize(std::string_view value, DataOutput& out) {
    out.writeVarint(value.size());
    out.write(value.data(), value.size());
  }
  [[nodiscard]] static bool deserialize(DataInput& in, std::string_view& value) {
    uint64_t size = 0;
    std::string_view bytes;
    if (in.arena() == nullptr || !in.readVarint(size) || size > in.remaining() ||
        !in.readView(static_cast<size_t>(size), bytes)) {
      return in.fail();
    }
    value = in.arena()->copy(bytes);
    return true;
  }
};

template <Serializable A, Serializable B>
struct TypeSerializer<std::pair<A, B>> {
  static constexpr size_t kMinSize =
      detail::minSerializedSize<A>() + detail::minSerializedSize<B>();
  static void serialize(const std::pair<A, B>& value, DataOutput& out) {
    TypeSerializer<A>::serialize(value.first, out);
    TypeSerializer<B>::serialize(value.second, out);
  }
  [[nodiscard]] static bool deserialize(DataInput& in, std::pair<A, B>& value) {
    return TypeSerializer<A>::deserialize(in, value.first) &&
           TypeSerializer<B>::deserialize(in, value.second);
  }
};

template <Serializable... Ts>
struct TypeSerializer<std::tuple<Ts...>> {
  static constexpr size_t kMinSize = detail::TupleMinSize<std::tuple<Ts...>>::value;
  static void serialize(const std::tuple<Ts...>& value, DataOutput& out) {
    std::apply([&](const Ts&... element) { (TypeSerializer<Ts>::serialize(element, out), ...); },
               value);
  }
  [[nodiscard]] static bool deserialize(DataInput& in, std::tuple<Ts...>& value) {
    return std::apply(
        [&](Ts&... element) { return (TypeSerializer<Ts>::deserialize(in, element) && ...); },
        value);
  }
};

template <Serializable T, size_t N>
struct TypeSerializer<std::array<T, N>> {
  static constexpr size_t kMinSize = N * detail::minSerializedSize<T>();
  static void serialize(const std::array<T, N>& value, DataOutput& out) {
    if constexpr (detail::BulkCopyable<T>) {
      out.write(value.data(), N * sizeof(T));
    } else {
      for (const T& element : value) {
        TypeSerializer<T>::serialize(element, out);
      }
    }
  }
  [[nodiscard]] static bool deserialize(DataInput& in, std::array<T, N>& value) {
    if constexpr (detail::BulkCopyable<T>) {
      return in.read(value.data(), N * sizeof(T));
    } else {
      for (T& element : value) {
        if (!TypeSerializer<T>::deserialize(in, element)) {
          return false;
        }
      }
      return true;
    }
  }
};

template <Serializable T, class Allocator>
struct TypeSerializer<std::vector<T, Allocator>> {
  static constexpr size_t kMinSize = 1;
  static constexpr size_t kElementMinSize = detail::minSerializedSize<T>();
  static_assert(kElementMinSize > 0, "vectors of zero-byte values are not serializable");

  static void serialize(const std::vector<T, Allocator>& value, DataOutput& out) {
    out.writeVarint(value.size());
    if constexpr (detail::BulkCopyable<T>) {
      out.write(value.data(), value.size() * sizeof(T));
    } else {
      for (const auto& element : value) {  // vector<bool> yields bool values, not const T&
        TypeSerializer<T>::serialize(element, out);
      }
    }
  }

  [[nodiscard]] static bool deserialize(DataInput& in, std::vector<T, Allocator>& value) {
    size_t count = 0;
    if (!detail::readCount(in, kElementMinSize, count)) {
      return false;
    }
    // Deserialize into the existing elements, so that their memory is reused.
    value.resize(count);
    if constexpr (detail::BulkCopyable<T>) {
      return in.read(value.data(), count * sizeof(T));
    } else if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < count; ++i) {
        bool element = false;
        if (!in.readFixed(element)) {
          return false;
        }
        value[i] = element;
      }
      return true;
    } else {
      for (T& element : value) {
        if (!TypeSerializer<T>::deserialize(in, element)) {
          return false;
        }
      }
      return true;
    }
  }
};

template <Serializable T>
struct TypeSerializer<std::optional<T>> {
  static constexpr size_t kMinSize = 1;
  static void serialize(const std::optional<T>& value, DataOutput& out) {
    out.writeFixed(value.has_value());
    if (value.has_value()) {
      TypeSerializer<T>::serialize(*value, out);
    }
  }
  [[nodiscard]] static bool deserialize(DataInput& in, std::optional<T>& value) {
    bool present = false;
    if (!in.readFixed(present)) {
      return false;
    }
    if (!present) {
      value.reset();
      return true;
    }
    if (!value.has_value()) {
      value.emplace();
    }
    return TypeSerializer<T>::deserialize(in, *value);
  }
};

template <Serializable... Ts>
requires(sizeof...(Ts) > 0 && sizeof...(Ts) < 256) struct TypeSerializer<std::variant<Ts...>> {
  static constexpr size_t kMinSize = 1;
  static void serialize(const std::variant<Ts...>& value, DataOutput& out) {
    if (value.valueless_by_exception()) {
      throw std::invalid_argument("cannot serialize a valueless std::variant");
    }
    out.writeFixed(static_cast<uint8_t>(value.index()));
    std::visit(
        [&](const auto& alternative) {
          TypeSerializer<std::decay_t<decltype(alternative)>>::serialize(alternative, out);
        },
        value);
  }
  [[nodiscard]] static bool deserialize(DataInput& in, std::variant<Ts...>& value) {
    uint8_t index = 0;
    if (!in.readFixed(index) || index >= sizeof...(Ts)) return false;
    return deserializeAlternative(in, value, index, std::index_sequence_for<Ts...>{});
  }

 private:
  template <size_t... I>
  static bool deserializeAlternative(DataInput& in, std::variant<Ts...>& value, uint8_t index,
                                     std::index_sequence<I...>) {
    bool ok = false;
    ((index == I ? (ok = deserializeAs<I>(in, value), true) : false) || ...);
    return ok;
  }
  template <size_t I>
  static bool deserializeAs(DataInput& in, std::variant<Ts...>& value) {
    using Alternative = std::variant_alternative_t<I, std::variant<Ts...>>;
    if (value.index() != I) value.template emplace<I>();
    return TypeSerializer<Alternative>::deserialize(in, std::get<I>(value));
  }
};

template <Serializable K, Serializable V, class Compare, class Allocator>
struct TypeSerializer<std::map<K, V, Compare, Allocator>> {
  static constexpr size_t kMinSize = 1;
  static void serialize(const std::map<K, V, Compare, Allocator>& value, DataOutput& out) {
    detail::serializeMap(value, out);
  }
  [[nodiscard]] static bool deserialize(DataInput& in, std::map<K, V, Compare, Allocator>& value) {
    return detail::deserializeMap(in, value);
  }
};

template <Serializable K, Serializable V, class Hash, class Equal, class Allocator>
struct TypeSerializer<std::unordered_map<K, V, Hash, Equal, Allocator>> {
  using Map = std::unordered_map<K, V, Hash, Equal, Allocator>;
  static constexpr size_t kMinSize = 1;
  static void serialize(const Map& value, DataOutput& out) { detail::serializeMap(value, out); }
  [[nodiscard]] static bool deserialize(DataInput& in, Map& value) {
    return detail::deserializeMap(in, value);
  }
};

template <HasFields T>
requires detail::AllSerializable<detail::FieldsTuple<T>>::value struct TypeSerializer<T> {
  static constexpr size_t kMinSize = detail::TupleMinSize<detail::FieldsTuple<T>>::value;
  static void serialize(const T& value, DataOutput& out) {
    std::apply(
        [&](const auto&... field) {
          (TypeSerializer<std::remove_cvref_t<decltype(field)>>::serialize(field, out), ...);
        },
        value.stromFields());
  }
  [[nodiscard]] static bool deserialize(DataInput& in, T& value) {
    return std::apply(
        [&](auto&... field) {
          return (TypeSerializer<std::remove_cvref_t<decltype(field)>>::deserialize(in, field) &&
                  ...);
        },
        value.stromFields());
  }
};

}  // namespace strom
