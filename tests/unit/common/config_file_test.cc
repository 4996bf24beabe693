#include "common/config_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/strom_config_file_test_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr) << "mkdtemp: " << std::strerror(errno);
    dir_ = pattern;
  }

  void TearDown() override {
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  /// Write `text` to `<dir>/strom.yaml` and return its path.
  std::string writeConfig(const std::string& text) {
    std::string path = dir_ + "/strom.yaml";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    return path;
  }

  /// Load `text` as a config file and return the error message, which must start with the
  /// file's name.
  std::string errorOf(const std::string& text) {
    std::string path = writeConfig(text);
    auto result = loadConfigurationFile(path);
    EXPECT_FALSE(result.isOk()) << "loaded: " << text;
    if (result.isOk()) return "";
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(result.status().message(), HasSubstr("config file '" + path + "', "));
    return result.status().message();
  }

  std::string dir_;
};

TEST_F(ConfigFileTest, readsFlatKeys) {
  std::string path = writeConfig(
      "taskmanager.numberOfTaskSlots: 2\n"
      "execution.buffer-timeout: 10 s\n"
      "taskmanager.memory.segment-size: 64 mb\n");
  ASSERT_OK_AND_ASSIGN(Configuration config, loadConfigurationFile(path));
  EXPECT_THAT(config.entries(), ElementsAre(Pair("execution.buffer-timeout", "10 s"),
                                            Pair("taskmanager.memory.segment-size", "64 mb"),
                                            Pair("taskmanager.numberOfTaskSlots", "2")));
  // Values stay strings for the typed getters.
  ASSERT_OK_AND_ASSIGN(
      auto timeout, config.getDuration("execution.buffer-timeout", std::chrono::milliseconds(0)));
  EXPECT_EQ(timeout, std::chrono::seconds(10));
  ASSERT_OK_AND_ASSIGN(uint64_t size, config.getMemorySize("taskmanager.memory.segment-size", 0));
  EXPECT_EQ(size, 64u << 20);
}

TEST_F(ConfigFileTest, flattensNestedMapsWithDots) {
  std::string path = writeConfig(
      "taskmanager:\n"
      "  numberOfTaskSlots: 2\n"
      "  network:\n"
      "    memory:\n"
      "      buffers-per-channel: 4\n"
      "parallelism: {default: 3}\n");
  ASSERT_OK_AND_ASSIGN(Configuration config, loadConfigurationFile(path));
  EXPECT_THAT(config.entries(),
              ElementsAre(Pair("parallelism.default", "3"),
                          Pair("taskmanager.network.memory.buffers-per-channel", "4"),
                          Pair("taskmanager.numberOfTaskSlots", "2")));
}

TEST_F(ConfigFileTest, acceptsFlatAndNestedKeysMixed) {
  std::string path = writeConfig(
      "taskmanager:\n"
      "  network.numberOfBuffers: 512\n"
      "  data:\n"
      "    port: 6121\n"
      "taskmanager.count: 2\n");
  ASSERT_OK_AND_ASSIGN(Configuration config, loadConfigurationFile(path));
  EXPECT_THAT(config.entries(),
              ElementsAre(Pair("taskmanager.count", "2"), Pair("taskmanager.data.port", "6121"),
                          Pair("taskmanager.network.numberOfBuffers", "512")));
}

TEST_F(ConfigFileTest, ignoresCommentsAndKeepsQuotedText) {
  std::string path = writeConfig(
      "# a comment line\n"
      "execution.batch.rows: 256  # trailing comment\n"
      "pipeline.auto-watermark-interval: \"100 ms\"\n"
      "name: 'a # not a comment'\n"
      "empty: ''\n");
  ASSERT_OK_AND_ASSIGN(Configuration config, loadConfigurationFile(path));
  EXPECT_THAT(config.entries(), ElementsAre(Pair("empty", ""), Pair("execution.batch.rows", "256"),
                                            Pair("name", "a # not a comment"),
                                            Pair("pipeline.auto-watermark-interval", "100 ms")));
}

TEST_F(ConfigFileTest, emptyFileOrOnlyCommentsGivesEmptyConfiguration) {
  for (const char* text : {"", "\n\n", "# nothing set\n# at all\n", "---\n"}) {
    ASSERT_OK_AND_ASSIGN(Configuration config, loadConfigurationFile(writeConfig(text)));
    EXPECT_TRUE(config.entries().empty()) << "text: " << text;
  }
}

TEST_F(ConfigFileTest, missingFileIsNotFoundAndNamesThePath) {
  std::string path = dir_ + "/absent.yaml";
  auto result = loadConfigurationFile(path);
  ASSERT_STATUS(StatusCode::kNotFound, result);
  EXPECT_EQ(result.status().message(), "config file '" + path + "' does not exist");
}

TEST_F(ConfigFileTest, directoryIsRejected) {
  auto result = loadConfigurationFile(dir_);
  ASSERT_STATUS(StatusCode::kInvalidArgument, result);
  EXPECT_THAT(result.status().message(), HasSubstr("is a directory"));
}

TEST_F(ConfigFileTest, syntaxErrorNamesLineAndColumn) {
  std::string message = errorOf(
      "parallelism.default: 2\n"
      "execution.batch.rows: [1, 2\n");
  EXPECT_THAT(message, HasSubstr("line 3, column 1: YAML syntax error: "));
  message = errorOf(
      "a: 1\n"
      "  b: 2\n");
  EXPECT_THAT(message, HasSubstr("line 2, column 4: YAML syntax error: "));
}

