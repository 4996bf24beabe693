#include <strom/config.h>

#include <cctype>
#include <charconv>
#include <string>

namespace strom {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Status badValue(std::string_view key, std::string_view value, std::string_view expected) {
  return Status::invalidArgument("config key '" + std::string(key) + "': cannot parse '" +
                                 std::string(value) + "' as " + std::string(expected));
}

// Split "12 ms" into 12 and "ms".
bool splitNumberAndUnit(std::string_view text, int64_t& number, std::string& unit) {
  text = trim(text);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || ptr == text.data()) return false;
  std::string_view rest = trim(std::string_view(ptr, text.data() + text.size() - ptr));
  unit.clear();
  for (char c : rest)
    unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return true;
}

}  // namespace

Result<int64_t> Configuration::getInt(std::string_view key, int64_t fallback) const {
  auto value = getString(key);
  if (!value) return fallback;
  std::string_view text = trim(*value);
  int64_t number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) {
    return badValue(key, *value, "an integer");
  }
  return number;
}

Result<bool> Configuration::getBool(std::string_view key, bool fallback) const {
  auto value = getString(key);
  if (!value) return fallback;
  std::string_view text = trim(*value);
  if (text == "true") return true;
  if (text == "false") return false;
  return badValue(key, *value, "a boolean (true or false)");
}

Result<std::chrono::milliseconds> Configuration::getDuration(
    std::string_view key, std::chrono::milliseconds fallback) const {
  auto value = getString(key);
  if (!value) return fallback;
  int64_t number = 0;
  std::string unit;
  if (!splitNumberAndUnit(*value, number, unit) || number < 0) {
    return badValue(key, *value, "a duration (e.g. 100 ms, 5 s)");
  }
  if (unit.empty() || unit == "ms" || unit == "milli" || unit == "millis") {
    return std::chrono::milliseconds(number);
  }
  if (unit == "s" || unit == "sec" || unit == "secs")
    return std::chrono::milliseconds(number * 1000);
  if (unit == "min" || unit == "m") return std::chrono::milliseconds(number * 60'000);
  if (unit == "h") return std::chrono::milliseconds(number * 3'600'000);
  return badValue(key, *value, "a duration (unit ms, s, min or h)");
}

Result<uint64_t> Configuration::getMemorySize(std::string_view key, uint64_t fallback) const {
  auto value = getString(key);
  if (!value) return fallback;
  int64_t number = 0;
  std::string unit;
  if (!splitNumberAndUnit(*value, number, unit) || number < 0) {
    return badValue(key, *value, "a memory size (e.g. 32kb, 64mb)");
  }
  uint64_t n = static_cast<uint64_t>(number);
  if (unit.empty() || unit == "b" || unit == "bytes") return n;
  if (unit == "k" || unit == "kb" || unit == "kib") return n << 10;
  if (unit == "m" || unit == "mb" || unit == "mib") return n << 20;
  if (unit == "g" || unit == "gb" || unit == "gib") return n << 30;
  return badValue(key, *value, "a memory size (unit b, kb, mb or gb)");
}

Status Configuration::setFromString(std::string_view keyEqualsValue) {
  size_t eq = keyEqualsValue.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return Status::invalidArgument("configuration option '" + std::string(keyEqualsValue) +
                                   "' is not of the form key=value");
  }
  std::string_view key = trim(keyEqualsValue.substr(0, eq));
  if (key.empty()) {
    return Status::invalidArgument("configuration option '" + std::string(keyEqualsValue) +
                                   "' has an empty key");
  }
  set(std::string(key), std::string(trim(keyEqualsValue.substr(eq + 1))));
  return Status::ok();
}

}  // namespace strom
