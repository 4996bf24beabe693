#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/detail/keyed_state_backend.h>
#include <strom/state.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace strom {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using UpdateType = StateTtlConfig::UpdateType;
using Visibility = StateTtlConfig::StateVisibility;

constexpr int kMaxParallelism = 8;
constexpr int64_t kTtlMillis = 100;

StateTtlConfig ttlConfig(UpdateType updateType, Visibility visibility) {
  return StateTtlConfig::newBuilder(std::chrono::milliseconds(kTtlMillis))
      .setUpdateType(updateType)
      .setStateVisibility(visibility)
      .build();
}

template <class Descriptor>
Descriptor withTtl(Descriptor descriptor, UpdateType updateType, Visibility visibility) {
  descriptor.enableTimeToLive(ttlConfig(updateType, visibility));
  return descriptor;
}

class StateTtlTest : public ::testing::Test {
 protected:
  HeapKeyedStateBackend<int64_t> backend_{KeyGroupRange{0, kMaxParallelism - 1}, kMaxParallelism};

  void at(int64_t nowMillis) { backend_.setCurrentTime(nowMillis); }
  void key(int64_t key) { backend_.setCurrentKey(key); }
};

TEST_F(StateTtlTest, builderSetsAndDefaults) {
  StateTtlConfig defaults = StateTtlConfig::newBuilder(std::chrono::seconds(5)).build();
  EXPECT_EQ(defaults.ttl(), std::chrono::milliseconds(5000));
  EXPECT_EQ(defaults.updateType(), UpdateType::kOnCreateAndWrite);
  EXPECT_EQ(defaults.stateVisibility(), Visibility::kNeverReturnExpired);
  StateTtlConfig config = StateTtlConfig::newBuilder(std::chrono::minutes(1))
                              .setUpdateType(UpdateType::kOnReadAndWrite)
                              .setStateVisibility(Visibility::kReturnExpiredIfNotCleanedUp)
                              .build();
  EXPECT_EQ(config.ttl(), std::chrono::milliseconds(60000));
  EXPECT_EQ(config.updateType(), UpdateType::kOnReadAndWrite);
  EXPECT_EQ(config.stateVisibility(), Visibility::kReturnExpiredIfNotCleanedUp);
  EXPECT_NE(config, defaults);
  EXPECT_THROW(StateTtlConfig::newBuilder(std::chrono::milliseconds(0)).build(),
               std::invalid_argument);
}

TEST_F(StateTtlTest, valueExpiresTtlAfterLastWrite) {
  ValueState<int64_t>& state =
      backend_.getState(withTtl(ValueStateDescriptor<int64_t>("v"), UpdateType::kOnCreateAndWrite,
                                Visibility::kNeverReturnExpired));
  key(1);
  at(1000);
  state.update(7);
  at(1060);
  EXPECT_EQ(state.value(), 7);  // a read does not refresh on kOnCreateAndWrite
  at(1099);
  EXPECT_EQ(state.value(), 7);
  at(1100);
  EXPECT_EQ(state.valuePtr(), nullptr);
  EXPECT_EQ(backend_.numKeys(), 0u);  // the expired read cleared the key

  at(2000);
  state.update(8);
  at(2090);
  state.update(9);  // a write refreshes
  at(2150);
  EXPECT_EQ(state.value(), 9);
  at(2190);
  EXPECT_EQ(state.value(), std::nullopt);
}

TEST_F(StateTtlTest, valueReadsRefreshOnReadAndWrite) {
  ValueState<int64_t>& state =
      backend_.getState(withTtl(ValueStateDescriptor<int64_t>("v"), UpdateType::kOnReadAndWrite,
                                Visibility::kNeverReturnExpired));
  key(1);
  at(0);
  state.update(1);
  at(60);
  EXPECT_EQ(state.value(), 1);
  at(150);
  EXPECT_EQ(state.value(), 1);
  at(249);
  EXPECT_EQ(state.value(), 1);
  at(349);
  EXPECT_EQ(state.value(), std::nullopt);
  EXPECT_EQ(backend_.numKeys(), 0u);
}

