// The JobManager's side of checkpoints against fake in-process TaskManagers that record what
// they are asked (trigger, notify) and run no tasks: each test reports task states and
// acknowledges checkpoints itself. Periodic triggers reach the sources only, completion reaches
// every task, stale attempts' acknowledgements are dropped, restarts restore from the latest
// checkpoint, bounded jobs take a final checkpoint, savepoints are copied and restorable.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <strom/key.h>
#include <strom/strom.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint_storage.h"
#include "common/clock.h"
#include "graph/job_graph.h"
#include "graph/stream_graph.h"
#include "runtime/jobmanager/job_manager.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"

namespace strom::runtime {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr milliseconds kWait{10'000};

/// What a fake TaskManager was asked about checkpoints.
struct CheckpointCall {
  std::string what;  // "trigger", "complete", "abort"
  ExecutionAttemptId attemptId;
  int64_t checkpointId = 0;
  checkpoint::proto::CheckpointOptions options;
};

/// A TaskManager that accepts every task and records checkpoint calls. Cancelling a task
/// reports it CANCELED at once.
class FakeTaskManager final : public TaskManagerGateway {
 public:
  FakeTaskManager(std::string id, int slots, JobManager* jobManager)
      : id_(std::move(id)), slots_(slots), jobManager_(jobManager) {}

  const std::string& taskManagerId() const override { return id_; }
  int numberOfSlots() const override { return slots_; }
  Status submitTask(TaskDeploymentDescriptor descriptor) override {
    std::lock_guard lock(mu_);
    deployed_.push_back(std::move(descriptor));
    return Status::ok();
  }
  void cancelTask(const ExecutionAttemptId& attemptId) override {
    jobManager_->updateTaskExecutionState({attemptId, ExecutionState::kCanceled, {}, {}});
  }
  void releaseJob(const std::string&, bool) override {}
  Status triggerCheckpoint(const ExecutionAttemptId& attemptId, int64_t checkpointId, int64_t,
                           const checkpoint::proto::CheckpointOptions& options) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"trigger", attemptId, checkpointId, options});
    return Status::ok();
  }
  void notifyCheckpointComplete(const ExecutionAttemptId& attemptId,
                                int64_t checkpointId) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"complete", attemptId, checkpointId, {}});
  }
  void notifyCheckpointAborted(const ExecutionAttemptId& attemptId, int64_t checkpointId) override {
    std::lock_guard lock(mu_);
    calls_.push_back({"abort", attemptId, checkpointId, {}});
  }

  std::vector<TaskDeploymentDescriptor> deployed(const std::string& jobId, int attempt) const {
    std::lock_guard lock(mu_);
    std::vector<TaskDeploymentDescriptor> out;
    for (const auto& d : deployed_) {
      if (d.attemptId.jobId == jobId && d.attemptId.attempt == attempt) out.push_back(d);
    }
    return out;
  }
  /// The calls `what` for checkpoint `checkpointId`.
  std::vector<CheckpointCall> calls(const std::string& what, int64_t checkpointId) const {
    std::lock_guard lock(mu_);
    std::vector<CheckpointCall> out;
    for (const auto& c : calls_) {
      if (c.what == what && c.checkpointId == checkpointId) out.push_back(c);
    }
    return out;
  }
  size_t numCalls(const std::string& what) const {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(
        std::count_if(calls_.begin(), calls_.end(), [&](const auto& c) { return c.what == what; }));
  }
  void report(const std::string& jobId, int attempt, ExecutionState state) {
    for (const auto& d : deployed(jobId, attempt)) {
      jobManager_->updateTaskExecutionState({d.attemptId, state, {}, {}});
    }
  }

 private:
  const std::string id_;
  const int slots_;
  JobManager* const jobManager_;
  mutable std::mutex mu_;
  std::vector<TaskDeploymentDescriptor> deployed_;
  std::vector<CheckpointCall> calls_;
};

