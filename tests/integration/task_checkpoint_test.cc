// The task side of checkpoints on TaskManagers driven without a JobManager (deployments built
// by hand, a recording JobManagerGateway): a stateful test operator's keyed bytes and operator
// states are written to the checkpoint's files and acknowledged; the acknowledged handles,
// turned into TaskRestores by hand (same parallelism, and 2 -> 3 with split_select), restore
// exactly those bytes; a corrupt file or a foreign operator uid fails the task naming it; the
// final checkpoint of a bounded job (mechanism 4); stop with a savepoint (terminate), completed
// and aborted.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <strom/strom.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
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

namespace fs = std::filesystem;
using runtime::ExecutionAttemptId;
using runtime::ExecutionState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::chrono::seconds kDeadline{60};
constexpr int kMaxParallelism = 128;

/// Shared between the test thread, the sources and the stateful operators.
struct Recorder {
  // Sources: emit up to `limit` records each (-1: no limit), end when `end` is set.
  std::atomic<int64_t> limit{-1};
  std::atomic<bool> end{false};
  std::atomic<int64_t> emitted[4] = {};

  struct Restored {
    bool restored = false;
    int64_t checkpointId = -2;
    std::vector<std::pair<std::string, std::string>> keyed;  // name, bytes
    std::map<std::string, std::vector<std::string>> operatorStates;
  };
  std::mutex mu;
  // Guarded by mu; by subtask of the stateful operator.
  std::map<int, Restored> restored;
  std::map<int, std::vector<int64_t>> completed;
  std::map<int, std::vector<int64_t>> aborted;
  std::map<int, bool> endInput;
  std::map<int, bool> closed;
  std::map<std::pair<int64_t, int>, int64_t> snapshotCounts;  // (checkpoint, subtask) -> count
  std::map<int, int64_t> counts;                              // the latest per subtask
  std::map<int64_t, int64_t> sums;  // CollectingOperator: the largest sum seen per key
  int64_t collected = 0;            // CollectingOperator: records received
};

using Sum = std::pair<int64_t, int64_t>;  // key, running sum

/// A sink that keeps the largest running sum per key and counts its records.
class CollectingOperator final : public StreamOperator, public Input<Sum> {
 public:
  explicit CollectingOperator(std::shared_ptr<Recorder> recorder)
      : recorder_(std::move(recorder)) {}
  InputBase* input() override { return this; }
  void processBatch(RecordBatch<Sum>& batch) override {
    std::lock_guard lock(recorder_->mu);
    for (size_t i = 0; i < batch.size(); ++i) {
      int64_t& sum = recorder_->sums[batch[i].first];
      sum = std::max(sum, batch[i].second);
    }
    recorder_->collected += static_cast<int64_t>(batch.size());
  }

 private:
  std::shared_ptr<Recorder> recorder_;
};

/// Emits 0, 1, 2, ... (up to the recorder's limit), then waits, until told to end.
class ControlledSource final : public Source<int64_t> {
 public:
  explicit ControlledSource(std::shared_ptr<Recorder> recorder) : recorder_(std::move(recorder)) {}
  std::unique_ptr<SourceReader<int64_t>> createReader(int subtask, int) const override {
    return std::make_unique<Reader>(recorder_, subtask);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(std::shared_ptr<Recorder> recorder, int subtask)
        : recorder_(std::move(recorder)), subtask_(subtask), stopAt_(Clock::now() + kDeadline) {}
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      if (recorder_->end.load() || Clock::now() > stopAt_) return InputStatus::kEndOfInput;
      int64_t limit = recorder_->limit.load();
      int64_t n = limit < 0 ? 16 : std::min<int64_t>(16, limit - next_);
      if (n <= 0) return InputStatus::kNothingAvailable;
      for (int64_t i = 0; i < n; ++i) output.push(next_++);
      recorder_->emitted[subtask_].store(next_);
      return InputStatus::kMoreAvailable;
    }
    Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
      return std::vector<SourceSplitState>{
          {"split-" + std::to_string(subtask_), std::to_string(next_)}};
    }
    Status restoreState(std::vector<SourceSplitState>) override { return Status::ok(); }

   private:
    using Clock = std::chrono::steady_clock;
    std::shared_ptr<Recorder> recorder_;
    int subtask_;
    int64_t next_ = 0;
    Clock::time_point stopAt_;
  };
  std::shared_ptr<Recorder> recorder_;
};