TEST_F(StateTtlTest, expiredValueIsReturnedUntilCleanedUp) {
  for (UpdateType updateType : {UpdateType::kOnCreateAndWrite, UpdateType::kOnReadAndWrite}) {
    HeapKeyedStateBackend<int64_t> backend(KeyGroupRange{0, kMaxParallelism - 1}, kMaxParallelism);
    ValueState<std::string>& state =
        backend.getState(withTtl(ValueStateDescriptor<std::string>("v"), updateType,
                                 Visibility::kReturnExpiredIfNotCleanedUp));
    backend.setCurrentKey(int64_t{5});
    backend.setCurrentTime(0);
    state.update("old");
    backend.setCurrentTime(500);
    EXPECT_EQ(state.value(), "old");
    EXPECT_NE(state.valuePtr(), nullptr);
    EXPECT_EQ(backend.numKeys(), 1u);
    backend.compact();  // the clean-up
    EXPECT_EQ(backend.numKeys(), 0u);
    EXPECT_EQ(state.value(), std::nullopt);
  }
}

TEST_F(StateTtlTest, listElementsExpireOneByOne) {
  ListState<int64_t>& list = backend_.getListState(withTtl(ListStateDescriptor<int64_t>("l"),
                                                           UpdateType::kOnCreateAndWrite,
                                                           Visibility::kNeverReturnExpired));
  key(1);
  at(0);
  list.add(1);
  at(50);
  list.addAll({2, 3});
  at(99);
  EXPECT_THAT(list.get(), ElementsAre(1, 2, 3));
  at(100);
  EXPECT_THAT(list.get(), ElementsAre(2, 3));
  at(120);
  list.add(4);
  at(150);
  EXPECT_THAT(list.get(), ElementsAre(4));
  EXPECT_EQ(backend_.numKeys(), 1u);
  at(220);
  EXPECT_THAT(list.get(), IsEmpty());
  EXPECT_EQ(backend_.numKeys(), 0u);
}

TEST_F(StateTtlTest, listReadsRefreshUnexpiredElementsOnReadAndWrite) {
  ListState<int64_t>& list =
      backend_.getListState(withTtl(ListStateDescriptor<int64_t>("l"), UpdateType::kOnReadAndWrite,
                                    Visibility::kNeverReturnExpired));
  key(1);
  at(0);
  list.add(1);
  at(90);
  EXPECT_THAT(list.get(), ElementsAre(1));  // refreshes element 1 to 90
  at(150);
  list.add(2);
  at(185);
  EXPECT_THAT(list.get(), ElementsAre(1, 2));  // both refreshed to 185
  at(284);
  EXPECT_THAT(list.get(), ElementsAre(1, 2));
  at(384);
  EXPECT_THAT(list.get(), IsEmpty());
}

TEST_F(StateTtlTest, listReturnsExpiredElementsUntilCompaction) {
  ListState<int64_t>& list = backend_.getListState(
      withTtl(ListStateDescriptor<int64_t>("l"), UpdateType::kOnCreateAndWrite,
              Visibility::kReturnExpiredIfNotCleanedUp));
  key(1);
  at(0);
  list.add(1);
  at(50);
  list.add(2);
  at(120);
  EXPECT_THAT(list.get(), ElementsAre(1, 2));
  backend_.compact();
  EXPECT_THAT(list.get(), ElementsAre(2));
  at(200);
  backend_.compact();
  EXPECT_THAT(list.get(), IsEmpty());
  EXPECT_EQ(backend_.numKeys(), 0u);
}

TEST_F(StateTtlTest, mapEntriesExpireOneByOne) {
  MapState<std::string, int64_t>& map =
      backend_.getMapState(withTtl(MapStateDescriptor<std::string, int64_t>("m"),
                                   UpdateType::kOnCreateAndWrite, Visibility::kNeverReturnExpired));
  key(1);
  at(0);
  map.put("a", 1);
  at(50);
  map.put("b", 2);
  at(100);
  EXPECT_EQ(map.get("a"), std::nullopt);
  EXPECT_TRUE(map.contains("b"));
  map.put("c", 3);
  at(149);
  std::map<std::string, int64_t> entries;
  for (const auto& [userKey, value] : map.entries()) entries.emplace(userKey, value);
  EXPECT_EQ(entries, (std::map<std::string, int64_t>{{"b", 2}, {"c", 3}}));
  at(150);
  EXPECT_THAT(std::vector<std::string>(map.keys().begin(), map.keys().end()), ElementsAre("c"));
  at(200);
  EXPECT_TRUE(map.isEmpty());
  EXPECT_EQ(backend_.numKeys(), 0u);
}

