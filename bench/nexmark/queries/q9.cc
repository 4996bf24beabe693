// Query 9: Winning Bids. The winning bid of each auction.
//   SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category,
//          extra, auction, bidder, price, bid_dateTime, bid_extra
//   FROM (
//     SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
//       ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rownum
//     FROM auction A, bid B
//     WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//   )
//   WHERE rownum <= 1;
//
// Semantics: one row per auction with at least one valid bid (BETWEEN inclusive); the winner is
// the highest price, then the earliest bid dateTime, then the bid that reached the join first
// (Flink's Top-1 keeps its row on a tie). Bids that came before their auction are joined in
// their order of arrival when it comes (Flink's join state has no order there).
//
// Emission: Flink emits an upsert by auction id each time the winner changes. This job emits
// each auction's row once, when the watermark passes `expires` (winning_bids.h): a valid bid has
// B.dateTime <= A.expires and nothing is late w.r.t. the watermark, so no bid can change the
// winner after that, and at end of input the watermark goes to +infinity, closing every
// auction. The final table is Flink's, and the result is append-only (one row per auction id),
// so it goes out through output.append and the benchmark checks the engine's rows against the
// loop's.

#include <string>

#include "bench/nexmark/queries/winning_bids.h"

namespace strom::nexmark {
namespace {

/// The auction as the join keeps it: every column, strings owned.
struct Q9Auction {
  int64_t id = 0;
  std::string itemName;
  std::string description;
  int64_t initialBid = 0;
  int64_t reserve = 0;
  int64_t dateTime = 0;
  int64_t expires = 0;
  int64_t seller = 0;
  int64_t category = 0;
  std::string extra;

  Q9Auction() = default;
  explicit Q9Auction(const Auction& a)
      : id(a.id),
        itemName(a.itemName),
        description(a.description),
        initialBid(a.initialBid),
        reserve(a.reserve),
        dateTime(a.dateTime),
        expires(a.expires),
        seller(a.seller),
        category(a.category),
        extra(a.extra) {}
  STROM_FIELDS(id, itemName, description, initialBid, reserve, dateTime, expires, seller, category,
               extra)
};

/// The bid columns q9 reads, as they cross the network (strings in the batch's arena).
struct Q9BidIn {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t dateTime = 0;
  std::string_view extra;
  STROM_FIELDS(auction, bidder, price, dateTime, extra)
};

/// A bid as the join keeps it (strings owned).
struct Q9Bid {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t dateTime = 0;
  std::string extra;

  Q9Bid() = default;
  explicit Q9Bid(const Q9BidIn& b)
      : auction(b.auction),
        bidder(b.bidder),
        price(b.price),
        dateTime(b.dateTime),
        extra(b.extra) {}
  STROM_FIELDS(auction, bidder, price, dateTime, extra)
};

struct Q9Row {
  int64_t id = 0;
  std::string_view itemName;
  std::string_view description;
  int64_t initialBid = 0;
  int64_t reserve = 0;
  int64_t dateTime = 0;
  int64_t expires = 0;
  int64_t seller = 0;
  int64_t category = 0;
  std::string_view extra;
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t bid_dateTime = 0;
  std::string_view bid_extra;
  STROM_FIELDS(id, itemName, description, initialBid, reserve, dateTime, expires, seller, category,
               extra, auction, bidder, price, bid_dateTime, bid_extra)
};

/// The row of `a` won by `b`; it points into their strings.
Q9Row toRow(const Q9Auction& a, const Q9Bid& b) {
  return Q9Row{a.id,       a.itemName, a.description, a.initialBid, a.reserve,
               a.dateTime, a.expires,  a.seller,      a.category,   a.extra,
               b.auction,  b.bidder,   b.price,       b.dateTime,   b.extra};
}

Q9BidIn toBidIn(const Bid& b) { return Q9BidIn{b.auction, b.bidder, b.price, b.dateTime, b.extra}; }

class Q9 final : public Query {
 public:
  std::string_view name() const override { return "q9"; }
  std::string_view title() const override { return "Winning Bids"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto [auctions, bids] = splitAuctionsAndBids(
        events, [](const Auction& a) { return a; }, toBidIn);
    // The row points into the strings of the winner record, which the chained map's output
    // batch is handed on before that record's batch is cleared.
    auto rows =
        winningBids<Q9Auction, Q9Bid>(auctions, bids, WinnerEmission::kOnClose)
            .map([](const WinningBid<Q9Auction, Q9Bid>& w) { return toRow(w.auction, w.bid); })
            .name("Q9 Select");
    output.append(rows);
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    RowTally tally;
    WinningBidLoop<Q9Auction, Q9Bid> loop;
    STROM_RETURN_IF_ERROR(loop.run(
        ctx.config, [](const Auction& a) { return Q9Auction(a); }, toBidIn,
        [&](const Q9Auction& a, const Q9Bid& b) { tally.add(toRow(a, b)); }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q9);

}  // namespace
}  // namespace strom::nexmark
