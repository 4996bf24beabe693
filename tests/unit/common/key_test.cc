#include <gtest/gtest.h>
#include <strom/key.h>

#include <set>
#include <vector>

namespace strom {
namespace {

struct Point {
  int64_t x = 0;
  std::string label;
  bool operator==(const Point&) const = default;
  STROM_FIELDS(x, label)
};

TEST(KeyTest, equalKeysHashEqual) {
  EXPECT_EQ(keyHash(std::string("word")), keyHash(std::string("word")));
  EXPECT_NE(keyHash(std::string("word")), keyHash(std::string("words")));
  EXPECT_EQ(keyHash(Point{1, "a"}), keyHash(Point{1, "a"}));
  EXPECT_NE(keyHash(Point{1, "a"}), keyHash(Point{2, "a"}));
  EXPECT_EQ(keyHash(std::make_pair(1, std::string("x"))),
            keyHash(std::make_pair(1, std::string("x"))));
  static_assert(Keyable<int64_t> && Keyable<std::string> && Keyable<Point>);
  static_assert(!Keyable<std::vector<int>> && !Keyable<double>);
}

TEST(KeyTest, keyGroupRangesPartitionAllGroupsContiguously) {
  for (int maxParallelism : {1, 7, 128, 1000}) {
    for (int parallelism = 1; parallelism <= std::min(maxParallelism, 9); ++parallelism) {
      int next = 0;
      for (int i = 0; i < parallelism; ++i) {
        KeyGroupRange range = KeyGroupRange::forOperator(maxParallelism, parallelism, i);
        EXPECT_EQ(range.startKeyGroup, next);
        for (int g = range.startKeyGroup; g <= range.endKeyGroup; ++g) {
          EXPECT_EQ(operatorIndexForKeyGroup(maxParallelism, parallelism, g), i);
        }
        next = range.endKeyGroup + 1;
      }
      EXPECT_EQ(next, maxParallelism);
    }
  }
}

TEST(KeyTest, keyGroupsSpreadKeys) {
  std::set<int> groups;
  for (int64_t k = 0; k < 10000; ++k) groups.insert(keyGroupForHash(keyHash(k), 128));
  EXPECT_EQ(groups.size(), 128u);
}

}  // namespace
}  // namespace strom