TEST_F(StateTtlTest, mapReadsRefreshEntriesOnReadAndWrite) {
  MapState<int64_t, int64_t>& map =
      backend_.getMapState(withTtl(MapStateDescriptor<int64_t, int64_t>("m"),
                                   UpdateType::kOnReadAndWrite, Visibility::kNeverReturnExpired));
  key(1);
  at(0);
  map.put(1, 10);
  map.put(2, 20);
  at(80);
  EXPECT_EQ(map.get(1), 10);  // refreshes entry 1 only
  at(150);
  EXPECT_EQ(map.get(2), std::nullopt);
  EXPECT_EQ(map.get(1), 10);
  at(240);
  EXPECT_EQ(*map.values().begin(), 10);  // iteration refreshes too
  at(330);
  EXPECT_FALSE(map.isEmpty());
  at(430);
  EXPECT_TRUE(map.isEmpty());
}

TEST_F(StateTtlTest, mapReturnsExpiredEntriesUntilCompaction) {
  MapState<int64_t, int64_t>& map = backend_.getMapState(
      withTtl(MapStateDescriptor<int64_t, int64_t>("m"), UpdateType::kOnCreateAndWrite,
              Visibility::kReturnExpiredIfNotCleanedUp));
  key(1);
  at(0);
  map.put(1, 10);
  at(50);
  map.put(2, 20);
  at(120);
  EXPECT_EQ(map.get(1), 10);
  EXPECT_EQ(map.entries().size(), 2u);
  backend_.compact();
  EXPECT_EQ(map.get(1), std::nullopt);
  EXPECT_EQ(map.get(2), 20);
  EXPECT_EQ(backend_.numKeys(), 1u);
}

TEST_F(StateTtlTest, reducingAndAggregatingRestartFromExpiredValues) {
  for (Visibility visibility :
       {Visibility::kNeverReturnExpired, Visibility::kReturnExpiredIfNotCleanedUp}) {
    HeapKeyedStateBackend<int64_t> backend(KeyGroupRange{0, kMaxParallelism - 1}, kMaxParallelism);
    ReducingState<int64_t>& sum = backend.getReducingState(
        withTtl(ReducingStateDescriptor<int64_t>("sum", [](int64_t a, int64_t b) { return a + b; }),
                UpdateType::kOnCreateAndWrite, visibility));
    struct Count {
      int64_t createAccumulator() const { return 0; }
      int64_t add(const std::string&, int64_t accumulator) const { return accumulator + 1; }
      int64_t getResult(const int64_t& accumulator) const { return accumulator; }
      int64_t merge(int64_t a, int64_t b) const { return a + b; }
    };
    AggregatingState<std::string, int64_t>& count = backend.getAggregatingState(
        withTtl(AggregatingStateDescriptor<std::string, int64_t, int64_t>("count", Count()),
                UpdateType::kOnCreateAndWrite, visibility));
    backend.setCurrentKey(int64_t{3});
    backend.setCurrentTime(0);
    sum.add(5);
    count.add("x");
    backend.setCurrentTime(60);
    sum.add(1);  // refreshes to 60
    count.add("y");
    backend.setCurrentTime(159);
    EXPECT_EQ(sum.get(), 6);
    EXPECT_EQ(count.get(), 2);
    backend.setCurrentTime(160);
    sum.add(3);  // the expired 6 counts as absent, whatever the visibility
    count.add("z");
    EXPECT_EQ(sum.get(), 3);
    EXPECT_EQ(count.get(), 1);
  }
}

TEST_F(StateTtlTest, compactionErasesKeysWhoseValuesAllExpired) {
  ValueState<int64_t>& value =
      backend_.getState(withTtl(ValueStateDescriptor<int64_t>("v"), UpdateType::kOnCreateAndWrite,
                                Visibility::kNeverReturnExpired));
  ValueState<int64_t>& forever = backend_.getState(ValueStateDescriptor<int64_t>("forever"));
  at(0);
  for (int64_t k = 0; k < 100; ++k) {
    key(k);
    value.update(k);
    if (k % 10 == 5) forever.update(k);
  }
  at(80);
  for (int64_t k = 0; k < 100; k += 2) {
    key(k);
    value.update(k + 1);
  }
  at(120);
  backend_.compact();
  EXPECT_EQ(backend_.numKeys(), 50u + 10u);  // refreshed keys, plus odd keys with `forever`
  for (int64_t k = 0; k < 100; ++k) {
    key(k);
    EXPECT_EQ(value.value(), k % 2 == 0 ? std::optional<int64_t>(k + 1) : std::nullopt) << k;
  }
}

