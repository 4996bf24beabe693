// Query 10: Log to File System. Every bid, written to files partitioned by the date and the
// minute of its time.
//   CREATE TABLE nexmark_q10 (auction BIGINT, bidder BIGINT, price BIGINT,
//       dateTime TIMESTAMP(3), extra VARCHAR, dt STRING, hm STRING)
//   PARTITIONED BY (dt, hm) WITH ('connector' = 'filesystem', 'format' = 'csv', ...,
//       'sink.partition-commit.policy.kind' = 'success-file', ...);
//   INSERT INTO nexmark_q10
//   SELECT auction, bidder, price, dateTime, extra,
//       DATE_FORMAT(dateTime, 'yyyy-MM-dd'), DATE_FORMAT(dateTime, 'HH:mm')
//   FROM bid;
//
// The files are laid out as Flink's filesystem connector lays out a partitioned table:
// `<dir>/dt=<dt>/hm=<hm>/part-<run id>-<subtask>-<counter>`, the partition values escaped as
// Flink's PartitionPathUtils escapes them (so ':' is "%3A": "hm=12%3A26"), and the partition
// columns not repeated inside the files (Flink writes only the other columns). Lines follow the
// harness's CSV rules (csv.h: dateTime as epoch milliseconds). DATE_FORMAT is taken in UTC.
// Each writer keeps at most kMaxOpenFiles part files open; a partition whose file was closed
// gets a new part file (Flink rolls part files the same way). The 'success-file' commit policy
// writes an empty `_SUCCESS` into every partition once all writers have finished (a bounded
// job commits its partitions at end of input; the partition-time trigger is not modelled).
//
// In result mode the directory is --output; in benchmark mode the files are written under the
// work directory (a real file sink, as the reference's benchmark writes files), and the sink
// counts the rows it wrote.

#include <array>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <system_error>
#include <unordered_map>

#include "bench/nexmark/queries/date_format.h"
#include "bench/nexmark/query.h"

namespace strom::nexmark {
namespace {

struct Q10Row {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t dateTime = 0;
  std::string_view extra;
  std::string dt;  // short enough for the small-string buffer: no allocation
  std::string hm;
  STROM_FIELDS(auction, bidder, price, dateTime, extra, dt, hm)
};

/// The columns written inside the part files (the partition columns are in the path).
struct Q10FileColumns {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t dateTime = 0;
  std::string_view extra;
  STROM_FIELDS(auction, bidder, price, dateTime, extra)
};

constexpr size_t kMaxOpenFiles = 32;
constexpr size_t kFlushBytes = 64 * 1024;
constexpr std::string_view kSuccessFile = "_SUCCESS";

/// Makes rows, formatting dt and hm once per minute of event time (bids come in time order).
class Q10Select {
 public:
  Q10Row operator()(const NexmarkEvent& e) {
    const Bid& b = e.bid;
    const int64_t minute = epochDay(b.dateTime) * 1440 + minuteOfDay(b.dateTime);
    if (minute != minute_) {
      minute_ = minute;
      dt_ = formatDay(epochDay(b.dateTime));
      hm_ = formatMinute(minuteOfDay(b.dateTime));
    }
    return Q10Row{b.auction, b.bidder, b.price, b.dateTime, b.extra, dt_, hm_};
  }

 private:
  int64_t minute_ = INT64_MIN;
  std::string dt_;
  std::string hm_;
};

/// Append `value` as Flink's PartitionPathUtils.escapePathName does: control characters and
/// "#%'*/:=?\^{[]" and DEL as %XX (upper-case hex).
void appendEscapedPathName(std::string& out, std::string_view value) {
  constexpr std::string_view kEscaped = "\"#%'*/:=?\\\x7f{[]^";
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || kEscaped.find(c) != std::string_view::npos) {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
}

/// The directory of a partition, relative to the table's: "dt=2020-09-13/hm=12%3A26".
std::string partitionPath(std::string_view dt, std::string_view hm) {
  std::string path = "dt=";
  appendEscapedPathName(path, dt);
  path += "/hm=";
  appendEscapedPathName(path, hm);
  return path;
}

/// A run id for part file names, as Flink's UUID: writers of different runs into one directory
/// do not overwrite each other's files.
std::string newRunId() {
  std::random_device random;
  char text[17];
  for (int i = 0; i < 16; i += 4) {
    const uint32_t r = random();
    for (int j = 0; j < 4; ++j) text[i + j] = "0123456789abcdef"[(r >> (4 * j)) & 0xf];
  }
  text[16] = 0;
  return text;
}

/// The part files of one writer: rows go, as CSV lines, to the file of their partition.
/// Single-threaded.
class PartitionedCsvWriter {
 public:
  /// Write under `dir`, naming files `<filePrefix><counter>`.
  PartitionedCsvWriter(std::string dir, std::string filePrefix)
      : dir_(std::move(dir)), filePrefix_(std::move(filePrefix)) {}

