// Query 2: Selection. The bids on a few auctions.
//   SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct Q2Row {
  int64_t auction = 0;
  int64_t price = 0;
  STROM_FIELDS(auction, price)
};

bool selected(const NexmarkEvent& e) {
  return e.type == EventType::kBid && e.bid.auction % 123 == 0;
}

class Q2 final : public Query {
 public:
  std::string_view name() const override { return "q2"; }
  std::string_view title() const override { return "Selection"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto rows = events.filter(selected)
                    .name("Q2 Filter")
                    .map([](const NexmarkEvent& e) {
                      return Q2Row{e.bid.auction, e.bid.price};
                    })
                    .name("Q2 Select");
    output.append(rows);
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    RowTally tally;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (selected(e)) tally.add(Q2Row{e.bid.auction, e.bid.price});
    }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q2);

}  // namespace
}  // namespace strom::nexmark
