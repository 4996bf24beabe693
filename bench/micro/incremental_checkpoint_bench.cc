// The bytes RocksDB checkpoints write with full and with incremental checkpoints, on a keyed
// job of about 1 GB of state whose updates touch a small fraction of its keys between two
// checkpoints; and whether the files of subsumed checkpoints leave `shared/`.
//
// The job, on an embedded MiniCluster of one TaskManager: a gated sequence source → keyBy →
// reduce keeping the latest value of each key (a pseudo-random, incompressible payload of
// --value-bytes) → a sink that counts. For each mode (full, then incremental):
//
//   1. Load: values 0..keys-1 write every key once; then a checkpoint triggered after the last
//      of them reached the sink is awaited (its metadata's trigger timestamp, on the system
//      clock the JobManager of a MiniCluster uses). RocksDB then goes on compacting what the
//      load wrote: the bench waits (at most --settle-s) until three checkpoints in a row hold
//      the same RocksDB files, so that the updates' figures count their own uploads only.
//   2. Updates: --updates batches, each writing --update-fraction of the keys (spread over the
//      key space); after each, a checkpoint triggered after the batch reached the sink.
//   3. End: one more batch, the last values of the source, is released; the job finishes (its
//      final checkpoint), and every file in `<job>/shared/` must be referenced by a retained
//      checkpoint. The files that are not when waitForJobTermination returns are listed; if any
//      is still there 10 s later, the program exits with 1 ("shared_clean" says which).
//
// A checkpoint's figures come from its `_metadata`, polled with checkpoint::findLatestCompleted:
// "referenced" sums the distinct shared files (the SST files) its handles name; an upload is
// named "shared/<store>-c<checkpoint>-<file>" (runtime/task/keyed_store.cc), so "own" sums
// those the checkpoint uploaded itself, and "interval" those uploaded by every checkpoint since
// the previous line (one or two checkpoints see a batch). "inline" is what it wrote into
// `chk-<n>/` (the RocksDB MANIFEST, CURRENT and OPTIONS, and the source positions).
//
//   incremental_checkpoint_bench [--keys 1000000] [--value-bytes 1000] [--updates 5]
//       [--update-fraction 0.01] [--interval-ms 1000] [--modes full,incremental]
//       [--settle-s 120] [--timeout-s 600] [--verbose]
//
// All its directories are in a mkdtemp directory below /tmp, removed at the end.

#include <stdlib.h>
#include <strom/strom.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint_storage.h"
#include "common/logging.h"
#include "graph/job_graph.h"
#include "graph/stream_graph.h"
#include "runtime/minicluster/mini_cluster.h"

namespace strom {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto kPollInterval = std::chrono::milliseconds(10);
/// How long after the job ended the files of subsumed checkpoints may stay in `shared/`.
constexpr auto kSettleTimeout = std::chrono::seconds(10);

struct Flags {
  int64_t keys = 1000000;
  int64_t valueBytes = 1000;
  int updates = 5;
  double updateFraction = 0.01;
  int64_t intervalMs = 1000;
  int64_t timeoutSeconds = 600;  // for each wait
  int64_t settleSeconds = 120;   // wait for RocksDB to go idle after the load; 0: do not
  bool verbose = false;          // the engine's info log lines (else warnings and errors only)
  std::vector<std::string> modes{"full", "incremental"};
};

/// What the source may emit: the values below `allowed`, and it ends after the values below
/// `total`. The bench raises `allowed` batch by batch.
struct Gate {
  std::atomic<int64_t> allowed{0};
  std::atomic<int64_t> total{0};
};

/// Emits 0, 1, 2, ... up to the gate (subtask s of p: s, s + p, ...), at most one batch per
/// call. Its position is the next value; the bench never restores.
class GatedCounter final : public Source<int64_t> {
 public:
  explicit GatedCounter(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  std::unique_ptr<SourceReader<int64_t>> createReader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(gate_, subtask, parallelism);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(std::shared_ptr<Gate> gate, int subtask, int parallelism)
        : gate_(std::move(gate)),
          splitId_("counter-" + std::to_string(subtask) + "-" + std::to_string(parallelism)),
          next_(subtask),
          step_(parallelism) {}
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      const int64_t total = gate_->total.load(std::memory_order_acquire);
      const int64_t limit = std::min(total, gate_->allowed.load(std::memory_order_acquire));
      size_t emitted = 0;
      for (; next_ < limit && emitted < output.maxRows(); ++emitted, next_ += step_) {
        output.push(next_);
      }
      if (next_ >= total) return InputStatus::kEndOfInput;
      return emitted > 0 ? InputStatus::kMoreAvailable : InputStatus::kNothingAvailable;
    }
    Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
      return std::vector<SourceSplitState>{{splitId_, std::to_string(next_)}};
    }

