// Runs the real examples/click_sessions binary as a child process and checks its sessions
// exactly against a single-threaded oracle computed here (session windows: a user's clicks at
// most the gap apart form one session [first click, last click + gap)), at several
// parallelisms and batch sizes; malformed lines and late clicks in the rejected file; and bad
// arguments.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "testutil/subprocess.h"

namespace {

using strom::testutil::readWholeFile;
using strom::testutil::RunResult;
using strom::testutil::writeWholeFile;

constexpr const char* kBinary = STROM_CLICK_SESSIONS_BIN;
constexpr const char* kSourceDir = STROM_SOURCE_DIR;
constexpr std::chrono::milliseconds kRunDeadline{30'000};
constexpr int64_t kGap = 30 * 60 * 1000;

struct Click {
  std::string user;
  int64_t timestamp;
  std::string page;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) result.push_back(line);
  return result;
}

std::vector<Click> parseClicks(const std::string& text) {
  std::vector<Click> clicks;
  for (const std::string& line : lines(text)) {
    size_t a = line.find(',');
    size_t b = line.find(',', a + 1);
    clicks.push_back(
        {line.substr(0, a), std::stoll(line.substr(a + 1, b - a - 1)), line.substr(b + 1)});
  }
  return clicks;
}

/// The oracle: one "user,start,end,clicks,first_page,last_page" line per session, sorted.
std::vector<std::string> expectedSessions(std::vector<Click> clicks, int64_t gap) {
  std::sort(clicks.begin(), clicks.end(), [](const Click& a, const Click& b) {
    return std::tie(a.user, a.timestamp, a.page) < std::tie(b.user, b.timestamp, b.page);
  });
  std::vector<std::string> sessions;
  size_t i = 0;
  while (i < clicks.size()) {
    size_t j = i + 1;
    while (j < clicks.size() && clicks[j].user == clicks[i].user &&
           clicks[j].timestamp - clicks[j - 1].timestamp <= gap) {
      ++j;
    }
    // The last page: of the latest click, the smallest page among ties.
    size_t last = j - 1;
    while (last > i && clicks[last - 1].timestamp == clicks[j - 1].timestamp) --last;
    sessions.push_back(clicks[i].user + "," + std::to_string(clicks[i].timestamp) + "," +
                       std::to_string(clicks[j - 1].timestamp + gap) + "," + std::to_string(j - i) +
                       "," + clicks[i].page + "," + clicks[last].page);
    i = j;
  }
  std::sort(sessions.begin(), sessions.end());
  return sessions;
}

std::vector<std::string> sortedLines(const std::string& text) {
  std::vector<std::string> result = lines(text);
  std::sort(result.begin(), result.end());
  return result;
}

class ClickSessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/strom_click_sessions_test_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr) << "mkdtemp: " << std::strerror(errno);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  RunResult run(const std::vector<std::string>& args) {
    RunResult result = strom::testutil::runProcess(kBinary, args, dir_, kRunDeadline);
    if (!result.spawnError.empty()) ADD_FAILURE() << result.spawnError;
    return result;
  }

  /// Run on `input` with `extraArgs`; expect success and return (sessions, rejected) files.
  std::pair<std::string, std::string> runOk(const std::string& input,
                                            const std::vector<std::string>& extraArgs) {
    std::vector<std::string> args = {
        "--input", input, "--output", path("sessions.txt"), "--rejected", path("rejected.txt")};
    args.insert(args.end(), extraArgs.begin(), extraArgs.end());
    RunResult result = run(args);
    EXPECT_FALSE(result.timedOut) << "click_sessions hung; stderr:\n" << result.err;
    EXPECT_EQ(result.exitCode, 0) << "stderr:\n" << result.err;
    return {readWholeFile(path("sessions.txt")), readWholeFile(path("rejected.txt"))};
  }

  std::string dir_;
};

TEST_F(ClickSessionsTest, sessionsOfTheShippedClicksMatchTheOracle) {
  std::string input = std::string(kSourceDir) + "/examples/data/clicks.csv";
  std::vector<std::string> expected = expectedSessions(parseClicks(readWholeFile(input)), kGap);
  ASSERT_GT(expected.size(), 100u);
  for (int parallelism = 1; parallelism <= 4; ++parallelism) {
    for (const char* rows : {"1024", "7"}) {
      for (const char* taskManagers : {"1", "3"}) {  // 3: tasks talk over loopback TCP
        SCOPED_TRACE("-p " + std::to_string(parallelism) + " rows " + rows + " taskmanagers " +
                     taskManagers);
        auto [sessions, rejected] =
            runOk(input, {"-p", std::to_string(parallelism), "-D",
                          std::string("execution.batch.rows=") + rows, "-D",
                          std::string("taskmanager.count=") + taskManagers});
        EXPECT_EQ(sortedLines(sessions), expected);
        EXPECT_EQ(rejected, "");
      }
    }
  }
}

TEST_F(ClickSessionsTest, aGapOfExactlyTheSessionGapKeepsTheSessionOpen) {
  writeWholeFile(path("in.csv"), "a,1000,/x\na,61000,/y\na,121001,/z\n");
  auto [sessions, rejected] = runOk(path("in.csv"), {"--gap-ms", "60000"});
  EXPECT_EQ(sortedLines(sessions),
            (std::vector<std::string>{"a,1000,121000,2,/x,/y", "a,121001,181001,1,/z,/z"}));
}

TEST_F(ClickSessionsTest, malformedLinesAndLateClicksGoToTheRejectedFile) {
  std::vector<Click> clicks;
  std::string text;
  for (int64_t i = 0; i < 3000; ++i) {
    Click click{"u" + std::to_string(i % 5), 1'000'000 + i * 1000, "/p" + std::to_string(i % 3)};
    clicks.push_back(click);
    text += click.user + "," + std::to_string(click.timestamp) + "," + click.page + "\n";
    if (i == 10) text += "no commas here\n";
    if (i == 20) text += "u1,not-a-number,/x\n";
    if (i == 30) text += ",123,/empty-user\n";
  }
  // Far behind the watermark once 3000 seconds of clicks went by: too late for its session.
  text += "u9,1000,/late\n";
  writeWholeFile(path("in.csv"), text);
  // One subtask and a watermark after every batch: the late click surely meets a watermark.
  auto [sessions, rejected] = runOk(
      path("in.csv"),
      {"-p", "1", "-D", "pipeline.auto-watermark-interval=0 ms", "-D", "execution.batch.rows=64"});
  EXPECT_EQ(sortedLines(sessions), expectedSessions(clicks, kGap));
  EXPECT_EQ(
      sortedLines(rejected),
      (std::vector<std::string>{"late: u9,1000,/late", "malformed: ,123,/empty-user",
                                "malformed: no commas here", "malformed: u1,not-a-number,/x"}));
}

TEST_F(ClickSessionsTest, badArgumentsFailWithAMessage) {
  RunResult missing = run({"--output", path("out.txt")});
  EXPECT_NE(missing.exitCode, 0);
  EXPECT_NE(missing.err.find("--input"), std::string::npos) << missing.err;

  RunResult zeroGap =
      run({"--input", path("in.csv"), "--output", path("out.txt"), "--gap-ms", "0"});
  EXPECT_NE(zeroGap.exitCode, 0);
  EXPECT_NE(zeroGap.err.find("gap-ms"), std::string::npos) << zeroGap.err;

  RunResult noFile = run({"--input", path("absent.csv"), "--output", path("out.txt")});
  EXPECT_NE(noFile.exitCode, 0);
  EXPECT_NE(noFile.err.find("absent.csv"), std::string::npos) << noFile.err;
}

}  // namespace
