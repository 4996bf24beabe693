// Query 16: Channel Statistics Report. How many distinct users bid, per channel, day and price
// level? Multiple distinct aggregations with filters, for multiple keys.
//   SELECT channel, DATE_FORMAT(dateTime, 'yyyy-MM-dd') AS `day`,
//          max(DATE_FORMAT(dateTime, 'HH:mm')) AS `minute`,
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
//   GROUP BY channel, DATE_FORMAT(dateTime, 'yyyy-MM-dd');
//
// Updating: every bid upserts the row of its (channel, day) (Flink's group aggregation without
// mini-batch). Times are UTC; the job groups by the day's number, one to one with its string.
// `minute` is the string max of 'HH:mm' over the group's bids; within one day that order is
// the order of the minute of the day, so the state keeps the largest minute as a number. The
// distinct counts keep the bidders and auctions seen per group in MapStates, as Flink does.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/nexmark/queries/bid_statistics.h"
#include "bench/nexmark/queries/date_format.h"
#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

/// The grouping key: the channel and the UTC day (days since the epoch).
struct ChannelDay {
  std::string channel;
  int64_t day = 0;
  bool operator==(const ChannelDay&) const = default;
  STROM_FIELDS(channel, day)
};

struct Q16Row {
  std::string_view channel;
  std::string day;
  std::string minute;
  BidStatistics statistics;
  STROM_FIELDS(channel, day, minute, statistics)
};

/// The key of the result table.
struct Q16ResultKey {
  std::string_view channel;
  std::string_view day;
  STROM_FIELDS(channel, day)
};

/// The aggregates of one (channel, day) besides its sets of bidders and auctions.
struct Q16Statistics {
  int32_t maxMinute = -1;
  BidStatistics counts;
  STROM_FIELDS(maxMinute, counts)
};

/// Keeps the counts, the largest minute and the sets of bidders and auctions of each
/// (channel, day); upserts its row per bid. The row's channel points into the input batch.
class Q16Aggregate final : public KeyedProcessFunction<ChannelDay, Bid, Change<Q16Row>> {
 public:
  void open() override {
    RuntimeContext& context = getRuntimeContext();
    statistics_ = &context.getState(ValueStateDescriptor<Q16Statistics>("q16-statistics"));
    bidders_ = &context.getMapState(MapStateDescriptor<int64_t, SeenFilters>("q16-bidders"));
    auctions_ = &context.getMapState(MapStateDescriptor<int64_t, SeenFilters>("q16-auctions"));
  }

  void processElement(const Bid& bid, Context& ctx, Collector<Change<Q16Row>>& out) override {
    Q16Statistics* statistics = statistics_->valuePtrForUpdate();
    if (statistics == nullptr) {
      statistics_->update(Q16Statistics{});
      statistics = statistics_->valuePtrForUpdate();
    }
    const int rank = priceRank(bid.price);
    statistics->maxMinute = std::max(statistics->maxMinute, minuteOfDay(bid.dateTime));
    statistics->counts.bids.add(rank);
    countDistinct(*bidders_, bid.bidder, rank, statistics->counts.bidders);
    countDistinct(*auctions_, bid.auction, rank, statistics->counts.auctions);
    const int64_t day = ctx.getCurrentKey().day;
    if (day != day_ || dayText_.empty()) {
      day_ = day;
      dayText_ = formatDay(day);
    }
    out.collect(Change<Q16Row>{
        ChangeKind::kUpsert,
        Q16Row{bid.channel, dayText_, formatMinute(statistics->maxMinute), statistics->counts}});
  }

 private:
  ValueState<Q16Statistics>* statistics_ = nullptr;  // the states are owned by the backend
  MapState<int64_t, SeenFilters>* bidders_ = nullptr;
  MapState<int64_t, SeenFilters>* auctions_ = nullptr;
  int64_t day_ = 0;
  std::string dayText_;
};

class Q16 final : public Query {
 public:
  std::string_view name() const override { return "q16"; }
  std::string_view title() const override { return "Channel Statistics Report"; }
  bool updating() const override { return true; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto changes = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                       .name("Bids")
                       .map([](const NexmarkEvent& e) {
                         // The columns the query reads; url and extra are dropped before the
                         // shuffle.
                         Bid bid;
                         bid.auction = e.bid.auction;
                         bid.bidder = e.bid.bidder;
                         bid.price = e.bid.price;
                         bid.channel = e.bid.channel;
                         bid.dateTime = e.bid.dateTime;
                         return bid;
                       })
                       .name("Q16 Project")
                       .keyBy([](const Bid& b) {
                         return ChannelDay{std::string(b.channel), epochDay(b.dateTime)};
                       })
                       .process(Q16Aggregate())
                       .name("Q16 Aggregate");
    output.upsert(changes, [](const Q16Row& row) { return Q16ResultKey{row.channel, row.day}; });
    return Status::ok();
  }

  /// The loop numbers the groups and keeps one set of (group, value) pairs per distinct
  /// column.
  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    struct GroupValue {
      int64_t group = 0;
      int64_t value = 0;
      bool operator==(const GroupValue&) const = default;
    };
    auto hashOf = [](const GroupValue& key) {
      return strom::detail::hashCombine(strom::detail::murmurMix(static_cast<uint64_t>(key.group)),
                                        static_cast<uint64_t>(key.value));
    };
    strom::detail::FlatHashMap<ChannelDay, int64_t> groupIds;
    std::vector<Q16Statistics> groups;
    strom::detail::FlatHashMap<GroupValue, SeenFilters> bidders;
    strom::detail::FlatHashMap<GroupValue, SeenFilters> auctions;
    ChannelDay key;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      key.channel.assign(e.bid.channel);  // reuses the key's capacity
      key.day = epochDay(e.bid.dateTime);
      auto [id, inserted] =
          groupIds.tryEmplace(key, keyHash(key), static_cast<int64_t>(groups.size()));
      if (inserted) groups.emplace_back();
      Q16Statistics& statistics = groups[static_cast<size_t>(*id)];
      const int rank = priceRank(e.bid.price);
      statistics.maxMinute = std::max(statistics.maxMinute, minuteOfDay(e.bid.dateTime));
      statistics.counts.bids.add(rank);
      const GroupValue bidder{*id, e.bid.bidder};
      countDistinct(*bidders.tryEmplace(bidder, hashOf(bidder), SeenFilters{0}).first, rank,
                    statistics.counts.bidders);
      const GroupValue auction{*id, e.bid.auction};
      countDistinct(*auctions.tryEmplace(auction, hashOf(auction), SeenFilters{0}).first, rank,
                    statistics.counts.auctions);
    }));
    RowTally tally;
    for (auto it = groupIds.begin(); it != groupIds.end(); ++it) {
      const Q16Statistics& statistics = groups[static_cast<size_t>(it.value())];
      tally.add(Q16Row{it.key().channel, formatDay(it.key().day),
                       formatMinute(statistics.maxMinute), statistics.counts});
    }
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q16);

}  // namespace
}  // namespace strom::nexmark