/// Counts its records; snapshots keyed bytes "keyed:<subtask>:<count>" and three operator
/// states: "split" {"s<subtask>-a", "s<subtask>-b"}, "union" {"u<subtask>"}, "broadcast" {"b"}.
/// Records what it restores and every notification.
class StatefulOperator final : public StreamOperator, public Input<int64_t> {
 public:
  explicit StatefulOperator(std::shared_ptr<Recorder> recorder) : recorder_(std::move(recorder)) {}
  InputBase* input() override { return this; }
  void processBatch(RecordBatch<int64_t>& batch) override {
    count_ += static_cast<int64_t>(batch.size());
    std::lock_guard lock(recorder_->mu);
    recorder_->counts[subtask()] = count_;
  }
  Status initializeState(StateInitializationContext& context) override {
    Recorder::Restored restored;
    restored.restored = context.isRestored();
    restored.checkpointId = context.restoredCheckpointId();
    for (const KeyedStateSnapshotInput& keyed : context.keyedState()) {
      restored.keyed.emplace_back(keyed.name, std::string(keyed.bytes));
    }
    for (const std::string& name : context.operatorStateNames()) {
      restored.operatorStates[name] = context.operatorState(name);
    }
    std::lock_guard lock(recorder_->mu);
    recorder_->restored[subtask()] = std::move(restored);
    return Status::ok();
  }
  Status snapshotState(StateSnapshotContext& snapshot) override {
    std::string s = std::to_string(subtask());
    snapshot.addKeyedState("keyed:" + s + ":" + std::to_string(count_));
    snapshot.addOperatorState("split", OperatorStateMode::kSplit, {"s" + s + "-a", "s" + s + "-b"});
    snapshot.addOperatorState("union", OperatorStateMode::kUnion, {"u" + s});
    snapshot.addOperatorState("broadcast", OperatorStateMode::kBroadcast, {"b"});
    std::lock_guard lock(recorder_->mu);
    recorder_->snapshotCounts[{snapshot.checkpointId(), subtask()}] = count_;
    return Status::ok();
  }
  void notifyCheckpointComplete(int64_t checkpointId) override {
    std::lock_guard lock(recorder_->mu);
    recorder_->completed[subtask()].push_back(checkpointId);
  }
  void notifyCheckpointAborted(int64_t checkpointId) override {
    std::lock_guard lock(recorder_->mu);
    recorder_->aborted[subtask()].push_back(checkpointId);
  }
  void endInput() override {
    std::lock_guard lock(recorder_->mu);
    recorder_->endInput[subtask()] = true;
  }
  void close() override {
    std::lock_guard lock(recorder_->mu);
    recorder_->closed[subtask()] = true;
  }

 private:
  int subtask() { return context().subtaskIndex(); }
  std::shared_ptr<Recorder> recorder_;
  int64_t count_ = 0;
};

class TaskCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "strom-task-checkpoint-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    checkpointDir_ = pattern;
    config_.set("state.checkpoints.dir", checkpointDir_.string());
    config_.set("taskmanager.numberOfTaskSlots", "2");
  }
  void TearDown() override {
    recorder_->end.store(true);
    for (auto& tm : taskManagers_) tm->shutdown();
    std::error_code ec;
    fs::remove_all(checkpointDir_, ec);
  }

  /// ControlledSource (uid "source") -> keyBy -> StatefulOperator (uid "stateful").
  std::shared_ptr<const graph::JobGraph> buildJob(int parallelism) {
    StreamExecutionEnvironment env(config_);
    auto keyed = env.fromSource<int64_t>(std::make_shared<ControlledSource>(recorder_), "Source")
                     .uid("source")
                     .keyBy([](int64_t value) { return value % 7; });
    Transformation stateful;
    stateful.kind = TransformationKind::kSink;
    stateful.name = "Stateful";
    stateful.uid = "stateful";
    stateful.inputs = {keyed.id()};
    stateful.keyedInput = true;
    auto recorder = recorder_;
    stateful.operatorFactory = makeOperatorFactory(
        [recorder](size_t) { return std::make_unique<StatefulOperator>(recorder); });
    keyed.environment()->add(std::move(stateful));
    auto streamGraph =
        graph::StreamGraph::create(env.transformations(), parallelism, kMaxParallelism);
    EXPECT_OK(streamGraph.status());
    auto job =
        graph::JobGraph::create(std::move(streamGraph).value(), "task checkpoint test", config_);
    EXPECT_OK(job.status());
    for (const graph::JobVertex& vertex : (*job)->vertices()) {
      (vertex.isSource() ? sourceVertex_ : statefulVertex_) = vertex.id;
    }
    return *job;
  }

  /// Start `count` TaskManagers reporting to jobManager_.
  void startTaskManagers(int count) {
    for (int i = 0; i < count; ++i) {
      auto options = runtime::TaskManager::Options::fromConfiguration(
          config_, "taskmanager-" + std::to_string(i));
      ASSERT_OK(options.status());
      auto tm = runtime::TaskManager::create(std::move(options).value(), &SystemClock::instance(),
                                             &jobManager_);
      ASSERT_OK(tm.status());
      taskManagers_.push_back(std::move(tm).value());
    }
  }

  runtime::TaskManager& taskManagerOf(int subtask) {
    return *taskManagers_[static_cast<size_t>(subtask) % taskManagers_.size()];
  }

  /// Deploy attempt `attempt` of `job`; `restoreOf(attempt)` gives each task's restore (or
  /// null). Return the attempts, sources first.
  template <class RestoreOf>
  std::vector<ExecutionAttemptId> deploy(const std::shared_ptr<const graph::JobGraph>& job,
                                         int attempt, RestoreOf restoreOf) {
    std::vector<std::string> slots;
    int parallelism = job->vertices().front().parallelism;
    for (int s = 0; s < parallelism; ++s) slots.push_back(taskManagerOf(s).dataAddress());
    std::vector<ExecutionAttemptId> attempts;
    for (auto& deployment : testing::buildTaskDeployments(job, jobId_, attempt, slots)) {
      deployment.restore = restoreOf(deployment.attemptId);
      attempts.push_back(deployment.attemptId);
      EXPECT_OK(taskManagerOf(deployment.attemptId.subtaskIndex).submitTask(std::move(deployment)));
    }
    return attempts;
  }
  std::vector<ExecutionAttemptId> deploy(const std::shared_ptr<const graph::JobGraph>& job,
                                         int attempt) {
    return deploy(job, attempt, [](const ExecutionAttemptId&) {
      return std::shared_ptr<const checkpoint::proto::TaskRestore>();
    });
  }

  /// Trigger `checkpointId` with `options` at every source of `attempts` (every task with
  /// options.final()).
  void trigger(const std::vector<ExecutionAttemptId>& attempts, int64_t checkpointId,
               const checkpoint::proto::CheckpointOptions& options) {
    for (const ExecutionAttemptId& attempt : attempts) {
      if (!options.final() && attempt.vertexId != sourceVertex_) continue;
      ASSERT_OK(taskManagerOf(attempt.subtaskIndex)
                    .triggerCheckpoint(attempt, checkpointId, 1000 + checkpointId, options));
    }
  }

  /// The counts the stateful subtasks snapshotted for `checkpointId`. REQUIRES: recorder mu.
  int64_t snapshotTotal(int64_t checkpointId) {
    int64_t total = 0;
    for (const auto& [key, count] : recorder_->snapshotCounts) {
      if (key.first == checkpointId) total += count;
    }
    return total;
  }

  bool waitForAcks(int64_t checkpointId, int count) {
    return jobManager_.waitFor([&] { return jobManager_.acksOf(checkpointId) == count; });
  }
  bool waitForState(ExecutionState state, int count) {
    return jobManager_.waitFor([&] { return jobManager_.tasksIn(state) == count; });
  }
  /// Wait until every source emitted at least `atLeast` records.
  bool waitForEmitted(int parallelism, int64_t atLeast) {
    return testing::eventually(
        [&] {
          for (int s = 0; s < parallelism; ++s) {
            if (recorder_->emitted[s].load() < atLeast) return false;
          }
          return true;
        },
        kDeadline);
  }

  /// The handles acknowledged for `checkpointId` by subtask `subtask` of vertex `vertex`.
  std::vector<checkpoint::proto::StateHandle> handlesOf(int64_t checkpointId, int vertex,
                                                        int subtask) {
    std::lock_guard lock(jobManager_.mu);
    std::vector<checkpoint::proto::StateHandle> handles;
    for (const auto& ack : jobManager_.acks) {
      if (ack.checkpointId != checkpointId || ack.attempt.vertexId != vertex ||
          ack.attempt.subtaskIndex != subtask) {
        continue;
      }
      handles.assign(ack.state.handles().begin(), ack.state.handles().end());
    }
    return handles;
  }

  /// A TaskRestore of `checkpointId` with `handles`.
  std::shared_ptr<checkpoint::proto::TaskRestore> restoreWith(
      int64_t checkpointId, const std::vector<checkpoint::proto::StateHandle>& handles) {
    auto restore = std::make_shared<checkpoint::proto::TaskRestore>();
    restore->set_checkpoint_id(checkpointId);
    restore->set_root_dir((checkpointDir_ / jobId_).string());
    for (const auto& handle : handles) *restore->add_handles() = handle;
    return restore;
  }

  /// Run the job at parallelism 2, take checkpoint 1 once every source emitted 100 records,
  /// then cancel every task (a failure). Return the job.
  std::shared_ptr<const graph::JobGraph> runAndCheckpoint() {
    auto job = buildJob(2);
    startTaskManagers(2);
    recorder_->limit.store(100);
    auto attempts = deploy(job, 0);
    EXPECT_TRUE(waitForEmitted(2, 100));
    // Every record reached the stateful operators.
    EXPECT_TRUE(testing::eventually([&] {
      std::lock_guard lock(recorder_->mu);
      return recorder_->counts[0] + recorder_->counts[1] == 200;
    }));
    trigger(attempts, 1, {});
    EXPECT_TRUE(waitForAcks(1, 4));
    for (auto& tm : taskManagers_) tm->releaseJob(jobId_, /*jobEnded=*/true);
    EXPECT_TRUE(waitForState(ExecutionState::kCanceled, 4));
    std::lock_guard lock(recorder_->mu);
    recorder_->restored.clear();
    return job;
  }

  const std::string jobId_ = "taskcheckpoint";
  fs::path checkpointDir_;
  Configuration config_;
  std::shared_ptr<Recorder> recorder_ = std::make_shared<Recorder>();
  testing::RecordingJobManager jobManager_;
  std::vector<std::unique_ptr<runtime::TaskManager>> taskManagers_;
  int sourceVertex_ = -1;
  int statefulVertex_ = -1;
};