   private:
    std::shared_ptr<Gate> gate_;
    std::string splitId_;
    int64_t next_;
    int64_t step_;
  };
  std::shared_ptr<Gate> gate_;
};

/// Counts the records it receives.
template <class T>
class CountingSink final : public Sink<T> {
 public:
  explicit CountingSink(std::shared_ptr<std::atomic<int64_t>> count) : count_(std::move(count)) {}
  std::unique_ptr<SinkWriter<T>> createWriter(int, int) const override {
    return std::make_unique<Writer>(count_);
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(std::shared_ptr<std::atomic<int64_t>> count) : count_(std::move(count)) {}
    Status write(const RecordBatch<T>& batch) override {
      count_->fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_release);
      return Status::ok();
    }

   private:
    std::shared_ptr<std::atomic<int64_t>> count_;
  };
  std::shared_ptr<std::atomic<int64_t>> count_;
};

/// `size` pseudo-random bytes (xorshift64 seeded from `x`): RocksDB cannot compress them.
std::string payloadOf(int64_t x, size_t size) {
  std::string payload(size, '\0');
  uint64_t state = static_cast<uint64_t>(x) * 0x9e3779b97f4a7c15ull + 1;
  for (char& c : payload) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    c = static_cast<char>(state);
  }
  return payload;
}

/// The key value `x` writes: values below `keys` write their own key; after them come batches
/// of `batchSize` values, batch b writing the keys b, b + stride, b + 2 stride, ... (stride =
/// keys / batchSize): spread over the key space, and other keys in every batch.
struct KeyPlan {
  int64_t keys = 0;
  int64_t batchSize = 1;
  int64_t keyOf(int64_t x) const {
    if (x < keys) return x;
    const int64_t u = x - keys;
    const int64_t stride = std::max<int64_t>(1, keys / batchSize);
    return ((u % batchSize) * stride + u / batchSize) % keys;
  }
};

/// The checkpoint id in the name of an upload, "shared/<store>-c<checkpoint>-<file>"; -1 for
/// another name.
int64_t uploadCheckpointOf(const std::string& path) {
  if (path.rfind("shared/", 0) != 0) return -1;
  const size_t c = path.find("-c", 7);
  if (c == std::string::npos) return -1;
  int64_t id = 0;
  size_t i = c + 2;
  for (; i < path.size() && path[i] >= '0' && path[i] <= '9'; ++i) id = id * 10 + (path[i] - '0');
  return i > c + 2 && i < path.size() && path[i] == '-' ? id : -1;
}

/// "<store>/<file>" for the upload "shared/<store>-c<checkpoint>-<file>": the local RocksDB file,
/// whichever checkpoint uploaded it.
std::string localFileOf(const std::string& path) {
  const size_t c = path.find("-c", 7);
  const size_t dash = c == std::string::npos ? std::string::npos : path.find('-', c + 2);
  if (dash == std::string::npos) return path;
  return path.substr(7, c - 7) + "/" + path.substr(dash + 1);
}

/// One completed checkpoint, from its `_metadata`.
struct CheckpointFigures {
  int64_t id = 0;
  int64_t triggerMs = 0;
  int64_t durationMs = 0;
  uint64_t referenced = 0;  // distinct shared files it references
  uint64_t own = 0;         // of those, the ones it uploaded
  uint64_t inlineBytes = 0;
  size_t sharedFiles = 0;
  std::set<std::string> localFiles;  // "<store>/<file>": the RocksDB files behind them
};

