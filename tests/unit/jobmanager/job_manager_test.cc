// The JobManager's job lifecycle against fake in-process TaskManagers: slots and waiting,
// status and listing, cancellation in every state, failover with restarts (attempt numbers in
// the redeployed tasks and their partitions), lost TaskManagers, and failure messages. The
// fakes run no tasks: each test reports the tasks' states itself.

#include "runtime/jobmanager/job_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "graph/job_graph.h"
#include "graph/stream_graph.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"

namespace strom::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr milliseconds kWait{10'000};  // how long a test waits for the JobManager to act

/// A TaskManager that records what the JobManager asks of it. Cancelling a task reports it
/// CANCELED at once; tests report the other states with report().
class FakeTaskManager final : public TaskManagerGateway {
 public:
  FakeTaskManager(std::string id, int slots, JobManager* jobManager)
      : id_(std::move(id)), slots_(slots), jobManager_(jobManager) {}

  const std::string& taskManagerId() const override { return id_; }
  int numberOfSlots() const override { return slots_; }
  std::string dataAddress() const override { return "fake-" + id_ + ":1"; }
  Status checkJobFits(const std::string& jobName,
                      const std::vector<const TaskDeploymentDescriptor*>&) override {
    std::lock_guard lock(mu_);
    noteCall();
    return jobFits_.isOk() ? Status::ok() : jobFits_.withContext(jobName);
  }
  Status submitTask(TaskDeploymentDescriptor descriptor) override {
    {
      std::lock_guard lock(mu_);
      noteCall();
      if (!submitError_.isOk()) return submitError_;
      deployed_.push_back(std::move(descriptor));
    }
    changed_.notify_all();
    return Status::ok();
  }
  void cancelTask(const ExecutionAttemptId& attemptId) override {
    {
      std::lock_guard lock(mu_);
      noteCall();
      cancelled_.push_back(attemptId);
    }
    jobManager_->updateTaskExecutionState({attemptId, ExecutionState::kCanceled, {}, {}});
  }
  void releaseJob(const std::string& jobId, bool /*jobEnded*/) override {
    std::lock_guard lock(mu_);
    noteCall();
    released_.push_back(jobId);
  }

  /// Every call after this one counts as a call to a lost TaskManager.
  void markLost() {
    std::lock_guard lock(mu_);
    lost_ = true;
  }
  int callsWhileLost() const {
    std::lock_guard lock(mu_);
    return callsWhileLost_;
  }
  void setSubmitError(Status error) {
    std::lock_guard lock(mu_);
    submitError_ = std::move(error);
  }
  void setJobFits(Status fits) {
    std::lock_guard lock(mu_);
    jobFits_ = std::move(fits);
  }
  /// Wait until `n` tasks of attempt `attempt` of `jobId` are deployed here.
  bool waitForDeployed(const std::string& jobId, int attempt, size_t n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, kWait, [&] { return countLocked(jobId, attempt) >= n; });
  }
  std::vector<TaskDeploymentDescriptor> deployed(const std::string& jobId, int attempt) const {
    std::lock_guard lock(mu_);
    std::vector<TaskDeploymentDescriptor> out;
    for (const auto& d : deployed_) {
      if (d.attemptId.jobId == jobId && d.attemptId.attempt == attempt) out.push_back(d);
    }
    return out;
  }
  std::vector<ExecutionAttemptId> cancelled() const {
    std::lock_guard lock(mu_);
    return cancelled_;
  }
  std::vector<std::string> released() const {
    std::lock_guard lock(mu_);
    return released_;
  }
  /// Report `state` for every task of the attempt deployed here.
  void reportAll(const std::string& jobId, int attempt, ExecutionState state,
                 std::vector<std::pair<std::string, int64_t>> counters = {}) {
    for (const auto& d : deployed(jobId, attempt)) {
      jobManager_->updateTaskExecutionState({d.attemptId, state, {}, counters});
    }
  }

 private:
  void noteCall() {  // REQUIRES: mu_ held.
    if (lost_) ++callsWhileLost_;
  }
  size_t countLocked(const std::string& jobId, int attempt) const {  // REQUIRES: mu_ held.
    return static_cast<size_t>(std::count_if(deployed_.begin(), deployed_.end(), [&](auto& d) {
      return d.attemptId.jobId == jobId && d.attemptId.attempt == attempt;
    }));
  }

