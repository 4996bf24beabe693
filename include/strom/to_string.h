#pragma once

// Text rendering of record values, as the print and text-file sinks write them. It follows
// Flink's toString conventions where C++ has a counterpart:
//
//   integer              decimal: -42 (int8_t and uint8_t too; only `char` is a character)
//   char                 the character itself
//   float, double        shortest form that parses back to the same value (std::to_chars):
//                        0.1, 1, 1e+20, inf, nan
//   bool                 true | false
//   string, string_view,
//   const char*          the characters, unquoted (a null const char* is "null")
//   pair, tuple          (a,b)          like Flink's Tuple2, no spaces
//   vector, array        [a, b]
//   optional             the value, or null when empty
//   map, unordered_map   {k=v, k2=v2}   (unordered_map in iteration order)
//   STROM_FIELDS struct  {auction=1, channel=x}
//   anything else with operator<<(std::ostream&, const T&): what it writes
//
// Other types do not compile. Nested values use the same rules: "[(a,1), (b,null)]".

#include <strom/fields.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace strom {
namespace detail {

template <class T, template <class...> class Template>
inline constexpr bool kIsSpecializationOf = false;
template <template <class...> class Template, class... Args>
inline constexpr bool kIsSpecializationOf<Template<Args...>, Template> = true;

template <class T>
inline constexpr bool kIsStdArray = false;
template <class T, size_t N>
inline constexpr bool kIsStdArray<std::array<T, N>> = true;

template <class T>
inline constexpr bool kDependentFalse = false;

template <class T>
concept OstreamPrintable = requires(std::ostream& stream, const T& value) {
  stream << value;
};

/// The names in a STROM_FIELDS list such as "auction, channel", and how many there were.
template <size_t N>
struct ParsedFieldNames {
  std::array<std::string_view, N> names{};
  size_t count = 0;
};

constexpr std::string_view trimWhitespace(std::string_view text) {
  constexpr std::string_view kWhitespace = " \t\r\n";
  size_t first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) {
    return {};
  }
  size_t last = text.find_last_not_of(kWhitespace);
  return text.substr(first, last - first + 1);
}

/// Split the stringified STROM_FIELDS arguments on commas, trimming whitespace.
template <size_t N>
constexpr ParsedFieldNames<N> parseFieldNames(std::string_view list) {
  ParsedFieldNames<N> parsed;
  if (trimWhitespace(list).empty()) {
    return parsed;
  }
  while (true) {
    size_t comma = list.find(',');
    if (parsed.count < N) {
      parsed.names[parsed.count] = trimWhitespace(list.substr(0, comma));
    }
    ++parsed.count;
    if (comma == std::string_view::npos) {
      return parsed;
    }
    list.remove_prefix(comma + 1);
  }
}

/// The field names of a STROM_FIELDS struct, parsed at compile time.
template <HasFields T>
struct FieldNames {
  static constexpr size_t kCount =
      std::tuple_size_v<decltype(std::declval<const T&>().stromFields())>;
  static constexpr ParsedFieldNames<kCount> kParsed = parseFieldNames<kCount>(T::stromFieldNames());
  static_assert(kParsed.count == kCount,
                "STROM_FIELDS arguments must be plain field names for printing");
};

template <class Integer>
void appendInteger(std::string& out, Integer value) {
  char buffer[48];  // enough for a 128-bit integer
  std::to_chars_result result;
  if constexpr (sizeof(Integer) > sizeof(long long)) {
    result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  } else if constexpr (std::is_signed_v<Integer>) {
    result = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<long long>(value));
  } else {
    // Also char8_t, char16_t, char32_t and wchar_t, which std::to_chars does not take.
    result = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<unsigned long long>(value));
  }
  out.append(buffer, result.ptr);
}

template <class Floating>
void appendFloating(std::string& out, Floating value) {
  char buffer[64];  // the shortest form of a long double takes at most about 30
  std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

}  // namespace detail

/// Append the text form of `value` to `out` (the rules are at the top of this file).
template <class T>
void appendToString(std::string& out, const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    out.append(value ? "true" : "false");
  } else if constexpr (std::is_same_v<T, char>) {
    out.push_back(value);
  } else if constexpr (std::is_integral_v<T>) {
    detail::appendInteger(out, value);
  } else if constexpr (std::is_floating_point_v<T>) {
    detail::appendFloating(out, value);
  } else if constexpr (std::is_array_v<T> && std::is_same_v<std::remove_extent_t<T>, char>) {
    // A char array, such as a string literal: up to its first NUL, never past its end.
    out.append(value, std::find(value, value + std::extent_v<T>, '\0'));
  } else if constexpr (std::is_same_v<T, const char*> || std::is_same_v<T, char*>) {
    out.append(value == nullptr ? "null" : value);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out.append(static_cast<std::string_view>(value));
  } else if constexpr (detail::kIsSpecializationOf<T, std::optional>) {
    if (value.has_value()) {
      appendToString(out, *value);
    } else {
      out.append("null");
    }
  } else if constexpr (detail::kIsSpecializationOf<T, std::pair>) {
    out.push_back('(');
    appendToString(out, value.first);
    out.push_back(',');
    appendToString(out, value.second);
    out.push_back(')');
  } else if constexpr (detail::kIsSpecializationOf<T, std::tuple>) {
    out.push_back('(');
    std::apply(
        [&](const auto&... element) {
          [[maybe_unused]] bool first = true;
          ((out.append(first ? "" : ","), first = false, appendToString(out, element)), ...);
        },
        value);
    out.push_back(')');
  } else if constexpr (detail::kIsSpecializationOf<T, std::vector> || detail::kIsStdArray<T>) {
    out.push_back('[');
    bool first = true;
    for (const auto& element : value) {  // vector<bool> yields bool values
      if (!first) {
        out.append(", ");
      }
      first = false;
      appendToString(out, static_cast<const typename T::value_type&>(element));
    }
    out.push_back(']');
  } else if constexpr (detail::kIsSpecializationOf<T, std::map> ||
                       detail::kIsSpecializationOf<T, std::unordered_map>) {
    out.push_back('{');
    bool first = true;
    for (const auto& [key, mapped] : value) {
      if (!first) {
        out.append(", ");
      }
      first = false;
      appendToString(out, key);
      out.push_back('=');
      appendToString(out, mapped);
    }
    out.push_back('}');
  } else if constexpr (HasFields<T>) {
    [[maybe_unused]] constexpr const auto& kNames = detail::FieldNames<T>::kParsed.names;
    out.push_back('{');
    [&]<size_t... I>(std::index_sequence<I...>) {
      [[maybe_unused]] const auto fields = value.stromFields();
      ((out.append(I == 0 ? "" : ", "), out.append(kNames[I]), out.push_back('='),
        appendToString(out, std::get<I>(fields))),
       ...);
    }
    (std::make_index_sequence<detail::FieldNames<T>::kCount>{});
    out.push_back('}');
  } else if constexpr (detail::OstreamPrintable<T>) {
    std::ostringstream stream;
    stream << value;
    out.append(stream.view());
  } else {
    static_assert(detail::kDependentFalse<T>,
                  "appendToString: no text form for this type; declare STROM_FIELDS in it or "
                  "define operator<<(std::ostream&, const T&)");
  }
}

/// Return the text form of `value` (see appendToString).
template <class T>
std::string toString(const T& value) {
  std::string out;
  appendToString(out, value);
  return out;
}

}  // namespace strom
