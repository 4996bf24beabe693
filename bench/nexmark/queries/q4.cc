// Query 4: Average Price for a Category. The average of the winning bid prices of the auctions
// of each category.
//   SELECT Q.category, AVG(Q.final)
//   FROM (
//     SELECT MAX(B.price) AS final, A.category
//     FROM auction A, bid B
//     WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//     GROUP BY A.id, A.category
//   ) Q
//   GROUP BY Q.category;
//
// Semantics: the auctions with at least one valid bid (BETWEEN inclusive) count, each with its
// highest valid price; AVG is a double (sum / count of the auctions' maxima). As in Flink, the
// result is updating: the join (winning_bids.h) emits an auction's new maximum each time it rises
// (with the one it replaces), and the average per category retracts the auction's previous
// maximum, adds the new one and upserts (category, avg); the final table is the result after
// end of input. An auction's join state goes when the watermark passes its `expires` (its
// maximum cannot change after that); the sums per category stay, as in Flink.

#include "bench/nexmark/queries/winning_bids.h"

namespace strom::nexmark {
namespace {

/// The auction columns q4 reads.
struct Q4Auction {
  int64_t id = 0;
  int64_t dateTime = 0;
  int64_t expires = 0;
  int64_t category = 0;
  STROM_FIELDS(id, dateTime, expires, category)
};

using Q4Winner = WinningBid<Q4Auction, BidPrice>;

struct Q4Row {
  int64_t category = 0;
  double avg = 0;
  STROM_FIELDS(category, avg)
};

/// The sum and count of the auctions' maxima of one category.
struct PriceSum {
  int64_t sum = 0;
  int64_t count = 0;
  STROM_FIELDS(sum, count)
  double average() const { return static_cast<double>(sum) / static_cast<double>(count); }
};

/// AVG(final) GROUP BY category over the changing maxima of the auctions.
class CategoryAverage final : public KeyedProcessFunction<int64_t, Q4Winner, Change<Q4Row>> {
 public:
  void open() override {
    sums_ = &getRuntimeContext().getState(ValueStateDescriptor<PriceSum>("sum"));
  }
  void processElement(const Q4Winner& winner, Context& ctx,
                      Collector<Change<Q4Row>>& out) override {
    const int64_t price = winner.bid.price;
    if (winner.previousPrice == price) return;  // an earlier bid at the same price: same max
    PriceSum* sum = sums_->valuePtrForUpdate();
    if (sum == nullptr) {
      sums_->update(PriceSum{});
      sum = sums_->valuePtrForUpdate();
    }
    if (winner.previousPrice) {
      sum->sum += price - *winner.previousPrice;
    } else {
      sum->sum += price;
      ++sum->count;
    }
    out.collect(Change<Q4Row>{ChangeKind::kUpsert, Q4Row{ctx.getCurrentKey(), sum->average()}});
  }

 private:
  ValueState<PriceSum>* sums_ = nullptr;
};

Q4Auction toAuction(const Auction& a) { return Q4Auction{a.id, a.dateTime, a.expires, a.category}; }

class Q4 final : public Query {
 public:
  std::string_view name() const override { return "q4"; }
  std::string_view title() const override { return "Average Price for a Category"; }
  bool updating() const override { return true; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto [auctions, bids] = splitAuctionsAndBids(events, toAuction, toBidPrice);
    auto changes = winningBids<Q4Auction, BidPrice>(auctions, bids, WinnerEmission::kOnChange)
                       .keyBy([](const Q4Winner& w) { return w.auction.category; })
                       .process(CategoryAverage())
                       .name("Q4 Average");
    output.upsert(changes, [](const Q4Row& row) { return row.category; });
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    // Only the final table counts: each auction's final maximum is added once, when it closes.
    detail::FlatHashMap<int64_t, PriceSum> sums;
    WinningBidLoop<Q4Auction, BidPrice> loop;
    STROM_RETURN_IF_ERROR(
        loop.run(ctx.config, toAuction, toBidPrice, [&](const Q4Auction& a, const BidPrice& b) {
          PriceSum* sum = sums.tryEmplace(a.category, detail::mapKeyHash(a.category)).first;
          sum->sum += b.price;
          ++sum->count;
        }));
    RowTally tally;
    for (const auto& [category, sum] : sums) tally.add(Q4Row{category, sum.average()});
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q4);

}  // namespace
}  // namespace strom::nexmark
