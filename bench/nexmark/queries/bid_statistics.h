#pragma once

// What q15 (bidding statistics) and q16 (channel statistics) share: count(*) and
// count(DISTINCT bidder), count(DISTINCT auction) over all bids of a group and with the three
// price filters of the reference SQL:
//   rank1: price < 10000; rank2: 10000 <= price < 1000000; rank3: price >= 1000000.
// A distinct count needs the set of values seen per group, as Flink's distinct aggregates keep
// it (a MapState per group): one entry per value, whose bits say under which filters it was
// seen (bit 0: no filter, bit r: rank r), so one set serves the four counts of a column.

#include <strom/fields.h>
#include <strom/state.h>

#include <cstdint>

namespace strom::nexmark {

/// Return the price rank of a bid: 1, 2 or 3 (see the file comment).
inline int priceRank(int64_t price) {
  if (price < 10'000) return 1;
  if (price < 1'000'000) return 2;
  return 3;
}

/// A count over all bids of a group and per price rank (four result columns).
struct RankCounts {
  int64_t total = 0;
  int64_t rank1 = 0;
  int64_t rank2 = 0;
  int64_t rank3 = 0;
  STROM_FIELDS(total, rank1, rank2, rank3)

  /// Count once in total and once in `rank`'s column.
  void add(int rank) {
    ++total;
    rank1 += rank == 1 ? 1 : 0;
    rank2 += rank == 2 ? 1 : 0;
    rank3 += rank == 3 ? 1 : 0;
  }
};

/// The counts of one group: bids, distinct bidders and distinct auctions.
struct BidStatistics {
  RankCounts bids;
  RankCounts bidders;
  RankCounts auctions;
  STROM_FIELDS(bids, bidders, auctions)
};

/// The filters under which a distinct value was seen (bit 0: all bids, bit r: rank r).
using SeenFilters = uint8_t;

/// Note that a value was seen in a bid of `rank` (`seen` was 0 for a new value) and count it
/// in `counts` under each filter it was not seen under before.
inline void countDistinct(SeenFilters& seen, int rank, RankCounts& counts) {
  const auto filters = static_cast<SeenFilters>(1u | (1u << rank));
  if ((seen & filters) == filters) return;
  if ((seen & 1u) == 0) ++counts.total;
  counts.rank1 += rank == 1 ? 1 : 0;
  counts.rank2 += rank == 2 ? 1 : 0;
  counts.rank3 += rank == 3 ? 1 : 0;
  seen = static_cast<SeenFilters>(seen | filters);
}

/// countDistinct for `value` in a group's set of seen values (keyed state of the group).
inline void countDistinct(MapState<int64_t, SeenFilters>& seenValues, int64_t value, int rank,
                          RankCounts& counts) {
  if (SeenFilters* seen = seenValues.getPtrForUpdate(value)) {
    countDistinct(*seen, rank, counts);
    return;
  }
  SeenFilters seen = 0;
  countDistinct(seen, rank, counts);
  seenValues.put(value, seen);
}

}  // namespace strom::nexmark
