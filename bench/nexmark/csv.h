#pragma once

// Rows of Nexmark query results as CSV lines (the result mode of strom-nexmark): fields in the
// SELECT order of the reference SQL, comma-separated, RFC 4180 quoting for fields with a comma,
// quote or newline; integers in decimal; timestamps as epoch milliseconds; Decimal3 with three
// fraction digits; doubles in their shortest round-trip form; std::nullopt as an empty field.
// A row is a struct declared with STROM_FIELDS; nested STROM_FIELDS structs are flattened.

#include <strom/fields.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

namespace strom::nexmark {

/// An exact decimal with three fraction digits (`0.908 * price` of q1 and q14 is
/// Decimal3{price * 908}).
struct Decimal3 {
  int64_t thousandths = 0;
  bool operator==(const Decimal3&) const = default;
  STROM_FIELDS(thousandths)
};

/// Append `text` as one CSV field, quoted (with quotes doubled) if it holds a comma, a quote, a
/// carriage return or a newline.
inline void appendCsvText(std::string& out, std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += text;
    return;
  }
  out += '"';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

/// Append `value` as CSV field(s); see the file comment.
template <class T>
void appendCsvValue(std::string& out, const T& value);

namespace internal {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <class Tuple, size_t... I>
void appendCsvTuple(std::string& out, const Tuple& fields, std::index_sequence<I...>) {
  ((I == 0 ? void() : void(out += ','), appendCsvValue(out, std::get<I>(fields))), ...);
}

}  // namespace internal

template <class T>
void appendCsvValue(std::string& out, const T& value) {
  if constexpr (std::is_same_v<T, Decimal3>) {
    int64_t v = value.thousandths;
    if (v < 0) {
      out += '-';
      v = -v;
    }
    appendCsvValue(out, v / 1000);
    char frac[4] = {static_cast<char>('0' + v % 1000 / 100), static_cast<char>('0' + v % 100 / 10),
                    static_cast<char>('0' + v % 10), 0};
    out += '.';
    out += frac;
  } else if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else if constexpr (std::is_integral_v<T> || std::is_floating_point_v<T>) {
    char buffer[32];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, end);
  } else if constexpr (std::is_enum_v<T>) {
    appendCsvValue(out, static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    appendCsvText(out, std::string_view(value));
  } else if constexpr (internal::IsOptional<T>::value) {
    if (value.has_value()) appendCsvValue(out, *value);
  } else if constexpr (HasFields<T>) {
    const auto fields = value.stromFields();
    internal::appendCsvTuple(out, fields,
                             std::make_index_sequence<std::tuple_size_v<decltype(fields)>>());
  } else {
    static_assert(HasFields<T>,
                  "a Nexmark result field must be a number, a string, Decimal3, "
                  "an optional or a STROM_FIELDS struct");
  }
}

/// Return `row` as one CSV line, without the line terminator.
template <class Row>
std::string csvLine(const Row& row) {
  std::string line;
  appendCsvValue(line, row);
  return line;
}

}  // namespace strom::nexmark