  const std::string id_;
  const int slots_;
  JobManager* const jobManager_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<TaskDeploymentDescriptor> deployed_;
  std::vector<ExecutionAttemptId> cancelled_;
  std::vector<std::string> released_;
  Status submitError_;
  Status jobFits_;
  bool lost_ = false;
  int callsWhileLost_ = 0;
};

/// A job of two vertices at `parallelism`: a source, and after a keyBy a map chained to a sink
/// (2 * parallelism tasks). Its configuration is `config`.
std::shared_ptr<const graph::JobGraph> twoVertexJob(int parallelism, Configuration config = {},
                                                    std::string name = "test job") {
  StreamExecutionEnvironment env(config);
  auto out = std::make_shared<CollectedRecords<int64_t>>();
  env.fromSequence(1, 10)
      .keyBy([](int64_t x) { return x % 3; })
      .map([](int64_t x) { return x + 1; })
      .sinkTo(std::make_shared<CollectSink<int64_t>>(out));
  auto streamGraph = graph::StreamGraph::create(env.transformations(), parallelism, 128);
  EXPECT_TRUE(streamGraph.isOk()) << streamGraph.status().toString();
  auto jobGraph =
      graph::JobGraph::create(std::move(streamGraph).value(), std::move(name), std::move(config));
  EXPECT_TRUE(jobGraph.isOk()) << jobGraph.status().toString();
  return std::move(jobGraph).value();
}

Configuration fixedDelay(int attempts, const std::string& delay) {
  Configuration config;
  config.set("restart-strategy.type", "fixed-delay");
  config.set("restart-strategy.fixed-delay.attempts", std::to_string(attempts));
  config.set("restart-strategy.fixed-delay.delay", delay);
  return config;
}

/// Wait until the job has `status`.
bool waitForStatus(JobManager& jm, const std::string& jobId, JobStatus status) {
  return testing::eventually([&] {
    auto info = jm.jobStatus(jobId);
    return info.isOk() && info->status == status;
  });
}

class JobManagerTest : public ::testing::Test {
 protected:
  /// Make the JobManager, with `config` and the test's manual clock if `manualClock`.
  void start(Configuration config = {}, bool manualClock = false) {
    jm_ = std::make_unique<JobManager>(std::move(config), manualClock ? &clock_ : nullptr);
  }
  FakeTaskManager& addTaskManager(int slots) {
    auto tm =
        std::make_unique<FakeTaskManager>("tm-" + std::to_string(tms_.size()), slots, jm_.get());
    jm_->registerTaskManager(tm.get());
    tms_.push_back(std::move(tm));
    return *tms_.back();
  }
  void TearDown() override {
    // The JobManager first: it may still call the fakes.
    jm_.reset();
    tms_.clear();
  }

  ManualClock clock_{1'000'000};
  std::unique_ptr<JobManager> jm_;
  std::vector<std::unique_ptr<FakeTaskManager>> tms_;
};

TEST_F(JobManagerTest, jobRunsToFinishedWithItsCountersAndIsListed) {
  start();
  FakeTaskManager& tm = addTaskManager(2);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(2)));
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{32}"))) << id;
  ASSERT_TRUE(tm.waitForDeployed(id, 0, 4));
  ASSERT_TRUE(waitForStatus(*jm_, id, JobStatus::kRunning));
  for (const auto& d : tm.deployed(id, 0)) {
    EXPECT_EQ(d.jobInformation, nullptr);
    for (const auto& out : d.outputs) EXPECT_EQ(out.id.attempt, 0);
  }
  tm.reportAll(id, 0, ExecutionState::kRunning);
  tm.reportAll(id, 0, ExecutionState::kFinished, {{"Map.records", 5}});
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kFinished);
  EXPECT_STREQ(jobStatusName(info.status), "FINISHED");
  EXPECT_EQ(info.jobName, "test job");
  EXPECT_EQ(info.restarts, 0);
  EXPECT_OK(info.failure);
  EXPECT_EQ(info.counters.at("Map.records"), 20);
  ASSERT_OK_AND_ASSIGN(JobExecutionResult result, jm_->waitForJob(id));
  EXPECT_EQ(result.counters.at("Map.records"), 20);
  auto jobs = jm_->listJobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].jobId, id);
  // The ended job is released on its TaskManager.
  EXPECT_TRUE(testing::eventually([&] { return !tm.released().empty(); }));
}

