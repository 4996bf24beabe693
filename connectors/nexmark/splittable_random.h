#pragma once

#include <cstdint>

namespace strom::nexmark {

/// A port of JDK 17's `java.util.SplittableRandom(long seed)`, the generator the reference
/// Nexmark generator draws everything from (see ../shared/nexmark/README.md). Only the draws the
/// generator makes are ported: nextLong, nextInt, nextInt(bound) and nextDouble. The seed is
/// used as the initial state unmixed, with the golden gamma; every draw adds the gamma to the
/// state (mod 2^64) and mixes the new state.
///
/// Not thread-safe: one instance per thread.
class SplittableRandom {
 public:
  static constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;

  explicit SplittableRandom(int64_t seed) : state_(static_cast<uint64_t>(seed)) {}

  /// Return Java's `nextLong()`: mix64 of the next state.
  int64_t nextLong() { return static_cast<int64_t>(mix64(nextSeed())); }

  /// Return Java's `nextInt()`: the upper 32 bits of mix32 of the next state, as a signed int.
  int32_t nextInt() { return mix32(nextSeed()); }

  /// Return Java's `nextInt(bound)`, uniform in [0, bound). REQUIRES: bound > 0.
  int32_t nextInt(int32_t bound) {
    int32_t r = nextInt();
    const int32_t m = bound - 1;
    if ((bound & m) == 0) {
      return r & m;
    }
    // Reject the over-represented candidates while the 32-bit signed sum u + m - r overflows
    // (done in unsigned arithmetic to keep Java's wrap-around without undefined behaviour).
    uint32_t u = static_cast<uint32_t>(r) >> 1;
    for (;;) {
      r = static_cast<int32_t>(u % static_cast<uint32_t>(bound));
      const auto sum =
          static_cast<int32_t>(u + static_cast<uint32_t>(m) - static_cast<uint32_t>(r));
      if (sum >= 0) {
        return r;
      }
      u = static_cast<uint32_t>(nextInt()) >> 1;
    }
  }

  /// Return Java's `nextDouble()`: the top 53 bits of nextLong() scaled to [0, 1).
  double nextDouble() {
    return static_cast<double>(static_cast<uint64_t>(nextLong()) >> 11) * 0x1.0p-53;
  }

 private:
  uint64_t nextSeed() { return state_ += kGoldenGamma; }

  static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  static int32_t mix32(uint64_t z) {
    z = (z ^ (z >> 33)) * 0x62a9d9ed799705f5ULL;
    z = (z ^ (z >> 28)) * 0xcb24d0a5c88c35b3ULL;
    return static_cast<int32_t>(static_cast<uint32_t>(z >> 32));
  }

  uint64_t state_;
};

}  // namespace strom::nexmark