// The oracle test: random operations on value, list, map and reducing state with TTL, with
// time moving forward, against a model that keeps each value's last-access time and applies
// the documented rules. Run for each update type and visibility.
struct TimedValue {
  int64_t value;
  int64_t lastAccess;
};

struct TtlKeyModel {
  std::optional<TimedValue> value;
  std::vector<TimedValue> list;
  std::map<int32_t, TimedValue> map;
  std::optional<TimedValue> sum;
  bool empty() const { return !value && list.empty() && map.empty() && !sum; }
};

class StateTtlOracle {
 public:
  StateTtlOracle(UpdateType updateType, Visibility visibility)
      : updateOnRead_(updateType == UpdateType::kOnReadAndWrite),
        returnExpired_(visibility == Visibility::kReturnExpiredIfNotCleanedUp) {}

  void setNow(int64_t nowMillis) { now_ = nowMillis; }
  bool expired(const TimedValue& value) const { return now_ - value.lastAccess >= kTtlMillis; }

  // A read of one value: returns it if visible, applies refresh and lazy clean-up.
  std::optional<int64_t> read(std::optional<TimedValue>& slot) {
    if (!slot) return std::nullopt;
    if (expired(*slot)) {
      if (returnExpired_) return slot->value;
      slot.reset();
      return std::nullopt;
    }
    if (updateOnRead_) slot->lastAccess = now_;
    return slot->value;
  }

  std::optional<int64_t> readEntry(std::map<int32_t, TimedValue>& map, int32_t userKey) {
    auto it = map.find(userKey);
    if (it == map.end()) return std::nullopt;
    std::optional<TimedValue> slot = it->second;
    std::optional<int64_t> result = read(slot);
    if (slot) {
      it->second = *slot;
    } else {
      map.erase(it);
    }
    return result;
  }

  // A read of a whole collection: drops expired elements unless they are visible, refreshes
  // the unexpired ones.
  template <class Collection, class Get>
  void readAll(Collection& collection, Get&& timed) {
    if (!returnExpired_) {
      std::erase_if(collection, [&](auto& element) { return expired(timed(element)); });
    }
    if (updateOnRead_) {
      for (auto& element : collection) {
        if (!expired(timed(element))) timed(element).lastAccess = now_;
      }
    }
  }

  void compact(TtlKeyModel& model) {
    if (model.value && expired(*model.value)) model.value.reset();
    if (model.sum && expired(*model.sum)) model.sum.reset();
    std::erase_if(model.list, [&](const TimedValue& element) { return expired(element); });
    std::erase_if(model.map, [&](const auto& entry) { return expired(entry.second); });
  }

  int64_t now() const { return now_; }

 private:
  bool updateOnRead_;
  bool returnExpired_;
  int64_t now_ = 0;
};

