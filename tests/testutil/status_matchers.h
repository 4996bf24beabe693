#pragma once

#include <gtest/gtest.h>
#include <strom/status.h>

/// Assert that a Status or Result is OK, printing the error otherwise.
#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    const auto& _strom_s = (expr);                                        \
    ASSERT_TRUE(_strom_s.isOk()) << ::strom::testing::describe(_strom_s); \
  } while (0)
#define EXPECT_OK(expr)                                                   \
  do {                                                                    \
    const auto& _strom_s = (expr);                                        \
    EXPECT_TRUE(_strom_s.isOk()) << ::strom::testing::describe(_strom_s); \
  } while (0)

/// Assert that `expr` (a Result<T>) is OK and move its value into `lhs`.
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                         \
  auto STROM_CONCAT(_strom_r_, __LINE__) = (expr);              \
  ASSERT_TRUE(STROM_CONCAT(_strom_r_, __LINE__).isOk())         \
      << STROM_CONCAT(_strom_r_, __LINE__).status().toString(); \
  lhs = std::move(STROM_CONCAT(_strom_r_, __LINE__)).value()

/// Assert that `expr` (a Status or Result) failed with `code`.
#define ASSERT_STATUS(expectedCode, expr)                                  \
  do {                                                                     \
    const auto& _strom_s = (expr);                                         \
    ASSERT_EQ(::strom::testing::statusOf(_strom_s).code(), (expectedCode)) \
        << ::strom::testing::describe(_strom_s);                           \
  } while (0)

namespace strom::testing {
inline const Status& statusOf(const Status& s) { return s; }
template <class T>
const Status& statusOf(const Result<T>& r) {
  return r.status();
}
template <class S>
std::string describe(const S& s) {
  return statusOf(s).toString();
}
}  // namespace strom::testing
