// Exactly-once output on the MiniCluster: a job with checkpoints writes through FileSink, fails
// after some of its output was committed, restores from its latest checkpoint (the sources
// resume from their positions, the sink commits what the checkpoint holds and deletes what was
// never committed) and finishes: the committed part files hold every record exactly once.

#include <gtest/gtest.h>
#include <strom/strom.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "graph/job_graph.h"
#include "graph/stream_graph.h"
#include "runtime/minicluster/mini_cluster.h"
#include "testutil/status_matchers.h"

namespace strom {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int64_t kCount = 20000;
constexpr std::chrono::seconds kHoldLimit{30};

/// Whether `dir` holds a committed part file.
bool hasCommittedPart(const std::string& dir) {
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (it->path().filename().string().starts_with("part-")) return true;
  }
  return false;
}

/// The values 1..kCount, subtask s of p emitting the s-th of p contiguous slices, at most 50
/// per poll. On attempt 0, after half of its slice, a reader emits nothing more until a part
/// file was committed in `dir` (at most kHoldLimit), so the job fails after a commit. Its
/// split's position is (next, end) as fixed64 values.
class HeldSequence final : public Source<int64_t> {
 public:
  explicit HeldSequence(std::string dir) : dir_(std::move(dir)) {}
  std::unique_ptr<SourceReader<int64_t>> createReader(int subtask, int parallelism) const override {
    int64_t begin = 1 + kCount * subtask / parallelism;
    int64_t end = 1 + kCount * (subtask + 1) / parallelism;
    return std::make_unique<Reader>(dir_, begin, end);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(std::string dir, int64_t begin, int64_t end)
        : dir_(std::move(dir)), next_(begin), end_(end), holdAt_(begin + (end - begin) / 2) {}
    Status open(OperatorContext& context) override {
      attempt_ = context.attemptNumber();
      holdUntil_ = Clock::now() + kHoldLimit;
      return Status::ok();
    }
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      if (attempt_ == 0 && next_ >= holdAt_ && !hasCommittedPart(dir_) &&
          Clock::now() < holdUntil_) {
        return InputStatus::kNothingAvailable;
      }
      for (int i = 0; i < 50 && next_ < end_; ++i) output.push(next_++);
      return next_ < end_ ? InputStatus::kMoreAvailable : InputStatus::kEndOfInput;
    }
    Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
      if (next_ >= end_) return std::vector<SourceSplitState>{};
      std::string position;
      DataOutput out(position);
      out.writeFixed<int64_t>(next_);
      out.writeFixed<int64_t>(end_);
      return std::vector<SourceSplitState>{{"slice", std::move(position)}};
    }
    Status restoreState(std::vector<SourceSplitState> splits) override {
      next_ = end_ = 0;
      for (const SourceSplitState& split : splits) {
        DataInput in(split.position);
        if (!in.readFixed(next_) || !in.readFixed(end_)) {
          return Status::corruption("held sequence: bad position");
        }
      }
      if (splits.size() > 1) return Status::invalidArgument("one split per reader");
      return Status::ok();
    }

   private:
    std::string dir_;
    int64_t next_;
    int64_t end_;
    int64_t holdAt_;
    int attempt_ = 0;
    Clock::time_point holdUntil_;
  };
  std::string dir_;
};

/// The attempts that ran the failing map.
std::atomic<int> attemptsSeen{0};

/// On attempt 0, throws at the first value past the half of its input once a part was committed.
class FailAfterCommit final : public RichMapFunction<int64_t, int64_t> {
 public:
  explicit FailAfterCommit(std::string dir) : dir_(std::move(dir)) {}
  void open() override {
    attempt_ = getRuntimeContext().getAttemptNumber();
    // Relaxed: a counter the test reads after the job ended (the join orders it).
    attemptsSeen.fetch_add(1, std::memory_order_relaxed);
  }
  int64_t map(const int64_t& x) override {
    if (attempt_ == 0 && x % 1000 == 0 && x > kCount / 2 && hasCommittedPart(dir_)) {
      throw std::runtime_error("failing after a commit at " + std::to_string(x));
    }
    return x;
  }

 private:
  std::string dir_;
  int attempt_ = 0;
};

class ExactlyOnceFileSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("strom_exactly_once_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  /// Every committed line, as numbers, sorted; `inProgress` counts the other files.
  /// The committed part files of `dir` hold 1..kCount exactly once, and nothing is in progress.
  void expectEveryValueCommittedOnce(const std::string& dir) const {
    int inProgress = 0;
    std::vector<int64_t> values = committed(dir, inProgress);
    std::vector<int64_t> expected;
    for (int64_t x = 1; x <= kCount; ++x) expected.push_back(x);
    EXPECT_EQ(values, expected);
    EXPECT_EQ(inProgress, 0);
  }

  std::vector<int64_t> committed(const std::string& dir, int& inProgress) const {
    std::vector<int64_t> values;
    inProgress = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::string name = entry.path().filename().string();
      if (name.starts_with('.') || name.starts_with('_')) {
        ++inProgress;
        continue;
      }
      std::ifstream file(entry.path());
      std::string line;
      while (std::getline(file, line)) values.push_back(std::stoll(line));
    }
    std::sort(values.begin(), values.end());
    return values;
  }

  fs::path root_;
};

TEST_F(ExactlyOnceFileSinkTest, aJobFailingAfterACommitRestoresAndCommitsEveryRecordOnce) {
  const std::string out = (root_ / "out").string();
  Configuration config;
  config.set("taskmanager.count", "2");
  config.set("execution.checkpointing.interval", "20 ms");
  config.set("state.checkpoints.dir", (root_ / "checkpoints").string());
  config.set("restart-strategy.type", "fixed-delay");
  config.set("restart-strategy.fixed-delay.attempts", "3");
  config.set("restart-strategy.fixed-delay.delay", "10 ms");
  StreamExecutionEnvironment env(config);
  env.setParallelism(2);
  attemptsSeen.store(0, std::memory_order_relaxed);
  env.fromSource<int64_t>(std::make_shared<HeldSequence>(out), "Held Sequence")
      .map(FailAfterCommit(out))
      .name("Fail After Commit")
      .keyBy([](const int64_t& x) { return x % 13; })
      .map([](const int64_t& x) { return x; })
      .name("Identity")
      .sinkTo(std::make_shared<FileSink<int64_t>>(out), "Parts");
  ASSERT_OK(env.execute("exactly once file sink").status());

  EXPECT_GT(attemptsSeen.load(std::memory_order_relaxed), 2) << "the job did not restart";
  expectEveryValueCommittedOnce(out);
}

// Checkpointing set in the cluster's configuration only (not by the job): the JobManager's
// coordinator checkpoints the job, and its tasks, told so in their deployment, wait for the
// final checkpoint, so the last records are committed too.
TEST_F(ExactlyOnceFileSinkTest, checkpointingSetOnlyInTheClusterConfigurationCommitsEverything) {
  const std::string out = (root_ / "out").string();
  runtime::MiniCluster::Options options;
  options.numberOfTaskManagers = 2;
  options.configuration.set("execution.checkpointing.interval", "20 ms");
  options.configuration.set("state.checkpoints.dir", (root_ / "checkpoints").string());
  ASSERT_OK_AND_ASSIGN(auto cluster, runtime::MiniCluster::start(options));

  Configuration jobConfig;  // no checkpoint keys
  StreamExecutionEnvironment env(jobConfig);
  env.fromSequence(1, kCount).sinkTo(std::make_shared<FileSink<int64_t>>(out), "Parts");
  ASSERT_OK_AND_ASSIGN(auto streamGraph, graph::StreamGraph::create(env.transformations(), 2, 128));
  ASSERT_OK_AND_ASSIGN(auto job,
                       graph::JobGraph::create(std::move(streamGraph), "cluster-set", jobConfig));
  runtime::JobManager& jm = cluster->jobManager();
  ASSERT_OK_AND_ASSIGN(std::string jobId, jm.submitJob(job));
  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo info,
                       jm.waitForJobTermination(jobId, std::chrono::seconds(60)));
  ASSERT_EQ(info.status, runtime::JobStatus::kFinished) << info.failure.toString();
  expectEveryValueCommittedOnce(out);
}

}  // namespace
}  // namespace strom
