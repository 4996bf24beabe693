// Query 11: User Sessions. How many bids a user made in each session they were active: the
// bids of each bidder grouped into event-time sessions with a 10 s gap.
//   SELECT B.bidder, count(*) as bid_count,
//          SESSION_START(B.dateTime, INTERVAL '10' SECOND) as starttime,
//          SESSION_END(B.dateTime, INTERVAL '10' SECOND) as endtime
//   FROM bid B
//   GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND);
// Semantics where the SQL is loose, as Flink has them: a bid opens the window [dateTime,
// dateTime + 10 s) and windows that overlap or touch merge, so two bids exactly 10 s apart are in
// one session (TimeWindow::intersects is inclusive). starttime is the first bid's dateTime,
// endtime the last bid's dateTime + 10 s.

#include <strom/detail/flat_hash_map.h>

#include <chrono>

#include "bench/nexmark/queries/window_counts.h"
#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

constexpr int64_t kGapMs = 10'000;

class Q11 final : public Query {
 public:
  std::string_view name() const override { return "q11"; }
  std::string_view title() const override { return "User Sessions"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    // Only the bidder crosses the shuffle: the session needs nothing else of a bid.
    auto bidders = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                       .name("Bids")
                       .map([](const NexmarkEvent& e) { return e.bid.bidder; })
                       .name("Q11 Bidder");
    auto sessions = bidders.keyBy([](int64_t bidder) { return bidder; })
                        .window(EventTimeSessionWindows::withGap(std::chrono::milliseconds(kGapMs)))
                        .aggregate(CountBids{}, BidderWindowCountRow{})
                        .name("Q11 Sessions");
    output.append(sessions);
    return Status::ok();
  }

  // One open session per bidder, closed by the first bid more than the gap after its last bid
  // (or by the end of input). forEachEvent's order is timestamp order up to a few inter-event
  // delays, far below the gap, so a bid never lands before a session that is already closed.
  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    struct Session {
      int64_t start = 0;
      int64_t last = 0;
      int64_t count = 0;
    };
    detail::FlatHashMap<int64_t, Session> open;
    RowTally tally;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      const int64_t t = e.bid.dateTime;
      auto [session, inserted] =
          open.tryEmplace(e.bid.bidder, static_cast<uint64_t>(e.bid.bidder), Session{t, t, 0});
      if (!inserted && t > session->last + kGapMs) {
        tally.add(BidderWindowCount{e.bid.bidder, session->count, session->start,
                                    session->last + kGapMs});
        *session = Session{t, t, 0};
      }
      session->start = std::min(session->start, t);
      session->last = std::max(session->last, t);
      ++session->count;
    }));
    for (const auto& [bidder, session] : open) {
      tally.add(BidderWindowCount{bidder, session.count, session.start, session.last + kGapMs});
    }
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q11);

}  // namespace
}  // namespace strom::nexmark
