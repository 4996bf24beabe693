// Query 21: Add Channel Id. Bids of the well-known channels, or whose URL names a channel id,
// with that id.
//   SELECT auction, bidder, price, channel,
//       CASE
//           WHEN lower(channel) = 'apple' THEN '0'
//           WHEN lower(channel) = 'google' THEN '1'
//           WHEN lower(channel) = 'facebook' THEN '2'
//           WHEN lower(channel) = 'baidu' THEN '3'
//           ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)
//       END AS channel_id
//   FROM bid
//   WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) is not null or
//         lower(channel) in ('apple', 'google', 'facebook', 'baidu');
// REGEXP_EXTRACT as Flink's (Java's Matcher.find): the first match in the URL, its group 2;
// NULL when nothing matches. The pattern is matched by hand (channelIdOf), not with a regex
// engine: the first "channel_id=" at the start of the URL or right after a '&', and the
// characters up to the next '&' (possibly none: an empty id is not NULL). lower() folds ASCII
// letters (channel names are ASCII).

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct Q21Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  std::string_view channel;
  std::string_view channelId;  // into the bid's url, or a string literal
  STROM_FIELDS(auction, bidder, price, channel, channelId)
};

/// REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2): the id, or nullopt without a match.
std::optional<std::string_view> channelIdOf(std::string_view url) {
  constexpr std::string_view kParameter = "channel_id=";
  for (size_t at = url.find(kParameter); at != std::string_view::npos;
       at = url.find(kParameter, at + 1)) {
    if (at != 0 && url[at - 1] != '&') continue;
    const size_t begin = at + kParameter.size();
    const size_t end = url.find('&', begin);
    return url.substr(begin, end == std::string_view::npos ? url.size() - begin : end - begin);
  }
  return std::nullopt;
}

/// Whether lower(s) equals `lowerCase` (ASCII letters folded).
bool equalsLowered(std::string_view s, std::string_view lowerCase) {
  if (s.size() != lowerCase.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lowerCase[i]) return false;
  }
  return true;
}

/// The CASE: the id of a well-known channel, or nullopt for the others.
std::optional<std::string_view> knownChannelId(std::string_view channel) {
  if (equalsLowered(channel, "apple")) return "0";
  if (equalsLowered(channel, "google")) return "1";
  if (equalsLowered(channel, "facebook")) return "2";
  if (equalsLowered(channel, "baidu")) return "3";
  return std::nullopt;
}

/// The row of `bid`, or nullopt if the WHERE clause drops it. A known channel is tried first:
/// when it matches the row is kept whatever the URL holds, so the URL need not be searched.
std::optional<Q21Row> toRow(const Bid& bid) {
  std::optional<std::string_view> id = knownChannelId(bid.channel);
  if (!id) id = channelIdOf(bid.url);
  if (!id) return std::nullopt;
  return Q21Row{bid.auction, bid.bidder, bid.price, bid.channel, *id};
}

class Q21 final : public Query {
 public:
  std::string_view name() const override { return "q21"; }
  std::string_view title() const override { return "Add Channel Id"; }

  Status build(const QueryContext&, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    auto rows = events
                    .flatMap([](const NexmarkEvent& e, Collector<Q21Row>& out) {
                      if (e.type != EventType::kBid) return;
                      if (std::optional<Q21Row> row = toRow(e.bid)) out.collect(*row);
                    })
                    .name("Q21 Channel Id");
    output.append(rows);
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    RowTally tally;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      if (std::optional<Q21Row> row = toRow(e.bid)) tally.add(*row);
    }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q21);

}  // namespace
}  // namespace strom::nexmark
