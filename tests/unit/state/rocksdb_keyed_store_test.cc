#include "state/rocksdb/rocksdb_keyed_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "state/rocksdb/rocksdb_resources.h"
#include "state/rocksdb/ttl_filter.h"
#include "testutil/status_matchers.h"

namespace strom::state {
namespace {

namespace fs = std::filesystem;
using Layout = StoredStateSpec::Layout;
using Entries = std::vector<std::pair<std::string, std::string>>;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

/// A directory under the system's temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "strom-rocksdb-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? fs::path(pattern) : fs::path();
  }
  ~TempDir() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// Return a key of key group `keyGroup`: its 2-byte big-endian prefix, then `rest`.
std::string key(int keyGroup, std::string_view rest) {
  std::string bytes{static_cast<char>(keyGroup >> 8), static_cast<char>(keyGroup & 0xff)};
  bytes.append(rest);
  return bytes;
}

/// Return `value` followed by the TTL stamp `lastAccess` (i64le).
std::string stamped(std::string_view value, int64_t lastAccess) {
  std::string bytes(value);
  bytes.append(reinterpret_cast<const char*>(&lastAccess), sizeof(lastAccess));
  return bytes;
}

/// Return the list record of `element`: varint(size) element.
std::string record(std::string_view element) {
  std::string bytes;
  uint64_t size = element.size();
  do {
    uint8_t byte = size & 0x7f;
    size >>= 7;
    bytes.push_back(static_cast<char>(size != 0 ? byte | 0x80 : byte));
  } while (size != 0);
  bytes.append(element);
  return bytes;
}

Entries scanAll(RocksDbKeyedStore& store, uint32_t column, std::string_view prefix = {}) {
  Entries entries;
  Status status = store.scan(column, prefix, [&](std::string_view k, std::string_view v) {
    entries.emplace_back(std::string(k), std::string(v));
  });
  EXPECT_OK(status);
  return entries;
}

/// Return the value of `k`, or "<absent>".
std::string valueOf(RocksDbKeyedStore& store, uint32_t column, std::string_view k) {
  std::string value;
  Result<bool> found = store.get(column, k, value);
  EXPECT_OK(found);
  return found.isOk() && *found ? value : "<absent>";
}

/// Copy the regular files of `from` into the new directory `to` (a download of a checkpoint).
void copyFiles(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const fs::directory_entry& entry : fs::directory_iterator(from)) {
    fs::copy_file(entry.path(), to / entry.path().filename());
  }
}

class RocksDbKeyedStoreTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<RocksDbKeyedStore>> openStore(
      const fs::path& directory, KeyGroupRange range,
      std::vector<RocksDbRestoreSource> restore = {}) {
    RocksDbStoreOptions options;
    options.directory = directory;
    options.keyGroupRange = range;
    options.maxParallelism = 128;
    options.resources = resources_;
    options.clock = [this] { return clock_.currentTimeMillis(); };
    options.restore = std::move(restore);
    return RocksDbKeyedStore::open(std::move(options));
  }

  /// Write the stores of a job at parallelism 2 with max parallelism 128, keys in every key
  /// group, and checkpoint them: sources_.
  void writeRescaleSources() {
    sources_.push_back(writeStore(0, {0, 63}));
    sources_.push_back(writeStore(1, {64, 127}));
  }

  RocksDbRestoreSource writeStore(int index, KeyGroupRange range) {
    fs::path directory = temp_.path() / ("store-" + std::to_string(index));
    auto opened = openStore(directory, range);
    EXPECT_OK(opened);
    RocksDbKeyedStore& store = **opened;
    uint32_t values = *store.openColumn({"values", Layout::kSingleValue, 0});
    uint32_t lists = *store.openColumn({"lists", Layout::kList, 0});
    uint32_t only = 0;
    if (index == 1) {
      only = *store.openColumn({"onlyInSecond", Layout::kMap, 0});
    }
    for (int keyGroup = range.startKeyGroup; keyGroup <= range.endKeyGroup; ++keyGroup) {
      for (int i = 0; i < 3; ++i) {
        store.put(values, key(keyGroup, "k" + std::to_string(i)), valueFor(keyGroup, i));
      }
      store.merge(lists, key(keyGroup, "l"), record("x" + std::to_string(keyGroup)));
      if (index == 1) {
        store.put(only, key(keyGroup, "m"), valueFor(keyGroup, 9));
      }
    }
    EXPECT_OK(store.commit());
    // A second flush, so that each column has files at two levels or times.
    fs::path first = temp_.path() / ("unused-checkpoint-" + std::to_string(index));
    EXPECT_OK(store.checkpoint(first));
    for (int keyGroup = range.startKeyGroup; keyGroup <= range.endKeyGroup; ++keyGroup) {
      store.merge(lists, key(keyGroup, "l"), record("y"));
    }
    EXPECT_OK(store.commit());
    fs::path checkpoint = temp_.path() / ("checkpoint-" + std::to_string(index));
    EXPECT_OK(store.checkpoint(checkpoint));
    return RocksDbRestoreSource{checkpoint, range, "checkpoint-7/subtask-" + std::to_string(index)};
  }

  static std::string valueFor(int keyGroup, int i) {
    return "value-" + std::to_string(keyGroup) + "-" + std::to_string(i);
  }

  void expectExactly(RocksDbKeyedStore& store, KeyGroupRange range) {
    ASSERT_OK_AND_ASSIGN(uint32_t values, store.openColumn({"values", Layout::kSingleValue, 0}));
    ASSERT_OK_AND_ASSIGN(uint32_t lists, store.openColumn({"lists", Layout::kList, 0}));
    ASSERT_OK_AND_ASSIGN(uint32_t only, store.openColumn({"onlyInSecond", Layout::kMap, 0}));
    Entries expectedValues;
    Entries expectedLists;
    Entries expectedOnly;
    for (int keyGroup = range.startKeyGroup; keyGroup <= range.endKeyGroup; ++keyGroup) {
      for (int i = 0; i < 3; ++i) {
        expectedValues.emplace_back(key(keyGroup, "k" + std::to_string(i)), valueFor(keyGroup, i));
      }
      expectedLists.emplace_back(key(keyGroup, "l"),
                                 record("x" + std::to_string(keyGroup)) + record("y"));
      if (keyGroup >= 64) {
        expectedOnly.emplace_back(key(keyGroup, "m"), valueFor(keyGroup, 9));
      }
    }
    EXPECT_EQ(scanAll(store, values), expectedValues);
    EXPECT_EQ(scanAll(store, lists), expectedLists);
    EXPECT_EQ(scanAll(store, only), expectedOnly);
    // Lists merge after the restore.
    store.merge(lists, key(range.startKeyGroup, "l"), record("z"));
    ASSERT_OK(store.commit());
    EXPECT_EQ(valueOf(store, lists, key(range.startKeyGroup, "l")),
              record("x" + std::to_string(range.startKeyGroup)) + record("y") + record("z"));
  }

  std::shared_ptr<RocksDbResources> resources_ = RocksDbResources::create(64 << 20, 0.5);
  ManualClock clock_{1'000'000};
  TempDir temp_;
  std::vector<RocksDbRestoreSource> sources_;
};