TEST_F(JobManagerTest, jobIdsAreRandomAcrossJobManagers) {
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    start();
    ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1)));
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 3u);
}

TEST_F(JobManagerTest, jobInformationReachesEveryDeployment) {
  start();
  FakeTaskManager& tm = addTaskManager(1);
  auto info = std::make_shared<JobInformation>();
  info->jobName = "from a library";
  info->libraryKey = std::string(64, 'a');
  info->args = {"--x", "1"};
  info->fingerprint = "f";
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1), info));
  ASSERT_TRUE(tm.waitForDeployed(id, 0, 2));
  for (const auto& d : tm.deployed(id, 0)) EXPECT_EQ(d.jobInformation, info);
}

TEST_F(JobManagerTest, jobWaitsInCreatedUntilATaskManagerOffersSlots) {
  start();
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(2)));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->jobStatus(id));
  EXPECT_EQ(info.status, JobStatus::kCreated);
  FakeTaskManager& small = addTaskManager(1);
  ASSERT_OK_AND_ASSIGN(info, jm_->jobStatus(id));
  EXPECT_EQ(info.status, JobStatus::kCreated);
  FakeTaskManager& other = addTaskManager(1);
  ASSERT_TRUE(small.waitForDeployed(id, 0, 2));
  ASSERT_TRUE(other.waitForDeployed(id, 0, 2));
  EXPECT_TRUE(waitForStatus(*jm_, id, JobStatus::kRunning));
}

TEST_F(JobManagerTest, slotRequestTimeoutFailsTheJobNamingTheSlots) {
  Configuration config;
  config.set("slot.request.timeout", "1 min");
  start(config, /*manualClock=*/true);
  addTaskManager(1);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(3, {}, "wide")));
  clock_.advance(59'000);
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, milliseconds(50)));
  EXPECT_EQ(info.status, JobStatus::kCreated);
  clock_.advance(1'000);
  ASSERT_OK_AND_ASSIGN(info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kFailed);
  EXPECT_EQ(info.failure.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(info.failure.message(), HasSubstr("job " + id + " (wide)"));
  EXPECT_THAT(info.failure.message(),
              HasSubstr("could not get 3 slots within slot.request.timeout (60000 ms): 1 of 1 "
                        "slots are free on 1 TaskManagers"));
  EXPECT_EQ(info.durationMs, 60'000);
}

TEST_F(JobManagerTest, waitingJobsAreScheduledInSubmissionOrderWhenSlotsAreFreed) {
  start();
  FakeTaskManager& tm = addTaskManager(2);
  ASSERT_OK_AND_ASSIGN(std::string first, jm_->submitJob(twoVertexJob(2)));
  ASSERT_TRUE(tm.waitForDeployed(first, 0, 4));
  ASSERT_OK_AND_ASSIGN(std::string second, jm_->submitJob(twoVertexJob(2)));
  ASSERT_OK_AND_ASSIGN(std::string third, jm_->submitJob(twoVertexJob(1)));
  tm.reportAll(first, 0, ExecutionState::kFinished);
  ASSERT_TRUE(tm.waitForDeployed(second, 0, 4));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->jobStatus(third));
  EXPECT_EQ(info.status, JobStatus::kCreated);
  tm.reportAll(second, 0, ExecutionState::kFinished);
  ASSERT_TRUE(tm.waitForDeployed(third, 0, 2));
  // Newest first.
  auto jobs = jm_->listJobs();
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].jobId, third);
  EXPECT_EQ(jobs[1].jobId, second);
  EXPECT_EQ(jobs[2].jobId, first);
}

TEST_F(JobManagerTest, cancelWhileWaitingEndsAtOnce) {
  start();
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1)));
  ASSERT_OK(jm_->cancelJob(id));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->jobStatus(id));
  EXPECT_EQ(info.status, JobStatus::kCanceled);
  EXPECT_EQ(info.failure.code(), StatusCode::kCancelled);
  // A TaskManager that registers later gets nothing.
  FakeTaskManager& tm = addTaskManager(1);
  ASSERT_OK_AND_ASSIGN(std::string other, jm_->submitJob(twoVertexJob(1)));
  ASSERT_TRUE(tm.waitForDeployed(other, 0, 2));
  EXPECT_TRUE(tm.deployed(id, 0).empty());
  ASSERT_STATUS(StatusCode::kCancelled, jm_->waitForJob(id));
}

