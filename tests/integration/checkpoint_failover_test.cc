// Checkpoints end to end on a MiniCluster of three TaskManagers (one slot each): a keyed sum
// with checkpointing loses a TaskManager mid-run, restarts on the other two, restores its
// source positions and keyed sums from the latest completed checkpoint (the JobManager's
// restore descriptors), and still gives the exact sums. With unaligned checkpoints under
// back-pressure, the in-flight data the checkpoints keep is replayed on restore, and the sums are
// still exact.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <strom/strom.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint_storage.h"
#include "graph/job_graph.h"
#include "graph/stream_graph.h"
#include "runtime/minicluster/mini_cluster.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"

namespace strom {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr int64_t kRecords = 20000;
constexpr int kParallelism = 2;

/// The test's records pass a busy map this many microseconds each: the network buffers in front
/// of it fill up (back-pressure).
constexpr int64_t kSlowMicros = 50;

/// What the test lets the source emit, and what the readers were restored with.
struct Gate {
  std::atomic<int64_t> allowed{0};  // values below this may be emitted
  // The source ends once it emitted every value below this (set by the test while it runs).
  std::atomic<int64_t> total{kRecords};
  std::atomic<int64_t> maxEmitted{-1};
  std::mutex mu;
  std::vector<SourceSplitState> restored;  // GUARDED_BY(mu)
  int restores = 0;                        // GUARDED_BY(mu)
};

/// Emits 0..kRecords-1, subtask s of p the values s, s + p, ...; one split per subtask
/// ("seq-<first>-<step>", position: the next value in decimal); only values below
/// gate.allowed, so the test decides how far the job gets.
class GatedSequence final : public Source<int64_t> {
 public:
  explicit GatedSequence(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
  std::unique_ptr<SourceReader<int64_t>> createReader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(gate_, subtask, parallelism);
  }

 private:
  struct Split {
    std::string id;
    int64_t next = 0;
    int64_t step = 1;
  };
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(std::shared_ptr<Gate> gate, int subtask, int parallelism) : gate_(std::move(gate)) {
      splits_.push_back(Split{"seq-" + std::to_string(subtask) + "-" + std::to_string(parallelism),
                              subtask, parallelism});
    }
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      int64_t allowed = gate_->allowed.load(std::memory_order_acquire);
      int64_t total = gate_->total.load(std::memory_order_acquire);
      bool more = false;
      for (Split& split : splits_) {
        // At most one batch per call (the output may flush full batches on its own).
        for (size_t n = 0; split.next < total && split.next < allowed && n < output.maxRows();
             ++n) {
          output.push(split.next);
          split.next += split.step;
        }
        more |= split.next < total;
        int64_t seen = gate_->maxEmitted.load(std::memory_order_relaxed);
        while (split.next - split.step > seen &&
               !gate_->maxEmitted.compare_exchange_weak(seen, split.next - split.step)) {
        }
      }
      return more ? InputStatus::kMoreAvailable : InputStatus::kEndOfInput;
    }
    Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
      std::vector<SourceSplitState> state;
      for (const Split& split : splits_) {
        if (split.next < gate_->total.load(std::memory_order_acquire)) {
          state.push_back({split.id, std::to_string(split.next)});
        }
      }
      return state;
    }
    Status restoreState(std::vector<SourceSplitState> splits) override {
      {
        std::lock_guard lock(gate_->mu);
        ++gate_->restores;
        for (const auto& s : splits) gate_->restored.push_back(s);
      }
      splits_.clear();
      for (const SourceSplitState& s : splits) {
        // "seq-<first>-<step>"
        size_t dash = s.splitId.rfind('-');
        splits_.push_back(
            Split{s.splitId, std::stoll(s.position), std::stoll(s.splitId.substr(dash + 1))});
      }
      return Status::ok();
    }

   private:
    std::shared_ptr<Gate> gate_;
    std::vector<Split> splits_;
  };
  std::shared_ptr<Gate> gate_;
};

/// Wait until job `jobId` restarted at least once and runs again.
bool restartedAndRunning(runtime::JobManager& jm, const std::string& jobId) {
  return testing::eventually(
      [&] {
        auto info = jm.jobStatus(jobId);
        return info.isOk() && info->restarts >= 1 && info->status == runtime::JobStatus::kRunning;
      },
      seconds(60));
}

class CheckpointFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "strom-failover-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    base_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  Configuration config() const {
    Configuration c;
    c.set("taskmanager.count", "3");
    c.set("taskmanager.numberOfTaskSlots", "1");
    c.set("execution.checkpointing.interval", "50 ms");
    c.set("state.checkpoints.dir", (base_ / "checkpoints").string());
    c.set("restart-strategy.type", "fixed-delay");
    c.set("restart-strategy.fixed-delay.attempts", "3");
    c.set("restart-strategy.fixed-delay.delay", "10 ms");
    return c;
  }
  /// config() with the RocksDB backend working below this test's directory.
  Configuration rocksDbConfig() const {
    Configuration c = CheckpointFailoverTest::config();
    c.set("state.backend.type", "rocksdb");
    c.set("state.backend.rocksdb.localdir", (base_ / "rocksdb").string());
    return c;
  }
  /// A MiniCluster of one TaskManager with `c`.
  static Result<std::unique_ptr<runtime::MiniCluster>> startOneTaskManager(const Configuration& c) {
    runtime::MiniCluster::Options options;
    options.numberOfTaskManagers = 1;
    options.configuration = c;
    return runtime::MiniCluster::start(std::move(options));
  }
  fs::path base_;
};

/// Wait until a checkpoint of job `jobId` triggered after this call has completed (the one
/// after the next completed one).
bool checkpointedAfterNow(const fs::path& jobDir, const std::string& jobId) {
  int64_t seen = 0;
  return testing::eventually(
      [&] {
        auto completed = checkpoint::findLatestCompleted(jobDir, jobId);
        if (!completed.isOk()) return false;
        if (seen == 0) seen = completed->checkpointId;
        return completed->checkpointId > seen + 1;
      },
      seconds(60));
}