TEST_F(RocksDbKeyedStoreTest, putGetAndRemove) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t column, store->openColumn({"values", Layout::kSingleValue, 0}));
  store->put(column, key(3, "a"), "one");
  store->put(column, key(3, "b"), std::string("t\0o", 3));
  ASSERT_OK(store->commit());
  EXPECT_EQ(valueOf(*store, column, key(3, "a")), "one");
  EXPECT_EQ(valueOf(*store, column, key(3, "b")), std::string("t\0o", 3));
  EXPECT_EQ(valueOf(*store, column, key(3, "c")), "<absent>");

  store->put(column, key(3, "a"), "uno");
  store->remove(column, key(3, "b"));
  ASSERT_OK(store->commit());
  EXPECT_EQ(valueOf(*store, column, key(3, "a")), "uno");
  std::string value = "stale";
  ASSERT_OK_AND_ASSIGN(bool found, store->get(column, key(3, "b"), value));
  EXPECT_FALSE(found);
  EXPECT_EQ(store->directory(), temp_.path() / "store");
}

TEST_F(RocksDbKeyedStoreTest, mergeAppendsRecords) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t list, store->openColumn({"list", Layout::kList, 0}));
  store->merge(list, key(7, "k"), record("a"));
  store->merge(list, key(7, "k"), record("bb"));
  ASSERT_OK(store->commit());
  store->merge(list, key(7, "k"), record("ccc") + record("d"));
  ASSERT_OK(store->commit());
  EXPECT_EQ(valueOf(*store, list, key(7, "k")),
            record("a") + record("bb") + record("ccc") + record("d"));

  // Onto a put value, and after a flush and compaction.
  store->put(list, key(8, "k"), record("x"));
  store->merge(list, key(8, "k"), record("y"));
  ASSERT_OK(store->commit());
  ASSERT_OK(store->testingCompact());
  store->merge(list, key(8, "k"), record("z"));
  ASSERT_OK(store->commit());
  EXPECT_EQ(valueOf(*store, list, key(8, "k")), record("x") + record("y") + record("z"));
  EXPECT_EQ(valueOf(*store, list, key(7, "k")),
            record("a") + record("bb") + record("ccc") + record("d"));
}

TEST_F(RocksDbKeyedStoreTest, mergeIntoANonListColumnFailsTheCommit) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t column, store->openColumn({"values", Layout::kSingleValue, 0}));
  store->put(column, key(1, "a"), "kept?");
  store->merge(column, key(1, "a"), record("x"));
  Status status = store->commit();
  ASSERT_STATUS(StatusCode::kInvalidArgument, status);
  EXPECT_THAT(status.message(), HasSubstr("'values'"));
  EXPECT_EQ(valueOf(*store, column, key(1, "a")), "<absent>");  // the batch was dropped
  store->put(column, key(1, "a"), "ok");
  ASSERT_OK(store->commit());
  EXPECT_EQ(valueOf(*store, column, key(1, "a")), "ok");
}

TEST_F(RocksDbKeyedStoreTest, scanReturnsOnlyThePrefixInKeyOrder) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t column, store->openColumn({"values", Layout::kSingleValue, 0}));
  ASSERT_OK_AND_ASSIGN(uint32_t other, store->openColumn({"other", Layout::kSingleValue, 0}));
  store->put(column, key(5, "b"), "5b");
  store->put(column, key(5, "a"), "5a");
  store->put(column, key(5, "\xff"), "5ff");
  store->put(column, key(5, "\xff\x01"), "5ff01");
  store->put(column, key(4, "z"), "4z");
  store->put(column, key(6, ""), "6");
  store->put(other, key(5, "c"), "other");
  ASSERT_OK(store->commit());

  EXPECT_THAT(scanAll(*store, column, key(5, "")),
              ElementsAre(Pair(key(5, "a"), "5a"), Pair(key(5, "b"), "5b"),
                          Pair(key(5, "\xff"), "5ff"), Pair(key(5, "\xff\x01"), "5ff01")));
  // A prefix that ends in 0xff: its successor increments the byte before.
  EXPECT_THAT(scanAll(*store, column, key(5, "\xff")),
              ElementsAre(Pair(key(5, "\xff"), "5ff"), Pair(key(5, "\xff\x01"), "5ff01")));
  EXPECT_THAT(scanAll(*store, column, key(9, "")), ElementsAre());
  EXPECT_EQ(scanAll(*store, column).size(), 6u);
  EXPECT_THAT(scanAll(*store, column, std::string("\xff", 1)), ElementsAre());
  EXPECT_THAT(scanAll(*store, other), ElementsAre(Pair(key(5, "c"), "other")));
}

