#pragma once

// The "winning bids" core of q4, q6 and q9: auctions joined with their bids on
//   A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires   (inclusive)
// keeping, per auction, the best valid bid: the highest price, then the earliest B.dateTime, then
// the first to arrive (Flink's Top-1 keeps the row it holds when a new one ties with it).
//
// Written as a Flink user writes it: both streams keyed by auction id into a
// KeyedCoProcessFunction whose keyed state holds the auction, the best bid so far and the bids
// that came before their auction, with an event-time timer at `expires` to close the auction.
//
// Why the state may be cleaned (the source's watermark is max(dateTime) - 4 s per split, every
// split's events come in timestamp order, so nothing is late):
// - A valid bid has B.dateTime <= A.expires, so it arrives before the watermark passes `expires`:
//   when the timer at `expires` fires the winner is final and the auction's state goes.
// - A bid may arrive before its auction (bids reference auctions up to 10 ids ahead, and splits
//   run in parallel), so it waits in the state. An auction with A.dateTime <= B.dateTime arrives
//   before the watermark passes B.dateTime, so a waiting bid whose auction is still missing when
//   the watermark reaches B.dateTime can never be valid: a timer drops it then. This also drops
//   the bids that arrive after their auction closed (they have B.dateTime > A.expires).
// Neither changes the result of the unbounded join: only bids that can never join are dropped.

#include <strom/detail/flat_hash_map.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <optional>
#include <queue>
#include <utility>
#include <vector>

#include "bench/nexmark/query.h"

