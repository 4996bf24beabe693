// Query 15: Bidding Statistics Report. How many distinct users bid, per day and price level?
// Multiple distinct aggregations with filters.
//   SELECT DATE_FORMAT(dateTime, 'yyyy-MM-dd') AS `day`,
//          count(*) AS total_bids,
//          count(*) FILTER (WHERE price < 10000) AS rank1_bids,
//          count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
//          count(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
//          count(DISTINCT bidder) AS total_bidders,
//          count(DISTINCT bidder) FILTER (WHERE price < 10000) AS rank1_bidders,
//          count(DISTINCT bidder) FILTER (WHERE price >= 10000 AND price < 1000000)
//            AS rank2_bidders,
//          count(DISTINCT bidder) FILTER (WHERE price >= 1000000) AS rank3_bidders,
//          count(DISTINCT auction) AS total_auctions,
//          count(DISTINCT auction) FILTER (WHERE price < 10000) AS rank1_auctions,
//          count(DISTINCT auction) FILTER (WHERE price >= 10000 AND price < 1000000)
//            AS rank2_auctions,
//          count(DISTINCT auction) FILTER (WHERE price >= 1000000) AS rank3_auctions
//   FROM bid
//   GROUP BY DATE_FORMAT(dateTime, 'yyyy-MM-dd');
//
// Updating: every bid upserts the row of its day (Flink's group aggregation without
// mini-batch). The day is UTC; the job groups by the day's number, one to one with its string.
// The distinct counts keep the bidders and auctions seen per day in MapStates, as Flink does.
// There is one group per day, so one subtask does the aggregation whatever the parallelism
// (as in Flink without split-distinct aggregation).

#include <cstdint>
#include <string>
#include <string_view>

#include "bench/nexmark/queries/bid_statistics.h"
#include "bench/nexmark/queries/date_format.h"
#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

/// The columns of a bid that the query reads (projected before the shuffle).
struct DayBid {
  int64_t day = 0;
  int64_t price = 0;
  int64_t bidder = 0;
  int64_t auction = 0;
  STROM_FIELDS(day, price, bidder, auction)
};

struct Q15Row {
  std::string day;
  BidStatistics statistics;
  STROM_FIELDS(day, statistics)
};

/// Keeps each day's counts and its sets of bidders and auctions; upserts its row per bid.
class Q15Aggregate final : public KeyedProcessFunction<int64_t, DayBid, Change<Q15Row>> {
 public:
  void open() override {
    RuntimeContext& context = getRuntimeContext();
    statistics_ = &context.getState(ValueStateDescriptor<BidStatistics>("q15-statistics"));
    bidders_ = &context.getMapState(MapStateDescriptor<int64_t, SeenFilters>("q15-bidders"));
    auctions_ = &context.getMapState(MapStateDescriptor<int64_t, SeenFilters>("q15-auctions"));
  }

  void processElement(const DayBid& bid, Context&, Collector<Change<Q15Row>>& out) override {
    BidStatistics* statistics = statistics_->valuePtrForUpdate();
    if (statistics == nullptr) {
      statistics_->update(BidStatistics{});
      statistics = statistics_->valuePtrForUpdate();
    }
    const int rank = priceRank(bid.price);
    statistics->bids.add(rank);
    countDistinct(*bidders_, bid.bidder, rank, statistics->bidders);
    countDistinct(*auctions_, bid.auction, rank, statistics->auctions);
    if (bid.day != day_ || dayText_.empty()) {
      day_ = bid.day;
      dayText_ = formatDay(bid.day);
    }
    out.collect(Change<Q15Row>{ChangeKind::kUpsert, Q15Row{dayText_, *statistics}});
  }

 private:
  ValueState<BidStatistics>* statistics_ = nullptr;  // the states are owned by the backend
  MapState<int64_t, SeenFilters>* bidders_ = nullptr;
  MapState<int64_t, SeenFilters>* auctions_ = nullptr;
  int64_t day_ = 0;
  std::string dayText_;
};

class Q15 final : public Query {
 public:
  std::string_view name() const override { return "q15"; }
  std::string_view title() const override { return "Bidding Statistics Report"; }
  bool updating() const override { return true; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto changes =
        events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
            .name("Bids")
            .map([](const NexmarkEvent& e) {
              return DayBid{epochDay(e.bid.dateTime), e.bid.price, e.bid.bidder, e.bid.auction};
            })
            .name("Q15 Project")
            .keyBy([](const DayBid& b) { return b.day; })
            .process(Q15Aggregate())
            .name("Q15 Aggregate");
    output.upsert(changes, [](const Q15Row& row) { return std::string_view(row.day); });
    return Status::ok();
  }

  /// The loop keeps one set of (day, value) pairs per distinct column.
  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    struct DayValue {
      int64_t day = 0;
      int64_t value = 0;
      bool operator==(const DayValue&) const = default;
    };
    auto hashOf = [](const DayValue& key) {
      return strom::detail::hashCombine(strom::detail::murmurMix(static_cast<uint64_t>(key.day)),
                                        static_cast<uint64_t>(key.value));
    };
    strom::detail::FlatHashMap<int64_t, BidStatistics> days;
    strom::detail::FlatHashMap<DayValue, SeenFilters> bidders;
    strom::detail::FlatHashMap<DayValue, SeenFilters> auctions;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      const int64_t day = epochDay(e.bid.dateTime);
      const int rank = priceRank(e.bid.price);
      BidStatistics& statistics = *days.tryEmplace(day, keyHash(day)).first;
      statistics.bids.add(rank);
      const DayValue bidder{day, e.bid.bidder};
      countDistinct(*bidders.tryEmplace(bidder, hashOf(bidder), SeenFilters{0}).first, rank,
                    statistics.bidders);
      const DayValue auction{day, e.bid.auction};
      countDistinct(*auctions.tryEmplace(auction, hashOf(auction), SeenFilters{0}).first, rank,
                    statistics.auctions);
    }));
    RowTally tally;
    for (auto it = days.begin(); it != days.end(); ++it) {
      tally.add(Q15Row{formatDay(it.key()), it.value()});
    }
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q15);

}  // namespace
}  // namespace strom::nexmark
