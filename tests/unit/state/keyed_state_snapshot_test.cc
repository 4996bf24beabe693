#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/detail/keyed_state_backend.h>
#include <strom/detail/keyed_state_snapshot.h>
#include <strom/detail/timer_queue.h>
#include <strom/state.h>
#include <strom/window_types.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr int kMaxParallelism = 16;

struct SumAggregate {
  int64_t createAccumulator() { return 0; }
  int64_t add(const int64_t& value, int64_t accumulator) { return accumulator + value; }
  std::string getResult(const int64_t& accumulator) { return std::to_string(accumulator); }
  int64_t merge(int64_t a, int64_t b) { return a + b; }
};

// The states of one operator instance: one of each kind, and a value state with TTL.
struct Operator {
  explicit Operator(KeyGroupRange range)
      : backend(range, kMaxParallelism),
        eventTimers(range, kMaxParallelism),
        windowTimers(range, kMaxParallelism),
        snapshotter(backend) {
    ValueStateDescriptor<int64_t> valueDescriptor("value");
    value = &backend.getState(valueDescriptor);
    list = &backend.getListState(ListStateDescriptor<std::string>("list"));
    map = &backend.getMapState(MapStateDescriptor<std::string, int64_t>("map"));
    reducing = &backend.getReducingState(ReducingStateDescriptor<int64_t>(
        "reducing", [](const int64_t& a, const int64_t& b) { return a + b; }));
    aggregating = &backend.getAggregatingState(
        AggregatingStateDescriptor<int64_t, int64_t, std::string>("aggregating", SumAggregate{}));
    ValueStateDescriptor<std::string> ttlDescriptor("ttl-value");
    ttlDescriptor.enableTimeToLive(
        StateTtlConfig::newBuilder(std::chrono::milliseconds(100)).build());
    ttlValue = &backend.getState(ttlDescriptor);
    ListStateDescriptor<int64_t> ttlListDescriptor("ttl-list");
    ttlListDescriptor.enableTimeToLive(
        StateTtlConfig::newBuilder(std::chrono::milliseconds(100)).build());
    ttlList = &backend.getListState(ttlListDescriptor);
    MapStateDescriptor<int64_t, std::string> ttlMapDescriptor("ttl-map");
    ttlMapDescriptor.enableTimeToLive(
        StateTtlConfig::newBuilder(std::chrono::milliseconds(100)).build());
    ttlMap = &backend.getMapState(ttlMapDescriptor);
    snapshotter.addTimerQueue("event", eventTimers);
    snapshotter.addTimerQueue("window", windowTimers);
  }

  HeapKeyedStateBackend<std::string> backend;
  detail::KeyedTimerQueue<std::string> eventTimers;
  detail::KeyedTimerQueue<std::string, TimeWindow> windowTimers;
  KeyedStateSnapshotter<std::string> snapshotter;
  ValueState<int64_t>* value = nullptr;
  ListState<std::string>* list = nullptr;
  MapState<std::string, int64_t>* map = nullptr;
  ReducingState<int64_t>* reducing = nullptr;
  AggregatingState<int64_t, std::string>* aggregating = nullptr;
  ValueState<std::string>* ttlValue = nullptr;
  ListState<int64_t>* ttlList = nullptr;
  MapState<int64_t, std::string>* ttlMap = nullptr;
};

std::string keyName(int i) { return "key-" + std::to_string(i); }

// Write state of every kind for keys 0..numKeys-1 (those of the operator's range), at time
// 1000 + i for the TTL states, and timers.
void fill(Operator& op, int numKeys) {
  for (int i = 0; i < numKeys; ++i) {
    const std::string key = keyName(i);
    const int keyGroup = keyGroupForHash(keyHash(key), kMaxParallelism);
    if (!op.backend.keyGroupRange().contains(keyGroup)) continue;
    op.backend.setCurrentTime(1000 + i);
    op.backend.setCurrentKey(key);
    op.value->update(i);
    if (i % 2 == 0) op.list->update({key, "x" + std::to_string(i)});
    if (i % 3 == 0) op.map->put("m" + std::to_string(i), i * 10);
    if (i % 3 == 0) op.map->put("n", -i);
    op.reducing->add(i);
    op.reducing->add(1);
    if (i % 4 == 0) op.aggregating->add(i);
    if (i % 5 == 0) op.ttlValue->update("ttl" + std::to_string(i));
    if (i % 5 == 1) op.ttlList->add(i);
    if (i % 5 == 2) op.ttlMap->put(i, key);
    op.eventTimers.add(key, 5000 + i);
    if (i % 2 == 1) op.windowTimers.add(key, TimeWindow{i, i + 10}, i + 9);
  }
  op.backend.clearCurrentKey();
}

