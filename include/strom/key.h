#pragma once

#include <strom/fields.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace strom {

/// Return a 64-bit hash of `size` bytes at `data` (XXH3). Stable across processes and
/// machines, so that every process assigns a key to the same key group.
uint64_t hashBytes(const void* data, size_t size);

namespace detail {
/// The 64-bit finalizer of MurmurHash3: a bijective mix of all input bits.
constexpr uint64_t murmurMix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}
constexpr uint64_t hashCombine(uint64_t seed, uint64_t h) {
  return murmurMix(seed ^ (h + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2)));
}
}  // namespace detail

/// How a key type is hashed. Specialized for integers, enums, strings, pairs, tuples and
/// STROM_FIELDS structs; specialize it for other key types. The hash must be equal for equal
/// keys and the same in every process.
template <class K, class Enable = void>
struct KeyTraits;  // not keyable unless specialized

template <class K>
struct KeyTraits<K, std::enable_if_t<std::is_integral_v<K> || std::is_enum_v<K>>> {
  static uint64_t hash(K key) {
    return detail::murmurMix(static_cast<uint64_t>(static_cast<int64_t>(key)));
  }
};

template <>
struct KeyTraits<std::string> {
  static uint64_t hash(const std::string& key) { return hashBytes(key.data(), key.size()); }
};

template <class A, class B>
struct KeyTraits<std::pair<A, B>> {
  static uint64_t hash(const std::pair<A, B>& key) {
    return detail::hashCombine(KeyTraits<A>::hash(key.first), KeyTraits<B>::hash(key.second));
  }
};

template <class... Ts>
struct KeyTraits<std::tuple<Ts...>> {
  static uint64_t hash(const std::tuple<Ts...>& key) {
    uint64_t h = 0x5354524f4dULL;  // "STROM"
    std::apply(
        [&](const auto&... field) {
          ((h = detail::hashCombine(h, KeyTraits<std::decay_t<decltype(field)>>::hash(field))),
           ...);
        },
        key);
    return h;
  }
};

template <HasFields K>
struct KeyTraits<K> {
  static uint64_t hash(const K& key) {
    uint64_t h = 0x5354524f4dULL;
    std::apply(
        [&](const auto&... field) {
          ((h = detail::hashCombine(h, KeyTraits<std::decay_t<decltype(field)>>::hash(field))),
           ...);
        },
        key.stromFields());
    return h;
  }
};

/// A type usable as a key in keyBy: hashable with KeyTraits, comparable, copyable.
template <class K>
concept Keyable = requires(const K& key) {
  { KeyTraits<K>::hash(key) } -> std::convertible_to<uint64_t>;
}
&&std::equality_comparable<K>&& std::copy_constructible<K>;

/// Return the hash of `key` (KeyTraits).
template <Keyable K>
inline uint64_t keyHash(const K& key) {
  return KeyTraits<K>::hash(key);
}

/// The default number of key groups, which bounds the parallelism of keyed operators.
inline constexpr int kDefaultMaxParallelism = 128;

/// Return the key group of a key whose hash is `hash` (DESIGN §6: a murmur mix of the key's
/// hash, modulo maxParallelism).
inline int keyGroupForHash(uint64_t hash, int maxParallelism) {
  return static_cast<int>(detail::murmurMix(hash) % static_cast<uint64_t>(maxParallelism));
}

/// Return the index of the operator subtask that owns `keyGroup` (Flink's formula, so that
/// each subtask owns a contiguous range).
inline int operatorIndexForKeyGroup(int maxParallelism, int parallelism, int keyGroup) {
  return keyGroup * parallelism / maxParallelism;
}

/// A contiguous, inclusive range of key groups [startKeyGroup, endKeyGroup]; empty when
/// end < start.
struct KeyGroupRange {
  int startKeyGroup = 0;
  int endKeyGroup = -1;

  int size() const { return endKeyGroup < startKeyGroup ? 0 : endKeyGroup - startKeyGroup + 1; }
  bool contains(int keyGroup) const { return keyGroup >= startKeyGroup && keyGroup <= endKeyGroup; }
  bool operator==(const KeyGroupRange&) const = default;

  /// Return the range owned by subtask `index` of `parallelism` (the inverse of
  /// operatorIndexForKeyGroup).
  static KeyGroupRange forOperator(int maxParallelism, int parallelism, int index) {
    int start = (index * maxParallelism + parallelism - 1) / parallelism;
    int end = ((index + 1) * maxParallelism - 1) / parallelism;
    return KeyGroupRange{start, end};
  }
};

}  // namespace strom
