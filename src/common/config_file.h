#pragma once

#include <strom/config.h>
#include <strom/status.h>

#include <span>
#include <string>
#include <string_view>

namespace strom {

/// The name of the configuration file in a configuration directory (Flink's `config.yaml`).
inline constexpr std::string_view kConfigFileName = "strom.yaml";

/// Read a Flink-style YAML configuration file into a Configuration.
///
/// The document must be a map. Nested maps are flattened with dots, so `taskmanager:` with
/// `numberOfTaskSlots: 2` below it and the flat `taskmanager.numberOfTaskSlots: 2` are the same
/// key; both forms may be mixed in one file. Scalars are kept as the text written (`10 s`,
/// `64 mb`) for the typed getters to parse. An empty file, or one with only comments, gives an
/// empty configuration.
///
/// Errors name the file, the line and column (1-based) and what is wrong: NotFound if the file
/// does not exist, IOError if it cannot be read, InvalidArgument for a directory, a YAML syntax
/// error, a document that is not a map, more than one document, a key given twice (also once
/// flat and once nested), an empty or non-scalar key, a list as a value (no key takes a list), or
/// a key with no value.
Result<Configuration> loadConfigurationFile(const std::string& path);

/// Load `<configDir>/strom.yaml`, then apply each `-D` option of `dynamicProperties` ("key=value",
/// see Configuration::setFromString) in order, so that a later option wins over an earlier one and
/// every option wins over the file. Fails with the file's error, or with InvalidArgument naming
/// an option that is not of the form key=value.
Result<Configuration> loadConfiguration(const std::string& configDir,
                                        std::span<const std::string> dynamicProperties);

}  // namespace strom