/// The tests that run on both state backends: the parameter is state.backend.type. RocksDB runs
/// with incremental checkpoints and a cache of 4 keys, so that values go through RocksDB.
class CheckpointBackendTest : public CheckpointFailoverTest,
                              public ::testing::WithParamInterface<const char*> {
 protected:
  Configuration config() const {
    Configuration c = CheckpointFailoverTest::config();
    c.set("state.backend.type", GetParam());
    c.set("execution.checkpointing.incremental", "true");
    c.set("state.backend.rocksdb.localdir", (base_ / "rocksdb").string());
    c.set("state.backend.rocksdb.cache.max-keys", "4");
    return c;
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, CheckpointBackendTest, ::testing::Values("heap", "rocksdb"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

TEST_P(CheckpointBackendTest, lostTaskManagerRestoresTheLatestCheckpointAndGivesExactSums) {
  runtime::MiniCluster::Options options;
  options.numberOfTaskManagers = 3;
  options.configuration = config();
  ASSERT_OK_AND_ASSIGN(auto cluster, runtime::MiniCluster::start(options));

  auto gate = std::make_shared<Gate>();
  gate->allowed = kRecords / 2;
  StreamExecutionEnvironment env(config());
  auto sums = std::make_shared<CollectedRecords<std::pair<int64_t, int64_t>>>();
  env.fromSource<int64_t>(std::make_shared<GatedSequence>(gate), "Gated")
      .map([](int64_t x) { return std::make_pair(x % 10, x); })
      .keyBy([](const std::pair<int64_t, int64_t>& p) { return p.first; })
      .reduce([](const std::pair<int64_t, int64_t>& a, const std::pair<int64_t, int64_t>& b) {
        return std::make_pair(a.first, a.second + b.second);
      })
      .sinkTo(std::make_shared<CollectSink<std::pair<int64_t, int64_t>>>(sums));
  ASSERT_OK_AND_ASSIGN(auto streamGraph,
                       graph::StreamGraph::create(env.transformations(), kParallelism, 128));
  ASSERT_OK_AND_ASSIGN(auto job,
                       graph::JobGraph::create(std::move(streamGraph), "failover", config()));
  runtime::JobManager& jm = cluster->jobManager();
  ASSERT_OK_AND_ASSIGN(std::string jobId, jm.submitJob(job));

  // Half the input is processed, then a checkpoint holding it completes.
  fs::path jobDir = base_ / "checkpoints" / jobId;
  ASSERT_TRUE(testing::eventually(
      [&] { return sums->records().size() >= static_cast<size_t>(kRecords / 2); }, seconds(60)));
  auto latestId = [&]() -> int64_t {
    auto latest = checkpoint::findLatestCompleted(jobDir, jobId);
    return latest.isOk() ? latest->checkpointId : -1;
  };
  int64_t before = latestId();
  ASSERT_TRUE(testing::eventually([&] { return latestId() > before; }, seconds(60)));

  cluster->testingLoseTaskManager(0);
  ASSERT_TRUE(restartedAndRunning(jm, jobId));
  gate->allowed = kRecords;
  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo info,
                       jm.waitForJobTermination(jobId, std::chrono::seconds(60)));
  ASSERT_EQ(info.status, runtime::JobStatus::kFinished) << info.failure.toString();
  EXPECT_GE(info.restarts, 1);

  // The restarted sources resumed from checkpointed positions, not from the start.
  {
    std::lock_guard lock(gate->mu);
    EXPECT_GE(gate->restores, kParallelism);
    ASSERT_FALSE(gate->restored.empty());
    for (const SourceSplitState& s : gate->restored)
      EXPECT_GT(std::stoll(s.position), 0) << s.splitId;
  }
  // The last sum of every key is exact: restored sums plus what came after.
  std::map<int64_t, int64_t> finalSum;
  for (const auto& [key, sum] : sums->records()) finalSum[key] = std::max(finalSum[key], sum);
  std::map<int64_t, int64_t> expected;
  for (int64_t x = 0; x < kRecords; ++x) expected[x % 10] += x;
  EXPECT_EQ(finalSum, expected);
}

/// source → rebalance → busy map (back-pressure) → keyBy → running sum → `sums`, at
/// `parallelism`, as a JobGraph.
std::shared_ptr<const graph::JobGraph> backPressuredSumJob(
    const Configuration& c, const std::shared_ptr<Gate>& gate, int parallelism,
    const std::shared_ptr<CollectedRecords<std::pair<int64_t, int64_t>>>& sums) {
  StreamExecutionEnvironment env(c);
  env.fromSource<int64_t>(std::make_shared<GatedSequence>(gate), "Gated")
      .uid("gated")
      .rebalance()
      .map([](int64_t x) {
        auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSlowMicros);
        while (std::chrono::steady_clock::now() < until) {
        }
        return std::make_pair(x % 10, x);
      })
      .uid("slow")
      .keyBy([](const std::pair<int64_t, int64_t>& p) { return p.first; })
      .reduce([](const std::pair<int64_t, int64_t>& a, const std::pair<int64_t, int64_t>& b) {
        return std::make_pair(a.first, a.second + b.second);
      })
      .uid("sum")
      .sinkTo(std::make_shared<CollectSink<std::pair<int64_t, int64_t>>>(sums));
  auto streamGraph = graph::StreamGraph::create(env.transformations(), parallelism, 128);
  EXPECT_OK(streamGraph);
  auto job = graph::JobGraph::create(std::move(streamGraph).value(), "unaligned", c);
  EXPECT_OK(job);
  return std::move(job).value();
}

/// The largest sum per key in `sums` equals the sum of x % 10 == key over x < total.
void expectExactSums(const CollectedRecords<std::pair<int64_t, int64_t>>& sums, int64_t total) {
  std::map<int64_t, int64_t> finalSum;
  for (const auto& [key, sum] : sums.records()) finalSum[key] = std::max(finalSum[key], sum);
  std::map<int64_t, int64_t> expected;
  for (int64_t x = 0; x < total; ++x) expected[x % 10] += x;
  EXPECT_EQ(finalSum, expected);
}

TEST_F(CheckpointFailoverTest, unalignedCheckpointsKeepTheInFlightDataAndRestoreItExactly) {
  Configuration c = config();
  c.set("execution.checkpointing.unaligned.enabled", "true");
  c.set("execution.checkpointing.interval", "100 ms");
  c.set("taskmanager.memory.segment-size", "4kb");  // full queues sooner
  runtime::MiniCluster::Options options;
  options.numberOfTaskManagers = 3;
  options.configuration = c;
  ASSERT_OK_AND_ASSIGN(auto cluster, runtime::MiniCluster::start(options));

  // Unbounded until the test sets the total: the slow map back-pressures the sources meanwhile.
  auto gate = std::make_shared<Gate>();
  gate->allowed = INT64_MAX;
  gate->total = INT64_MAX;
  auto sums = std::make_shared<CollectedRecords<std::pair<int64_t, int64_t>>>();
  runtime::JobManager& jm = cluster->jobManager();
  ASSERT_OK_AND_ASSIGN(std::string jobId,
                       jm.submitJob(backPressuredSumJob(c, gate, kParallelism, sums)));

  // A completed checkpoint holds channel state: the barriers overtook queued records.
  fs::path jobDir = base_ / "checkpoints" / jobId;
  ASSERT_TRUE(testing::eventually(
      [&] {
        auto latest = checkpoint::findLatestCompleted(jobDir, jobId);
        return latest.isOk() && latest->metadata.unaligned();
      },
      seconds(60)));
  cluster->testingLoseTaskManager(0);
  ASSERT_TRUE(restartedAndRunning(jm, jobId));
  // End the input a little beyond what was emitted: the restored sources start before it.
  const int64_t total = gate->maxEmitted.load() + 20000;
  gate->total = total;
  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo info,
                       jm.waitForJobTermination(jobId, std::chrono::seconds(120)));
  ASSERT_EQ(info.status, runtime::JobStatus::kFinished) << info.failure.toString();
  EXPECT_GE(info.restarts, 1);
  // Restored sums plus what came after, with the replayed channel state neither lost nor
  // counted twice.
  expectExactSums(*sums, total);
}