// Everything a key holds, as the public API reads it (at a time when nothing has expired).
using Contents = std::map<std::string, std::string>;

Contents readAll(Operator& op, int numKeys) {
  Contents contents;
  op.backend.setCurrentTime(1050);
  for (int i = 0; i < numKeys; ++i) {
    const std::string key = keyName(i);
    const int keyGroup = keyGroupForHash(keyHash(key), kMaxParallelism);
    if (!op.backend.keyGroupRange().contains(keyGroup)) continue;
    op.backend.setCurrentKey(key);
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
    for (int t = 0; t < 1000; ++t) {
      if (op.eventTimers.contains(key, VoidNamespace{}, 5000 + t)) {
        text += "timer:" + std::to_string(5000 + t) + ";";
      }
      if (op.windowTimers.contains(key, TimeWindow{t, t + 10}, t + 9)) {
        text += "window-timer:" + std::to_string(t) + ";";
      }
    }
    if (!text.empty()) contents[key] = text;
  }
  op.backend.clearCurrentKey();
  return contents;
}

KeyGroupRange rangeOf(int parallelism, int index) {
  return KeyGroupRange::forOperator(kMaxParallelism, parallelism, index);
}

std::vector<KeyedStateSnapshotInput> inputsOf(const std::vector<std::string>& snapshots) {
  std::vector<KeyedStateSnapshotInput> inputs;
  for (size_t i = 0; i < snapshots.size(); ++i) {
    inputs.push_back({"subtask-" + std::to_string(i), snapshots[i]});
  }
  return inputs;
}

constexpr int kNumKeys = 200;

TEST(KeyedStateSnapshotTest, everyStateKindAndTimersRoundTrip) {
  Operator original(rangeOf(1, 0));
  fill(original, kNumKeys);
  const Contents expected = readAll(original, kNumKeys);
  ASSERT_EQ(expected.size(), static_cast<size_t>(kNumKeys));
  ASSERT_OK_AND_ASSIGN(std::string bytes, original.snapshotter.snapshot());

  Operator restored(rangeOf(1, 0));
  ASSERT_OK(restored.snapshotter.restore(inputsOf({bytes})));
  EXPECT_EQ(restored.backend.numKeys(), original.backend.numKeys());
  EXPECT_EQ(restored.eventTimers.size(), original.eventTimers.size());
  EXPECT_EQ(restored.windowTimers.size(), original.windowTimers.size());
  EXPECT_EQ(readAll(restored, kNumKeys), expected);
  EXPECT_FALSE(restored.backend.hasCurrentKey());

  // The restored timers fire in order, as the original's do.
  std::vector<int64_t> originalFired, restoredFired;
  while (auto timer = original.eventTimers.pollDue(INT64_MAX)) originalFired.push_back(timer->time);
  while (auto timer = restored.eventTimers.pollDue(INT64_MAX)) restoredFired.push_back(timer->time);
  EXPECT_EQ(restoredFired, originalFired);
  // A snapshot of the restored state is byte-identical in content (same order of key groups).
  Operator again(rangeOf(1, 0));
  ASSERT_OK_AND_ASSIGN(std::string restoredBytes, restored.snapshotter.snapshot());
  ASSERT_OK(again.snapshotter.restore(inputsOf({restoredBytes})));
  EXPECT_EQ(readAll(again, kNumKeys), readAll(restored, kNumKeys));
}

