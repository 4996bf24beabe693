// Runs the real examples/word_count binary as a child process and checks its output exactly
// against a single-threaded oracle computed here, at several parallelisms and batch sizes, with
// checkpoints on (exactly-once part files), plus its handling of bad arguments and unreadable or
// unwritable files.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "testutil/subprocess.h"

namespace {

using strom::testutil::readWholeFile;
using strom::testutil::RunResult;
using strom::testutil::writeWholeFile;

constexpr const char* kWordCountBinary = STROM_WORD_COUNT_BIN;
constexpr const char* kSourceDir = STROM_SOURCE_DIR;

// Upper bound on one run of the binary (each takes well under a second in Release); a run that
// takes longer is killed and reported as hung.
constexpr std::chrono::milliseconds kRunDeadline{20'000};

std::string toLower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

bool isWordByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// The oracle: every "word,count" line the job must write for `text`, sorted. Line breaks ('\n',
/// '\r') are separators like any other non-word byte, so the whole file is scanned as one string.
std::vector<std::string> expectedCounts(std::string_view text) {
  std::map<std::string, int64_t> counts;
  std::vector<std::string> lines;
  size_t i = 0;
  while (i < text.size()) {
    if (!isWordByte(text[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && isWordByte(text[end])) ++end;
    std::string word = toLower(std::string(text.substr(i, end - i)));
    int64_t count = ++counts[word];
    lines.push_back(word + "," + std::to_string(count));
    i = end;
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

/// Split the job's output into its lines, sorted. Sets `*unterminated` if the last line lacks '\n'.
std::vector<std::string> sortedOutputLines(const std::string& text, bool* unterminated) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t newline = text.find('\n', start);
    if (newline == std::string::npos) {
      *unterminated = true;
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, newline - start));
    start = newline + 1;
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

/// Describe how two sorted multisets of lines differ: their sizes and the first few lines found
/// on one side only.
std::string describeDifference(const std::vector<std::string>& expected,
                               const std::vector<std::string>& actual) {
  std::vector<std::string> missing;
  std::vector<std::string> extra;
  std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(),
                      std::back_inserter(missing));
  std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  std::ostringstream message;
  message << "expected " << expected.size() << " lines, got " << actual.size() << "; "
          << missing.size() << " missing, " << extra.size() << " unexpected";
  constexpr size_t kShown = 10;
  for (size_t i = 0; i < missing.size() && i < kShown; ++i) {
    message << "\n  missing: " << missing[i];
  }
  for (size_t i = 0; i < extra.size() && i < kShown; ++i) {
    message << "\n  unexpected: " << extra[i].substr(0, 200);
  }
  return message.str();
}

class WordCountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/strom_word_count_test_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr) << "mkdtemp: " << std::strerror(errno);
    dir_ = pattern;
  }

  void TearDown() override {
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  /// Run the word_count binary with `args`, stdin from /dev/null and stdout and stderr captured
  /// in files of the test directory. The arguments go to the child as they are, with no shell.
  RunResult run(const std::vector<std::string>& args) {
    RunResult result = strom::testutil::runProcess(kWordCountBinary, args, dir_, kRunDeadline);
    if (!result.spawnError.empty()) ADD_FAILURE() << result.spawnError;
    return result;
  }

  /// Run the job on `input` with `extraArgs` and check its output against the oracle.
  void expectCountsMatchOracle(const std::string& input, const std::vector<std::string>& extraArgs,
                               const std::vector<std::string>& expected) {
    std::string output = path("counts.txt");
    std::filesystem::remove(output);
    std::vector<std::string> args = {"--input", input, "--output", output};
    args.insert(args.end(), extraArgs.begin(), extraArgs.end());
    RunResult result = run(args);
    ASSERT_FALSE(result.timedOut) << "word_count hung; stderr:\n" << result.err;
    ASSERT_EQ(result.signal, 0) << "word_count died of signal " << result.signal << "; stderr:\n"
                                << result.err;
    ASSERT_EQ(result.exitCode, 0) << "stderr:\n" << result.err;
    bool unterminated = false;
    std::vector<std::string> actual = sortedOutputLines(readWholeFile(output), &unterminated);
    EXPECT_FALSE(unterminated) << "the last output line lacks a newline";
    if (actual != expected) ADD_FAILURE() << describeDifference(expected, actual);
  }

  /// Check `input` at parallelism 1..4, each with the default batch size and with 1 and 1024 rows.
  void expectCountsMatchOracleForAllSettings(const std::string& input) {
    std::vector<std::string> expected = expectedCounts(readWholeFile(input));
    ASSERT_FALSE(expected.empty());
    const std::vector<std::vector<std::string>> batchSettings = {
        {}, {"-D", "execution.batch.rows=1"}, {"-D", "execution.batch.rows=1024"}};
    for (int parallelism = 1; parallelism <= 4; ++parallelism) {
      for (const std::vector<std::string>& batch : batchSettings) {
        std::vector<std::string> extraArgs = {"-p", std::to_string(parallelism)};
        extraArgs.insert(extraArgs.end(), batch.begin(), batch.end());
        SCOPED_TRACE("-p " + std::to_string(parallelism) +
                     (batch.empty() ? std::string(" (default batch size)") : " -D " + batch[1]));
        expectCountsMatchOracle(input, extraArgs, expected);
        if (HasFatalFailure()) return;
      }
    }
  }

  std::string dir_;
};

/// A text that exercises the splitter: digits, mixed case, punctuation, non-ASCII UTF-8 (whose
/// bytes separate words, also inside a word), empty lines, "\r\n" endings, a 100,000-character
/// line and a last line without a line break.
std::string generateText() {
  std::mt19937 generator(20240611);
  const std::string alphanumerics =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::vector<std::string> vocabulary;
  for (int i = 0; i < 2000; ++i) {
    std::string word;
    int length = 1 + static_cast<int>(generator() % 12);
    bool digitsOnly = generator() % 10 == 0;
    for (int j = 0; j < length; ++j) {
      word.push_back(digitsOnly ? static_cast<char>('0' + generator() % 10)
                                : alphanumerics[generator() % alphanumerics.size()]);
    }
    vocabulary.push_back(word);
  }
  std::vector<std::string> separators = {" ", " ", " ", "  ", ", ", ". ", "; "};
  for (char c : std::string_view("\t:!?-'\"()_/\\@#[]{}")) separators.emplace_back(1, c);
  separators.push_back("\xC3\xA9");                  // é
  separators.push_back("\xE2\x80\x94");              // em dash
  separators.push_back("\xE6\x97\xA5\xE6\x9C\xAC");  // 日本
  separators.push_back("\xF0\x9F\x98\x80");          // emoji
  separators.push_back("\xFF");                      // a byte that is never valid UTF-8
  // Skewed word choice, so a few words get running counts near a thousand.
  std::geometric_distribution<int> popular(0.02);
  auto pickWord = [&]() -> std::string {
    size_t index = generator() % 3 == 0
                       ? static_cast<size_t>(popular(generator)) % vocabulary.size()
                       : generator() % vocabulary.size();
    std::string word = vocabulary[index];
    switch (generator() % 4) {  // vary the case of the same word
      case 0:
        for (char& c : word) {
          if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        }
        break;
      case 1:
        for (char& c : word) {
          if (c >= 'a' && c <= 'z' && generator() % 2 == 0) c = static_cast<char>(c - 'a' + 'A');
        }
        break;
      default:
        break;
    }
    return word;
  };
  auto appendWords = [&](std::string& line, size_t targetLength) {
    while (line.size() < targetLength) {
      line += pickWord();
      line += separators[generator() % separators.size()];
    }
  };

  std::string text;
  constexpr int kLines = 20'000;
  for (int i = 0; i < kLines; ++i) {
    std::string line;
    if (i == kLines / 2) {
      appendWords(line, 100'000);
      line.resize(100'000);
    } else if (generator() % 20 == 0) {
      // an empty line
    } else if (generator() % 50 == 0) {
      line = " ,;\xC3\xA9 -- \xE2\x80\x94 ";  // separators only
    } else {
      appendWords(line, 1 + generator() % 80);
    }
    text += line;
    if (i + 1 < kLines) text += generator() % 3 == 0 ? "\r\n" : "\n";
  }
  return text;
}

TEST_F(WordCountTest, countsShippedTextExactlyAtEveryParallelismAndBatchSize) {
  expectCountsMatchOracleForAllSettings(std::string(kSourceDir) + "/examples/data/words.txt");
}

TEST_F(WordCountTest, countsGeneratedTextExactlyAtEveryParallelismAndBatchSize) {
  std::string input = path("generated.txt");
  ASSERT_TRUE(writeWholeFile(input, generateText()));
  expectCountsMatchOracleForAllSettings(input);
}

TEST_F(WordCountTest, countsExactlyOnThreeTaskManagersOverLoopbackTcp) {
  // Tasks on different TaskManagers exchange data through remote channels.
  std::string input = path("generated.txt");
  ASSERT_TRUE(writeWholeFile(input, generateText()));
  std::vector<std::string> expected = expectedCounts(readWholeFile(input));
  for (int parallelism = 2; parallelism <= 4; ++parallelism) {
    for (const char* batch : {"execution.batch.rows=1024", "execution.batch.rows=1"}) {
      SCOPED_TRACE("-p " + std::to_string(parallelism) + " -D " + batch);
      expectCountsMatchOracle(
          input, {"-p", std::to_string(parallelism), "-D", "taskmanager.count=3", "-D", batch},
          expected);
      if (HasFatalFailure()) return;
    }
  }
}

/// The output of a run with checkpoints: the lines of the committed part files part-0-<n>
/// (sink parallelism 1), read in part order. Fails the test on a file that is not a committed
/// part of subtask 0.
std::string readCommittedParts(const std::string& dir) {
  std::map<int64_t, std::string> parts;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("part-0-")) {
      ADD_FAILURE() << "unexpected file in the output directory: " << name;
      continue;
    }
    parts[std::stoll(name.substr(7))] = readWholeFile(entry.path().string());
  }
  std::string text;
  for (const auto& [part, content] : parts) text += content;
  return text;
}

TEST_F(WordCountTest, withCheckpointsWritesCommittedPartsThatMatchTheOracle) {
  std::string input = path("generated.txt");
  ASSERT_TRUE(writeWholeFile(input, generateText()));
  std::vector<std::string> expected = expectedCounts(readWholeFile(input));
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE("-p " + std::to_string(parallelism));
    std::string output = path("counts-" + std::to_string(parallelism));
    // One row per batch: the job runs long enough for several periodic checkpoints.
    RunResult result = run({"--input", input, "--output", output, "-p", std::to_string(parallelism),
                            "--checkpoint-interval", "20", "-D", "execution.batch.rows=1"});
    ASSERT_FALSE(result.timedOut) << "word_count hung; stderr:\n" << result.err;
    ASSERT_EQ(result.exitCode, 0) << "stderr:\n" << result.err;
    ASSERT_TRUE(std::filesystem::is_directory(output));
    bool unterminated = false;
    std::vector<std::string> actual = sortedOutputLines(readCommittedParts(output), &unterminated);
    EXPECT_FALSE(unterminated);
    if (actual != expected) ADD_FAILURE() << describeDifference(expected, actual);
    // Checkpoints went to <output>.checkpoints (state.checkpoints.dir was not set).
    EXPECT_TRUE(std::filesystem::is_directory(output + ".checkpoints"));
  }
}

TEST_F(WordCountTest, withCheckpointsTheCheckpointDirectoryCanBeSet) {
  std::string input = path("input.txt");
  ASSERT_TRUE(writeWholeFile(input, "one two two\nthree\n"));
  std::string output = path("counts");
  std::string checkpoints = path("elsewhere");
  RunResult result = run({"--input", input, "--output", output, "--checkpoint-interval", "1000",
                          "-D", "state.checkpoints.dir=" + checkpoints});
  ASSERT_FALSE(result.timedOut) << "word_count hung; stderr:\n" << result.err;
  ASSERT_EQ(result.exitCode, 0) << "stderr:\n" << result.err;
  bool unterminated = false;
  std::vector<std::string> expected = {"one,1", "three,1", "two,1", "two,2"};
  EXPECT_EQ(sortedOutputLines(readCommittedParts(output), &unterminated), expected);
  EXPECT_TRUE(std::filesystem::is_directory(checkpoints));
  EXPECT_FALSE(std::filesystem::exists(output + ".checkpoints"));
}

TEST_F(WordCountTest, oracleSplitsOnNonAlphanumericBytesAndLowerCases) {
  // The oracle itself, on a text whose answer is known.
  std::vector<std::string> expected = {"a1,1", "a1,2", "b,1", "caf,1", "s,1", "x,1"};
  EXPECT_EQ(expectedCounts("A1 a1\r\nb\n\ncaf\xC3\xA9s_x"), expected);
}

TEST_F(WordCountTest, failsNamingAMissingInputFile) {
  std::string input = path("no_such_input.txt");
  // At -p 4 the source fails while its consumers are still being deployed.
  for (const char* parallelism : {"1", "4"}) {
    SCOPED_TRACE(std::string("-p ") + parallelism);
    RunResult result = run({"--input", input, "--output", path("counts.txt"), "-p", parallelism});
    ASSERT_FALSE(result.timedOut) << "word_count hung; stderr:\n" << result.err;
    EXPECT_EQ(result.signal, 0);
    EXPECT_NE(result.exitCode, 0);
    EXPECT_NE(result.exitCode, -1);
    EXPECT_NE(result.err.find(input), std::string::npos) << result.err;
  }
}

TEST_F(WordCountTest, failsNamingAnUnwritableOutputPath) {
  std::string input = path("input.txt");
  ASSERT_TRUE(writeWholeFile(input, "one two two\n"));
  std::string output = path("no_such_dir/counts.txt");
  RunResult result = run({"--input", input, "--output", output});
  ASSERT_FALSE(result.timedOut);
  EXPECT_EQ(result.signal, 0);
  EXPECT_NE(result.exitCode, 0);
  EXPECT_NE(result.exitCode, -1);
  EXPECT_NE(result.err.find(output), std::string::npos) << result.err;
}

TEST_F(WordCountTest, rejectsAnUnknownFlagWithUsage) {
  std::string input = path("input.txt");
  ASSERT_TRUE(writeWholeFile(input, "one\n"));
  RunResult result = run({"--input", input, "--output", path("counts.txt"), "--bogus"});
  ASSERT_FALSE(result.timedOut);
  EXPECT_EQ(result.exitCode, 2) << result.err;
  EXPECT_NE(result.err.find("usage"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("--bogus"), std::string::npos) << result.err;

  RunResult alone = run({"--bogus"});
  ASSERT_FALSE(alone.timedOut);
  EXPECT_EQ(alone.exitCode, 2) << alone.err;
  EXPECT_NE(alone.err.find("usage"), std::string::npos) << alone.err;
}

TEST_F(WordCountTest, rejectsAMissingInputFlag) {
  RunResult result = run({"--output", path("counts.txt")});
  ASSERT_FALSE(result.timedOut);
  EXPECT_EQ(result.exitCode, 2) << result.err;
  EXPECT_NE(result.err.find("--input"), std::string::npos) << result.err;
}

TEST_F(WordCountTest, rejectsZeroParallelism) {
  std::string input = path("input.txt");
  ASSERT_TRUE(writeWholeFile(input, "one\n"));
  RunResult result = run({"--input", input, "--output", path("counts.txt"), "-p", "0"});
  ASSERT_FALSE(result.timedOut);
  EXPECT_EQ(result.signal, 0);
  EXPECT_NE(result.exitCode, 0);
  EXPECT_NE(result.exitCode, -1);
  EXPECT_NE(result.err.find("parallelism"), std::string::npos) << result.err;
}

TEST_F(WordCountTest, rejectsParallelismAboveTheMaxParallelism) {
  std::string input = path("input.txt");
  ASSERT_TRUE(writeWholeFile(input, "one\n"));
  RunResult result = run({"--input", input, "--output", path("counts.txt"), "-p", "500"});
  ASSERT_FALSE(result.timedOut);
  EXPECT_EQ(result.signal, 0);
  EXPECT_NE(result.exitCode, 0);
  EXPECT_NE(result.exitCode, -1);
  EXPECT_NE(result.err.find("max parallelism"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("128"), std::string::npos) << result.err;
}

TEST_F(WordCountTest, rejectsAnOptionWithoutEqualsSign) {
  std::string input = path("input.txt");
  ASSERT_TRUE(writeWholeFile(input, "one\n"));
  RunResult result =
      run({"--input", input, "--output", path("counts.txt"), "-D", "execution.batch.rows"});
  ASSERT_FALSE(result.timedOut);
  EXPECT_EQ(result.exitCode, 2) << result.err;
  EXPECT_NE(result.err.find("execution.batch.rows"), std::string::npos) << result.err;
}

TEST_F(WordCountTest, printsUsageToStdoutOnHelp) {
  RunResult result = run({"--help"});
  ASSERT_FALSE(result.timedOut);
  EXPECT_EQ(result.exitCode, 0) << result.err;
  EXPECT_NE(toLower(result.out).find("usage"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("--input"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("--output"), std::string::npos) << result.out;
}

}  // namespace