TEST_F(RocksDbKeyedStoreTest, scanFromStartsAtTheGivenKeyAndStopsWhenAsked) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t column, store->openColumn({"values", Layout::kSingleValue, 0}));
  for (const char* k : {"a", "b", "c", "d"}) store->put(column, key(5, k), k);
  store->put(column, key(6, "a"), "6a");
  ASSERT_OK(store->commit());
  std::vector<std::string> seen;
  auto collect = [&](size_t most) {
    seen.clear();
    return [&seen, most](std::string_view k, std::string_view) {
      seen.emplace_back(k);
      return seen.size() < most;
    };
  };
  ASSERT_OK(store->scanFrom(column, key(5, ""), key(5, "b"), collect(10)));
  EXPECT_THAT(seen, ElementsAre(key(5, "b"), key(5, "c"), key(5, "d")));
  ASSERT_OK(store->scanFrom(column, key(5, ""), key(5, "bb"), collect(1)));
  EXPECT_THAT(seen, ElementsAre(key(5, "c")));
  // A start below the prefix starts at the prefix.
  ASSERT_OK(store->scanFrom(column, key(5, ""), key(4, "z"), collect(10)));
  EXPECT_EQ(seen.size(), 4u);
}

TEST_F(RocksDbKeyedStoreTest, timerColumnsHaveTheirOwnNames) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  EXPECT_OK(store->openColumn({"_timer_state/event", Layout::kTimers, 0}).status());
  Result<uint32_t> state = store->openColumn({"_timer_state/mine", Layout::kSingleValue, 0});
  ASSERT_STATUS(StatusCode::kInvalidArgument, state.status());
  EXPECT_THAT(state.status().message(), HasSubstr("reserved for timers"));
  ASSERT_STATUS(StatusCode::kInvalidArgument, store->openColumn({"timers", Layout::kTimers, 0}));
  ASSERT_STATUS(StatusCode::kInvalidArgument,
                store->openColumn({"_timer_state/ttl", Layout::kTimers, 5}));
}

TEST_F(RocksDbKeyedStoreTest, removePrefixRemovesOnlyThatPrefix) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t column, store->openColumn({"values", Layout::kMap, 0}));
  for (std::string_view userKey : {"a", "b", "\xff", "\xff\xff"}) {
    store->put(column, key(5, std::string("k") + std::string(userKey)), "v");
    store->put(column, key(5, std::string("j") + std::string(userKey)), "v");
  }
  store->put(column, key(5, "l"), "v");
  ASSERT_OK(store->commit());

  store->removePrefix(column, key(5, "k"));
  ASSERT_OK(store->commit());
  EXPECT_THAT(
      scanAll(*store, column),
      ElementsAre(Pair(key(5, "ja"), "v"), Pair(key(5, "jb"), "v"), Pair(key(5, "j\xff"), "v"),
                  Pair(key(5, "j\xff\xff"), "v"), Pair(key(5, "l"), "v")));
  store->removePrefix(column, key(5, "j\xff"));
  ASSERT_OK(store->commit());
  EXPECT_THAT(scanAll(*store, column), ElementsAre(Pair(key(5, "ja"), "v"), Pair(key(5, "jb"), "v"),
                                                   Pair(key(5, "l"), "v")));
  // A prefix without successor (empty): everything.
  store->removePrefix(column, "");
  ASSERT_OK(store->commit());
  EXPECT_THAT(scanAll(*store, column), ElementsAre());
}

TEST_F(RocksDbKeyedStoreTest, writesAreInvisibleUntilCommit) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t column, store->openColumn({"values", Layout::kSingleValue, 0}));
  ASSERT_OK_AND_ASSIGN(uint32_t list, store->openColumn({"list", Layout::kList, 0}));
  store->put(column, key(1, "a"), "old");
  ASSERT_OK(store->commit());

  store->put(column, key(1, "a"), "new");
  store->put(column, key(1, "b"), "b");
  store->merge(list, key(1, "l"), record("x"));
  store->removePrefix(column, key(1, ""));
  store->put(column, key(1, "c"), "c");
  EXPECT_EQ(valueOf(*store, column, key(1, "a")), "old");
  EXPECT_EQ(valueOf(*store, list, key(1, "l")), "<absent>");
  EXPECT_THAT(scanAll(*store, column), ElementsAre(Pair(key(1, "a"), "old")));
  // A checkpoint needs the buffered writes committed first.
  ASSERT_STATUS(StatusCode::kInvalidArgument, store->checkpoint(temp_.path() / "cp"));

  ASSERT_OK(store->commit());  // in order: the removal comes after the first two puts
  EXPECT_THAT(scanAll(*store, column), ElementsAre(Pair(key(1, "c"), "c")));
  EXPECT_EQ(valueOf(*store, list, key(1, "l")), record("x"));
}

TEST_F(RocksDbKeyedStoreTest, openColumnReturnsTheSameIndexForTheSameName) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t a, store->openColumn({"a", Layout::kSingleValue, 0}));
  ASSERT_OK_AND_ASSIGN(uint32_t b, store->openColumn({"b", Layout::kList, 5000}));
  ASSERT_OK_AND_ASSIGN(uint32_t a2, store->openColumn({"a", Layout::kSingleValue, 0}));
  ASSERT_OK_AND_ASSIGN(uint32_t b2, store->openColumn({"b", Layout::kList, 5000}));
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(b, 1u);
  EXPECT_EQ(a2, a);
  EXPECT_EQ(b2, b);

  Result<uint32_t> otherLayout = store->openColumn({"a", Layout::kMap, 0});
  ASSERT_STATUS(StatusCode::kInvalidArgument, otherLayout);
  EXPECT_THAT(otherLayout.status().message(), HasSubstr("state 'a'"));
  Result<uint32_t> otherTtl = store->openColumn({"b", Layout::kList, 6000});
  ASSERT_STATUS(StatusCode::kInvalidArgument, otherTtl);
  EXPECT_THAT(otherTtl.status().message(), HasSubstr("state 'b'"));
  ASSERT_STATUS(StatusCode::kInvalidArgument, store->openColumn({"default", Layout::kMap, 0}));
  ASSERT_STATUS(StatusCode::kInvalidArgument, store->openColumn({"", Layout::kMap, 0}));

  std::string value;
  ASSERT_STATUS(StatusCode::kInvalidArgument, store->get(7, key(0, "k"), value));
  store->put(7, key(0, "k"), "v");
  ASSERT_STATUS(StatusCode::kInvalidArgument, store->commit());
}