TEST_F(TaskCheckpointTest, writesTheOperatorsStateAndRestoresExactlyThoseBytes) {
  auto job = runAndCheckpoint();
  {
    std::lock_guard lock(jobManager_.mu);
    EXPECT_THAT(jobManager_.declines, IsEmpty());
  }
  int64_t counts[2];
  for (int s = 0; s < 2; ++s) {
    std::vector<checkpoint::proto::StateHandle> handles = handlesOf(1, statefulVertex_, s);
    ASSERT_EQ(handles.size(), 4u);
    const auto& keyed = handles[0];
    EXPECT_EQ(keyed.path(),
              "chk-1/v" + std::to_string(statefulVertex_) + "-s" + std::to_string(s) + "-a0.state");
    EXPECT_EQ(keyed.kind(), "keyed");
    EXPECT_EQ(keyed.operator_uid(), "stateful");
    KeyGroupRange range = KeyGroupRange::forOperator(kMaxParallelism, 2, s);
    EXPECT_EQ(keyed.key_group_start(), range.startKeyGroup);
    EXPECT_EQ(keyed.key_group_end(), range.endKeyGroup);
    EXPECT_EQ(handles[1].name(), "split");
    EXPECT_EQ(handles[1].mode(), 0);
    EXPECT_EQ(handles[2].name(), "union");
    EXPECT_EQ(handles[2].mode(), 1);
    EXPECT_EQ(handles[3].name(), "broadcast");
    EXPECT_EQ(handles[3].mode(), 2);
    for (const auto& handle : handles) EXPECT_EQ(handle.subtask_index(), s);
    std::lock_guard lock(recorder_->mu);
    counts[s] = recorder_->snapshotCounts[std::make_pair(int64_t{1}, s)];
  }
  EXPECT_EQ(counts[0] + counts[1], 200);

  // Attempt 1, same parallelism: every task gets its own handles back.
  recorder_->limit.store(0);
  auto attempts = deploy(job, 1, [&](const ExecutionAttemptId& attempt) {
    return restoreWith(1, handlesOf(1, attempt.vertexId, attempt.subtaskIndex));
  });
  ASSERT_TRUE(testing::eventually(
      [&] {
        std::lock_guard lock(recorder_->mu);
        return recorder_->restored.size() == 2;
      },
      kDeadline));
  std::lock_guard lock(recorder_->mu);
  for (int s = 0; s < 2; ++s) {
    SCOPED_TRACE("subtask " + std::to_string(s));
    Recorder::Restored& restored = recorder_->restored[s];
    EXPECT_TRUE(restored.restored);
    EXPECT_EQ(restored.checkpointId, 1);
    std::string file =
        (checkpointDir_ / jobId_ /
         ("chk-1/v" + std::to_string(statefulVertex_) + "-s" + std::to_string(s) + "-a0.state"))
            .string();
    EXPECT_THAT(restored.keyed,
                ElementsAre(std::pair<std::string, std::string>(
                    file, "keyed:" + std::to_string(s) + ":" + std::to_string(counts[s]))));
    std::string t = std::to_string(s);
    EXPECT_THAT(restored.operatorStates["split"], ElementsAre("s" + t + "-a", "s" + t + "-b"));
    EXPECT_THAT(restored.operatorStates["union"], ElementsAre("u" + t));
    EXPECT_THAT(restored.operatorStates["broadcast"], ElementsAre("b"));
  }
}