TEST_P(CheckpointBackendTest, anUnalignedCheckpointRestoresAtAnotherParallelism) {
  Configuration c = config();
  c.set("execution.checkpointing.unaligned.enabled", "true");
  c.set("execution.checkpointing.interval", "100 ms");
  c.set("state.checkpoints.num-retained", "1000");  // the one restored stays
  c.set("taskmanager.memory.segment-size", "4kb");
  runtime::MiniCluster::Options options;
  options.numberOfTaskManagers = 3;
  options.configuration = c;
  ASSERT_OK_AND_ASSIGN(auto cluster, runtime::MiniCluster::start(options));
  runtime::JobManager& jm = cluster->jobManager();

  auto gate = std::make_shared<Gate>();
  gate->allowed = INT64_MAX;
  gate->total = INT64_MAX;
  auto sums = std::make_shared<CollectedRecords<std::pair<int64_t, int64_t>>>();
  ASSERT_OK_AND_ASSIGN(std::string jobId, jm.submitJob(backPressuredSumJob(c, gate, 2, sums)));
  fs::path jobDir = base_ / "checkpoints" / jobId;
  fs::path restoreFrom;
  ASSERT_TRUE(testing::eventually(
      [&] {
        auto latest = checkpoint::findLatestCompleted(jobDir, jobId);
        if (!latest.isOk() || !latest->metadata.unaligned()) return false;
        restoreFrom = latest->directory;
        return true;
      },
      seconds(60)));
  ASSERT_OK(jm.cancelJob(jobId));
  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo cancelled,
                       jm.waitForJobTermination(jobId, std::chrono::seconds(60)));
  ASSERT_EQ(cancelled.status, runtime::JobStatus::kCanceled);

  // The same job at parallelism 3 from that checkpoint: keyed sums move by key group, and the
  // in-flight records of both (rescaled) edges are partitioned again by their producers.
  const int64_t total = gate->maxEmitted.load() + 20000;
  gate->total = total;
  Configuration restored = c;
  restored.set("execution.savepoint.path", restoreFrom.string());
  ASSERT_OK_AND_ASSIGN(std::string rescaledId,
                       jm.submitJob(backPressuredSumJob(restored, gate, 3, sums)));
  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo info,
                       jm.waitForJobTermination(rescaledId, std::chrono::seconds(120)));
  ASSERT_EQ(info.status, runtime::JobStatus::kFinished) << info.failure.toString();
  expectExactSums(*sums, total);
}

/// A pseudo-random (incompressible) payload of `size` bytes for value `x`.
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

/// The bytes of the shared files a checkpoint references, and of those uploaded by checkpoints
/// after `after` (an upload's name is "shared/<store>-c<checkpoint>-<file>").
struct SharedBytes {
  uint64_t referenced = 0;
  uint64_t uploadedAfter = 0;
  std::set<std::string> paths;
};
SharedBytes sharedBytesOf(const checkpoint::proto::CheckpointMetadata& metadata,
                          int64_t after = INT64_MAX) {
  SharedBytes bytes;
  for (const auto& op : metadata.operators()) {
    for (const auto& subtask : op.subtasks()) {
      for (const auto& handle : subtask.handles()) {
        const std::string& path = handle.path();
        if (path.rfind("shared/", 0) != 0) continue;
        if (!bytes.paths.insert(path).second) continue;
        bytes.referenced += handle.length();
        const size_t c = path.find("-c");
        EXPECT_NE(c, std::string::npos) << path;
        if (c != std::string::npos && std::stoll(path.substr(c + 2)) > after) {
          bytes.uploadedAfter += handle.length();
        }
      }
    }
  }
  return bytes;
}

/// The table files `after` references under a name (in its store) that `before` references too.
/// Each must have kept its path in shared/: a file is uploaded once, then referenced.
struct KeptFiles {
  uint64_t bytes = 0;     // of the files both reference
  bool everyFile = true;  // `after` references every file `before` does
};
KeptFiles keptFilesOf(const checkpoint::proto::CheckpointMetadata& before,
                      const checkpoint::proto::CheckpointMetadata& after) {
  std::map<std::string, std::string> paths;  // file name in the store -> path in shared/
  for (const auto& op : before.operators()) {
    for (const auto& subtask : op.subtasks()) {
      for (const auto& handle : subtask.handles()) {
        if (handle.path().starts_with("shared/")) paths[handle.name()] = handle.path();
      }
    }
  }
  KeptFiles kept;
  size_t found = 0;
  for (const auto& op : after.operators()) {
    for (const auto& subtask : op.subtasks()) {
      for (const auto& handle : subtask.handles()) {
        auto it = paths.find(handle.name());
        if (it == paths.end() || !handle.path().starts_with("shared/")) continue;
        EXPECT_EQ(handle.path(), it->second) << handle.name() << " was uploaded again";
        kept.bytes += handle.length();
        ++found;
      }
    }
  }
  kept.everyFile = found == paths.size();
  return kept;
}