TEST_F(JobManagerTest, cancelWhileRunningCancelsEveryTask) {
  start();
  FakeTaskManager& tm = addTaskManager(2);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(2)));
  ASSERT_TRUE(tm.waitForDeployed(id, 0, 4));
  ASSERT_TRUE(waitForStatus(*jm_, id, JobStatus::kRunning));
  tm.reportAll(id, 0, ExecutionState::kRunning);
  ASSERT_OK(jm_->cancelJob(id));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kCanceled);
  EXPECT_EQ(tm.cancelled().size(), 4u);
  // Its slots are free again.
  ASSERT_OK_AND_ASSIGN(std::string next, jm_->submitJob(twoVertexJob(2)));
  EXPECT_TRUE(tm.waitForDeployed(next, 0, 4));
}

TEST_F(JobManagerTest, cancelOfAnUnknownOrEndedJobIsAnError) {
  start();
  FakeTaskManager& tm = addTaskManager(1);
  Status unknown = jm_->cancelJob("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound);
  EXPECT_THAT(unknown.message(), HasSubstr("0123456789abcdef0123456789abcdef"));
  ASSERT_STATUS(StatusCode::kNotFound, jm_->jobStatus("nope"));
  ASSERT_STATUS(StatusCode::kNotFound, jm_->waitForJobTermination("nope", milliseconds(1)));
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1)));
  ASSERT_TRUE(tm.waitForDeployed(id, 0, 2));
  tm.reportAll(id, 0, ExecutionState::kFinished);
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  ASSERT_EQ(info.status, JobStatus::kFinished);
  Status ended = jm_->cancelJob(id);
  EXPECT_EQ(ended.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(ended.message(), HasSubstr("FINISHED"));
}

TEST_F(JobManagerTest, failedTaskWithoutRestartStrategyFailsTheJobWithTheFirstCause) {
  start();
  FakeTaskManager& tm = addTaskManager(2);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(2)));
  ASSERT_TRUE(tm.waitForDeployed(id, 0, 4));
  auto tasks = tm.deployed(id, 0);
  jm_->updateTaskExecutionState(
      {tasks[1].attemptId, ExecutionState::kFailed, Status::internal("boom"), {}});
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kFailed);
  EXPECT_EQ(info.failure.toString(), "Internal: boom");
  EXPECT_EQ(info.restarts, 0);
  // The other three were cancelled, the failed one was not.
  auto cancelled = tm.cancelled();
  EXPECT_EQ(cancelled.size(), 3u);
  EXPECT_EQ(std::count(cancelled.begin(), cancelled.end(), tasks[1].attemptId), 0);
  ASSERT_STATUS(StatusCode::kInternal, jm_->waitForJob(id));
}

TEST_F(JobManagerTest, failedTaskRestartsTheJobWithTheNextAttempt) {
  start(fixedDelay(2, "0 ms"));
  FakeTaskManager& tm = addTaskManager(2);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(2)));
  ASSERT_TRUE(tm.waitForDeployed(id, 0, 4));
  auto tasks = tm.deployed(id, 0);
  jm_->updateTaskExecutionState(
      {tasks[0].attemptId, ExecutionState::kFailed, Status::internal("boom"), {}});
  ASSERT_TRUE(tm.waitForDeployed(id, 1, 4));
  for (const auto& d : tm.deployed(id, 1)) {
    EXPECT_EQ(d.attemptId.attempt, 1);
    for (const auto& out : d.outputs) EXPECT_EQ(out.id.attempt, 1);
    for (const auto& gate : d.inputs) {
      for (const auto& channel : gate.channels) EXPECT_EQ(channel.partition.attempt, 1);
    }
  }
  // The first attempt was released before the second was deployed.
  auto released = tm.released();
  EXPECT_EQ(std::count(released.begin(), released.end(), id), 1);
  // A late report of the first attempt changes nothing.
  jm_->updateTaskExecutionState(
      {tasks[2].attemptId, ExecutionState::kFailed, Status::internal("late"), {}});
  tm.reportAll(id, 1, ExecutionState::kFinished);
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kFinished);
  EXPECT_EQ(info.restarts, 1);
}

