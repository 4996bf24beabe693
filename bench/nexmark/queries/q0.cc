// Query 0: Pass Through. Measures the monitoring overhead: every bid, unchanged.
//   SELECT auction, bidder, price, dateTime, extra FROM bid;

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct Q0Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t dateTime = 0;
  std::string_view extra;
  STROM_FIELDS(auction, bidder, price, dateTime, extra)
};

Q0Row toRow(const Bid& bid) {
  return Q0Row{bid.auction, bid.bidder, bid.price, bid.dateTime, bid.extra};
}

class Q0 final : public Query {
 public:
  std::string_view name() const override { return "q0"; }
  std::string_view title() const override { return "Pass Through"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto rows = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                    .name("Bids")
                    .map([](const NexmarkEvent& e) { return toRow(e.bid); })
                    .name("Q0 Select");
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

STROM_NEXMARK_QUERY(Q0);

}  // namespace
}  // namespace strom::nexmark