  Status write(const Q10Row& row) {
    if (current_ == nullptr || row.dt != currentDt_ || row.hm != currentHm_) {
      STROM_ASSIGN_OR_RETURN(current_, partFile(row.dt, row.hm));
      currentDt_ = row.dt;
      currentHm_ = row.hm;
    }
    current_->lastUse = ++uses_;
    appendCsvValue(current_->buffer,
                   Q10FileColumns{row.auction, row.bidder, row.price, row.dateTime, row.extra});
    current_->buffer += '\n';
    if (current_->buffer.size() >= kFlushBytes) {
      STROM_RETURN_IF_ERROR(current_->file.append(current_->buffer));
      current_->buffer.clear();
    }
    return Status::ok();
  }

  /// Write what is buffered and close every file.
  Status finish() {
    for (auto& [path, file] : open_) STROM_RETURN_IF_ERROR(close(*file));
    open_.clear();
    current_ = nullptr;
    return Status::ok();
  }

  /// The partitions written to (paths relative to the directory).
  const std::set<std::string>& partitions() const { return partitions_; }

 private:
  struct PartFile {
    strom::detail::TextFileWriter file;
    std::string buffer;
    uint64_t lastUse = 0;
  };

  Result<PartFile*> partFile(std::string_view dt, std::string_view hm) {
    std::string partition = partitionPath(dt, hm);
    if (auto it = open_.find(partition); it != open_.end()) return it->second.get();
    if (open_.size() >= kMaxOpenFiles) {
      auto oldest = open_.begin();
      for (auto it = open_.begin(); it != open_.end(); ++it) {
        if (it->second->lastUse < oldest->second->lastUse) oldest = it;
      }
      STROM_RETURN_IF_ERROR(close(*oldest->second));
      open_.erase(oldest);
    }
    const std::filesystem::path directory = std::filesystem::path(dir_) / partition;
    std::error_code error;
    std::filesystem::create_directories(directory, error);
    if (error) {
      return Status::ioError("q10: cannot create " + directory.string() + ": " + error.message());
    }
    auto file = std::make_unique<PartFile>();
    STROM_RETURN_IF_ERROR(
        file->file.open((directory / (filePrefix_ + std::to_string(counter_++))).string()));
    partitions_.insert(partition);
    PartFile* result = file.get();
    open_.emplace(std::move(partition), std::move(file));
    return result;
  }

  static Status close(PartFile& file) {
    if (!file.buffer.empty()) STROM_RETURN_IF_ERROR(file.file.append(file.buffer));
    file.buffer.clear();
    return file.file.close();
  }

  std::string dir_;
  std::string filePrefix_;
  int64_t counter_ = 0;
  uint64_t uses_ = 0;
  std::unordered_map<std::string, std::unique_ptr<PartFile>> open_;  // by partition path
  std::set<std::string> partitions_;
  // The partition of the last row, which the next row most likely shares.
  PartFile* current_ = nullptr;
  std::string currentDt_;
  std::string currentHm_;
};

/// Write the success file into each of `partitions` of `dir`.
Status commitPartitions(const std::string& dir, const std::set<std::string>& partitions) {
  for (const std::string& partition : partitions) {
    strom::detail::TextFileWriter success;
    STROM_RETURN_IF_ERROR(
        success.open((std::filesystem::path(dir) / partition / kSuccessFile).string()));
    STROM_RETURN_IF_ERROR(success.close());
  }
  return Status::ok();
}

/// Collects the partitions of all writers of a sink; the last writer to finish commits them.
/// Shared by the writers (any thread).
class PartitionCommitter {
 public:
  explicit PartitionCommitter(std::string dir) : dir_(std::move(dir)) {}
  /// Note that a writer (of `parallelism`) finished writing `partitions`; commit every
  /// partition if it was the last.
  Status writerFinished(const std::set<std::string>& partitions, int parallelism) {
    std::lock_guard lock(mu_);
    partitions_.insert(partitions.begin(), partitions.end());
    if (++finished_ < parallelism) return Status::ok();
    return commitPartitions(dir_, partitions_);
  }