TEST_F(JobManagerTest, exhaustedRestartsFailTheJobNamingTheRestartCount) {
  start(fixedDelay(1, "0 ms"));
  FakeTaskManager& tm = addTaskManager(1);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1)));
  for (int attempt = 0; attempt < 2; ++attempt) {
    ASSERT_TRUE(tm.waitForDeployed(id, attempt, 2));
    auto tasks = tm.deployed(id, attempt);
    jm_->updateTaskExecutionState({tasks[0].attemptId,
                                   ExecutionState::kFailed,
                                   Status::internal("boom " + std::to_string(attempt)),
                                   {}});
  }
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kFailed);
  EXPECT_EQ(info.restarts, 1);
  EXPECT_THAT(info.failure.message(), HasSubstr("boom 1"));
  EXPECT_THAT(info.failure.message(), HasSubstr("after 1 restarts"));
}

TEST_F(JobManagerTest, cancelWhileRestartingEndsAtOnce) {
  start(fixedDelay(5, "1 h"), /*manualClock=*/true);
  FakeTaskManager& tm = addTaskManager(1);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1)));
  ASSERT_TRUE(tm.waitForDeployed(id, 0, 2));
  auto tasks = tm.deployed(id, 0);
  jm_->updateTaskExecutionState(
      {tasks[0].attemptId, ExecutionState::kFailed, Status::internal("boom"), {}});
  ASSERT_TRUE(waitForStatus(*jm_, id, JobStatus::kRestarting));
  ASSERT_OK(jm_->cancelJob(id));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->jobStatus(id));
  EXPECT_EQ(info.status, JobStatus::kCanceled);
  clock_.advance(2 * 3'600'000);
  ASSERT_OK_AND_ASSIGN(std::string other, jm_->submitJob(twoVertexJob(1)));
  ASSERT_TRUE(tm.waitForDeployed(other, 0, 2));
  EXPECT_TRUE(tm.deployed(id, 1).empty());
}

TEST_F(JobManagerTest, restartWaitsForTheDelayOnTheClock) {
  start(fixedDelay(1, "10 s"), /*manualClock=*/true);
  FakeTaskManager& tm = addTaskManager(1);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1)));
  ASSERT_TRUE(tm.waitForDeployed(id, 0, 2));
  jm_->updateTaskExecutionState(
      {tm.deployed(id, 0)[0].attemptId, ExecutionState::kFailed, Status::internal("x"), {}});
  ASSERT_TRUE(waitForStatus(*jm_, id, JobStatus::kRestarting));
  clock_.advance(9'999);
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, milliseconds(60)));
  EXPECT_EQ(info.status, JobStatus::kRestarting);
  clock_.advance(1);
  ASSERT_TRUE(tm.waitForDeployed(id, 1, 2));
}

TEST_F(JobManagerTest, lostTaskManagerFailsItsTasksAndTheJobRestartsOnTheOthers) {
  start(fixedDelay(1, "0 ms"));
  FakeTaskManager& lost = addTaskManager(1);
  FakeTaskManager& kept = addTaskManager(2);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(2)));
  ASSERT_TRUE(lost.waitForDeployed(id, 0, 2));
  ASSERT_TRUE(kept.waitForDeployed(id, 0, 2));
  lost.markLost();
  jm_->unregisterTaskManager(&lost, Status::unavailable("no heartbeat for 5000 ms"));
  ASSERT_TRUE(kept.waitForDeployed(id, 1, 4));
  EXPECT_EQ(kept.cancelled().size(), 2u);  // the first attempt's tasks there
  kept.reportAll(id, 1, ExecutionState::kFinished);
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kFinished);
  EXPECT_EQ(info.restarts, 1);
  EXPECT_EQ(lost.callsWhileLost(), 0);
}

TEST_F(JobManagerTest, lostTaskManagerWithoutRestartFailsTheJobNamingIt) {
  start();
  FakeTaskManager& lost = addTaskManager(1);
  FakeTaskManager& kept = addTaskManager(1);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(2)));
  ASSERT_TRUE(kept.waitForDeployed(id, 0, 2));
  lost.markLost();
  jm_->unregisterTaskManager(&lost, Status::unavailable("no heartbeat for 5000 ms"));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kFailed);
  EXPECT_EQ(info.failure.code(), StatusCode::kUnavailable);
  EXPECT_THAT(info.failure.message(),
              HasSubstr("TaskManager tm-0 (fake-tm-0:1) is lost: no heartbeat for 5000 ms"));
  EXPECT_EQ(lost.callsWhileLost(), 0);
  // Its slot is gone: a job of parallelism 2 waits.
  ASSERT_OK_AND_ASSIGN(std::string next, jm_->submitJob(twoVertexJob(2)));
  ASSERT_OK_AND_ASSIGN(info, jm_->waitForJobTermination(next, milliseconds(50)));
  EXPECT_EQ(info.status, JobStatus::kCreated);
}