void runTtlOracle(UpdateType updateType, Visibility visibility, uint32_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  HeapKeyedStateBackend<int64_t> backend(KeyGroupRange{2, 5}, kMaxParallelism);
  ValueState<int64_t>& value =
      backend.getState(withTtl(ValueStateDescriptor<int64_t>("value"), updateType, visibility));
  ListState<int64_t>& list =
      backend.getListState(withTtl(ListStateDescriptor<int64_t>("list"), updateType, visibility));
  MapState<int32_t, int64_t>& map = backend.getMapState(
      withTtl(MapStateDescriptor<int32_t, int64_t>("map"), updateType, visibility));
  ReducingState<int64_t>& sum = backend.getReducingState(
      withTtl(ReducingStateDescriptor<int64_t>("sum", [](int64_t a, int64_t b) { return a + b; }),
              updateType, visibility));

  std::vector<int64_t> keys;
  for (int64_t k = 0; keys.size() < 50; ++k) {
    if (KeyGroupRange{2, 5}.contains(keyGroupForHash(keyHash(k), kMaxParallelism))) {
      keys.push_back(k);
    }
  }
  StateTtlOracle oracle(updateType, visibility);
  std::map<int64_t, TtlKeyModel> model;
  std::mt19937 random(seed);
  auto pick = [&](int bound) { return static_cast<int>(random() % static_cast<uint32_t>(bound)); };
  auto timed = [](auto& element) -> auto& { return element; };
  auto timedEntry = [](auto& entry) -> auto& { return entry.second; };
  auto values = [](const std::vector<TimedValue>& elements) {
    std::vector<int64_t> result;
    for (const TimedValue& element : elements) result.push_back(element.value);
    return result;
  };

  int64_t now = 1000;
  for (int step = 0; step < 15000; ++step) {
    now += pick(5);
    backend.setCurrentTime(now);
    oracle.setNow(now);
    const int64_t k = keys[pick(static_cast<int>(keys.size()))];
    backend.setCurrentKey(k);
    TtlKeyModel& expected = model[k];
    const int64_t number = pick(100);
    const int32_t userKey = pick(6);
    const int operation = pick(17);
    SCOPED_TRACE("step " + std::to_string(step) + " operation " + std::to_string(operation));
    switch (operation) {
      case 0:
        value.update(number);
        expected.value = TimedValue{number, now};
        break;
      case 1:
      case 2:
        ASSERT_EQ(value.value(), oracle.read(expected.value));
        break;
      case 3:
        value.clear();
        expected.value.reset();
        break;
      case 4:
        list.add(number);
        expected.list.push_back({number, now});
        break;
      case 5: {
        std::vector<int64_t> elements{number, number + 1};
        list.update(elements);
        expected.list = {{number, now}, {number + 1, now}};
        break;
      }
      case 6:
      case 7: {
        oracle.readAll(expected.list, timed);
        ASSERT_EQ(list.get(), values(expected.list));
        break;
      }
      case 8:
        map.put(userKey, number);
        expected.map.insert_or_assign(userKey, TimedValue{number, now});
        break;
      case 9:
        ASSERT_EQ(map.get(userKey), oracle.readEntry(expected.map, userKey));
        break;
      case 10:
        map.remove(userKey);
        expected.map.erase(userKey);
        break;
      case 11: {
        oracle.readAll(expected.map, timedEntry);
        std::map<int32_t, int64_t> entries;
        for (const auto& [entryKey, entryValue] : map.entries())
          entries.emplace(entryKey, entryValue);
        std::map<int32_t, int64_t> expectedEntries;
        for (const auto& [entryKey, entry] : expected.map)
          expectedEntries.emplace(entryKey, entry.value);
        ASSERT_EQ(entries, expectedEntries);
        break;
      }
      case 12:
      case 13:
        sum.add(number);
        if (expected.sum && !oracle.expired(*expected.sum)) {
          expected.sum = TimedValue{expected.sum->value + number, now};
        } else {
          expected.sum = TimedValue{number, now};
        }
        break;
      case 14:
        ASSERT_EQ(sum.get(), oracle.read(expected.sum));
        break;
      case 15:
        sum.clear();
        expected.sum.reset();
        break;
      case 16:
        if (pick(10) == 0) {
          backend.compact();
          for (auto& [modelKey, keyModel] : model) oracle.compact(keyModel);
        }
        break;
    }
    size_t nonEmpty = 0;
    for (const auto& [modelKey, keyModel] : model) nonEmpty += keyModel.empty() ? 0 : 1;
    ASSERT_EQ(backend.numKeys(), nonEmpty);
  }
}

TEST_F(StateTtlTest, matchesModelOnCreateAndWriteNeverReturnExpired) {
  runTtlOracle(UpdateType::kOnCreateAndWrite, Visibility::kNeverReturnExpired, 11);
}
TEST_F(StateTtlTest, matchesModelOnReadAndWriteNeverReturnExpired) {
  runTtlOracle(UpdateType::kOnReadAndWrite, Visibility::kNeverReturnExpired, 12);
}
TEST_F(StateTtlTest, matchesModelOnCreateAndWriteReturnExpired) {
  runTtlOracle(UpdateType::kOnCreateAndWrite, Visibility::kReturnExpiredIfNotCleanedUp, 13);
}
TEST_F(StateTtlTest, matchesModelOnReadAndWriteReturnExpired) {
  runTtlOracle(UpdateType::kOnReadAndWrite, Visibility::kReturnExpiredIfNotCleanedUp, 14);
}

}  // namespace
}  // namespace strom