TEST(KeyedStateSnapshotTest, ttlTimestampsSurviveTheRoundTrip) {
  Operator original(rangeOf(1, 0));
  original.backend.setCurrentKey("a");
  original.backend.setCurrentTime(1000);
  original.ttlValue->update("old");
  original.ttlList->add(1);
  original.ttlMap->put(1, "one");
  original.backend.setCurrentTime(1060);
  original.ttlList->add(2);
  original.ttlMap->put(2, "two");
  original.backend.clearCurrentKey();
  ASSERT_OK_AND_ASSIGN(std::string bytes, original.snapshotter.snapshot());

  Operator restored(rangeOf(1, 0));
  ASSERT_OK(restored.snapshotter.restore(inputsOf({bytes})));
  restored.backend.setCurrentKey("a");
  // At 1120 the values written at 1000 have expired (TTL 100 ms) and those of 1060 have not:
  // the timestamps were restored, not re-stamped at restore time.
  restored.backend.setCurrentTime(1120);
  EXPECT_EQ(restored.ttlValue->value(), std::nullopt);
  EXPECT_THAT(restored.ttlList->get(), ElementsAre(2));
  std::vector<int64_t> mapKeys;
  for (int64_t mapKey : restored.ttlMap->keys()) mapKeys.push_back(mapKey);
  EXPECT_THAT(mapKeys, ElementsAre(2));
  restored.backend.setCurrentTime(1170);
  EXPECT_TRUE(restored.ttlList->get().empty());
}

TEST(KeyedStateSnapshotTest, rescaleTwoToThreeToOneKeepsContents) {
  Operator original(rangeOf(1, 0));
  fill(original, kNumKeys);
  const Contents expected = readAll(original, kNumKeys);

  // Parallelism 2: the original's keys, split by key group.
  std::vector<std::unique_ptr<Operator>> two;
  std::vector<std::string> twoSnapshots;
  for (int i = 0; i < 2; ++i) {
    two.push_back(std::make_unique<Operator>(rangeOf(2, i)));
    fill(*two.back(), kNumKeys);
    ASSERT_OK_AND_ASSIGN(std::string bytes, two.back()->snapshotter.snapshot());
    twoSnapshots.push_back(std::move(bytes));
  }
  // 2 -> 3: each subtask of 3 reads both snapshots and takes its key groups.
  std::vector<std::unique_ptr<Operator>> three;
  std::vector<std::string> threeSnapshots;
  Contents threeContents;
  size_t threeTimers = 0;
  for (int i = 0; i < 3; ++i) {
    three.push_back(std::make_unique<Operator>(rangeOf(3, i)));
    ASSERT_OK(three.back()->snapshotter.restore(inputsOf(twoSnapshots)));
    const Contents part = readAll(*three.back(), kNumKeys);
    threeContents.insert(part.begin(), part.end());
    threeTimers += three.back()->eventTimers.size() + three.back()->windowTimers.size();
    ASSERT_OK_AND_ASSIGN(std::string bytes, three.back()->snapshotter.snapshot());
    threeSnapshots.push_back(std::move(bytes));
  }
  EXPECT_EQ(threeContents, expected);
  EXPECT_EQ(threeTimers, original.eventTimers.size() + original.windowTimers.size());
  // 3 -> 1.
  Operator one(rangeOf(1, 0));
  ASSERT_OK(one.snapshotter.restore(inputsOf(threeSnapshots)));
  EXPECT_EQ(readAll(one, kNumKeys), expected);
  EXPECT_EQ(one.backend.numKeys(), original.backend.numKeys());
  EXPECT_EQ(one.eventTimers.size(), original.eventTimers.size());
  EXPECT_EQ(one.windowTimers.size(), original.windowTimers.size());
}

TEST(KeyedStateSnapshotTest, emptyBackendAndEmptyRangeRoundTrip) {
  Operator empty(rangeOf(1, 0));
  ASSERT_OK_AND_ASSIGN(std::string bytes, empty.snapshotter.snapshot());
  Operator restored(rangeOf(1, 0));
  ASSERT_OK(restored.snapshotter.restore(inputsOf({bytes})));
  EXPECT_EQ(restored.backend.numKeys(), 0u);

  Operator noKeyGroups(KeyGroupRange{});
  ASSERT_OK_AND_ASSIGN(std::string noBytes, noKeyGroups.snapshotter.snapshot());
  Operator restoredNone(KeyGroupRange{});
  ASSERT_OK(restoredNone.snapshotter.restore(inputsOf({noBytes})));
}

