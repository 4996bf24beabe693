#pragma once

#include <strom/status.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace strom {

/// Key-value configuration with Flink's key names (docs/config.md lists every key). Values
/// are strings, parsed by the typed getters, which name the key in their errors. A value type.
class Configuration {
 public:
  void set(std::string key, std::string value) { entries_[std::move(key)] = std::move(value); }
  bool contains(std::string_view key) const { return entries_.find(key) != entries_.end(); }
  std::optional<std::string> getString(std::string_view key) const {
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }
  std::string getString(std::string_view key, std::string fallback) const {
    return getString(key).value_or(std::move(fallback));
  }
  /// Parse an integer value ("4", "-1").
  Result<int64_t> getInt(std::string_view key, int64_t fallback) const;
  /// Parse "true" or "false".
  Result<bool> getBool(std::string_view key, bool fallback) const;
  /// Parse a duration: a number with a unit ms, s, min, h ("100 ms", "5s"); a bare number is ms.
  Result<std::chrono::milliseconds> getDuration(std::string_view key,
                                                std::chrono::milliseconds fallback) const;
  /// Parse a memory size: a number with a unit b, kb, mb, gb ("32kb"); a bare number is bytes.
  Result<uint64_t> getMemorySize(std::string_view key, uint64_t fallback) const;

  /// Parse "key=value" (a -D option) and set it.
  Status setFromString(std::string_view keyEqualsValue);
  /// Copy every entry of `other` over this one.
  void addAll(const Configuration& other) {
    for (const auto& [k, v] : other.entries_) entries_[k] = v;
  }
  const std::map<std::string, std::string, std::less<>>& entries() const { return entries_; }

 private:
  std::map<std::string, std::string, std::less<>> entries_;
};

}  // namespace strom