TEST_F(TaskCheckpointTest, aKeyedReduceGoesOnFromItsRestoredSums) {
  // Source -> Map (chained) -> keyBy -> Reduce -> Collecting (chained), parallelism 2: the
  // library's keyed operator writes its keyed state through the task and restores it.
  StreamExecutionEnvironment env(config_);
  auto sums = env.fromSource<int64_t>(std::make_shared<ControlledSource>(recorder_), "Source")
                  .uid("source")
                  .map([](int64_t value) {
                    return Sum{value % 7, value};
                  })
                  .keyBy([](const Sum& record) { return record.first; })
                  .reduce([](const Sum& a, const Sum& b) {
                    return Sum{a.first, a.second + b.second};
                  })
                  .uid("sum");
  Transformation collecting;
  collecting.kind = TransformationKind::kSink;
  collecting.name = "Collecting";
  collecting.uid = "collecting";
  collecting.inputs = {sums.id()};
  auto recorder = recorder_;
  collecting.operatorFactory = makeOperatorFactory(
      [recorder](size_t) { return std::make_unique<CollectingOperator>(recorder); });
  sums.environment()->add(std::move(collecting));
  ASSERT_OK_AND_ASSIGN(auto streamGraph,
                       graph::StreamGraph::create(env.transformations(), 2, kMaxParallelism));
  ASSERT_OK_AND_ASSIGN(auto job,
                       graph::JobGraph::create(std::move(streamGraph), "keyed reduce", config_));
  ASSERT_EQ(job->vertices().size(), 2u);
  for (const graph::JobVertex& vertex : job->vertices()) {
    if (vertex.isSource()) sourceVertex_ = vertex.id;
  }
  // Both sources emit 0..99; key k's sum is twice the sum of those values that are k mod 7.
  std::map<int64_t, int64_t> expected;
  for (int64_t v = 0; v < 100; ++v) expected[v % 7] += 2 * v;
  auto collectedAll = [&] {
    return testing::eventually(
        [&] {
          std::lock_guard lock(recorder_->mu);
          return recorder_->collected == 200;
        },
        kDeadline);
  };

  startTaskManagers(2);
  recorder_->limit.store(100);
  auto attempts = deploy(job, 0);
  ASSERT_TRUE(collectedAll());
  {
    std::lock_guard lock(recorder_->mu);
    EXPECT_EQ(recorder_->sums, expected);
  }
  trigger(attempts, 1, {});
  ASSERT_TRUE(waitForAcks(1, 4));
  for (auto& tm : taskManagers_) tm->releaseJob(jobId_, /*jobEnded=*/true);
  ASSERT_TRUE(waitForState(ExecutionState::kCanceled, 4));
  {
    std::lock_guard lock(recorder_->mu);
    recorder_->sums.clear();
    recorder_->collected = 0;
  }

  // The restored sums go on: the sources emit 0..99 again, and every sum doubles.
  deploy(job, 1, [&](const ExecutionAttemptId& attempt) {
    return restoreWith(1, handlesOf(1, attempt.vertexId, attempt.subtaskIndex));
  });
  ASSERT_TRUE(collectedAll());
  std::lock_guard lock(recorder_->mu);
  for (auto& [key, sum] : expected) sum *= 2;
  EXPECT_EQ(recorder_->sums, expected);
}