TEST(KeyedStateSnapshotTest, containerValuesAndIntegerKeysRoundTrip) {
  const KeyGroupRange range = rangeOf(1, 0);
  HeapKeyedStateBackend<int64_t> backend(range, kMaxParallelism);
  ListStateDescriptor<bool> flagsDescriptor("flags");
  MapStateDescriptor<int64_t, std::vector<std::string>> tagsDescriptor("tags");
  for (int64_t key = -5; key < 5; ++key) {
    backend.setCurrentKey(key);
    backend.getListState(flagsDescriptor).update({key % 2 == 0, true});
    backend.getMapState(tagsDescriptor).put(key * 100, {"a", std::to_string(key)});
  }
  backend.clearCurrentKey();
  KeyedStateSnapshotter<int64_t> snapshotter(backend);
  ASSERT_OK_AND_ASSIGN(std::string bytes, snapshotter.snapshot());

  HeapKeyedStateBackend<int64_t> restored(range, kMaxParallelism);
  ListState<bool>& flags = restored.getListState(flagsDescriptor);
  MapState<int64_t, std::vector<std::string>>& tags = restored.getMapState(tagsDescriptor);
  KeyedStateSnapshotter<int64_t> restorer(restored);
  ASSERT_OK(restorer.restore(inputsOf({bytes})));
  EXPECT_EQ(restored.numKeys(), 10u);
  for (int64_t key = -5; key < 5; ++key) {
    restored.setCurrentKey(key);
    EXPECT_THAT(flags.get(), ElementsAre(key % 2 == 0, true));
    EXPECT_EQ(tags.get(key * 100), (std::vector<std::string>{"a", std::to_string(key)}));
  }
}

// ---- Errors -------------------------------------------------------------------------------

std::string snapshotOfFilled() {
  Operator op(rangeOf(1, 0));
  fill(op, 50);
  Result<std::string> bytes = op.snapshotter.snapshot();
  return bytes.isOk() ? std::move(bytes).value() : std::string();
}

// Restore `bytes` into a new operator; expect `code` and a message with every `parts`, and an
// untouched backend.
void expectRestoreFails(const std::string& bytes, StatusCode code,
                        const std::vector<std::string>& parts) {
  Operator op(rangeOf(1, 0));
  const Status status = op.snapshotter.restore(inputsOf({bytes}));
  ASSERT_EQ(status.code(), code) << status.toString();
  for (const std::string& part : parts) EXPECT_THAT(status.message(), HasSubstr(part));
  EXPECT_EQ(op.backend.numKeys(), 0u);
  EXPECT_EQ(op.eventTimers.size(), 0u);
  EXPECT_EQ(op.windowTimers.size(), 0u);
}

TEST(KeyedStateSnapshotTest, corruptSectionFailsItsChecksumAndRestoresNothing) {
  std::string bytes = snapshotOfFilled();
  ASSERT_FALSE(bytes.empty());
  bytes[bytes.size() - 3] ^= 0x40;  // inside the last key group's section
  expectRestoreFails(bytes, StatusCode::kCorruption,
                     {"'subtask-0'", "key group 15", "section checksum mismatch"});
}

TEST(KeyedStateSnapshotTest, corruptHeaderMetaAndIndexAreDetected) {
  const std::string good = snapshotOfFilled();
  std::string header = good;
  header[9] ^= 1;  // maxParallelism
  expectRestoreFails(header, StatusCode::kCorruption, {"header checksum mismatch"});
  std::string meta = good;
  meta[40] ^= 1;
  expectRestoreFails(meta, StatusCode::kCorruption, {"state meta section checksum mismatch"});
  uint64_t metaLength = 0;
  std::memcpy(&metaLength, good.data() + 20, sizeof(metaLength));
  std::string index = good;
  index[36 + metaLength + 8 + 5] ^= 1;
  expectRestoreFails(index, StatusCode::kCorruption, {"key group index checksum mismatch"});
  expectRestoreFails("not a snapshot at all, but long enough to have a header",
                     StatusCode::kCorruption, {"bad magic"});
}

TEST(KeyedStateSnapshotTest, truncatedInputIsDetected) {
  const std::string good = snapshotOfFilled();
  expectRestoreFails(good.substr(0, good.size() - 1), StatusCode::kCorruption,
                     {"truncated", "key group 15"});
  expectRestoreFails(good.substr(0, 20), StatusCode::kCorruption, {"truncated", "header"});
  expectRestoreFails(good.substr(0, 60), StatusCode::kCorruption, {"truncated"});
  // Every prefix fails, none crashes or restores anything.
  for (size_t length = 0; length < good.size(); length += 7) {
    Operator op(rangeOf(1, 0));
    const std::vector<KeyedStateSnapshotInput> inputs = {
        {"cut", std::string_view(good).substr(0, length)}};
    EXPECT_EQ(op.snapshotter.restore(inputs).code(), StatusCode::kCorruption) << length;
    EXPECT_EQ(op.backend.numKeys(), 0u);
  }
}

