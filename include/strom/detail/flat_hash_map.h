#pragma once

// An open-addressing hash map for the per-record paths of keyed state (STYLE §7.4).

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace strom::detail {

/// A flat hash map from K to V with robin-hood linear probing and backward-shift deletion
/// (no tombstones). The caller supplies each key's 64-bit hash, so a key is hashed once per
/// record however many maps it is looked up in.
///
/// Layout: one array of slots, each holding the key's full hash next to the key and the
/// value, so a probe compares hashes before keys and growth never re-hashes a key. The
/// capacity is a power of two and the load factor stays at or below 0.8; a key's home slot is
/// taken from the high bits of `hash * 2^64/phi` (Fibonacci hashing), so weak hashes (such as
/// std::hash of an integer) still spread. Hash 0 is stored as 1 because 0 marks a free slot;
/// the two then share a probe sequence, which costs a key comparison, never correctness.
///
/// Memory: a default-constructed map allocates nothing; the only allocation is on growth.
/// clear() keeps the capacity; assign a new map to release it. Pointers to values and
/// iterators are invalidated by any insertion or erasure. Move-only. Not thread-safe.
///
/// Requirements: K is equality comparable; K and V are move constructible (and should be
/// nothrow move constructible: a throwing move during a shift leaves the map broken).
template <class K, class V>
class FlatHashMap {
  struct Entry {
    K key;
    V value;
  };

  struct Slot {
    uint64_t hash;  // kFreeHash when the slot holds no entry
    union {
      Entry entry;
    };
    Slot() noexcept : hash(kFreeHash) {}
    ~Slot() {}  // the map destroys entries explicitly
  };

  static constexpr uint64_t kFreeHash = 0;
  static constexpr size_t kMinCapacity = 8;

  template <bool kConst>
  class IteratorImpl {
    using SlotPointer = std::conditional_t<kConst, const Slot*, Slot*>;
    using ValueRef = std::conditional_t<kConst, const V&, V&>;

   public:
    using iterator_concept = std::forward_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = std::pair<const K&, ValueRef>;
    using reference = value_type;
    using difference_type = std::ptrdiff_t;

    IteratorImpl() = default;
    IteratorImpl(SlotPointer slot, SlotPointer end) : slot_(slot), end_(end) { skipFree(); }

    reference operator*() const { return {slot_->entry.key, slot_->entry.value}; }
    const K& key() const { return slot_->entry.key; }
    ValueRef value() const { return slot_->entry.value; }

    IteratorImpl& operator++() {
      ++slot_;
      skipFree();
      return *this;
    }
    IteratorImpl operator++(int) {
      IteratorImpl previous = *this;
      ++*this;
      return previous;
    }
    bool operator==(const IteratorImpl& other) const { return slot_ == other.slot_; }

   private:
    void skipFree() {
      while (slot_ != end_ && slot_->hash == kFreeHash) ++slot_;
    }

    SlotPointer slot_ = nullptr;
    SlotPointer end_ = nullptr;
  };

 public:
  using key_type = K;
  using mapped_type = V;
  using iterator = IteratorImpl<false>;
  using const_iterator = IteratorImpl<true>;

  FlatHashMap() = default;
  FlatHashMap(const FlatHashMap&) = delete;
  FlatHashMap& operator=(const FlatHashMap&) = delete;
  FlatHashMap(FlatHashMap&& other) noexcept
      : slots_(std::move(other.slots_)),
        size_(std::exchange(other.size_, 0)),
        mask_(std::exchange(other.mask_, 0)),
        shift_(std::exchange(other.shift_, 64)) {}
  FlatHashMap& operator=(FlatHashMap&& other) noexcept {
    if (this != &other) {
      destroyEntries();
      slots_ = std::move(other.slots_);
      size_ = std::exchange(other.size_, 0);
      mask_ = std::exchange(other.mask_, 0);
      shift_ = std::exchange(other.shift_, 64);
    }
    return *this;
  }
  ~FlatHashMap() { destroyEntries(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Return the number of slots (0 before the first insertion).
  size_t capacity() const { return slots_ ? mask_ + 1 : 0; }

  /// Return the value of `key`, whose hash is `hash`, or nullptr.
  V* find(const K& key, uint64_t hash) {
    size_t index = findIndex(key, hash);
    return index == kNotFound ? nullptr : &slots_[index].entry.value;
  }
  const V* find(const K& key, uint64_t hash) const {
    size_t index = findIndex(key, hash);
    return index == kNotFound ? nullptr : &slots_[index].entry.value;
  }
  bool contains(const K& key, uint64_t hash) const { return findIndex(key, hash) != kNotFound; }

  /// Insert `key` with a value constructed from `args` unless the key is present. Return the
  /// value and whether it was inserted. `key` and `args` are consumed only on insertion.
  template <class... Args>
  std::pair<V*, bool> tryEmplace(const K& key, uint64_t hash, Args&&... args) {
    return emplaceImpl(key, hash, std::forward<Args>(args)...);
  }
  template <class... Args>
  std::pair<V*, bool> tryEmplace(K&& key, uint64_t hash, Args&&... args) {
    return emplaceImpl(std::move(key), hash, std::forward<Args>(args)...);
  }

  /// Erase `key`; return whether it was present.
  bool erase(const K& key, uint64_t hash) {
    size_t index = findIndex(key, hash);
    if (index == kNotFound) return false;
    eraseAt(index);
    return true;
  }

  /// Erase every entry for which `predicate(const K&, V&)` returns true, visiting each entry
  /// exactly once (in unspecified order). Return the number erased. The predicate must not
  /// touch the map.
  template <class Predicate>
  size_t eraseIf(Predicate&& predicate) {
    if (size_ == 0) return 0;
    // Start just after a free slot: backward shifts move entries only towards the slot being
    // erased and never across a free slot, so a scan from there sees every entry once.
    size_t start = 0;
    while (slots_[start].hash != kFreeHash) ++start;
    size_t erased = 0;
    for (size_t step = 1; step <= mask_ + 1; ++step) {
      size_t index = (start + step) & mask_;
      while (slots_[index].hash != kFreeHash &&
             predicate(std::as_const(slots_[index].entry.key), slots_[index].entry.value)) {
        eraseAt(index);  // the next entry of the run, if any, now sits at `index`
        ++erased;
      }
    }
    return erased;
  }

  /// Destroy all entries; keep the capacity.
  void clear() {
    destroyEntries();
    size_ = 0;
  }

  /// Make room for `count` entries without further growth.
  void reserve(size_t count) {
    size_t capacity = this->capacity();
    if (count <= maxLoad(capacity)) return;
    if (capacity == 0) capacity = kMinCapacity;
    while (count > maxLoad(capacity)) capacity *= 2;
    rehash(capacity);
  }

  iterator begin() { return iterator(slots_.get(), slots_.get() + capacity()); }
  iterator end() { return iterator(slots_.get() + capacity(), slots_.get() + capacity()); }
  const_iterator begin() const { return const_iterator(slots_.get(), slots_.get() + capacity()); }
  const_iterator end() const {
    return const_iterator(slots_.get() + capacity(), slots_.get() + capacity());
  }

 private:
  static constexpr size_t kNotFound = ~size_t{0};

  static uint64_t storedHash(uint64_t hash) { return hash == kFreeHash ? 1 : hash; }
  static size_t maxLoad(size_t capacity) { return capacity * 4 / 5; }

  size_t homeOf(uint64_t stored) const {
    return static_cast<size_t>((stored * 0x9e3779b97f4a7c15ULL) >> shift_);
  }
  // How far the entry at `index` sits from its home slot.
  size_t distanceAt(size_t index) const { return (index - homeOf(slots_[index].hash)) & mask_; }

  size_t findIndex(const K& key, uint64_t hash) const {
    if (size_ == 0) return kNotFound;
    const uint64_t stored = storedHash(hash);
    size_t index = homeOf(stored);
    for (size_t distance = 0;; ++distance, index = (index + 1) & mask_) {
      const Slot& slot = slots_[index];
      if (slot.hash == stored && slot.entry.key == key) return index;
      // Robin hood invariant: an entry of `key` would have displaced any entry closer to home.
      if (slot.hash == kFreeHash || distanceAt(index) < distance) return kNotFound;
    }
  }

  template <class KeyArg, class... Args>
  std::pair<V*, bool> emplaceImpl(KeyArg&& key, uint64_t hash, Args&&... args) {
    const uint64_t stored = storedHash(hash);
    size_t index = 0;
    if (slots_) {
      index = homeOf(stored);
      for (size_t distance = 0;; ++distance, index = (index + 1) & mask_) {
        Slot& slot = slots_[index];
        if (slot.hash == kFreeHash || distanceAt(index) < distance) break;
        if (slot.hash == stored && slot.entry.key == key) return {&slot.entry.value, false};
      }
    }
    if (size_ + 1 > maxLoad(capacity())) [[unlikely]] {
      rehash(capacity() == 0 ? kMinCapacity : capacity() * 2);
      index = insertPosition(stored);
    }
    Slot& slot = slots_[index];
    if (slot.hash == kFreeHash) {
      ::new (static_cast<void*>(&slot.entry))
          Entry{K(std::forward<KeyArg>(key)), V(std::forward<Args>(args)...)};
      slot.hash = stored;
    } else {
      // Build the entry before shifting, so that a throwing constructor leaves the map intact.
      Slot incoming;
      ::new (static_cast<void*>(&incoming.entry))
          Entry{K(std::forward<KeyArg>(key)), V(std::forward<Args>(args)...)};
      incoming.hash = stored;
      shiftRight(index);
      relocate(slot, incoming);
    }
    ++size_;
    return {&slot.entry.value, true};
  }

  // Return the slot where an absent entry with hash `stored` belongs.
  size_t insertPosition(uint64_t stored) const {
    size_t index = homeOf(stored);
    for (size_t distance = 0;; ++distance, index = (index + 1) & mask_) {
      if (slots_[index].hash == kFreeHash || distanceAt(index) < distance) return index;
    }
  }

  // Move the run of entries starting at `index` one slot to the right, freeing `index`.
  void shiftRight(size_t index) {
    size_t free = index;
    while (slots_[free].hash != kFreeHash) free = (free + 1) & mask_;
    while (free != index) {
      size_t previous = (free - 1) & mask_;
      relocate(slots_[free], slots_[previous]);
      free = previous;
    }
  }

  // Move the entry of `from` into the free slot `to`; `from` becomes free.
  static void relocate(Slot& to, Slot& from) {
    assert(to.hash == kFreeHash && from.hash != kFreeHash);
    ::new (static_cast<void*>(&to.entry)) Entry(std::move(from.entry));
    to.hash = from.hash;
    from.entry.~Entry();
    from.hash = kFreeHash;
  }

  void eraseAt(size_t index) {
    slots_[index].entry.~Entry();
    slots_[index].hash = kFreeHash;
    // Backward shift: pull the rest of the run one slot towards home.
    for (size_t next = (index + 1) & mask_; slots_[next].hash != kFreeHash && distanceAt(next) != 0;
         next = (next + 1) & mask_) {
      relocate(slots_[index], slots_[next]);
      index = next;
    }
    --size_;
  }

  void rehash(size_t newCapacity) {
    assert(newCapacity >= kMinCapacity && (newCapacity & (newCapacity - 1)) == 0);
    const size_t oldCapacity = capacity();
    std::unique_ptr<Slot[]> old = std::make_unique<Slot[]>(newCapacity);
    old.swap(slots_);
    mask_ = newCapacity - 1;
    shift_ = 64 - std::countr_zero(newCapacity);
    if (!old) return;
    for (size_t i = 0; i < oldCapacity; ++i) {
      Slot& from = old[i];
      if (from.hash == kFreeHash) continue;
      size_t index = insertPosition(from.hash);
      if (slots_[index].hash != kFreeHash) shiftRight(index);
      relocate(slots_[index], from);
    }
  }

  void destroyEntries() {
    if (!slots_ || size_ == 0) return;
    const size_t capacity = mask_ + 1;
    for (size_t i = 0; i < capacity; ++i) {
      if (slots_[i].hash != kFreeHash) {
        if constexpr (!std::is_trivially_destructible_v<Entry>) slots_[i].entry.~Entry();
        slots_[i].hash = kFreeHash;
      }
    }
  }

  std::unique_ptr<Slot[]> slots_;
  size_t size_ = 0;
  size_t mask_ = 0;  // capacity - 1, once allocated
  int shift_ = 64;   // 64 - log2(capacity)
};

}  // namespace strom::detail
