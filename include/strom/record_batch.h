#pragma once

#include <strom/detail/byte_arena.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace strom {

/// The timestamp of a record that has none (Flink's "no timestamp").
inline constexpr int64_t kNoTimestamp = std::numeric_limits<int64_t>::min();

namespace detail {
/// An allocator whose value-less construct() default-initializes: resizing a vector of plain
/// values leaves them uninitialized instead of zeroing them first (the caller writes them).
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
}  // namespace detail

/// A batch of records of type T, the unit in which records move between operators: one
/// virtual call per batch per operator (STYLE §7). Values and timestamps are stored as two
/// arrays; the timestamp array exists only once a record with a timestamp was added, so a
/// stream without event time pays nothing for it.
///
/// A batch is owned by the Output that fills it and is reused: clear() keeps its capacity.
/// A consumer's processBatch may move records out of the batch it is given.
///
/// Records with std::string_view fields keep their bytes in the batch's arena() (sources copy
/// into it, record readers deserialize into it), valid until the batch is cleared: while the
/// batch is processed downstream. An operator that keeps such a record beyond its batch (in
/// state, in a window) must keep an owned copy.
template <class T>
class RecordBatch {
 public:
  RecordBatch() = default;
  explicit RecordBatch(size_t capacity) { reserve(capacity); }

  size_t size() const { return values_.size(); }
  bool empty() const { return values_.empty(); }
  bool hasTimestamps() const { return !timestamps_.empty(); }

  T& operator[](size_t i) { return values_[i]; }
  const T& operator[](size_t i) const { return values_[i]; }
  std::span<T> values() { return values_; }
  std::span<const T> values() const { return values_; }
  /// Return the timestamp of record `i`, or kNoTimestamp.
  int64_t timestamp(size_t i) const { return timestamps_.empty() ? kNoTimestamp : timestamps_[i]; }
  /// Return the timestamps, one per record, for assigning them in place (records without one
  /// hold kNoTimestamp).
  std::span<int64_t> mutableTimestamps() {
    if (timestamps_.size() != values_.size()) timestamps_.resize(values_.size(), kNoTimestamp);
    return timestamps_;
  }

  auto begin() { return values_.begin(); }
  auto end() { return values_.end(); }
  auto begin() const { return values_.begin(); }
  auto end() const { return values_.end(); }

  void push(T&& value, int64_t timestamp = kNoTimestamp) {
    values_.push_back(std::move(value));
    noteTimestamp(timestamp);
  }
  void push(const T& value, int64_t timestamp = kNoTimestamp) {
    values_.push_back(value);
    noteTimestamp(timestamp);
  }
  /// Append a default-constructed record and return it (deserializers fill it in place).
  T& emplaceDefault(int64_t timestamp = kNoTimestamp) {
    T& slot = values_.emplace_back();
    noteTimestamp(timestamp);
    return slot;
  }
  /// Remove the last record (a deserializer that failed on it).
  void popBack() {
    values_.pop_back();
    if (!timestamps_.empty()) timestamps_.pop_back();
  }
  /// Append `count` records without timestamps, record i being `generate(i)`. One capacity
  /// check for all of them, so sources of plain values fill a batch in a tight loop.
  template <class Generate>
  void appendGenerated(size_t count, Generate&& generate) {
    size_t old = values_.size();
    values_.resize(old + count);
    T* out = values_.data() + old;
    for (size_t i = 0; i < count; ++i) out[i] = generate(i);
    if (!timestamps_.empty()) timestamps_.resize(old + count, kNoTimestamp);
  }
  /// Keep only the records for which `keep(record)` is true, in order, in place.
  template <class Keep>
  void retainIf(Keep&& keep) {
    size_t kept = 0;
    size_t n = values_.size();
    if (timestamps_.empty()) {
      if constexpr (std::is_trivially_copyable_v<T>) {
        // Branch-free compaction: every record is copied, only kept ones advance.
        T* v = values_.data();
        for (size_t i = 0; i < n; ++i) {
          T value = v[i];
          bool k = static_cast<bool>(keep(static_cast<const T&>(value)));
          v[kept] = value;
          kept += k;
        }
      } else {
        for (size_t i = 0; i < n; ++i) {
          if (!keep(static_cast<const T&>(values_[i]))) continue;
          if (kept != i) values_[kept] = std::move(values_[i]);
          ++kept;
        }
      }
    } else {
      for (size_t i = 0; i < n; ++i) {
        if (!keep(static_cast<const T&>(values_[i]))) continue;
        if (kept != i) {
          values_[kept] = std::move(values_[i]);
          timestamps_[kept] = timestamps_[i];
        }
        ++kept;
      }
      timestamps_.resize(kept);
    }
    values_.erase(values_.begin() + static_cast<std::ptrdiff_t>(kept), values_.end());
  }
  void reserve(size_t capacity) { values_.reserve(capacity); }
  void clear() {
    values_.clear();
    timestamps_.clear();
    arena_.reset();
  }

  /// The bytes that std::string_view fields of this batch's records point into.
  detail::ByteArena& arena() { return arena_; }
  /// Replace the contents with a copy of `other` (used when one output feeds several
  /// chained consumers, each of which may move records out). Views in the copy still point
  /// into `other`'s arena, so `other` must not be cleared while the copy is in use.
  void copyFrom(const RecordBatch& other) {
    values_ = other.values_;
    timestamps_ = other.timestamps_;
  }

 private:
  void noteTimestamp(int64_t timestamp) {
    if (timestamp != kNoTimestamp) {
      if (timestamps_.empty()) timestamps_.assign(values_.size() - 1, kNoTimestamp);
      timestamps_.push_back(timestamp);
    } else if (!timestamps_.empty()) {
      timestamps_.push_back(kNoTimestamp);
    }
  }

  std::vector<T, detail::DefaultInitAllocator<T>> values_;
  std::vector<int64_t> timestamps_;  // empty, or one per value
  detail::ByteArena arena_;
};

}  // namespace strom
