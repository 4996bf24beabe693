// Restarts on the MiniCluster: a job whose map throws on its first attempt only restarts and
// finishes with the oracle's result; a job whose map always throws fails once the restart
// strategy gives up, naming the restart count; a job that loses a TaskManager mid-run restarts
// onto the remaining ones and finishes with the oracle's result; a cancelled running job ends
// CANCELED without a restart. Records carry the attempt number that produced them
// (RuntimeContext::getAttemptNumber), so that the output of the attempt that finished can be
// compared exactly: a restart begins from scratch (no checkpoints yet), and earlier attempts
// leave partial output behind.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "graph/job_graph.h"
#include "graph/stream_graph.h"
#include "runtime/minicluster/mini_cluster.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"

namespace strom {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using Tagged = std::pair<int64_t, int64_t>;  // (attempt, value)
using std::chrono::seconds;

/// How long any job may take before the test gives up on it.
constexpr seconds kJobDeadline{60};
constexpr int64_t kCount = 20000;

/// Tags each value with the attempt number of its task; on attempt 0 (or on every attempt,
/// with `always`) it throws at `failAt`.
class FlakyTag final : public RichMapFunction<int64_t, Tagged> {
 public:
  FlakyTag(int64_t failAt, bool always) : failAt_(failAt), always_(always) {}
  void open() override { attempt_ = getRuntimeContext().getAttemptNumber(); }
  Tagged map(const int64_t& x) override {
    if (x == failAt_ && (always_ || attempt_ == 0)) {
      throw std::runtime_error("flaky at " + std::to_string(x) + " in attempt " +
                               std::to_string(attempt_));
    }
    return {attempt_, x};
  }

 private:
  int64_t failAt_;
  bool always_;
  int64_t attempt_ = 0;
};

/// The values that attempt `attempt` delivered, sorted.
std::vector<int64_t> valuesOfAttempt(const std::vector<Tagged>& records, int64_t attempt) {
  std::vector<int64_t> values;
  for (const auto& [a, x] : records) {
    if (a == attempt) values.push_back(x);
  }
  std::sort(values.begin(), values.end());
  return values;
}

std::vector<int64_t> oneTo(int64_t n) {
  std::vector<int64_t> values;
  for (int64_t x = 1; x <= n; ++x) values.push_back(x);
  return values;
}

Configuration restartConfig(int attempts) {
  Configuration config;
  config.set("taskmanager.count", "2");
  config.set("restart-strategy.type", "fixed-delay");
  config.set("restart-strategy.fixed-delay.attempts", std::to_string(attempts));
  config.set("restart-strategy.fixed-delay.delay", "10 ms");
  return config;
}

TEST(RestartTest, aMapThatThrowsOnItsFirstAttemptOnlyRestartsAndFinishesWithTheOraclesResult) {
  StreamExecutionEnvironment env(restartConfig(2));
  env.setParallelism(2);
  auto out = std::make_shared<CollectedRecords<Tagged>>();
  env.fromSequence(1, kCount)
      .map(FlakyTag(kCount / 2, /*always=*/false))
      .name("Flaky")
      .keyBy([](const Tagged& t) { return t.second % 7; })
      .map([](const Tagged& t) { return t; })
      .sinkTo(std::make_shared<CollectSink<Tagged>>(out));
  ASSERT_OK_AND_ASSIGN(JobExecutionResult result, env.execute("flaky once"));
  std::vector<Tagged> records = out->records();
  EXPECT_EQ(valuesOfAttempt(records, 1), oneTo(kCount));
  EXPECT_TRUE(valuesOfAttempt(records, 2).empty());
}

TEST(RestartTest, aMapThatAlwaysThrowsFailsOnceTheRestartsAreUsedUp) {
  StreamExecutionEnvironment env(restartConfig(2));
  auto out = std::make_shared<CollectedRecords<Tagged>>();
  env.fromSequence(1, 100)
      .map(FlakyTag(50, /*always=*/true))
      .name("Flaky")
      .sinkTo(std::make_shared<CollectSink<Tagged>>(out));
  Result<JobExecutionResult> result = env.execute("flaky always");
  ASSERT_FALSE(result.isOk());
  // The first cause of the last attempt, and how often the job restarted.
  EXPECT_THAT(result.status().message(), HasSubstr("flaky at 50 in attempt 2"));
  EXPECT_THAT(result.status().message(), HasSubstr("after 2 restarts"));
  EXPECT_THAT(result.status().message(), HasSubstr("fixed-delay (2 attempts, 10 ms delay)"));
}

/// Emits its share of 1..kCount (subtask s of p emits s+1, s+1+p, ...). Until `opened` it
/// holds back after its first `holdAfter` values (at most kJobDeadline), so that a
/// TaskManager can be lost while the job runs.
class GatedSource final : public Source<int64_t> {
 public:
  struct Gate {
    std::atomic<bool> opened{false};
  };
  GatedSource(std::shared_ptr<Gate> gate, int64_t holdAfter)
      : gate_(std::move(gate)), holdAfter_(holdAfter) {}
  std::unique_ptr<SourceReader<int64_t>> createReader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(gate_, holdAfter_, subtask, parallelism);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(std::shared_ptr<Gate> gate, int64_t holdAfter, int subtask, int parallelism)
        : gate_(std::move(gate)),
          holdAfter_(holdAfter),
          next_(subtask + 1),
          step_(parallelism),
          holdUntil_(Clock::now() + kJobDeadline) {}
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      for (size_t i = 0; i < output.maxRows(); ++i) {
        if (next_ > kCount) return InputStatus::kEndOfInput;
        // Pairs with the test's release store: the gate opens after the TaskManager is lost.
        if (emitted_ >= holdAfter_ && !gate_->opened.load(std::memory_order_acquire) &&
            Clock::now() < holdUntil_) {
          return InputStatus::kNothingAvailable;
        }
        output.push(next_);
        next_ += step_;
        ++emitted_;
      }
      return InputStatus::kMoreAvailable;
    }

