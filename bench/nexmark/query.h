#pragma once

// A Nexmark query for strom-nexmark: the DataStream job (the way a user writes it with the public
// API) and, next to it, the hand-written single-threaded loop that computes the same result over
// the same events, whose speed is the benchmark's yardstick. Each query lives in its own file
// under bench/nexmark/queries/ and registers itself with STROM_NEXMARK_QUERY.
//
// Results leave a job through QueryOutput: append-only queries hand it their rows, updating
// queries (q4, q9, q15-q19) a changelog of upserts and deletes by key. In result mode the rows
// become CSV lines in a file (an updating query's final table after end of input); in benchmark
// mode they go to a blackhole sink that counts and checksums them as the loop does.

#include <strom/strom.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench/nexmark/csv.h"
#include "bench/nexmark/row_checksum.h"
#include "connectors/nexmark/nexmark_config.h"
#include "connectors/nexmark/nexmark_events.h"
#include "connectors/nexmark/nexmark_generator.h"

namespace strom::nexmark {

/// What a query may read besides its events.
struct QueryContext {
  /// The whole stream: every split (numEventGenerators of them) and the seed.
  NexmarkConfig config;
  /// The parallelism of the query's operators (the source runs at min(parallelism, splits)).
  int parallelism = 1;
  /// The job's configuration, with the -D overrides (query options such as q13's side input
  /// are read from it).
  Configuration configuration;
  /// A directory the query may use for its own files (created by the harness, removed after the
  /// run unless it is the user's).
  std::string workDir;

  /// The parallelism of the source. Operators run at it chained to the source keep each split's
  /// order (at the query's parallelism they would get the events round robin).
  int sourceParallelism() const { return std::min(parallelism, config.numEventGenerators); }
};

/// The kind of a change of an updating query's result table.
enum class ChangeKind : uint8_t { kUpsert = 0, kDelete = 1 };

/// A change of an updating query's result table: insert-or-replace the row with the key of
/// `row`, or delete it.
template <class Row>
struct Change {
  ChangeKind kind = ChangeKind::kUpsert;
  Row row;
  STROM_FIELDS(kind, row)
};

/// Rows counted by a sink, across its subtasks.
struct SinkTotals {
  std::atomic<int64_t> rows{0};
  std::atomic<uint64_t> checksum{0};
  void add(const RowTally& tally) {
    rows.fetch_add(tally.rows, std::memory_order_relaxed);
    checksum.fetch_add(tally.checksum, std::memory_order_relaxed);
  }
  RowTally get() const { return RowTally{rows.load(), checksum.load()}; }
};

namespace internal {

/// Counts and checksums rows and drops them (benchmark mode; Flink's blackhole connector).
template <class T>
class BlackholeSink final : public Sink<T> {
 public:
  explicit BlackholeSink(std::shared_ptr<SinkTotals> totals) : totals_(std::move(totals)) {}
  std::unique_ptr<SinkWriter<T>> createWriter(int, int) const override {
    return std::make_unique<Writer>(totals_);
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(std::shared_ptr<SinkTotals> totals) : totals_(std::move(totals)) {}
    Status write(const RecordBatch<T>& batch) override {
      for (const T& row : batch) tally_.add(row);
      return Status::ok();
    }
    Status finish() override {
      totals_->add(tally_);
      tally_ = {};
      return Status::ok();
    }

   private:
    std::shared_ptr<SinkTotals> totals_;
    RowTally tally_;
  };
  std::shared_ptr<SinkTotals> totals_;
};

/// Writes every row as a CSV line to one file (one subtask).
template <class Row>
class CsvFileSink final : public Sink<Row> {
 public:
  CsvFileSink(std::string path, std::shared_ptr<SinkTotals> totals)
      : path_(std::move(path)), totals_(std::move(totals)) {}
  int maxParallelism() const override { return 1; }
  std::unique_ptr<SinkWriter<Row>> createWriter(int, int) const override {
    return std::make_unique<Writer>(path_, totals_);
  }

