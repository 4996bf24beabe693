// Checkpoint barriers through a running job on a MiniCluster of 1 and 3 TaskManagers (local and
// TCP channels): endless sources are triggered through the TaskManagers' test hook; a keyed
// operator's snapshotState records how many records of each source it saw before barrier n.
// With EXACTLY_ONCE (aligned) that is exactly what each source had emitted before it emitted
// barrier n; with AT_LEAST_ONCE it is at least that.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "graph/job_graph.h"
#include "graph/stream_graph.h"
#include "runtime/minicluster/mini_cluster.h"
#include "testutil/status_matchers.h"

namespace strom {
namespace {

using Clock = std::chrono::steady_clock;
using Record = std::pair<int64_t, int64_t>;  // (source subtask, sequence number)

constexpr int kParallelism = 3;
constexpr int kCheckpoints = 3;
/// How long any wait of the test may take before it gives up.
constexpr std::chrono::seconds kDeadline{60};

/// What the job's tasks report, shared with the test thread.
struct Recorder {
  std::mutex mu;
  std::condition_variable changed;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> emitted[kParallelism] = {};  // per source subtask
  int sourceVertex = -1;
  // Guarded by mu.
  std::map<int64_t, int> acks;  // checkpoint id -> tasks that completed their snapshot
  std::map<int64_t, std::vector<int64_t>> sourceCounts;  // id -> emitted per source subtask
  // id -> per counting subtask, records seen per source subtask
  std::map<int64_t, std::map<int, std::vector<int64_t>>> seen;

  void onCompleted(const runtime::ExecutionAttemptId& attempt, int64_t checkpointId) {
    std::lock_guard lock(mu);
    if (attempt.vertexId == sourceVertex) {
      // On the source's task thread, right after its barrier went out: the exact count.
      auto& counts = sourceCounts[checkpointId];
      counts.resize(kParallelism);
      counts[static_cast<size_t>(attempt.subtaskIndex)] =
          emitted[attempt.subtaskIndex].load(std::memory_order_relaxed);
    }
    ++acks[checkpointId];
    changed.notify_all();
  }

  /// Wait until `condition()` (evaluated under mu) holds; false at the deadline.
  template <class Condition>
  bool waitFor(Condition condition) {
    std::unique_lock lock(mu);
    return changed.wait_until(lock, Clock::now() + kDeadline, condition);
  }
};

/// Emits (subtask, 0), (subtask, 1), ... in batches of 64 until told to stop.
class EndlessSource final : public Source<Record> {
 public:
  explicit EndlessSource(std::shared_ptr<Recorder> recorder) : recorder_(std::move(recorder)) {}
  std::unique_ptr<SourceReader<Record>> createReader(int subtask, int) const override {
    return std::make_unique<Reader>(recorder_, subtask);
  }

 private:
  class Reader final : public SourceReader<Record> {
   public:
    Reader(std::shared_ptr<Recorder> recorder, int subtask)
        : recorder_(std::move(recorder)), subtask_(subtask), stopAt_(Clock::now() + kDeadline) {}
    Result<InputStatus> pollNext(Output<Record>& output) override {
      if (recorder_->stop.load() || Clock::now() > stopAt_) return InputStatus::kEndOfInput;
      for (int i = 0; i < 64; ++i) output.push(Record{subtask_, next_++});
      recorder_->emitted[subtask_].store(next_, std::memory_order_relaxed);
      {
        // Wake the test thread waiting for progress.
        std::lock_guard lock(recorder_->mu);
        recorder_->changed.notify_all();
      }
      return InputStatus::kMoreAvailable;
    }

   private:
    std::shared_ptr<Recorder> recorder_;
    int subtask_;
    int64_t next_ = 0;
    Clock::time_point stopAt_;
  };
  std::shared_ptr<Recorder> recorder_;
};

/// A keyed operator without output that counts the records of each source subtask and records
/// the counts in snapshotState.
class CountingOperator final : public StreamOperator, public Input<Record> {
 public:
  explicit CountingOperator(std::shared_ptr<Recorder> recorder)
      : recorder_(std::move(recorder)), counts_(kParallelism, 0) {}
  InputBase* input() override { return this; }
  void processBatch(RecordBatch<Record>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) ++counts_[static_cast<size_t>(batch[i].first)];
  }
  Status snapshotState(StateSnapshotContext& snapshot) override {
    std::lock_guard lock(recorder_->mu);
    recorder_->seen[snapshot.checkpointId()][context().subtaskIndex()] = counts_;
    return Status::ok();
  }