TEST_F(CheckpointFailoverTest, incrementalRocksDbCheckpointsUploadOnlyNewFilesAndDropUnusedOnes) {
  constexpr int64_t kKeys = 20000;  // 1 KB each: about 20 MB of keyed state
  constexpr size_t kPayload = 1000;
  Configuration c = rocksDbConfig();
  c.set("execution.checkpointing.incremental", "true");
  c.set("execution.checkpointing.interval", "100 ms");
  ASSERT_OK_AND_ASSIGN(auto cluster, startOneTaskManager(c));
  runtime::JobManager& jm = cluster->jobManager();

  // Values below kKeys write their own key; the later ones update the ten keys x % 10 only.
  auto gate = std::make_shared<Gate>();
  gate->allowed = kKeys;
  gate->total = kKeys + 4000;
  auto latest = std::make_shared<CollectedRecords<int64_t>>();
  auto failOnce = std::make_shared<std::atomic<bool>>(false);  // the next record fails the task
  StreamExecutionEnvironment env(c);
  env.fromSource<int64_t>(std::make_shared<GatedSequence>(gate), "Gated")
      .map([failOnce](int64_t x) {
        if (failOnce->exchange(false)) throw std::runtime_error("failing once, as asked");
        return std::make_pair(x < kKeys ? x : x % 10, payloadOf(x, kPayload));
      })
      .keyBy([](const std::pair<int64_t, std::string>& p) { return p.first; })
      .reduce([](const std::pair<int64_t, std::string>&, const std::pair<int64_t, std::string>& b) {
        return b;
      })
      .map([](const std::pair<int64_t, std::string>& p) { return p.first; })
      .sinkTo(std::make_shared<CollectSink<int64_t>>(latest));
  ASSERT_OK_AND_ASSIGN(auto streamGraph, graph::StreamGraph::create(env.transformations(), 1, 128));
  ASSERT_OK_AND_ASSIGN(auto job, graph::JobGraph::create(std::move(streamGraph), "incremental", c));
  ASSERT_OK_AND_ASSIGN(std::string jobId, jm.submitJob(job));
  const fs::path jobDir = base_ / "checkpoints" / jobId;
  auto completedAfter = [&](int64_t id) -> std::optional<checkpoint::CompletedCheckpoint> {
    std::optional<checkpoint::CompletedCheckpoint> found;
    EXPECT_TRUE(testing::eventually(
        [&] {
          auto completed = checkpoint::findLatestCompleted(jobDir, jobId);
          if (!completed.isOk() || completed->checkpointId <= id) return false;
          found = std::move(completed).value();
          return true;
        },
        seconds(60)));
    return found;
  };

  // Every key written, then a checkpoint that holds them all.
  ASSERT_TRUE(testing::eventually(
      [&] { return latest->records().size() >= static_cast<size_t>(kKeys); }, seconds(60)));
  // The one after the next: triggered after every key was written.
  auto pending = completedAfter(0);
  ASSERT_TRUE(pending.has_value());
  auto first = completedAfter(pending->checkpointId);
  ASSERT_TRUE(first.has_value());
  const SharedBytes full = sharedBytesOf(first->metadata);
  EXPECT_GT(full.referenced, uint64_t{15} << 20) << "the keyed state is about 20 MB";

  // A few updates of ten keys: the checkpoints after them upload a small fraction. Every file
  // of the checkpoint completed before the updates predates them.
  auto last = checkpoint::findLatestCompleted(jobDir, jobId);
  ASSERT_OK(last.status());
  const int64_t beforeUpdates = last->checkpointId;
  const checkpoint::proto::CheckpointMetadata beforeUpdatesMetadata = last->metadata;
  gate->allowed = kKeys + 2000;
  ASSERT_TRUE(testing::eventually(
      [&] { return latest->records().size() >= static_cast<size_t>(kKeys + 2000); }, seconds(60)));
  last = checkpoint::findLatestCompleted(jobDir, jobId);
  ASSERT_OK(last.status());
  auto second = completedAfter(last->checkpointId);
  ASSERT_TRUE(second.has_value());
  auto third = completedAfter(second->checkpointId);  // triggered after the updates
  ASSERT_TRUE(third.has_value());
  const SharedBytes incremental = sharedBytesOf(third->metadata, beforeUpdates);
  EXPECT_GT(incremental.referenced, uint64_t{15} << 20);
  EXPECT_GT(incremental.uploadedAfter, 0u) << "the updates are in no file uploaded after them";
  // Unless RocksDB compacted the files in the meantime (its level-0 trigger, reached when the
  // initial load took many flushes, as on a slow machine), the state is still in the files
  // uploaded before the updates, and the updates upload a small fraction.
  const KeptFiles keptAcrossUpdates = keptFilesOf(beforeUpdatesMetadata, third->metadata);
  if (keptAcrossUpdates.everyFile) {
    EXPECT_LT(incremental.uploadedAfter * 10, incremental.referenced)
        << "checkpoints " << beforeUpdates + 1 << ".." << third->checkpointId << " uploaded "
        << incremental.uploadedAfter << " of " << incremental.referenced << " bytes";
  } else {
    std::printf("[ incremental ] RocksDB compacted during the updates: the ratio is not checked\n");
  }
  std::printf(
      "[ incremental ] checkpoint %lld references %llu bytes of SST files, %llu of them uploaded "
      "by the %lld checkpoints since the updates began\n",
      static_cast<long long>(third->checkpointId),
      static_cast<unsigned long long>(incremental.referenced),
      static_cast<unsigned long long>(incremental.uploadedAfter),
      static_cast<long long>(third->checkpointId - beforeUpdates));

  // A failover restores the latest checkpoint; the first checkpoint after it references the
  // restored files instead of uploading the whole state again: every table file it still has
  // under the name it had in the restored checkpoint keeps that checkpoint's path in shared/.
  auto restoredFrom = checkpoint::findLatestCompleted(jobDir, jobId);
  ASSERT_OK(restoredFrom.status());
  const int64_t beforeFailure = restoredFrom->checkpointId;
  failOnce->store(true);
  gate->allowed = kKeys + 3000;
  ASSERT_TRUE(restartedAndRunning(jm, jobId));
  auto afterRestore = completedAfter(checkpoint::findLatestCompleted(jobDir, jobId)->checkpointId);
  ASSERT_TRUE(afterRestore.has_value());
  const KeptFiles keptAcrossRestore = keptFilesOf(restoredFrom->metadata, afterRestore->metadata);
  const SharedBytes reused = sharedBytesOf(afterRestore->metadata, beforeFailure);
  EXPECT_GT(reused.referenced, uint64_t{15} << 20);
  // The restore rewrote no file: the state restored is still in the files it came in, unless
  // the restored checkpoint had as many level-0 files as trigger a compaction, which then runs
  // when the store opens (restoreAtTheSameKeyGroupsKeepsTheBaseFilesAsTheyAre in the RocksDB store
  // test checks the restore itself).
  if (keptAcrossRestore.everyFile) {
    EXPECT_LT(reused.uploadedAfter * 10, reused.referenced)
        << "checkpoints " << beforeFailure + 1 << ".." << afterRestore->checkpointId
        << ", across the failover, uploaded " << reused.uploadedAfter << " of " << reused.referenced
        << " bytes";
  } else {
    std::printf("[ incremental ] RocksDB compacted the restored files: the ratio is not checked\n");
  }
  std::printf(
      "[ incremental ] checkpoint %lld, after the failover, references %llu bytes of SST files, "
      "%llu of them uploaded since the failure\n",
      static_cast<long long>(afterRestore->checkpointId),
      static_cast<unsigned long long>(reused.referenced),
      static_cast<unsigned long long>(reused.uploadedAfter));

  // The job ends; what stays in shared/ is what the retained checkpoint references.
  gate->allowed = gate->total.load();
  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo info,
                       jm.waitForJobTermination(jobId, std::chrono::seconds(60)));
  ASSERT_EQ(info.status, runtime::JobStatus::kFinished) << info.failure.toString();
  last = checkpoint::findLatestCompleted(jobDir, jobId);
  ASSERT_OK(last.status());
  const SharedBytes retained = sharedBytesOf(last->metadata);
  // The coordinator deletes the last candidates when it stops, just after the job finished.
  std::set<std::string> onDisk;
  EXPECT_TRUE(testing::eventually(
      [&] {
        onDisk.clear();
        for (const auto& entry : fs::directory_iterator(jobDir / "shared")) {
          onDisk.insert("shared/" + entry.path().filename().string());
        }
        return onDisk == retained.paths;
      },
      seconds(30)));
  EXPECT_EQ(onDisk, retained.paths);
}

