#include <gtest/gtest.h>
#include <strom/to_string.h>

#include <cstdint>
#include <limits>
#include <ostream>

namespace strom {
namespace {

struct Bid {
  int64_t auction = 0;
  std::string channel;
  STROM_FIELDS(auction, channel)
};

struct Person {
  std::string name;
  Bid lastBid;
  std::vector<int32_t> scores;
  std::optional<double> rating;
  STROM_FIELDS(name,
               lastBid,  // the macro's stringified list has no comments or newlines
               scores, rating)
};

struct Empty {
  STROM_FIELDS()
};

struct Money {
  int64_t cents = 0;
};

std::ostream& operator<<(std::ostream& stream, const Money& money) {
  return stream << money.cents / 100 << '.' << (money.cents % 100 < 10 ? "0" : "")
                << money.cents % 100 << " EUR";
}

enum Plain { kPlainOne = 1 };

TEST(ToStringTest, printsIntegersInDecimal) {
  EXPECT_EQ(toString(0), "0");
  EXPECT_EQ(toString(-42), "-42");
  EXPECT_EQ(toString(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(toString(std::numeric_limits<uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(toString(int8_t{-7}), "-7");
  EXPECT_EQ(toString(uint8_t{200}), "200");
  EXPECT_EQ(toString(char32_t{65}), "65");
  EXPECT_EQ(toString('x'), "x");
}

TEST(ToStringTest, printsFloatingPointInShortestRoundTripForm) {
  EXPECT_EQ(toString(0.1), "0.1");
  EXPECT_EQ(toString(1.0), "1");
  EXPECT_EQ(toString(-2.5f), "-2.5");
  EXPECT_EQ(toString(0.1f), "0.1");
  EXPECT_EQ(toString(1e20), "1e+20");
  EXPECT_EQ(toString(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(toString(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(toString(std::numeric_limits<double>::quiet_NaN()), "nan");
}

TEST(ToStringTest, printsBoolsAndStringsPlainly) {
  EXPECT_EQ(toString(true), "true");
  EXPECT_EQ(toString(false), "false");
  EXPECT_EQ(toString(std::string("hello world")), "hello world");
  EXPECT_EQ(toString(std::string_view("view")), "view");
  EXPECT_EQ(toString("literal"), "literal");
  const char* pointer = "pointer";
  EXPECT_EQ(toString(pointer), "pointer");
  const char* null = nullptr;
  EXPECT_EQ(toString(null), "null");
  char buffer[8] = {'a', 'b', '\0', 'c'};
  EXPECT_EQ(toString(buffer), "ab");
}

TEST(ToStringTest, printsPairsAndTuplesLikeFlinkTuples) {
  EXPECT_EQ(toString(std::make_pair(std::string("hello"), 3)), "(hello,3)");
  EXPECT_EQ(toString(std::make_tuple(1, 2.5, true, std::string("x"))), "(1,2.5,true,x)");
  EXPECT_EQ(toString(std::tuple<>()), "()");
  EXPECT_EQ(toString(std::make_tuple(std::make_pair(1, 2))), "((1,2))");
}

TEST(ToStringTest, printsSequencesWithBracketsAndCommaSpace) {
  EXPECT_EQ(toString(std::vector<int>{1, 2, 3}), "[1, 2, 3]");
  EXPECT_EQ(toString(std::vector<int>{}), "[]");
  EXPECT_EQ(toString(std::vector<std::string>{"a", "b"}), "[a, b]");
  EXPECT_EQ(toString(std::vector<bool>{true, false}), "[true, false]");
  EXPECT_EQ(toString(std::array<int16_t, 2>{4, 5}), "[4, 5]");
  EXPECT_EQ(toString(std::array<int, 0>{}), "[]");
}

TEST(ToStringTest, printsEmptyOptionalAsNull) {
  EXPECT_EQ(toString(std::optional<int>()), "null");
  EXPECT_EQ(toString(std::optional<int>(5)), "5");
  EXPECT_EQ(toString(std::optional<std::string>("s")), "s");
}

TEST(ToStringTest, printsMapsAsKeyEqualsValue) {
  EXPECT_EQ(toString(std::map<std::string, int>{{"b", 2}, {"a", 1}}), "{a=1, b=2}");
  EXPECT_EQ(toString(std::map<int, int>{}), "{}");
  EXPECT_EQ(toString(std::unordered_map<int, std::string>{{7, "seven"}}), "{7=seven}");
}

TEST(ToStringTest, printsFieldStructsWithFieldNames) {
  EXPECT_EQ(toString(Bid{1, "x"}), "{auction=1, channel=x}");
  Person person{"ann", Bid{2, "web"}, {3, 4}, std::nullopt};
  EXPECT_EQ(toString(person),
            "{name=ann, lastBid={auction=2, channel=web}, scores=[3, 4], rating=null}");
  EXPECT_EQ(toString(Empty{}), "{}");
}

TEST(ToStringTest, printsNestedValues) {
  std::vector<std::pair<std::string, std::optional<int64_t>>> pairs{{"a", 1}, {"b", std::nullopt}};
  EXPECT_EQ(toString(pairs), "[(a,1), (b,null)]");
  std::map<std::string, std::vector<Bid>> bidsByUser{{"u", {Bid{1, "x"}, Bid{2, "y"}}}};
  EXPECT_EQ(toString(bidsByUser), "{u=[{auction=1, channel=x}, {auction=2, channel=y}]}");
}

TEST(ToStringTest, fallsBackToStreamOperator) {
  EXPECT_EQ(toString(Money{1205}), "12.05 EUR");
  EXPECT_EQ(toString(std::vector<Money>{Money{100}}), "[1.00 EUR]");
  EXPECT_EQ(toString(kPlainOne), "1");  // converts to int for operator<<
}

TEST(ToStringTest, appendsToExistingText) {
  std::string line = "record: ";
  appendToString(line, std::make_pair(1, std::string("a")));
  appendToString(line, '\n');
  EXPECT_EQ(line, "record: (1,a)\n");
}

}  // namespace
}  // namespace strom