namespace strom::nexmark {

/// When the winning-bid core emits.
enum class WinnerEmission : uint8_t {
  /// Each time an auction's best valid bid changes (q4's running MAX per auction).
  kOnChange,
  /// Once per auction with a valid bid, when the watermark passes its `expires` (q6, q9).
  kOnClose,
};

/// The columns of a bid that the join reads (all that q4 and q6 need of a bid).
struct BidPrice {
  int64_t auction = 0;
  int64_t price = 0;
  int64_t dateTime = 0;
  STROM_FIELDS(auction, price, dateTime)
};

inline BidPrice toBidPrice(const Bid& b) { return BidPrice{b.auction, b.price, b.dateTime}; }

/// An auction and its (current or final) winning bid, as the core emits it. `A` and `B` are the
/// query's kept parts of the auction and of the bid.
template <class A, class B>
struct WinningBid {
  A auction;
  B bid;
  /// kOnChange only: the price of the winning bid this one replaces, if there was one.
  std::optional<int64_t> previousPrice;
  STROM_FIELDS(auction, bid, previousPrice)
};

/// The winning-bid join (see the file comment): auctions of type `AuctionIn` on the first input,
/// bids of type `BidIn` on the second, both keyed by auction id. The state keeps an `A` built
/// from the auction and `B`s built from bids (`A(const AuctionIn&)`, `B(const BidIn&)`); they must
/// own their bytes, as state outlives the input batch. `A` has `dateTime` and `expires`, `B` has
/// `price` and `dateTime`; `BidIn` has `price` and `dateTime` too. Emits per `emission`; on close
/// the emitted row takes the auction's state by move (the state is cleared right after).
template <class AuctionIn, class BidIn, class A, class B>
class WinningBidFunction final
    : public KeyedCoProcessFunction<int64_t, AuctionIn, BidIn, WinningBid<A, B>> {
  using Base = KeyedCoProcessFunction<int64_t, AuctionIn, BidIn, WinningBid<A, B>>;
  using Out = WinningBid<A, B>;

 public:
  explicit WinningBidFunction(WinnerEmission emission) : emission_(emission) {}

  void open() override {
    state_ = &this->getRuntimeContext().getState(ValueStateDescriptor<AuctionState>("auction"));
  }

  void processElement1(const AuctionIn& auction, typename Base::Context& ctx,
                       Collector<Out>& out) override {
    AuctionState* state = stateForUpdate();
    state->auction.emplace(auction);
    ctx.timerService().registerEventTimeTimer(state->auction->expires);
    if (state->pending.empty()) return;
    // Bids that came first, in their order of arrival. Their waiting timer is left to fire: it
    // finds the auction and does nothing.
    std::vector<B> pending = std::move(state->pending);
    state->pending = {};
    for (const B& bid : pending) offer(*state, bid, out);
  }

  void processElement2(const BidIn& bid, typename Base::Context& ctx,
                       Collector<Out>& out) override {
    AuctionState* state = state_->valuePtrForUpdate();
    if (state != nullptr && state->auction) {
      offer(*state, bid, out);
      return;
    }
    // No auction yet. Were it to have A.dateTime <= B.dateTime it would be here already.
    if (bid.dateTime <= ctx.timerService().currentWatermark()) return;
    if (state == nullptr) state = stateForUpdate();
    if (state->pending.empty()) ctx.timerService().registerEventTimeTimer(bid.dateTime);
    state->pending.emplace_back(bid);
  }

  void onTimer(int64_t time, typename Base::OnTimerContext& ctx, Collector<Out>& out) override {
    AuctionState* state = state_->valuePtrForUpdate();
    if (state == nullptr) return;
    if (state->auction) {
      if (time < state->auction->expires) return;  // a waiting bid's timer, already served
      if (emission_ == WinnerEmission::kOnClose && state->winner) {
        out.collect(Out{std::move(*state->auction), std::move(*state->winner), std::nullopt});
      }
      state_->clear();
      return;
    }
    // Waiting bids whose auction has not come by the watermark can never join.
    const int64_t watermark = ctx.timerService().currentWatermark();
    std::vector<B>& pending = state->pending;
    std::erase_if(pending, [watermark](const B& bid) { return bid.dateTime <= watermark; });
    if (pending.empty()) {
      state_->clear();
      return;
    }
    int64_t next = pending.front().dateTime;
    for (const B& bid : pending) next = std::min(next, bid.dateTime);
    ctx.timerService().registerEventTimeTimer(next);
  }

 private:
  /// The keyed state of one auction id.
  struct AuctionState {
    std::optional<A> auction;
    std::optional<B> winner;
    std::vector<B> pending;  // bids that came before the auction, in arrival order
    STROM_FIELDS(auction, winner, pending)
  };

  AuctionState* stateForUpdate() {
    AuctionState* state = state_->valuePtrForUpdate();
    if (state != nullptr) return state;
    state_->update(AuctionState{});
    return state_->valuePtrForUpdate();
  }

  /// Make `bid` the winner if it is valid and beats the current one (ties keep the current).
  template <class Candidate>
  void offer(AuctionState& state, const Candidate& bid, Collector<Out>& out) {
    const A& auction = *state.auction;
    if (bid.dateTime < auction.dateTime || bid.dateTime > auction.expires) return;
    std::optional<int64_t> previousPrice;
    if (state.winner) {
      const B& best = *state.winner;
      if (bid.price < best.price || (bid.price == best.price && bid.dateTime >= best.dateTime)) {
        return;
      }
      previousPrice = best.price;
    }
    state.winner.emplace(bid);
    if (emission_ == WinnerEmission::kOnChange) {
      out.collect(Out{auction, *state.winner, previousPrice});
    }
  }

  WinnerEmission emission_;
  ValueState<AuctionState>* state_ = nullptr;
};

/// Split the Nexmark events into auctions (mapped by `toAuction`) and bids (mapped by `toBid`) in
/// one pass: bids on the main output, auctions on a side output (one operator instead of two
/// filters that would each get a copy of every event batch).
template <class ToAuction, class ToBid>
auto splitAuctionsAndBids(const DataStream<NexmarkEvent>& events, ToAuction toAuction,
                          ToBid toBid) {
  using AuctionOut = std::decay_t<std::invoke_result_t<ToAuction&, const Auction&>>;
  using BidOut = std::decay_t<std::invoke_result_t<ToBid&, const Bid&>>;

  class Split final : public ProcessFunction<NexmarkEvent, BidOut> {
   public:
    Split(ToAuction toAuction, ToBid toBid)
        : toAuction_(std::move(toAuction)), toBid_(std::move(toBid)) {}
    void processElement(const NexmarkEvent& e,
                        typename ProcessFunction<NexmarkEvent, BidOut>::Context& ctx,
                        Collector<BidOut>& out) override {
      if (e.type == EventType::kBid) {
        out.collect(toBid_(e.bid));
      } else if (e.type == EventType::kAuction) {
        ctx.output(tag(), toAuction_(e.auction));
      }
    }
    static const OutputTag<AuctionOut>& tag() {
      static const OutputTag<AuctionOut> kTag("auctions");
      return kTag;
    }

   private:
    ToAuction toAuction_;
    ToBid toBid_;
  };

  auto bids = events.process(Split(std::move(toAuction), std::move(toBid))).name("Auctions/Bids");
  DataStream<AuctionOut> auctions = bids.getSideOutput(Split::tag());
  return std::pair<DataStream<AuctionOut>, DataStream<BidOut>>(auctions, bids);
}

/// The winning bids of the auctions in `auctions` among `bids` (see WinningBidFunction).
template <class A, class B, class AuctionIn, class BidIn>
auto winningBids(const DataStream<AuctionIn>& auctions, const DataStream<BidIn>& bids,
                 WinnerEmission emission) {
  return auctions.keyBy([](const AuctionIn& a) { return a.id; })
      .connect(bids.keyBy([](const BidIn& b) { return b.auction; }))
      .process(WinningBidFunction<AuctionIn, BidIn, A, B>(emission))
      .name("Winning Bids");
}

/// The winning-bid join as a hand-written single-threaded loop (the yardstick of q4, q6 and q9):
/// open auctions and waiting bids in flat hash maps, auctions closed in (expires, id) order once
/// the loop's watermark (the largest dateTime seen - 4 s, as the source's) passes `expires`.
/// `A` and `B` are as for WinningBidFunction; `B` is also constructible from the `BidIn`
/// that `run`'s `toBid` returns.
template <class A, class B>
class WinningBidLoop {
 public:
  /// Generate the events of `config` and call `onClose(const A&, const B&)` for each auction with
  /// a valid bid and its winner, in (expires, id) order. `toAuction(const Auction&)` returns the
  /// A to keep, `toBid(const Bid&)` a bid with `auction`, `price` and `dateTime` (B is built from
  /// it only when it must be kept).
  template <class ToAuction, class ToBid, class OnClose>
  Status run(const NexmarkConfig& config, ToAuction toAuction, ToBid toBid, OnClose onClose) {
    STROM_RETURN_IF_ERROR(forEachEvent(config, [&](const NexmarkEvent& e) {
      if (e.type == EventType::kPerson) return;
      if (e.timestamp > maxTime_) {
        maxTime_ = e.timestamp;
        advance(maxTime_ - 4000, onClose);
      }
      if (e.type == EventType::kAuction) {
        addAuction(e.auction.id, toAuction(e.auction));
      } else {
        addBid(toBid(e.bid));
      }
    }));
    advance(INT64_MAX, onClose);
    return Status::ok();
  }