TEST_F(RocksDbKeyedStoreTest, ttlCompactionDropsExpiredValuesMapEntriesAndListElements) {
  constexpr int64_t kTtl = 1000;
  const std::string kOverrun = std::string("\x05") + "ab";  // a record longer than the value
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t values, store->openColumn({"values", Layout::kSingleValue, kTtl}));
  ASSERT_OK_AND_ASSIGN(uint32_t maps, store->openColumn({"maps", Layout::kMap, kTtl}));
  ASSERT_OK_AND_ASSIGN(uint32_t lists, store->openColumn({"lists", Layout::kList, kTtl}));
  ASSERT_OK_AND_ASSIGN(uint32_t noTtl, store->openColumn({"noTtl", Layout::kSingleValue, 0}));

  const int64_t t0 = clock_.currentTimeMillis();
  store->put(values, key(1, "old"), stamped("v", t0));
  store->put(values, key(1, "new"), stamped("v", t0 + 500));
  store->put(values, key(1, "short"), "abc");  // malformed: kept
  store->put(maps, key(2, "k/old"), stamped("uv", t0));
  store->put(maps, key(2, "k/new"), stamped("uv", t0 + 1));
  // A list written whole, one merged from operands, and one that expires entirely.
  store->put(lists, key(3, "put"),
             record(stamped("a", t0)) + record(stamped("b", t0 + 500)) + record(stamped("c", t0)));
  store->merge(lists, key(3, "merged"), record(stamped("a", t0 + 500)));
  store->merge(lists, key(3, "merged"), record(stamped("b", t0)));
  store->merge(lists, key(3, "merged"), record(stamped("c", t0 + 600)) + record(stamped("d", t0)));
  store->merge(lists, key(3, "gone"), record(stamped("a", t0)));
  store->merge(lists, key(3, "gone"), record(stamped("b", t0 - 5)));
  store->put(lists, key(3, "bad"),
             kOverrun);  // a record that overruns the value: kept
  store->put(noTtl, key(4, "k"), stamped("v", 0));
  ASSERT_OK(store->commit());

  // Nothing has expired yet: a compaction keeps everything.
  ASSERT_OK(store->testingCompact());
  EXPECT_EQ(scanAll(*store, values).size(), 3u);
  EXPECT_EQ(scanAll(*store, lists).size(), 4u);

  // t0 + ttl: values stamped t0 expire (lastAccess + ttl <= now), t0 + 1 does not.
  clock_.set(t0 + kTtl);
  ASSERT_OK(store->testingCompact());
  EXPECT_THAT(scanAll(*store, values), ElementsAre(Pair(key(1, "new"), stamped("v", t0 + 500)),
                                                   Pair(key(1, "short"), "abc")));
  EXPECT_THAT(scanAll(*store, maps), ElementsAre(Pair(key(2, "k/new"), stamped("uv", t0 + 1))));
  EXPECT_THAT(scanAll(*store, lists),
              ElementsAre(Pair(key(3, "bad"), kOverrun),
                          Pair(key(3, "merged"),
                               record(stamped("a", t0 + 500)) + record(stamped("c", t0 + 600))),
                          Pair(key(3, "put"), record(stamped("b", t0 + 500)))));
  EXPECT_THAT(scanAll(*store, noTtl), ElementsAre(Pair(key(4, "k"), stamped("v", 0))));

  // Appending to a filtered list still works.
  store->merge(lists, key(3, "put"), record(stamped("e", t0 + kTtl)));
  ASSERT_OK(store->commit());
  EXPECT_EQ(valueOf(*store, lists, key(3, "put")),
            record(stamped("b", t0 + 500)) + record(stamped("e", t0 + kTtl)));
}