/// A source, and after a keyBy a map chained to a sink: 2 * parallelism tasks.
std::shared_ptr<const graph::JobGraph> twoVertexJob(int parallelism, Configuration config) {
  StreamExecutionEnvironment env(config);
  auto out = std::make_shared<CollectedRecords<int64_t>>();
  env.fromSequence(1, 10)
      .keyBy([](int64_t x) { return x % 3; })
      .map([](int64_t x) { return x + 1; })
      .sinkTo(std::make_shared<CollectSink<int64_t>>(out));
  auto streamGraph = graph::StreamGraph::create(env.transformations(), parallelism, 128);
  EXPECT_TRUE(streamGraph.isOk()) << streamGraph.status().toString();
  auto jobGraph = graph::JobGraph::create(std::move(streamGraph).value(), "checkpointed job",
                                          std::move(config));
  EXPECT_TRUE(jobGraph.isOk()) << jobGraph.status().toString();
  return std::move(jobGraph).value();
}

bool waitForStatus(JobManager& jm, const std::string& jobId, JobStatus status) {
  return testing::eventually([&] {
    auto info = jm.jobStatus(jobId);
    return info.isOk() && info->status == status;
  });
}

class JobManagerCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "strom-jm-checkpoint-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    base_ = pattern;
    jm_ = std::make_unique<JobManager>(Configuration{}, &clock_);
    tm_ = std::make_unique<FakeTaskManager>("tm-0", 4, jm_.get());
    jm_->registerTaskManager(tm_.get());
  }
  void TearDown() override {
    jm_.reset();
    tm_.reset();
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  /// A job configuration with checkpoints every second into base_/checkpoints.
  Configuration checkpointed() const {
    Configuration config;
    config.set("execution.checkpointing.interval", "1 s");
    config.set("state.checkpoints.dir", (base_ / "checkpoints").string());
    config.set("state.savepoints.dir", (base_ / "savepoints").string());
    return config;
  }
  /// Submit a job of `parallelism` and run every task (attempt 0).
  std::string runJob(Configuration config, int parallelism = 2) {
    auto id = jm_->submitJob(twoVertexJob(parallelism, std::move(config)));
    EXPECT_TRUE(id.isOk()) << id.status().toString();
    EXPECT_TRUE(testing::eventually(
        [&] { return tm_->deployed(*id, 0).size() == static_cast<size_t>(2 * parallelism); }));
    tm_->report(*id, 0, ExecutionState::kRunning);
    return *id;
  }
  /// Acknowledge checkpoint `checkpointId` for every task of `attempt`: each writes a file of 10
  /// bytes into chk-<n>/ and acknowledges a handle into it (source: split operator state;
  /// the keyed vertex: keyed state for its key-group range).
  void ackAll(const std::string& jobId, int attempt, int64_t checkpointId, int ackAttempt = -1) {
    for (const auto& d : tm_->deployed(jobId, attempt)) {
      const graph::JobVertex& vertex = d.vertex();
      std::string path = "chk-" + std::to_string(checkpointId) + "/v" + std::to_string(vertex.id) +
                         "-s" + std::to_string(d.attemptId.subtaskIndex) + "-a" +
                         std::to_string(attempt) + ".state";
      fs::create_directories(base_ / "checkpoints" / jobId /
                             ("chk-" + std::to_string(checkpointId)));
      std::ofstream(base_ / "checkpoints" / jobId / path) << "0123456789";
      checkpoint::proto::SubtaskState state;
      checkpoint::proto::StateHandle* h = state.add_handles();
      h->set_path(path);
      h->set_length(10);
      h->set_operator_uid(vertex.chainUids.front());
      if (vertex.isSource()) {
        h->set_kind("operator");
        h->set_name("offsets");
        h->set_mode(0);
      } else {
        KeyGroupRange range = KeyGroupRange::forOperator(vertex.maxParallelism, vertex.parallelism,
                                                         d.attemptId.subtaskIndex);
        h->set_kind("keyed");
        h->set_key_group_start(range.startKeyGroup);
        h->set_key_group_end(range.endKeyGroup);
      }
      ExecutionAttemptId from = d.attemptId;
      if (ackAttempt >= 0) from.attempt = ackAttempt;
      jm_->acknowledgeCheckpoint(from, checkpointId, state);
    }
  }
  /// Advance the clock by an interval and wait for checkpoint `checkpointId`'s triggers.
  bool triggerNext(int64_t checkpointId, size_t triggers) {
    clock_.advance(1000);
    return testing::eventually(
        [&] { return tm_->calls("trigger", checkpointId).size() == triggers; });
  }

  fs::path base_;
  ManualClock clock_{1'000'000};
  std::unique_ptr<JobManager> jm_;
  std::unique_ptr<FakeTaskManager> tm_;
};

