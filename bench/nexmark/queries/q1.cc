// Query 1: Currency Conversion. Every bid with its price converted from dollars to euros.
//   SELECT auction, bidder, 0.908 * price as price, dateTime, extra FROM bid;
// 0.908 * price is exact: Decimal3 (three fraction digits), as the SQL's DECIMAL is.

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct Q1Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  Decimal3 price;
  int64_t dateTime = 0;
  std::string_view extra;
  STROM_FIELDS(auction, bidder, price, dateTime, extra)
};

Q1Row toRow(const Bid& bid) {
  return Q1Row{bid.auction, bid.bidder, Decimal3{bid.price * 908}, bid.dateTime, bid.extra};
}

class Q1 final : public Query {
 public:
  std::string_view name() const override { return "q1"; }
  std::string_view title() const override { return "Currency Conversion"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto rows = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                    .name("Bids")
                    .map([](const NexmarkEvent& e) { return toRow(e.bid); })
                    .name("Q1 Convert");
    output.append(rows);
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    RowTally tally;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type == EventType::kBid) tally.add(toRow(e.bid));
    }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q1);

}  // namespace
}  // namespace strom::nexmark