TEST_F(TaskCheckpointTest, restoresAtAnotherParallelismWithTheAssignedHandles) {
  auto job = runAndCheckpoint();
  // As the JobManager assigns them for parallelism 3: keyed handles overlapping the range, all
  // split handles with split_select, all union handles, subtask 0's broadcast handle.
  auto wider = buildJob(3);
  recorder_->limit.store(0);
  std::vector<checkpoint::proto::StateHandle> old[2] = {handlesOf(1, statefulVertex_, 0),
                                                        handlesOf(1, statefulVertex_, 1)};
  deploy(wider, 1, [&](const ExecutionAttemptId& attempt) {
    std::vector<checkpoint::proto::StateHandle> handles;
    if (attempt.vertexId == statefulVertex_) {
      KeyGroupRange range = KeyGroupRange::forOperator(kMaxParallelism, 3, attempt.subtaskIndex);
      for (const auto& subtask : old) {
        for (const auto& handle : subtask) {
          bool keep = handle.kind() == "keyed"
                          ? handle.key_group_end() >= range.startKeyGroup &&
                                handle.key_group_start() <= range.endKeyGroup
                          : handle.name() != "broadcast" || handle.subtask_index() == 0;
          if (keep) handles.push_back(handle);
        }
      }
    }
    auto restore = restoreWith(1, handles);
    checkpoint::proto::SplitSelect select;
    select.set_modulus(3);
    select.set_remainder(attempt.subtaskIndex);
    (*restore->mutable_split_select())["stateful/split"] = select;
    return restore;
  });
  ASSERT_TRUE(testing::eventually(
      [&] {
        std::lock_guard lock(recorder_->mu);
        return recorder_->restored.size() == 3;
      },
      kDeadline));
  std::lock_guard lock(recorder_->mu);
  auto& restored = recorder_->restored;
  EXPECT_EQ(restored[0].keyed.size(), 1u);
  EXPECT_EQ(restored[1].keyed.size(), 2u);
  EXPECT_EQ(restored[2].keyed.size(), 1u);
  EXPECT_THAT(restored[0].keyed[0].second, HasSubstr("keyed:0:"));
  EXPECT_THAT(restored[2].keyed[0].second, HasSubstr("keyed:1:"));
  EXPECT_THAT(restored[0].operatorStates["split"], ElementsAre("s0-a", "s1-b"));
  EXPECT_THAT(restored[1].operatorStates["split"], ElementsAre("s0-b"));
  EXPECT_THAT(restored[2].operatorStates["split"], ElementsAre("s1-a"));
  for (int s = 0; s < 3; ++s) {
    EXPECT_THAT(restored[s].operatorStates["union"], ElementsAre("u0", "u1"));
    EXPECT_THAT(restored[s].operatorStates["broadcast"], ElementsAre("b"));
  }
}

TEST_F(TaskCheckpointTest, aFreshStartInitializesEmptyState) {
  auto job = buildJob(2);
  startTaskManagers(1);
  recorder_->limit.store(0);
  deploy(job, 0);
  ASSERT_TRUE(testing::eventually(
      [&] {
        std::lock_guard lock(recorder_->mu);
        return recorder_->restored.size() == 2;
      },
      kDeadline));
  std::lock_guard lock(recorder_->mu);
  for (auto& [subtask, restored] : recorder_->restored) {
    EXPECT_FALSE(restored.restored);
    EXPECT_EQ(restored.checkpointId, -1);
    EXPECT_THAT(restored.keyed, IsEmpty());
    EXPECT_THAT(restored.operatorStates, IsEmpty());
  }
}