TEST_F(JobManagerCheckpointTest, periodicTriggersReachSourcesAndCompletionEveryTask) {
  std::string id = runJob(checkpointed());
  ASSERT_TRUE(triggerNext(1, 2));
  for (const CheckpointCall& call : tm_->calls("trigger", 1)) {
    EXPECT_EQ(call.attemptId.vertexId, 0);  // the source
    EXPECT_FALSE(call.options.savepoint());
    EXPECT_FALSE(call.options.final());
    EXPECT_EQ(call.options.type(), 0);  // EXACTLY_ONCE: aligned
  }
  EXPECT_THAT(tm_->calls("complete", 1), IsEmpty());
  ackAll(id, 0, 1);
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("complete", 1).size() == 4; }));
  EXPECT_TRUE(fs::exists(base_ / "checkpoints" / id / "chk-1" / "_metadata"));
  ASSERT_OK(jm_->cancelJob(id));
  ASSERT_TRUE(waitForStatus(*jm_, id, JobStatus::kCanceled));
}

TEST_F(JobManagerCheckpointTest, restartRestoresFromTheLatestCheckpointAndDropsStaleAcks) {
  Configuration config = checkpointed();
  config.set("restart-strategy.type", "fixed-delay");
  config.set("restart-strategy.fixed-delay.attempts", "1");
  config.set("restart-strategy.fixed-delay.delay", "0 ms");
  std::string id = runJob(config);
  // Attempt 0 deploys without restore.
  for (const auto& d : tm_->deployed(id, 0)) EXPECT_EQ(d.restore, nullptr);
  ASSERT_TRUE(triggerNext(1, 2));
  ackAll(id, 0, 1);
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("complete", 1).size() == 4; }));
  // A task fails: attempt 1 restores checkpoint 1.
  ExecutionAttemptId failed = tm_->deployed(id, 0).front().attemptId;
  jm_->updateTaskExecutionState({failed, ExecutionState::kFailed, Status::internal("boom"), {}});
  ASSERT_TRUE(testing::eventually([&] { return tm_->deployed(id, 1).size() == 4; }));
  for (const auto& d : tm_->deployed(id, 1)) {
    ASSERT_NE(d.restore, nullptr) << d.attemptId.toString();
    EXPECT_EQ(d.restore->checkpoint_id(), 1);
    EXPECT_EQ(d.restore->root_dir(), fs::absolute(base_ / "checkpoints" / id).string());
    ASSERT_EQ(d.restore->handles_size(), 1);
    EXPECT_EQ(d.restore->handles(0).subtask_index(), d.attemptId.subtaskIndex);
    EXPECT_EQ(d.restore->handles(0).operator_uid(), d.vertex().chainUids.front());
  }
  tm_->report(id, 1, ExecutionState::kRunning);
  ASSERT_TRUE(triggerNext(2, 2));
  EXPECT_EQ(tm_->calls("trigger", 2).front().attemptId.attempt, 1);
  // Acknowledgements from attempt 0 for checkpoint 2 are dropped: it does not complete.
  ackAll(id, 1, 2, /*ackAttempt=*/0);
  ackAll(id, 1, 2);
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("complete", 2).size() == 4; }));
  ASSERT_OK_AND_ASSIGN(auto latest,
                       checkpoint::findLatestCompleted(base_ / "checkpoints" / id, id));
  EXPECT_EQ(latest.checkpointId, 2);
  // Every handle of checkpoint 2 was written by attempt 1.
  for (const auto& op : latest.metadata.operators()) {
    for (const auto& subtask : op.subtasks()) {
      EXPECT_THAT(subtask.handles(0).path(), HasSubstr("-a1.state"));
    }
  }
}

TEST_F(JobManagerCheckpointTest, staleAttemptsAcknowledgementDoesNotComplete) {
  std::string id = runJob(checkpointed());
  ASSERT_TRUE(triggerNext(1, 2));
  ackAll(id, 0, 1, /*ackAttempt=*/1);
  ackAll(id, 0, 1, /*ackAttempt=*/7);
  // Acks of the current attempt still complete it: the stale ones were not counted.
  ackAll(id, 0, 1);
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("complete", 1).size() == 4; }));
}

