#pragma once

// Shared by the windowed counting queries: the count aggregate (q5, q11, q12) and the
// (bidder, bid_count, starttime, endtime) rows of q11 and q12.

#include <strom/strom.h>

#include <cstdint>
#include <span>

namespace strom::nexmark {

/// Counts the records of a window, whatever their key (merged when session windows merge).
struct CountBids {
  int64_t createAccumulator() const { return 0; }
  int64_t add(int64_t /*key*/, int64_t count) const { return count + 1; }
  int64_t getResult(int64_t count) const { return count; }
  int64_t merge(int64_t a, int64_t b) const { return a + b; }
};

/// A bidder's bid count in a window (q11: a session; q12: a processing-time window).
struct BidderWindowCount {
  int64_t bidder = 0;
  int64_t bidCount = 0;
  int64_t starttime = 0;
  int64_t endtime = 0;
  STROM_FIELDS(bidder, bidCount, starttime, endtime)
};

/// Emits a window's count with its bidder and the window's bounds.
class BidderWindowCountRow final
    : public ProcessWindowFunction<int64_t, BidderWindowCount, int64_t> {
 public:
  void process(const int64_t& bidder, Context& ctx, std::span<const int64_t> counts,
               Collector<BidderWindowCount>& out) override {
    for (int64_t count : counts) {
      out.collect(BidderWindowCount{bidder, count, ctx.window().start, ctx.window().end});
    }
  }
};

}  // namespace strom::nexmark