/// The shared files `metadata` references (path → length), and its other bytes.
std::map<std::string, uint64_t> sharedFilesOf(const checkpoint::proto::CheckpointMetadata& metadata,
                                              uint64_t* inlineBytes = nullptr) {
  std::map<std::string, uint64_t> files;
  for (const auto& op : metadata.operators()) {
    for (const auto& subtask : op.subtasks()) {
      for (const auto& handle : subtask.handles()) {
        if (handle.path().rfind("shared/", 0) == 0) {
          files.emplace(handle.path(), handle.length());
        } else if (inlineBytes != nullptr) {
          *inlineBytes += handle.length();
        }
      }
    }
  }
  return files;
}

std::string mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

int64_t epochMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <class T>
T median(std::vector<T> values) {
  if (values.empty()) return T{};
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct Uploads {
  uint64_t bytes = 0;
  size_t files = 0;
};

/// Follows the completed checkpoints of one job: every poll reads the latest and remembers it
/// and the shared files it names, and the bytes in `shared/`.
class CheckpointWatcher {
 public:
  CheckpointWatcher(fs::path jobDir, std::string jobId)
      : jobDir_(std::move(jobDir)), jobId_(std::move(jobId)) {}

  void poll() {
    auto latest = checkpoint::findLatestCompleted(jobDir_, jobId_);
    if (latest.isOk() && !seen_.contains(latest->checkpointId)) {
      const auto& metadata = latest->metadata;
      CheckpointFigures figures;
      figures.id = latest->checkpointId;
      figures.triggerMs = metadata.trigger_timestamp();
      figures.durationMs = metadata.completion_timestamp() - metadata.trigger_timestamp();
      for (const auto& [path, length] : sharedFilesOf(metadata, &figures.inlineBytes)) {
        figures.referenced += length;
        ++figures.sharedFiles;
        if (uploadCheckpointOf(path) == figures.id) figures.own += length;
        figures.localFiles.insert(localFileOf(path));
        uploads_.emplace(path, length);
      }
      seen_.emplace(figures.id, figures);
    }
    if (Clock::now() >= nextScan_) {
      nextScan_ = Clock::now() + std::chrono::milliseconds(100);
      uint64_t bytes = 0;
      std::error_code ec;
      for (fs::directory_iterator it(jobDir_ / "shared", ec), end; !ec && it != end;
           it.increment(ec)) {
        std::error_code sizeError;
        const uintmax_t size = it->file_size(sizeError);
        if (!sizeError) bytes += size;
      }
      peakSharedBytes_ = std::max(peakSharedBytes_, bytes);
    }
  }

  /// The first checkpoint seen that was triggered after `afterMs` (epoch ms).
  const CheckpointFigures* triggeredAfter(int64_t afterMs) const {
    for (const auto& [id, figures] : seen_) {
      if (figures.triggerMs > afterMs) return &figures;
    }
    return nullptr;
  }
  /// Whether the three latest checkpoints seen, all `id` or later, hold the same RocksDB files:
  /// no flush and no compaction finished during two intervals.
  bool idleSince(int64_t id) const {
    if (seen_.size() < 3) return false;
    auto last = seen_.rbegin();
    auto middle = std::next(last);
    auto first = std::next(middle);
    return first->first >= id && first->second.localFiles == middle->second.localFiles &&
           middle->second.localFiles == last->second.localFiles;
  }
  /// The latest checkpoint seen, or null.
  const CheckpointFigures* latest() const {
    return seen_.empty() ? nullptr : &seen_.rbegin()->second;
  }
  /// The files uploaded by checkpoints `from`..`to` that some seen checkpoint referenced.
  Uploads uploadedBetween(int64_t from, int64_t to) const {
    Uploads uploads;
    for (const auto& [path, length] : uploads_) {
      const int64_t id = uploadCheckpointOf(path);
      if (id >= from && id <= to) {
        uploads.bytes += length;
        ++uploads.files;
      }
    }
    return uploads;
  }
  uint64_t peakSharedBytes() const { return peakSharedBytes_; }

 private:
  fs::path jobDir_;
  std::string jobId_;
  std::map<int64_t, CheckpointFigures> seen_;
  std::map<std::string, uint64_t> uploads_;  // every shared file a seen checkpoint named
  uint64_t peakSharedBytes_ = 0;
  Clock::time_point nextScan_{};
};

struct ModeResult {
  std::string mode;
  uint64_t stateBytes = 0;  // referenced by the checkpoint after the load
  uint64_t loadUploaded = 0;
  std::vector<uint64_t> ownUploads;       // per update checkpoint
  std::vector<uint64_t> intervalUploads;  // per update interval
  std::vector<int64_t> durationsMs;       // per update checkpoint
  uint64_t peakSharedBytes = 0;
  double seconds = 0;
  bool sharedCleanAtEnd = false;  // when waitForJobTermination returned
  bool sharedClean = false;       // kSettleTimeout later at the most
  int64_t settleMs = 0;
};

/// One line per checkpoint awaited: "files" counts the shared files it references,
/// "new_files" those uploaded since the previous line ("interval").
void printRowHeader() {
  std::printf("%-12s %-8s %5s %7s %9s %9s %12s %10s %6s %9s\n", "mode", "phase", "chk", "dur_ms",
              "ref_MiB", "own_MiB", "interval_MiB", "inline_KiB", "files", "new_files");
}

void printRow(const std::string& mode, const std::string& phase, const CheckpointFigures& c,
              const Uploads& interval) {
  std::printf("%-12s %-8s %5" PRId64 " %7" PRId64 " %9s %9s %12s %10.1f %6zu %9zu\n", mode.c_str(),
              phase.c_str(), c.id, c.durationMs, mib(c.referenced).c_str(), mib(c.own).c_str(),
              mib(interval.bytes).c_str(), static_cast<double>(c.inlineBytes) / 1024.0,
              c.sharedFiles, interval.files);
  std::fflush(stdout);
}

/// The files in `<jobDir>/shared` next to those the retained checkpoints (the `chk-<n>`
/// directories with a `_metadata`) reference.
struct SharedFilesCheck {
  std::vector<int64_t> retained;
  size_t referenced = 0;
  size_t onDisk = 0;
  uint64_t onDiskBytes = 0;
  std::vector<std::string> unreferenced;  // in shared/, referenced by no retained checkpoint
  std::vector<std::string> missing;       // referenced, not in shared/
  bool clean() const { return unreferenced.empty() && missing.empty(); }
};

Result<SharedFilesCheck> checkSharedFiles(const fs::path& jobDir, const std::string& jobId) {
  SharedFilesCheck check;
  std::set<std::string> referenced;
  std::error_code ec;
  for (fs::directory_iterator it(jobDir, ec), end; !ec && it != end; it.increment(ec)) {
    const int64_t id = checkpoint::parseCheckpointDirName(it->path().filename().string());
    if (id < 0 || !fs::exists(it->path() / "_metadata")) continue;
    STROM_ASSIGN_OR_RETURN(
        auto metadata, checkpoint::readMetadataFile(it->path() / "_metadata", jobDir, jobId, id));
    check.retained.push_back(id);
    for (const auto& [path, length] : sharedFilesOf(metadata)) referenced.insert(path);
  }
  if (ec) return Status::ioError("cannot list '" + jobDir.string() + "': " + ec.message());
  std::sort(check.retained.begin(), check.retained.end());
  std::set<std::string> onDisk;
  for (fs::directory_iterator it(jobDir / "shared", ec), end; !ec && it != end; it.increment(ec)) {
    onDisk.insert("shared/" + it->path().filename().string());
    std::error_code sizeError;
    const uintmax_t size = it->file_size(sizeError);
    if (!sizeError) check.onDiskBytes += size;
  }
  if (ec) return Status::ioError("cannot list '" + (jobDir / "shared").string() + "'");
  check.referenced = referenced.size();
  check.onDisk = onDisk.size();
  for (const std::string& path : onDisk) {
    if (!referenced.contains(path)) check.unreferenced.push_back(path);
  }
  for (const std::string& path : referenced) {
    if (!onDisk.contains(path)) check.missing.push_back(path);
  }
  return check;
}

void printSharedFilesCheck(const std::string& when, const SharedFilesCheck& check) {
  std::string ids;
  for (int64_t id : check.retained) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  std::printf("  shared/ %s: %zu files (%s MiB); retained checkpoints [%s] reference %zu\n",
              when.c_str(), check.onDisk, mib(check.onDiskBytes).c_str(), ids.c_str(),
              check.referenced);
  for (const std::string& path : check.unreferenced) {
    std::printf("    UNREFERENCED: %s\n", path.c_str());
  }
  for (const std::string& path : check.missing) std::printf("    MISSING: %s\n", path.c_str());
  std::fflush(stdout);
}

Result<ModeResult> runMode(const Flags& flags, const std::string& mode, const fs::path& baseDir) {
  const auto started = Clock::now();
  const bool incremental = mode == "incremental";
  KeyPlan plan;
  plan.keys = flags.keys;
  plan.batchSize = std::max<int64_t>(
      1,
      static_cast<int64_t>(std::llround(static_cast<double>(flags.keys) * flags.updateFraction)));

  Configuration c;
  c.set("taskmanager.numberOfTaskSlots", "1");
  c.set("state.backend.type", "rocksdb");
  c.set("execution.checkpointing.incremental", incremental ? "true" : "false");
  c.set("execution.checkpointing.interval", std::to_string(flags.intervalMs) + " ms");
  c.set("state.backend.rocksdb.localdir", (baseDir / "rocksdb").string());
  c.set("state.checkpoints.dir", (baseDir / "checkpoints").string());
  runtime::MiniCluster::Options options;
  options.numberOfTaskManagers = 1;
  options.configuration = c;
  STROM_ASSIGN_OR_RETURN(auto cluster, runtime::MiniCluster::start(options));
  runtime::JobManager& jm = cluster->jobManager();

  auto gate = std::make_shared<Gate>();
  gate->allowed = flags.keys;
  // One more batch after the updates: the rest, released at the end (the final checkpoint).
  gate->total = flags.keys + (flags.updates + 1) * plan.batchSize;
  auto count = std::make_shared<std::atomic<int64_t>>(0);
  const size_t valueBytes = static_cast<size_t>(flags.valueBytes);
  StreamExecutionEnvironment env(c);
  env.fromSource<int64_t>(std::make_shared<GatedCounter>(gate), "Gated")
      .map([plan, valueBytes](int64_t x) {
        return std::make_pair(plan.keyOf(x), payloadOf(x, valueBytes));
      })
      .keyBy([](const std::pair<int64_t, std::string>& p) { return p.first; })
      .reduce([](const std::pair<int64_t, std::string>&, const std::pair<int64_t, std::string>& b) {
        return b;
      })
      .sinkTo(std::make_shared<CountingSink<std::pair<int64_t, std::string>>>(count));
  STROM_ASSIGN_OR_RETURN(auto streamGraph,
                         graph::StreamGraph::create(env.transformations(), 1, 128));
  STROM_ASSIGN_OR_RETURN(auto job,
                         graph::JobGraph::create(std::move(streamGraph), "incremental-bench", c));
  STROM_ASSIGN_OR_RETURN(std::string jobId, jm.submitJob(job));
  const fs::path jobDir = baseDir / "checkpoints" / jobId;
  CheckpointWatcher watcher(jobDir, jobId);

  // Poll until `done()` holds; an error when the job ends or the wait exceeds the timeout.
  auto waitFor = [&](const std::string& what, auto done, int64_t timeoutSeconds) -> Status {
    const auto deadline = Clock::now() + std::chrono::seconds(timeoutSeconds);
    while (true) {
      watcher.poll();
      if (done()) return Status::ok();
      auto info = jm.jobStatus(jobId);
      if (info.isOk() && runtime::isTerminal(info->status)) {
        return Status::internal(mode + ": the job ended (" + runtime::jobStatusName(info->status) +
                                ") while waiting for " + what + ": " + info->failure.toString());
      }
      if (Clock::now() >= deadline) return Status::deadlineExceeded(mode + ": waiting for " + what);
      std::this_thread::sleep_for(kPollInterval);
    }
  };
  // Wait until the sink saw `records`, then for a checkpoint triggered after that.
  auto checkpointAfter = [&](int64_t records,
                             const std::string& what) -> Result<CheckpointFigures> {
    STROM_RETURN_IF_ERROR(waitFor(
        what + " records", [&] { return count->load() >= records; }, flags.timeoutSeconds));
    const int64_t doneMs = epochMillis();
    STROM_RETURN_IF_ERROR(waitFor(
        "a checkpoint after " + what, [&] { return watcher.triggeredAfter(doneMs) != nullptr; },
        flags.timeoutSeconds));
    return *watcher.triggeredAfter(doneMs);
  };

  ModeResult result;
  result.mode = mode;
  STROM_ASSIGN_OR_RETURN(CheckpointFigures loaded, checkpointAfter(flags.keys, "the load"));
  result.stateBytes = loaded.referenced;
  const Uploads loadUploads = watcher.uploadedBetween(0, loaded.id);
  result.loadUploaded = loadUploads.bytes;
  printRow(mode, "load", loaded, loadUploads);

  // RocksDB goes on compacting what the load wrote for a while: wait until three checkpoints in
  // a row hold the same RocksDB files, so that the updates' figures are their own (a heuristic:
  // a compaction that the next flush triggers still counts for the update that flushed).
  int64_t previous = loaded.id;
  if (flags.settleSeconds > 0) {
    const auto settleStart = Clock::now();
    Status idle = waitFor(
        "RocksDB to settle after the load", [&] { return watcher.idleSince(loaded.id); },
        flags.settleSeconds);
    if (!idle.isOk() && idle.code() != StatusCode::kDeadlineExceeded) return idle;
    const CheckpointFigures& settled = *watcher.latest();
    if (settled.id > previous) {
      printRow(mode, "settled", settled, watcher.uploadedBetween(previous + 1, settled.id));
      previous = settled.id;
    }
    std::printf("  (%s %.1f s after the load checkpoint)\n",
                idle.isOk() ? "settled" : "NOT settled, gave up",
                std::chrono::duration<double>(Clock::now() - settleStart).count());
  }
  for (int update = 1; update <= flags.updates; ++update) {
    const int64_t target = flags.keys + update * plan.batchSize;
    gate->allowed = target;
    STROM_ASSIGN_OR_RETURN(CheckpointFigures figures,
                           checkpointAfter(target, "update " + std::to_string(update)));
    const Uploads interval = watcher.uploadedBetween(previous + 1, figures.id);
    printRow(mode, "update" + std::to_string(update), figures, interval);
    result.ownUploads.push_back(figures.own);
    result.intervalUploads.push_back(interval.bytes);
    result.durationsMs.push_back(figures.durationMs);
    previous = figures.id;
  }

  gate->allowed = gate->total.load();
  STROM_ASSIGN_OR_RETURN(
      runtime::JobStatusInfo info,
      jm.waitForJobTermination(jobId, std::chrono::seconds(flags.timeoutSeconds)));
  if (info.status != runtime::JobStatus::kFinished) {
    return Status::internal(mode + ": the job ended " + runtime::jobStatusName(info.status) + ": " +
                            info.failure.toString());
  }
  watcher.poll();
  if (const CheckpointFigures* last = watcher.latest(); last != nullptr && last->id > previous) {
    printRow(mode, "final", *last, watcher.uploadedBetween(previous + 1, last->id));
  }
  result.peakSharedBytes = watcher.peakSharedBytes();
  // waitForJobTermination returns once the job is FINISHED; its CheckpointCoordinator is
  // stopped (and deletes the files no retained checkpoint references) by the JobManager's
  // scheduler thread, maybe later: look again for a while when files are left.
  const auto ended = Clock::now();
  STROM_ASSIGN_OR_RETURN(SharedFilesCheck check, checkSharedFiles(jobDir, jobId));
  printSharedFilesCheck("when the job was FINISHED", check);
  result.sharedCleanAtEnd = check.clean();
  while (!check.clean() && Clock::now() < ended + kSettleTimeout) {
    std::this_thread::sleep_for(kPollInterval);
    STROM_ASSIGN_OR_RETURN(check, checkSharedFiles(jobDir, jobId));
  }
  result.settleMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - ended).count();
  result.sharedClean = check.clean();
  if (!result.sharedCleanAtEnd) {
    printSharedFilesCheck(std::to_string(result.settleMs) + " ms later", check);
  }
  cluster.reset();
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return result;
}

