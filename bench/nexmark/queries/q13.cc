// Query 13: Bounded Side Input Join. Every bid enriched with the value of its auction's bucket
// from a small, static lookup table (stream enrichment).
//   CREATE TABLE side_input (key BIGINT, `value` VARCHAR)
//     WITH ('connector.type' = 'filesystem', 'connector.path' = '.../side_input.txt',
//           'format.type' = 'csv');
//   SELECT B.auction, B.bidder, B.price, B.dateTime, S.`value`
//   FROM (SELECT *, PROCTIME() as p_time FROM bid) B
//   JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S
//   ON mod(B.auction, 10000) = S.key;
//
// The side input is a CSV file of `key,value` lines, named by the option
// `-D nexmark.q13.side-input=PATH`. Without it the query writes the reference's table into its
// work directory: 10,000 rows, key i and value "i" for i in 0..9999. Empty lines are skipped; a
// value may be quoted as in RFC 4180. A key that occurs on several lines matches once per line
// (a lookup join emits every matching row of the table). A missing or malformed file fails the
// job with a message naming the file and the line.
//
// The join is a processing-time temporal join with a table that never changes, so its rows are
// deterministic. It is written as a Flink user writes a lookup of a small table: a
// RichFlatMapFunction loads the file into a hash map in open() (every subtask its own copy) and
// looks each bid up. An inner join: a bid whose bucket is not in the table is dropped (none is,
// with the default table). mod() is SQL's MOD, which keeps the dividend's sign (as C++'s %).

#include <algorithm>
#include <charconv>
#include <fstream>
#include <span>

#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct Q13Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t dateTime = 0;
  std::string_view value;  // into the side input held by the lookup function
  STROM_FIELDS(auction, bidder, price, dateTime, value)
};

constexpr std::string_view kSideInputOption = "nexmark.q13.side-input";
constexpr int64_t kSideInputRows = 10'000;

/// The side input table: the values of each key, in file order.
class SideInput {
 public:
  /// Load the CSV file at `path` (see the file comment for its format).
  static Result<SideInput> load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::notFound("q13 side input '" + path + "': cannot open the file");
    std::vector<std::pair<int64_t, std::string>> rows;
    std::string line;
    for (int64_t number = 1; std::getline(in, line); ++number) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      auto where = [&] { return "q13 side input '" + path + "', line " + std::to_string(number); };
      const size_t comma = line.find(',');
      if (comma == std::string::npos) {
        return Status::invalidArgument(where() + ": expected 'key,value', got '" + line + "'");
      }
      int64_t key = 0;
      const char* keyEnd = line.data() + comma;
      auto [end, ec] = std::from_chars(line.data(), keyEnd, key);
      if (ec != std::errc() || end != keyEnd) {
        return Status::invalidArgument(where() + ": the key '" + line.substr(0, comma) +
                                       "' is not a BIGINT");
      }
      std::optional<std::string> value = unquote(std::string_view(line).substr(comma + 1));
      if (!value) {
        return Status::invalidArgument(where() + ": malformed quoted value '" +
                                       line.substr(comma + 1) + "'");
      }
      rows.emplace_back(key, std::move(*value));
    }
    if (in.bad()) return Status::ioError("q13 side input '" + path + "': read error");
    return SideInput(std::move(rows));
  }

  /// The values of `key`; empty if the table has none.
  std::span<const std::string> lookup(int64_t key) const {
    const Range* range = index_.find(key, keyHash(key));
    if (range == nullptr) return {};
    return std::span<const std::string>(values_).subspan(range->begin, range->count);
  }

 private:
  struct Range {
    uint32_t begin = 0;
    uint32_t count = 0;
  };

  explicit SideInput(std::vector<std::pair<int64_t, std::string>> rows) {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    values_.reserve(rows.size());
    for (auto& [key, value] : rows) {
      auto [range, inserted] =
          index_.tryEmplace(key, keyHash(key), Range{static_cast<uint32_t>(values_.size()), 0});
      ++range->count;
      values_.push_back(std::move(value));
    }
  }

  /// A CSV field: as is, or unquoted ("a""b" is a"b); nullopt if its quotes are malformed.
  static std::optional<std::string> unquote(std::string_view field) {
    if (field.empty() || field.front() != '"') return std::string(field);
    std::string out;
    for (size_t i = 1; i < field.size(); ++i) {
      if (field[i] != '"') {
        out += field[i];
      } else if (i + 1 < field.size() && field[i + 1] == '"') {
        out += '"';
        ++i;
      } else {
        return i + 1 == field.size() ? std::optional<std::string>(std::move(out)) : std::nullopt;
      }
    }
    return std::nullopt;  // no closing quote
  }

  strom::detail::FlatHashMap<int64_t, Range> index_;
  std::vector<std::string> values_;  // grouped by key
};

