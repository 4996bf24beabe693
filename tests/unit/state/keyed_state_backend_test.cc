#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/detail/keyed_state_backend.h>
#include <strom/state.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// Counts heap allocations, to check that the hot paths of state access allocate nothing.
namespace {
thread_local int64_t gAllocations = 0;
}  // namespace

// Not inlined, so that GCC does not mistake free() of operator new's memory for a mismatch.
[[gnu::noinline]] void* operator new(std::size_t size) {
  ++gAllocations;
  if (void* pointer = std::malloc(size == 0 ? 1 : size)) return pointer;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* pointer) noexcept { std::free(pointer); }
[[gnu::noinline]] void operator delete(void* pointer, std::size_t) noexcept { std::free(pointer); }

namespace strom {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr int kMaxParallelism = 16;
const KeyGroupRange kRange{4, 11};  // 8 of the 16 key groups

struct Key {
  int64_t value;
  uint64_t hash;
  int keyGroup;
};

// The first `count` keys whose key group falls in kRange.
std::vector<Key> keysInRange(size_t count) {
  std::vector<Key> keys;
  for (int64_t value = 0; keys.size() < count; ++value) {
    const uint64_t hash = keyHash(value);
    const int keyGroup = keyGroupForHash(hash, kMaxParallelism);
    if (kRange.contains(keyGroup)) keys.push_back({value, hash, keyGroup});
  }
  return keys;
}

// (sum, count) -> average, derived from the interface.
class Average final : public AggregateFunction<int64_t, std::pair<int64_t, int64_t>, double> {
 public:
  std::pair<int64_t, int64_t> createAccumulator() override { return {0, 0}; }
  std::pair<int64_t, int64_t> add(const int64_t& value,
                                  std::pair<int64_t, int64_t> accumulator) override {
    return {accumulator.first + value, accumulator.second + 1};
  }
  double getResult(const std::pair<int64_t, int64_t>& accumulator) override {
    return static_cast<double>(accumulator.first) / static_cast<double>(accumulator.second);
  }
  std::pair<int64_t, int64_t> merge(std::pair<int64_t, int64_t> a,
                                    std::pair<int64_t, int64_t> b) override {
    return {a.first + b.first, a.second + b.second};
  }
};

// A duck-typed aggregate function: concatenates strings, yields their total length.
struct Concatenate {
  std::string createAccumulator() const { return {}; }
  std::string add(const std::string& value, std::string accumulator) const {
    return accumulator + value;
  }
  size_t getResult(const std::string& accumulator) const { return accumulator.size(); }
  std::string merge(std::string a, const std::string& b) const { return a + b; }
};

// What one key holds, in every state of the oracle test.
struct KeyModel {
  std::optional<int64_t> value;
  std::optional<std::string> text;
  std::vector<int64_t> list;
  std::map<int32_t, std::string> map;
  std::optional<int64_t> sum;
  std::optional<std::pair<int64_t, int64_t>> average;
  std::optional<std::string> concatenation;

  bool empty() const {
    return !value && !text && list.empty() && map.empty() && !sum && !average && !concatenation;
  }
};

class KeyedStateBackendTest : public ::testing::Test {
 protected:
  HeapKeyedStateBackend<int64_t> backend_{kRange, kMaxParallelism};

