#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/detail/flat_hash_map.h>
#include <strom/key.h>

#include <bit>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace strom::detail {
namespace {

using HashFunction = std::function<uint64_t(int64_t)>;

uint64_t goodHash(int64_t key) { return keyHash(key); }
// Only 16 distinct hashes: long collision chains, equal hashes with different keys.
uint64_t collidingHash(int64_t key) { return murmurMix(static_cast<uint64_t>(key % 16)); }
// Hash 0 is the free-slot marker inside the map, so it must still work as a key's hash.
uint64_t zeroOrOneHash(int64_t key) { return static_cast<uint64_t>(key % 2); }
// Identity: sequential keys, weak low bits.
uint64_t identityHash(int64_t key) { return static_cast<uint64_t>(key); }

// Counts live instances, to check that the map destroys what it constructs.
struct Tracked {
  static inline int live = 0;
  explicit Tracked(std::string text) : value(std::move(text)) { ++live; }
  Tracked(const Tracked& other) : value(other.value) { ++live; }
  Tracked(Tracked&& other) noexcept : value(std::move(other.value)) { ++live; }
  Tracked& operator=(const Tracked&) = default;
  Tracked& operator=(Tracked&&) noexcept = default;
  ~Tracked() { --live; }
  std::string value;
};

template <class K, class V>
void expectInvariants(const FlatHashMap<K, V>& map) {
  const size_t capacity = map.capacity();
  if (capacity == 0) {
    EXPECT_EQ(map.size(), 0u);
    return;
  }
  EXPECT_TRUE(std::has_single_bit(capacity)) << capacity;
  EXPECT_LE(map.size() * 5, capacity * 4) << "load factor above 0.8";
}

void runAgainstUnorderedMap(const HashFunction& hash, int numOperations, int keySpace,
                            uint32_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  std::uniform_int_distribution<int64_t> keys(0, keySpace - 1);
  std::uniform_int_distribution<int> operations(0, 99);
  FlatHashMap<int64_t, int64_t> map;
  std::unordered_map<int64_t, int64_t> model;
  for (int step = 0; step < numOperations; ++step) {
    const int64_t key = keys(random);
    const int operation = operations(random);
    if (operation < 45) {
      const int64_t value = static_cast<int64_t>(random());
      auto [slot, inserted] = map.tryEmplace(key, hash(key), value);
      auto [modelIt, modelInserted] = model.try_emplace(key, value);
      ASSERT_EQ(inserted, modelInserted) << "step " << step;
      ASSERT_EQ(*slot, modelIt->second);
      if (operation < 15) {  // overwrite through the returned pointer
        *slot = value + 1;
        modelIt->second = value + 1;
      }
    } else if (operation < 75) {
      ASSERT_EQ(map.erase(key, hash(key)), model.erase(key) == 1) << "step " << step;
    } else {
      const int64_t* found = map.find(key, hash(key));
      auto modelIt = model.find(key);
      ASSERT_EQ(found != nullptr, modelIt != model.end()) << "step " << step;
      if (found != nullptr) {
        ASSERT_EQ(*found, modelIt->second);
      }
      ASSERT_EQ(map.contains(key, hash(key)), found != nullptr);
    }
    ASSERT_EQ(map.size(), model.size());
    if (step % 500 == 0 || step == numOperations - 1) {
      expectInvariants(map);
      std::unordered_map<int64_t, int64_t> contents;
      for (const auto& [entryKey, entryValue] : map) {
        ASSERT_TRUE(contents.emplace(entryKey, entryValue).second) << "key seen twice";
      }
      ASSERT_EQ(contents, model);
      for (const auto& [modelKey, modelValue] : model) {
        const int64_t* found = map.find(modelKey, hash(modelKey));
        ASSERT_NE(found, nullptr);
        ASSERT_EQ(*found, modelValue);
      }
    }
  }
}

TEST(FlatHashMapTest, defaultConstructedMapIsEmptyAndUnallocated) {
  FlatHashMap<int64_t, int> map;
  EXPECT_EQ(map.size(), 0u);
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.capacity(), 0u);
  EXPECT_EQ(map.find(1, goodHash(1)), nullptr);
  EXPECT_FALSE(map.erase(1, goodHash(1)));
  EXPECT_EQ(map.begin(), map.end());
  EXPECT_EQ(map.eraseIf([](const int64_t&, int&) { return true; }), 0u);
}

