// Query 3: Local Item Suggestion. Who is selling in OR, ID or CA in category 10, and for what
// auction ids?
//   SELECT P.name, P.city, P.state, A.id
//   FROM auction AS A INNER JOIN person AS P on A.seller = P.id
//   WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
// A regular (unbounded) inner join of two append-only streams, so its result is append-only.
// The filters are pushed below the join as Flink's planner does (category 10 auctions; persons
// of OR, ID, CA), and only the columns the join needs travel to it. The join is keyed by
// seller = person id: an auction whose seller has not arrived yet waits in list state (the
// streams come from several source splits, so a seller may arrive after his auction).
//
// State: a person is kept for good (an auction of his may come at any later time: the SQL has
// no time bound). Person ids are unique (the generator makes one person per id), so once the
// person of a key has arrived no other person can join that key's waiting auctions: they are
// emitted and dropped then. Auctions whose seller never passes the person filter wait forever,
// as they do in Flink's join (the join cannot know the seller was filtered out).

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct Q3Row {
  std::string_view name;
  std::string_view city;
  std::string_view state;
  int64_t id = 0;
  STROM_FIELDS(name, city, state, id)
};

/// The columns of a category 10 auction that the join needs.
struct SellerAuction {
  int64_t id = 0;
  int64_t seller = 0;
  STROM_FIELDS(id, seller)
};

/// The columns of a person of OR, ID or CA that the join needs.
struct LocalPerson {
  int64_t id = 0;
  std::string_view name;
  std::string_view city;
  std::string_view state;
  STROM_FIELDS(id, name, city, state)
};

/// A person in the join's state: owns its strings.
struct StoredPerson {
  std::string name;
  std::string city;
  std::string state;
  STROM_FIELDS(name, city, state)
};

bool selectedAuction(const NexmarkEvent& e) {
  return e.type == EventType::kAuction && e.auction.category == 10;
}

bool selectedPerson(const NexmarkEvent& e) {
  if (e.type != EventType::kPerson) return false;
  const std::string_view state = e.person.state;
  return state == "OR" || state == "ID" || state == "CA";
}

/// Auctions (input 1) and persons (input 2), both keyed by the person id.
class Q3Join final : public KeyedCoProcessFunction<int64_t, SellerAuction, LocalPerson, Q3Row> {
 public:
  void open() override {
    person_ = &getRuntimeContext().getState(ValueStateDescriptor<StoredPerson>("person"));
    waiting_ = &getRuntimeContext().getListState(ListStateDescriptor<int64_t>("waiting-auctions"));
  }

  void processElement1(const SellerAuction& auction, Context&, Collector<Q3Row>& out) override {
    // The row's strings point into the person state, which no auction writes: they stay valid
    // until this batch's output is flushed.
    if (const StoredPerson* person = person_->valuePtr()) {
      out.collect(Q3Row{person->name, person->city, person->state, auction.id});
    } else {
      waiting_->add(auction.id);
    }
  }

  void processElement2(const LocalPerson& person, Context&, Collector<Q3Row>& out) override {
    for (int64_t auctionId : waiting_->get()) {
      out.collect(Q3Row{person.name, person.city, person.state, auctionId});
    }
    waiting_->clear();
    person_->update(StoredPerson{std::string(person.name), std::string(person.city),
                                 std::string(person.state)});
  }

 private:
  ValueState<StoredPerson>* person_ = nullptr;
  ListState<int64_t>* waiting_ = nullptr;
};

class Q3 final : public Query {
 public:
  std::string_view name() const override { return "q3"; }
  std::string_view title() const override { return "Local Item Suggestion"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto auctions = events.filter(selectedAuction)
                        .name("Q3 Category 10 Auctions")
                        .map([](const NexmarkEvent& e) {
                          return SellerAuction{e.auction.id, e.auction.seller};
                        })
                        .name("Q3 Auction Columns");
    auto persons =
        events.filter(selectedPerson)
            .name("Q3 OR/ID/CA Persons")
            .map([](const NexmarkEvent& e) {
              return LocalPerson{e.person.id, e.person.name, e.person.city, e.person.state};
            })
            .name("Q3 Person Columns");
    auto rows = auctions.keyBy([](const SellerAuction& a) { return a.seller; })
                    .connect(persons.keyBy([](const LocalPerson& p) { return p.id; }))
                    .process(Q3Join())
                    .name("Q3 Join");
    output.append(rows);
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    RowTally tally;
    strom::detail::FlatHashMap<int64_t, StoredPerson> persons;
    strom::detail::FlatHashMap<int64_t, std::vector<int64_t>> waiting;  // by seller
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (selectedAuction(e)) {
        const uint64_t hash = keyHash(e.auction.seller);
        if (const StoredPerson* person = persons.find(e.auction.seller, hash)) {
          tally.add(Q3Row{person->name, person->city, person->state, e.auction.id});
        } else {
          waiting.tryEmplace(e.auction.seller, hash).first->push_back(e.auction.id);
        }
      } else if (selectedPerson(e)) {
        const Person& p = e.person;
        const uint64_t hash = keyHash(p.id);
        if (std::vector<int64_t>* auctions = waiting.find(p.id, hash)) {
          for (int64_t auctionId : *auctions) tally.add(Q3Row{p.name, p.city, p.state, auctionId});
          waiting.erase(p.id, hash);
        }
        persons.tryEmplace(
            p.id, hash,
            StoredPerson{std::string(p.name), std::string(p.city), std::string(p.state)});
      }
    }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q3);

}  // namespace
}  // namespace strom::nexmark
