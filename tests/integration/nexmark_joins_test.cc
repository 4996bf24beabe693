// The Nexmark queries of the joins group in result mode on the MiniCluster, at parallelism 1
// and 3, against rows computed here from the generated events: the stateless q14, q21, q22,
// the regular joins q3 and q20, the side-input join q13 and the partitioned file sink q10.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "nexmark_query_util.h"

namespace strom::nexmark::testing {
namespace {

class NexmarkJoinsTest : public ::testing::TestWithParam<int> {
 protected:
  int parallelism() const { return GetParam(); }
};

std::string optionalField(const std::optional<std::string>& value) {
  return value ? csvField(*value) : std::string();
}

/// The UTC broken-down time of epoch milliseconds.
std::tm utc(int64_t epochMillis) {
  std::time_t seconds = static_cast<std::time_t>(epochMillis / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return tm;
}

TEST_P(NexmarkJoinsTest, q14ConvertsClassifiesAndCounts) {
  // One event per second from 18:50 UTC: day, other (19 h) and night (20 h) bids.
  NexmarkConfig cfg = testConfig(5000, parallelism(), /*rate=*/1);
  cfg.baseTime = 1'600'023'000'000;  // 2020-09-13T18:50:00Z
  EventLog log(cfg);
  std::vector<std::string> expected;
  std::set<std::string> kinds;
  for (const Bid& b : log.bids()) {
    if (!(b.price * 908 > 1'000'000'000 && b.price * 908 < 50'000'000'000)) continue;
    const int hour = utc(b.dateTime).tm_hour;
    std::string kind = hour >= 8 && hour <= 18   ? "dayTime"
                       : hour <= 6 || hour >= 20 ? "nightTime"
                                                 : "otherTime";
    kinds.insert(kind);
    int64_t cs = 0;
    for (char c : b.extra) cs += c == 'c';
    expected.push_back(std::to_string(b.auction) + "," + std::to_string(b.bidder) + "," +
                       decimal3(b.price * 908) + "," + kind + "," + std::to_string(b.dateTime) +
                       "," + csvField(b.extra) + "," + std::to_string(cs));
  }
  ASSERT_GT(expected.size(), 500u);
  ASSERT_EQ(kinds.size(), 3u);
  EXPECT_EQ(runQuery("q14", cfg, parallelism()), sorted(expected));
}

TEST_P(NexmarkJoinsTest, q21ExtractsChannelIds) {
  NexmarkConfig cfg = testConfig(3000, parallelism());
  EventLog log(cfg);
  const std::regex pattern("(&|^)channel_id=([^&]*)");
  std::vector<std::string> expected;
  size_t fromUrl = 0;
  size_t dropped = 0;
  for (const Bid& b : log.bids()) {
    std::string lower(b.channel);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::optional<std::string> extracted;
    std::smatch match;
    const std::string url(b.url);
    if (std::regex_search(url, match, pattern)) extracted = match[2].str();
    std::optional<std::string> id;
    if (lower == "apple") {
      id = "0";
    } else if (lower == "google") {
      id = "1";
    } else if (lower == "facebook") {
      id = "2";
    } else if (lower == "baidu") {
      id = "3";
    } else {
      id = extracted;
      fromUrl += extracted ? 1 : 0;
    }
    if (!extracted &&
        !(lower == "apple" || lower == "google" || lower == "facebook" || lower == "baidu")) {
      ++dropped;
      continue;
    }
    expected.push_back(std::to_string(b.auction) + "," + std::to_string(b.bidder) + "," +
                       std::to_string(b.price) + "," + csvField(b.channel) + "," +
                       optionalField(id));
  }
  ASSERT_GT(fromUrl, 100u);
  ASSERT_GT(dropped, 10u);
  EXPECT_EQ(runQuery("q21", cfg, parallelism()), sorted(expected));
}

TEST_P(NexmarkJoinsTest, q22SplitsUrls) {
  NexmarkConfig cfg = testConfig(3000, parallelism());
  EventLog log(cfg);
  std::vector<std::string> expected;
  for (const Bid& b : log.bids()) {
    std::vector<std::string> pieces;
    if (!b.url.empty()) {
      std::string piece;
      for (char c : b.url) {
        if (c == '/') {
          pieces.push_back(piece);
          piece.clear();
        } else {
          piece += c;
        }
      }
      pieces.push_back(piece);
    }
    auto at = [&](size_t i) {
      return i < pieces.size() ? std::optional<std::string>(pieces[i]) : std::nullopt;
    };
    expected.push_back(std::to_string(b.auction) + "," + std::to_string(b.bidder) + "," +
                       std::to_string(b.price) + "," + csvField(b.channel) + "," +
                       optionalField(at(3)) + "," + optionalField(at(4)) + "," +
                       optionalField(at(5)));
  }
  ASSERT_GT(expected.size(), 2000u);
  EXPECT_EQ(runQuery("q22", cfg, parallelism()), sorted(expected));
}

TEST_P(NexmarkJoinsTest, q3JoinsLocalSellersWithTheirAuctions) {
  NexmarkConfig cfg = testConfig(20'000, parallelism());
  EventLog log(cfg);
  std::vector<std::string> expected;
  for (const Auction& a : log.auctions()) {
    if (a.category != 10) continue;
    for (const Person& p : log.persons()) {
      if (p.id != a.seller) continue;
      if (p.state != "OR" && p.state != "ID" && p.state != "CA") continue;
      expected.push_back(csvField(p.name) + "," + csvField(p.city) + "," + csvField(p.state) + "," +
                         std::to_string(a.id));
    }
  }
  ASSERT_GT(expected.size(), 50u);
  EXPECT_EQ(runQuery("q3", cfg, parallelism()), sorted(expected));
}

TEST_P(NexmarkJoinsTest, q20JoinsBidsWithCategory10Auctions) {
  NexmarkConfig cfg = testConfig(4000, parallelism());
  EventLog log(cfg);
  std::map<int64_t, Auction> auctions;
  for (const Auction& a : log.auctions()) {
    if (a.category == 10) auctions.emplace(a.id, a);
  }
  std::vector<std::string> expected;
  for (const Bid& b : log.bids()) {
    auto it = auctions.find(b.auction);
    if (it == auctions.end()) continue;
    const Auction& a = it->second;
    expected.push_back(
        std::to_string(b.auction) + "," + std::to_string(b.bidder) + "," + std::to_string(b.price) +
        "," + csvField(b.channel) + "," + csvField(b.url) + "," + std::to_string(b.dateTime) + "," +
        csvField(b.extra) + "," + csvField(a.itemName) + "," + csvField(a.description) + "," +
        std::to_string(a.initialBid) + "," + std::to_string(a.reserve) + "," +
        std::to_string(a.dateTime) + "," + std::to_string(a.expires) + "," +
        std::to_string(a.seller) + "," + std::to_string(a.category) + "," + csvField(a.extra));
  }
  ASSERT_GT(expected.size(), 300u);
  EXPECT_EQ(runQuery("q20", cfg, parallelism()), sorted(expected));
}

TEST_P(NexmarkJoinsTest, q13JoinsTheDefaultSideInput) {
  NexmarkConfig cfg = testConfig(3000, parallelism());
  EventLog log(cfg);
  std::vector<std::string> expected;
  for (const Bid& b : log.bids()) {
    expected.push_back(std::to_string(b.auction) + "," + std::to_string(b.bidder) + "," +
                       std::to_string(b.price) + "," + std::to_string(b.dateTime) + "," +
                       std::to_string(b.auction % 10'000));
  }
  ASSERT_GT(expected.size(), 2000u);
  EXPECT_EQ(runQuery("q13", cfg, parallelism()), sorted(expected));
}

TEST_P(NexmarkJoinsTest, q13JoinsAGivenSideInputFile) {
  // Keys of a few buckets only (bids of the others are dropped), one key twice (its bids match
  // twice), a quoted value with a comma, and an empty line.
  NexmarkConfig cfg = testConfig(3000, parallelism());
  EventLog log(cfg);
  std::map<int64_t, std::vector<std::string>> table;
  std::string text;
  int64_t line = 0;
  for (const Bid& b : log.bids()) {
    const int64_t key = b.auction % 10'000;
    if (table.count(key) != 0 || ++line % 3 != 0) continue;
    table[key].push_back("v" + std::to_string(key));
    text += std::to_string(key) + ",v" + std::to_string(key) + "\n";
    if (table.size() == 2) {
      table[key].push_back("x,\"y\"");
      text += "\n" + std::to_string(key) + ",\"x,\"\"y\"\"\"\n";
    }
  }
  const std::string path =
      ::testing::TempDir() + "/q13-side-input-p" + std::to_string(parallelism()) + ".txt";
  std::ofstream(path) << text;
  std::vector<std::string> expected;
  for (const Bid& b : log.bids()) {
    auto it = table.find(b.auction % 10'000);
    if (it == table.end()) continue;
    for (const std::string& value : it->second) {
      expected.push_back(std::to_string(b.auction) + "," + std::to_string(b.bidder) + "," +
                         std::to_string(b.price) + "," + std::to_string(b.dateTime) + "," +
                         csvField(value));
    }
  }
  ASSERT_GT(expected.size(), 20u);
  ASSERT_LT(expected.size(), log.bids().size());
  EXPECT_EQ(runQuery("q13", cfg, parallelism(), {"nexmark.q13.side-input=" + path}),
            sorted(expected));
}

TEST_P(NexmarkJoinsTest, q13ReportsAMissingOrMalformedSideInput) {
  NexmarkOptions options;
  options.queries = {findQuery("q13")};
  ASSERT_NE(options.queries.front(), nullptr);
  options.config = testConfig(500, parallelism());
  options.parallelism = parallelism();
  options.output = ::testing::TempDir() + "/q13-error.csv";
  const std::string missing = ::testing::TempDir() + "/no-such-side-input.txt";
  options.dynamicOptions = {"nexmark.q13.side-input=" + missing};
  auto run = runOnEngine(*options.queries.front(), options);
  ASSERT_FALSE(run.isOk());
  EXPECT_NE(run.status().message().find("q13 side input '" + missing + "': cannot open"),
            std::string::npos)
      << run.status().message();

  const std::string malformed = ::testing::TempDir() + "/malformed-side-input.txt";
  std::ofstream(malformed) << "0,zero\n1;one\n";
  options.dynamicOptions = {"nexmark.q13.side-input=" + malformed};
  run = runOnEngine(*options.queries.front(), options);
  ASSERT_FALSE(run.isOk());
  EXPECT_NE(run.status().message().find("line 2: expected 'key,value'"), std::string::npos)
      << run.status().message();
}

/// The lines of every part file under `dir`, by partition directory (relative to `dir`), each
/// partition's lines sorted; partitions with a _SUCCESS file go to `committed`. Any other file
/// fails the test.
std::map<std::string, std::vector<std::string>> readPartitions(const std::filesystem::path& dir,
                                                               std::set<std::string>& committed) {
  std::map<std::string, std::vector<std::string>> partitions;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string partition = entry.path().parent_path().lexically_relative(dir).string();
    const std::string file = entry.path().filename().string();
    if (file == "_SUCCESS") {
      EXPECT_EQ(std::filesystem::file_size(entry.path()), 0u);
      committed.insert(partition);
      continue;
    }
    EXPECT_EQ(file.rfind("part-", 0), 0u) << "unexpected file " << entry.path();
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) partitions[partition].push_back(line);
  }
  for (auto& [partition, lines] : partitions) std::sort(lines.begin(), lines.end());
  return partitions;
}

TEST_P(NexmarkJoinsTest, q10WritesPartitionedFiles) {
  // One event per second from 23:40 UTC: about 50 minutes over two days. Three generators
  // also at parallelism 1, where one source subtask interleaves them: its writer then sees
  // more partitions at once than it keeps files open, and rolls to new part files.
  NexmarkConfig cfg = testConfig(3000, /*generators=*/3, /*rate=*/1);
  cfg.baseTime = 1'600'040'400'000;  // 2020-09-13T23:40:00Z
  EventLog log(cfg);
  std::map<std::string, std::vector<std::string>> expected;
  std::set<std::string> days;
  for (const Bid& b : log.bids()) {
    const std::tm tm = utc(b.dateTime);
    char partition[64];
    std::snprintf(partition, sizeof partition, "dt=%04d-%02d-%02d/hm=%02d%%3A%02d",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
    days.insert(std::string(partition, 13));
    expected[partition].push_back(std::to_string(b.auction) + "," + std::to_string(b.bidder) + "," +
                                  std::to_string(b.price) + "," + std::to_string(b.dateTime) + "," +
                                  csvField(b.extra));
  }
  for (auto& [partition, lines] : expected) std::sort(lines.begin(), lines.end());
  ASSERT_GT(expected.size(), 40u);
  ASSERT_EQ(days.size(), 2u);

  NexmarkOptions options;
  options.queries = {findQuery("q10")};
  ASSERT_NE(options.queries.front(), nullptr);
  options.config = cfg;
  options.parallelism = parallelism();
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("nexmark-q10-p" + std::to_string(parallelism()));
  std::filesystem::remove_all(dir);
  options.output = dir.string();
  auto run = runOnEngine(*options.queries.front(), options);
  ASSERT_TRUE(run.isOk()) << run.status().message();
  EXPECT_EQ(run->rows.rows, static_cast<int64_t>(log.bids().size()));

  std::set<std::string> committed;
  const auto actual = readPartitions(dir, committed);
  EXPECT_EQ(actual, expected);
  std::set<std::string> partitions;
  for (const auto& [partition, lines] : expected) partitions.insert(partition);
  EXPECT_EQ(committed, partitions);
}

INSTANTIATE_TEST_SUITE_P(Parallelism, NexmarkJoinsTest, ::testing::Values(1, 3),
                         ::testing::PrintToStringParamName());

}  // namespace
}  // namespace strom::nexmark::testing