TEST_F(JobManagerCheckpointTest, finalCheckpointAfterEveryTaskReachedEndOfInput) {
  std::string id = runJob(checkpointed());
  std::vector<TaskDeploymentDescriptor> tasks = tm_->deployed(id, 0);
  // The sources end first: periodic checkpoints are no longer sent.
  for (const auto& d : tasks) {
    if (d.vertex().isSource()) jm_->reportEndOfInput(d.attemptId);
  }
  clock_.advance(1000);
  // The tick's trigger fails (aborted, no failure): the tasks hear of the abort only.
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("abort", 1).size() == 4; }));
  EXPECT_EQ(tm_->numCalls("trigger"), 0u);
  for (const auto& d : tasks) {
    if (!d.vertex().isSource()) jm_->reportEndOfInput(d.attemptId);
  }
  // The final checkpoint goes to every task.
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("trigger", 2).size() == 4; }));
  for (const CheckpointCall& call : tm_->calls("trigger", 2)) EXPECT_TRUE(call.options.final());
  ackAll(id, 0, 2);
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("complete", 2).size() == 4; }));
  tm_->report(id, 0, ExecutionState::kFinished);
  ASSERT_TRUE(waitForStatus(*jm_, id, JobStatus::kFinished));
  EXPECT_TRUE(fs::exists(base_ / "checkpoints" / id / "chk-2" / "_metadata"));
}

TEST_F(JobManagerCheckpointTest, abortedFinalCheckpointIsTriggeredAgain) {
  Configuration config = checkpointed();
  config.set("execution.checkpointing.tolerable-failed-checkpoints", "5");
  std::string id = runJob(config);
  for (const auto& d : tm_->deployed(id, 0)) jm_->reportEndOfInput(d.attemptId);
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("trigger", 1).size() == 4; }));
  jm_->declineCheckpoint(tm_->deployed(id, 0).front().attemptId, 1, Status::ioError("disk"));
  clock_.advance(100);
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("trigger", 2).size() == 4; }));
  ackAll(id, 0, 2);
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("complete", 2).size() == 4; }));
}

TEST_F(JobManagerCheckpointTest, savepointIsCopiedAndItsPathReturned) {
  std::string id = runJob(checkpointed());
  auto savepoint = std::async(std::launch::async, [&] {
    return jm_->triggerSavepoint(id, "", /*terminate=*/false, kWait);
  });
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("trigger", 1).size() == 2; }));
  for (const CheckpointCall& call : tm_->calls("trigger", 1)) {
    EXPECT_TRUE(call.options.savepoint());
    EXPECT_FALSE(call.options.terminate());
  }
  ackAll(id, 0, 1);
  ASSERT_OK_AND_ASSIGN(std::string path, savepoint.get());
  EXPECT_EQ(fs::path(path).parent_path(), fs::absolute(base_ / "savepoints"));
  EXPECT_THAT(fs::path(path).filename().string(),
              ::testing::StartsWith("savepoint-" + id.substr(0, 6) + "-"));
  ASSERT_OK_AND_ASSIGN(checkpoint::RestorePoint point, checkpoint::readRestorePoint(path));
  EXPECT_TRUE(point.metadata.savepoint());
  EXPECT_EQ(point.metadata.operators_size(), 2);
  EXPECT_TRUE(fs::exists(fs::path(path) / "v1-s1-a0.state"));
  EXPECT_FALSE(fs::exists(base_ / "checkpoints" / id / "chk-1"));
  // A savepoint commits nothing, and the job runs on.
  EXPECT_THAT(tm_->calls("complete", 1), IsEmpty());
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->jobStatus(id));
  EXPECT_EQ(info.status, JobStatus::kRunning);

  // A new job restores from it (the savepoint of another job) at another parallelism.
  Configuration config = checkpointed();
  config.set("execution.savepoint.path", path);
  auto restored = jm_->submitJob(twoVertexJob(1, config));
  ASSERT_OK(restored.status());
  ASSERT_TRUE(testing::eventually([&] { return tm_->deployed(*restored, 0).size() == 2; }));
  for (const auto& d : tm_->deployed(*restored, 0)) {
    ASSERT_NE(d.restore, nullptr);
    EXPECT_EQ(d.restore->root_dir(), path);
    EXPECT_EQ(d.restore->checkpoint_id(), 1);
    EXPECT_EQ(d.restore->handles_size(), 2);  // both old subtasks' state
  }
}