 private:
  class Writer final : public SinkWriter<Row> {
   public:
    Writer(std::string path, std::shared_ptr<SinkTotals> totals)
        : path_(std::move(path)), totals_(std::move(totals)) {}
    Status open(OperatorContext&) override { return file_.open(path_); }
    Status write(const RecordBatch<Row>& batch) override {
      text_.clear();
      for (const Row& row : batch) {
        appendCsvValue(text_, row);
        text_ += '\n';
        tally_.add(row);
      }
      return file_.append(text_);
    }
    Status finish() override {
      totals_->add(tally_);
      tally_ = {};
      return file_.close();
    }

   private:
    std::string path_;
    std::shared_ptr<SinkTotals> totals_;
    strom::detail::TextFileWriter file_;
    std::string text_;
    RowTally tally_;
  };
  std::string path_;
  std::shared_ptr<SinkTotals> totals_;
};

/// Applies a changelog to a table keyed by `KeyFn(row)` and writes the final table as CSV lines
/// at end of input (one subtask, so it sees every key).
template <class Row, class KeyFn>
class UpsertCsvFileSink final : public Sink<Change<Row>> {
 public:
  UpsertCsvFileSink(std::string path, KeyFn key, std::shared_ptr<SinkTotals> totals)
      : path_(std::move(path)), key_(std::move(key)), totals_(std::move(totals)) {}
  int maxParallelism() const override { return 1; }
  std::unique_ptr<SinkWriter<Change<Row>>> createWriter(int, int) const override {
    return std::make_unique<Writer>(path_, key_, totals_);
  }

 private:
  class Writer final : public SinkWriter<Change<Row>> {
   public:
    Writer(std::string path, KeyFn key, std::shared_ptr<SinkTotals> totals)
        : path_(std::move(path)), key_(std::move(key)), totals_(std::move(totals)) {}
    Status open(OperatorContext&) override { return file_.open(path_); }
    Status write(const RecordBatch<Change<Row>>& batch) override {
      for (const Change<Row>& change : batch) {
        std::string key;
        appendCsvValue(key, key_(change.row));
        if (change.kind == ChangeKind::kDelete) {
          table_.erase(key);
        } else {
          table_[std::move(key)] = {csvLine(change.row), rowChecksum(change.row)};
        }
      }
      return Status::ok();
    }
    Status finish() override {
      std::string text;
      RowTally tally;
      for (const auto& [key, row] : table_) {
        text += row.line;
        text += '\n';
        ++tally.rows;
        tally.checksum += row.checksum;
      }
      totals_->add(tally);
      STROM_RETURN_IF_ERROR(file_.append(text));
      return file_.close();
    }

   private:
    struct Line {
      std::string line;
      uint64_t checksum = 0;
    };
    std::string path_;
    KeyFn key_;
    std::shared_ptr<SinkTotals> totals_;
    strom::detail::TextFileWriter file_;
    std::unordered_map<std::string, Line> table_;
  };
  std::string path_;
  KeyFn key_;
  std::shared_ptr<SinkTotals> totals_;
};

}  // namespace internal

/// Where a query's results go: a CSV file (result mode) or a blackhole (benchmark mode).
class QueryOutput {
 public:
  /// Benchmark mode: rows are counted, checksummed and dropped.
  QueryOutput() = default;
  /// Result mode: rows go to the file (or, for q10, the directory) `path`.
  explicit QueryOutput(std::string path) : path_(std::move(path)) {}

  bool resultMode() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  /// What the sink received: in result mode the rows written (an updating query's final
  /// table), in benchmark mode every row or change.
  RowTally totals() const { return totals_->get(); }
  const std::shared_ptr<SinkTotals>& sinkTotals() const { return totals_; }

  /// The result of an append-only query: every row is written.
  template <class Row>
  void append(const DataStream<Row>& rows, std::string name = "Sink") const {
    if (resultMode()) {
      rows.sinkTo(std::make_shared<internal::CsvFileSink<Row>>(path_, totals_), std::move(name));
    } else {
      rows.sinkTo(std::make_shared<internal::BlackholeSink<Row>>(totals_), std::move(name));
    }
  }