   private:
    std::shared_ptr<Gate> gate_;
    int64_t holdAfter_;
    int64_t next_;
    int64_t step_;
    int64_t emitted_ = 0;
    Clock::time_point holdUntil_;
  };

  std::shared_ptr<Gate> gate_;
  int64_t holdAfter_;
};

class LostTaskManagerRestartTest : public ::testing::TestWithParam<int> {};

TEST_P(LostTaskManagerRestartTest, theJobRestartsOntoTheRemainingTaskManagers) {
  const int lost = GetParam();  // 0 or 1: the job runs on TaskManagers 0 and 1
  Configuration config = restartConfig(1);
  config.set("taskmanager.count", "3");
  config.set("taskmanager.numberOfTaskSlots", "1");
  config.set("slot.request.timeout", "20 s");
  runtime::MiniCluster::Options options;
  options.numberOfTaskManagers = 3;
  options.configuration = config;
  ASSERT_OK_AND_ASSIGN(auto cluster, runtime::MiniCluster::start(options));

  StreamExecutionEnvironment env(config);
  auto gate = std::make_shared<GatedSource::Gate>();
  auto out = std::make_shared<CollectedRecords<Tagged>>();
  env.fromSource<int64_t>(std::make_shared<GatedSource>(gate, 1000), "Gated")
      .map(FlakyTag(-1, /*always=*/false))
      .keyBy([](const Tagged& t) { return t.second % 11; })
      .map([](const Tagged& t) { return t; })
      .sinkTo(std::make_shared<CollectSink<Tagged>>(out));
  ASSERT_OK_AND_ASSIGN(auto streamGraph, graph::StreamGraph::create(env.transformations(), 2, 128));
  ASSERT_OK_AND_ASSIGN(auto job, graph::JobGraph::create(std::move(streamGraph),
                                                         "lost task manager restart", config));
  ASSERT_OK_AND_ASSIGN(std::string jobId, cluster->jobManager().submitJob(job));

  // Both sources held back after 1000 values each, all of which reached the sinks.
  ASSERT_TRUE(testing::eventually([&] { return out->records().size() >= 2000; }));
  cluster->testingLoseTaskManager(lost);
  gate->opened.store(true, std::memory_order_release);

  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo status,
                       cluster->jobManager().waitForJobTermination(jobId, kJobDeadline));
  ASSERT_EQ(status.status, runtime::JobStatus::kFinished) << status.failure.toString();
  EXPECT_EQ(status.restarts, 1);
  EXPECT_EQ(valuesOfAttempt(out->records(), 1), oneTo(kCount));
  // Release what the lost TaskManager still runs (its network is down; its tasks were never
  // cancelled by the JobManager).
  cluster->taskManager(lost).releaseJob(jobId, /*jobEnded=*/false);
}

TEST(RestartTest, cancellingARunningJobCancelsItsTasksAndListsItCanceled) {
  Configuration config = restartConfig(5);
  runtime::MiniCluster::Options options;
  options.numberOfTaskManagers = 2;
  options.configuration = config;
  ASSERT_OK_AND_ASSIGN(auto cluster, runtime::MiniCluster::start(options));
  StreamExecutionEnvironment env(config);
  auto gate = std::make_shared<GatedSource::Gate>();  // never opened: the job runs until cancelled
  auto out = std::make_shared<CollectedRecords<Tagged>>();
  env.fromSource<int64_t>(std::make_shared<GatedSource>(gate, 100), "Gated")
      .map(FlakyTag(-1, /*always=*/false))
      .keyBy([](const Tagged& t) { return t.second % 5; })
      .map([](const Tagged& t) { return t; })
      .sinkTo(std::make_shared<CollectSink<Tagged>>(out));
  ASSERT_OK_AND_ASSIGN(auto streamGraph, graph::StreamGraph::create(env.transformations(), 2, 128));
  ASSERT_OK_AND_ASSIGN(auto job,
                       graph::JobGraph::create(std::move(streamGraph), "to cancel", config));
  runtime::JobManager& jm = cluster->jobManager();
  ASSERT_OK_AND_ASSIGN(std::string jobId, jm.submitJob(job));
  ASSERT_TRUE(testing::eventually([&] { return out->records().size() >= 200; }));
  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo running, jm.jobStatus(jobId));
  EXPECT_EQ(running.status, runtime::JobStatus::kRunning);
  ASSERT_OK(jm.cancelJob(jobId));
  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo status,
                       jm.waitForJobTermination(jobId, kJobDeadline));
  EXPECT_EQ(status.status, runtime::JobStatus::kCanceled);
  EXPECT_EQ(status.restarts, 0);  // a cancelled job is not restarted
  EXPECT_EQ(status.failure.code(), StatusCode::kCancelled);
  std::vector<runtime::JobStatusInfo> jobs = jm.listJobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].jobId, jobId);
  EXPECT_EQ(jobs[0].jobName, "to cancel");
  EXPECT_STREQ(runtime::jobStatusName(jobs[0].status), "CANCELED");
  EXPECT_EQ(jm.cancelJob(jobId).code(), StatusCode::kFailedPrecondition);
}

INSTANTIATE_TEST_SUITE_P(WhichTaskManager, LostTaskManagerRestartTest, ::testing::Values(0, 1),
                         [](const auto& info) { return "tm" + std::to_string(info.param); });

}  // namespace
}  // namespace strom