/// Each key's last sum of `sums` (pairs key, running sum of the values 0..values-1 with
/// value % keys == key) must be its total: a restored state lost nothing and counted nothing
/// twice.
void expectTotals(const std::vector<std::pair<int64_t, int64_t>>& sums, int64_t values,
                  int64_t keys) {
  std::map<int64_t, int64_t> last;
  for (const auto& [key, sum] : sums) last[key] = sum;
  ASSERT_EQ(last.size(), static_cast<size_t>(keys));
  for (const auto& [key, total] : last) {
    int64_t expected = 0;
    for (int64_t x = key; x < values; x += keys) expected += x;
    EXPECT_EQ(total, expected) << "key " << key;
  }
}

TEST_F(CheckpointFailoverTest, localRecoveryRestoresFromTheLocalCopyAndDropsItWhenTheJobEnds) {
  constexpr int64_t kValues = 20000;
  constexpr int64_t kKeys = 100;
  Configuration c = rocksDbConfig();
  c.set("state.backend.local-recovery", "true");
  c.set("execution.checkpointing.incremental", "true");
  ASSERT_OK_AND_ASSIGN(auto cluster, startOneTaskManager(c));
  runtime::JobManager& jm = cluster->jobManager();

  // Sums of the values per key (value % kKeys); the last sum of each key is its total.
  auto gate = std::make_shared<Gate>();
  gate->allowed = kValues / 2;
  gate->total = kValues;
  using Sum = std::pair<int64_t, int64_t>;
  auto sums = std::make_shared<CollectedRecords<Sum>>();
  auto failOnce = std::make_shared<std::atomic<bool>>(false);
  StreamExecutionEnvironment env(c);
  env.fromSource<int64_t>(std::make_shared<GatedSequence>(gate), "Gated")
      .map([failOnce](int64_t x) {
        if (failOnce->exchange(false)) throw std::runtime_error("failing once, as asked");
        return Sum{x % kKeys, x};
      })
      .keyBy([](const Sum& p) { return p.first; })
      .reduce([](const Sum& a, const Sum& b) {
        return Sum{a.first, a.second + b.second};
      })
      .sinkTo(std::make_shared<CollectSink<Sum>>(sums));
  ASSERT_OK_AND_ASSIGN(auto streamGraph, graph::StreamGraph::create(env.transformations(), 1, 128));
  ASSERT_OK_AND_ASSIGN(auto job, graph::JobGraph::create(std::move(streamGraph), "local", c));
  ASSERT_OK_AND_ASSIGN(std::string jobId, jm.submitJob(job));
  const fs::path jobDir = base_ / "checkpoints" / jobId;
  const fs::path localState = base_ / "rocksdb" / "strom-local-state" / jobId;

  // Half the values summed and in a checkpoint, which the TaskManager keeps a local copy of.
  ASSERT_TRUE(testing::eventually(
      [&] { return sums->records().size() >= static_cast<size_t>(kValues / 2); }, seconds(60)));
  ASSERT_TRUE(checkpointedAfterNow(jobDir, jobId));
  std::error_code ec;
  EXPECT_TRUE(fs::is_directory(localState, ec)) << localState;

  failOnce->store(true);
  gate->allowed = kValues;
  ASSERT_TRUE(restartedAndRunning(jm, jobId));
  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo info,
                       jm.waitForJobTermination(jobId, std::chrono::seconds(60)));
  ASSERT_EQ(info.status, runtime::JobStatus::kFinished) << info.failure.toString();

  // The restored attempt read the state from the local copy, nothing from checkpoint storage.
  int64_t localBytes = -1;
  int64_t downloadedBytes = -1;
  for (const auto& [name, count] : info.counters) {
    if (name.ends_with(".rocksdb.restore.localBytes")) localBytes = count;
    if (name.ends_with(".rocksdb.restore.downloadedBytes")) downloadedBytes = count;
  }
  EXPECT_GT(localBytes, 0);
  EXPECT_EQ(downloadedBytes, 0);

  expectTotals(sums->records(), kValues, kKeys);

  // The job ended: its local state goes.
  EXPECT_TRUE(testing::eventually([&] { return !fs::exists(localState); }, seconds(30)))
      << localState;
}

