#include "common/config_file.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace strom {
namespace {

/// Walks a parsed document and flattens it into a Configuration, remembering where each key was
/// set so that a key given twice can name both places.
class Flattener {
 public:
  explicit Flattener(const std::string& path) : path_(path) {}

  Status flattenMap(const YAML::Node& map, const std::string& prefix) {
    for (const auto& entry : map) {
      const YAML::Node& keyNode = entry.first;
      const YAML::Node& value = entry.second;
      if (keyNode.IsNull()) return error(keyNode.Mark(), "empty key");
      if (!keyNode.IsScalar()) return error(keyNode.Mark(), "a key must be a plain string");
      const std::string& name = keyNode.Scalar();
      if (name.empty()) return error(keyNode.Mark(), "empty key");
      std::string key = prefix.empty() ? name : prefix + "." + name;
      switch (value.Type()) {
        case YAML::NodeType::Map:
          STROM_RETURN_IF_ERROR(flattenMap(value, key));
          break;
        case YAML::NodeType::Scalar:
          STROM_RETURN_IF_ERROR(add(key, keyNode.Mark(), value.Scalar()));
          break;
        case YAML::NodeType::Sequence:
          return error(value.Mark(), "key '" + key +
                                         "' has a list as its value; every Strom key takes a "
                                         "single value");
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
          return error(keyNode.Mark(), "key '" + key + "' has no value");
      }
    }
    return Status::ok();
  }

  Status error(const YAML::Mark& mark, const std::string& what) const {
    return Status::invalidArgument("config file '" + path_ + "', " + position(mark) + ": " + what);
  }

  Configuration take() { return std::move(config_); }

 private:
  static std::string position(const YAML::Mark& mark) {
    // yaml-cpp counts from 0; editors count from 1.
    return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1);
  }

  Status add(const std::string& key, const YAML::Mark& mark, const std::string& value) {
    auto [it, inserted] = marks_.emplace(key, mark);
    if (!inserted) {
      return error(mark,
                   "key '" + key + "' is given twice (first at " + position(it->second) + ")");
    }
    config_.set(key, value);
    return Status::ok();
  }

  const std::string& path_;
  Configuration config_;
  std::map<std::string, YAML::Mark> marks_;
};

Result<std::string> readWholeFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::notFound("config file '" + path + "' does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    return Status::invalidArgument("config file '" + path + "' is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::ioError("config file '" + path + "': cannot open: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return Status::ioError("config file '" + path + "': cannot read: " + std::strerror(errno));
  }
  return text.str();
}

}  // namespace

Result<Configuration> loadConfigurationFile(const std::string& path) {
  STROM_ASSIGN_OR_RETURN(std::string text, readWholeFile(path));
  Flattener flattener(path);
  // yaml-cpp reports syntax errors by exception; this is the one place they are caught (STYLE §4).
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return flattener.error(e.mark, "YAML syntax error: " + e.msg);
  }
  if (documents.size() > 1) {
    return flattener.error(documents[1].Mark(),
                           "more than one YAML document; a config file holds one map");
  }
  if (documents.empty() || documents[0].IsNull()) return Configuration();
  const YAML::Node& root = documents[0];
  if (!root.IsMap()) {
    return flattener.error(root.Mark(), std::string("the document is a ") +
                                            (root.IsSequence() ? "list" : "single value") +
                                            ", not a map of keys to values");
  }
  try {
    STROM_RETURN_IF_ERROR(flattener.flattenMap(root, ""));
  } catch (const YAML::Exception& e) {
    // Not expected once the document parsed; kept so that no yaml-cpp exception escapes.
    return flattener.error(e.mark, e.msg);
  }
  return flattener.take();
}

Result<Configuration> loadConfiguration(const std::string& configDir,
                                        std::span<const std::string> dynamicProperties) {
  std::string path = (std::filesystem::path(configDir) / kConfigFileName).string();
  STROM_ASSIGN_OR_RETURN(Configuration config, loadConfigurationFile(path));
  for (const std::string& option : dynamicProperties) {
    STROM_RETURN_IF_ERROR(config.setFromString(option));
  }
  return config;
}

}  // namespace strom