  void setKey(const Key& key) { backend_.setCurrentKey(key.value, key.hash, key.keyGroup); }
};

// The oracle test: random operations on every state kind over 500 keys in 8 key groups,
// compared with a std::map model after every operation.
TEST_F(KeyedStateBackendTest, everyStateKindMatchesModelUnderRandomOperations) {
  ValueState<int64_t>& value = backend_.getState(ValueStateDescriptor<int64_t>("value"));
  ValueState<std::string>& text = backend_.getState(ValueStateDescriptor<std::string>("text"));
  ListState<int64_t>& list = backend_.getListState(ListStateDescriptor<int64_t>("list"));
  MapState<int32_t, std::string>& map =
      backend_.getMapState(MapStateDescriptor<int32_t, std::string>("map"));
  ReducingState<int64_t>& sum = backend_.getReducingState(ReducingStateDescriptor<int64_t>(
      "sum", [](const int64_t& a, const int64_t& b) { return a + b; }));
  AggregatingState<int64_t, double>& average = backend_.getAggregatingState(
      AggregatingStateDescriptor<int64_t, std::pair<int64_t, int64_t>, double>("average",
                                                                               Average()));
  AggregatingState<std::string, size_t>& concatenation = backend_.getAggregatingState(
      AggregatingStateDescriptor<std::string, std::string, size_t>("concatenation", Concatenate()));
  EXPECT_EQ(backend_.numStates(), 7u);

  const std::vector<Key> keys = keysInRange(500);
  std::map<int64_t, KeyModel> model;
  std::mt19937 random(42);
  auto pick = [&](int bound) { return static_cast<int>(random() % static_cast<uint32_t>(bound)); };

  auto nonEmptyKeys = [&] {
    size_t count = 0;
    for (const auto& [key, keyModel] : model) count += keyModel.empty() ? 0 : 1;
    return count;
  };

  // Compare every state of the current key with the model. Reads only.
  auto expectKeyMatches = [&](int64_t key) {
    const KeyModel& expected = model[key];
    ASSERT_EQ(value.value(), expected.value) << "key " << key;
    ASSERT_EQ(value.valuePtr() != nullptr, expected.value.has_value());
    ASSERT_EQ(text.value(), expected.text) << "key " << key;
    ASSERT_EQ(list.get(), expected.list) << "key " << key;
    std::map<int32_t, std::string> entries;
    for (const auto& [userKey, userValue] : map.entries()) entries.emplace(userKey, userValue);
    ASSERT_EQ(entries, expected.map) << "key " << key;
    ASSERT_EQ(map.isEmpty(), expected.map.empty());
    std::set<int32_t> userKeys(map.keys().begin(), map.keys().end());
    ASSERT_EQ(userKeys.size(), expected.map.size());
    size_t numValues = 0;
    for (const std::string& userValue : map.values()) {
      (void)userValue;
      ++numValues;
    }
    ASSERT_EQ(numValues, expected.map.size());
    ASSERT_EQ(sum.get(), expected.sum) << "key " << key;
    if (expected.average) {
      ASSERT_EQ(average.get(), static_cast<double>(expected.average->first) /
                                   static_cast<double>(expected.average->second));
    } else {
      ASSERT_EQ(average.get(), std::nullopt);
    }
    ASSERT_EQ(concatenation.get(), expected.concatenation
                                       ? std::optional<size_t>(expected.concatenation->size())
                                       : std::nullopt);
  };

  auto expectAllKeysMatch = [&] {
    for (const Key& key : keys) {
      setKey(key);
      expectKeyMatches(key.value);
    }
    // The key tables hold exactly the keys with state, each with its own id.
    std::set<int64_t> tableKeys;
    std::set<uint32_t> keyIds;
    for (int group = kRange.startKeyGroup; group <= kRange.endKeyGroup; ++group) {
      backend_.forEachKey(group, [&](const int64_t& key, uint32_t keyId) {
        EXPECT_EQ(keyGroupForHash(keyHash(key), kMaxParallelism), group);
        EXPECT_TRUE(tableKeys.insert(key).second);
        EXPECT_TRUE(keyIds.insert(keyId).second);
      });
    }
    std::set<int64_t> modelKeys;
    for (const auto& [key, keyModel] : model) {
      if (!keyModel.empty()) modelKeys.insert(key);
    }
    ASSERT_EQ(tableKeys, modelKeys);
  };

  for (int step = 0; step < 20000; ++step) {
    const Key& key = keys[pick(static_cast<int>(keys.size()))];
    setKey(key);
    KeyModel& expected = model[key.value];
    const int64_t number = pick(1000) - 500;
    const int32_t userKey = pick(12);
    const int operation = pick(24);
    SCOPED_TRACE("step " + std::to_string(step) + " operation " + std::to_string(operation));
    switch (operation) {
      case 0:
      case 1:
        value.update(number);
        expected.value = number;
        break;
      case 2:
        value.clear();
        expected.value.reset();
        break;
      case 3:
        text.update("text-" + std::to_string(number) + "-long-enough-to-allocate");
        expected.text = "text-" + std::to_string(number) + "-long-enough-to-allocate";
        break;
      case 4:
        text.clear();
        expected.text.reset();
        break;
      case 5:
      case 6:
        list.add(number);
        expected.list.push_back(number);
        break;
      case 7: {
        std::vector<int64_t> values(static_cast<size_t>(pick(4)), number);
        list.addAll(values);
        expected.list.insert(expected.list.end(), values.begin(), values.end());
        break;
      }
      case 8: {
        std::vector<int64_t> values(static_cast<size_t>(pick(3)), number);
        list.update(values);
        expected.list = values;
        break;
      }
      case 9:
        list.clear();
        expected.list.clear();
        break;
      case 10:
      case 11:
        map.put(userKey, std::to_string(number));
        expected.map[userKey] = std::to_string(number);
        break;
      case 12:
        map.remove(userKey);
        expected.map.erase(userKey);
        break;
      case 13: {
        auto it = expected.map.find(userKey);
        ASSERT_EQ(map.get(userKey),
                  it == expected.map.end() ? std::nullopt : std::optional(it->second));
        ASSERT_EQ(map.contains(userKey), it != expected.map.end());
        break;
      }
      case 14:
        map.clear();
        expected.map.clear();
        break;
      case 15: {
        std::map<int32_t, std::string> batch{{userKey, "a"}, {userKey + 20, "b"}};
        map.putAll(batch);
        for (const auto& [k, v] : batch) expected.map[k] = v;
        break;
      }
      case 16:
      case 17:
        sum.add(number);
        expected.sum = expected.sum ? *expected.sum + number : number;
        break;
      case 18:
        sum.clear();
        expected.sum.reset();
        break;
      case 19:
        average.add(number);
        expected.average = expected.average ? std::pair(expected.average->first + number,
                                                        expected.average->second + 1)
                                            : std::pair(number, int64_t{1});
        break;
      case 20:
        average.clear();
        expected.average.reset();
        break;
      case 21:
        concatenation.add(std::to_string(number));
        expected.concatenation = expected.concatenation.value_or("") + std::to_string(number);
        break;
      case 22:
        concatenation.clear();
        expected.concatenation.reset();
        break;
      case 23:
        // Without TTL, compaction changes nothing visible.
        backend_.compact();
        break;
    }
    expectKeyMatches(key.value);
    ASSERT_EQ(backend_.numKeys(), nonEmptyKeys());
    if (step % 2500 == 0) expectAllKeysMatch();
  }
  expectAllKeysMatch();
  EXPECT_GT(nonEmptyKeys(), 300u);  // the operations mix keeps most keys alive
}

TEST_F(KeyedStateBackendTest, readsOfAbsentKeysDoNotInsert) {
  ValueState<int64_t>& value = backend_.getState(ValueStateDescriptor<int64_t>("value"));
  ListState<int64_t>& list = backend_.getListState(ListStateDescriptor<int64_t>("list"));
  MapState<int64_t, int64_t>& map =
      backend_.getMapState(MapStateDescriptor<int64_t, int64_t>("map"));
  ReducingState<int64_t>& sum = backend_.getReducingState(
      ReducingStateDescriptor<int64_t>("sum", [](int64_t a, int64_t b) { return a + b; }));
  AggregatingState<int64_t, double>& average = backend_.getAggregatingState(
      AggregatingStateDescriptor<int64_t, std::pair<int64_t, int64_t>, double>("avg", Average()));
  for (const Key& key : keysInRange(50)) {
    setKey(key);
    EXPECT_EQ(value.value(), std::nullopt);
    EXPECT_EQ(value.valuePtr(), nullptr);
    EXPECT_THAT(list.get(), IsEmpty());
    EXPECT_EQ(map.get(1), std::nullopt);
    EXPECT_EQ(map.getPtr(1), nullptr);
    EXPECT_FALSE(map.contains(1));
    EXPECT_TRUE(map.isEmpty());
    EXPECT_EQ(map.entries().begin(), map.entries().end());
    EXPECT_EQ(sum.get(), std::nullopt);
    EXPECT_EQ(average.get(), std::nullopt);
    // Clears, removes and empty writes of absent keys are no-ops.
    value.clear();
    list.clear();
    list.addAll({});
    list.update({});
    map.remove(1);
    map.clear();
    sum.clear();
    average.clear();
    EXPECT_EQ(backend_.currentKeyId(false), KeyedStateBackend::kNoKeyId);
  }
  EXPECT_EQ(backend_.numKeys(), 0u);

  const Key key = keysInRange(1)[0];
  setKey(key);
  map.put(3, 4);
  EXPECT_EQ(backend_.numKeys(), 1u);
  EXPECT_NE(backend_.currentKeyId(false), KeyedStateBackend::kNoKeyId);
}

TEST_F(KeyedStateBackendTest, keyIdsAreRecycledWhenLastStateEmpties) {
  ValueState<int64_t>& value = backend_.getState(ValueStateDescriptor<int64_t>("value"));
  ListState<int64_t>& list = backend_.getListState(ListStateDescriptor<int64_t>("list"));
  const std::vector<Key> keys = keysInRange(3);
  setKey(keys[0]);
  value.update(1);
  list.add(1);
  const uint32_t firstId = backend_.currentKeyId(false);
  value.clear();
  EXPECT_EQ(backend_.numKeys(), 1u);  // the list still holds a value
  EXPECT_EQ(backend_.currentKeyId(false), firstId);
  list.clear();
  EXPECT_EQ(backend_.numKeys(), 0u);
  EXPECT_EQ(backend_.currentKeyId(false), KeyedStateBackend::kNoKeyId);

  // A new key takes the freed id and starts with empty states.
  setKey(keys[1]);
  EXPECT_EQ(value.value(), std::nullopt);
  list.add(7);
  EXPECT_EQ(backend_.currentKeyId(false), firstId);
  EXPECT_EQ(value.value(), std::nullopt);
  EXPECT_THAT(list.get(), ElementsAre(7));

  // Clear and rewrite in the same record: the key comes back.
  list.clear();
  list.add(8);
  EXPECT_EQ(backend_.numKeys(), 1u);
  EXPECT_THAT(list.get(), ElementsAre(8));
  setKey(keys[0]);
  EXPECT_THAT(list.get(), IsEmpty());
}

TEST_F(KeyedStateBackendTest, forEachKeyVisitsTheKeysOfOneKeyGroup) {
  ValueState<int64_t>& value = backend_.getState(ValueStateDescriptor<int64_t>("value"));
  std::map<int, std::set<int64_t>> expected;
  for (const Key& key : keysInRange(200)) {
    setKey(key);
    value.update(key.value * 10);
    expected[key.keyGroup].insert(key.value);
  }
  EXPECT_EQ(backend_.numKeys(), 200u);
  for (int group = kRange.startKeyGroup; group <= kRange.endKeyGroup; ++group) {
    std::set<int64_t> visited;
    backend_.forEachKey(group, [&](const int64_t& key, uint32_t keyId) {
      visited.insert(key);
      EXPECT_LT(keyId, 200u);
    });
    EXPECT_EQ(visited, expected[group]) << "key group " << group;
  }
}

TEST_F(KeyedStateBackendTest, sameDescriptorReturnsSameHandle) {
  ValueStateDescriptor<int64_t> descriptor("value");
  ValueState<int64_t>& first = backend_.getState(descriptor);
  ValueState<int64_t>& second = backend_.getState(ValueStateDescriptor<int64_t>("value"));
  EXPECT_EQ(&first, &second);
  EXPECT_EQ(backend_.numStates(), 1u);
  AggregatingStateDescriptor<int64_t, std::pair<int64_t, int64_t>, double> average("avg",
                                                                                   Average());
  EXPECT_EQ(&backend_.getAggregatingState(average), &backend_.getAggregatingState(average));
}

TEST_F(KeyedStateBackendTest, misuseThrowsLogicErrorNamingTheState) {
  backend_.getState(ValueStateDescriptor<int64_t>("counter"));
  auto expectThrowsNaming = [](auto&& action, const std::string& name, const std::string& what) {
    try {
      action();
      ADD_FAILURE() << "no exception for " << name;
    } catch (const std::logic_error& error) {
      EXPECT_THAT(error.what(), HasSubstr("'" + name + "'"));
      EXPECT_THAT(error.what(), HasSubstr(what));
    }
  };
  expectThrowsNaming([&] { backend_.getListState(ListStateDescriptor<int64_t>("counter")); },
                     "counter", "ValueState");
  expectThrowsNaming([&] { backend_.getState(ValueStateDescriptor<std::string>("counter")); },
                     "counter", "different value types");
  expectThrowsNaming(
      [&] {
        ValueStateDescriptor<int64_t> withTtl("counter");
        withTtl.enableTimeToLive(StateTtlConfig::newBuilder(std::chrono::seconds(1)).build());
        backend_.getState(withTtl);
      },
      "counter", "TTL");
  expectThrowsNaming(
      [&] {
        backend_.getReducingState(ReducingStateDescriptor<int64_t>(
            "counter", [](int64_t a, int64_t b) { return a + b; }));
      },
      "counter", "ReducingState");

  // No current key yet.
  ListState<int64_t>& list = backend_.getListState(ListStateDescriptor<int64_t>("events"));
  expectThrowsNaming([&] { list.add(1); }, "events", "current key");
  expectThrowsNaming([&] { (void)list.get(); }, "events", "current key");
  MapState<std::string, int64_t>& map =
      backend_.getMapState(MapStateDescriptor<std::string, int64_t>("index"));
  expectThrowsNaming([&] { (void)map.contains("x"); }, "index", "current key");
  EXPECT_THROW(backend_.currentKeyId(false), std::logic_error);

  EXPECT_THROW(ValueStateDescriptor<int64_t>(""), std::invalid_argument);
  // The names of the timer queues' RocksDB columns are reserved.
  EXPECT_THROW(ValueStateDescriptor<int64_t>("_timer_state/event"), std::invalid_argument);
  EXPECT_THROW(ReducingStateDescriptor<int64_t>(
                   "r", std::function<int64_t(const int64_t&, const int64_t&)>()),
               std::invalid_argument);
}

TEST_F(KeyedStateBackendTest, stringKeysAndMapIterationViews) {
  HeapKeyedStateBackend<std::string> backend(KeyGroupRange{0, kMaxParallelism - 1},
                                             kMaxParallelism);
  MapState<std::string, int64_t>& map =
      backend.getMapState(MapStateDescriptor<std::string, int64_t>("counts"));
  backend.setCurrentKey(std::string("alice"));
  map.put("apples", 1);
  map.put("pears", 2);
  map.put("apples", 3);
  backend.setCurrentKey(std::string("bob"));
  map.put("plums", 5);
  EXPECT_EQ(backend.numKeys(), 2u);

  backend.setCurrentKey(std::string("alice"));
  EXPECT_EQ(backend.currentKey(), "alice");
  std::map<std::string, int64_t> entries;
  for (const auto& [fruit, count] : map.entries()) entries.emplace(fruit, count);
  EXPECT_EQ(entries, (std::map<std::string, int64_t>{{"apples", 3}, {"pears", 2}}));
  EXPECT_THAT(std::vector<std::string>(map.keys().begin(), map.keys().end()),
              UnorderedElementsAre("apples", "pears"));
  EXPECT_THAT(std::vector<int64_t>(map.values().begin(), map.values().end()),
              UnorderedElementsAre(3, 2));
  EXPECT_EQ(map.entries().size(), 2u);
  map.remove("apples");
  map.remove("pears");
  EXPECT_EQ(backend.numKeys(), 1u);
  backend.setCurrentKey(std::string("bob"));
  EXPECT_EQ(map.get("plums"), 5);
}

// A map-state user key with std::hash but no KeyTraits.
struct Point {
  int x = 0;
  int y = 0;
  bool operator==(const Point&) const = default;
};

}  // namespace
}  // namespace strom

