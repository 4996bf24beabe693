#pragma once

// The timers of keyed operators (Flink's InternalTimerService heap), kept per key group.

#include <strom/detail/flat_hash_map.h>
#include <strom/fields.h>
#include <strom/key.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace strom {

/// The namespace of timers that belong to the key alone (keyed process functions).
struct VoidNamespace {
  STROM_FIELDS()  // serialized as zero bytes
  bool operator==(const VoidNamespace&) const = default;
};

template <>
struct KeyTraits<VoidNamespace> {
  static uint64_t hash(const VoidNamespace&) { return 0; }
};

namespace detail {

/// The timers of one time domain of a keyed operator: (key, namespace, time) triples, at most
/// one per triple, fired in timestamp order. A window operator uses the window as namespace.
///
/// The registered set is stored per key group, in a vector indexed by key group minus the
/// start of the operator's range, so that a snapshot can write (and a restore redistribute)
/// the timers key group by key group. A queue constructed without a range (the default) keeps
/// every timer in one group, for operators that do not need that.
///
/// Cancelled timers stay in the heap and are skipped when they reach its top. Thread contract:
/// owned and used by its task's thread only.
template <class K, class N = VoidNamespace>
class KeyedTimerQueue {
 public:
  struct Timer {
    int64_t time;
    K key;
    N ns;
  };

  KeyedTimerQueue() : registered_(1) {}
  /// A queue for the key groups `range` of `maxParallelism`.
  KeyedTimerQueue(KeyGroupRange range, int maxParallelism)
      : range_(range),
        maxParallelism_(maxParallelism),
        registered_(static_cast<size_t>(std::max(1, range.size()))) {}

  /// Add the timer (key, time) of the void namespace; return true if it was new.
  bool add(const K& key, int64_t time) { return add(key, N{}, time); }
  /// Add the timer (key, ns, time); return true if it was new.
  bool add(const K& key, const N& ns, int64_t time) {
    const uint64_t kh = keyHash(key);
    return add(key, kh, ns, time);
  }
  /// As add(key, ns, time), with the key's hash (keyHash) precomputed.
  bool add(const K& key, uint64_t keyHashValue, const N& ns, int64_t time) {
    TimerId id{key, ns, time};
    auto [slot, inserted] = groupOf(keyHashValue).tryEmplace(id, hashOf(keyHashValue, id), char{1});
    (void)slot;
    if (!inserted) return false;
    if (heap_.size() >= 2 * size_ + kCompactSlack) compact();
    heap_.push_back(HeapEntry{keyHashValue, Timer{time, key, ns}});
    siftUp(heap_.size() - 1);
    ++size_;
    return true;
  }
  void remove(const K& key, int64_t time) { remove(key, N{}, time); }
  void remove(const K& key, const N& ns, int64_t time) {
    const uint64_t kh = keyHash(key);
    TimerId id{key, ns, time};
    // The heap entry is skipped when it reaches the top.
    if (groupOf(kh).erase(id, hashOf(kh, id))) --size_;
  }
  /// Return whether the timer (key, ns, time) is registered.
  bool contains(const K& key, const N& ns, int64_t time) const {
    const uint64_t kh = keyHash(key);
    TimerId id{key, ns, time};
    return registered_[groupIndex(kh)].contains(id, hashOf(kh, id));
  }
  /// Return the earliest registered time, or INT64_MAX.
  int64_t nextTime() {
    dropCancelled();
    return heap_.empty() ? INT64_MAX : heap_.front().timer.time;
  }
  /// Pop the earliest timer if its time is <= `now`.
  std::optional<Timer> pollDue(int64_t now) {
    while (!heap_.empty() && heap_.front().timer.time <= now) {
      HeapEntry entry = popTop();
      TimerId id{entry.timer.key, entry.timer.ns, entry.timer.time};
      // One lookup: erasing tells whether the entry was live or cancelled.
      if (!groupOf(entry.keyHash).erase(id, hashOf(entry.keyHash, id))) continue;
      --size_;
      return std::move(entry.timer);
    }
    return std::nullopt;
  }
  /// Return the number of registered timers.
  size_t size() const { return size_; }
  /// Return the number of entries in the heap, cancelled ones included (for tests: it stays
  /// within twice the registered timers plus a constant).
  size_t heapEntries() const { return heap_.size(); }
  /// Call `fn(const K& key, const N& ns, int64_t time)` for every registered timer, in
  /// unspecified order (for snapshots). `fn` must not change the queue.
  template <class Fn>
  void forEachTimer(Fn&& fn) const {
    for (const FlatHashMap<TimerId, char>& group : registered_) {
      for (auto it = group.begin(); it != group.end(); ++it) {
        const TimerId& id = it.key();
        fn(id.key, id.ns, id.time);
      }
    }
  }
  /// Return the number of registered timers of `keyGroup` (in the queue's range).
  size_t sizeOfKeyGroup(int keyGroup) const {
    return registered_[static_cast<size_t>(keyGroup - range_.startKeyGroup)].size();
  }

