// One conformance suite for both keyed-state backends: every state kind, TTL, timers, snapshot
// and restore, and rescaling 2 → 3 → 1, run against the heap backend and against the RocksDB
// backend (a bounded cache over a real RocksDB store, state/rocksdb/). Each test checks what the
// public state API reads, so both backends must give identical results.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <strom/detail/keyed_state_backend.h>
#include <strom/detail/keyed_state_snapshot.h>
#include <strom/detail/timer_queue.h>
#include <strom/state.h>
#include <strom/window_types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "state/rocksdb/rocksdb_keyed_store.h"
#include "state/rocksdb/rocksdb_resources.h"
#include "testutil/status_matchers.h"

namespace strom {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr int kMaxParallelism = 128;

enum class Backend { kHeap, kRocksDb };

std::string backendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kHeap ? "Heap" : "RocksDb";
}

struct SumAggregate {
  int64_t createAccumulator() { return 0; }
  int64_t add(const int64_t& value, int64_t accumulator) { return accumulator + value; }
  std::string getResult(const int64_t& accumulator) { return "sum" + std::to_string(accumulator); }
  int64_t merge(int64_t a, int64_t b) { return a + b; }
};

// A temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "strom-conformance-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// What one operator instance snapshotted: the keyed-state snapshot and, for RocksDB, the
// directory of its RocksDB checkpoint.
struct Snapshot {
  std::string bytes;
  fs::path rocksDbFiles;
  KeyGroupRange range;
};

// The states of one operator instance, on either backend: one of each kind, states with TTL,
// and two timer queues.
class Instance {
 public:
  Instance(Backend backend, const fs::path& workDir, KeyGroupRange range,
           const std::vector<Snapshot>& restoreFrom = {}, size_t maxCachedKeys = 5)
      : backend_(range, kMaxParallelism),
        eventTimers_(range, kMaxParallelism),
        windowTimers_(range, kMaxParallelism),
        snapshotter_(backend_),
        workDir_(workDir) {
    if (backend == Backend::kRocksDb) {
      fs::create_directories(workDir);
      static std::shared_ptr<state::RocksDbResources> resources =
          state::RocksDbResources::create(uint64_t{64} << 20, 0.5);
      state::RocksDbStoreOptions options;
      options.directory = workDir / "db";
      options.keyGroupRange = range;
      options.maxParallelism = kMaxParallelism;
      options.resources = resources;
      options.maxCachedKeys = maxCachedKeys;
      // The tests' TTL times are small numbers, not epoch ms: the store's compaction filter
      // reads the same clock as the reads (restores compact the key groups they drop).
      options.clock = [] { return int64_t{1050}; };
      for (const Snapshot& snapshot : restoreFrom) {
        const KeyGroupRange& theirs = snapshot.range;
        if (snapshot.rocksDbFiles.empty() || theirs.endKeyGroup < range.startKeyGroup ||
            theirs.startKeyGroup > range.endKeyGroup) {
          continue;  // a heap snapshot, or not ours
        }
        options.restore.push_back(
            state::RocksDbRestoreSource{snapshot.rocksDbFiles, theirs, snapshot.rocksDbFiles});
      }
      auto store = state::RocksDbKeyedStore::open(std::move(options));
      EXPECT_OK(store.status());
      store_ = std::move(store).value();
      backend_.attachStore(*store_, store_->maxCachedKeys());
    }
    value = &backend_.getState(ValueStateDescriptor<int64_t>("value"));
    list = &backend_.getListState(ListStateDescriptor<std::string>("list"));
    map = &backend_.getMapState(MapStateDescriptor<std::string, int64_t>("map"));
    reducing = &backend_.getReducingState(ReducingStateDescriptor<int64_t>(
        "reducing", [](const int64_t& a, const int64_t& b) { return a + b; }));
    aggregating = &backend_.getAggregatingState(
        AggregatingStateDescriptor<int64_t, int64_t, std::string>("aggregating", SumAggregate{}));
    const StateTtlConfig ttl = StateTtlConfig::newBuilder(std::chrono::milliseconds(100)).build();
    ValueStateDescriptor<std::string> ttlValueDescriptor("ttl-value");
    ttlValueDescriptor.enableTimeToLive(ttl);
    ttlValue = &backend_.getState(ttlValueDescriptor);
    ListStateDescriptor<int64_t> ttlListDescriptor("ttl-list");
    ttlListDescriptor.enableTimeToLive(ttl);
    ttlList = &backend_.getListState(ttlListDescriptor);
    MapStateDescriptor<int64_t, std::string> ttlMapDescriptor("ttl-map");
    ttlMapDescriptor.enableTimeToLive(ttl);
    ttlMap = &backend_.getMapState(ttlMapDescriptor);
    snapshotter_.addTimerQueue("event", eventTimers_);
    snapshotter_.addTimerQueue("window", windowTimers_);
    if (!restoreFrom.empty()) {
      std::vector<KeyedStateSnapshotInput> inputs;
      for (size_t i = 0; i < restoreFrom.size(); ++i) {
        const KeyGroupRange& theirs = restoreFrom[i].range;
        if (theirs.endKeyGroup < range.startKeyGroup || theirs.startKeyGroup > range.endKeyGroup) {
          continue;
        }
        inputs.push_back({"subtask-" + std::to_string(i), restoreFrom[i].bytes});
      }
      EXPECT_OK(snapshotter_.restore(inputs));
    }
  }

