// Query 22: Get URL Directories. Every bid with the directories of its URL.
//   SELECT auction, bidder, price, channel,
//       SPLIT_INDEX(url, '/', 3) as dir1,
//       SPLIT_INDEX(url, '/', 4) as dir2,
//       SPLIT_INDEX(url, '/', 5) as dir3 FROM bid;
// SPLIT_INDEX as Flink's: the n-th (0-based) piece of the string split at every '/', empty
// pieces kept ("https://host/a" is "https:", "", "host", "a"); NULL when there are n or fewer
// pieces, and for the empty string (which has no pieces).

#include <array>

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct Q22Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  std::string_view channel;
  std::optional<std::string_view> dir1;  // into the bid's url
  std::optional<std::string_view> dir2;
  std::optional<std::string_view> dir3;
  STROM_FIELDS(auction, bidder, price, channel, dir1, dir2, dir3)
};

constexpr size_t kFirstPiece = 3;
constexpr size_t kPieces = 3;

/// SPLIT_INDEX(s, '/', kFirstPiece + i) for i in [0, kPieces), in one pass over `s`.
std::array<std::optional<std::string_view>, kPieces> splitIndexes(std::string_view s) {
  std::array<std::optional<std::string_view>, kPieces> pieces;
  if (s.empty()) return pieces;
  size_t begin = 0;
  for (size_t index = 0; index < kFirstPiece + kPieces; ++index) {
    const size_t end = s.find('/', begin);
    if (index >= kFirstPiece) {
      pieces[index - kFirstPiece] =
          s.substr(begin, end == std::string_view::npos ? s.size() - begin : end - begin);
    }
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  return pieces;
}

Q22Row toRow(const Bid& bid) {
  const auto dirs = splitIndexes(bid.url);
  return Q22Row{bid.auction, bid.bidder, bid.price, bid.channel, dirs[0], dirs[1], dirs[2]};
}

class Q22 final : public Query {
 public:
  std::string_view name() const override { return "q22"; }
  std::string_view title() const override { return "Get URL Directories"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto rows = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                    .name("Bids")
                    .map([](const NexmarkEvent& e) { return toRow(e.bid); })
                    .name("Q22 Split URL");
    output.append(rows);
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    RowTally tally;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type == EventType::kBid) tally.add(toRow(e.bid));
    }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q22);

}  // namespace
}  // namespace strom::nexmark
