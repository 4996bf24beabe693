// Query 19: Auction Top-10 Price. The ten highest bids of each auction: a top-N.
//   SELECT * FROM
//     (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number
//      FROM bid)
//   WHERE rank_number <= 10;
//
// Updating, keyed by (auction, rank_number), as Flink's AppendOnlyTopNFunction with row numbers
// computes it: a bid whose price is higher than the tenth's (or one of fewer than ten) takes
// the rank after every kept bid of a higher or EQUAL price (so among equal prices the earlier
// bid ranks first, and a bid equal to the tenth of ten is dropped); the kept bids from its rank
// on move down one rank, the tenth drops out. Each change upserts the rows of the ranks that
// changed: the new bid's and those below it. The projection runs chained to the source, so the
// bids of one split reach the top-N in their order; but the bids of one auction come from
// several splits, so which of two equal prices from different splits ranks first depends on
// arrival order: the final table is deterministic except for such ties.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

constexpr size_t kTopN = 10;

struct Q19Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  std::string_view channel;
  std::string_view url;
  int64_t dateTime = 0;
  std::string_view extra;
  int64_t rankNumber = 0;
  STROM_FIELDS(auction, bidder, price, channel, url, dateTime, extra, rankNumber)
};

/// The key of the result table.
struct Q19ResultKey {
  int64_t auction = 0;
  int64_t rankNumber = 0;
  STROM_FIELDS(auction, rankNumber)
};

/// A bid kept in an auction's top ten, owning its strings.
struct RankedBid {
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t dateTime = 0;
  std::string channel;
  std::string url;
  std::string extra;
  STROM_FIELDS(bidder, price, dateTime, channel, url, extra)

  /// Return the bid's row at rank index + 1; its strings point into this bid.
  Q19Row toRow(int64_t auction, size_t index) const {
    return Q19Row{auction, bidder,   price, channel,
                  url,     dateTime, extra, static_cast<int64_t>(index + 1)};
  }
};

/// Insert `bid` into `top` (at most kTopN bids by price, descending; equal prices in arrival
/// order). Return the index it took, or kTopN if it is not among the top.
size_t insertRanked(std::vector<RankedBid>& top, const Bid& bid) {
  size_t index = 0;
  while (index < top.size() && top[index].price >= bid.price) ++index;
  if (index >= kTopN) return kTopN;
  RankedBid ranked;
  if (top.size() == kTopN) {  // the tenth drops out; its strings' memory is reused
    ranked = std::move(top.back());
    top.pop_back();
  }
  ranked.bidder = bid.bidder;
  ranked.price = bid.price;
  ranked.dateTime = bid.dateTime;
  ranked.channel.assign(bid.channel);
  ranked.url.assign(bid.url);
  ranked.extra.assign(bid.extra);
  top.insert(top.begin() + static_cast<std::ptrdiff_t>(index), std::move(ranked));
  return index;
}

/// Keeps each auction's top ten in keyed state and upserts the ranks a bid changes.
class Q19TopN final : public KeyedProcessFunction<int64_t, Bid, Change<Q19Row>> {
 public:
  void open() override {
    top_ = &getRuntimeContext().getState(ValueStateDescriptor<std::vector<RankedBid>>("q19-top"));
  }

  void processElement(const Bid& bid, Context&, Collector<Change<Q19Row>>& out) override {
    std::vector<RankedBid>* top = top_->valuePtrForUpdate();
    if (top == nullptr) {
      top_->update({});
      top = top_->valuePtrForUpdate();
    }
    const size_t index = insertRanked(*top, bid);
    for (size_t i = index; i < top->size(); ++i) {
      // The state changes with the next bid of this auction, before the batch is handed on:
      // the row's strings go to the batch's arena.
      Q19Row row = (*top)[i].toRow(bid.auction, i);
      row.channel = out.arena().copy(row.channel);
      row.url = out.arena().copy(row.url);
      row.extra = out.arena().copy(row.extra);
      out.collect(Change<Q19Row>{ChangeKind::kUpsert, row});
    }
  }

 private:
  ValueState<std::vector<RankedBid>>* top_ = nullptr;  // owned by the keyed backend
};

class Q19 final : public Query {
 public:
  std::string_view name() const override { return "q19"; }
  std::string_view title() const override { return "Auction Top-10 Price"; }
  bool updating() const override { return true; }
  // Equal prices on one auction from different splits rank in arrival order.
  bool deterministic() const override { return false; }

  Status build(const QueryContext& ctx, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto changes = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                       .name("Bids")
                       .setParallelism(ctx.sourceParallelism())
                       .map([](const NexmarkEvent& e) { return e.bid; })
                       .name("Q19 Project")
                       .setParallelism(ctx.sourceParallelism())
                       .keyBy([](const Bid& b) { return b.auction; })
                       .process(Q19TopN())
                       .name("Q19 Top-N");
    output.upsert(changes, [](const Q19Row& row) {
      return Q19ResultKey{row.auction, row.rankNumber};
    });
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    strom::detail::FlatHashMap<int64_t, std::vector<RankedBid>> tops;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      insertRanked(*tops.tryEmplace(e.bid.auction, keyHash(e.bid.auction)).first, e.bid);
    }));
    RowTally tally;
    for (auto it = tops.begin(); it != tops.end(); ++it) {
      const std::vector<RankedBid>& top = it.value();
      for (size_t i = 0; i < top.size(); ++i) tally.add(top[i].toRow(it.key(), i));
    }
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q19);

}  // namespace
}  // namespace strom::nexmark