 private:
  struct Open {
    A auction;
    std::optional<B> winner;
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

  /// Make `bid` the winner of `open` if it is valid and beats the current one.
  template <class Candidate>
  static void offer(Open& open, const Candidate& bid) {
    if (bid.dateTime < open.auction.dateTime || bid.dateTime > open.auction.expires) return;
    if (open.winner &&
        (bid.price < open.winner->price ||
         (bid.price == open.winner->price && bid.dateTime >= open.winner->dateTime))) {
      return;
    }
    open.winner.emplace(bid);
  }

  void addAuction(int64_t id, A auction) {
    const uint64_t hash = detail::mapKeyHash(id);
    const int64_t expires = auction.expires;
    Open* open = open_.tryEmplace(id, hash, Open{std::move(auction), std::nullopt}).first;
    expiries_.push(Expiry{expires, id});
    if (std::vector<B>* bids = pending_.find(id, hash)) {
      for (const B& bid : *bids) offer(*open, bid);
      pending_.erase(id, hash);
    }
  }

  template <class BidIn>
  void addBid(const BidIn& bid) {
    const uint64_t hash = detail::mapKeyHash(bid.auction);
    if (Open* open = open_.find(bid.auction, hash)) {
      offer(*open, bid);
    } else if (bid.dateTime > maxTime_ - 4000) {
      // Its auction may still come (or has closed: then the bid is dropped with the waiting).
      pending_.tryEmplace(bid.auction, hash).first->emplace_back(bid);
      waiting_.push_back(Waiting{bid.dateTime, bid.auction});
    }
  }

  /// Close the auctions that expired at or before `watermark`; drop the waiting bids that can
  /// no longer meet their auction.
  template <class OnClose>
  void advance(int64_t watermark, OnClose& onClose) {
    while (!expiries_.empty() && expiries_.top().expires <= watermark) {
      const int64_t id = expiries_.top().id;
      expiries_.pop();
      const uint64_t hash = detail::mapKeyHash(id);
      Open* open = open_.find(id, hash);
      if (open->winner) onClose(open->auction, *open->winner);
      open_.erase(id, hash);
    }
    while (!waiting_.empty() && waiting_.front().dateTime <= watermark) {
      const int64_t id = waiting_.front().auction;
      waiting_.pop_front();
      const uint64_t hash = detail::mapKeyHash(id);
      std::vector<B>* bids = pending_.find(id, hash);
      if (bids == nullptr) continue;
      std::erase_if(*bids, [watermark](const B& b) { return b.dateTime <= watermark; });
      if (bids->empty()) pending_.erase(id, hash);
    }
  }

  detail::FlatHashMap<int64_t, Open> open_;
  detail::FlatHashMap<int64_t, std::vector<B>> pending_;  // bids before their auction
  std::deque<Waiting> waiting_;                           // the pending bids, by arrival
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiries_;
  int64_t maxTime_ = INT64_MIN;
};

}  // namespace strom::nexmark
