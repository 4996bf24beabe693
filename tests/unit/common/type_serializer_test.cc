#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/type_serializer.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <random>

// Count heap allocations, so that tests can check that corrupt lengths allocate nothing and
// that the hot paths reuse memory. Replacing the global operator new is allowed for a program.
namespace {
std::atomic<int64_t> allocationCount{0};  // relaxed: read only by the allocating thread
}  // namespace

// GCC 12 at -O3 reports free() on memory from this replacement operator new as mismatched,
// although both halves of the pair are replaced here together.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
  allocationCount.fetch_add(1, std::memory_order_relaxed);
  if (void* memory = std::malloc(size == 0 ? 1 : size)) {
    return memory;
  }
  throw std::bad_alloc();
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }

namespace strom {
namespace {

enum class Color : uint16_t { kRed = 1, kBlue = 0x0102 };

struct Bid {
  int64_t auction = 0;
  std::string channel;
  std::optional<double> price;
  bool operator==(const Bid&) const = default;
  STROM_FIELDS(auction, channel, price)
};

struct Auction {
  int64_t id = 0;
  Bid best;
  std::vector<Bid> bids;
  std::map<std::string, std::vector<int32_t>> tags;
  std::optional<std::string> note;
  bool open = false;
  Color color = Color::kRed;
  std::array<uint16_t, 3> shape{};
  std::tuple<int8_t, float, std::vector<bool>> extra;
  bool operator==(const Auction&) const = default;
  STROM_FIELDS(id, best, bids, tags, note, open, color, shape, extra)
};

// A user type with its own serializer, to check that containers pick it up.
struct Celsius {
  int32_t tenths = 0;
  bool operator==(const Celsius&) const = default;
};

struct NotSerializable {
  int* pointer = nullptr;
};

struct WithPointerField {
  int* pointer = nullptr;
  STROM_FIELDS(pointer)
};

}  // namespace

template <>
struct TypeSerializer<Celsius> {
  static void serialize(const Celsius& value, DataOutput& out) {
    out.writeVarint(static_cast<uint32_t>(value.tenths));
  }
  static bool deserialize(DataInput& in, Celsius& value) {
    uint64_t raw = 0;
    if (!in.readVarint(raw) || raw > std::numeric_limits<uint32_t>::max()) {
      return in.fail();
    }
    value.tenths = static_cast<int32_t>(static_cast<uint32_t>(raw));
    return true;
  }
};

namespace {

int64_t allocations() { return allocationCount.load(std::memory_order_relaxed); }

template <class T>
std::string encode(const T& value) {
  std::string bytes;
  DataOutput out(bytes);
  serializeValue(value, out);
  return bytes;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (char c : bytes) {
    text.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    text.push_back(kDigits[static_cast<uint8_t>(c) & 0xf]);
  }
  return text;
}

template <class T>
std::string hexOf(const T& value) {
  return hex(encode(value));
}

std::string varintBytes(uint64_t value) {
  std::string bytes;
  DataOutput(bytes).writeVarint(value);
  return bytes;
}

/// Serialize `value`, deserialize it into a default-constructed T and return that, checking
/// that every byte was consumed.
template <class T>
T roundTrip(const T& value) {
  std::string bytes = encode(value);
  DataInput in(bytes);
  T decoded{};
  EXPECT_TRUE(deserializeValue(in, decoded));
  EXPECT_EQ(in.remaining(), 0u);
  EXPECT_FALSE(in.failed());
  return decoded;
}

template <class T>
void expectRoundTrip(const T& value) {
  EXPECT_EQ(roundTrip(value), value);
}

/// Deserialize `bytes` from an exactly sized heap copy, so that ASan catches any read past
/// the end.
template <class T>
bool decodeExact(std::string_view bytes, T& value, bool* failed = nullptr) {
  std::vector<char> copy(bytes.begin(), bytes.end());
  DataInput in(std::string_view(copy.data(), copy.size()));
  bool ok = deserializeValue(in, value);
  if (failed != nullptr) {
    *failed = in.failed();
  }
  return ok;
}

Auction sampleAuction() {
  Auction auction;
  auction.id = 1234567890123;
  auction.best = Bid{7, "web", 12.5};
  auction.bids = {Bid{7, "web", 12.5}, Bid{8, std::string(200, 'z'), std::nullopt}, Bid{}};
  auction.tags = {{"a", {1, -2, 3}}, {"", {}}, {"long", std::vector<int32_t>(40, 9)}};
  auction.note = "first";
  auction.open = true;
  auction.color = Color::kBlue;
  auction.shape = {1, 2, 65535};
  auction.extra = {-5, 0.25f, {true, false, true}};
  return auction;
}

using PairList = std::vector<std::pair<std::string, std::optional<int64_t>>>;

TEST(TypeSerializerTest, writesFixedWidthValuesLittleEndian) {
  EXPECT_EQ(hexOf(int32_t{0x01020304}), "04030201");
  EXPECT_EQ(hexOf(int64_t{-1}), "ffffffffffffffff");
  EXPECT_EQ(hexOf(uint16_t{0xabcd}), "cdab");
  EXPECT_EQ(hexOf(int8_t{-2}), "fe");
  EXPECT_EQ(hexOf('A'), "41");
  EXPECT_EQ(hexOf(1.0), "000000000000f03f");
  EXPECT_EQ(hexOf(-2.0f), "000000c0");
  EXPECT_EQ(hexOf(true), "01");
  EXPECT_EQ(hexOf(false), "00");
  EXPECT_EQ(hexOf(Color::kBlue), "0201");
}

TEST(TypeSerializerTest, writesVarintsAsCanonicalLeb128) {
  EXPECT_EQ(hex(varintBytes(0)), "00");
  EXPECT_EQ(hex(varintBytes(127)), "7f");
  EXPECT_EQ(hex(varintBytes(128)), "8001");
  EXPECT_EQ(hex(varintBytes(300)), "ac02");
  EXPECT_EQ(hex(varintBytes(std::numeric_limits<uint64_t>::max())), "ffffffffffffffffff01");
  for (uint64_t value : {uint64_t{0}, uint64_t{1} << 7, (uint64_t{1} << 14) - 1, uint64_t{1} << 35,
                         uint64_t{1} << 63, std::numeric_limits<uint64_t>::max()}) {
    std::string bytes = varintBytes(value);
    DataInput in(bytes);
    uint64_t decoded = 0;
    ASSERT_TRUE(in.readVarint(decoded));
    EXPECT_EQ(decoded, value);
    EXPECT_EQ(in.remaining(), 0u);
  }
}

TEST(TypeSerializerTest, writesContainerLayoutsFromTheGrammar) {
  EXPECT_EQ(hexOf(std::string("ab")), "026162");
  EXPECT_EQ(hexOf(std::string()), "00");
  EXPECT_EQ(hexOf(std::string(128, 'x')).substr(0, 6), "800178");
  EXPECT_EQ(hexOf(std::make_pair(int8_t{1}, std::string("x"))), "010178");
  EXPECT_EQ(hexOf(std::make_tuple(int8_t{1}, true, uint16_t{2})), "01010200");
  EXPECT_EQ(hexOf(std::tuple<>()), "");
  EXPECT_EQ(hexOf(std::optional<int16_t>()), "00");
  EXPECT_EQ(hexOf(std::optional<int16_t>(5)), "010500");
  EXPECT_EQ(hexOf(std::vector<uint8_t>{1, 2}), "020102");
  EXPECT_EQ(hexOf(std::vector<int16_t>{1, -1}), "020100ffff");
  EXPECT_EQ(hexOf(std::vector<bool>{true, false, true}), "03010001");
  EXPECT_EQ(hexOf(std::vector<std::string>{"a", ""}), "02016100");
  EXPECT_EQ(hexOf(std::array<int16_t, 2>{1, 2}), "01000200");
  EXPECT_EQ(hexOf(std::map<int8_t, bool>{{2, true}, {1, false}}), "0201000201");
  EXPECT_EQ(hexOf(std::unordered_map<int8_t, bool>{{3, true}}), "010301");
  EXPECT_EQ(hexOf(Bid{1, "x", std::nullopt}),
            "0100000000000000"
            "0178"
            "00");
  EXPECT_EQ(hexOf(Celsius{-1}), "ffffffff0f");
}

TEST(TypeSerializerTest, roundTripsArithmeticTypes) {
  expectRoundTrip(std::numeric_limits<int8_t>::min());
  expectRoundTrip(std::numeric_limits<uint8_t>::max());
  expectRoundTrip(std::numeric_limits<int16_t>::min());
  expectRoundTrip(std::numeric_limits<uint16_t>::max());
  expectRoundTrip(std::numeric_limits<int32_t>::min());
  expectRoundTrip(std::numeric_limits<uint32_t>::max());
  expectRoundTrip(std::numeric_limits<int64_t>::min());
  expectRoundTrip(std::numeric_limits<int64_t>::max());
  expectRoundTrip(std::numeric_limits<uint64_t>::max());
  expectRoundTrip('\xff');
  expectRoundTrip(char32_t{0x1f600});
  expectRoundTrip(true);
  expectRoundTrip(false);
  expectRoundTrip(Color::kBlue);
  expectRoundTrip(3.14f);
  expectRoundTrip(std::numeric_limits<double>::denorm_min());
  expectRoundTrip(-std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::signbit(roundTrip(-0.0)));
  double nan = std::bit_cast<double>(uint64_t{0x7ff8000000000123});
  EXPECT_EQ(std::bit_cast<uint64_t>(roundTrip(nan)), uint64_t{0x7ff8000000000123});
}

TEST(TypeSerializerTest, roundTripsStrings) {
  expectRoundTrip(std::string());
  expectRoundTrip(std::string("hello"));
  expectRoundTrip(std::string("nul\0inside", 10));
  expectRoundTrip(std::string(300, 'q'));
  expectRoundTrip(std::string(70000, '\x80'));
}

TEST(TypeSerializerTest, roundTripsContainers) {
  expectRoundTrip(std::make_pair(std::string("k"), int64_t{-9}));
  expectRoundTrip(std::make_tuple(int8_t{1}, std::string("two"), 3.0, Color::kRed));
  expectRoundTrip(std::tuple<>());
  expectRoundTrip(std::vector<int64_t>{});
  expectRoundTrip(std::vector<int64_t>{1, -2, std::numeric_limits<int64_t>::max()});
  expectRoundTrip(std::vector<double>{0.5, -1e300});
  expectRoundTrip(std::vector<bool>{true, false, false, true, true});
  expectRoundTrip(std::vector<std::string>{"a", "", std::string(200, 'b')});
  expectRoundTrip(std::vector<Color>{Color::kBlue, Color::kRed});
  expectRoundTrip(std::optional<int32_t>());
  expectRoundTrip(std::optional<int32_t>(42));
  expectRoundTrip(std::optional<std::string>("x"));
  expectRoundTrip(std::map<std::string, int32_t>{{"b", 2}, {"a", 1}, {"", 0}});
  expectRoundTrip(std::unordered_map<int64_t, std::string>{{5, "five"}, {-1, ""}, {9, "nine"}});
  expectRoundTrip(std::array<int32_t, 4>{1, 2, 3, 4});
  expectRoundTrip(std::array<std::string, 2>{"x", "yy"});
  expectRoundTrip(std::array<bool, 3>{true, false, true});
  expectRoundTrip(std::array<int64_t, 0>{});
  expectRoundTrip(std::vector<Celsius>{Celsius{-40}, Celsius{215}});
}

TEST(TypeSerializerTest, roundTripsNestedValues) {
  expectRoundTrip(
      PairList{{"a", 1}, {"", std::nullopt}, {"c", std::numeric_limits<int64_t>::min()}});
  expectRoundTrip(sampleAuction());
  expectRoundTrip(Auction{});
  expectRoundTrip(
      std::vector<std::vector<std::optional<Bid>>>{{Bid{1, "a", 2.0}, std::nullopt}, {}});
  expectRoundTrip(std::map<std::pair<int32_t, std::string>, std::vector<bool>>{{{1, "x"}, {true}},
                                                                               {{1, "y"}, {}}});
}

TEST(TypeSerializerTest, variantsCarryTheirAlternativeIndex) {
  using V = std::variant<int16_t, std::string, Bid>;
  EXPECT_EQ(hexOf(V(int16_t{5})), "000500");
  EXPECT_EQ(hexOf(V(std::string("a"))), "010161");
  expectRoundTrip(V(int16_t{-3}));
  expectRoundTrip(V(std::string(300, 'x')));
  expectRoundTrip(V(Bid{7, "web", 1.5}));
  expectRoundTrip(std::vector<V>{V(int16_t{1}), V(Bid{}), V(std::string())});
  // Decoding into a variant that holds another alternative switches it.
  std::string bytes = encode(V(Bid{9, "x", std::nullopt}));
  V value(std::string("old"));
  ASSERT_TRUE(decodeExact(bytes, value));
  EXPECT_EQ(value, V(Bid{9, "x", std::nullopt}));
  // An index past the alternatives, or a truncated alternative, is rejected.
  EXPECT_FALSE(decodeExact(std::string("\x03\x05\x00", 3), value));
  EXPECT_FALSE(decodeExact(std::string("\x00\x05", 2), value));
  EXPECT_FALSE(decodeExact(std::string(), value));
}

TEST(TypeSerializerTest, stringViewsAreReadIntoTheInputsArena) {
  std::string bytes = encode(std::pair<std::string_view, int32_t>("hello", 7));
  EXPECT_EQ(bytes, encode(std::pair<std::string, int32_t>("hello", 7)));  // same as a string
  detail::ByteArena arena;
  DataInput in(bytes, &arena);
  std::pair<std::string_view, int32_t> value;
  ASSERT_TRUE(deserializeValue(in, value));
  EXPECT_EQ(value.first, "hello");
  EXPECT_EQ(value.second, 7);
  EXPECT_EQ(arena.bytesUsed(), 5u);
  EXPECT_NE(value.first.data(), bytes.data() + 1);  // a copy, not a view of the input
  // Without an arena a view has nowhere to live: the input does not decode.
  DataInput noArena(bytes);
  EXPECT_FALSE(deserializeValue(noArena, value));
  EXPECT_TRUE(noArena.failed());
}

TEST(ByteArenaTest, copiesStayPutUntilResetAndChunksAreReused) {
  detail::ByteArena arena;
  std::vector<std::pair<std::string_view, std::string>> copies;
  for (int i = 0; i < 2000; ++i) {
    std::string text(static_cast<size_t>(i % 50) + 1, static_cast<char>('a' + i % 26));
    copies.push_back({arena.copy(text), text});
  }
  copies.push_back({arena.copy(std::string(100'000, 'z')), std::string(100'000, 'z')});
  for (const auto& [view, text] : copies) EXPECT_EQ(view, text);
  const char* first = copies.front().first.data();
  arena.reset();
  EXPECT_EQ(arena.bytesUsed(), 0u);
  EXPECT_EQ(arena.copy("again").data(), first);  // the first chunk is reused
  EXPECT_TRUE(arena.copy("").empty());
}

TEST(TypeSerializerTest, serializesSeveralValuesBackToBack) {
  std::string bytes = "prefix";
  DataOutput out(bytes);
  serializeValue(int32_t{7}, out);
  serializeValue(std::string("two"), out);
  EXPECT_EQ(out.size(), 6u + 4u + 4u);
  DataInput in(std::string_view(bytes).substr(6));
  int32_t first = 0;
  std::string second;
  ASSERT_TRUE(deserializeValue(in, first));
  ASSERT_TRUE(deserializeValue(in, second));
  EXPECT_EQ(first, 7);
  EXPECT_EQ(second, "two");
  EXPECT_EQ(in.remaining(), 0u);
}

TEST(TypeSerializerTest, deserializeOverwritesTheExistingValue) {
  std::vector<std::string> strings{"1", "2", "3", "4", "5"};
  ASSERT_TRUE(decodeExact(encode(std::vector<std::string>{"x", "y"}), strings));
  EXPECT_THAT(strings, ::testing::ElementsAre("x", "y"));

  std::map<std::string, int32_t> map{{"old", 1}, {"a", 5}};
  ASSERT_TRUE(decodeExact(encode(std::map<std::string, int32_t>{{"a", 1}}), map));
  EXPECT_EQ(map, (std::map<std::string, int32_t>{{"a", 1}}));

  std::unordered_map<int32_t, int32_t> hashMap{{1, 1}, {2, 2}};
  ASSERT_TRUE(decodeExact(encode(std::unordered_map<int32_t, int32_t>{{3, 3}}), hashMap));
  EXPECT_EQ(hashMap, (std::unordered_map<int32_t, int32_t>{{3, 3}}));

  std::optional<std::string> optional = "full";
  ASSERT_TRUE(decodeExact(encode(std::optional<std::string>()), optional));
  EXPECT_FALSE(optional.has_value());

  std::vector<bool> bits(100, true);
  ASSERT_TRUE(decodeExact(encode(std::vector<bool>{false, true}), bits));
  EXPECT_EQ(bits, (std::vector<bool>{false, true}));

  Auction auction = sampleAuction();
  ASSERT_TRUE(decodeExact(encode(Auction{}), auction));
  EXPECT_EQ(auction, Auction{});
}

TEST(TypeSerializerTest, hotPathsReuseMemoryInsteadOfAllocating) {
  Bid bid{42, "a channel name longer than the small-string buffer", 1.5};
  std::string buffer;
  buffer.reserve(1024);
  Bid target{0, std::string(100, ' '), std::nullopt};
  const char* targetData = target.channel.data();
  std::vector<int64_t> numbers{1, 2, 3, 4};
  std::vector<int64_t> numbersTarget(8);

  int64_t before = allocations();
  DataOutput out(buffer);
  serializeValue(bid, out);
  serializeValue(numbers, out);
  DataInput in(buffer);
  ASSERT_TRUE(deserializeValue(in, target));
  ASSERT_TRUE(deserializeValue(in, numbersTarget));
  EXPECT_EQ(allocations(), before);

  EXPECT_EQ(target, bid);
  EXPECT_EQ(target.channel.data(), targetData);  // assign() kept the capacity
  EXPECT_EQ(numbersTarget, numbers);

  // The counter does see allocations: decoding into an empty vector needs one.
  std::vector<int64_t> emptyTarget;
  before = allocations();
  DataInput again(buffer);
  ASSERT_TRUE(deserializeValue(again, target));
  ASSERT_TRUE(deserializeValue(again, emptyTarget));
  EXPECT_EQ(allocations(), before + 1);
}

TEST(TypeSerializerTest, rejectsMalformedVarints) {
  auto readsVarint = [](std::string bytes) {
    DataInput in(bytes);
    uint64_t value = 0;
    bool ok = in.readVarint(value);
    EXPECT_EQ(ok, !in.failed());
    return ok;
  };
  EXPECT_FALSE(readsVarint(""));
  EXPECT_FALSE(readsVarint("\x80"));
  EXPECT_FALSE(readsVarint(std::string("\x80\x00", 2)));        // overlong zero
  EXPECT_FALSE(readsVarint(std::string("\xff\x00", 2)));        // overlong 127
  EXPECT_FALSE(readsVarint(std::string(9, '\xff') + '\x02'));   // 65 bits
  EXPECT_FALSE(readsVarint(std::string(10, '\x80') + '\x01'));  // 11 bytes
  EXPECT_FALSE(readsVarint(std::string(20, '\xff')));           // unterminated
  EXPECT_TRUE(readsVarint(std::string(9, '\xff') + '\x01'));
  EXPECT_TRUE(readsVarint(std::string("\x81\x01", 2)));
}

TEST(TypeSerializerTest, failureIsSticky) {
  std::string bytes = "\x05\x01\x02\x03";
  DataInput in(bytes);
  std::string value;
  EXPECT_FALSE(deserializeValue(in, value));  // declares 5 bytes, holds 3
  EXPECT_TRUE(in.failed());
  EXPECT_EQ(in.remaining(), 0u);
  uint8_t byte = 0;
  EXPECT_FALSE(in.readFixed(byte));
  std::string_view view;
  EXPECT_FALSE(in.readView(0, view));
  EXPECT_FALSE(in.read(&byte, 0));
}

TEST(TypeSerializerTest, rejectsInvalidFlagsAndDuplicateKeys) {
  bool flag = false;
  EXPECT_FALSE(decodeExact(std::string("\x02"), flag));
  std::optional<int8_t> optional;
  EXPECT_FALSE(decodeExact(std::string("\x02\x01"), optional));
  std::vector<bool> bits;
  EXPECT_FALSE(decodeExact(std::string("\x02\x01\x07"), bits));
  std::map<int8_t, int8_t> map;
  bool failed = false;
  EXPECT_FALSE(decodeExact(std::string("\x02\x01\x05\x01\x06"), map, &failed));
  EXPECT_TRUE(failed);
  std::unordered_map<int8_t, int8_t> hashMap;
  EXPECT_FALSE(decodeExact(std::string("\x02\x01\x05\x01\x06"), hashMap));
  // Keys out of order are accepted: the map sorts them.
  EXPECT_TRUE(decodeExact(std::string("\x02\x02\x05\x01\x06"), map));
  EXPECT_EQ(map, (std::map<int8_t, int8_t>{{1, 6}, {2, 5}}));
}

TEST(TypeSerializerTest, truncatedInputFailsCleanly) {
  std::string pairListBytes = encode(PairList{{"alpha", 1}, {"", std::nullopt}, {"gamma", -3}});
  for (size_t length = 0; length < pairListBytes.size(); ++length) {
    PairList target{{"stale", 9}};
    bool failed = false;
    EXPECT_FALSE(decodeExact(std::string_view(pairListBytes).substr(0, length), target, &failed))
        << "prefix of " << length << " bytes";
    EXPECT_TRUE(failed);
  }
  std::string auctionBytes = encode(sampleAuction());
  for (size_t length = 0; length < auctionBytes.size(); ++length) {
    Auction target = sampleAuction();
    EXPECT_FALSE(decodeExact(std::string_view(auctionBytes).substr(0, length), target))
        << "prefix of " << length << " bytes";
  }
  Auction full;
  EXPECT_TRUE(decodeExact(auctionBytes, full));
  EXPECT_EQ(full, sampleAuction());
}

TEST(TypeSerializerTest, randomByteFlipsNeverReadOutOfBounds) {
  const std::string original = encode(sampleAuction());
  std::mt19937 random(20240611);
  std::uniform_int_distribution<size_t> position(0, original.size() - 1);
  std::uniform_int_distribution<int> flipCount(1, 4);
  std::uniform_int_distribution<int> mask(1, 255);
  int accepted = 0;
  Auction reused;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    std::string corrupt = original;
    for (int flip = flipCount(random); flip > 0; --flip) {
      corrupt[position(random)] ^= static_cast<char>(mask(random));
    }
    if (iteration % 3 == 0) {
      corrupt.resize(position(random));
    }
    Auction fresh;
    bool freshOk = decodeExact(corrupt, fresh);
    EXPECT_EQ(decodeExact(corrupt, reused), freshOk);
    if (freshOk) {
      ++accepted;
      // Whatever was accepted is a valid value: it encodes and decodes to the same bytes.
      std::string reencoded = encode(fresh);
      Auction again;
      ASSERT_TRUE(decodeExact(reencoded, again));
      EXPECT_EQ(encode(again), reencoded);
    }
  }
  // Flips inside fixed-width fields decode fine; flips in lengths and flags mostly do not.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 2000);
}

TEST(TypeSerializerTest, randomGarbageNeverReadsOutOfBounds) {
  std::mt19937 random(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> length(0, 64);
  for (int iteration = 0; iteration < 2000; ++iteration) {
    std::string garbage(length(random), '\0');
    for (char& c : garbage) {
      c = static_cast<char>(byte(random));
    }
    Auction auction;
    PairList pairs;
    std::unordered_map<std::string, std::vector<bool>> map;
    (void)decodeExact(garbage, auction);
    (void)decodeExact(garbage, pairs);
    (void)decodeExact(garbage, map);
  }
}

TEST(TypeSerializerTest, hugeDeclaredLengthFailsWithoutAllocating) {
  const std::string huge = varintBytes(uint64_t{1} << 40) + "some trailing bytes";
  auto expectRejectedWithoutAllocating = [&huge](auto target) {
    int64_t before = allocations();
    DataInput in(huge);
    EXPECT_FALSE(deserializeValue(in, target));
    EXPECT_EQ(allocations(), before);
    EXPECT_TRUE(in.failed());
  };
  expectRejectedWithoutAllocating(std::string());
  expectRejectedWithoutAllocating(std::vector<int64_t>());
  expectRejectedWithoutAllocating(std::vector<std::string>());
  expectRejectedWithoutAllocating(std::vector<bool>());
  expectRejectedWithoutAllocating(std::map<std::string, int32_t>());
  expectRejectedWithoutAllocating(std::unordered_map<int64_t, int64_t>());
  expectRejectedWithoutAllocating(PairList());
  expectRejectedWithoutAllocating(Auction());

  // A count just above what the remaining bytes can hold is rejected too.
  std::string justTooMany = varintBytes(3) + std::string(11, '\0');
  std::vector<int32_t> numbers;
  EXPECT_FALSE(decodeExact(justTooMany, numbers));
  std::string exactlyEnough = varintBytes(3) + std::string(12, '\0');
  EXPECT_TRUE(decodeExact(exactlyEnough, numbers));
  EXPECT_EQ(numbers, (std::vector<int32_t>{0, 0, 0}));
}

TEST(TypeSerializerTest, serializableConceptMatchesSupportedTypes) {
  static_assert(Serializable<int32_t> && Serializable<double> && Serializable<bool>);
  static_assert(Serializable<Color> && Serializable<std::string>);
  static_assert(Serializable<Bid> && Serializable<Auction> && Serializable<Celsius>);
  static_assert(Serializable<std::vector<bool>> && Serializable<PairList>);
  static_assert(Serializable<std::map<std::string, std::vector<Celsius>>>);
  static_assert(!Serializable<long double>);
  static_assert(!Serializable<int*>);
  // Views are records' fields whose bytes live in the batch's arena (read into DataInput's).
  static_assert(Serializable<std::string_view>);
  static_assert(!Serializable<NotSerializable>);
  static_assert(!Serializable<WithPointerField>);
  static_assert(!Serializable<std::vector<NotSerializable>>);
  static_assert(!Serializable<std::optional<std::pair<int, int*>>>);
  static_assert(!Serializable<std::map<int, NotSerializable>>);
}

}  // namespace
}  // namespace strom