TEST(KeyedStateSnapshotTest, unknownStateNameIsNotFound) {
  const std::string bytes = snapshotOfFilled();
  HeapKeyedStateBackend<std::string> backend(rangeOf(1, 0), kMaxParallelism);
  backend.getState(ValueStateDescriptor<int64_t>("value"));
  KeyedStateSnapshotter<std::string> snapshotter(backend);
  const Status status = snapshotter.restore(inputsOf({bytes}));
  ASSERT_EQ(status.code(), StatusCode::kNotFound) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr("state 'list' (ListState) is not registered"));
  EXPECT_EQ(backend.numKeys(), 0u);
}

TEST(KeyedStateSnapshotTest, serializerKindTtlAndTimerMismatchesAreNamed) {
  HeapKeyedStateBackend<std::string> source(rangeOf(1, 0), kMaxParallelism);
  source.setCurrentKey("k");
  source.getState(ValueStateDescriptor<int64_t>("count")).update(7);
  source.clearCurrentKey();
  KeyedStateSnapshotter<std::string> sourceSnapshotter(source);
  ASSERT_OK_AND_ASSIGN(std::string bytes, sourceSnapshotter.snapshot());

  {
    HeapKeyedStateBackend<std::string> backend(rangeOf(1, 0), kMaxParallelism);
    backend.getState(ValueStateDescriptor<std::string>("count"));
    KeyedStateSnapshotter<std::string> snapshotter(backend);
    const Status status = snapshotter.restore(inputsOf({bytes}));
    ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
    EXPECT_THAT(status.message(), HasSubstr("state 'count': serializer mismatch"));
  }
  {
    HeapKeyedStateBackend<std::string> backend(rangeOf(1, 0), kMaxParallelism);
    backend.getListState(ListStateDescriptor<int64_t>("count"));
    KeyedStateSnapshotter<std::string> snapshotter(backend);
    const Status status = snapshotter.restore(inputsOf({bytes}));
    ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
    EXPECT_THAT(status.message(), HasSubstr("state 'count': the snapshot holds a ValueState"));
  }
  {
    HeapKeyedStateBackend<std::string> backend(rangeOf(1, 0), kMaxParallelism);
    ValueStateDescriptor<int64_t> descriptor("count");
    descriptor.enableTimeToLive(StateTtlConfig::newBuilder(std::chrono::seconds(1)).build());
    backend.getState(descriptor);
    KeyedStateSnapshotter<std::string> snapshotter(backend);
    const Status status = snapshotter.restore(inputsOf({bytes}));
    ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
    EXPECT_THAT(status.message(), HasSubstr("state 'count': TTL mismatch"));
  }
  {
    HeapKeyedStateBackend<int64_t> backend(rangeOf(1, 0), kMaxParallelism);
    backend.getState(ValueStateDescriptor<int64_t>("count"));
    KeyedStateSnapshotter<int64_t> snapshotter(backend);
    const Status status = snapshotter.restore(inputsOf({bytes}));
    ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
    EXPECT_THAT(status.message(), HasSubstr("key serializer mismatch"));
  }
  {
    HeapKeyedStateBackend<std::string> backend(rangeOf(1, 0), kMaxParallelism / 2);
    backend.getState(ValueStateDescriptor<int64_t>("count"));
    KeyedStateSnapshotter<std::string> snapshotter(backend);
    const Status status = snapshotter.restore(inputsOf({bytes}));
    ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
    EXPECT_THAT(status.message(), HasSubstr("max parallelism mismatch"));
  }
  // Timer queues: one missing on restore, one with another namespace.
  const std::string withTimers = snapshotOfFilled();
  {
    Operator op(rangeOf(1, 0));
    HeapKeyedStateBackend<std::string>& backend = op.backend;
    KeyedStateSnapshotter<std::string> snapshotter(backend);
    snapshotter.addTimerQueue("event", op.eventTimers);
    const Status status = snapshotter.restore(inputsOf({withTimers}));
    ASSERT_EQ(status.code(), StatusCode::kNotFound) << status.toString();
    EXPECT_THAT(status.message(), HasSubstr("timer queue 'window'"));
  }
  {
    Operator op(rangeOf(1, 0));
    detail::KeyedTimerQueue<std::string, GlobalWindow> global(rangeOf(1, 0), kMaxParallelism);
    KeyedStateSnapshotter<std::string> snapshotter(op.backend);
    snapshotter.addTimerQueue("event", op.eventTimers);
    snapshotter.addTimerQueue("window", global);
    const Status status = snapshotter.restore(inputsOf({withTimers}));
    ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
    EXPECT_THAT(status.message(), HasSubstr("timer queue 'window': namespace serializer mismatch"));
  }
}