TEST(FlatHashMapTest, matchesUnorderedMapWithGoodHash) {
  runAgainstUnorderedMap(goodHash, 20000, 3000, 1);
}

TEST(FlatHashMapTest, matchesUnorderedMapWithCollidingHash) {
  runAgainstUnorderedMap(collidingHash, 20000, 400, 2);
}

TEST(FlatHashMapTest, matchesUnorderedMapWithZeroHashes) {
  runAgainstUnorderedMap(zeroOrOneHash, 5000, 200, 3);
}

TEST(FlatHashMapTest, matchesUnorderedMapWithIdentityHash) {
  runAgainstUnorderedMap(identityHash, 20000, 5000, 4);
}

TEST(FlatHashMapTest, growsThroughManyDoublingsAndKeepsEveryEntry) {
  FlatHashMap<int64_t, int64_t> map;
  size_t growths = 0;
  size_t capacity = 0;
  for (int64_t key = 0; key < 100000; ++key) {
    ASSERT_TRUE(map.tryEmplace(key, goodHash(key), key * 3).second);
    if (map.capacity() != capacity) {
      ++growths;
      capacity = map.capacity();
    }
  }
  EXPECT_GE(growths, 10u);
  expectInvariants(map);
  for (int64_t key = 0; key < 100000; ++key) {
    const int64_t* value = map.find(key, goodHash(key));
    ASSERT_NE(value, nullptr) << key;
    ASSERT_EQ(*value, key * 3);
  }
  EXPECT_EQ(map.find(100000, goodHash(100000)), nullptr);
}

TEST(FlatHashMapTest, allocatesOnlyOnGrowth) {
  FlatHashMap<int64_t, int64_t> map;
  map.reserve(1000);
  const size_t capacity = map.capacity();
  EXPECT_GE(capacity * 4 / 5, 1000u);
  std::mt19937 random(5);
  for (int round = 0; round < 20000; ++round) {
    const int64_t key = static_cast<int64_t>(random() % 1000);
    if (!map.erase(key, goodHash(key))) map.tryEmplace(key, goodHash(key), key);
  }
  EXPECT_EQ(map.capacity(), capacity);
  map.clear();
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.capacity(), capacity);
  EXPECT_EQ(map.begin(), map.end());
}

TEST(FlatHashMapTest, tryEmplaceConsumesArgumentsOnlyWhenInserting) {
  FlatHashMap<std::string, std::string> map;
  const std::string key = "key";
  const uint64_t hash = keyHash(key);
  std::string first = "first";
  auto [value, inserted] = map.tryEmplace(std::string(key), hash, std::move(first));
  EXPECT_TRUE(inserted);
  EXPECT_EQ(*value, "first");
  std::string movedKey = key;
  std::string second = "second";
  auto [again, insertedAgain] = map.tryEmplace(std::move(movedKey), hash, std::move(second));
  EXPECT_FALSE(insertedAgain);
  EXPECT_EQ(*again, "first");
  EXPECT_EQ(second, "second");  // NOLINT(bugprone-use-after-move): not consumed
  EXPECT_EQ(movedKey, "key");   // NOLINT(bugprone-use-after-move): not consumed
}

