#include <gtest/gtest.h>
#include <strom/status.h>

#include "testutil/status_matchers.h"

namespace strom {
namespace {

Result<int> parsePositive(int v) {
  if (v <= 0) return Status::invalidArgument("value " + std::to_string(v) + " is not positive");
  return v;
}

Result<int> doubled(int v) {
  STROM_ASSIGN_OR_RETURN(int x, parsePositive(v));
  return 2 * x;
}

TEST(StatusTest, okCostsNothingAndCarriesNoMessage) {
  Status s;
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.toString(), "OK");
  EXPECT_EQ(sizeof(Status), sizeof(void*));
}

TEST(StatusTest, errorNamesCodeAndMessage) {
  Status s = Status::corruption("checkpoint 42: bad checksum");
  EXPECT_EQ(s.toString(), "Corruption: checkpoint 42: bad checksum");
  EXPECT_EQ(s.withContext("restore").message(), "restore: checkpoint 42: bad checksum");
  Status copy = s;
  EXPECT_EQ(copy.code(), StatusCode::kCorruption);
}

TEST(StatusTest, assignOrReturnPropagates) {
  ASSERT_OK_AND_ASSIGN(int v, doubled(21));
  EXPECT_EQ(v, 42);
  ASSERT_STATUS(StatusCode::kInvalidArgument, doubled(-1));
  EXPECT_EQ(doubled(-1).status().message(), "value -1 is not positive");
}

}  // namespace
}  // namespace strom