 private:
  std::shared_ptr<Recorder> recorder_;
  std::vector<int64_t> counts_;
};

struct Case {
  int taskManagers;
  const char* mode;
};

class CheckpointBarriersTest : public ::testing::TestWithParam<Case> {};

TEST_P(CheckpointBarriersTest, snapshotsCoverWhatTheSourcesEmittedBeforeTheirBarriers) {
  const Case param = GetParam();
  const bool exactlyOnce = std::string(param.mode) == "EXACTLY_ONCE";
  Configuration config;
  config.set("taskmanager.count", std::to_string(param.taskManagers));
  config.set("taskmanager.numberOfTaskSlots", std::to_string(kParallelism / param.taskManagers));
  config.set("execution.checkpointing.mode", param.mode);
  runtime::MiniCluster::Options options;
  options.numberOfTaskManagers = param.taskManagers;
  options.configuration = config;
  ASSERT_OK_AND_ASSIGN(auto cluster, runtime::MiniCluster::start(options));

  // Source -> Map (chained) -> keyBy -> Counting: every counting subtask reads every source.
  auto recorder = std::make_shared<Recorder>();
  StreamExecutionEnvironment env(config);
  auto keyed = env.fromSource<Record>(std::make_shared<EndlessSource>(recorder), "Endless")
                   .map([](const Record& r) { return r; })
                   .keyBy([](const Record& r) { return r.second % 17; });
  Transformation counting;
  counting.kind = TransformationKind::kSink;
  counting.name = "Counting";
  counting.inputs = {keyed.id()};
  counting.keyedInput = true;
  counting.operatorFactory = makeOperatorFactory(
      [recorder](size_t) { return std::make_unique<CountingOperator>(recorder); });
  keyed.environment()->add(std::move(counting));

  ASSERT_OK_AND_ASSIGN(auto streamGraph,
                       graph::StreamGraph::create(env.transformations(), kParallelism, 128));
  ASSERT_OK_AND_ASSIGN(auto job,
                       graph::JobGraph::create(std::move(streamGraph), "barriers test", config));
  ASSERT_EQ(job->vertices().size(), 2u);
  for (const graph::JobVertex& vertex : job->vertices()) {
    if (vertex.isSource()) recorder->sourceVertex = vertex.id;
  }
  ASSERT_GE(recorder->sourceVertex, 0);
  for (int i = 0; i < cluster->numberOfTaskManagers(); ++i) {
    cluster->taskManager(i).testingSetCheckpointListener(
        [recorder](const runtime::ExecutionAttemptId& attempt, int64_t checkpointId) {
          recorder->onCompleted(attempt, checkpointId);
        });
  }

  auto promise = std::make_shared<std::promise<Result<JobExecutionResult>>>();
  auto result = promise->get_future();
  std::thread runner([&cluster, job, promise] { promise->set_value(cluster->executeJob(job)); });
  struct Stopper {
    std::shared_ptr<Recorder> recorder;
    std::thread& thread;
    ~Stopper() {
      recorder->stop.store(true);
      if (thread.joinable()) thread.join();
    }
  } stopper{recorder, runner};

  // Wait until every source has emitted `atLeast` records.
  auto waitForProgress = [&](int64_t atLeast) {
    return recorder->waitFor([&] {
      for (const auto& emitted : recorder->emitted) {
        if (emitted.load(std::memory_order_relaxed) < atLeast) return false;
      }
      return true;
    });
  };
  ASSERT_TRUE(waitForProgress(1000)) << "the sources did not start";
  const int tasks = 2 * kParallelism;  // source chains and counting subtasks
  for (int64_t id = 1; id <= kCheckpoints; ++id) {
    int sources = 0;
    for (int i = 0; i < cluster->numberOfTaskManagers(); ++i) {
      sources += cluster->taskManager(i).testingTriggerCheckpoint(id, 1000 * id);
    }
    ASSERT_EQ(sources, kParallelism);
    ASSERT_TRUE(recorder->waitFor([&] { return recorder->acks[id] == tasks; }))
        << "checkpoint " << id << " did not complete at every task";
    int64_t least = INT64_MAX;
    for (const auto& emitted : recorder->emitted) least = std::min(least, emitted.load());
    ASSERT_TRUE(waitForProgress(least + 1000)) << "the sources stalled after checkpoint " << id;
  }
  recorder->stop.store(true);
  ASSERT_EQ(result.wait_for(kDeadline), std::future_status::ready) << "the job did not end";
  runner.join();
  ASSERT_OK(result.get());

  std::lock_guard lock(recorder->mu);
  for (int64_t id = 1; id <= kCheckpoints; ++id) {
    SCOPED_TRACE("checkpoint " + std::to_string(id));
    ASSERT_EQ(recorder->acks[id], tasks);
    const std::vector<int64_t>& emitted = recorder->sourceCounts[id];
    ASSERT_EQ(emitted.size(), static_cast<size_t>(kParallelism));
    ASSERT_EQ(recorder->seen[id].size(), static_cast<size_t>(kParallelism));
    for (int s = 0; s < kParallelism; ++s) {
      int64_t seen = 0;
      for (const auto& [subtask, counts] : recorder->seen[id])
        seen += counts[static_cast<size_t>(s)];
      EXPECT_GT(emitted[static_cast<size_t>(s)], 0);
      if (exactlyOnce) {
        EXPECT_EQ(seen, emitted[static_cast<size_t>(s)]) << "source subtask " << s;
      } else {
        EXPECT_GE(seen, emitted[static_cast<size_t>(s)]) << "source subtask " << s;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(, CheckpointBarriersTest,
                         ::testing::Values(Case{1, "EXACTLY_ONCE"}, Case{3, "EXACTLY_ONCE"},
                                           Case{3, "AT_LEAST_ONCE"}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::to_string(info.param.taskManagers) + "TaskManagers_" +
                                  info.param.mode;
                         });

}  // namespace
}  // namespace strom