  HeapKeyedStateBackend<int64_t>& backend() { return backend_; }
  detail::KeyedTimerQueue<int64_t>& eventTimers() { return eventTimers_; }
  detail::KeyedTimerQueue<int64_t, TimeWindow>& windowTimers() { return windowTimers_; }
  bool owns(int64_t key) const {
    return backend_.keyGroupRange().contains(keyGroupForHash(keyHash(key), kMaxParallelism));
  }
  void setKey(int64_t key) { backend_.setCurrentKey(key); }
  // What an operator does between batches: bound the cache (RocksDB).
  void betweenBatches() { ASSERT_OK(backend_.maybeEvictCache()); }
  // Everything out of memory and back from the store (RocksDB); nothing for the heap.
  void evict() { ASSERT_OK(backend_.evictCache()); }

  Snapshot snapshot(const fs::path& directory) {
    Snapshot snapshot;
    snapshot.range = backend_.keyGroupRange();
    EXPECT_OK(snapshotter_.flushToStore());
    auto bytes = snapshotter_.snapshot();
    EXPECT_OK(bytes.status());
    snapshot.bytes = std::move(bytes).value();
    if (store_ != nullptr) {
      snapshot.rocksDbFiles = directory;
      auto local = store_->checkpoint(directory);
      EXPECT_OK(local.status());
    }
    return snapshot;
  }

  ValueState<int64_t>* value = nullptr;
  ListState<std::string>* list = nullptr;
  MapState<std::string, int64_t>* map = nullptr;
  ReducingState<int64_t>* reducing = nullptr;
  AggregatingState<int64_t, std::string>* aggregating = nullptr;
  ValueState<std::string>* ttlValue = nullptr;
  ListState<int64_t>* ttlList = nullptr;
  MapState<int64_t, std::string>* ttlMap = nullptr;

 private:
  std::unique_ptr<state::RocksDbKeyedStore> store_;  // outlives the states below it
  HeapKeyedStateBackend<int64_t> backend_;
  detail::KeyedTimerQueue<int64_t> eventTimers_;
  detail::KeyedTimerQueue<int64_t, TimeWindow> windowTimers_;
  KeyedStateSnapshotter<int64_t> snapshotter_;
  fs::path workDir_;
};

// Write state of every kind for the keys of [first, last) the instance owns, at time 1000 + key
// for the TTL states, and timers; `round` changes the values.
void fill(Instance& op, int64_t first, int64_t last, int round = 0) {
  for (int64_t key = first; key < last; ++key) {
    if (!op.owns(key)) continue;
    op.backend().setCurrentTime(1000 + key);
    op.setKey(key);
    op.value->update(key + round);
    if (key % 2 == 0) op.list->add("l" + std::to_string(key + round));
    if (key % 3 == 0) op.map->put("m" + std::to_string(key), key * 10 + round);
    if (key % 3 == 0) op.map->put("n", -key);
    op.reducing->add(key);
    op.reducing->add(1);
    if (key % 4 == 0) op.aggregating->add(key);
    if (key % 5 == 0) op.ttlValue->update("ttl" + std::to_string(key));
    if (key % 5 == 1) op.ttlList->add(key);
    if (key % 5 == 2) op.ttlMap->put(key, "t" + std::to_string(key));
    op.eventTimers().add(key, 5000 + key);
    if (key % 2 == 1) op.windowTimers().add(key, TimeWindow{key, key + 10}, key + 9);
    if (key % 7 == 0) op.betweenBatches();
  }
  op.backend().clearCurrentKey();
}

using Contents = std::map<int64_t, std::string>;