TEST_F(JobManagerTest, failedDeploymentFailsTheJob) {
  start();
  FakeTaskManager& tm = addTaskManager(1);
  tm.setSubmitError(Status::unavailable("connection refused"));
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1)));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kFailed);
  EXPECT_THAT(info.failure.message(), HasSubstr("deploying " + id));
  EXPECT_THAT(info.failure.message(), HasSubstr("connection refused"));
  EXPECT_TRUE(tm.cancelled().empty());  // nothing was deployed
}

TEST_F(JobManagerTest, jobThatCanNeverFitFailsWithoutRestart) {
  start(fixedDelay(5, "0 ms"));
  FakeTaskManager& tm = addTaskManager(1);
  tm.setJobFits(Status::invalidArgument("raise taskmanager.network.numberOfBuffers"));
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1)));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo info, jm_->waitForJobTermination(id, kWait));
  EXPECT_EQ(info.status, JobStatus::kFailed);
  EXPECT_EQ(info.restarts, 0);
  EXPECT_THAT(info.failure.message(), HasSubstr("raise taskmanager.network.numberOfBuffers"));
  EXPECT_TRUE(tm.deployed(id, 0).empty());
}

TEST_F(JobManagerTest, badRestartStrategyIsRejectedAtSubmitNamingTheKey) {
  start();
  Configuration config;
  config.set("restart-strategy.type", "fixed-delay");
  config.set("restart-strategy.fixed-delay.attempts", "many");
  Result<std::string> rejected = jm_->submitJob(twoVertexJob(1, config));
  ASSERT_STATUS(StatusCode::kInvalidArgument, rejected);
  EXPECT_THAT(rejected.status().message(), HasSubstr("'restart-strategy.fixed-delay.attempts'"));
  EXPECT_TRUE(jm_->listJobs().empty());
}

TEST_F(JobManagerTest, theJobsConfigurationWinsOverTheJobManagers) {
  start(fixedDelay(0, "0 ms"));
  FakeTaskManager& tm = addTaskManager(1);
  ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1, fixedDelay(1, "0 ms"))));
  ASSERT_TRUE(tm.waitForDeployed(id, 0, 2));
  jm_->updateTaskExecutionState(
      {tm.deployed(id, 0)[0].attemptId, ExecutionState::kFailed, Status::internal("x"), {}});
  EXPECT_TRUE(tm.waitForDeployed(id, 1, 2));
}

TEST_F(JobManagerTest, theJobStoreKeepsAtMostMaxCapacityEndedJobs) {
  Configuration config;
  config.set("jobstore.max-capacity", "2");
  start(config);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string id, jm_->submitJob(twoVertexJob(1)));
    ASSERT_OK(jm_->cancelJob(id));
    ids.push_back(id);
  }
  ASSERT_OK_AND_ASSIGN(std::string waiting, jm_->submitJob(twoVertexJob(1)));
  auto jobs = jm_->listJobs();
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].jobId, waiting);
  EXPECT_EQ(jobs[1].jobId, ids[2]);
  EXPECT_EQ(jobs[2].jobId, ids[1]);
  ASSERT_STATUS(StatusCode::kNotFound, jm_->jobStatus(ids[0]));
}

TEST_F(JobManagerTest, badJobManagerKeysAreReportedByCheckConfiguration) {
  for (const auto& [key, value] : std::initializer_list<std::pair<std::string, std::string>>{
           {"jobstore.max-capacity", "0"},
           {"jobstore.expiration-time", "soon"},
           {"slot.request.timeout", "-1 s"},
           {"restart-strategy.type", "often"}}) {
    Configuration config;
    config.set(key, value);
    Status status = JobManager::checkConfiguration(config);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(status.message(), HasSubstr("'" + key + "'"));
  }
  EXPECT_OK(JobManager::checkConfiguration(Configuration()));
}

}  // namespace
}  // namespace strom::runtime