TEST(KeyedStateSnapshotTest, keyGroupsMustBeCoveredExactlyOnce) {
  Operator half(rangeOf(2, 0));
  fill(half, 50);
  ASSERT_OK_AND_ASSIGN(std::string bytes, half.snapshotter.snapshot());
  {
    Operator op(rangeOf(1, 0));
    const Status status = op.snapshotter.restore(inputsOf({bytes}));
    ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
    EXPECT_THAT(status.message(), HasSubstr("key group 8 of the backend's range [0, 15]"));
  }
  {
    Operator op(rangeOf(2, 0));
    const Status status = op.snapshotter.restore(inputsOf({bytes, bytes}));
    ASSERT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
    EXPECT_THAT(status.message(), HasSubstr("key group 0 is in both"));
    EXPECT_EQ(op.backend.numKeys(), 0u);
  }
  {
    Operator op(rangeOf(2, 0));
    fill(op, 10);
    ASSERT_STATUS(StatusCode::kFailedPrecondition, op.snapshotter.restore(inputsOf({bytes})));
  }
}

TEST(KeyedStateSnapshotTest, oneBadSnapshotAmongSeveralRestoresNothing) {
  std::vector<std::string> snapshots;
  for (int i = 0; i < 2; ++i) {
    Operator op(rangeOf(2, i));
    fill(op, 100);
    ASSERT_OK_AND_ASSIGN(std::string bytes, op.snapshotter.snapshot());
    snapshots.push_back(std::move(bytes));
  }
  snapshots[1][snapshots[1].size() - 2] ^= 0x10;
  Operator op(rangeOf(1, 0));
  const Status status = op.snapshotter.restore(inputsOf(snapshots));
  ASSERT_EQ(status.code(), StatusCode::kCorruption) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr("'subtask-1'"));
  EXPECT_EQ(op.backend.numKeys(), 0u);
  EXPECT_EQ(op.eventTimers.size(), 0u);
}

// Shorten the index entry of the last key group by one byte and fix up the checksums, so that
// only decoding finds the damage.
std::string withShortLastSection(std::string bytes) {
  uint64_t metaLength = 0;
  std::memcpy(&metaLength, bytes.data() + 20, sizeof(metaLength));
  const size_t indexStart = 36 + metaLength + 8;
  const size_t entry = indexStart + 15 * 24;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::memcpy(&offset, bytes.data() + entry, 8);
  std::memcpy(&length, bytes.data() + entry + 8, 8);
  --length;
  const uint64_t checksum = hashBytes(bytes.data() + offset, length);
  std::memcpy(bytes.data() + entry + 8, &length, 8);
  std::memcpy(bytes.data() + entry + 16, &checksum, 8);
  const uint64_t indexChecksum = hashBytes(bytes.data() + indexStart, 16 * 24);
  std::memcpy(bytes.data() + indexStart + 16 * 24, &indexChecksum, 8);
  return bytes;
}

TEST(KeyedStateSnapshotTest, sectionThatDoesNotDecodeRestoresNothing) {
  // Key groups 0..14 are fine and checked first; 15 fails to decode, so none is applied.
  expectRestoreFails(withShortLastSection(snapshotOfFilled()), StatusCode::kCorruption,
                     {"'subtask-0'", "key group 15", "does not decode"});
}

struct NotSerializable {
  int value = 0;
};

TEST(KeyedStateSnapshotTest, stateWithoutSerializerCannotBeSnapshotted) {
  HeapKeyedStateBackend<int64_t> backend(rangeOf(1, 0), kMaxParallelism);
  backend.getState(ValueStateDescriptor<NotSerializable>("opaque"));
  KeyedStateSnapshotter<int64_t> snapshotter(backend);
  const Result<std::string> bytes = snapshotter.snapshot();
  ASSERT_EQ(bytes.status().code(), StatusCode::kInvalidArgument) << bytes.status().toString();
  EXPECT_THAT(bytes.status().message(), HasSubstr("state 'opaque'"));
}

}  // namespace
}  // namespace strom