// Everything each key of [first, last) holds, as the public API reads it at `now`.
Contents readAll(Instance& op, int64_t first, int64_t last, int64_t now = 1050) {
  Contents contents;
  op.backend().setCurrentTime(now);
  for (int64_t key = first; key < last; ++key) {
    if (!op.owns(key)) continue;
    op.setKey(key);
    std::string text;
    if (auto value = op.value->value()) text += "value=" + std::to_string(*value) + ";";
    for (const std::string& element : op.list->get()) text += "list:" + element + ";";
    std::map<std::string, int64_t> sortedMap;
    for (const auto& [mapKey, mapValue] : op.map->entries()) sortedMap[mapKey] = mapValue;
    for (const auto& [mapKey, mapValue] : sortedMap) {
      text += "map:" + mapKey + "=" + std::to_string(mapValue) + ";";
    }
    if (auto reduced = op.reducing->get()) text += "reducing=" + std::to_string(*reduced) + ";";
    if (auto aggregate = op.aggregating->get()) text += "aggregating=" + *aggregate + ";";
    if (auto ttl = op.ttlValue->value()) text += "ttl=" + *ttl + ";";
    for (int64_t element : op.ttlList->get()) text += "ttl-list:" + std::to_string(element) + ";";
    for (const auto& [mapKey, mapValue] : op.ttlMap->entries()) {
      text += "ttl-map:" + std::to_string(mapKey) + "=" + mapValue + ";";
    }
    if (op.eventTimers().contains(key, VoidNamespace{}, 5000 + key)) text += "timer;";
    if (op.windowTimers().contains(key, TimeWindow{key, key + 10}, key + 9)) {
      text += "window-timer;";
    }
    if (!text.empty()) contents[key] = text;
    if (key % 7 == 0) op.betweenBatches();
  }
  op.backend().clearCurrentKey();
  return contents;
}

class StateBackendConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  std::unique_ptr<Instance> make(KeyGroupRange range, const std::vector<Snapshot>& restore = {},
                                 size_t maxCachedKeys = 5) {
    const fs::path dir = temp_.path() / ("instance-" + std::to_string(instances_++));
    fs::create_directories(dir);
    return std::make_unique<Instance>(GetParam(), dir, range, restore, maxCachedKeys);
  }
  fs::path snapshotDir() { return temp_.path() / ("snapshot-" + std::to_string(snapshots_++)); }

  TempDir temp_;
  int instances_ = 0;
  int snapshots_ = 0;
};

const KeyGroupRange kAll{0, kMaxParallelism - 1};

TEST_P(StateBackendConformanceTest, valueStateReadsWritesAndClears) {
  auto op = make(kAll);
  op->setKey(7);
  EXPECT_EQ(op->value->value(), std::nullopt);
  EXPECT_EQ(op->value->valuePtr(), nullptr);
  op->value->update(70);
  op->setKey(8);
  op->value->update(80);
  op->evict();
  op->setKey(7);
  EXPECT_EQ(op->value->value(), 70);
  *op->value->valuePtrForUpdate() += 1;  // an in-place update is written back too
  op->evict();
  op->setKey(7);
  EXPECT_EQ(op->value->value(), 71);
  op->value->clear();
  op->evict();
  op->setKey(7);
  EXPECT_EQ(op->value->value(), std::nullopt);
  op->setKey(8);
  EXPECT_EQ(op->value->value(), 80);
}

TEST_P(StateBackendConformanceTest, listStateAppendsWithoutReadingAndReplaces) {
  auto op = make(kAll);
  op->setKey(1);
  op->list->add("a");
  op->list->addAll({"b", "c"});
  op->evict();  // RocksDB: the appends are merged into a list never read
  op->setKey(1);
  op->list->add("d");
  op->evict();
  op->setKey(1);
  EXPECT_THAT(op->list->get(), ElementsAre("a", "b", "c", "d"));
  op->list->add("e");  // after a read: appended in memory
  EXPECT_THAT(op->list->get(), ElementsAre("a", "b", "c", "d", "e"));
  op->evict();
  op->setKey(1);
  op->list->update({"x", "y"});
  op->evict();
  op->setKey(1);
  EXPECT_THAT(op->list->get(), ElementsAre("x", "y"));
  op->list->clear();
  op->evict();
  op->setKey(1);
  EXPECT_THAT(op->list->get(), IsEmpty());
  op->list->add("after-clear");
  op->evict();
  op->setKey(1);
  EXPECT_THAT(op->list->get(), ElementsAre("after-clear"));
}