TEST_F(ConfigFileTest, documentThatIsNotAMapIsRejected) {
  EXPECT_THAT(errorOf("just a string\n"),
              HasSubstr("line 1, column 1: the document is a single value, not a map"));
  EXPECT_THAT(errorOf("- a\n- b\n"),
              HasSubstr("line 1, column 1: the document is a list, not a map"));
}

TEST_F(ConfigFileTest, secondDocumentIsRejected) {
  EXPECT_THAT(errorOf("a: 1\n---\nb: 2\n"), HasSubstr("line 3, column 1: more than one YAML"));
}

TEST_F(ConfigFileTest, keyGivenFlatAndNestedIsRejected) {
  std::string message = errorOf(
      "taskmanager.numberOfTaskSlots: 2\n"
      "taskmanager:\n"
      "  numberOfTaskSlots: 4\n");
  EXPECT_THAT(message, HasSubstr("line 3, column 3: key 'taskmanager.numberOfTaskSlots' is given "
                                 "twice (first at line 1, column 1)"));
}

TEST_F(ConfigFileTest, keyGivenTwiceInOneMapIsRejected) {
  EXPECT_THAT(errorOf("a: 1\nb: 2\na: 3\n"),
              HasSubstr("line 3, column 1: key 'a' is given twice (first at line 1, column 1)"));
}

TEST_F(ConfigFileTest, listValueIsRejected) {
  EXPECT_THAT(errorOf("taskmanager:\n  count: [1, 2]\n"),
              HasSubstr("line 2, column 10: key 'taskmanager.count' has a list as its value"));
  EXPECT_THAT(errorOf("a:\n  - 1\n  - 2\n"),
              HasSubstr("line 2, column 3: key 'a' has a list as its value"));
}

TEST_F(ConfigFileTest, keyWithoutValueIsRejected) {
  EXPECT_THAT(errorOf("a: 1\ntaskmanager:\n"),
              HasSubstr("line 2, column 1: key 'taskmanager' has no value"));
  EXPECT_THAT(errorOf("a: ~\n"), HasSubstr("line 1, column 1: key 'a' has no value"));
}

TEST_F(ConfigFileTest, nonScalarOrEmptyKeyIsRejected) {
  EXPECT_THAT(errorOf("[a, b]: 1\n"), HasSubstr("line 1, column 1: a key must be a plain string"));
  EXPECT_THAT(errorOf("'': 1\n"), HasSubstr("line 1, column 1: empty key"));
}

TEST_F(ConfigFileTest, loadConfigurationAppliesOverridesInOrder) {
  writeConfig(
      "parallelism.default: 2\n"
      "taskmanager:\n"
      "  numberOfTaskSlots: 4\n");
  std::vector<std::string> overrides = {"taskmanager.numberOfTaskSlots=8", "taskmanager.count = 3",
                                        "taskmanager.count=5"};
  ASSERT_OK_AND_ASSIGN(Configuration config, loadConfiguration(dir_, overrides));
  EXPECT_THAT(config.entries(),
              ElementsAre(Pair("parallelism.default", "2"), Pair("taskmanager.count", "5"),
                          Pair("taskmanager.numberOfTaskSlots", "8")));
}

TEST_F(ConfigFileTest, loadConfigurationReportsFileAndOptionErrors) {
  auto missing = loadConfiguration(dir_, {});
  ASSERT_STATUS(StatusCode::kNotFound, missing);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/strom.yaml"));

  writeConfig("a: 1\n");
  std::vector<std::string> overrides = {"no-equals-sign"};
  auto bad = loadConfiguration(dir_, overrides);
  ASSERT_STATUS(StatusCode::kInvalidArgument, bad);
  EXPECT_THAT(bad.status().message(), HasSubstr("'no-equals-sign' is not of the form key=value"));
}

TEST_F(ConfigFileTest, shippedConfigFileLoadsAndParses) {
  // conf/strom.yaml at the repository root lists every key with its default.
  ASSERT_OK_AND_ASSIGN(Configuration config,
                       loadConfiguration(std::string(STROM_SOURCE_DIR) + "/conf", {}));
  // Keys without a fixed default are only in comments (config_options_test checks that every
  // key is listed); taskmanager.numberOfTaskSlots is one: its absence means "size the embedded
  // cluster to the job".
  EXPECT_FALSE(config.contains("taskmanager.numberOfTaskSlots"));
  ASSERT_OK_AND_ASSIGN(int64_t parallelism, config.getInt("parallelism.default", 0));
  EXPECT_EQ(parallelism, 1);
  ASSERT_OK_AND_ASSIGN(
      auto timeout, config.getDuration("execution.buffer-timeout", std::chrono::milliseconds(0)));
  EXPECT_EQ(timeout, std::chrono::milliseconds(5));
  ASSERT_OK_AND_ASSIGN(uint64_t segment,
                       config.getMemorySize("taskmanager.memory.segment-size", 0));
  EXPECT_EQ(segment, 32u << 10);
  ASSERT_OK_AND_ASSIGN(
      auto backoffMax,
      config.getDuration("taskmanager.network.request-backoff.max", std::chrono::milliseconds(0)));
  EXPECT_EQ(backoffMax, std::chrono::seconds(10));
  ASSERT_OK_AND_ASSIGN(int64_t floating,
                       config.getInt("taskmanager.network.memory.floating-buffers-per-gate", 0));
  EXPECT_EQ(floating, 8);
}

}  // namespace
}  // namespace strom
