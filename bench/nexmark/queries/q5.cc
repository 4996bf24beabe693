// Query 5: Hot Items. The auctions with the most bids in each sliding window of 10 s, every 2 s.
//   SELECT AuctionBids.auction, AuctionBids.num
//   FROM (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
//         FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND,
//                        INTERVAL '10' SECOND))
//         GROUP BY auction, window_start, window_end) AS AuctionBids
//   JOIN (SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
//         FROM (SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
//               FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND,
//                              INTERVAL '10' SECOND))
//               GROUP BY auction, window_start, window_end) AS CountBids
//         GROUP BY CountBids.starttime, CountBids.endtime) AS MaxBids
//   ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime AND
//      AuctionBids.num >= MaxBids.maxn;
// The job counts the bids per auction and sliding window (incremental aggregate), then keys the
// counts by window and, when the watermark passes the window's end, emits the auctions whose
// count is the window's maximum (num >= maxn is num = maxn). Windows without bids give no row.

#include <strom/detail/flat_hash_map.h>

#include <chrono>
#include <deque>
#include <span>
#include <vector>

#include "bench/nexmark/queries/window_counts.h"
#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

constexpr int64_t kSizeMs = 10'000;
constexpr int64_t kSlideMs = 2'000;

struct Q5Row {
  int64_t auction = 0;
  int64_t num = 0;
  STROM_FIELDS(auction, num)
};

/// The bid count of an auction in a window.
struct AuctionCount {
  int64_t auction = 0;
  int64_t num = 0;
  int64_t windowEnd = 0;
  STROM_FIELDS(auction, num, windowEnd)
};

/// Tags a window's count with its auction and window.
class WithWindow final : public ProcessWindowFunction<int64_t, AuctionCount, int64_t> {
 public:
  void process(const int64_t& auction, Context& ctx, std::span<const int64_t> counts,
               Collector<AuctionCount>& out) override {
    for (int64_t num : counts) out.collect(AuctionCount{auction, num, ctx.window().end});
  }
};

/// The auctions at a window's highest count so far.
struct Leaders {
  int64_t num = 0;
  std::vector<int64_t> auctions;
  STROM_FIELDS(num, auctions)
};

/// Per window (the key): keeps the auctions with the highest count and emits them when the
/// watermark passes the window's end, when every count of the window has arrived (the window
/// operator sends a window's counts before the watermark that fired it).
class HotAuctions final : public KeyedProcessFunction<int64_t, AuctionCount, Q5Row> {
 public:
  void open() override {
    leaders_ = &getRuntimeContext().getState(ValueStateDescriptor<Leaders>("leaders"));
  }
  void processElement(const AuctionCount& count, Context& ctx, Collector<Q5Row>&) override {
    Leaders* leaders = leaders_->valuePtrForUpdate();
    if (leaders == nullptr) {
      leaders_->update(Leaders{count.num, {count.auction}});
      ctx.timerService().registerEventTimeTimer(count.windowEnd - 1);
    } else if (count.num > leaders->num) {
      leaders->num = count.num;
      leaders->auctions.assign(1, count.auction);
    } else if (count.num == leaders->num) {
      leaders->auctions.push_back(count.auction);
    }
  }
  void onTimer(int64_t, OnTimerContext&, Collector<Q5Row>& out) override {
    if (const Leaders* leaders = leaders_->valuePtr()) {
      for (int64_t auction : leaders->auctions) out.collect(Q5Row{auction, leaders->num});
    }
    leaders_->clear();
  }

 private:
  ValueState<Leaders>* leaders_ = nullptr;  // owned by the keyed backend
};

class Q5 final : public Query {
 public:
  std::string_view name() const override { return "q5"; }
  std::string_view title() const override { return "Hot Items"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto auctions = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                        .name("Bids")
                        .map([](const NexmarkEvent& e) { return e.bid.auction; })
                        .name("Q5 Auction");
    auto counts = auctions.keyBy([](int64_t auction) { return auction; })
                      .window(SlidingEventTimeWindows::of(std::chrono::milliseconds(kSizeMs),
                                                          std::chrono::milliseconds(kSlideMs)))
                      .aggregate(CountBids{}, WithWindow{})
                      .name("Q5 Bids per Auction");
    auto hot = counts.keyBy([](const AuctionCount& c) { return c.windowEnd; })
                   .process(HotAuctions{})
                   .name("Q5 Hot Auctions");
    output.append(hot);
    return Status::ok();
  }

  // Counts per auction and 2 s pane; a window is fired (its five panes summed) once the
  // largest timestamp seen is 4 s past its end, as the source's watermark would, and at end of
  // input. forEachEvent's disorder is a few inter-event delays, far below those 4 s.
  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    struct Pane {
      int64_t start = 0;
      detail::FlatHashMap<int64_t, int64_t> counts;
    };
    std::deque<Pane> panes;  // by start, ascending
    detail::FlatHashMap<int64_t, int64_t> window;
    int64_t nextEnd = INT64_MIN;  // the end of the next window to fire
    RowTally tally;

    auto fire = [&](int64_t end) {
      window.clear();
      // Sized for every key of its panes up front: keys come in the panes' slot order, which
      // would pile up in a smaller table's first slots as it grows.
      size_t keys = 0;
      for (const Pane& pane : panes) {
        if (pane.start >= end - kSizeMs && pane.start < end) keys += pane.counts.size();
      }
      window.reserve(keys);
      for (Pane& pane : panes) {
        if (pane.start < end - kSizeMs) continue;
        if (pane.start >= end) break;
        for (const auto& [auction, num] : pane.counts) {
          *window.tryEmplace(auction, static_cast<uint64_t>(auction), int64_t{0}).first += num;
        }
      }
      int64_t max = 0;
      for (const auto& [auction, num] : window) max = std::max(max, num);
      for (const auto& [auction, num] : window) {
        if (num == max) tally.add(Q5Row{auction, num});
      }
      while (!panes.empty() && panes.front().start < end + kSlideMs - kSizeMs) panes.pop_front();
    };
    // Fire the windows ending at or before `watermark` + 1 that hold panes.
    auto advance = [&](int64_t watermark) {
      while (!panes.empty()) {
        const int64_t firstEnd = panes.front().start + kSlideMs;
        if (nextEnd < firstEnd) nextEnd = firstEnd;
        if (nextEnd - 1 > watermark) return;
        fire(nextEnd);
        nextEnd += kSlideMs;
      }
    };

    int64_t maxSeen = INT64_MIN;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      const int64_t t = e.bid.dateTime;
      if (t > maxSeen) {
        maxSeen = t;
        advance(maxSeen - 4'000);
      }
      const int64_t start = t - ((t % kSlideMs) + kSlideMs) % kSlideMs;
      auto it = panes.end();
      while (it != panes.begin() && std::prev(it)->start > start) --it;
      if (it == panes.begin() || std::prev(it)->start != start) {
        it = panes.insert(it, Pane{});
        it->start = start;
      } else {
        --it;
      }
      *it->counts.tryEmplace(e.bid.auction, static_cast<uint64_t>(e.bid.auction), int64_t{0})
           .first += 1;
    }));
    advance(INT64_MAX - 1);
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q5);

}  // namespace
}  // namespace strom::nexmark