TEST_P(StateBackendConformanceTest, mapStatePutsRemovesIteratesAndClears) {
  auto op = make(kAll);
  op->setKey(3);
  op->map->put("a", 1);
  op->map->put("b", 2);
  op->map->put("c", 3);
  op->setKey(33);  // a key whose encoding could share a prefix with 3's: kept apart
  op->map->put("a", 100);
  op->evict();
  op->setKey(3);
  EXPECT_EQ(op->map->get("b"), 2);
  EXPECT_TRUE(op->map->contains("c"));
  op->map->remove("b");
  *op->map->getPtrForUpdate("c") = 30;
  op->map->put("d", 4);
  op->evict();
  op->setKey(3);
  std::map<std::string, int64_t> entries;
  for (const auto& [key, value] : op->map->entries()) entries[key] = value;
  EXPECT_EQ(entries, (std::map<std::string, int64_t>{{"a", 1}, {"c", 30}, {"d", 4}}));
  EXPECT_FALSE(op->map->isEmpty());
  op->map->clear();
  op->evict();
  op->setKey(3);
  EXPECT_TRUE(op->map->isEmpty());
  EXPECT_EQ(op->map->get("a"), std::nullopt);
  op->setKey(33);
  EXPECT_EQ(op->map->get("a"), 100);
}

TEST_P(StateBackendConformanceTest, reducingAndAggregatingStateFold) {
  auto op = make(kAll);
  op->setKey(5);
  op->reducing->add(2);
  op->aggregating->add(10);
  op->evict();
  op->setKey(5);
  op->reducing->add(3);
  op->aggregating->add(5);
  op->evict();
  op->setKey(5);
  EXPECT_EQ(op->reducing->get(), 5);
  EXPECT_EQ(op->aggregating->get(), "sum15");
  op->reducing->clear();
  op->aggregating->clear();
  op->evict();
  op->setKey(5);
  EXPECT_EQ(op->reducing->get(), std::nullopt);
  EXPECT_EQ(op->aggregating->get(), std::nullopt);
}

TEST_P(StateBackendConformanceTest, ttlExpiresValuesAcrossWriteBacks) {
  auto op = make(kAll);
  op->backend().setCurrentTime(1000);
  op->setKey(9);
  op->ttlValue->update("v");
  op->ttlList->add(1);
  op->ttlMap->put(1, "one");
  op->backend().setCurrentTime(1060);
  op->ttlList->add(2);
  op->ttlMap->put(2, "two");
  op->evict();
  op->backend().setCurrentTime(1099);  // nothing expired yet
  op->setKey(9);
  EXPECT_EQ(op->ttlValue->value(), "v");
  EXPECT_THAT(op->ttlList->get(), ElementsAre(1, 2));
  EXPECT_EQ(op->ttlMap->get(1), "one");
  op->evict();
  op->backend().setCurrentTime(1100);  // the first writes expired
  op->setKey(9);
  EXPECT_EQ(op->ttlValue->value(), std::nullopt);
  EXPECT_THAT(op->ttlList->get(), ElementsAre(2));
  EXPECT_EQ(op->ttlMap->get(1), std::nullopt);
  EXPECT_EQ(op->ttlMap->get(2), "two");
  op->evict();
  op->backend().setCurrentTime(1200);
  op->setKey(9);
  EXPECT_THAT(op->ttlList->get(), IsEmpty());
  EXPECT_TRUE(op->ttlMap->isEmpty());
}

TEST_P(StateBackendConformanceTest, manyKeysThroughASmallCacheKeepEveryValue) {
  auto op = make(kAll, {}, /*maxCachedKeys=*/3);
  fill(*op, 0, 400);
  const Contents first = readAll(*op, 0, 400);
  ASSERT_EQ(first.size(), 400u);
  EXPECT_EQ(first.at(12),
            "value=12;list:l12;map:m12=120;map:n=-12;reducing=13;aggregating=sum12;"
            "ttl-map:12=t12;timer;");
  fill(*op, 0, 400, /*round=*/1);  // updates on top: lists grow, reduces fold twice
  const Contents second = readAll(*op, 0, 400);
  EXPECT_EQ(second.at(12),
            "value=13;list:l12;list:l13;map:m12=121;map:n=-12;reducing=26;aggregating=sum24;"
            "ttl-map:12=t12;timer;");
  EXPECT_LE(op->backend().numKeys(), GetParam() == Backend::kRocksDb ? 10u : 400u);
}