TEST_F(TaskCheckpointTest, aCorruptStateFileFailsTheTaskNamingTheFile) {
  auto job = runAndCheckpoint();
  std::vector<checkpoint::proto::StateHandle> handles = handlesOf(1, statefulVertex_, 0);
  ASSERT_FALSE(handles.empty());
  const fs::path file = checkpointDir_ / jobId_ / handles[1].path();
  {
    std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(handles[1].offset()));
    io.put('\x7f');
  }
  deploy(job, 1, [&](const ExecutionAttemptId& attempt) {
    return restoreWith(1, handlesOf(1, attempt.vertexId, attempt.subtaskIndex));
  });
  ExecutionAttemptId failed{jobId_, statefulVertex_, 0, 1};
  ASSERT_TRUE(jobManager_.waitFor([&] {
    auto it = jobManager_.states.find(failed.toString());
    return it != jobManager_.states.end() && it->second.state == ExecutionState::kFailed;
  }));
  std::lock_guard lock(jobManager_.mu);
  const Status& error = jobManager_.states[failed.toString()].error;
  EXPECT_EQ(error.code(), StatusCode::kCorruption);
  EXPECT_THAT(error.message(), HasSubstr(file.string()));
  EXPECT_THAT(error.message(), HasSubstr("checksum mismatch"));
}

TEST_F(TaskCheckpointTest, stateOfAnUnknownOperatorUidFailsTheTaskNamingTheUid) {
  auto job = runAndCheckpoint();
  deploy(job, 1, [&](const ExecutionAttemptId& attempt) {
    auto handles = handlesOf(1, statefulVertex_, attempt.subtaskIndex);
    for (auto& handle : handles) handle.set_operator_uid("renamed");
    return restoreWith(1, handles);
  });
  ExecutionAttemptId failed{jobId_, statefulVertex_, 1, 1};
  ASSERT_TRUE(jobManager_.waitFor([&] {
    auto it = jobManager_.states.find(failed.toString());
    return it != jobManager_.states.end() && it->second.state == ExecutionState::kFailed;
  }));
  std::lock_guard lock(jobManager_.mu);
  EXPECT_THAT(jobManager_.states[failed.toString()].error.message(),
              HasSubstr("operator uid 'renamed'"));
}