/// A pass-through map the test steers: the next record fails its task once `failOnce` is set,
/// and its snapshots fail (the checkpoints are declined) while `decline` is.
class SteeredMap final : public RichMapFunction<int64_t, int64_t>, public CheckpointedFunction {
 public:
  SteeredMap(std::shared_ptr<std::atomic<bool>> failOnce,
             std::shared_ptr<std::atomic<bool>> decline, std::shared_ptr<std::atomic<int>> declined)
      : failOnce_(std::move(failOnce)),
        decline_(std::move(decline)),
        declined_(std::move(declined)) {}
  void initializeState(FunctionInitializationContext&) override {}
  void snapshotState(FunctionSnapshotContext&) override {
    if (!decline_->load()) return;
    ++*declined_;
    throw std::runtime_error("declining the checkpoint, as asked");
  }
  int64_t map(const int64_t& x) override {
    if (failOnce_->exchange(false)) throw std::runtime_error("failing once, as asked");
    return x;
  }

 private:
  std::shared_ptr<std::atomic<bool>> failOnce_;
  std::shared_ptr<std::atomic<bool>> decline_;
  std::shared_ptr<std::atomic<int>> declined_;
};

/// A keyed sum whose latest checkpoint gets a corrupt table file, then a failure: the restore
/// of that checkpoint fails, and the JobManager restores the one before it if it kept one.
class CorruptCheckpointTest : public CheckpointFailoverTest {
 protected:
  static constexpr int64_t kValues = 20000;
  static constexpr int64_t kKeys = 100;
  using Sum = std::pair<int64_t, int64_t>;

  struct Outcome {
    runtime::JobStatusInfo info;
    std::vector<Sum> sums;
    int64_t corrupted = -1;  // the checkpoint whose file was corrupted
  };

