#pragma once

#include <strom/config.h>
#include <strom/status.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strom {

/// The type of a configuration value, as the typed getters of Configuration parse it.
enum class ConfigType { kInt, kDouble, kDuration, kMemorySize, kBool, kString, kEnum };

/// One configuration key the engine reads: its name, type and default (docs/config.md has the
/// meaning of each). The table of every key is what daemons and the CLI check a configuration
/// against, so that a misspelt key is an error instead of a silently ignored setting.
struct ConfigOption {
  std::string_view key;
  ConfigType type = ConfigType::kString;
  std::string_view defaultValue;  // as written in conf/strom.yaml; "" when there is none
  int64_t min = INT64_MIN;        // kInt only: the allowed range
  int64_t max = INT64_MAX;
  /// kEnum only: the allowed values, separated by '|' ("none|fixed-delay|...").
  std::string_view values;
};

/// Every key the engine reads, sorted by key.
std::span<const ConfigOption> configOptions();

/// Return the option for `key`, or null if no code reads it.
const ConfigOption* findConfigOption(std::string_view key);

/// Check every entry of `configuration`: InvalidArgument naming the key for an unknown key (with
/// the closest known key when one is close: "did you mean ...?"), and the typed getter's error
/// (naming key and value) for a value that does not parse or is out of range. `origin` starts
/// the message ("config file 'conf/strom.yaml'", "-D option").
Status validateConfiguration(const Configuration& configuration, std::string_view origin);

}  // namespace strom

namespace strom {

/// The configuration of a daemon or of the `strom` CLI: the file `<dir>/strom.yaml` with each
/// `-D key=value` of `options` applied over it (loadConfiguration), every key and value checked
/// with validateConfiguration (unknown keys are errors). `dir` is `configDir` when not empty,
/// else $STROM_CONF_DIR when set (the file must exist in either case), else `../conf` from the
/// directory of the running binary, whose file may be missing (then only the options count).
/// `usedFile`, when not null, receives the file that was read, or "" if none.
Result<Configuration> loadProcessConfiguration(const std::string& configDir,
                                               std::span<const std::string> options,
                                               std::string* usedFile = nullptr);

}  // namespace strom
