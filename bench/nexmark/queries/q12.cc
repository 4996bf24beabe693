// Query 12: Processing Time Windows. How many bids each user makes per 10 s of processing time.
//   CREATE VIEW B AS SELECT *, PROCTIME() as p_time FROM bid;
//   SELECT bidder, count(*) as bid_count, window_start AS starttime, window_end AS endtime
//   FROM TABLE(TUMBLE(TABLE B, DESCRIPTOR(p_time), INTERVAL '10' SECOND))
//   GROUP BY bidder, window_start, window_end;
// Nondeterministic: which window a bid falls in depends on when the engine processes it.
//
// End of input: a bounded run ends long before its last processing-time window would close,
// and pending processing-time timers are dropped at end of input (as in Flink), which would
// lose every window still open. Flink SQL's window operators flush their open windows at end
// of input; the DataStream way to get the same is a trigger that fires on the window's end in
// processing time and also on the end of input. The end of input is the final watermark
// (+infinity), which reaches every operator, processing-time ones included, and fires every
// event-time timer: so the trigger also registers an event-time timer at +infinity per window
// (deleted when the window fires normally). Every bid is thus counted in exactly one row.

#include <strom/detail/flat_hash_map.h>

#include <chrono>
#include <limits>

#include "bench/nexmark/queries/window_counts.h"
#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

constexpr int64_t kWindowMs = 10'000;
constexpr int64_t kEndOfInput = std::numeric_limits<int64_t>::max();

/// Flink's ProcessingTimeTrigger that also fires (and purges) the windows still open at end of
/// input, when the final watermark fires its event-time timer at +infinity.
class ProcessingTimeOrEndOfInputTrigger final : public Trigger<int64_t, TimeWindow> {
 public:
  TriggerResult onElement(const int64_t&, int64_t, const TimeWindow& window,
                          TriggerContext<TimeWindow>& ctx) override {
    ctx.registerProcessingTimeTimer(window.maxTimestamp());
    ctx.registerEventTimeTimer(kEndOfInput);
    return TriggerResult::kContinue;
  }
  TriggerResult onEventTime(int64_t time, const TimeWindow&, TriggerContext<TimeWindow>&) override {
    return time == kEndOfInput ? TriggerResult::kFireAndPurge : TriggerResult::kContinue;
  }
  TriggerResult onProcessingTime(int64_t, const TimeWindow&, TriggerContext<TimeWindow>&) override {
    return TriggerResult::kFire;
  }
  void clear(const TimeWindow& window, TriggerContext<TimeWindow>& ctx) override {
    ctx.deleteProcessingTimeTimer(window.maxTimestamp());
    ctx.deleteEventTimeTimer(kEndOfInput);
  }
};

class Q12 final : public Query {
 public:
  std::string_view name() const override { return "q12"; }
  std::string_view title() const override { return "Processing Time Windows"; }
  bool deterministic() const override { return false; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto bidders = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                       .name("Bids")
                       .map([](const NexmarkEvent& e) { return e.bid.bidder; })
                       .name("Q12 Bidder");
    auto counts =
        bidders.keyBy([](int64_t bidder) { return bidder; })
            .window(TumblingProcessingTimeWindows::of(std::chrono::milliseconds(kWindowMs)))
            .trigger(ProcessingTimeOrEndOfInputTrigger{})
            .aggregate(CountBids{}, BidderWindowCountRow{})
            .name("Q12 Bids per Window");
    output.append(counts);
    return Status::ok();
  }

  // The counts of the current 10 s window of the wall clock (read every 1024 events, as the
  // engine reads it once per batch), emitted when the clock passes the window's end and at end
  // of input.
  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    detail::FlatHashMap<int64_t, int64_t> counts;
    RowTally tally;
    auto nowMs = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    int64_t start = 0;
    auto open = [&](int64_t now) { start = now - now % kWindowMs; };
    auto emit = [&] {
      for (const auto& [bidder, count] : counts) {
        tally.add(BidderWindowCount{bidder, count, start, start + kWindowMs});
      }
      counts.clear();
    };
    open(nowMs());
    uint32_t sinceClock = 0;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      if (++sinceClock == 1024) {
        sinceClock = 0;
        const int64_t now = nowMs();
        if (now >= start + kWindowMs) {
          emit();
          open(now);
        }
      }
      *counts.tryEmplace(e.bid.bidder, static_cast<uint64_t>(e.bid.bidder), int64_t{0}).first += 1;
    }));
    emit();
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q12);

}  // namespace
}  // namespace strom::nexmark
