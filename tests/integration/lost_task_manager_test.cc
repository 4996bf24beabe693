// A TaskManager lost while a job streams records across it, on a MiniCluster of three
// TaskManagers talking over loopback TCP: the job (with no restart strategy) fails promptly
// with an error that names the lost TaskManager's data address, no task hangs, the remaining
// TaskManagers run the next job to the oracle's result, and a job wider than what is left
// waits for slots until slot.request.timeout. Also: network buffer counts too small for a
// job's channels are rejected before anything is deployed.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
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
using std::chrono::milliseconds;
using std::chrono::seconds;

/// How long a job may take to fail once a TaskManager is lost.
constexpr seconds kPromptly{10};
/// How long any job may take before the test gives up on it.
constexpr seconds kJobDeadline{60};
/// How long the endless source runs at most (so that a hang ends eventually).
constexpr seconds kSourceLimit{40};
constexpr int kTaskManagers = 3;

/// Emits 0, p, 2p, ... (shifted by its subtask) until cancelled, or at most kSourceLimit.
class EndlessSource final : public Source<int64_t> {
 public:
  std::unique_ptr<SourceReader<int64_t>> createReader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(subtask, parallelism);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(int subtask, int parallelism)
        : next_(subtask), step_(parallelism), stopAt_(Clock::now() + kSourceLimit) {}
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      if (Clock::now() > stopAt_) return InputStatus::kEndOfInput;
      for (size_t i = 0; i < output.maxRows(); ++i, next_ += step_) output.push(next_);
      return InputStatus::kMoreAvailable;
    }

   private:
    int64_t next_;
    int64_t step_;
    Clock::time_point stopAt_;
  };
};

/// Counts the records each sink subtask receives.
struct SinkCounts {
  std::array<std::atomic<int64_t>, kTaskManagers> perSubtask{};
  bool allAtLeast(int64_t n) const {
    for (const auto& count : perSubtask) {
      if (count.load(std::memory_order_relaxed) < n) return false;
    }
    return true;
  }
};

class CountingSink final : public Sink<int64_t> {
 public:
  explicit CountingSink(std::shared_ptr<SinkCounts> counts) : counts_(std::move(counts)) {}
  std::unique_ptr<SinkWriter<int64_t>> createWriter(int subtask, int) const override {
    return std::make_unique<Writer>(counts_, subtask);
  }