TEST_P(StateBackendConformanceTest, snapshotAndRestoreKeepEverything) {
  auto op = make(kAll);
  fill(*op, 0, 300);
  const Contents before = readAll(*op, 0, 300);
  const Snapshot snapshot = op->snapshot(snapshotDir());
  fill(*op, 0, 300, /*round=*/5);  // changes after the snapshot are not in it
  auto restored = make(kAll, {snapshot});
  EXPECT_EQ(readAll(*restored, 0, 300), before);
}

TEST_P(StateBackendConformanceTest, rescalesTwoToThreeToOneWithIdenticalResults) {
  constexpr int64_t kKeys = 600;
  std::vector<Snapshot> two;
  Contents expected;
  for (int i = 0; i < 2; ++i) {
    auto op = make(KeyGroupRange::forOperator(kMaxParallelism, 2, i));
    fill(*op, 0, kKeys);
    for (auto& [key, text] : readAll(*op, 0, kKeys)) expected[key] = text;
    two.push_back(op->snapshot(snapshotDir()));
  }
  ASSERT_EQ(expected.size(), static_cast<size_t>(kKeys));

  std::vector<Snapshot> three;
  Contents afterThree;
  for (int i = 0; i < 3; ++i) {
    auto op = make(KeyGroupRange::forOperator(kMaxParallelism, 3, i), two);
    Contents mine = readAll(*op, 0, kKeys);
    for (const auto& [key, text] : mine) {
      EXPECT_EQ(text, expected.at(key)) << "key " << key << " at subtask " << i << " of 3";
    }
    fill(*op, 0, kKeys, /*round=*/1);
    for (auto& [key, text] : readAll(*op, 0, kKeys)) afterThree[key] = text;
    three.push_back(op->snapshot(snapshotDir()));
  }
  ASSERT_EQ(afterThree.size(), static_cast<size_t>(kKeys));

  auto one = make(kAll, three);
  EXPECT_EQ(readAll(*one, 0, kKeys), afterThree);
}

// Timers beyond what a RocksDB-backed queue keeps in memory (64 here), many of them at one
// time, some cancelled and some added twice, fire exactly once each and in time order, through
// snapshots and a rescale 2 -> 3 -> 1; the heap queue does the same.
TEST_P(StateBackendConformanceTest, timersFireOnceInTimeOrderAcrossSpillsAndRescales) {
  constexpr int64_t kKeys = 3000;
  using Fired = std::multiset<std::pair<int64_t, int64_t>>;  // (time, key)
  Fired expected;
  auto register_ = [&](Instance& op, int64_t key) {
    op.setKey(key);
    // Thirteen distinct times shared by every key, and one time of the key's own.
    const int64_t shared = 100 + (key % 13) * 10;
    op.eventTimers().add(key, shared);
    op.eventTimers().add(key, shared);  // again: one timer
    op.eventTimers().add(key, 10000 + key);
    op.windowTimers().add(key, TimeWindow{key, key + 10}, 10000 + key);
    if (key % 4 == 0) {
      op.eventTimers().remove(key, VoidNamespace{}, shared);
    } else {
      expected.emplace(shared, key);
    }
    expected.emplace(10000 + key, key);
    expected.emplace(10000 + key, -key - 1);  // the window timer
  };
  Fired fired;
  // Fire both queues up to `now`, checking that each fires in time order and that nextTime()
  // is the earliest time left.
  auto fire = [&](Instance& op, int64_t now) {
    int64_t last = INT64_MIN;
    while (auto timer = op.eventTimers().pollDue(now)) {
      EXPECT_LE(last, timer->time);
      EXPECT_LE(timer->time, now);
      last = timer->time;
      fired.emplace(timer->time, timer->key);
    }
    last = INT64_MIN;
    while (auto timer = op.windowTimers().pollDue(now)) {
      EXPECT_LE(last, timer->time);
      EXPECT_EQ(timer->ns.start, timer->key);
      last = timer->time;
      fired.emplace(timer->time, -timer->key - 1);
    }
    if (now != INT64_MAX) {
      EXPECT_GT(op.eventTimers().nextTime(), now);
      EXPECT_GT(op.windowTimers().nextTime(), now);
    }
  };

  std::vector<Snapshot> two;
  for (int i = 0; i < 2; ++i) {
    auto op = make(KeyGroupRange::forOperator(kMaxParallelism, 2, i));
    for (int64_t key = 0; key < kKeys; ++key) {
      if (op->owns(key)) register_(*op, key);
    }
    EXPECT_EQ(op->eventTimers().nextTime(), 100);
    fire(*op, 115);
    two.push_back(op->snapshot(snapshotDir()));
  }
  std::vector<Snapshot> three;
  for (int i = 0; i < 3; ++i) {
    auto op = make(KeyGroupRange::forOperator(kMaxParallelism, 3, i), two);
    EXPECT_GT(op->eventTimers().nextTime(), 115);
    fire(*op, 175);
    // Keys added after the restore take part too.
    for (int64_t key = kKeys; key < kKeys + 300; ++key) {
      if (op->owns(key)) register_(*op, key);
    }
    three.push_back(op->snapshot(snapshotDir()));
  }
  auto one = make(kAll, three);
  fire(*one, 10000 + kKeys / 2);
  fire(*one, INT64_MAX);
  EXPECT_EQ(one->eventTimers().nextTime(), INT64_MAX);
  EXPECT_EQ(fired.size(), expected.size());
  EXPECT_TRUE(fired == expected) << "timers fired more than once, not at all, or at other times";
}

