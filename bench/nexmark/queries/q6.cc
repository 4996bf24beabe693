// Query 6: Average Selling Price by Seller. The average selling price of each seller's last 10
// closed auctions (Flink SQL cannot run it: its OVER window does not take the retractions of
// the Top-1 below).
//   SELECT Q.seller,
//          AVG(Q.price) OVER (PARTITION BY Q.seller ORDER BY Q.dateTime
//                             ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)
//   FROM (
//     SELECT *, ROW_NUMBER() OVER (PARTITION BY A.id, A.seller ORDER BY B.price DESC) AS rownum
//     FROM (SELECT A.id, A.seller, B.price, B.dateTime
//           FROM auction AS A, bid AS B
//           WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires)
//     WHERE rownum <= 1
//   ) AS Q;
//
// The inner query is not valid SQL as written: A and B are out of scope where ROW_NUMBER names
// them, and `WHERE rownum <= 1` filters on a column of the SELECT it belongs to. We read it as
// the text above it says: the winning bid of each closed auction (q9's winner: the highest
// valid price, then the earliest bid, then the first to arrive), and per seller the average of
// the winning prices of this auction and the seller's 10 previous closed auctions.
//
// An auction is closed when the watermark passes its `expires`: only then is its winner final
// (before that, a Top-1 would retract it, which is what the OVER window cannot take), so each
// auction contributes exactly one row, and the OVER window's order is the closing time. Q's
// `dateTime` (the winning bid's) would order the rows by a time at which the auction is still
// open, so we order by `expires`, ties by auction id (deterministic; Flink's OVER window keeps
// arrival order among equal times, which at parallelism > 1 is not). The output is append-only:
// one (seller, avg) row per closed auction with a valid bid, avg a double over the up to 11
// prices. The per-seller step buffers closed auctions until the watermark passes their `expires`
// (every auction closing at that time has then arrived, from any subtask of the join) and
// applies them in (expires, id) order.

#include <algorithm>
#include <array>
#include <vector>

#include "bench/nexmark/queries/winning_bids.h"

namespace strom::nexmark {
namespace {

/// The auction columns q6 reads.
struct Q6Auction {
  int64_t id = 0;
  int64_t dateTime = 0;
  int64_t expires = 0;
  int64_t seller = 0;
  STROM_FIELDS(id, dateTime, expires, seller)
};

using Q6Winner = WinningBid<Q6Auction, BidPrice>;

struct Q6Row {
  int64_t seller = 0;
  double avg = 0;
  STROM_FIELDS(seller, avg)
};

/// The last (up to) 11 winning prices of a seller: ROWS BETWEEN 10 PRECEDING AND CURRENT ROW.
class LastPrices {
 public:
  /// Add `price` (dropping the oldest of 11) and return the average of the prices kept.
  double add(int64_t price) {
    if (count_ == kRows) sum_ -= prices_[next_];
    prices_[next_] = price;
    sum_ += price;
    next_ = (next_ + 1) % kRows;
    count_ = std::min(count_ + 1, kRows);
    return static_cast<double>(sum_) / static_cast<double>(count_);
  }

  STROM_FIELDS(prices_, sum_, next_, count_)  // for the RocksDB backend

 private:
  static constexpr size_t kRows = 11;
  std::array<int64_t, kRows> prices_{};
  int64_t sum_ = 0;
  size_t next_ = 0;
  size_t count_ = 0;
};

/// A closed auction waiting for its turn in the seller's order.
struct ClosedAuction {
  int64_t expires = 0;
  int64_t id = 0;
  int64_t price = 0;
  STROM_FIELDS(expires, id, price)
  bool operator<(const ClosedAuction& o) const {
    return expires != o.expires ? expires < o.expires : id < o.id;
  }
};

struct SellerState {
  LastPrices last;
  std::vector<ClosedAuction> waiting;
  STROM_FIELDS(last, waiting)
};

/// The OVER window per seller, in (expires, id) order.
class SellerAverage final : public KeyedProcessFunction<int64_t, Q6Winner, Q6Row> {
 public:
  void open() override {
    state_ = &getRuntimeContext().getState(ValueStateDescriptor<SellerState>("seller"));
  }
  void processElement(const Q6Winner& winner, Context& ctx, Collector<Q6Row>&) override {
    SellerState* state = state_->valuePtrForUpdate();
    if (state == nullptr) {
      state_->update(SellerState{});
      state = state_->valuePtrForUpdate();
    }
    state->waiting.push_back(
        ClosedAuction{winner.auction.expires, winner.auction.id, winner.bid.price});
    ctx.timerService().registerEventTimeTimer(winner.auction.expires);
  }
  void onTimer(int64_t time, OnTimerContext& ctx, Collector<Q6Row>& out) override {
    SellerState* state = state_->valuePtrForUpdate();
    if (state == nullptr) return;
    std::vector<ClosedAuction>& waiting = state->waiting;
    auto due = std::partition(waiting.begin(), waiting.end(),
                              [time](const ClosedAuction& c) { return c.expires <= time; });
    std::sort(waiting.begin(), due);
    for (auto it = waiting.begin(); it != due; ++it) {
      out.collect(Q6Row{ctx.getCurrentKey(), state->last.add(it->price)});
    }
    waiting.erase(waiting.begin(), due);
  }

 private:
  ValueState<SellerState>* state_ = nullptr;
};

Q6Auction toAuction(const Auction& a) { return Q6Auction{a.id, a.dateTime, a.expires, a.seller}; }

class Q6 final : public Query {
 public:
  std::string_view name() const override { return "q6"; }
  std::string_view title() const override { return "Average Selling Price by Seller"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto [auctions, bids] = splitAuctionsAndBids(events, toAuction, toBidPrice);
    auto rows = winningBids<Q6Auction, BidPrice>(auctions, bids, WinnerEmission::kOnClose)
                    .keyBy([](const Q6Winner& w) { return w.auction.seller; })
                    .process(SellerAverage())
                    .name("Q6 Average");
    output.append(rows);
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    // The loop closes auctions in (expires, id) order, so each seller's are in that order too.
    detail::FlatHashMap<int64_t, LastPrices> sellers;
    RowTally tally;
    WinningBidLoop<Q6Auction, BidPrice> loop;
    STROM_RETURN_IF_ERROR(
        loop.run(ctx.config, toAuction, toBidPrice, [&](const Q6Auction& a, const BidPrice& b) {
          LastPrices* last = sellers.tryEmplace(a.seller, detail::mapKeyHash(a.seller)).first;
          tally.add(Q6Row{a.seller, last->add(b.price)});
        }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q6);

}  // namespace
}  // namespace strom::nexmark