 private:
  class Writer final : public SinkWriter<int64_t> {
   public:
    Writer(std::shared_ptr<SinkCounts> counts, int subtask)
        : counts_(std::move(counts)), subtask_(subtask) {}
    Status write(const RecordBatch<int64_t>& batch) override {
      counts_->perSubtask[static_cast<size_t>(subtask_)].fetch_add(
          static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
      return Status::ok();
    }

   private:
    std::shared_ptr<SinkCounts> counts_;
    int subtask_;
  };
  std::shared_ptr<SinkCounts> counts_;
};

Result<std::shared_ptr<const graph::JobGraph>> jobGraphOf(const StreamExecutionEnvironment& env,
                                                          int parallelism,
                                                          const Configuration& config) {
  STROM_ASSIGN_OR_RETURN(auto streamGraph,
                         graph::StreamGraph::create(env.transformations(), parallelism, 128));
  return graph::JobGraph::create(std::move(streamGraph), "lost task manager test", config);
}

Configuration clusterConfig() {
  Configuration config;
  config.set("taskmanager.count", std::to_string(kTaskManagers));
  config.set("taskmanager.numberOfTaskSlots", "1");
  // A job that cannot get its slots fails after this long (the last check below).
  config.set("slot.request.timeout", "300 ms");
  return config;
}

/// Run `job` on `cluster` on another thread; the future is ready when it ends.
std::future<Result<JobExecutionResult>> executeAsync(runtime::MiniCluster& cluster,
                                                     std::shared_ptr<const graph::JobGraph> job,
                                                     std::thread& runner) {
  auto promise = std::make_shared<std::promise<Result<JobExecutionResult>>>();
  auto future = promise->get_future();
  runner = std::thread([&cluster, job, promise] { promise->set_value(cluster.executeJob(job)); });
  return future;
}

/// Sum x over 1..n per key x % 10, with keyBy and reduce at parallelism 2 on what is left of
/// the cluster, and compare with the oracle.
void expectSumsJobSucceeds(runtime::MiniCluster& cluster) {
  constexpr int64_t n = 20000;
  StreamExecutionEnvironment env(clusterConfig());
  auto sums = std::make_shared<CollectedRecords<std::pair<int64_t, int64_t>>>();
  env.fromSequence(1, n)
      .map([](int64_t x) { return std::make_pair(x % 10, x); })
      .keyBy([](const std::pair<int64_t, int64_t>& p) { return p.first; })
      .reduce([](const std::pair<int64_t, int64_t>& a, const std::pair<int64_t, int64_t>& b) {
        return std::make_pair(a.first, a.second + b.second);
      })
      .sinkTo(std::make_shared<CollectSink<std::pair<int64_t, int64_t>>>(sums));
  ASSERT_OK_AND_ASSIGN(auto job, jobGraphOf(env, 2, clusterConfig()));
  std::thread runner;
  auto result = executeAsync(cluster, job, runner);
  ASSERT_EQ(result.wait_for(kJobDeadline), std::future_status::ready) << "the next job hung";
  runner.join();
  ASSERT_OK(result.get());
  std::map<int64_t, int64_t> finalSum;
  for (const auto& [key, sum] : sums->records()) finalSum[key] = std::max(finalSum[key], sum);
  std::map<int64_t, int64_t> expected;
  for (int64_t x = 1; x <= n; ++x) expected[x % 10] += x;
  EXPECT_EQ(finalSum, expected);
  EXPECT_EQ(sums->records().size(), static_cast<size_t>(n));
}

class LostTaskManagerTest : public ::testing::TestWithParam<int> {};

TEST_P(LostTaskManagerTest, jobFailsPromptlyNamingTheLostPeerAndTheOthersStayUsable) {
  const int lost = GetParam();
  runtime::MiniCluster::Options options;
  options.numberOfTaskManagers = kTaskManagers;
  options.configuration = clusterConfig();
  ASSERT_OK_AND_ASSIGN(auto cluster, runtime::MiniCluster::start(options));

  // Source → keyBy → map → sink at parallelism 3: every sink subtask reads from all three
  // TaskManagers, two of them over TCP.
  StreamExecutionEnvironment env(clusterConfig());
  auto counts = std::make_shared<SinkCounts>();
  env.fromSource<int64_t>(std::make_shared<EndlessSource>(), "Endless")
      .keyBy([](int64_t x) { return x % 101; })
      .map([](int64_t x) { return x + 1; })
      .sinkTo(std::make_shared<CountingSink>(counts), "Counting Sink");
  ASSERT_OK_AND_ASSIGN(auto job, jobGraphOf(env, kTaskManagers, clusterConfig()));
  std::thread runner;
  auto result = executeAsync(*cluster, job, runner);
  struct Joiner {
    std::thread& thread;
    ~Joiner() {
      if (thread.joinable()) thread.join();
    }
  } joiner{runner};

  // Records flow into every sink subtask before the TaskManager goes away.
  ASSERT_TRUE(testing::eventually([&] {
    return counts->allAtLeast(10000) ||
           result.wait_for(milliseconds(0)) == std::future_status::ready;
  }));
  ASSERT_EQ(result.wait_for(milliseconds(0)), std::future_status::timeout)
      << "the job ended before the TaskManager was lost: " << result.get().status().toString();

  std::string lostAddress = cluster->taskManager(lost).dataAddress();
  Clock::time_point lostAt = Clock::now();
  cluster->testingLoseTaskManager(lost);
  ASSERT_EQ(result.wait_for(kJobDeadline), std::future_status::ready) << "the job hung";
  auto elapsed = Clock::now() - lostAt;
  Result<JobExecutionResult> outcome = result.get();
  ASSERT_FALSE(outcome.isOk()) << "the job succeeded without TaskManager " << lost;
  EXPECT_THAT(outcome.status().message(), HasSubstr(lostAddress)) << outcome.status().toString();
  EXPECT_LT(elapsed, kPromptly) << outcome.status().toString();
  RecordProperty("failedAfterMs",
                 std::to_string(std::chrono::duration_cast<milliseconds>(elapsed).count()));
  runner.join();

  // The two remaining TaskManagers (and the connections between them) still work.
  ASSERT_NO_FATAL_FAILURE(expectSumsJobSucceeds(*cluster));
  // And a job wider than what is left waits for slots and fails at slot.request.timeout,
  // naming what it needs and what is free; it is not sent to the lost TaskManager.
  ASSERT_OK_AND_ASSIGN(auto wide, jobGraphOf(env, kTaskManagers, clusterConfig()));
  ASSERT_OK_AND_ASSIGN(std::string wideId, cluster->jobManager().submitJob(wide));
  Result<JobExecutionResult> refused = cluster->jobManager().waitForJob(wideId);
  ASSERT_STATUS(StatusCode::kResourceExhausted, refused);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("could not get 3 slots within slot.request.timeout (300 ms): 2 of 2 "
                        "slots are free"));
}

INSTANTIATE_TEST_SUITE_P(WhichTaskManager, LostTaskManagerTest, ::testing::Values(0, 1, 2),
                         [](const auto& info) { return "tm" + std::to_string(info.param); });

// --- network buffers too few for a job's channels -------------------------------------------

TEST(NetworkBuffersTest, tooFewBuffersForTheChannelsAreRejectedBeforeDeploymentNamingTheKey) {
  // Parallelism 4 on 2 TaskManagers with 2 slots each, one all-to-all edge. Per TaskManager:
  // 2 producers reserve 4 + 1 buffers each; 2 consumers have 2 remote channels each with 2
  // exclusive buffers, and 8 floating buffers per gate: 10 + 2 * (4 + 8) = 34.
  auto run = [](const std::string& numberOfBuffers) {
    Configuration config;
    config.set("taskmanager.count", "2");
    config.set("taskmanager.numberOfTaskSlots", "2");
    config.set("taskmanager.network.numberOfBuffers", numberOfBuffers);
    StreamExecutionEnvironment env(config);
    env.setParallelism(4);
    auto out = std::make_shared<CollectedRecords<int64_t>>();
    env.fromSequence(1, 1000)
        .keyBy([](int64_t x) { return x % 13; })
        .map([](int64_t x) { return x * 2; })
        .sinkTo(std::make_shared<CollectSink<int64_t>>(out));
    Result<JobExecutionResult> result = env.execute("buffers");
    return std::make_pair(std::move(result), out->records().size());
  };
  auto [rejected, rejectedRecords] = run("33");
  ASSERT_STATUS(StatusCode::kInvalidArgument, rejected);
  EXPECT_THAT(rejected.status().message(), HasSubstr("needs 34 network buffers"));
  EXPECT_THAT(rejected.status().message(),
              HasSubstr("raise taskmanager.network.numberOfBuffers to at least 34"));
  EXPECT_EQ(rejectedRecords, 0u) << "tasks ran although the job was rejected";

  // Exactly enough: the job runs.
  auto [accepted, records] = run("34");
  ASSERT_OK(accepted);
  EXPECT_EQ(records, 1000u);
}

}  // namespace
}  // namespace strom
