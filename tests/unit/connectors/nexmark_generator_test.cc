#include "connectors/nexmark/nexmark_generator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "connectors/nexmark/nexmark_config.h"
#include "connectors/nexmark/nexmark_json.h"
#include "connectors/nexmark/splittable_random.h"
#include "testutil/gzip_lines.h"
#include "testutil/status_matchers.h"

// Count heap allocations of this test binary, to show that generating allocates nothing.
namespace {
// Relaxed: only read on the thread that allocates, after the allocations it counts.
std::atomic<int64_t> gAllocations{0};
}  // namespace

// noinline: GCC 12 would otherwise inline these into the standard allocators and report the
// malloc/free pair as mismatched with new/delete (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t size) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace strom::nexmark {
namespace {

// The golden files' configuration (../shared/nexmark/README.md); the rest are defaults.
NexmarkConfig goldenConfig(int64_t events) {
  NexmarkConfig config;
  config.seed = 0;
  config.maxEvents = events;
  config.baseTime = 1'600'000'000'000;
  config.firstEventRate = 10'000;
  config.firstEventId = 1;
  config.firstEventNumber = 1;
  return config;
}

// An independent, unoptimized SplitMix64 written from the README's formulas: state advanced
// by the gamma, then the mix, in plain 64-bit unsigned arithmetic.
struct ReferenceMixer {
  uint64_t state;
  uint64_t advance() { return state += 0x9e3779b97f4a7c15ULL; }
  uint64_t nextLong() {
    uint64_t z = advance();
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z;
  }
  int32_t nextInt() {
    uint64_t z = advance();
    z ^= z >> 33;
    z *= 0x62a9d9ed799705f5ULL;
    z ^= z >> 28;
    z *= 0xcb24d0a5c88c35b3ULL;
    return static_cast<int32_t>(static_cast<uint32_t>(z >> 32));
  }
};

TEST(NexmarkGeneratorTest, splittableRandomNextLongMatchesSplitMix64) {
  // The first outputs of SplitMix64 from state 0 (Vigna's reference), which JDK 17's
  // SplittableRandom(0).nextLong() reproduces since the seed is not mixed.
  SplittableRandom random(0);
  EXPECT_EQ(static_cast<uint64_t>(random.nextLong()), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(static_cast<uint64_t>(random.nextLong()), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(static_cast<uint64_t>(random.nextLong()), 0x06c45d188009454fULL);
}

TEST(NexmarkGeneratorTest, splittableRandomDrawsMatchTheSpecification) {
  for (int64_t seed : {int64_t{0}, int64_t{1}, int64_t{-7}, int64_t{0x123456789abcdefLL}}) {
    SplittableRandom random(seed);
    ReferenceMixer reference{static_cast<uint64_t>(seed)};
    for (int i = 0; i < 1000; ++i) {
      ASSERT_EQ(random.nextInt(), reference.nextInt());
      ASSERT_EQ(static_cast<uint64_t>(random.nextLong()), reference.nextLong());
      ASSERT_EQ(random.nextDouble(),
                static_cast<double>(reference.nextLong() >> 11) / 9007199254740992.0);
    }
  }
}

TEST(NexmarkGeneratorTest, splittableRandomBoundedIntRejectsAsJavaDoes) {
  SplittableRandom random(42);
  ReferenceMixer reference{42};
  for (int32_t bound : {1, 2, 3, 10, 13, 26, 64, 10'000, 1'048'000, 0x7fffffff, 0x40000001}) {
    for (int i = 0; i < 200; ++i) {
      const int32_t value = random.nextInt(bound);
      // The README's rule, with 64-bit arithmetic standing in for the 32-bit overflow test.
      int32_t expected;
      int32_t r = reference.nextInt();
      if ((bound & (bound - 1)) == 0) {
        expected = r & (bound - 1);
      } else {
        int64_t u = static_cast<uint32_t>(r) >> 1;
        while (u + (bound - 1) - u % bound > 0x7fffffff) {
          u = static_cast<uint32_t>(reference.nextInt()) >> 1;
        }
        expected = static_cast<int32_t>(u % bound);
      }
      ASSERT_EQ(value, expected) << "bound " << bound << " draw " << i;
      ASSERT_GE(value, 0);
      ASSERT_LT(value, bound);
    }
  }
}

TEST(NexmarkGeneratorTest, splitDividesEventsAndIds) {
  NexmarkConfig config = goldenConfig(20'003);
  ASSERT_OK_AND_ASSIGN(std::vector<NexmarkConfig> splits, config.split(4));
  ASSERT_EQ(splits.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(splits[i].splitIndex, i);
    EXPECT_EQ(splits[i].numEventGenerators, 4);
    EXPECT_EQ(splits[i].firstEventId, 1 + i * 5000);
    EXPECT_EQ(splits[i].firstEventNumber, 1);
    EXPECT_EQ(splits[i].baseTime, config.baseTime);
  }
  EXPECT_EQ(splits[0].maxEvents, 5000);
  EXPECT_EQ(splits[3].maxEvents, 5003);
  EXPECT_FALSE(config.split(0).isOk());
}

TEST(NexmarkGeneratorTest, invalidConfigurationIsRejected) {
  NexmarkConfig config = goldenConfig(10);
  config.hotBiddersRatio = 0;
  EXPECT_FALSE(NexmarkGenerator::create(config).isOk());
  config = goldenConfig(10);
  config.splitIndex = 1;
  EXPECT_FALSE(NexmarkGenerator::create(config).isOk());
}

TEST(NexmarkGeneratorTest, hotChannelsComeFirstAndChannelOneKeepsIntMin) {
  const auto tables = NexmarkTables::forSeed(0);
  EXPECT_EQ(tables.get(), NexmarkTables::forSeed(0).get());
  EXPECT_EQ(tables->hotChannel(0), "Google");
  EXPECT_EQ(tables->hotChannel(3), "Apple");
  EXPECT_EQ(tables->channel(8841), "channel-8841");
  EXPECT_EQ(tables->largeString().size(), 1u << 20);
  for (int32_t i = 0; i < NexmarkTables::kNumChannels; ++i) {
    const std::string_view url = tables->channelUrl(i);
    ASSERT_TRUE(url.starts_with("https://www.nexmark.com/")) << url;
    const auto pos = url.find("&channel_id=");
    if (i == 1 && pos != std::string_view::npos) {
      EXPECT_EQ(url.substr(pos), "&channel_id=-2147483648");
    }
  }
  for (char c : tables->largeString()) {
    ASSERT_TRUE(c >= 'H' && c <= 'z') << static_cast<int>(c);
  }
}

TEST(NexmarkGeneratorTest, generatesWithoutAllocatingPerEvent) {
  NexmarkConfig config = goldenConfig(0);  // unbounded
  const int64_t start = gAllocations.load(std::memory_order_relaxed);
  ASSERT_OK_AND_ASSIGN(NexmarkGenerator generator, NexmarkGenerator::create(config));
  int64_t checksum = 0;
  const int64_t before = gAllocations.load(std::memory_order_relaxed);
  EXPECT_GT(before, start) << "the allocation counter counts nothing";
  for (int i = 0; i < 200'000; ++i) {
    const NexmarkEvent& event = generator.next();
    checksum += event.timestamp + static_cast<int64_t>(event.person.name.size()) +
                static_cast<int64_t>(event.auction.description.size());
  }
  const int64_t allocations = gAllocations.load(std::memory_order_relaxed) - before;
  EXPECT_EQ(allocations, 0);
  EXPECT_GT(checksum, 0);
}

using testutil::readGzipLines;

void expectGolden(const std::string& fileName, int64_t events, int32_t splits) {
  const std::filesystem::path dir = STROM_NEXMARK_DATA_DIR;
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << "Nexmark golden data directory " << dir
                 << " not found; set the CMake cache variable STROM_NEXMARK_DATA_DIR";
  }
  const std::vector<std::string> expected = readGzipLines((dir / fileName).string());
  ASSERT_FALSE(expected.empty()) << fileName;

  ASSERT_OK_AND_ASSIGN(std::vector<NexmarkConfig> configs, goldenConfig(events).split(splits));
  size_t lineNumber = 0;
  std::string actual;
  for (const NexmarkConfig& config : configs) {
    ASSERT_OK_AND_ASSIGN(NexmarkGenerator generator, NexmarkGenerator::create(config));
    while (generator.hasNext()) {
      const NexmarkEvent& event = generator.next();
      actual.clear();
      appendJsonLine(actual, config.splitIndex, event);
      ASSERT_LT(lineNumber, expected.size()) << fileName << ": more lines than expected";
      ASSERT_EQ(actual, expected[lineNumber])
          << fileName << ": first mismatch at line " << lineNumber + 1;
      ++lineNumber;
    }
  }
  EXPECT_EQ(lineNumber, expected.size()) << fileName << ": fewer lines than expected";
}

TEST(NexmarkGeneratorTest, reproducesGoldenFileWithOneSplit) {
  expectGolden("events-100k-p1.jsonl.gz", 100'000, 1);
}

TEST(NexmarkGeneratorTest, reproducesGoldenFileWithFourSplits) {
  expectGolden("events-20k-p4.jsonl.gz", 20'000, 4);
}

}  // namespace
}  // namespace strom::nexmark
