#pragma once

// The timers of keyed operators (Flink's InternalTimerService heap), kept per key group.

#include <strom/detail/flat_hash_map.h>
#include <strom/detail/keyed_state_store.h>
#include <strom/fields.h>
#include <strom/key.h>
#include <strom/type_serializer.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
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
/// Cancelled timers stay in the heap and are skipped when they reach its top.
///
/// Store mode (the RocksDB backend, attachStore()): the timers live in a column of the keyed
/// state store, and memory holds, per key group, the earliest ones only, Flink's RocksDB timer
/// service with its cached head. Each key group's timers in the store are ordered by
/// (time, key, namespace) bytes (keyed_state_store.h); the queue holds in memory every timer of
/// a key group below that group's spill point, and none at or after it. A timer added below
/// the spill point goes into memory, one at or after it straight into the store. When more
/// than `maxResident` timers are in memory, the later half goes to the store (the spill point
/// moves down); when the earliest timer in memory is later than some group's spill point (or
/// memory is empty), that group's next timers are read back (the spill point moves up). A
/// timer in memory is written to the store only when spilled or at a checkpoint
/// (flushToStore()), so a timer that fires between checkpoints, as most window timers do,
/// never touches the store. Store errors throw std::runtime_error naming the queue (the task
/// fails over).
///
/// Thread contract: owned and used by its task's thread only.
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
  /// In store mode, a timer past the memory's spill point returns true even if it was there.
  bool add(const K& key, uint64_t keyHashValue, const N& ns, int64_t time) {
    if (store_ != nullptr) [[unlikely]] {
      return addStored(key, keyHashValue, ns, time);
    }
    return addInMemory(groupIndex(keyHashValue), keyHashValue, key, ns, time);
  }
  void remove(const K& key, int64_t time) { remove(key, N{}, time); }
  void remove(const K& key, const N& ns, int64_t time) {
    const uint64_t kh = keyHash(key);
    if (store_ != nullptr) [[unlikely]] {
      removeStored(key, kh, ns, time);
      return;
    }
    TimerId id{key, ns, time};
    // The heap entry is skipped when it reaches the top.
    if (groupOf(kh).erase(id, hashOf(kh, id))) --size_;
  }
  /// Return whether the timer (key, ns, time) is registered.
  bool contains(const K& key, const N& ns, int64_t time) const {
    const uint64_t kh = keyHash(key);
    if (store_ != nullptr && !belowSpillPoint(groupIndex(kh), key, ns, time)) {
      std::string value;
      Result<bool> found = store_->get(column_, scratch_, value);
      if (!found.isOk()) throwStoreError(found.status());
      return *found;
    }
    TimerId id{key, ns, time};
    return registered_[groupIndex(kh)].contains(id, hashOf(kh, id));
  }
  /// Return the earliest registered time, or INT64_MAX.
  int64_t nextTime() {
    if (store_ != nullptr) [[unlikely]] {
      readBackBefore(std::numeric_limits<int64_t>::max());
    }
    dropCancelled();
    return heap_.empty() ? INT64_MAX : heap_.front().timer.time;
  }
  /// Pop the earliest timer if its time is <= `now`.
  std::optional<Timer> pollDue(int64_t now) {
    if (store_ != nullptr) [[unlikely]] {
      return pollDueStored(now);
    }
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
  /// Return the number of registered timers (in store mode, of those in memory).
  size_t size() const { return size_; }
  /// Return the number of entries in the heap, cancelled ones included (for tests: it stays
  /// within twice the registered timers plus a constant).
  size_t heapEntries() const { return heap_.size(); }
  /// Call `fn(const K& key, const N& ns, int64_t time)` for every registered timer, in
  /// unspecified order (for snapshots; in store mode, the timers in memory). `fn` must not
  /// change the queue.
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

  // ---- Store mode ------------------------------------------------------------------------

  /// Keep the timers in `column` (a StoredStateSpec::Layout::kTimers column) of `store` (not
  /// owned; it must outlive the queue), about `maxResident` of them in memory. Call before any
  /// timer is added, on a queue constructed with a key-group range. `name` names the queue in
  /// errors. The store holds no timer of the queue yet (see storeMayHoldTimers()).
  void attachStore(KeyedStateStore& store, uint32_t column, size_t maxResident,
                   std::string name) requires(Serializable<K>&& Serializable<N>) {
    assert(size_ == 0 && range_.size() > 0);
    store_ = &store;
    column_ = column;
    maxResident_ = std::max(maxResident, kMinResident);
    name_ = std::move(name);
    spill_.assign(registered_.size(), SpillPoint{});
    minSpillGroup_ = -1;
  }
  bool inStore() const { return store_ != nullptr; }
  /// Store mode: the store was restored and may hold timers of every key group; they are read
  /// back as they come due.
  void storeMayHoldTimers() {
    for (size_t g = 0; g < spill_.size(); ++g) {
      SpillPoint& point = spill_[g];
      point.none = false;
      point.time = std::numeric_limits<int64_t>::min();
      point.key.clear();
      appendKeyGroup(groupKeyGroup(g), point.key);  // below every timer of the group
    }
    recomputeMinSpill();
  }
  /// Store mode: write the timers only in memory to the store and commit (before the store's
  /// checkpoint is taken). IOError from the store.
  Status flushToStore() {
    if (store_ == nullptr) return Status::ok();
    if constexpr (Serializable<K> && Serializable<N>) {
      for (size_t g = 0; g < registered_.size(); ++g) {
        for (auto it = registered_[g].begin(); it != registered_[g].end(); ++it) {
          if (it.value() != kMemoryOnly) continue;
          const TimerId& id = it.key();
          encodeStoreKey(g, id.key, id.ns, id.time, scratch_);
          store_->put(column_, scratch_, {});
          it.value() = kInStore;
        }
      }
    }
    pendingWrites_ = 0;
    return store_->commit();
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
  // A registered timer's flag: only in memory, or in the store too (store mode).
  static constexpr char kMemoryOnly = 1;
  static constexpr char kInStore = 2;
  // Store mode: the least memory bound, the least number of timers read back at once, and the
  // buffered store writes after which the queue commits.
  static constexpr size_t kMinResident = 64;
  static constexpr size_t kMinReadBack = 256;
  static constexpr size_t kCommitEvery = 4096;
  static constexpr size_t kStoreKeyHeader = 10;  // keyGroup:u16be time:u64be

  /// Store mode: where a key group's timers stop being in memory. `none`: all of them are.
  /// Otherwise every timer whose store key is below `key` is in memory and none at or above it
  /// is; `time` is the time in `key`.
  struct SpillPoint {
    bool none = true;
    int64_t time = 0;
    std::string key;
  };

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
  /// Register the timer in memory, in group `g` of key hash `kh` (flag kMemoryOnly), and push
  /// it on the heap. Return false if it was registered already.
  bool addInMemory(size_t g, uint64_t kh, const K& key, const N& ns, int64_t time) {
    TimerId id{key, ns, time};
    auto [slot, inserted] = registered_[g].tryEmplace(id, hashOf(kh, id), kMemoryOnly);
    (void)slot;
    if (!inserted) return false;
    if (heap_.size() >= 2 * size_ + kCompactSlack) compact();
    heap_.push_back(HeapEntry{kh, Timer{time, key, ns}});
    siftUp(heap_.size() - 1);
    ++size_;
    return true;
  }
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

  // ---- Store mode ------------------------------------------------------------------------

  int groupKeyGroup(size_t g) const { return range_.startKeyGroup + static_cast<int>(g); }
  static void appendKeyGroup(int keyGroup, std::string& out) {
    out.push_back(static_cast<char>((keyGroup >> 8) & 0xff));
    out.push_back(static_cast<char>(keyGroup & 0xff));
  }
  // keyGroup:u16be time:u64be (sign bit flipped) key namespace, into `out`.
  void encodeStoreKey(size_t g, const K& key, const N& ns, int64_t time, std::string& out) const {
    if constexpr (Serializable<K> && Serializable<N>) {
      out.clear();
      appendKeyGroup(groupKeyGroup(g), out);
      const uint64_t ordered = static_cast<uint64_t>(time) ^ (uint64_t{1} << 63);
      for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((ordered >> shift) & 0xff));
      }
      DataOutput data(out);
      TypeSerializer<K>::serialize(key, data);
      TypeSerializer<N>::serialize(ns, data);
    }
  }
  static int64_t timeOfStoreKey(std::string_view key) {
    uint64_t ordered = 0;
    for (size_t i = 2; i < kStoreKeyHeader; ++i) {
      ordered = (ordered << 8) | static_cast<uint8_t>(key[i]);
    }
    return static_cast<int64_t>(ordered ^ (uint64_t{1} << 63));
  }
  // Whether the timer is below its group's spill point (then it is in memory if registered).
  // Leaves its store key in scratch_ when it had to encode it, and always when it returns false.
  bool belowSpillPoint(size_t g, const K& key, const N& ns, int64_t time) const {
    const SpillPoint& point = spill_[g];
    if (point.none) return true;
    if (time != point.time) {
      if (time < point.time) return true;
      encodeStoreKey(g, key, ns, time, scratch_);
      return false;
    }
    encodeStoreKey(g, key, ns, time, scratch_);
    return scratch_ < point.key;
  }
  [[noreturn]] void throwStoreError(const Status& status) const {
    throw std::runtime_error("timers '" + name_ + "': " + status.toString());
  }
  void commitStore() {
    pendingWrites_ = 0;
    Status status = store_->commit();
    if (!status.isOk()) throwStoreError(status);
  }
  void notePendingWrite() {
    if (++pendingWrites_ >= kCommitEvery) commitStore();
  }
  void recomputeMinSpill() {
    minSpillGroup_ = -1;
    for (size_t g = 0; g < spill_.size(); ++g) {
      if (spill_[g].none) continue;
      if (minSpillGroup_ < 0 || spill_[g].time < spill_[static_cast<size_t>(minSpillGroup_)].time) {
        minSpillGroup_ = static_cast<int>(g);
      }
    }
  }

  bool addStored(const K& key, uint64_t kh, const N& ns, int64_t time) {
    const size_t g = groupIndex(kh);
    if (!belowSpillPoint(g, key, ns, time)) {
      store_->put(column_, scratch_, {});
      notePendingWrite();
      return true;
    }
    if (!addInMemory(g, kh, key, ns, time)) return false;
    if (size_ > maxResident_) spill();
    return true;
  }
  void removeStored(const K& key, uint64_t kh, const N& ns, int64_t time) {
    const size_t g = groupIndex(kh);
    if (!belowSpillPoint(g, key, ns, time)) {
      store_->remove(column_, scratch_);
      notePendingWrite();
      return;
    }
    TimerId id{key, ns, time};
    const uint64_t h = hashOf(kh, id);
    const char* flag = registered_[g].find(id, h);
    if (flag == nullptr) return;
    if (*flag == kInStore) {
      encodeStoreKey(g, key, ns, time, scratch_);
      store_->remove(column_, scratch_);
      notePendingWrite();
    }
    registered_[g].erase(id, h);
    --size_;
  }
  std::optional<Timer> pollDueStored(int64_t now) {
    for (;;) {
      readBackBefore(now);
      if (heap_.empty() || heap_.front().timer.time > now) return std::nullopt;
      HeapEntry entry = popTop();
      const size_t g = groupIndex(entry.keyHash);
      TimerId id{entry.timer.key, entry.timer.ns, entry.timer.time};
      const uint64_t h = hashOf(entry.keyHash, id);
      const char* flag = registered_[g].find(id, h);
      if (flag == nullptr) continue;  // cancelled
      if (*flag == kInStore) {
        encodeStoreKey(g, id.key, id.ns, id.time, scratch_);
        store_->remove(column_, scratch_);
        notePendingWrite();
      }
      registered_[g].erase(id, h);
      --size_;
      return std::move(entry.timer);
    }
  }
  // Read back timers until the earliest in memory is no later than every spilled one, or every
  // spilled one is later than `limit`.
  void readBackBefore(int64_t limit) {
    while (minSpillGroup_ >= 0) {
      dropCancelled();
      const SpillPoint& point = spill_[static_cast<size_t>(minSpillGroup_)];
      if (point.time > limit) return;
      if (!heap_.empty() && heap_.front().timer.time <= point.time) return;
      readBack(static_cast<size_t>(minSpillGroup_));
    }
  }
  // Read the next timers of group `g` from its spill point into memory, and move the point up.
  void readBack(size_t g) {
    if constexpr (Serializable<K> && Serializable<N>) {
      commitStore();  // the scan sees committed writes only
      SpillPoint& point = spill_[g];
      const std::string from = std::move(point.key);
      std::string prefix;
      appendKeyGroup(groupKeyGroup(g), prefix);
      const size_t budget = std::max(kMinReadBack, maxResident_ / 8);
      size_t loaded = 0;
      bool more = false;
      std::string corrupt;  // why a stored timer does not decode
      Status status =
          store_->scanFrom(column_, prefix, from, [&](std::string_view storeKey, std::string_view) {
            if (loaded == budget) {
              more = true;
              point.key.assign(storeKey);
              return false;
            }
            TimerId id{K{}, N{}, 0};
            DataInput in(storeKey.substr(std::min(storeKey.size(), kStoreKeyHeader)));
            if (storeKey.size() < kStoreKeyHeader || !TypeSerializer<K>::deserialize(in, id.key) ||
                !TypeSerializer<N>::deserialize(in, id.ns) || in.remaining() != 0) {
              corrupt = "a stored timer does not decode";
              return false;
            }
            id.time = timeOfStoreKey(storeKey);
            const uint64_t kh = keyHash(id.key);
            if (groupIndex(kh) != g) {
              corrupt = "a stored timer of key group " + std::to_string(groupKeyGroup(g)) +
                        " has a key of another group";
              return false;
            }
            auto [slot, inserted] = registered_[g].tryEmplace(id, hashOf(kh, id), kInStore);
            if (inserted) {
              heap_.push_back(HeapEntry{kh, Timer{id.time, std::move(id.key), std::move(id.ns)}});
              siftUp(heap_.size() - 1);
              ++size_;
            } else {
              *slot = kInStore;
            }
            ++loaded;
            return true;
          });
      if (!status.isOk()) throwStoreError(status);
      if (!corrupt.empty()) throwStoreError(Status::corruption(corrupt));
      point.none = !more;
      if (more) {
        point.time = timeOfStoreKey(point.key);
      } else {
        point.key.clear();
      }
      recomputeMinSpill();
    }
  }
  // Keep the earliest half of maxResident_ timers in memory; write the others to the store
  // (those not there yet) and move the spill points of their groups down.
  void spill() {
    compact();  // the heap holds the live timers only
    const size_t keep = maxResident_ / 2;
    const size_t n = heap_.size();
    if (n <= keep) return;
    std::vector<int64_t> times(n);
    for (size_t i = 0; i < n; ++i) times[i] = heap_[i].timer.time;
    std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(keep), times.end());
    const int64_t cutoff = times[keep];
    // Below the cutoff time: kept. After it: spilled. At it: in store-key order, kept until
    // `keep` timers are.
    size_t below = 0;
    std::vector<std::pair<std::string, size_t>> ties;  // (store key, heap index)
    for (size_t i = 0; i < n; ++i) {
      const HeapEntry& entry = heap_[i];
      if (entry.timer.time < cutoff) {
        ++below;
      } else if (entry.timer.time == cutoff) {
        encodeStoreKey(groupIndex(entry.keyHash), entry.timer.key, entry.timer.ns, cutoff,
                       scratch_);
        ties.emplace_back(scratch_, i);
      }
    }
    std::sort(ties.begin(), ties.end());
    std::vector<char> spilled(n, 0);
    for (size_t i = 0; i < n; ++i) spilled[i] = heap_[i].timer.time > cutoff ? 1 : 0;
    for (size_t t = keep - below; t < ties.size(); ++t) spilled[ties[t].second] = 1;

    std::vector<HeapEntry> kept;
    kept.reserve(keep + 1);
    for (size_t i = 0; i < n; ++i) {
      HeapEntry& entry = heap_[i];
      if (!spilled[i]) {
        kept.push_back(std::move(entry));
        continue;
      }
      const size_t g = groupIndex(entry.keyHash);
      TimerId id{entry.timer.key, entry.timer.ns, entry.timer.time};
      const uint64_t h = hashOf(entry.keyHash, id);
      const char* flag = registered_[g].find(id, h);
      encodeStoreKey(g, id.key, id.ns, id.time, scratch_);
      if (*flag == kMemoryOnly) store_->put(column_, scratch_, {});
      registered_[g].erase(id, h);
      --size_;
      SpillPoint& point = spill_[g];
      if (point.none || scratch_ < point.key) {
        point.none = false;
        point.time = id.time;
        point.key = scratch_;
      }
    }
    heap_ = std::move(kept);
    if (heap_.size() > 1) {
      for (size_t i = (heap_.size() - 2) / kArity + 1; i-- > 0;) siftDown(i);
    }
    commitStore();
    recomputeMinSpill();
  }

  KeyGroupRange range_;  // empty: one group for all keys
  int maxParallelism_ = kDefaultMaxParallelism;
  std::vector<HeapEntry> heap_;
  std::vector<FlatHashMap<TimerId, char>> registered_;  // by key group - range start; a flag
  size_t size_ = 0;

  // Store mode.
  KeyedStateStore* store_ = nullptr;  // not owned; null: heap mode
  uint32_t column_ = 0;
  size_t maxResident_ = 0;
  std::string name_;               // for errors
  std::vector<SpillPoint> spill_;  // by key group - range start
  int minSpillGroup_ = -1;         // the group with the earliest spill point, -1: none
  size_t pendingWrites_ = 0;       // store writes since the last commit
  mutable std::string scratch_;    // a store key, reused
};

}  // namespace detail
}  // namespace strom
