// KeyedTimerQueue: one timer per (key, namespace, time), fired in timestamp order with their
// key and namespace, cancelled timers skipped, and the registered set kept per key group.

#include <gtest/gtest.h>
#include <strom/detail/timer_queue.h>
#include <strom/key.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace strom::detail {
namespace {

using Fired = std::tuple<int64_t, std::string, int32_t>;  // time, key, namespace

std::vector<Fired> drain(KeyedTimerQueue<std::string, int32_t>& queue, int64_t now) {
  std::vector<Fired> fired;
  while (auto timer = queue.pollDue(now)) fired.push_back({timer->time, timer->key, timer->ns});
  return fired;
}

TEST(KeyedTimerQueueTest, firesDueTimersInTimestampOrderOncePerKeyNamespaceAndTime) {
  KeyedTimerQueue<std::string, int32_t> queue;
  EXPECT_TRUE(queue.add("b", 1, 30));
  EXPECT_TRUE(queue.add("a", 1, 10));
  EXPECT_FALSE(queue.add("a", 1, 10));  // the same timer again
  EXPECT_TRUE(queue.add("a", 2, 10));   // another namespace
  EXPECT_TRUE(queue.add("c", 1, 20));
  EXPECT_EQ(queue.size(), 4u);
  EXPECT_EQ(queue.nextTime(), 10);
  std::vector<Fired> fired = drain(queue, 20);
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(std::get<0>(fired[0]), 10);
  EXPECT_EQ(std::get<0>(fired[1]), 10);
  EXPECT_EQ(fired[2], Fired(20, "c", 1));
  EXPECT_EQ(queue.nextTime(), 30);
  EXPECT_EQ(drain(queue, 100), std::vector<Fired>{Fired(30, "b", 1)});
  EXPECT_EQ(queue.nextTime(), INT64_MAX);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(KeyedTimerQueueTest, removedTimersNeverFireAndCanBeAddedAgain) {
  KeyedTimerQueue<std::string, int32_t> queue;
  queue.add("a", 0, 5);
  queue.add("b", 0, 7);
  queue.remove("a", 0, 5);
  EXPECT_FALSE(queue.contains("a", 0, 5));
  EXPECT_EQ(queue.nextTime(), 7);
  EXPECT_TRUE(queue.add("a", 0, 5));
  EXPECT_EQ(drain(queue, 10), (std::vector<Fired>{Fired(5, "a", 0), Fired(7, "b", 0)}));
}

TEST(KeyedTimerQueueTest, timersThatKeepMovingDoNotGrowTheHeap) {
  // A session window's timer moves with every record that extends the session: each move
  // cancels one entry and adds another. The heap is compacted, so it stays near the live size.
  KeyedTimerQueue<std::string, int32_t> queue;
  constexpr int kKeys = 100;
  for (int k = 0; k < kKeys; ++k) queue.add("k" + std::to_string(k), 0, 1000);
  size_t largestHeap = 0;
  for (int64_t step = 1; step <= 2000; ++step) {
    for (int k = 0; k < kKeys; ++k) {
      const std::string key = "k" + std::to_string(k);
      queue.remove(key, 0, 1000 + step - 1);
      queue.add(key, 0, 1000 + step);
    }
    largestHeap = std::max(largestHeap, queue.heapEntries());
  }
  EXPECT_EQ(queue.size(), static_cast<size_t>(kKeys));
  EXPECT_LE(largestHeap, 2 * kKeys + 1024 + 1);
  std::vector<Fired> fired = drain(queue, 10'000);
  ASSERT_EQ(fired.size(), static_cast<size_t>(kKeys));  // each key's last timer, once
  for (const Fired& f : fired) EXPECT_EQ(std::get<0>(f), 3000);
  EXPECT_EQ(queue.heapEntries(), 0u);
}

TEST(KeyedTimerQueueTest, manyRandomTimersComeOutSorted) {
  KeyedTimerQueue<std::string, int32_t> queue;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 5000; ++i) {
    queue.add("k" + std::to_string(rng() % 50), 0, static_cast<int64_t>(rng() % 100000));
  }
  int64_t last = INT64_MIN;
  size_t count = 0;
  while (auto timer = queue.pollDue(INT64_MAX)) {
    EXPECT_GE(timer->time, last);
    last = timer->time;
    ++count;
  }
  EXPECT_GT(count, 4500u);
}

TEST(KeyedTimerQueueTest, registeredTimersAreCountedPerKeyGroupOfTheRange) {
  constexpr int kMaxParallelism = 16;
  KeyGroupRange range = KeyGroupRange::forOperator(kMaxParallelism, 2, 1);  // groups 8..15
  KeyedTimerQueue<int64_t> queue(range, kMaxParallelism);
  std::vector<size_t> expected(kMaxParallelism, 0);
  for (int64_t key = 0; key < 2000; ++key) {
    int group = keyGroupForHash(keyHash(key), kMaxParallelism);
    if (!range.contains(group)) continue;
    queue.add(key, key % 7);
    queue.add(key, key % 7 + 100);
    expected[static_cast<size_t>(group)] += 2;
  }
  size_t total = 0;
  for (int group = range.startKeyGroup; group <= range.endKeyGroup; ++group) {
    EXPECT_EQ(queue.sizeOfKeyGroup(group), expected[static_cast<size_t>(group)]) << group;
    total += queue.sizeOfKeyGroup(group);
  }
  EXPECT_EQ(total, queue.size());
  while (queue.pollDue(50)) {
  }
  for (int group = range.startKeyGroup; group <= range.endKeyGroup; ++group) {
    EXPECT_EQ(queue.sizeOfKeyGroup(group), expected[static_cast<size_t>(group)] / 2) << group;
  }
}

}  // namespace
}  // namespace strom::detail