TEST(FlatHashMapTest, destroysEveryEntryItConstructs) {
  Tracked::live = 0;
  {
    FlatHashMap<std::string, Tracked> map;
    std::mt19937 random(6);
    std::map<std::string, std::string> model;
    for (int step = 0; step < 5000; ++step) {
      std::string key = "key-" + std::to_string(random() % 300);
      const uint64_t hash = keyHash(key);
      if (random() % 3 == 0) {
        ASSERT_EQ(map.erase(key, hash), model.erase(key) == 1);
      } else {
        std::string value = "value-" + std::to_string(step) + "-with-a-long-enough-tail";
        const bool inserted = map.tryEmplace(key, hash, value).second;
        ASSERT_EQ(inserted, model.emplace(key, value).second);
      }
      ASSERT_EQ(Tracked::live, static_cast<int>(model.size()));
    }
    for (const auto& [key, value] : model) {
      const Tracked* found = map.find(key, keyHash(key));
      ASSERT_NE(found, nullptr);
      EXPECT_EQ(found->value, value);
    }
    FlatHashMap<std::string, Tracked> moved(std::move(map));
    EXPECT_EQ(moved.size(), model.size());
    EXPECT_EQ(Tracked::live, static_cast<int>(model.size()));
    moved.clear();
    EXPECT_EQ(Tracked::live, 0);
    moved.tryEmplace("again", keyHash(std::string("again")), "value");
    EXPECT_EQ(Tracked::live, 1);
  }
  EXPECT_EQ(Tracked::live, 0);
}

TEST(FlatHashMapTest, moveLeavesSourceEmptyAndUsable) {
  FlatHashMap<int64_t, int> source;
  for (int64_t key = 0; key < 100; ++key) source.tryEmplace(key, goodHash(key), 1);
  FlatHashMap<int64_t, int> target;
  target.tryEmplace(7, goodHash(7), 2);
  target = std::move(source);
  EXPECT_EQ(target.size(), 100u);
  EXPECT_EQ(*target.find(7, goodHash(7)), 1);
  EXPECT_EQ(source.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(source.capacity(), 0u);
  EXPECT_EQ(source.find(7, goodHash(7)), nullptr);
  source.tryEmplace(1, goodHash(1), 5);
  EXPECT_EQ(*source.find(1, goodHash(1)), 5);
}

TEST(FlatHashMapTest, eraseIfVisitsEveryEntryOnceAndErasesMatches) {
  for (const HashFunction& hash : std::vector<HashFunction>{goodHash, collidingHash}) {
    FlatHashMap<int64_t, int64_t> map;
    for (int64_t key = 0; key < 2000; ++key) map.tryEmplace(key, hash(key), key);
    std::map<int64_t, int> visits;
    const size_t erased = map.eraseIf([&](const int64_t& key, int64_t& value) {
      ++visits[key];
      value += 1;  // the predicate may update the survivors
      return key % 3 == 0;
    });
    EXPECT_EQ(erased, 667u);
    EXPECT_EQ(visits.size(), 2000u);
    for (const auto& [key, count] : visits) ASSERT_EQ(count, 1) << key;
    EXPECT_EQ(map.size(), 2000u - 667u);
    for (int64_t key = 0; key < 2000; ++key) {
      const int64_t* value = map.find(key, hash(key));
      if (key % 3 == 0) {
        ASSERT_EQ(value, nullptr) << key;
      } else {
        ASSERT_NE(value, nullptr) << key;
        ASSERT_EQ(*value, key + 1);
      }
    }
    expectInvariants(map);
  }
}

TEST(FlatHashMapTest, iteratesKeysAndMutableValues) {
  FlatHashMap<int64_t, int64_t> map;
  for (int64_t key = 1; key <= 50; ++key) map.tryEmplace(key, goodHash(key), 0);
  for (auto it = map.begin(); it != map.end(); ++it) it.value() = it.key() * 2;
  int64_t sum = 0;
  const FlatHashMap<int64_t, int64_t>& constMap = map;
  for (const auto& [key, value] : constMap) {
    EXPECT_EQ(value, key * 2);
    sum += value;
  }
  EXPECT_EQ(sum, 50 * 51);
}

}  // namespace
}  // namespace strom::detail