  /// The result of an updating query: a changelog applied by `key(row)` (any value with CSV
  /// fields: a number, a string, a tuple-like STROM_FIELDS struct). The changes of one key must
  /// come from one subtask, in order (key the last operator by the result's key or a prefix).
  template <class Row, class KeyFn>
  void upsert(const DataStream<Change<Row>>& changes, KeyFn key, std::string name = "Sink") const {
    if (resultMode()) {
      changes.sinkTo(
          std::make_shared<internal::UpsertCsvFileSink<Row, KeyFn>>(path_, std::move(key), totals_),
          std::move(name));
    } else {
      changes.sinkTo(std::make_shared<internal::BlackholeSink<Change<Row>>>(totals_),
                     std::move(name));
    }
  }

 private:
  std::string path_;
  std::shared_ptr<SinkTotals> totals_ = std::make_shared<SinkTotals>();
};

/// One query of the suite.
class Query {
 public:
  virtual ~Query() = default;
  /// "q0" ... "q22".
  virtual std::string_view name() const = 0;
  /// The reference's title, e.g. "Pass Through".
  virtual std::string_view title() const = 0;
  /// Whether the result is a table updated in place (written after end of input).
  virtual bool updating() const { return false; }
  /// Whether the rows depend only on the events (not on processing time or scheduling): the
  /// benchmark checks the engine's rows against the loop's only then, and only for append-only
  /// queries.
  virtual bool deterministic() const { return true; }

  /// Add the query's operators after `events` (the Nexmark source, with timestamps and the
  /// dateTime - 4 s watermark) and hand its result to `output`. Operators run at the
  /// environment's parallelism (ctx.parallelism).
  virtual Status build(const QueryContext& ctx, DataStream<NexmarkEvent> events,
                       const QueryOutput& output) const = 0;

  /// The hand-written single-threaded loop: generate the same events (forEachEvent), compute the
  /// same result as fast as honest C++ can, and tally the rows an append-only query emits (for an
  /// updating query: the rows of its final table).
  virtual Result<RowTally> runLoop(const QueryContext& ctx) const = 0;
};

/// Add `query` to the suite (STROM_NEXMARK_QUERY does it at static initialization).
bool registerQuery(std::unique_ptr<Query> query);
/// Every registered query, in the order q0, q1, ..., q22.
std::vector<const Query*> allQueries();
/// The query named `name` ("q5"), or nullptr.
const Query* findQuery(std::string_view name);

#define STROM_NEXMARK_QUERY(QueryClass)                        \
  [[maybe_unused]] static const bool kRegistered##QueryClass = \
      ::strom::nexmark::registerQuery(std::make_unique<QueryClass>())

/// Generate the events of every split of `config` on this thread and call `f(event)` for each,
/// taking one event from each split in turn (so timestamps advance together, as they do in a
/// parallel source). An event and its strings are valid only during the call.
template <class F>
Status forEachEvent(const NexmarkConfig& config, F&& f) {
  STROM_ASSIGN_OR_RETURN(std::vector<NexmarkConfig> splits,
                         config.split(config.numEventGenerators));
  std::vector<NexmarkGenerator> generators;
  generators.reserve(splits.size());
  for (const NexmarkConfig& split : splits) {
    STROM_ASSIGN_OR_RETURN(NexmarkGenerator generator, NexmarkGenerator::create(split));
    generators.push_back(std::move(generator));
  }
  if (generators.size() == 1) {
    NexmarkGenerator& generator = generators.front();
    while (generator.hasNext()) f(generator.next());
    return Status::ok();
  }
  for (bool any = true; any;) {
    any = false;
    for (NexmarkGenerator& generator : generators) {
      if (!generator.hasNext()) continue;
      any = true;
      f(generator.next());
    }
  }
  return Status::ok();
}

}  // namespace strom::nexmark
