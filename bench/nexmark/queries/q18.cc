// Query 18: Find Last Bid. The last bid of each bidder on each auction: a deduplication.
//   SELECT auction, bidder, price, channel, url, dateTime, extra
//   FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC)
//                   AS rank_number
//         FROM bid)
//   WHERE rank_number <= 1;
//
// Updating, as Flink's row-time deduplication keeping the last row (RowTimeDeduplicateFunction
// without mini-batch): a bid replaces the row of its (bidder, auction) when its dateTime is at
// least the row's, so on equal dateTime the later-arriving bid wins; an older bid changes
// nothing. All bids of one (bidder, auction) come from one generator split, in order, and the
// projection runs chained to the source (so each split's order reaches the deduplication
// whatever the parallelism): the result is deterministic. The state keeps only the row's dateTime:
// an upsert needs no copy of the row it replaces.

#include <cstdint>
#include <string_view>

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct BidderAuction {
  int64_t bidder = 0;
  int64_t auction = 0;
  bool operator==(const BidderAuction&) const = default;
  STROM_FIELDS(bidder, auction)
};

struct Q18Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  std::string_view channel;
  std::string_view url;
  int64_t dateTime = 0;
  std::string_view extra;
  STROM_FIELDS(auction, bidder, price, channel, url, dateTime, extra)
};

Q18Row toRow(const Bid& bid) {
  return Q18Row{bid.auction, bid.bidder, bid.price, bid.channel, bid.url, bid.dateTime, bid.extra};
}

/// Keeps the dateTime of the last bid per (bidder, auction) and upserts each bid that is not
/// older. The emitted row points into the input batch, which outlives the operator's flush.
class Q18Deduplicate final : public KeyedProcessFunction<BidderAuction, Bid, Change<Q18Row>> {
 public:
  void open() override {
    lastTime_ = &getRuntimeContext().getState(ValueStateDescriptor<int64_t>("q18-last-time"));
  }

  void processElement(const Bid& bid, Context&, Collector<Change<Q18Row>>& out) override {
    if (int64_t* last = lastTime_->valuePtrForUpdate()) {
      if (bid.dateTime < *last) return;
      *last = bid.dateTime;
    } else {
      lastTime_->update(bid.dateTime);
    }
    out.collect(Change<Q18Row>{ChangeKind::kUpsert, toRow(bid)});
  }

 private:
  ValueState<int64_t>* lastTime_ = nullptr;  // owned by the keyed backend
};

class Q18 final : public Query {
 public:
  std::string_view name() const override { return "q18"; }
  std::string_view title() const override { return "Find Last Bid"; }
  bool updating() const override { return true; }

  Status build(const QueryContext& ctx, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto changes = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                       .name("Bids")
                       .setParallelism(ctx.sourceParallelism())
                       .map([](const NexmarkEvent& e) { return e.bid; })
                       .name("Q18 Project")
                       .setParallelism(ctx.sourceParallelism())
                       .keyBy([](const Bid& b) {
                         return BidderAuction{b.bidder, b.auction};
                       })
                       .process(Q18Deduplicate())
                       .name("Q18 Deduplicate");
    output.upsert(changes, [](const Q18Row& row) {
      return BidderAuction{row.bidder, row.auction};
    });
    return Status::ok();
  }

  /// The loop keeps, per (bidder, auction), the dateTime and the checksum of its current row,
  /// and the tally of the final table as a running sum: the rows themselves are never needed
  /// again, as with the engine's changelog into a blackhole.
  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    struct Last {
      int64_t dateTime = 0;
      uint64_t checksum = 0;
    };
    strom::detail::FlatHashMap<BidderAuction, Last> table;
    uint64_t checksum = 0;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      const BidderAuction key{e.bid.bidder, e.bid.auction};
      auto [last, inserted] = table.tryEmplace(key, keyHash(key));
      if (!inserted && e.bid.dateTime < last->dateTime) return;
      const uint64_t rowSum = rowChecksum(toRow(e.bid));
      checksum += rowSum - (inserted ? 0 : last->checksum);
      *last = Last{e.bid.dateTime, rowSum};
    }));
    return RowTally{static_cast<int64_t>(table.size()), checksum};
  }
};

STROM_NEXMARK_QUERY(Q18);

}  // namespace
}  // namespace strom::nexmark
