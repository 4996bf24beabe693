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

#include <strom/detail/flat_hash_map.h>

#include <algorithm>
#include <deque>
#include <queue>
#include <string>
#include <vector>

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
    struct Open {
      Q9Auction auction;
      bool hasWinner = false;
      Q9Bid winner;
    };
    struct Waiting {
      int64_t dateTime;
      int64_t auction;
    };
    struct Expiry {
      int64_t expires;
      int64_t id;
      bool operator>(const Expiry& o) const {
        return expires != o.expires ? expires > o.expires : id > o.id;
      }
    };
    detail::FlatHashMap<int64_t, Open> open;
    detail::FlatHashMap<int64_t, std::vector<Q9Bid>> pending;  // bids before their auction
    std::deque<Waiting> waitingOrder;                          // pending bids by arrival
    std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiries;
    RowTally tally;
    int64_t maxTime = INT64_MIN;

    auto offer = [](Open& o, const Q9BidIn& b) {
      if (b.dateTime < o.auction.dateTime || b.dateTime > o.auction.expires) return;
      if (o.hasWinner && (b.price < o.winner.price ||
                          (b.price == o.winner.price && b.dateTime >= o.winner.dateTime))) {
        return;
      }
      o.hasWinner = true;
      o.winner.auction = b.auction;
      o.winner.bidder = b.bidder;
      o.winner.price = b.price;
      o.winner.dateTime = b.dateTime;
      o.winner.extra.assign(b.extra);
    };
    auto offerOwned = [&](Open& o, const Q9Bid& b) {
      offer(o, Q9BidIn{b.auction, b.bidder, b.price, b.dateTime, b.extra});
    };
    // Close the auctions that expired at or before `watermark`; drop waiting bids that can no
    // longer meet their auction.
    auto advance = [&](int64_t watermark) {
      while (!expiries.empty() && expiries.top().expires <= watermark) {
        const int64_t id = expiries.top().id;
        expiries.pop();
        const uint64_t hash = detail::mapKeyHash(id);
        Open* o = open.find(id, hash);
        if (o->hasWinner) tally.add(toRow(o->auction, o->winner));
        open.erase(id, hash);
      }
      while (!waitingOrder.empty() && waitingOrder.front().dateTime <= watermark) {
        const int64_t id = waitingOrder.front().auction;
        waitingOrder.pop_front();
        const uint64_t hash = detail::mapKeyHash(id);
        std::vector<Q9Bid>* bids = pending.find(id, hash);
        if (bids == nullptr) continue;
        std::erase_if(*bids, [watermark](const Q9Bid& b) { return b.dateTime <= watermark; });
        if (bids->empty()) pending.erase(id, hash);
      }
    };

    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type == EventType::kPerson) return;
      if (e.timestamp > maxTime) {
        maxTime = e.timestamp;
        advance(maxTime - 4000);  // the source's watermark
      }
      if (e.type == EventType::kAuction) {
        const uint64_t hash = detail::mapKeyHash(e.auction.id);
        auto [o, inserted] = open.tryEmplace(e.auction.id, hash);
        o->auction = Q9Auction(e.auction);
        expiries.push(Expiry{e.auction.expires, e.auction.id});
        if (std::vector<Q9Bid>* bids = pending.find(e.auction.id, hash)) {
          for (const Q9Bid& b : *bids) offerOwned(*o, b);
          pending.erase(e.auction.id, hash);
        }
        return;
      }
      const Bid& b = e.bid;
      const uint64_t hash = detail::mapKeyHash(b.auction);
      if (Open* o = open.find(b.auction, hash)) {
        offer(*o, toBidIn(b));
      } else if (b.dateTime > maxTime - 4000) {
        auto [bids, inserted] = pending.tryEmplace(b.auction, hash);
        bids->emplace_back(toBidIn(b));
        waitingOrder.push_back(Waiting{b.dateTime, b.auction});
      }
    }));
    advance(INT64_MAX);
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q9);

}  // namespace
}  // namespace strom::nexmark
