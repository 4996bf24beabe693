// Query 20: Expand Bid with Auction. Every bid on a category 10 auction, with that auction.
//   SELECT auction, bidder, price, channel, url, B.dateTime, B.extra,
//       itemName, description, initialBid, reserve, A.dateTime, expires, seller, category, A.extra
//   FROM bid AS B INNER JOIN auction AS A on B.auction = A.id
//   WHERE A.category = 10;
// A regular (unbounded) inner join of two append-only streams, so its result is append-only.
// The category filter is pushed below the join onto the auctions, as Flink's planner does. The
// join is keyed by auction id: a bid whose auction has not arrived yet waits in list state (the
// streams come from several source splits, so an auction may arrive after some of its bids).
//
// State: an auction is kept for good (a bid may come at any later time: the SQL has no time
// bound, not even the auction's expiry). Auction ids are unique (the generator makes one
// auction per id), so once the auction of a key has arrived no other auction can join the
// key's waiting bids: they are emitted then and dropped at the next watermark (an event-time
// timer), once the rows that point into them have left the operator. Bids whose auction is not
// in category 10 wait forever, as they do in Flink's join (the join cannot know their auction
// was filtered out): this is the bulk of the query's state.

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct Q20Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  std::string_view channel;
  std::string_view url;
  int64_t bidDateTime = 0;
  std::string_view bidExtra;
  std::string_view itemName;
  std::string_view description;
  int64_t initialBid = 0;
  int64_t reserve = 0;
  int64_t auctionDateTime = 0;
  int64_t expires = 0;
  int64_t seller = 0;
  int64_t category = 0;
  std::string_view auctionExtra;
  STROM_FIELDS(auction, bidder, price, channel, url, bidDateTime, bidExtra, itemName, description,
               initialBid, reserve, auctionDateTime, expires, seller, category, auctionExtra)
};

/// A bid in the join's state (its auction is the key): owns its strings.
struct StoredBid {
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t dateTime = 0;
  std::string channel;
  std::string url;
  std::string extra;
  STROM_FIELDS(bidder, price, dateTime, channel, url, extra)
};

/// An auction in the join's state: owns its strings.
struct StoredAuction {
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
  STROM_FIELDS(id, itemName, description, initialBid, reserve, dateTime, expires, seller, category,
               extra)
};

StoredBid storedBid(const Bid& b) {
  return StoredBid{b.bidder,           b.price,
                   b.dateTime,         std::string(b.channel),
                   std::string(b.url), std::string(b.extra)};
}

StoredAuction storedAuction(const Auction& a) {
  return StoredAuction{a.id,
                       std::string(a.itemName),
                       std::string(a.description),
                       a.initialBid,
                       a.reserve,
                       a.dateTime,
                       a.expires,
                       a.seller,
                       a.category,
                       std::string(a.extra)};
}

/// The joined row; `Bid` and `Auction` are the event structs or the stored ones.
template <class B, class A>
Q20Row joined(int64_t auctionId, const B& b, const A& a) {
  return Q20Row{auctionId, b.bidder,   b.price,       b.channel,    b.url,     b.dateTime,
                b.extra,   a.itemName, a.description, a.initialBid, a.reserve, a.dateTime,
                a.expires, a.seller,   a.category,    a.extra};
}

bool isBid(const NexmarkEvent& e) { return e.type == EventType::kBid; }

bool selectedAuction(const NexmarkEvent& e) {
  return e.type == EventType::kAuction && e.auction.category == 10;
}

/// Bids (input 1) and category 10 auctions (input 2), both keyed by the auction id.
class Q20Join final : public KeyedCoProcessFunction<int64_t, Bid, Auction, Q20Row> {
 public:
  void open() override {
    auction_ = &getRuntimeContext().getState(ValueStateDescriptor<StoredAuction>("auction"));
    waiting_ = &getRuntimeContext().getListState(ListStateDescriptor<StoredBid>("waiting-bids"));
  }

  void processElement1(const Bid& bid, Context&, Collector<Q20Row>& out) override {
    // The row's auction strings point into the auction state, which no bid writes: they stay
    // valid until this batch's output is flushed.
    if (const StoredAuction* auction = auction_->valuePtr()) {
      out.collect(joined(bid.auction, bid, *auction));
    } else {
      waiting_->add(storedBid(bid));
    }
  }

  void processElement2(const Auction& auction, Context& ctx, Collector<Q20Row>& out) override {
    auction_->update(storedAuction(auction));
    const std::vector<StoredBid>& waiting = waiting_->get();
    if (waiting.empty()) return;
    // The rows point into the waiting bids: keep them until the rows are flushed (at the end
    // of this batch, before any watermark reaches this operator).
    for (const StoredBid& bid : waiting) out.collect(joined(auction.id, bid, auction));
    ctx.timerService().registerEventTimeTimer(ctx.timestamp());
  }

  void onTimer(int64_t, OnTimerContext&, Collector<Q20Row>&) override { waiting_->clear(); }

 private:
  ValueState<StoredAuction>* auction_ = nullptr;
  ListState<StoredBid>* waiting_ = nullptr;
};

class Q20 final : public Query {
 public:
  std::string_view name() const override { return "q20"; }
  std::string_view title() const override { return "Expand Bid with Auction"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto bids = events.filter(isBid)
                    .name("Bids")
                    .map([](const NexmarkEvent& e) { return e.bid; })
                    .name("Q20 Bid Columns");
    auto auctions = events.filter(selectedAuction)
                        .name("Q20 Category 10 Auctions")
                        .map([](const NexmarkEvent& e) { return e.auction; })
                        .name("Q20 Auction Columns");
    auto rows = bids.keyBy([](const Bid& b) { return b.auction; })
                    .connect(auctions.keyBy([](const Auction& a) { return a.id; }))
                    .process(Q20Join())
                    .name("Q20 Join");
    output.append(rows);
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    RowTally tally;
    strom::detail::FlatHashMap<int64_t, StoredAuction> auctions;
    strom::detail::FlatHashMap<int64_t, std::vector<StoredBid>> waiting;  // by auction
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (isBid(e)) {
        const Bid& b = e.bid;
        const uint64_t hash = keyHash(b.auction);
        if (const StoredAuction* auction = auctions.find(b.auction, hash)) {
          tally.add(joined(b.auction, b, *auction));
        } else {
          waiting.tryEmplace(b.auction, hash).first->push_back(storedBid(b));
        }
      } else if (selectedAuction(e)) {
        const Auction& a = e.auction;
        const uint64_t hash = keyHash(a.id);
        if (std::vector<StoredBid>* bids = waiting.find(a.id, hash)) {
          for (const StoredBid& b : *bids) tally.add(joined(a.id, b, a));
          waiting.erase(a.id, hash);
        }
        auctions.tryEmplace(a.id, hash, storedAuction(a));
      }
    }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q20);

}  // namespace
}  // namespace strom::nexmark