 private:
  struct TimerId {
    K key;
    N ns;
    int64_t time;
    bool operator==(const TimerId&) const = default;
  };
  struct HeapEntry {
    uint64_t keyHash;
    Timer timer;
  };
  /// Cancelled entries the heap may hold beyond the live timers before it is compacted.
  static constexpr size_t kCompactSlack = 1024;

  /// One mix over the key's hash, the namespace's and the time: the registered set is probed
  /// several times per record by window operators.
  static uint64_t hashOf(uint64_t kh, const TimerId& id) {
    return murmurMix(kh ^ std::rotl(KeyTraits<N>::hash(id.ns), 23) ^
                     (static_cast<uint64_t>(id.time) * 0x9e3779b97f4a7c15ULL));
  }
  // A 4-ary min-heap on the time: half the levels of a binary heap, and a node's children are
  // adjacent, so a queue of many timers (a window operator holds one per key) takes fewer
  // cache misses per pop.
  static constexpr size_t kArity = 4;
  void siftUp(size_t i) {
    HeapEntry moving = std::move(heap_[i]);
    while (i > 0) {
      const size_t parent = (i - 1) / kArity;
      if (heap_[parent].timer.time <= moving.timer.time) break;
      heap_[i] = std::move(heap_[parent]);
      i = parent;
    }
    heap_[i] = std::move(moving);
  }
  void siftDown(size_t i) {
    const size_t n = heap_.size();
    HeapEntry moving = std::move(heap_[i]);
    for (;;) {
      const size_t first = i * kArity + 1;
      if (first >= n) break;
      const size_t last = std::min(first + kArity, n);
      size_t least = first;
      for (size_t c = first + 1; c < last; ++c) {
        if (heap_[c].timer.time < heap_[least].timer.time) least = c;
      }
      if (heap_[least].timer.time >= moving.timer.time) break;
      heap_[i] = std::move(heap_[least]);
      i = least;
    }
    heap_[i] = std::move(moving);
  }
  HeapEntry popTop() {
    HeapEntry top = std::move(heap_.front());
    if (heap_.size() > 1) {
      heap_.front() = std::move(heap_.back());
      heap_.pop_back();
      siftDown(0);
    } else {
      heap_.pop_back();
    }
    return top;
  }
  size_t groupIndex(uint64_t kh) const {
    if (range_.size() == 0) return 0;
    return static_cast<size_t>(keyGroupForHash(kh, maxParallelism_) - range_.startKeyGroup);
  }
  FlatHashMap<TimerId, char>& groupOf(uint64_t kh) { return registered_[groupIndex(kh)]; }
  /// Drop every cancelled entry and rebuild the heap. Called when cancelled entries outnumber
  /// the live timers, so that a queue whose timers keep moving (a session window's timer moves
  /// with every record that extends the session) stays twice its live size, not the number of
  /// timers ever registered; amortized, one set lookup per cancelled entry.
  void compact() {
    auto live = [this](const HeapEntry& entry) {
      TimerId id{entry.timer.key, entry.timer.ns, entry.timer.time};
      return registered_[groupIndex(entry.keyHash)].contains(id, hashOf(entry.keyHash, id));
    };
    heap_.erase(std::partition(heap_.begin(), heap_.end(), live), heap_.end());
    if (heap_.size() > 1) {
      for (size_t i = (heap_.size() - 2) / kArity + 1; i-- > 0;) siftDown(i);
    }
  }
  void dropCancelled() {
    while (!heap_.empty()) {
      const HeapEntry& top = heap_.front();
      TimerId id{top.timer.key, top.timer.ns, top.timer.time};
      if (registered_[groupIndex(top.keyHash)].contains(id, hashOf(top.keyHash, id))) return;
      popTop();
    }
  }

  KeyGroupRange range_;  // empty: one group for all keys
  int maxParallelism_ = kDefaultMaxParallelism;
  std::vector<HeapEntry> heap_;
  std::vector<FlatHashMap<TimerId, char>> registered_;  // by key group - range start
  size_t size_ = 0;
};

}  // namespace detail
}  // namespace strom
