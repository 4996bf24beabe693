#pragma once

// DATE_FORMAT(dateTime, 'yyyy-MM-dd') and DATE_FORMAT(dateTime, 'HH:mm') of the Nexmark queries
// (q15-q17), in UTC, without strftime or the locale: days since the epoch are turned into a
// civil date with integer arithmetic (the proleptic Gregorian calendar in 400-year eras, as in
// H. Hinnant's "chrono-compatible low-level date algorithms"), and digits are written by hand.
// The strings are short enough for std::string's small-buffer storage, so making one does not
// allocate.

#include <cstdint>
#include <string>

namespace strom::nexmark {

inline constexpr int64_t kMillisPerDay = 86'400'000;
inline constexpr int64_t kMillisPerMinute = 60'000;

/// Return the UTC day of `epochMillis`: days since 1970-01-01 (floor, also before 1970).
constexpr int64_t epochDay(int64_t epochMillis) {
  const int64_t day = epochMillis / kMillisPerDay;
  return day - (epochMillis % kMillisPerDay < 0 ? 1 : 0);
}

/// Return the UTC minute of the day of `epochMillis`, 0..1439.
constexpr int32_t minuteOfDay(int64_t epochMillis) {
  return static_cast<int32_t>((epochMillis - epochDay(epochMillis) * kMillisPerDay) /
                              kMillisPerMinute);
}

/// A date of the proleptic Gregorian calendar.
struct CivilDate {
  int64_t year = 1970;
  int32_t month = 1;  // 1..12
  int32_t day = 1;    // 1..31
};

/// Return the civil date of `epochDay` (days since 1970-01-01).
constexpr CivilDate civilFromDays(int64_t epochDay) {
  // Shift the epoch to 0000-03-01, so that a leap day is the last day of its year; an era is
  // 400 years (146097 days), within which the pattern of leap years repeats.
  const int64_t z = epochDay + 719'468;
  const int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  const int64_t dayOfEra = z - era * 146'097;  // 0..146096
  const int64_t yearOfEra =
      (dayOfEra - dayOfEra / 1460 + dayOfEra / 36'524 - dayOfEra / 146'096) / 365;  // 0..399
  const int64_t dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100);
  const int64_t shiftedMonth = (5 * dayOfYear + 2) / 153;  // 0..11, March first
  CivilDate date;
  date.day = static_cast<int32_t>(dayOfYear - (153 * shiftedMonth + 2) / 5 + 1);
  date.month = static_cast<int32_t>(shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9);
  date.year = yearOfEra + era * 400 + (date.month <= 2 ? 1 : 0);
  return date;
}

namespace internal {
inline void putTwoDigits(char* out, int32_t value) {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
}
}  // namespace internal

/// Return DATE_FORMAT(t, 'yyyy-MM-dd') for any t on day `epochDay` ("2020-09-13"). Years
/// outside 0..9999 are written with as many digits as they need, as Java's formatter does.
inline std::string formatDay(int64_t epochDay) {
  const CivilDate date = civilFromDays(epochDay);
  char text[10];
  text[4] = '-';
  internal::putTwoDigits(text + 5, date.month);
  text[7] = '-';
  internal::putTwoDigits(text + 8, date.day);
  if (date.year < 0 || date.year > 9999) [[unlikely]] {
    return std::to_string(date.year) + std::string(text + 4, 6);
  }
  const auto year = static_cast<int32_t>(date.year);
  internal::putTwoDigits(text, year / 100);
  internal::putTwoDigits(text + 2, year % 100);
  return std::string(text, sizeof text);
}

/// Return DATE_FORMAT(t, 'HH:mm') for any t in minute `minute` (0..1439) of its day ("07:05").
inline std::string formatMinute(int32_t minute) {
  char text[5];
  internal::putTwoDigits(text, minute / 60);
  text[2] = ':';
  internal::putTwoDigits(text + 3, minute % 60);
  return std::string(text, sizeof text);
}

}  // namespace strom::nexmark
