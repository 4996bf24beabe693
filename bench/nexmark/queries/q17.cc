// Query 17: Auction Statistics Report. How many bids does an auction get per day, and at what
// prices? An unbounded group aggregation.
//   SELECT auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd') AS `day`,
//          count(*) AS total_bids,
//          count(*) FILTER (WHERE price < 10000) AS rank1_bids,
//          count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
//          count(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
//          min(price) AS min_price, max(price) AS max_price,
//          avg(price) AS avg_price, sum(price) AS sum_price
//   FROM bid
//   GROUP BY auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd');
//
// Updating: every bid upserts the row of its (auction, day), as Flink's group aggregation
// without mini-batch does. Where the SQL is loose: the day is UTC; avg_price is a double
// (sum_price / total_bids; the reference's sink declares it BIGINT, where Flink's AVG of a
// BIGINT truncates). The job groups by the day's number, which is one to one with its string.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "bench/nexmark/queries/date_format.h"
#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

/// The columns of a bid that the query reads (projected before the shuffle).
struct PricedBid {
  int64_t auction = 0;
  int64_t price = 0;
  int64_t dateTime = 0;
  STROM_FIELDS(auction, price, dateTime)
};

/// The grouping key: the auction and the UTC day (days since the epoch).
struct AuctionDay {
  int64_t auction = 0;
  int64_t day = 0;
  bool operator==(const AuctionDay&) const = default;
  STROM_FIELDS(auction, day)
};

struct Q17Row {
  int64_t auction = 0;
  std::string day;
  int64_t totalBids = 0;
  int64_t rank1Bids = 0;
  int64_t rank2Bids = 0;
  int64_t rank3Bids = 0;
  int64_t minPrice = 0;
  int64_t maxPrice = 0;
  double avgPrice = 0;
  int64_t sumPrice = 0;
  STROM_FIELDS(auction, day, totalBids, rank1Bids, rank2Bids, rank3Bids, minPrice, maxPrice,
               avgPrice, sumPrice)
};

/// The key of the result table.
struct Q17ResultKey {
  int64_t auction = 0;
  std::string_view day;
  STROM_FIELDS(auction, day)
};

/// The aggregates of one (auction, day).
struct Q17Stats {
  int64_t totalBids = 0;
  int64_t rank1Bids = 0;
  int64_t rank2Bids = 0;
  int64_t rank3Bids = 0;
  int64_t minPrice = std::numeric_limits<int64_t>::max();
  int64_t maxPrice = std::numeric_limits<int64_t>::min();
  int64_t sumPrice = 0;
  STROM_FIELDS(totalBids, rank1Bids, rank2Bids, rank3Bids, minPrice, maxPrice, sumPrice)

  void add(int64_t price) {
    ++totalBids;
    rank1Bids += price < 10'000 ? 1 : 0;
    rank2Bids += price >= 10'000 && price < 1'000'000 ? 1 : 0;
    rank3Bids += price >= 1'000'000 ? 1 : 0;
    minPrice = price < minPrice ? price : minPrice;
    maxPrice = price > maxPrice ? price : maxPrice;
    sumPrice += price;
  }

  Q17Row toRow(int64_t auction, const std::string& day) const {
    return Q17Row{
        auction,   day,       totalBids,
        rank1Bids, rank2Bids, rank3Bids,
        minPrice,  maxPrice,  static_cast<double>(sumPrice) / static_cast<double>(totalBids),
        sumPrice};
  }
};

/// The day's string, formatted again only when the day changes (days change rarely).
class DayText {
 public:
  const std::string& of(int64_t day) {
    if (day != day_ || text_.empty()) {
      day_ = day;
      text_ = formatDay(day);
    }
    return text_;
  }

 private:
  int64_t day_ = 0;
  std::string text_;
};

/// Keeps the aggregates of each (auction, day) in keyed state and upserts its row per bid.
class Q17Aggregate final : public KeyedProcessFunction<AuctionDay, PricedBid, Change<Q17Row>> {
 public:
  void open() override {
    stats_ = &getRuntimeContext().getState(ValueStateDescriptor<Q17Stats>("q17-stats"));
  }

  void processElement(const PricedBid& bid, Context& ctx, Collector<Change<Q17Row>>& out) override {
    Q17Stats* stats = stats_->valuePtrForUpdate();
    if (stats == nullptr) {
      stats_->update(Q17Stats{});
      stats = stats_->valuePtrForUpdate();
    }
    stats->add(bid.price);
    const AuctionDay& key = ctx.getCurrentKey();
    out.collect(Change<Q17Row>{ChangeKind::kUpsert, stats->toRow(key.auction, day_.of(key.day))});
  }

 private:
  ValueState<Q17Stats>* stats_ = nullptr;  // owned by the keyed backend
  DayText day_;
};

class Q17 final : public Query {
 public:
  std::string_view name() const override { return "q17"; }
  std::string_view title() const override { return "Auction Statistics Report"; }
  bool updating() const override { return true; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto changes = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                       .name("Bids")
                       .map([](const NexmarkEvent& e) {
                         return PricedBid{e.bid.auction, e.bid.price, e.bid.dateTime};
                       })
                       .name("Q17 Project")
                       .keyBy([](const PricedBid& b) {
                         return AuctionDay{b.auction, epochDay(b.dateTime)};
                       })
                       .process(Q17Aggregate())
                       .name("Q17 Aggregate");
    output.upsert(changes, [](const Q17Row& row) { return Q17ResultKey{row.auction, row.day}; });
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    strom::detail::FlatHashMap<AuctionDay, Q17Stats> table;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      const AuctionDay key{e.bid.auction, epochDay(e.bid.dateTime)};
      table.tryEmplace(key, keyHash(key)).first->add(e.bid.price);
    }));
    RowTally tally;
    DayText day;
    for (auto it = table.begin(); it != table.end(); ++it) {
      tally.add(it.value().toRow(it.key().auction, day.of(it.key().day)));
    }
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q17);

}  // namespace
}  // namespace strom::nexmark
