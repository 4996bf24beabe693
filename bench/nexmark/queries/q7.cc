// Query 7: Highest Bid. The bids at the highest price of each 10 s window.
//   SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
//   FROM bid B
//   JOIN (SELECT MAX(price) AS maxprice, window_end as dateTime
//         FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//         GROUP BY window_start, window_end) B1
//   ON B.price = B1.maxprice
//   WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime;
// BETWEEN is inclusive at both ends: a bid at exactly window_end (which belongs to the next
// window) also joins the window if its price equals that window's maximum, so such a bid may
// appear twice (once per window whose maximum it equals).
//
// The job: the maximum price per tumbling window (windowAll), then an interval join of the
// bids with the maxima keyed by price. A window's maximum carries the window's maxTimestamp()
// = window_end - 1, so the bids that join it are those at [window_end - 10 s, window_end] =
// [t - 9999 ms, t + 1 ms] (the interval join's bounds are inclusive).
//
// Before both, each source subtask drops the bids that cannot be at their window's highest
// price: those below a higher price it already saw in the same window (a combiner, as the
// loop keeps only the bids at the running maximum). Bids at exactly a window's start are kept
// whatever their price, since they also join the previous window. The maximum of what is
// kept is the window's maximum, so the windowAll and the join see a few bids per window
// instead of every bid (without it the join buffers every bid for 10 s of event time).

#include <chrono>
#include <deque>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

constexpr int64_t kWindowMs = 10'000;

/// A bid as the join keeps it and as the result row (the join buffers bids past their batch,
/// so `extra` is owned).
struct Q7Row {
  int64_t auction = 0;
  int64_t price = 0;
  int64_t bidder = 0;
  int64_t dateTime = 0;
  std::string extra;
  STROM_FIELDS(auction, price, bidder, dateTime, extra)
};

/// The highest price of a window.
struct WindowMax {
  int64_t maxPrice = 0;
  int64_t windowEnd = 0;
  STROM_FIELDS(maxPrice, windowEnd)
};

/// Tags the window's maximum with the window's end.
class WithWindowEnd final : public ProcessAllWindowFunction<int64_t, WindowMax> {
 public:
  void process(Context& ctx, std::span<const int64_t> maxima, Collector<WindowMax>& out) override {
    for (int64_t price : maxima) out.collect(WindowMax{price, ctx.window().end});
  }
};

/// Emits the bid of each (window maximum, bid) pair.
class HighestBids final : public ProcessJoinFunction<WindowMax, Q7Row, Q7Row> {
 public:
  void processElement(const WindowMax&, const Q7Row& bid, Context&,
                      Collector<Q7Row>& out) override {
    out.collect(bid);
  }
};

/// Keeps the bids that may be at their window's highest price (see the file comment). Its
/// state is the running maximum per window of this subtask only: it prunes, so after a
/// restart (state empty) it lets more bids through, never fewer.
class MayBeHighest final : public RichFilterFunction<NexmarkEvent> {
 public:
  bool filter(const NexmarkEvent& e) override {
    if (e.type != EventType::kBid) return false;
    const int64_t t = e.bid.dateTime;
    const int64_t start = t - ((t % kWindowMs) + kWindowMs) % kWindowMs;
    if (start != currentStart_) {
      if (currentStart_ != INT64_MIN) maxByWindow_[currentStart_] = currentMax_;
      if (start > currentStart_) {
        // Keep the running maxima of the recent windows only; a bid of a window forgotten here
        // passes (the filter stays correct, only less selective).
        maxByWindow_.erase(maxByWindow_.begin(), maxByWindow_.lower_bound(start - 2 * kWindowMs));
      }
      auto it = maxByWindow_.find(start);
      currentMax_ = it == maxByWindow_.end() ? INT64_MIN : it->second;
      currentStart_ = start;
    }
    if (e.bid.price < currentMax_) return t == start;
    currentMax_ = e.bid.price;
    return true;
  }

 private:
  int64_t currentStart_ = INT64_MIN;  // the window of the last bid, and its running maximum
  int64_t currentMax_ = INT64_MIN;
  std::map<int64_t, int64_t> maxByWindow_;  // the recent windows' running maxima
};

class Q7 final : public Query {
 public:
  std::string_view name() const override { return "q7"; }
  std::string_view title() const override { return "Highest Bid"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto bids = events.filter(MayBeHighest{}).name("Q7 Bids That May Be Highest");
    auto maxima = bids.map([](const NexmarkEvent& e) { return e.bid.price; })
                      .name("Q7 Price")
                      .windowAll(TumblingEventTimeWindows::of(std::chrono::milliseconds(kWindowMs)))
                      .reduce([](int64_t a, int64_t b) { return std::max(a, b); }, WithWindowEnd{})
                      .name("Q7 Max Price");
    auto pricedBids =
        bids.map([](const NexmarkEvent& e) {
              const Bid& b = e.bid;
              return Q7Row{b.auction, b.price, b.bidder, b.dateTime, std::string(b.extra)};
            })
            .name("Q7 Bid");
    auto rows =
        maxima.keyBy([](const WindowMax& m) { return m.maxPrice; })
            .intervalJoin(pricedBids.keyBy([](const Q7Row& b) { return b.price; }))
            .between(std::chrono::milliseconds(-(kWindowMs - 1)), std::chrono::milliseconds(1))
            .process(HighestBids{})
            .name("Q7 Join");
    output.append(rows);
    return Status::ok();
  }

  // Per window: the running maximum and the bids at it, and the bids at exactly the window's
  // start (which also join the previous window). A window is emitted once the largest
  // timestamp seen is 4 s past its end, as the source's watermark would be, and at end of
  // input (forEachEvent's disorder is a few inter-event delays, far below those 4 s).
  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    struct Window {
      int64_t start = 0;
      int64_t max = INT64_MIN;
      std::vector<Q7Row> atMax;
      std::vector<Q7Row> atStart;  // bids at exactly `start`, whatever their price
    };
    std::deque<Window> windows;  // by start, ascending
    RowTally tally;
    auto toRow = [](const Bid& b) {
      return Q7Row{b.auction, b.price, b.bidder, b.dateTime, std::string(b.extra)};
    };
    // Emit the front window: its bids at the maximum, and the next window's bids at exactly
    // its end at the same price.
    auto emitFront = [&]() {
      const Window& w = windows.front();
      for (const Q7Row& row : w.atMax) tally.add(row);
      if (windows.size() > 1 && windows[1].start == w.start + kWindowMs) {
        for (const Q7Row& row : windows[1].atStart) {
          if (row.price == w.max) tally.add(row);
        }
      }
      windows.pop_front();
    };
    int64_t maxSeen = INT64_MIN;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      const Bid& b = e.bid;
      const int64_t t = b.dateTime;
      if (t > maxSeen) {
        maxSeen = t;
        while (!windows.empty() && windows.front().start + kWindowMs <= maxSeen - 4'000) {
          emitFront();
        }
      }
      const int64_t start = t - ((t % kWindowMs) + kWindowMs) % kWindowMs;
      auto it = windows.end();
      while (it != windows.begin() && std::prev(it)->start > start) --it;
      if (it == windows.begin() || std::prev(it)->start != start) {
        it = windows.insert(it, Window{});
        it->start = start;
      } else {
        --it;
      }
      Window& w = *it;
      if (b.price > w.max) {
        w.max = b.price;
        w.atMax.clear();
      }
      if (b.price == w.max) w.atMax.push_back(toRow(b));
      if (t == start) w.atStart.push_back(toRow(b));
    }));
    while (!windows.empty()) emitFront();
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q7);

}  // namespace
}  // namespace strom::nexmark
