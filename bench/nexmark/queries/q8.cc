// Query 8: Monitor New Users. The people who entered the system and created auctions in the
// same 10 s window.
//   SELECT P.id, P.name, P.starttime
//   FROM (SELECT id, name, window_start AS starttime, window_end AS endtime
//         FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//         GROUP BY id, name, window_start, window_end) P
//   JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
//         FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//         GROUP BY seller, window_start, window_end) A
//   ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
// Both sides are grouped (distinct) per window before the join, so a person with several
// auctions in the window is one row: the job coGroups persons and auctions per id and 10 s
// tumbling event-time window and emits each distinct (id, name) of a window once when the
// window holds at least one auction of that seller. starttime is the window's start.

#include <strom/detail/flat_hash_map.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

constexpr int64_t kWindowMs = 10'000;

int64_t windowStart(int64_t timestamp) {
  return timestamp - ((timestamp % kWindowMs) + kWindowMs) % kWindowMs;
}

struct Q8Row {
  int64_t id = 0;
  std::string name;  // owned: rows leave the window's state
  int64_t starttime = 0;
  STROM_FIELDS(id, name, starttime)
};

/// What a window keeps of a person (owning its name: window contents outlive the batch).
struct NewPerson {
  int64_t id = 0;
  std::string name;
  int64_t dateTime = 0;
  STROM_FIELDS(id, name, dateTime)
};

/// Emits each distinct person of a window once, if the window holds an auction of theirs.
struct PersonsWithAuctions {
  void operator()(std::span<const NewPerson> persons, std::span<const int64_t> sellers,
                  Collector<Q8Row>& out) const {
    if (sellers.empty()) return;
    for (size_t i = 0; i < persons.size(); ++i) {
      const NewPerson& p = persons[i];
      // GROUP BY id, name: skip a (id, name) seen earlier in this window (all share the id).
      bool seen = false;
      for (size_t j = 0; j < i && !seen; ++j) seen = persons[j].name == p.name;
      if (!seen) out.collect(Q8Row{p.id, p.name, windowStart(p.dateTime)});
    }
  }
};

class Q8 final : public Query {
 public:
  std::string_view name() const override { return "q8"; }
  std::string_view title() const override { return "Monitor New Users"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto persons =
        events.filter([](const NexmarkEvent& e) { return e.type == EventType::kPerson; })
            .name("Persons")
            .map([](const NexmarkEvent& e) {
              return NewPerson{e.person.id, std::string(e.person.name), e.person.dateTime};
            })
            .name("Q8 Person");
    auto sellers =
        events.filter([](const NexmarkEvent& e) { return e.type == EventType::kAuction; })
            .name("Auctions")
            .map([](const NexmarkEvent& e) { return e.auction.seller; })
            .name("Q8 Seller");
    auto rows = persons.coGroup(sellers)
                    .where([](const NewPerson& p) { return p.id; })
                    .equalTo([](int64_t seller) { return seller; })
                    .window(TumblingEventTimeWindows::of(std::chrono::milliseconds(kWindowMs)))
                    .apply<Q8Row>(PersonsWithAuctions{});
    output.append(rows);
    return Status::ok();
  }

  // Per window, the persons (id -> name, and whether the row was emitted) and the sellers;
  // a row is emitted as soon as both sides of it are seen. A window is dropped once the
  // stream is well past it (forEachEvent's disorder is a few inter-event delays).
  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    struct PersonEntry {
      std::string name;
      bool emitted = false;
    };
    struct Window {
      int64_t start = 0;
      detail::FlatHashMap<int64_t, PersonEntry> persons;
      detail::FlatHashMap<int64_t, char> sellers;
    };
    std::deque<Window> windows;  // by start, ascending
    int64_t maxSeen = INT64_MIN;
    RowTally tally;
    auto windowOf = [&](int64_t timestamp) -> Window& {
      const int64_t start = windowStart(timestamp);
      if (timestamp > maxSeen) {
        maxSeen = timestamp;
        while (!windows.empty() && windows.front().start + 2 * kWindowMs < maxSeen) {
          windows.pop_front();
        }
      }
      auto it = windows.end();
      while (it != windows.begin() && std::prev(it)->start > start) --it;
      if (it != windows.begin() && std::prev(it)->start == start) return *std::prev(it);
      it = windows.insert(it, Window{});
      it->start = start;
      return *it;
    };
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type == EventType::kPerson) {
        Window& w = windowOf(e.person.dateTime);
        const auto hash = static_cast<uint64_t>(e.person.id);
        auto [entry, inserted] = w.persons.tryEmplace(e.person.id, hash);
        if (!inserted) return;
        entry->name = e.person.name;
        if (w.sellers.contains(e.person.id, hash)) {
          entry->emitted = true;
          tally.add(Q8Row{e.person.id, entry->name, w.start});
        }
      } else if (e.type == EventType::kAuction) {
        Window& w = windowOf(e.auction.dateTime);
        const auto hash = static_cast<uint64_t>(e.auction.seller);
        w.sellers.tryEmplace(e.auction.seller, hash, char{1});
        PersonEntry* person = w.persons.find(e.auction.seller, hash);
        if (person != nullptr && !person->emitted) {
          person->emitted = true;
          tally.add(Q8Row{e.auction.seller, person->name, w.start});
        }
      }
    }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q8);

}  // namespace
}  // namespace strom::nexmark
