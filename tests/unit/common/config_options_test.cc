#include "common/config_options.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>

#include "common/config_file.h"
#include "testutil/status_matchers.h"

namespace strom {
namespace {

std::set<std::string> tableKeys() {
  std::set<std::string> keys;
  for (const ConfigOption& option : configOptions()) keys.emplace(option.key);
  return keys;
}

TEST(ConfigOptions, TableIsSortedAndFindsEveryKey) {
  auto options = configOptions();
  for (size_t i = 1; i < options.size(); ++i) {
    EXPECT_LT(options[i - 1].key, options[i].key) << "configOptions() must be sorted by key";
  }
  for (const ConfigOption& option : options) {
    ASSERT_NE(findConfigOption(option.key), nullptr) << option.key;
    EXPECT_EQ(findConfigOption(option.key)->key, option.key);
  }
  EXPECT_EQ(findConfigOption("taskmanager.numberOfTaskSlot"), nullptr);
}

TEST(ConfigOptions, EveryDefaultIsValid) {
  for (const ConfigOption& option : configOptions()) {
    if (option.defaultValue.empty()) continue;
    Configuration config;
    config.set(std::string(option.key), std::string(option.defaultValue));
    Status status = validateConfiguration(config, "defaults");
    EXPECT_TRUE(status.isOk()) << option.key << ": " << status.message();
  }
}

// docs/config.md documents every key the table holds, and nothing else: a row of a keys table
// starts with "| `key` |".
TEST(ConfigOptions, DocsListExactlyTheKeysOfTheTable) {
  std::ifstream in(std::string(STROM_SOURCE_DIR) + "/docs/config.md");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  std::set<std::string> documented;
  std::regex row(R"(\n\| `([A-Za-z0-9_.-]+)` \|)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), row); it != std::sregex_iterator();
       ++it) {
    documented.insert((*it)[1]);
  }
  EXPECT_EQ(documented, tableKeys());
}

// conf/strom.yaml sets only known keys to valid values, and lists every key: set, or in a
// comment "# key: value" where the key has no fixed default.
TEST(ConfigOptions, ShippedConfigurationFileIsValidAndListsEveryKey) {
  std::string path = std::string(STROM_SOURCE_DIR) + "/conf/strom.yaml";
  auto config = loadConfigurationFile(path);
  ASSERT_OK(config.status());
  EXPECT_OK(validateConfiguration(*config, "conf/strom.yaml"));
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const ConfigOption& option : configOptions()) {
    bool listed = config->contains(option.key) ||
                  text.find("# " + std::string(option.key) + ":") != std::string::npos;
    EXPECT_TRUE(listed) << option.key << " is not in conf/strom.yaml";
  }
}

TEST(ConfigOptions, UnknownKeyIsNamedWithTheClosestKnownKey) {
  Configuration config;
  config.set("taskmanager.numberOfTaskSlot", "2");
  Status status = validateConfiguration(config, "-D option");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "-D option: unknown config key 'taskmanager.numberOfTaskSlot' (did you mean "
            "'taskmanager.numberOfTaskSlots'?)");

  Configuration far;
  far.set("no.such.setting", "1");
  EXPECT_EQ(validateConfiguration(far, "file").message(),
            "file: unknown config key 'no.such.setting'");
}

TEST(ConfigOptions, BadValuesNameKeyAndValue) {
  struct Case {
    const char* key;
    const char* value;
    const char* message;
  };
  const Case cases[] = {
      {"jobmanager.rpc.port", "sixty", "cannot parse 'sixty' as an integer"},
      {"jobmanager.rpc.port", "70000", "70000 is outside 0..65535"},
      {"heartbeat.interval", "soon", "cannot parse 'soon' as a duration"},
      {"taskmanager.memory.segment-size", "32 parsecs", "as a memory size"},
      {"restart-strategy.type", "sometimes",
       "'sometimes' is not one of: none off disable fixed-delay"},
      {"restart-strategy.exponential-delay.backoff-multiplier", "x2", "cannot parse 'x2'"},
  };
  for (const Case& c : cases) {
    Configuration config;
    config.set(c.key, c.value);
    Status status = validateConfiguration(config, "config file 'x.yaml'");
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.key;
    EXPECT_NE(status.message().find("config file 'x.yaml'"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find(c.key), std::string::npos) << status.message();
    EXPECT_NE(status.message().find(c.message), std::string::npos) << status.message();
  }
}

}  // namespace
}  // namespace strom
