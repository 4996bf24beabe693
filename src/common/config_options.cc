#include "common/config_options.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/config_file.h"

namespace strom {
namespace {

using T = ConfigType;
constexpr int64_t kPortMax = 65535;

constexpr ConfigOption option(std::string_view key, ConfigType type, std::string_view def) {
  ConfigOption o;
  o.key = key;
  o.type = type;
  o.defaultValue = def;
  return o;
}
constexpr ConfigOption intOption(std::string_view key, std::string_view def, int64_t min,
                                 int64_t max) {
  ConfigOption o = option(key, T::kInt, def);
  o.min = min;
  o.max = max;
  return o;
}
constexpr ConfigOption enumOption(std::string_view key, std::string_view def,
                                  std::string_view values) {
  ConfigOption o = option(key, T::kEnum, def);
  o.values = values;
  return o;
}

// Every key the engine reads; docs/config.md describes each one, and config_options_test checks
// that this table, docs/config.md and conf/strom.yaml name the same keys. Kept sorted by key.
constexpr ConfigOption kOptions[] = {
    option("blob.client.socket.timeout", T::kDuration, "300 s"),
    option("blob.storage.directory", T::kString, ""),
    option("cluster.registration.initial-timeout", T::kDuration, "100 ms"),
    option("cluster.registration.max-timeout", T::kDuration, "30 s"),
    intOption("execution.batch.rows", "1024", 1, 1 << 20),
    option("execution.buffer-timeout", T::kDuration, "5 ms"),
    option("execution.checkpointing.aligned-checkpoint-timeout", T::kDuration, "0 ms"),
    option("execution.checkpointing.incremental", T::kBool, "false"),
    option("execution.checkpointing.interval", T::kDuration, ""),
    intOption("execution.checkpointing.max-concurrent-checkpoints", "1", 1, INT32_MAX),
    option("execution.checkpointing.min-pause", T::kDuration, "0 ms"),
    enumOption("execution.checkpointing.mode", "EXACTLY_ONCE", "exactly_once|at_least_once"),
    option("execution.checkpointing.timeout", T::kDuration, "10 min"),
    intOption("execution.checkpointing.tolerable-failed-checkpoints", "0", 0, INT32_MAX),
    option("execution.checkpointing.unaligned.enabled", T::kBool, "false"),
    option("execution.savepoint.ignore-unclaimed-state", T::kBool, "false"),
    option("execution.savepoint.path", T::kString, ""),
    option("heartbeat.interval", T::kDuration, "1 s"),
    option("heartbeat.timeout", T::kDuration, "5 s"),
    option("io.tmp.dirs", T::kString, ""),
    option("jobmanager.rpc.address", T::kString, "127.0.0.1"),
    intOption("jobmanager.rpc.port", "6123", 0, kPortMax),
    option("jobstore.expiration-time", T::kDuration, "1 h"),
    intOption("jobstore.max-capacity", "2147483647", 1, INT32_MAX),
    intOption("parallelism.default", "1", 1, 32768),
    option("pekko.ask.timeout", T::kDuration, "10 s"),
    option("pipeline.auto-watermark-interval", T::kDuration, "200 ms"),
    intOption("pipeline.max-parallelism", "128", 1, 32768),
    // Flink's deprecated name of restart-strategy.type, read when that one is not set.
    enumOption("restart-strategy", "",
               "none|off|disable|fixed-delay|fixeddelay|failure-rate|failurerate|"
               "exponential-delay|exponentialdelay"),
    intOption("restart-strategy.exponential-delay.attempts-before-reset-backoff", "2147483647", 1,
              INT32_MAX),
    option("restart-strategy.exponential-delay.backoff-multiplier", T::kDouble, "1.5"),
    option("restart-strategy.exponential-delay.initial-backoff", T::kDuration, "1 s"),
    option("restart-strategy.exponential-delay.jitter-factor", T::kDouble, "0.1"),
    option("restart-strategy.exponential-delay.max-backoff", T::kDuration, "1 min"),
    option("restart-strategy.exponential-delay.reset-backoff-threshold", T::kDuration, "1 h"),
    option("restart-strategy.failure-rate.delay", T::kDuration, "1 s"),
    option("restart-strategy.failure-rate.failure-rate-interval", T::kDuration, "1 min"),
    intOption("restart-strategy.failure-rate.max-failures-per-interval", "1", 1, INT32_MAX),
    intOption("restart-strategy.fixed-delay.attempts", "1", 0, INT32_MAX),
    option("restart-strategy.fixed-delay.delay", T::kDuration, "1 s"),
    enumOption("restart-strategy.type", "",
               "none|off|disable|fixed-delay|fixeddelay|failure-rate|failurerate|exponential-delay|"
               "exponentialdelay"),
    option("slot.request.timeout", T::kDuration, "5 min"),
    option("state.backend.local-recovery", T::kBool, "false"),
    intOption("state.backend.rocksdb.cache.max-keys", "65536", 1, INT32_MAX),
    option("state.backend.rocksdb.localdir", T::kString, ""),
    option("state.backend.rocksdb.memory.fixed-per-tm", T::kMemorySize, "256mb"),
    enumOption("state.backend.type", "heap", "heap|hashmap|rocksdb"),
    option("state.checkpoints.dir", T::kString, ""),
    intOption("state.checkpoints.num-retained", "1", 1, INT32_MAX),
    option("state.savepoints.dir", T::kString, ""),
    intOption("taskmanager.count", "1", 1, 4096),
    intOption("taskmanager.data.port", "0", 0, kPortMax),
    option("taskmanager.host", T::kString, "127.0.0.1"),
    option("taskmanager.memory.segment-size", T::kMemorySize, "32kb"),
    intOption("taskmanager.network.memory.buffers-per-channel", "2", 1, INT32_MAX),
    intOption("taskmanager.network.memory.floating-buffers-per-gate", "8", 0, INT32_MAX),
    intOption("taskmanager.network.numberOfBuffers", "2048", 1, INT32_MAX),
    option("taskmanager.network.request-backoff.initial", T::kDuration, "100 ms"),
    option("taskmanager.network.request-backoff.max", T::kDuration, "10000 ms"),
    intOption("taskmanager.numberOfTaskSlots", "1", 1, 4096),
    option("taskmanager.registration.timeout", T::kDuration, "5 min"),
    option("taskmanager.resource-id", T::kString, ""),
    intOption("taskmanager.rpc.port", "0", 0, kPortMax),
};

// The edit distance between two keys, for "did you mean" (keys are short: a quadratic table is
// fine).
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

Status checkValue(const Configuration& config, const ConfigOption& option) {
  std::string key(option.key);
  switch (option.type) {
    case T::kInt: {
      STROM_ASSIGN_OR_RETURN(int64_t value, config.getInt(key, 0));
      if (value < option.min || value > option.max) {
        return Status::invalidArgument("config key '" + key + "': " + std::to_string(value) +
                                       " is outside " + std::to_string(option.min) + ".." +
                                       std::to_string(option.max));
      }
      return Status::ok();
    }
    case T::kDouble: {
      std::string text = *config.getString(key);
      double value = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || ptr != text.data() + text.size() || text.empty() ||
          !std::isfinite(value)) {
        return Status::invalidArgument("config key '" + key + "': cannot parse '" + text +
                                       "' as a number");
      }
      return Status::ok();
    }
    case T::kDuration:
      return config.getDuration(key, {}).status();
    case T::kMemorySize:
      return config.getMemorySize(key, 0).status();
    case T::kBool:
      return config.getBool(key, false).status();
    case T::kString:
      return Status::ok();
    case T::kEnum: {
      std::string value = *config.getString(key);
      std::string lower = value;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string_view values = option.values;
      while (!values.empty()) {
        size_t bar = values.find('|');
        if (values.substr(0, bar) == lower) return Status::ok();
        values = bar == std::string_view::npos ? std::string_view() : values.substr(bar + 1);
      }
      std::string allowed(option.values);
      std::replace(allowed.begin(), allowed.end(), '|', ' ');
      return Status::invalidArgument("config key '" + key + "': '" + value +
                                     "' is not one of: " + allowed);
    }
  }
  return Status::ok();
}

}  // namespace

