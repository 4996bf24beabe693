// Query 14: Calculation. Bids in a price band, with the price converted, the time of day as a
// word and a user-defined function over `extra`.
//   SELECT auction, bidder, 0.908 * price as price,
//       CASE
//           WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime'
//           WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime'
//           ELSE 'otherTime'
//       END AS bidTimeType,
//       dateTime, extra, count_char(extra, 'c') AS c_counts
//   FROM bid
//   WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
// 0.908 * price is exact (Decimal3), in the WHERE too: price * 908 is compared with the bounds
// in thousandths. HOUR is taken in UTC. count_char (the reference's CountChar UDF) counts the
// occurrences of the character in the string.

#include "bench/nexmark/queries/date_format.h"
#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct Q14Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  Decimal3 price;
  std::string_view bidTimeType;  // a string literal
  int64_t dateTime = 0;
  std::string_view extra;
  int64_t cCounts = 0;
  STROM_FIELDS(auction, bidder, price, bidTimeType, dateTime, extra, cCounts)
};

/// The bounds of the WHERE clause, in thousandths (0.908 * price is compared exactly).
constexpr int64_t kLowerThousandths = 1'000'000 * int64_t{1000};
constexpr int64_t kUpperThousandths = 50'000'000 * int64_t{1000};

bool inPriceBand(const Bid& bid) {
  const int64_t converted = bid.price * 908;
  return converted > kLowerThousandths && converted < kUpperThousandths;
}

std::string_view bidTimeType(int64_t dateTime) {
  const int32_t hour = minuteOfDay(dateTime) / 60;  // HOUR(dateTime) in UTC
  if (hour >= 8 && hour <= 18) return "dayTime";
  if (hour <= 6 || hour >= 20) return "nightTime";
  return "otherTime";
}

/// The reference's count_char UDF: how often `c` occurs in `s`.
int64_t countChar(std::string_view s, char c) {
  int64_t count = 0;
  for (char x : s) count += x == c ? 1 : 0;
  return count;
}

Q14Row toRow(const Bid& bid) {
  return Q14Row{bid.auction,  bid.bidder, Decimal3{bid.price * 908}, bidTimeType(bid.dateTime),
                bid.dateTime, bid.extra,  countChar(bid.extra, 'c')};
}

class Q14 final : public Query {
 public:
  std::string_view name() const override { return "q14"; }
  std::string_view title() const override { return "Calculation"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto rows = events
                    .filter([](const NexmarkEvent& e) {
                      return e.type == EventType::kBid && inPriceBand(e.bid);
                    })
                    .name("Q14 Filter")
                    .map([](const NexmarkEvent& e) { return toRow(e.bid); })
                    .name("Q14 Calculate");
    output.append(rows);
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    RowTally tally;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type == EventType::kBid && inPriceBand(e.bid)) tally.add(toRow(e.bid));
    }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q14);

}  // namespace
}  // namespace strom::nexmark