TEST_F(JobManagerCheckpointTest, stopWithSavepointEndsTheJobFinished) {
  std::string id = runJob(checkpointed());
  auto savepoint = std::async(std::launch::async, [&] {
    return jm_->triggerSavepoint(id, (base_ / "elsewhere").string(), /*terminate=*/true, kWait);
  });
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("trigger", 1).size() == 2; }));
  EXPECT_TRUE(tm_->calls("trigger", 1).front().options.terminate());
  // A second stop or savepoint is refused meanwhile.
  ASSERT_STATUS(StatusCode::kFailedPrecondition, jm_->triggerSavepoint(id, "", false, kWait));
  ackAll(id, 0, 1);
  ASSERT_OK_AND_ASSIGN(std::string path, savepoint.get());
  EXPECT_EQ(fs::path(path).parent_path(), fs::absolute(base_ / "elsewhere"));
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("complete", 1).size() == 4; }));
  tm_->report(id, 0, ExecutionState::kFinished);
  ASSERT_TRUE(waitForStatus(*jm_, id, JobStatus::kFinished));
}

TEST_F(JobManagerCheckpointTest, savepointErrors) {
  ASSERT_STATUS(StatusCode::kNotFound, jm_->triggerSavepoint("nope", "", false, kWait));
  Configuration noDir;
  std::string plain = runJob(noDir);
  ASSERT_STATUS(StatusCode::kFailedPrecondition, jm_->triggerSavepoint(plain, "/x", false, kWait));
  Configuration noSavepointDir = checkpointed();
  noSavepointDir.set("state.savepoints.dir", "");
  std::string id = runJob(noSavepointDir);
  auto result = jm_->triggerSavepoint(id, "", false, kWait);
  ASSERT_STATUS(StatusCode::kInvalidArgument, result);
  EXPECT_THAT(result.status().message(), HasSubstr("state.savepoints.dir"));
  // A declined savepoint returns the reason; the job runs on.
  auto savepoint = std::async(
      std::launch::async, [&] { return jm_->triggerSavepoint(id, base_.string(), false, kWait); });
  ASSERT_TRUE(testing::eventually([&] { return tm_->calls("trigger", 1).size() == 2; }));
  jm_->declineCheckpoint(tm_->calls("trigger", 1).front().attemptId, 1, Status::ioError("full"));
  auto declined = savepoint.get();
  ASSERT_STATUS(StatusCode::kIOError, declined);
  EXPECT_THAT(declined.status().message(), HasSubstr("full"));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->jobStatus(id));
  EXPECT_EQ(info.status, JobStatus::kRunning);
}

TEST_F(JobManagerCheckpointTest, badCheckpointKeysAreRejectedAtSubmit) {
  Configuration config;
  config.set("execution.checkpointing.interval", "1 s");
  auto result = jm_->submitJob(twoVertexJob(1, config));
  ASSERT_STATUS(StatusCode::kInvalidArgument, result);
  EXPECT_THAT(result.status().message(), HasSubstr("state.checkpoints.dir"));
  config = checkpointed();
  config.set("execution.checkpointing.timeout", "0 ms");
  result = jm_->submitJob(twoVertexJob(1, config));
  ASSERT_STATUS(StatusCode::kInvalidArgument, result);
  EXPECT_THAT(result.status().message(), HasSubstr("execution.checkpointing.timeout"));
  config = checkpointed();
  config.set("execution.savepoint.ignore-unclaimed-state", "maybe");
  ASSERT_STATUS(StatusCode::kInvalidArgument, jm_->submitJob(twoVertexJob(1, config)));
}

TEST_F(JobManagerCheckpointTest, badSavepointPathFailsTheJobWithoutRestart) {
  Configuration config = checkpointed();
  config.set("restart-strategy.type", "fixed-delay");
  config.set("execution.savepoint.path", (base_ / "missing").string());
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1, config)));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kFailed);
  EXPECT_EQ(info.restarts, 0);
  EXPECT_THAT(info.failure.message(), HasSubstr("execution.savepoint.path"));
  EXPECT_THAT(info.failure.message(), HasSubstr((base_ / "missing").string()));
  EXPECT_TRUE(tm_->deployed(id, 0).empty());
}

}  // namespace
}  // namespace strom::runtime