TEST_P(StateBackendConformanceTest, restoreChecksTheSerializersOfEveryState) {
  auto op = make(kAll);
  fill(*op, 0, 20);
  const Snapshot snapshot = op->snapshot(snapshotDir());
  // A backend whose "value" state now holds strings: the restore names the state.
  const fs::path dir = temp_.path() / "changed";
  fs::create_directories(dir);
  HeapKeyedStateBackend<int64_t> backend(kAll, kMaxParallelism);
  std::unique_ptr<state::RocksDbKeyedStore> store;
  if (GetParam() == Backend::kRocksDb) {
    state::RocksDbStoreOptions options;
    options.directory = dir / "db";
    options.keyGroupRange = kAll;
    options.maxParallelism = kMaxParallelism;
    options.resources = state::RocksDbResources::create(uint64_t{16} << 20, 0.5);
    options.maxCachedKeys = 5;
    options.restore.push_back(
        state::RocksDbRestoreSource{snapshot.rocksDbFiles, kAll, snapshot.rocksDbFiles});
    auto opened = state::RocksDbKeyedStore::open(std::move(options));
    ASSERT_OK(opened.status());
    store = std::move(opened).value();
    backend.attachStore(*store, 5);
  }
  backend.getState(ValueStateDescriptor<std::string>("value"));
  KeyedStateSnapshotter<int64_t> snapshotter(backend);
  const std::vector<KeyedStateSnapshotInput> inputs = {{"chk-1/v1-s0.state", snapshot.bytes}};
  Status status = snapshotter.restore(inputs);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("state 'value': serializer mismatch"));
  EXPECT_THAT(status.message(), HasSubstr("chk-1/v1-s0.state"));
}

INSTANTIATE_TEST_SUITE_P(Backends, StateBackendConformanceTest,
                         ::testing::Values(Backend::kHeap, Backend::kRocksDb), backendName);

// A RocksDB snapshot keeps its values in the RocksDB files: the heap backend refuses it.
TEST(StateBackendSwitchTest, heapBackendRefusesARocksDbSnapshot) {
  TempDir temp;
  Snapshot snapshot;
  {
    Instance op(Backend::kRocksDb, temp.path(), kAll);
    fill(op, 0, 10);
    snapshot = op.snapshot(temp.path() / "snapshot");
  }
  HeapKeyedStateBackend<int64_t> backend(kAll, kMaxParallelism);
  backend.getState(ValueStateDescriptor<int64_t>("value"));
  KeyedStateSnapshotter<int64_t> snapshotter(backend);
  const std::vector<KeyedStateSnapshotInput> inputs = {{"chk-1/v1-s0.state", snapshot.bytes}};
  Status status = snapshotter.restore(inputs);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("state.backend.type: rocksdb"));
}

// A heap snapshot restores into the RocksDB backend (its values go through the cache into the
// store).
TEST(StateBackendSwitchTest, rocksDbBackendRestoresAHeapSnapshot) {
  TempDir temp;
  Snapshot snapshot;
  Contents before;
  {
    Instance op(Backend::kHeap, temp.path(), kAll);
    fill(op, 0, 100);
    before = readAll(op, 0, 100);
    snapshot = op.snapshot(temp.path() / "unused");
  }
  Instance restored(Backend::kRocksDb, temp.path() / "rocksdb", kAll, {snapshot});
  EXPECT_EQ(readAll(restored, 0, 100), before);
}

}  // namespace
}  // namespace strom