/// The side input file: the option's, or the reference's table written into the work directory.
Result<std::string> sideInputPath(const QueryContext& ctx) {
  if (std::optional<std::string> path = ctx.configuration.getString(kSideInputOption)) {
    return *path;
  }
  const std::string path = ctx.workDir + "/side_input.txt";
  std::string text;
  for (int64_t i = 0; i < kSideInputRows; ++i) {
    text += std::to_string(i);
    text += ',';
    text += std::to_string(i);
    text += '\n';
  }
  strom::detail::TextFileWriter file;
  STROM_RETURN_IF_ERROR(file.open(path));
  STROM_RETURN_IF_ERROR(file.append(text));
  STROM_RETURN_IF_ERROR(file.close());
  return path;
}

/// The side input bucket of a bid: mod(auction, 10000).
int64_t bucketOf(const Bid& bid) { return bid.auction % kSideInputRows; }

/// Joins each bid with the side input, which every subtask loads in open().
class Q13Lookup final : public RichFlatMapFunction<NexmarkEvent, Q13Row> {
 public:
  explicit Q13Lookup(std::string path) : path_(std::move(path)) {}
  /// A copy (one per subtask) takes the path only: it loads its own table in open().
  Q13Lookup(const Q13Lookup& other) : RichFlatMapFunction(other), path_(other.path_) {}

  void open() override {
    Result<SideInput> table = SideInput::load(path_);
    if (!table.isOk()) throw std::runtime_error(table.status().message());
    table_ = std::move(*table);
  }

  void flatMap(const NexmarkEvent& e, Collector<Q13Row>& out) override {
    const Bid& b = e.bid;
    for (const std::string& value : table_->lookup(bucketOf(b))) {
      out.collect(Q13Row{b.auction, b.bidder, b.price, b.dateTime, value});
    }
  }

 private:
  std::string path_;
  std::optional<SideInput> table_;
};

class Q13 final : public Query {
 public:
  std::string_view name() const override { return "q13"; }
  std::string_view title() const override { return "Bounded Side Input Join"; }

  Status build(const QueryContext& ctx, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    STROM_ASSIGN_OR_RETURN(std::string path, sideInputPath(ctx));
    auto rows = events.filter([](const NexmarkEvent& e) { return e.type == EventType::kBid; })
                    .name("Bids")
                    .flatMap(Q13Lookup(std::move(path)))
                    .name("Q13 Side Input Join");
    output.append(rows);
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    STROM_ASSIGN_OR_RETURN(std::string path, sideInputPath(ctx));
    STROM_ASSIGN_OR_RETURN(SideInput table, SideInput::load(path));
    RowTally tally;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (e.type != EventType::kBid) return;
      const Bid& b = e.bid;
      for (const std::string& value : table.lookup(bucketOf(b))) {
        tally.add(Q13Row{b.auction, b.bidder, b.price, b.dateTime, value});
      }
    }));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q13);

}  // namespace
}  // namespace strom::nexmark
