// strom-nexmark as a user runs it: --dump-events reproduces the reference generator's golden
// files split by split, the benchmark mode prints its table with the engine's rows checked
// against the loop's, and bad options fail with a clear message and a non-zero exit.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "testutil/gzip_lines.h"
#include "testutil/subprocess.h"

namespace strom {
namespace {

using testutil::RunResult;

class NexmarkHarnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("nexmark-harness-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  RunResult run(const std::vector<std::string>& args) {
    RunResult result = testutil::runProcess(STROM_NEXMARK_BIN, args, dir_.string(),
                                            std::chrono::milliseconds(120'000));
    EXPECT_TRUE(result.spawnError.empty()) << result.spawnError;
    EXPECT_FALSE(result.timedOut);
    return result;
  }
  std::filesystem::path dir_;
};

/// Lines grouped by the split they name (every line starts with {"split":N,).
std::map<int, std::vector<std::string>> bySplit(const std::vector<std::string>& lines) {
  std::map<int, std::vector<std::string>> result;
  for (const std::string& line : lines) {
    result[std::stoi(line.substr(line.find(':') + 1))].push_back(line);
  }
  return result;
}

void expectDumpReproduces(const std::filesystem::path& dumped, const std::string& golden) {
  const std::filesystem::path data = STROM_NEXMARK_DATA_DIR;
  if (!std::filesystem::is_directory(data)) {
    GTEST_SKIP() << "Nexmark golden data directory " << data << " not found";
  }
  std::vector<std::string> lines;
  std::ifstream in(dumped);
  for (std::string line; std::getline(in, line);) lines.push_back(line + "\n");  // as the golden's
  auto expected = bySplit(testutil::readGzipLines((data / golden).string()));
  auto actual = bySplit(lines);
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [split, expectedLines] : expected) {
    ASSERT_EQ(actual[split].size(), expectedLines.size()) << "split " << split;
    for (size_t i = 0; i < expectedLines.size(); ++i) {
      ASSERT_EQ(actual[split][i], expectedLines[i]) << "split " << split << ", line " << i + 1;
    }
  }
}

TEST_F(NexmarkHarnessTest, dumpEventsReproducesTheGoldenFileWithOneGenerator) {
  const std::filesystem::path dump = dir_ / "events.jsonl";
  RunResult r =
      run({"--query", "q0", "--events", "100000", "--rate", "10000", "--base-time", "1600000000000",
           "--seed", "0", "--output", (dir_ / "q0.csv").string(), "--dump-events", dump.string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  expectDumpReproduces(dump, "events-100k-p1.jsonl.gz");
}

TEST_F(NexmarkHarnessTest, dumpEventsReproducesTheGoldenFileWithFourGeneratorsOnThreeSubtasks) {
  const std::filesystem::path dump = dir_ / "events.jsonl";
  RunResult r = run({"--query", "q2", "--events", "20000", "--generators", "4", "-p", "3", "--rate",
                     "10000", "--base-time", "1600000000000", "--output",
                     (dir_ / "q2.csv").string(), "--dump-events", dump.string()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  expectDumpReproduces(dump, "events-20k-p4.jsonl.gz");
}

TEST_F(NexmarkHarnessTest, benchmarkModePrintsTheTableWithTheLoopAndTheRatio) {
  RunResult r = run({"--query", "q1", "--events", "200000", "-p", "2"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("Nexmark Results"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Throughput/Cores"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| q1 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("200,000"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("MISMATCH"), std::string::npos) << r.out;
}

TEST_F(NexmarkHarnessTest, anUnknownQueryIsRejectedWithTheKnownOnes) {
  RunResult r = run({"--query", "q99"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("unknown query 'q99'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("q0"), std::string::npos) << r.err;
}

TEST_F(NexmarkHarnessTest, negativeAndMalformedCountsAreRejected) {
  for (const auto& [option, value] :
       std::vector<std::pair<std::string, std::string>>{{"--events", "-5"},
                                                        {"--events", "12x"},
                                                        {"--generators", "0"},
                                                        {"--parallelism", "-1"},
                                                        {"--rate", "0"},
                                                        {"--bid-proportion", "-2"}}) {
    RunResult r = run({"--query", "q0", option, value});
    EXPECT_EQ(r.exitCode, 2) << option << " " << value;
    EXPECT_NE(r.err.find(option), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("'" + value + "'"), std::string::npos) << r.err;
  }
  RunResult none = run({"--events", "10"});
  EXPECT_EQ(none.exitCode, 2);
  EXPECT_NE(none.err.find("--query"), std::string::npos) << none.err;
}

TEST_F(NexmarkHarnessTest, anUnwritableOutputFailsTheRunNamingTheFile) {
  const std::string output = (dir_ / "missing-dir" / "out.csv").string();
  RunResult r = run({"--query", "q0", "--events", "1000", "--output", output});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find(output), std::string::npos) << r.err;
}

TEST_F(NexmarkHarnessTest, aBadConfigurationOverrideIsRejected) {
  RunResult r = run({"--query", "q0", "-D", "no-equals-sign"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("no-equals-sign"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace strom