std::span<const ConfigOption> configOptions() { return kOptions; }

const ConfigOption* findConfigOption(std::string_view key) {
  auto it = std::lower_bound(std::begin(kOptions), std::end(kOptions), key,
                             [](const ConfigOption& o, std::string_view k) { return o.key < k; });
  return it != std::end(kOptions) && it->key == key ? it : nullptr;
}

Status validateConfiguration(const Configuration& configuration, std::string_view origin) {
  for (const auto& [key, value] : configuration.entries()) {
    const ConfigOption* option = findConfigOption(key);
    if (option == nullptr) {
      std::string message = std::string(origin) + ": unknown config key '" + key + "'";
      const ConfigOption* closest = nullptr;
      size_t best = key.size() / 3 + 1;  // suggest only keys within a few edits
      for (const ConfigOption& o : kOptions) {
        size_t d = editDistance(key, o.key);
        if (d < best) best = d, closest = &o;
      }
      if (closest) message += " (did you mean '" + std::string(closest->key) + "'?)";
      return Status::invalidArgument(message);
    }
    Status status = checkValue(configuration, *option);
    if (!status.isOk()) return status.withContext(std::string(origin));
  }
  return Status::ok();
}

Result<Configuration> loadProcessConfiguration(const std::string& configDir,
                                               std::span<const std::string> options,
                                               std::string* usedFile) {
  namespace fs = std::filesystem;
  std::string dir = configDir;
  bool required = true;
  if (dir.empty()) {
    if (const char* env = std::getenv("STROM_CONF_DIR"); env != nullptr && *env != '\0') {
      dir = env;
    } else {
      std::error_code error;
      fs::path exe = fs::read_symlink("/proc/self/exe", error);
      dir = error ? "conf" : (exe.parent_path().parent_path() / "conf").string();
      required = false;
    }
  }
  fs::path file = fs::path(dir) / kConfigFileName;
  Configuration config;
  std::error_code error;
  if (required || fs::exists(file, error)) {
    STROM_ASSIGN_OR_RETURN(config, loadConfigurationFile(file.string()));
    STROM_RETURN_IF_ERROR(validateConfiguration(config, "config file '" + file.string() + "'"));
    if (usedFile) *usedFile = file.string();
  } else if (usedFile) {
    usedFile->clear();
  }
  Configuration overrides;
  for (const std::string& option : options) {
    STROM_RETURN_IF_ERROR(overrides.setFromString(option));
  }
  STROM_RETURN_IF_ERROR(validateConfiguration(overrides, "-D option"));
  config.addAll(overrides);
  return config;
}

}  // namespace strom