  Outcome run(int retained) {
    Outcome outcome;
    Configuration c = rocksDbConfig();
    c.set("state.checkpoints.num-retained", std::to_string(retained));
    c.set("execution.checkpointing.tolerable-failed-checkpoints", "1000");
    auto cluster = startOneTaskManager(c);
    EXPECT_OK(cluster.status());
    if (!cluster.isOk()) return outcome;
    runtime::JobManager& jm = (*cluster)->jobManager();

    auto gate = std::make_shared<Gate>();
    gate->allowed = kValues / 2;
    gate->total = kValues;
    auto sums = std::make_shared<CollectedRecords<Sum>>();
    auto failOnce = std::make_shared<std::atomic<bool>>(false);
    auto decline = std::make_shared<std::atomic<bool>>(false);
    auto declined = std::make_shared<std::atomic<int>>(0);
    StreamExecutionEnvironment env(c);
    env.fromSource<int64_t>(std::make_shared<GatedSequence>(gate), "Gated")
        .map(SteeredMap(failOnce, decline, declined))
        .map([](int64_t x) {
          return Sum{x % kKeys, x};
        })
        .keyBy([](const Sum& p) { return p.first; })
        .reduce([](const Sum& a, const Sum& b) {
          return Sum{a.first, a.second + b.second};
        })
        .sinkTo(std::make_shared<CollectSink<Sum>>(sums));
    auto streamGraph = graph::StreamGraph::create(env.transformations(), 1, 128);
    EXPECT_OK(streamGraph.status());
    auto job = graph::JobGraph::create(std::move(streamGraph).value(), "corrupt", c);
    EXPECT_OK(job.status());
    auto jobId = jm.submitJob(*job);
    EXPECT_OK(jobId.status());
    if (!jobId.isOk()) return outcome;
    const fs::path jobDir = base_ / "checkpoints" / *jobId;

    // Half the values summed, and checkpoints of them.
    EXPECT_TRUE(testing::eventually(
        [&] { return sums->records().size() >= static_cast<size_t>(kValues / 2); }, seconds(60)));
    EXPECT_TRUE(checkpointedAfterNow(jobDir, *jobId));
    // No checkpoint completes from now on: once one was declined, the one before it had
    // ended (one checkpoint at a time), so the latest completed one stays the latest.
    decline->store(true);
    EXPECT_TRUE(testing::eventually([&] { return declined->load() >= 1; }, seconds(60)));
    auto latest = checkpoint::findLatestCompleted(jobDir, *jobId);
    EXPECT_OK(latest.status());
    if (!latest.isOk()) return outcome;
    outcome.corrupted = latest->checkpointId;
    // Its first table file (full checkpoints: no other checkpoint has it) gets another byte.
    bool corrupted = false;
    for (const auto& op : latest->metadata.operators()) {
      for (const auto& subtask : op.subtasks()) {
        for (const auto& handle : subtask.handles()) {
          if (corrupted || !handle.path().starts_with("shared/")) continue;
          std::fstream file(jobDir / handle.path(),
                            std::ios::in | std::ios::out | std::ios::binary);
          file.seekg(static_cast<std::streamoff>(handle.length() / 2));
          const char byte = static_cast<char>(file.get());
          file.seekp(static_cast<std::streamoff>(handle.length() / 2));
          file.put(static_cast<char>(byte ^ 0x5a));
          corrupted = file.good();
        }
      }
    }
    EXPECT_TRUE(corrupted) << "checkpoint " << outcome.corrupted << " has no table file";

    failOnce->store(true);
    gate->allowed = kValues;
    EXPECT_TRUE(testing::eventually(
        [&] {
          auto info = jm.jobStatus(*jobId);
          return info.isOk() && info->restarts >= 1;
        },
        seconds(60)));
    decline->store(false);  // the failed attempt completes nothing any more
    auto info = jm.waitForJobTermination(*jobId, std::chrono::seconds(60));
    EXPECT_OK(info.status());
    if (info.isOk()) outcome.info = std::move(info).value();
    outcome.sums = sums->records();
    return outcome;
  }
};

TEST_F(CorruptCheckpointTest, aCheckpointThatDoesNotRestoreGivesWayToThePreviousOne) {
  Outcome outcome = run(/*retained=*/2);
  ASSERT_EQ(outcome.info.status, runtime::JobStatus::kFinished) << outcome.info.failure.toString();
  // The failure, the restore of the corrupt checkpoint that failed, the one before it.
  EXPECT_GE(outcome.info.restarts, 2);
  expectTotals(outcome.sums, kValues, kKeys);
}

TEST_F(CorruptCheckpointTest, withoutAnEarlierCheckpointTheJobFailsNamingTheCheckpoint) {
  Outcome outcome = run(/*retained=*/1);
  ASSERT_EQ(outcome.info.status, runtime::JobStatus::kFailed);
  EXPECT_THAT(outcome.info.failure.message(),
              ::testing::HasSubstr("checkpoint " + std::to_string(outcome.corrupted) + " of job " +
                                   outcome.info.jobId + " cannot be restored"));
  EXPECT_THAT(outcome.info.failure.message(),
              ::testing::HasSubstr("state.checkpoints.num-retained"));
}

}  // namespace
}  // namespace strom