/// Removes a directory tree when it goes out of scope.
struct RemoveOnExit {
  fs::path path;
  ~RemoveOnExit() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace
}  // namespace strom

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  using strom::ModeResult;
  strom::Flags flags;
  CLI::App app{"Bytes written by full vs incremental RocksDB checkpoints"};
  app.add_option("--keys", flags.keys, "keys in the keyed state")->check(CLI::PositiveNumber);
  app.add_option("--value-bytes", flags.valueBytes, "bytes of each key's value")
      ->check(CLI::PositiveNumber);
  app.add_option("--updates", flags.updates, "update batches (one checkpoint interval each)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--update-fraction", flags.updateFraction, "fraction of the keys a batch writes")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--interval-ms", flags.intervalMs, "execution.checkpointing.interval")
      ->check(CLI::PositiveNumber);
  app.add_option("--timeout-s", flags.timeoutSeconds, "limit of each wait")
      ->check(CLI::PositiveNumber);
  app.add_option("--modes", flags.modes, "full and/or incremental")
      ->delimiter(',')
      ->check(CLI::IsMember({"full", "incremental"}));
  app.add_option("--settle-s", flags.settleSeconds,
                 "wait at most this long for RocksDB to go idle after the load (0: do not wait)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--verbose", flags.verbose, "the engine's info log lines on standard error");
  CLI11_PARSE(app, argc, argv);
  // Every poll of an unfinished checkpoint logs a line at info.
  if (!flags.verbose) spdlog::set_level(spdlog::level::warn);

  std::string pattern = (fs::temp_directory_path() / "strom-incremental-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  strom::RemoveOnExit base{pattern};
  std::printf("keys=%" PRId64 " value_bytes=%" PRId64 " updates=%d update_fraction=%g", flags.keys,
              flags.valueBytes, flags.updates, flags.updateFraction);
  std::printf(" interval_ms=%" PRId64 " dir=%s\n", flags.intervalMs, base.path.c_str());
  strom::printRowHeader();

  std::vector<ModeResult> results;
  for (const std::string& mode : flags.modes) {
    const fs::path modeDir = base.path / mode;
    auto result = strom::runMode(flags, mode, modeDir);
    std::error_code ec;
    fs::remove_all(modeDir, ec);
    if (!result.isOk()) {
      std::fprintf(stderr, "%s\n", result.status().toString().c_str());
      return 1;
    }
    results.push_back(std::move(result).value());
  }

  // Per update: "own" is what the checkpoint after the batch uploaded itself, "interval" what
  // every checkpoint since the previous update's uploaded; the ratios divide the latter by the
  // state the load left (the bytes its checkpoint references).
  std::printf(
      "\nmode         state_MiB load_up_MiB med_own_MiB med_intv_MiB mean_intv_MiB "
      "med_ratio mean_ratio med_dur_ms peak_shared_MiB shared_clean   secs\n");
  bool allClean = true;
  for (const ModeResult& r : results) {
    const uint64_t medianInterval = strom::median(r.intervalUploads);
    uint64_t sum = 0;
    for (uint64_t bytes : r.intervalUploads) sum += bytes;
    const double meanInterval =
        r.intervalUploads.empty()
            ? 0.0
            : static_cast<double>(sum) / static_cast<double>(r.intervalUploads.size());
    const double state = std::max<double>(1.0, static_cast<double>(r.stateBytes));
    // "yes", "+<ms>" (the unreferenced files went that long after the job was FINISHED), "NO".
    const std::string clean = r.sharedCleanAtEnd ? "yes"
                              : r.sharedClean    ? "+" + std::to_string(r.settleMs) + "ms"
                                                 : "NO";
    std::printf("%-12s %9s %11s %11s %12s %13.2f %9.4f %10.4f %10" PRId64 " %15s %12s %6.1f\n",
                r.mode.c_str(), strom::mib(r.stateBytes).c_str(),
                strom::mib(r.loadUploaded).c_str(), strom::mib(strom::median(r.ownUploads)).c_str(),
                strom::mib(medianInterval).c_str(), meanInterval / (1024.0 * 1024.0),
                static_cast<double>(medianInterval) / state, meanInterval / state,
                strom::median(r.durationsMs), strom::mib(r.peakSharedBytes).c_str(), clean.c_str(),
                r.seconds);
    allClean &= r.sharedClean;
  }
  if (!allClean) {
    std::fprintf(stderr, "files of subsumed checkpoints were left in shared/\n");
    return 1;
  }
  return 0;
}