template <>
struct std::hash<strom::Point> {
  size_t operator()(const strom::Point& point) const {
    return std::hash<int>()(point.x) * 31 + std::hash<int>()(point.y);
  }
};

namespace strom {
namespace {

TEST_F(KeyedStateBackendTest, mapStateAcceptsStdHashableUserKeys) {
  static_assert(!detail::HasKeyTraits<Point> && detail::StdHashable<Point>);
  MapState<Point, std::string>& map =
      backend_.getMapState(MapStateDescriptor<Point, std::string>("points"));
  setKey(keysInRange(1)[0]);
  for (int x = 0; x < 40; ++x) map.put(Point{x, -x}, std::to_string(x));
  for (int x = 0; x < 40; ++x) EXPECT_EQ(map.get(Point{x, -x}), std::to_string(x));
  EXPECT_FALSE(map.contains(Point{1, 1}));
}

TEST_F(KeyedStateBackendTest, hotPathsDoNotAllocate) {
  ValueState<int64_t>& value = backend_.getState(ValueStateDescriptor<int64_t>("value"));
  ReducingState<int64_t>& sum = backend_.getReducingState(
      ReducingStateDescriptor<int64_t>("sum", [](int64_t a, int64_t b) { return a + b; }));
  MapState<int64_t, int64_t>& map =
      backend_.getMapState(MapStateDescriptor<int64_t, int64_t>("map"));
  AggregatingState<int64_t, double>& average = backend_.getAggregatingState(
      AggregatingStateDescriptor<int64_t, std::pair<int64_t, int64_t>, double>("avg", Average()));
  const std::vector<Key> keys = keysInRange(100);
  for (const Key& key : keys) {  // warm-up: creates the keys and sizes the storage
    setKey(key);
    value.update(0);
    sum.add(0);
    map.put(1, 0);
    average.add(0);
  }
  const int64_t counterCheck = gAllocations;
  std::vector<int64_t> probe(100);
  ASSERT_GT(gAllocations, counterCheck) << "the allocation counter is not live";

  const int64_t before = gAllocations;
  int64_t total = 0;
  for (int round = 0; round < 10; ++round) {
    for (const Key& key : keys) {
      setKey(key);
      const int64_t* current = value.valuePtr();
      total += *current;
      value.update(*current + 1);
      sum.add(key.value);
      map.put(1, round);
      total += *map.getPtr(1);
      average.add(round);
      total += static_cast<int64_t>(*average.get());
      total += *value.value();
    }
  }
  EXPECT_EQ(gAllocations - before, 0);
  EXPECT_GT(total, 0);
}

}  // namespace
}  // namespace strom