TEST_F(RocksDbKeyedStoreTest, ttlFilterKeepsMalformedValuesAndFiltersListRecords) {
  std::string survivors = "untouched";
  // Single values and map entries: the last 8 bytes.
  EXPECT_EQ(applyTtl(Layout::kSingleValue, stamped("x", 99), 100, survivors), TtlVerdict::kRemove);
  EXPECT_EQ(applyTtl(Layout::kMap, stamped("", 100), 100, survivors), TtlVerdict::kKeep);
  EXPECT_EQ(applyTtl(Layout::kSingleValue, "1234567", 100, survivors), TtlVerdict::kKeep);
  EXPECT_EQ(applyTtl(Layout::kList, "", 100, survivors), TtlVerdict::kKeep);
  // Malformed lists are kept whole: an element shorter than a stamp, an overrun, a bad varint.
  EXPECT_EQ(applyTtl(Layout::kList, record(stamped("a", 1)) + record("short"), 100, survivors),
            TtlVerdict::kKeep);
  EXPECT_EQ(applyTtl(Layout::kList, record(stamped("a", 1)) + std::string("\x20") + "abc", 100,
                     survivors),
            TtlVerdict::kKeep);
  EXPECT_EQ(applyTtl(Layout::kList, std::string(11, '\xff'), 100, survivors), TtlVerdict::kKeep);
  EXPECT_EQ(survivors, "untouched");
  // A long element (a 2-byte varint) survives, the expired ones go.
  std::string longElement = stamped(std::string(300, 'z'), 100);
  EXPECT_EQ(applyTtl(Layout::kList,
                     record(stamped("a", 1)) + record(longElement) + record(stamped("b", 2)), 100,
                     survivors),
            TtlVerdict::kChange);
  EXPECT_EQ(survivors, record(longElement));
  EXPECT_EQ(
      applyTtl(Layout::kList, record(stamped("a", 1)) + record(stamped("b", 2)), 100, survivors),
      TtlVerdict::kRemove);
  // The cutoff: lastAccess + ttl <= now has expired; no overflow at the extremes.
  EXPECT_EQ(ttlCutoff(10'000, 1000), 9001);
  EXPECT_EQ(ttlCutoff(10, std::numeric_limits<int64_t>::max()),
            -std::numeric_limits<int64_t>::max() + 11);
  EXPECT_EQ(ttlCutoff(std::numeric_limits<int64_t>::min(), 1), std::numeric_limits<int64_t>::min());
}

TEST_F(RocksDbKeyedStoreTest, checkpointRestoresIntoAnotherStore) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t values, store->openColumn({"values", Layout::kSingleValue, 0}));
  ASSERT_OK_AND_ASSIGN(uint32_t lists, store->openColumn({"lists", Layout::kList, 60'000}));
  ASSERT_OK_AND_ASSIGN(uint32_t empty, store->openColumn({"empty", Layout::kMap, 0}));
  for (int keyGroup = 0; keyGroup < 128; ++keyGroup) {
    store->put(values, key(keyGroup, "k"), "v" + std::to_string(keyGroup));
    store->merge(lists, key(keyGroup, "l"), record("a"));
    store->merge(lists, key(keyGroup, "l"), record("b"));
  }
  ASSERT_OK(store->commit());

  ASSERT_OK_AND_ASSIGN(RocksDbLocalCheckpoint checkpoint,
                       store->checkpoint(temp_.path() / "checkpoint"));
  EXPECT_EQ(checkpoint.directory, temp_.path() / "checkpoint");
  int numSst = 0;
  bool hasManifest = false;
  bool hasCurrent = false;
  uint64_t totalSize = 0;
  for (const RocksDbCheckpointFile& file : checkpoint.files) {
    EXPECT_EQ(file.sst, file.name.ends_with(".sst")) << file.name;
    EXPECT_EQ(file.size, fs::file_size(checkpoint.directory / file.name)) << file.name;
    numSst += file.sst ? 1 : 0;
    hasManifest |= file.name.starts_with("MANIFEST-");
    hasCurrent |= file.name == "CURRENT";
    totalSize += file.size;
  }
  EXPECT_GE(numSst, 2);  // the flushed state columns and the metadata
  EXPECT_TRUE(hasManifest);
  EXPECT_TRUE(hasCurrent);
  EXPECT_GT(totalSize, 0u);

  // Writes after the checkpoint are not in it.
  store->put(values, key(0, "k"), "after");
  ASSERT_OK(store->commit());

  // "Upload" and "download" the files, then restore.
  copyFiles(checkpoint.directory, temp_.path() / "downloaded");
  auto fileNames = [](const fs::path& directory) {
    std::vector<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(directory)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  };
  std::vector<std::string> downloaded = fileNames(temp_.path() / "downloaded");
  RocksDbRestoreSource source{temp_.path() / "downloaded", {0, 127}, "checkpoint-1/task-0"};
  ASSERT_OK_AND_ASSIGN(auto restored, openStore(temp_.path() / "restored", {0, 127}, {source}));
  EXPECT_EQ(fileNames(temp_.path() / "downloaded"), downloaded);  // the source is only read
  // Columns are registered in another order than they were created in.
  ASSERT_OK_AND_ASSIGN(uint32_t restoredLists,
                       restored->openColumn({"lists", Layout::kList, 60'000}));
  ASSERT_OK_AND_ASSIGN(uint32_t restoredValues,
                       restored->openColumn({"values", Layout::kSingleValue, 0}));
  ASSERT_OK_AND_ASSIGN(uint32_t restoredEmpty, restored->openColumn({"empty", Layout::kMap, 0}));
  ASSERT_STATUS(StatusCode::kInvalidArgument, restored->openColumn({"lists", Layout::kList, 0}));
  EXPECT_EQ(restoredLists, 0u);
  Entries expectedValues;
  for (int keyGroup = 0; keyGroup < 128; ++keyGroup) {
    expectedValues.emplace_back(key(keyGroup, "k"), "v" + std::to_string(keyGroup));
  }
  EXPECT_EQ(scanAll(*restored, restoredValues), expectedValues);
  EXPECT_EQ(scanAll(*restored, restoredLists), scanAll(*store, lists));
  EXPECT_THAT(scanAll(*restored, restoredEmpty), ElementsAre());
  EXPECT_THAT(scanAll(*store, empty), ElementsAre());

  // The list column still merges, and the restored store checkpoints again.
  restored->merge(restoredLists, key(9, "l"), record("c"));
  ASSERT_OK(restored->commit());
  EXPECT_EQ(valueOf(*restored, restoredLists, key(9, "l")),
            record("a") + record("b") + record("c"));
  ASSERT_OK(restored->checkpoint(temp_.path() / "checkpoint-2"));

  // The stores own their directories.
  fs::path restoredDirectory = restored->directory();
  restored.reset();
  EXPECT_FALSE(fs::exists(restoredDirectory));
  EXPECT_TRUE(fs::exists(temp_.path() / "downloaded" / "CURRENT"));
}

TEST_F(RocksDbKeyedStoreTest, restoreKeepsExactlyTheKeyGroupsOfTheNewRange) {
  writeRescaleSources();
  ASSERT_OK_AND_ASSIGN(auto middle, openStore(temp_.path() / "middle", {32, 95}, sources_));
  expectExactly(*middle, {32, 95});

  // The clipped store's own checkpoint holds only its key groups too.
  ASSERT_OK(middle->checkpoint(temp_.path() / "middle-checkpoint"));
  ASSERT_OK_AND_ASSIGN(auto again,
                       openStore(temp_.path() / "again", {0, 127},
                                 {{temp_.path() / "middle-checkpoint", {32, 95}, "middle"}}));
  ASSERT_OK_AND_ASSIGN(uint32_t values, again->openColumn({"values", Layout::kSingleValue, 0}));
  Entries all = scanAll(*again, values);
  ASSERT_EQ(all.size(), 64u * 3);
  EXPECT_EQ(all.front().first, key(32, "k0"));
  EXPECT_EQ(all.back().first, key(95, "k2"));
}

TEST_F(RocksDbKeyedStoreTest, restoreMergesAllSourcesIntoTheFullRange) {
  writeRescaleSources();
  ASSERT_OK_AND_ASSIGN(auto all, openStore(temp_.path() / "all", {0, 127}, sources_));
  expectExactly(*all, {0, 127});
  // With the sources in the other order (the base is then the second one).
  ASSERT_OK_AND_ASSIGN(auto reversed,
                       openStore(temp_.path() / "reversed", {0, 127}, {sources_[1], sources_[0]}));
  expectExactly(*reversed, {0, 127});
}

TEST_F(RocksDbKeyedStoreTest, restoreIntoOneSourcesPartOnly) {
  writeRescaleSources();
  ASSERT_OK_AND_ASSIGN(auto part, openStore(temp_.path() / "part", {70, 80}, sources_));
  expectExactly(*part, {70, 80});
  ASSERT_OK_AND_ASSIGN(auto low, openStore(temp_.path() / "low", {0, 10}, sources_));
  ASSERT_OK_AND_ASSIGN(uint32_t values, low->openColumn({"values", Layout::kSingleValue, 0}));
  EXPECT_EQ(scanAll(*low, values).size(), 11u * 3);
}

TEST_F(RocksDbKeyedStoreTest, restoreFromACorruptTableFileIsCorruption) {
  {
    ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
    ASSERT_OK_AND_ASSIGN(uint32_t values, store->openColumn({"values", Layout::kSingleValue, 0}));
    // Values that do not compress, so the table file has many data blocks.
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 4000; ++i) {
      std::string value(200, '\0');
      for (char& c : value) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        c = static_cast<char>(state >> 56);
      }
      store->put(values, key(i % 128, std::to_string(i)), value);
    }
    ASSERT_OK(store->commit());
    ASSERT_OK(store->checkpoint(temp_.path() / "checkpoint"));
  }
  copyFiles(temp_.path() / "checkpoint", temp_.path() / "corrupt");
  fs::path largest;
  for (const fs::directory_entry& entry : fs::directory_iterator(temp_.path() / "corrupt")) {
    if (entry.path().extension() == ".sst" &&
        (largest.empty() || entry.file_size() > fs::file_size(largest))) {
      largest = entry.path();
    }
  }
  ASSERT_FALSE(largest.empty());
  {
    std::fstream file(largest, std::ios::in | std::ios::out | std::ios::binary);
    uint64_t middle = fs::file_size(largest) / 2;
    std::string bytes(16, '\0');
    file.seekg(static_cast<std::streamoff>(middle));
    file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    for (char& c : bytes) {
      c = static_cast<char>(~c);
    }
    file.seekp(static_cast<std::streamoff>(middle));
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(file.good());
  }

  RocksDbRestoreSource source{temp_.path() / "corrupt", {0, 127}, "checkpoint-3/subtask-0"};
  Result<std::unique_ptr<RocksDbKeyedStore>> restored =
      openStore(temp_.path() / "restored", {0, 127}, {source});
  ASSERT_STATUS(StatusCode::kCorruption, restored);
  EXPECT_THAT(restored.status().message(), HasSubstr("checkpoint-3/subtask-0"));
  EXPECT_THAT(restored.status().message(), HasSubstr(largest.filename().string()));
  EXPECT_FALSE(fs::exists(temp_.path() / "restored"));  // nothing left behind

  // As one of several sources, too (not the base).
  RocksDbRestoreSource good{temp_.path() / "checkpoint", {0, 63}, "good"};
  source.keyGroupRange = {64, 127};
  restored = openStore(temp_.path() / "restored", {0, 127}, {good, source});
  ASSERT_STATUS(StatusCode::kCorruption, restored);
  EXPECT_THAT(restored.status().message(), HasSubstr("checkpoint-3/subtask-0"));
}

TEST_F(RocksDbKeyedStoreTest, readingACorruptBlockIsCorruptionNamingTheState) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t values, store->openColumn({"values", Layout::kSingleValue, 0}));
  for (int i = 0; i < 2000; ++i) {
    store->put(values, key(i % 128, std::to_string(i)), std::string(200, static_cast<char>(i)));
  }
  ASSERT_OK(store->commit());
  ASSERT_OK(store->testingCompact());  // one table file, none of its data blocks read yet
  fs::path largest;
  for (const fs::directory_entry& entry : fs::directory_iterator(store->directory())) {
    if (entry.path().extension() == ".sst" &&
        (largest.empty() || entry.file_size() > fs::file_size(largest))) {
      largest = entry.path();
    }
  }
  ASSERT_FALSE(largest.empty());
  {
    std::fstream file(largest, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(fs::file_size(largest) / 3));
    file.write("corrupt!corrupt!", 16);
    ASSERT_TRUE(file.good());
  }
  Status status = store->scan(values, {}, [](std::string_view, std::string_view) {});
  ASSERT_STATUS(StatusCode::kCorruption, status);
  EXPECT_THAT(status.message(), HasSubstr("state 'values'"));
  EXPECT_THAT(status.message(), HasSubstr(store->directory().string()));
}

TEST_F(RocksDbKeyedStoreTest, restoreFromMissingFilesFailsNamingTheSource) {
  RocksDbRestoreSource missing{temp_.path() / "nowhere", {0, 127}, "checkpoint-4/subtask-0"};
  Result<std::unique_ptr<RocksDbKeyedStore>> restored =
      openStore(temp_.path() / "restored", {0, 127}, {missing});
  ASSERT_STATUS(StatusCode::kNotFound, restored);
  EXPECT_THAT(restored.status().message(), HasSubstr("checkpoint-4/subtask-0"));

  // An empty directory, and a checkpoint whose table files are gone.
  fs::create_directories(temp_.path() / "empty");
  restored = openStore(temp_.path() / "restored", {0, 127},
                       {{temp_.path() / "empty", {0, 127}, "empty-source"}});
  ASSERT_FALSE(restored.isOk());
  EXPECT_THAT(restored.status().message(), HasSubstr("empty-source"));
  {
    ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
    ASSERT_OK_AND_ASSIGN(uint32_t values, store->openColumn({"values", Layout::kSingleValue, 0}));
    store->put(values, key(1, "k"), "v");
    ASSERT_OK(store->commit());
    ASSERT_OK(store->checkpoint(temp_.path() / "checkpoint"));
  }
  for (const fs::directory_entry& entry : fs::directory_iterator(temp_.path() / "checkpoint")) {
    if (entry.path().extension() == ".sst") {
      fs::remove(entry.path());
    }
  }
  restored = openStore(temp_.path() / "restored", {0, 127},
                       {{temp_.path() / "checkpoint", {0, 127}, "no-tables"}});
  ASSERT_FALSE(restored.isOk());
  EXPECT_TRUE(restored.status().code() == StatusCode::kNotFound ||
              restored.status().code() == StatusCode::kCorruption)
      << restored.status().toString();
  EXPECT_THAT(restored.status().message(), HasSubstr("no-tables"));
  EXPECT_FALSE(fs::exists(temp_.path() / "restored"));
}

TEST_F(RocksDbKeyedStoreTest, restoreWithAnotherMaxParallelismIsInvalidArgument) {
  {
    ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
    ASSERT_OK(store->checkpoint(temp_.path() / "checkpoint"));
  }
  RocksDbStoreOptions options;
  options.directory = temp_.path() / "restored";
  options.keyGroupRange = {0, 255};
  options.maxParallelism = 256;
  options.resources = resources_;
  options.restore = {{temp_.path() / "checkpoint", {0, 127}, "checkpoint-5"}};
  Result<std::unique_ptr<RocksDbKeyedStore>> restored = RocksDbKeyedStore::open(options);
  ASSERT_STATUS(StatusCode::kInvalidArgument, restored);
  EXPECT_THAT(restored.status().message(), HasSubstr("max parallelism"));
}

TEST_F(RocksDbKeyedStoreTest, directoryThatCannotBeCreatedIsIOError) {
  fs::path file = temp_.path() / "regular-file";
  std::ofstream(file) << "x";
  fs::path directory = file / "store";
  Result<std::unique_ptr<RocksDbKeyedStore>> store = openStore(directory, {0, 127});
  ASSERT_STATUS(StatusCode::kIOError, store);
  EXPECT_THAT(store.status().message(), HasSubstr(directory.string()));

  // An existing directory must be empty.
  fs::create_directories(temp_.path() / "full");
  std::ofstream(temp_.path() / "full" / "something") << "x";
  ASSERT_STATUS(StatusCode::kInvalidArgument, openStore(temp_.path() / "full", {0, 127}));
  EXPECT_TRUE(fs::exists(temp_.path() / "full" / "something"));
  fs::create_directories(temp_.path() / "empty");
  ASSERT_OK(openStore(temp_.path() / "empty", {0, 127}));

  ASSERT_STATUS(StatusCode::kInvalidArgument, openStore(temp_.path() / "range", {64, 200}));
}

// A full disk, as the store sees it: a file-size limit makes every file write past 64 KiB fail
// (EFBIG), so the flush of a checkpoint fails. The error names the store's directory, and the
// process lives on.
TEST_F(RocksDbKeyedStoreTest, aFullDiskIsAnIOErrorNamingTheDirectory) {
  const fs::path directory = temp_.path() / "store";
  ASSERT_OK_AND_ASSIGN(auto store, openStore(directory, {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t column, store->openColumn({"values", Layout::kSingleValue, 0}));
  struct FileSizeLimit {
    rlimit saved{};
    void (*savedHandler)(int) = nullptr;
    explicit FileSizeLimit(rlim_t bytes) {
      getrlimit(RLIMIT_FSIZE, &saved);
      savedHandler = std::signal(SIGXFSZ, SIG_IGN);  // a failed write, not a signal
      rlimit limit = saved;
      limit.rlim_cur = bytes;
      setrlimit(RLIMIT_FSIZE, &limit);
    }
    ~FileSizeLimit() {
      setrlimit(RLIMIT_FSIZE, &saved);
      std::signal(SIGXFSZ, savedHandler);
    }
  };
  Status failed;
  {
    FileSizeLimit limit(64 << 10);
    const std::string value(1000, 'v');
    for (int i = 0; i < 2000 && failed.isOk(); ++i) {
      store->put(column, key(i % 128, std::to_string(i)), value);
      if (i % 100 == 99) failed = store->commit();
    }
    if (failed.isOk()) failed = store->checkpoint(temp_.path() / "checkpoint").status();
  }
  ASSERT_STATUS(StatusCode::kIOError, failed);
  EXPECT_THAT(failed.message(), HasSubstr(directory.string()));
  store.reset();  // closes without crashing
}

TEST_F(RocksDbKeyedStoreTest, closeFailsLaterCalls) {
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t values, store->openColumn({"values", Layout::kSingleValue, 0}));
  store->put(values, key(1, "k"), "v");
  ASSERT_OK(store->close());
  ASSERT_OK(store->close());
  std::string value;
  ASSERT_STATUS(StatusCode::kFailedPrecondition, store->get(values, key(1, "k"), value));
  store->put(values, key(1, "k"), "v");
  ASSERT_STATUS(StatusCode::kFailedPrecondition, store->commit());
  ASSERT_STATUS(StatusCode::kFailedPrecondition, store->openColumn({"x", Layout::kMap, 0}));
  EXPECT_TRUE(fs::exists(store->directory()));
  store.reset();
  EXPECT_FALSE(fs::exists(temp_.path() / "store"));
}

TEST_F(RocksDbKeyedStoreTest, storesOnTwoThreadsShareSmallResources) {
  // 4 MiB for both stores, half of it for memtables: each store writes more than that.
  std::shared_ptr<RocksDbResources> resources = RocksDbResources::create(4 << 20, 0.5);
  EXPECT_EQ(resources->budgetBytes(), 4u << 20);
  EXPECT_EQ(resources->writeBufferBytes(), 2u << 20);
  constexpr int kNumKeys = 40'000;
  auto run = [&](int index, Status& result) {
    RocksDbStoreOptions options;
    options.directory = temp_.path() / ("store-" + std::to_string(index));
    options.keyGroupRange = {0, 127};
    options.resources = resources;
    auto opened = RocksDbKeyedStore::open(std::move(options));
    if (!opened.isOk()) {
      result = opened.status();
      return;
    }
    RocksDbKeyedStore& store = **opened;
    Result<uint32_t> column = store.openColumn({"values", Layout::kSingleValue, 0});
    if (!column.isOk()) {
      result = column.status();
      return;
    }
    std::string value(100, static_cast<char>('a' + index));
    for (int i = 0; i < kNumKeys; ++i) {
      store.put(*column, key(i % 128, std::to_string(i)), value);
      if (i % 1000 == 999) {
        Status status = store.commit();
        if (!status.isOk()) {
          result = status;
          return;
        }
      }
    }
    std::string read;
    for (int i = 0; i < kNumKeys; i += 97) {
      Result<bool> found = store.get(*column, key(i % 128, std::to_string(i)), read);
      if (!found.isOk() || !*found || read != value) {
        result = Status::internal("store " + std::to_string(index) + ": key " + std::to_string(i) +
                                  " reads wrong");
        return;
      }
    }
    int count = 0;
    result = store.scan(*column, {}, [&](std::string_view, std::string_view) { ++count; });
    if (result.isOk() && count != kNumKeys) {
      result = Status::internal("store " + std::to_string(index) + ": scan saw " +
                                std::to_string(count));
    }
    if (result.isOk() && resources->usageBytes() == 0) {
      result = Status::internal("nothing is charged to the shared cache");
    }
  };
  Status first;
  Status second;
  std::thread thread(run, 0, std::ref(first));
  run(1, second);
  thread.join();
  EXPECT_OK(first);
  EXPECT_OK(second);
}

TEST_F(RocksDbKeyedStoreTest, restoreAtTheSameKeyGroupsKeepsTheBaseFilesAsTheyAre) {
  // Three flushes: three level-0 files of one column, one short of RocksDB's compaction trigger.
  ASSERT_OK_AND_ASSIGN(auto store, openStore(temp_.path() / "store", {0, 127}));
  ASSERT_OK_AND_ASSIGN(uint32_t values, store->openColumn({"values", Layout::kSingleValue, 0}));
  RocksDbLocalCheckpoint written;
  for (int round = 0; round < 3; ++round) {
    for (int keyGroup = 0; keyGroup < 128; ++keyGroup) {
      store->put(values, key(keyGroup, "k" + std::to_string(round)), std::string(100, 'v'));
    }
    ASSERT_OK(store->commit());
    ASSERT_OK_AND_ASSIGN(written,
                         store->checkpoint(temp_.path() / ("checkpoint-" + std::to_string(round))));
  }
  auto tableFiles = [](const RocksDbLocalCheckpoint& checkpoint) {
    std::map<std::string, uint64_t> sizes;
    for (const RocksDbCheckpointFile& file : checkpoint.files) {
      if (file.sst) sizes.emplace(file.name, file.size);
    }
    return sizes;
  };
  const std::map<std::string, uint64_t> base = tableFiles(written);

  // A restore at the same key groups and a checkpoint right away: every table file of the base
  // is still there, unchanged, so that an incremental checkpoint can reference it. (Deleting the
  // key groups outside the range would flush a fourth level-0 file, and the compaction it
  // triggers would rewrite them all.)
  copyFiles(written.directory, temp_.path() / "downloaded");
  RocksDbRestoreSource source{temp_.path() / "downloaded", {0, 127}, "checkpoint-3/subtask-0"};
  ASSERT_OK_AND_ASSIGN(auto restored, openStore(temp_.path() / "restored", {0, 127}, {source}));
  EXPECT_EQ(restored->restoredBaseSource(), 0);
  ASSERT_OK_AND_ASSIGN(RocksDbLocalCheckpoint again, restored->checkpoint(temp_.path() / "again"));
  const std::map<std::string, uint64_t> after = tableFiles(again);
  for (const auto& [name, size] : base) {
    auto found = after.find(name);
    ASSERT_NE(found, after.end()) << name << " of the base is gone after the restore";
    EXPECT_EQ(found->second, size) << name;
  }
  EXPECT_EQ(scanAll(*restored, *restored->openColumn({"values", Layout::kSingleValue, 0})).size(),
            3u * 128);
}

}  // namespace
}  // namespace strom::state