 private:
  const std::string dir_;
  std::mutex mu_;
  std::set<std::string> partitions_;  // GUARDED_BY(mu_)
  int finished_ = 0;                  // GUARDED_BY(mu_)
};

/// Flink's filesystem sink for the partitioned table (see the file comment); counts the rows it
/// writes into `totals`.
class PartitionedCsvSink final : public Sink<Q10Row> {
 public:
  PartitionedCsvSink(std::string dir, std::shared_ptr<SinkTotals> totals)
      : dir_(std::move(dir)),
        runId_(newRunId()),
        totals_(std::move(totals)),
        committer_(std::make_shared<PartitionCommitter>(dir_)) {}

  std::unique_ptr<SinkWriter<Q10Row>> createWriter(int subtaskIndex,
                                                   int parallelism) const override {
    return std::make_unique<Writer>(
        PartitionedCsvWriter(dir_, "part-" + runId_ + "-" + std::to_string(subtaskIndex) + "-"),
        parallelism, totals_, committer_);
  }

 private:
  class Writer final : public SinkWriter<Q10Row> {
   public:
    Writer(PartitionedCsvWriter files, int parallelism, std::shared_ptr<SinkTotals> totals,
           std::shared_ptr<PartitionCommitter> committer)
        : files_(std::move(files)),
          parallelism_(parallelism),
          totals_(std::move(totals)),
          committer_(std::move(committer)) {}
    Status write(const RecordBatch<Q10Row>& batch) override {
      for (const Q10Row& row : batch) {
        STROM_RETURN_IF_ERROR(files_.write(row));
        tally_.add(row);
      }
      return Status::ok();
    }
    Status finish() override {
      STROM_RETURN_IF_ERROR(files_.finish());
      totals_->add(tally_);
      tally_ = {};
      return committer_->writerFinished(files_.partitions(), parallelism_);
    }

   private:
    PartitionedCsvWriter files_;
    int parallelism_;
    std::shared_ptr<SinkTotals> totals_;
    std::shared_ptr<PartitionCommitter> committer_;
    RowTally tally_;
  };

  std::string dir_;
  std::string runId_;
  std::shared_ptr<SinkTotals> totals_;
  std::shared_ptr<PartitionCommitter> committer_;
};

bool isBid(const NexmarkEvent& e) { return e.type == EventType::kBid; }

class Q10 final : public Query {
 public:
  std::string_view name() const override { return "q10"; }
  std::string_view title() const override { return "Log to File System"; }

  Status build(const QueryContext& ctx, DataStream<NexmarkEvent> events,
               const QueryOutput& output) const override {
    const std::string dir = output.resultMode() ? output.path() : ctx.workDir + "/q10";
    auto rows = events.filter(isBid).name("Bids").map(Q10Select()).name("Q10 Partition Columns");
    rows.sinkTo(std::make_shared<PartitionedCsvSink>(dir, output.sinkTotals()),
                "Q10 Filesystem Sink");
    return Status::ok();
  }

  Result<RowTally> runLoop(const QueryContext& ctx) const override {
    const std::string dir = ctx.workDir + "/q10";
    PartitionedCsvWriter files(dir, "part-" + newRunId() + "-0-");
    Q10Select select;
    RowTally tally;
    Status written;
    STROM_RETURN_IF_ERROR(forEachEvent(ctx.config, [&](const NexmarkEvent& e) {
      if (!isBid(e) || !written.isOk()) return;
      Q10Row row = select(e);
      written = files.write(row);
      tally.add(row);
    }));
    STROM_RETURN_IF_ERROR(written);
    STROM_RETURN_IF_ERROR(files.finish());
    STROM_RETURN_IF_ERROR(commitPartitions(dir, files.partitions()));
    return tally;
  }
};

STROM_NEXMARK_QUERY(Q10);

}  // namespace
}  // namespace strom::nexmark
