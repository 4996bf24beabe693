// Checkpoint barriers through running tasks on 1 and 3 TaskManagers (local and TCP channels),
// driven without a JobManager: the tasks are deployed by hand, endless sources are triggered
// through TaskManager::triggerCheckpoint, and a recording JobManagerGateway collects the
// acknowledgements. An operator chained to each source stores how many records it passed on
// before barrier n, and a keyed operator how many of each source it saw, as operator state in
// the checkpoint's files; the test reads them back through the acknowledged handles. With
// EXACTLY_ONCE (aligned) the counts are equal; with AT_LEAST_ONCE the keyed side saw at least as
// many.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <strom/strom.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/task_state_file.h"
#include "graph/job_graph.h"
#include "graph/stream_graph.h"
#include "runtime/taskmanager/task_manager.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"
#include "testutil/task_deployment.h"

namespace strom {
namespace {

using Clock = std::chrono::steady_clock;
using Record = std::pair<int64_t, int64_t>;  // (source subtask, sequence number)
namespace fs = std::filesystem;

constexpr int kParallelism = 3;
constexpr int kCheckpoints = 3;
/// How long any wait of the test may take before it gives up.
constexpr std::chrono::seconds kDeadline{60};

/// What the sources share with the test thread.
struct Progress {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> emitted[kParallelism] = {};  // per source subtask
};

/// Emits (subtask, 0), (subtask, 1), ... in batches of 64 until told to stop.
class EndlessSource final : public Source<Record> {
 public:
  explicit EndlessSource(std::shared_ptr<Progress> progress) : progress_(std::move(progress)) {}
  std::unique_ptr<SourceReader<Record>> createReader(int subtask, int) const override {
    return std::make_unique<Reader>(progress_, subtask);
  }

 private:
  class Reader final : public SourceReader<Record> {
   public:
    Reader(std::shared_ptr<Progress> progress, int subtask)
        : progress_(std::move(progress)), subtask_(subtask), stopAt_(Clock::now() + kDeadline) {}
    Result<InputStatus> pollNext(Output<Record>& output) override {
      if (progress_->stop.load() || Clock::now() > stopAt_) return InputStatus::kEndOfInput;
      for (int i = 0; i < 64; ++i) output.push(Record{subtask_, next_++});
      progress_->emitted[subtask_].store(next_, std::memory_order_relaxed);
      return InputStatus::kMoreAvailable;
    }
    Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
      return std::vector<SourceSplitState>{
          {"split-" + std::to_string(subtask_), std::to_string(next_)}};
    }
    Status restoreState(std::vector<SourceSplitState>) override { return Status::ok(); }

   private:
    std::shared_ptr<Progress> progress_;
    int subtask_;
    int64_t next_ = 0;
    Clock::time_point stopAt_;
  };
  std::shared_ptr<Progress> progress_;
};

/// Chained to the source: passes records on and stores how many it passed as operator state
/// "passed" (one element, decimal).
class PassingOperator final : public StreamOperator, public Input<Record> {
 public:
  explicit PassingOperator(size_t batchRows) : output_(batchRows) {}
  InputBase* input() override { return this; }
  OutputBase* mainOutput() override { return &output_; }
  void processBatch(RecordBatch<Record>& batch) override {
    passed_ += static_cast<int64_t>(batch.size());
    output_.emit(batch);
  }
  Status snapshotState(StateSnapshotContext& snapshot) override {
    snapshot.addOperatorState("passed", OperatorStateMode::kSplit, {std::to_string(passed_)});
    return Status::ok();
  }

 private:
  Output<Record> output_;
  int64_t passed_ = 0;
};

/// A keyed operator without output that counts the records of each source subtask and stores
/// the counts as operator state "seen" (one decimal element per source subtask).
class CountingOperator final : public StreamOperator, public Input<Record> {
 public:
  CountingOperator() : counts_(kParallelism, 0) {}
  InputBase* input() override { return this; }
  void processBatch(RecordBatch<Record>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) ++counts_[static_cast<size_t>(batch[i].first)];
  }
  Status snapshotState(StateSnapshotContext& snapshot) override {
    std::vector<std::string> elements;
    for (int64_t count : counts_) elements.push_back(std::to_string(count));
    snapshot.addOperatorState("seen", OperatorStateMode::kUnion, std::move(elements));
    return Status::ok();
  }

 private:
  std::vector<int64_t> counts_;
};