TEST_F(TaskCheckpointTest, channelStateOfAnInputTheTaskLacksFailsTheTaskNamingIt) {
  auto job = runAndCheckpoint();
  for (const char* name : {"in-7-0", "sideways"}) {
    SCOPED_TRACE(name);
    const int attemptNumber = name[0] == 'i' ? 1 : 2;
    deploy(job, attemptNumber, [&](const ExecutionAttemptId& attempt) {
      auto handles = handlesOf(1, statefulVertex_, attempt.subtaskIndex);
      // Present the first handle as the channel state of an unaligned checkpoint.
      handles[0].set_kind("channel");
      handles[0].set_name(name);
      return restoreWith(1, handles);
    });
    ExecutionAttemptId failed{jobId_, statefulVertex_, 0, attemptNumber};
    ASSERT_TRUE(jobManager_.waitFor([&] {
      auto it = jobManager_.states.find(failed.toString());
      return it != jobManager_.states.end() && it->second.state == ExecutionState::kFailed;
    }));
    std::lock_guard lock(jobManager_.mu);
    const Status& error = jobManager_.states[failed.toString()].error;
    EXPECT_EQ(error.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(error.message(), HasSubstr(std::string("channel state '") + name + "'"));
  }
}

TEST_F(TaskCheckpointTest, aBoundedJobFinishesAfterItsFinalCheckpoint) {
  config_.set("execution.checkpointing.interval", "1 h");  // on; triggered by hand here
  auto job = buildJob(2);
  startTaskManagers(2);
  recorder_->limit.store(50);
  auto attempts = deploy(job, 0);
  ASSERT_TRUE(waitForEmitted(2, 50));
  recorder_->end.store(true);
  // Every task reports the end of its input and keeps running.
  ASSERT_TRUE(jobManager_.waitFor([&] { return jobManager_.endOfInput.size() == 4; }));
  {
    std::lock_guard lock(jobManager_.mu);
    EXPECT_EQ(jobManager_.tasksIn(ExecutionState::kRunning), 4);
  }
  // A periodic trigger after the end of input is refused.
  EXPECT_EQ(taskManagerOf(0).triggerCheckpoint(attempts[0], 5, 0, {}).code(),
            StatusCode::kFailedPrecondition);

  checkpoint::proto::CheckpointOptions finalOptions;
  finalOptions.set_final(true);
  trigger(attempts, 6, finalOptions);
  ASSERT_TRUE(waitForAcks(6, 4));
  {
    std::lock_guard lock(recorder_->mu);
    EXPECT_EQ(snapshotTotal(6), 100);
    EXPECT_TRUE(recorder_->endInput[0] && recorder_->endInput[1]);
    EXPECT_FALSE(recorder_->closed[0] || recorder_->closed[1]);
  }
  // An aborted final checkpoint leaves the tasks waiting for the next one.
  for (const auto& attempt : attempts) {
    taskManagerOf(attempt.subtaskIndex).notifyCheckpointAborted(attempt, 6);
  }
  trigger(attempts, 7, finalOptions);
  ASSERT_TRUE(waitForAcks(7, 4));
  {
    std::lock_guard lock(jobManager_.mu);
    EXPECT_EQ(jobManager_.tasksIn(ExecutionState::kRunning), 4);
  }
  for (const auto& attempt : attempts) {
    taskManagerOf(attempt.subtaskIndex).notifyCheckpointComplete(attempt, 7);
  }
  ASSERT_TRUE(waitForState(ExecutionState::kFinished, 4));
  std::lock_guard lock(recorder_->mu);
  for (int s = 0; s < 2; ++s) {
    EXPECT_THAT(recorder_->aborted[s], ElementsAre(6));
    EXPECT_THAT(recorder_->completed[s], ElementsAre(7));
    EXPECT_TRUE(recorder_->closed[s]);
  }
  std::lock_guard jobLock(jobManager_.mu);
  EXPECT_THAT(jobManager_.declines, IsEmpty());
}

TEST_F(TaskCheckpointTest, stopWithSavepointEndsEveryTaskWithoutEndInput) {
  auto job = buildJob(2);
  startTaskManagers(2);
  auto attempts = deploy(job, 0);  // endless sources
  ASSERT_TRUE(waitForEmitted(2, 1000));
  checkpoint::proto::CheckpointOptions stop;
  stop.set_savepoint(true);
  stop.set_terminate(true);

  // An aborted stop: the sources go on.
  trigger(attempts, 1, stop);
  ASSERT_TRUE(waitForAcks(1, 4));
  for (const auto& attempt : attempts) {
    taskManagerOf(attempt.subtaskIndex).notifyCheckpointAborted(attempt, 1);
  }
  int64_t before = recorder_->emitted[0].load() + recorder_->emitted[1].load();
  ASSERT_TRUE(testing::eventually(
      [&] { return recorder_->emitted[0].load() + recorder_->emitted[1].load() > before + 1000; },
      kDeadline))
      << "the sources did not go on after the aborted savepoint";

  trigger(attempts, 2, stop);
  ASSERT_TRUE(waitForAcks(2, 4));
  for (const auto& attempt : attempts) {
    taskManagerOf(attempt.subtaskIndex).notifyCheckpointComplete(attempt, 2);
  }
  ASSERT_TRUE(waitForState(ExecutionState::kFinished, 4));
  std::lock_guard lock(recorder_->mu);
  // Nothing was emitted after the savepoint's barrier: the savepoint covers every record.
  EXPECT_EQ(snapshotTotal(2), recorder_->emitted[0].load() + recorder_->emitted[1].load());
  EXPECT_EQ(recorder_->counts[0] + recorder_->counts[1],
            recorder_->emitted[0].load() + recorder_->emitted[1].load());
  for (int s = 0; s < 2; ++s) {
    EXPECT_THAT(recorder_->aborted[s], ElementsAre(1));
    EXPECT_THAT(recorder_->completed[s], ElementsAre(2));
    EXPECT_FALSE(recorder_->endInput[s]);
    EXPECT_TRUE(recorder_->closed[s]);
  }
}

TEST_F(TaskCheckpointTest, withoutACheckpointDirectoryTheCheckpointIsDeclined) {
  config_.set("state.checkpoints.dir", "");
  auto job = buildJob(1);
  startTaskManagers(1);
  recorder_->limit.store(10);
  auto attempts = deploy(job, 0);
  ASSERT_TRUE(waitForEmitted(1, 10));
  trigger(attempts, 1, {});
  ASSERT_TRUE(jobManager_.waitFor([&] { return jobManager_.declines.size() == 2; }));
  std::lock_guard lock(jobManager_.mu);
  for (const auto& decline : jobManager_.declines) {
    EXPECT_EQ(decline.checkpointId, 1);
    EXPECT_THAT(decline.reason.message(), HasSubstr("state.checkpoints.dir"));
  }
}

}  // namespace
}  // namespace strom