/// Return the elements of operator state `name` of operator `uid` in `state`, read from the
/// checkpoint's files below `jobDir`.
std::vector<int64_t> readCounts(const fs::path& jobDir,
                                const checkpoint::proto::SubtaskState& state,
                                const std::string& uid, const std::string& name) {
  std::vector<int64_t> counts;
  for (const checkpoint::proto::StateHandle& handle : state.handles()) {
    if (handle.operator_uid() != uid || handle.name() != name) continue;
    EXPECT_EQ(handle.kind(), "operator");
    auto bytes = checkpoint::readStateHandle(jobDir, handle);
    EXPECT_OK(bytes.status());
    if (!bytes.isOk()) return counts;
    std::vector<std::string> elements;
    EXPECT_OK(checkpoint::decodeOperatorStateElements(*bytes, handle.path(), elements));
    for (const std::string& element : elements) counts.push_back(std::stoll(element));
  }
  return counts;
}

struct Case {
  int taskManagers;
  const char* mode;
};

class CheckpointBarriersTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "strom-barriers-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    checkpointDir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(checkpointDir_, ec);
  }
  fs::path checkpointDir_;
};

TEST_P(CheckpointBarriersTest, snapshotsCoverWhatTheSourcesEmittedBeforeTheirBarriers) {
  const Case param = GetParam();
  const bool exactlyOnce = std::string(param.mode) == "EXACTLY_ONCE";
  const std::string jobId = "barriers";
  Configuration config;
  config.set("taskmanager.numberOfTaskSlots", std::to_string(kParallelism / param.taskManagers));
  config.set("execution.checkpointing.mode", param.mode);
  config.set("state.checkpoints.dir", checkpointDir_.string());

  // Source -> Passing (chained) -> keyBy -> Counting: every counting subtask reads every source.
  auto progress = std::make_shared<Progress>();
  StreamExecutionEnvironment env(config);
  auto source = env.fromSource<Record>(std::make_shared<EndlessSource>(progress), "Endless");
  Transformation passing;
  passing.kind = TransformationKind::kOneInput;
  passing.name = "Passing";
  passing.uid = "passing";
  passing.inputs = {source.id()};
  passing.outputType = detail::recordOps<Record>();
  passing.operatorFactory = makeOperatorFactory(
      [](size_t batchRows) { return std::make_unique<PassingOperator>(batchRows); });
  int passingId = source.environment()->add(std::move(passing)).id;
  auto keyed = DataStream<Record>(source.environment(), passingId).keyBy([](const Record& r) {
    return r.second % 17;
  });
  Transformation counting;
  counting.kind = TransformationKind::kSink;
  counting.name = "Counting";
  counting.uid = "counting";
  counting.inputs = {keyed.id()};
  counting.keyedInput = true;
  counting.operatorFactory =
      makeOperatorFactory([](size_t) { return std::make_unique<CountingOperator>(); });
  keyed.environment()->add(std::move(counting));

  ASSERT_OK_AND_ASSIGN(auto streamGraph,
                       graph::StreamGraph::create(env.transformations(), kParallelism, 128));
  ASSERT_OK_AND_ASSIGN(auto job,
                       graph::JobGraph::create(std::move(streamGraph), "barriers test", config));
  ASSERT_EQ(job->vertices().size(), 2u);
  int sourceVertex = -1;
  for (const graph::JobVertex& vertex : job->vertices()) {
    if (vertex.isSource()) sourceVertex = vertex.id;
  }
  ASSERT_GE(sourceVertex, 0);

  testing::RecordingJobManager jobManager;
  std::vector<std::unique_ptr<runtime::TaskManager>> taskManagers;
  std::vector<std::string> slotAddresses;
  for (int i = 0; i < param.taskManagers; ++i) {
    ASSERT_OK_AND_ASSIGN(auto options, runtime::TaskManager::Options::fromConfiguration(
                                           config, "taskmanager-" + std::to_string(i)));
    ASSERT_OK_AND_ASSIGN(auto tm, runtime::TaskManager::create(
                                      std::move(options), &SystemClock::instance(), &jobManager));
    taskManagers.push_back(std::move(tm));
  }
  auto taskManagerOf = [&](int subtask) -> runtime::TaskManager& {
    return *taskManagers[static_cast<size_t>(subtask % param.taskManagers)];
  };
  for (int s = 0; s < kParallelism; ++s) slotAddresses.push_back(taskManagerOf(s).dataAddress());
  struct Stopper {
    std::shared_ptr<Progress> progress;
    std::vector<std::unique_ptr<runtime::TaskManager>>& taskManagers;
    ~Stopper() {
      progress->stop.store(true);
      for (auto& tm : taskManagers) tm->shutdown();
    }
  } stopper{progress, taskManagers};

  std::vector<runtime::ExecutionAttemptId> sources;
  for (auto& deployment : testing::buildTaskDeployments(job, jobId, 0, slotAddresses)) {
    if (deployment.attemptId.vertexId == sourceVertex) sources.push_back(deployment.attemptId);
    runtime::TaskManager& tm = taskManagerOf(deployment.attemptId.subtaskIndex);
    ASSERT_OK(tm.submitTask(std::move(deployment)));
  }
  ASSERT_EQ(sources.size(), static_cast<size_t>(kParallelism));

  // Wait until every source has emitted `atLeast` records.
  auto waitForProgress = [&](int64_t atLeast) {
    return testing::eventually(
        [&] {
          for (const auto& emitted : progress->emitted) {
            if (emitted.load(std::memory_order_relaxed) < atLeast) return false;
          }
          return true;
        },
        kDeadline);
  };
  ASSERT_TRUE(waitForProgress(1000)) << "the sources did not start";
  const int tasks = 2 * kParallelism;  // source chains and counting subtasks
  checkpoint::proto::CheckpointOptions options;
  options.set_type(static_cast<int>(exactlyOnce ? checkpoint::CheckpointType::kAligned
                                                : checkpoint::CheckpointType::kAtLeastOnce));
  for (int64_t id = 1; id <= kCheckpoints; ++id) {
    for (const runtime::ExecutionAttemptId& attempt : sources) {
      ASSERT_OK(
          taskManagerOf(attempt.subtaskIndex).triggerCheckpoint(attempt, id, 1000 * id, options));
    }
    ASSERT_TRUE(jobManager.waitFor([&] { return jobManager.acksOf(id) == tasks; }))
        << "checkpoint " << id << " was not acknowledged by every task";
    int64_t least = INT64_MAX;
    for (const auto& emitted : progress->emitted) least = std::min(least, emitted.load());
    ASSERT_TRUE(waitForProgress(least + 1000)) << "the sources stalled after checkpoint " << id;
  }
  // A trigger for a task that is not a source, or not here, is an error.
  runtime::ExecutionAttemptId notSource = sources[0];
  notSource.vertexId = 1 - sourceVertex;
  EXPECT_EQ(taskManagerOf(0).triggerCheckpoint(notSource, 99, 0, options).code(),
            StatusCode::kFailedPrecondition);
  runtime::ExecutionAttemptId unknown = sources[0];
  unknown.attempt = 7;
  EXPECT_EQ(taskManagerOf(0).triggerCheckpoint(unknown, 99, 0, options).code(),
            StatusCode::kNotFound);

  progress->stop.store(true);
  ASSERT_TRUE(jobManager.waitFor([&] {
    return jobManager.tasksIn(runtime::ExecutionState::kFinished) == tasks;
  })) << "the tasks did not finish";

  std::lock_guard lock(jobManager.mu);
  EXPECT_THAT(jobManager.declines, ::testing::IsEmpty());
  const fs::path jobDir = checkpointDir_ / jobId;
  for (int64_t id = 1; id <= kCheckpoints; ++id) {
    SCOPED_TRACE("checkpoint " + std::to_string(id));
    std::vector<int64_t> emitted(kParallelism, -1);
    std::vector<int64_t> seen(kParallelism, 0);
    int counted = 0;
    for (const auto& ack : jobManager.acks) {
      if (ack.checkpointId != id) continue;
      EXPECT_EQ(ack.state.subtask_index(), ack.attempt.subtaskIndex);
      for (const auto& handle : ack.state.handles()) {
        EXPECT_EQ(handle.path(), "chk-" + std::to_string(id) + "/v" +
                                     std::to_string(ack.attempt.vertexId) + "-s" +
                                     std::to_string(ack.attempt.subtaskIndex) + "-a0.state");
      }
      if (ack.attempt.vertexId == sourceVertex) {
        std::vector<int64_t> passed = readCounts(jobDir, ack.state, "passing", "passed");
        ASSERT_EQ(passed.size(), 1u);
        emitted[static_cast<size_t>(ack.attempt.subtaskIndex)] = passed[0];
      } else {
        std::vector<int64_t> counts = readCounts(jobDir, ack.state, "counting", "seen");
        ASSERT_EQ(counts.size(), static_cast<size_t>(kParallelism));
        for (int s = 0; s < kParallelism; ++s) seen[static_cast<size_t>(s)] += counts[s];
        ++counted;
      }
    }
    ASSERT_EQ(counted, kParallelism);
    for (int s = 0; s < kParallelism; ++s) {
      EXPECT_GT(emitted[static_cast<size_t>(s)], 0);
      if (exactlyOnce) {
        EXPECT_EQ(seen[static_cast<size_t>(s)], emitted[static_cast<size_t>(s)])
            << "source subtask " << s;
      } else {
        EXPECT_GE(seen[static_cast<size_t>(s)], emitted[static_cast<size_t>(s)])
            << "source subtask " << s;
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
