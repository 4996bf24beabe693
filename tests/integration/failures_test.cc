// Failing jobs on the embedded MiniCluster: exceptions in user functions, bad inputs and
// outputs, invalid settings and configuration, recovery of the process after a failure, and
// back-pressure from a blocked sink.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

/// How long a failing job may take to end: failures must cancel the other tasks promptly.
constexpr seconds kPromptly{10};
/// How long any job may take before the test gives up on it (a hang, reported as a failure).
constexpr seconds kJobDeadline{30};
/// How long an endless source runs at most (so that a hang ends eventually).
constexpr seconds kEndlessSourceLimit{20};

/// The number of TaskManagers of this suite's MiniClusters, set from the test parameter: with
/// several, tasks on different TaskManagers talk over loopback TCP (remote channels).
int numTaskManagers = 1;

/// Return a configuration with the suite's `taskmanager.count`.
Configuration clusterConfig() {
  Configuration config;
  config.set("taskmanager.count", std::to_string(numTaskManagers));
  return config;
}

/// Runs every test on one TaskManager and on three.
class FailuresTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { numTaskManagers = GetParam(); }
};

/// Counts the sink subtasks whose writers have opened. The jobs of the tests below that fail
/// on purpose hold their failure back until every sink subtask is open, that is until the
/// whole job is deployed: a failure during deployment is its own test
/// (failureDuringDeploymentCancelsTasksDeployedAfterIt).
class SinksOpen {
 public:
  explicit SinksOpen(int expected) : expected_(expected) {}
  void opened() {
    {
      std::lock_guard lock(mu_);
      ++opened_;
    }
    changed_.notify_all();
  }
  bool allOpen() {
    std::lock_guard lock(mu_);
    return opened_ >= expected_;
  }
  /// Wait until every sink is open, at most `timeout`; return whether they are.
  bool waitAllOpen(milliseconds timeout) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return opened_ >= expected_; });
  }

 private:
  const int expected_;
  std::mutex mu_;
  std::condition_variable changed_;
  int opened_ = 0;  // GUARDED_BY(mu_)
};

/// A parallel source that emits 0, 1, 2, ... (subtask i of p emits i, i + p, ...) until the
/// task is cancelled, or at most kEndlessSourceLimit: a job with it only ends early by failing.
/// With `sinksOpen`, it emits nothing until every sink is open (at most kPromptly).
class EndlessSource final : public Source<int64_t> {
 public:
  explicit EndlessSource(std::shared_ptr<SinksOpen> sinksOpen = nullptr)
      : sinksOpen_(std::move(sinksOpen)) {}
  std::unique_ptr<SourceReader<int64_t>> createReader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(subtask, parallelism, sinksOpen_);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(int subtask, int parallelism, std::shared_ptr<SinksOpen> sinksOpen)
        : next_(subtask),
          step_(parallelism),
          sinksOpen_(std::move(sinksOpen)),
          holdUntil_(Clock::now() + kPromptly),
          stopAt_(Clock::now() + kEndlessSourceLimit) {}
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      Clock::time_point now = Clock::now();
      if (now > stopAt_) return InputStatus::kEndOfInput;
      if (sinksOpen_ && !sinksOpen_->allOpen() && now < holdUntil_) {
        return InputStatus::kNothingAvailable;  // the task polls again within a millisecond
      }
      for (size_t i = 0; i < output.maxRows(); ++i, next_ += step_) output.push(next_);
      return InputStatus::kMoreAvailable;
    }

   private:
    int64_t next_;
    int64_t step_;
    std::shared_ptr<SinksOpen> sinksOpen_;
    Clock::time_point holdUntil_;
    Clock::time_point stopAt_;
  };
  std::shared_ptr<SinksOpen> sinksOpen_;
};

/// Counts the records it receives and drops them; tells `sinksOpen` when a writer opens.
template <class T>
class CountingSink final : public Sink<T> {
 public:
  CountingSink(std::shared_ptr<std::atomic<int64_t>> count, std::shared_ptr<SinksOpen> sinksOpen)
      : count_(std::move(count)), sinksOpen_(std::move(sinksOpen)) {}
  std::unique_ptr<SinkWriter<T>> createWriter(int, int) const override {
    return std::make_unique<Writer>(count_, sinksOpen_);
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    Writer(std::shared_ptr<std::atomic<int64_t>> count, std::shared_ptr<SinksOpen> sinksOpen)
        : count_(std::move(count)), sinksOpen_(std::move(sinksOpen)) {}
    Status open(OperatorContext&) override {
      if (sinksOpen_) sinksOpen_->opened();
      return Status::ok();
    }
    Status write(const RecordBatch<T>& batch) override {
      count_->fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
      return Status::ok();
    }

   private:
    std::shared_ptr<std::atomic<int64_t>> count_;
    std::shared_ptr<SinksOpen> sinksOpen_;
  };
  std::shared_ptr<std::atomic<int64_t>> count_;
  std::shared_ptr<SinksOpen> sinksOpen_;
};

/// Add a sink that drops the records (at the default parallelism).
template <class T>
void discard(const DataStream<T>& stream, std::shared_ptr<SinksOpen> sinksOpen = nullptr) {
  stream.sinkTo(std::make_shared<CountingSink<T>>(std::make_shared<std::atomic<int64_t>>(0),
                                                  std::move(sinksOpen)),
                "Discard");
}

/// Return the number of threads of this process (Linux), or -1.
int threadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

/// Return the number of open file descriptors of this process (Linux), or -1.
int openFileCount() {
  std::error_code ec;
  int n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

struct Outcome {
  Result<JobExecutionResult> result;
  milliseconds elapsed;
};

/// Run env.execute() on another thread and wait at most kJobDeadline for it. Returns nullopt
/// if the job did not end by then (the thread is left to finish on its own: the test fails,
/// but the suite does not hang).
std::optional<Outcome> executeWithDeadline(StreamExecutionEnvironment env) {
  auto promise = std::make_shared<std::promise<Result<JobExecutionResult>>>();
  std::future<Result<JobExecutionResult>> future = promise->get_future();
  Clock::time_point start = Clock::now();
  std::thread runner(
      [env, promise]() mutable { promise->set_value(env.execute("failures test")); });
  if (future.wait_for(kJobDeadline) != std::future_status::ready) {
    runner.detach();
    return std::nullopt;
  }
  runner.join();
  return Outcome{future.get(), std::chrono::duration_cast<milliseconds>(Clock::now() - start)};
}

using DeclareJob =
    std::function<void(StreamExecutionEnvironment&, const std::shared_ptr<SinksOpen>&)>;

/// Declare a job with `declare` at `parallelism` (its sinks, `parallelism` of them, report to
/// the SinksOpen it gets), run it, and expect it to fail promptly with a message that
/// contains every one of `needles`.
void expectFailsPromptly(const DeclareJob& declare, int parallelism,
                         const std::vector<std::string>& needles) {
  StreamExecutionEnvironment env(clusterConfig());
  env.setParallelism(parallelism);
  declare(env, std::make_shared<SinksOpen>(parallelism));
  std::optional<Outcome> outcome = executeWithDeadline(env);
  ASSERT_TRUE(outcome.has_value()) << "the job did not end within " << kJobDeadline.count() << " s";
  ASSERT_FALSE(outcome->result.isOk()) << "the job succeeded";
  for (const std::string& needle : needles) {
    EXPECT_THAT(outcome->result.status().message(), HasSubstr(needle));
  }
  EXPECT_LT(outcome->elapsed, kPromptly) << outcome->result.status().toString();
}

/// Run a job that must be rejected and return its error (or an Internal or DeadlineExceeded
/// error of the test's own if it succeeds or does not end).
Status executeExpectingRejection(StreamExecutionEnvironment& env) {
  std::optional<Outcome> outcome = executeWithDeadline(env);
  if (!outcome) return Status::deadlineExceeded("the job did not end");
  if (outcome->result.isOk()) return Status::internal("the job succeeded");
  return outcome->result.status();
}

std::string tempPath(const std::string& name) {
  return ::testing::TempDir() + "strom_failures_" + std::to_string(::getpid()) + "_" + name;
}

// --- exceptions in user functions -------------------------------------------------------------

int64_t explodeAt42(int64_t x) {
  if (x == 42) throw std::runtime_error("boom at 42");
  return x;
}

TEST_P(FailuresTest, throwingMapFailsJobNamingOperatorAndCause) {
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE(parallelism);
    expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                      .map([](int64_t x) { return explodeAt42(x); })
                      .name("Exploder"),
                  sinksOpen);
        },
        parallelism, {"boom at 42", "Exploder"});
  }
}

TEST_P(FailuresTest, throwingMapAcrossNetworkFailsJobNamingOperatorAndCause) {
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE(parallelism);
    expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                      .rebalance()
                      .map([](int64_t x) { return explodeAt42(x); })
                      .name("Exploder")
                      .rebalance(),
                  sinksOpen);
        },
        parallelism, {"boom at 42", "Exploder"});
  }
}

TEST_P(FailuresTest, throwingFilterFailsJobNamingOperatorAndCause) {
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE(parallelism);
    expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                      .rebalance()
                      .filter([](int64_t x) { return explodeAt42(x) % 2 == 0; })
                      .name("Exploder"),
                  sinksOpen);
        },
        parallelism, {"boom at 42", "Exploder"});
  }
}

TEST_P(FailuresTest, throwingFlatMapFailsJobNamingOperatorAndCause) {
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE(parallelism);
    expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                      .flatMap([](int64_t x, Collector<std::string>& out) {
                        out.collect(std::to_string(explodeAt42(x)));
                      })
                      .name("Exploder")
                      .keyBy([](const std::string& s) { return s.size(); })
                      .map([](const std::string& s) { return s; }),
                  sinksOpen);
        },
        parallelism, {"boom at 42", "Exploder"});
  }
}

TEST_P(FailuresTest, throwingKeyedReduceFailsJobNamingOperatorAndCause) {
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE(parallelism);
    expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
          // max() keeps 42 as the key's value once seen, so the next reduce call of its key
          // throws whatever the arrival order.
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                      .keyBy([](int64_t x) { return x % 7; })
                      .reduce([](int64_t a, int64_t b) {
                        explodeAt42(a);
                        return std::max(a, explodeAt42(b));
                      })
                      .name("Exploder"),
                  sinksOpen);
        },
        parallelism, {"boom at 42", "Exploder"});
  }
}

class ExplodingKeyedProcess final : public KeyedProcessFunction<int64_t, int64_t, int64_t> {
 public:
  void processElement(const int64_t& value, Context&, Collector<int64_t>& out) override {
    out.collect(explodeAt42(value));
  }
};

TEST_P(FailuresTest, throwingKeyedProcessFunctionFailsJobNamingOperatorAndCause) {
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE(parallelism);
    expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                      .keyBy([](int64_t x) { return x % 5; })
                      .process(ExplodingKeyedProcess())
                      .name("Exploder"),
                  sinksOpen);
        },
        parallelism, {"boom at 42", "Exploder"});
  }
}

/// Fails in open() on one subtask (-1: the last) only: the other subtasks run until
/// cancelled. With `sinksOpen`, it fails once every sink is open (or after kPromptly).
class ExplodingOpen final : public RichMapFunction<int64_t, int64_t> {
 public:
  explicit ExplodingOpen(std::shared_ptr<SinksOpen> sinksOpen, int failingSubtask = -1)
      : sinksOpen_(std::move(sinksOpen)), failingSubtask_(failingSubtask) {}
  void open() override {
    const RuntimeContext& ctx = getRuntimeContext();
    int failing = failingSubtask_ >= 0 ? failingSubtask_ : ctx.getNumberOfParallelSubtasks() - 1;
    if (ctx.getIndexOfThisSubtask() != failing) return;
    if (sinksOpen_) (void)sinksOpen_->waitAllOpen(kPromptly);
    throw std::runtime_error("boom in open");
  }
  int64_t map(const int64_t& x) override { return x; }

 private:
  std::shared_ptr<SinksOpen> sinksOpen_;
  int failingSubtask_;
};

TEST_P(FailuresTest, throwingRichFunctionOpenFailsJobNamingOperatorAndCause) {
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE(parallelism);
    expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                      .keyBy([](int64_t x) { return x % 5; })
                      .map(ExplodingOpen(sinksOpen))
                      .name("Exploder"),
                  sinksOpen);
        },
        parallelism, {"boom in open", "Exploder"});
  }
}

TEST_P(FailuresTest, throwingRichFunctionOpenInSourceChainFailsJob) {
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE(parallelism);
    expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                      .map(ExplodingOpen(sinksOpen))
                      .name("Exploder")
                      .rebalance(),
                  sinksOpen);
        },
        parallelism, {"boom in open", "Exploder"});
  }
}

/// Throws an int, not a std::exception, from open() (on the last subtask) or from map().
class ThrowsNonStandard final : public RichMapFunction<int64_t, int64_t> {
 public:
  ThrowsNonStandard(std::shared_ptr<SinksOpen> sinksOpen, bool inOpen)
      : sinksOpen_(std::move(sinksOpen)), inOpen_(inOpen) {}
  void open() override {
    const RuntimeContext& ctx = getRuntimeContext();
    if (!inOpen_ || ctx.getIndexOfThisSubtask() != ctx.getNumberOfParallelSubtasks() - 1) return;
    (void)sinksOpen_->waitAllOpen(kPromptly);
    throw 42;
  }
  int64_t map(const int64_t& x) override {
    if (!inOpen_ && x == 42) throw 42;
    return x;
  }

 private:
  std::shared_ptr<SinksOpen> sinksOpen_;
  bool inOpen_;
};

TEST_P(FailuresTest, nonStandardExceptionInMapFailsJobNamingOperator) {
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE(parallelism);
    expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                      .map(ThrowsNonStandard(sinksOpen, /*inOpen=*/false))
                      .name("Exploder"),
                  sinksOpen);
        },
        parallelism, {"Exploder", "unknown exception"});
  }
}

TEST_P(FailuresTest, nonStandardExceptionInOpenFailsJobInsteadOfTerminating) {
  for (int parallelism : {1, 3}) {
    SCOPED_TRACE(parallelism);
    expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                      .keyBy([](int64_t x) { return x % 5; })
                      .map(ThrowsNonStandard(sinksOpen, /*inOpen=*/true))
                      .name("Exploder"),
                  sinksOpen);
        },
        parallelism, {"Exploder"});
  }
}

// --- a failure while the job is being deployed ----------------------------------------------

TEST_P(FailuresTest, failureDuringDeploymentCancelsTasksDeployedAfterIt) {
  // The first task deployed fails at once, while the later ones are still being deployed.
  for (int attempt = 0; attempt < 10; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    std::string path = tempPath("missing_while_deploying.txt");
    std::filesystem::remove(path);
    StreamExecutionEnvironment files(clusterConfig());
    files.setParallelism(3);
    discard(files.readTextFile(path).map([](const std::string& s) { return s.size(); }));
    std::optional<Outcome> outcome = executeWithDeadline(files);
    ASSERT_TRUE(outcome.has_value())
        << "the job did not end within " << kJobDeadline.count() << " s";
    ASSERT_STATUS(StatusCode::kIOError, outcome->result);
    EXPECT_THAT(outcome->result.status().message(), HasSubstr("'" + path + "'"));
    EXPECT_LT(outcome->elapsed, kPromptly);

    ASSERT_NO_FATAL_FAILURE(expectFailsPromptly(
        [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>&) {
          discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(), "Endless")
                      .map(ExplodingOpen(nullptr, /*failingSubtask=*/0))
                      .name("Exploder")
                      .rebalance()
                      .map([](int64_t x) { return x + 1; })
                      .rebalance()
                      .map([](int64_t x) { return x + 2; })
                      .rebalance());
        },
        4, {"boom in open", "Exploder"}));
  }
}

// --- bad inputs and outputs -------------------------------------------------------------------

TEST_P(FailuresTest, readTextFileOfMissingFileFailsNamingTheFile) {
  // At parallelism 1 the job is one task. At higher parallelism the source fails while its
  // consumers are being deployed: see failureDuringDeploymentCancelsTasksDeployedAfterIt.
  std::string path = tempPath("missing_input.txt");
  std::filesystem::remove(path);
  StreamExecutionEnvironment env(clusterConfig());
  discard(env.readTextFile(path).map([](const std::string& s) { return s.size(); }));
  std::optional<Outcome> outcome = executeWithDeadline(env);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_STATUS(StatusCode::kIOError, outcome->result);
  EXPECT_THAT(outcome->result.status().message(),
              AllOf(HasSubstr("'" + path + "'"), HasSubstr("Text File Source")));
  EXPECT_LT(outcome->elapsed, kPromptly);
}

/// Expect writeAsText(path) to fail, naming `path`, at parallelism 1 (one file) and 2 (a
/// directory of files).
void expectWriteAsTextFailsNaming(const std::string& path) {
  for (int parallelism : {1, 2}) {
    SCOPED_TRACE("parallelism " + std::to_string(parallelism) + ", path " + path);
    StreamExecutionEnvironment env(clusterConfig());
    env.setParallelism(parallelism);
    env.fromSequence(0, 999).writeAsText(path);
    std::optional<Outcome> outcome = executeWithDeadline(env);
    ASSERT_TRUE(outcome.has_value());
    ASSERT_STATUS(StatusCode::kIOError, outcome->result);
    EXPECT_THAT(outcome->result.status().message(), HasSubstr("'" + path + "'"));
    EXPECT_LT(outcome->elapsed, kPromptly);
  }
}

TEST_P(FailuresTest, writeAsTextUnderARegularFileFailsNamingThePath) {
  std::string file = tempPath("regular_file");
  { std::ofstream(file) << "not a directory\n"; }
  expectWriteAsTextFailsNaming(file + "/out.txt");
  std::filesystem::remove(file);
}

TEST_P(FailuresTest, writeAsTextIntoMissingDirectoryFailsNamingThePath) {
  std::string dir = tempPath("no_such_dir");
  std::filesystem::remove_all(dir);
  expectWriteAsTextFailsNaming(dir + "/out.txt");
  EXPECT_FALSE(std::filesystem::exists(dir));
}

// --- invalid settings and configuration -------------------------------------------------------

TEST_P(FailuresTest, zeroParallelismIsInvalidArgument) {
  StreamExecutionEnvironment env(clusterConfig());
  env.setParallelism(0);
  discard(env.fromSequence(0, 9));
  Status status = executeExpectingRejection(env);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr("parallelism 0"));
}

TEST_P(FailuresTest, parallelismAboveDefaultMaxParallelismIsInvalidArgument) {
  StreamExecutionEnvironment env(clusterConfig());
  env.setParallelism(200);
  EXPECT_EQ(env.getMaxParallelism(), 128);
  discard(env.fromSequence(0, 9));
  Status status = executeExpectingRejection(env);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
  EXPECT_THAT(status.message(), AllOf(HasSubstr("parallelism 200"), HasSubstr("128")));
}

TEST_P(FailuresTest, zeroMaxParallelismIsInvalidArgument) {
  StreamExecutionEnvironment env(clusterConfig());
  env.setMaxParallelism(0);
  discard(env.fromSequence(0, 9));
  Status status = executeExpectingRejection(env);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr("max parallelism 0"));
}

TEST_P(FailuresTest, operatorParallelismAboveMaxParallelismIsInvalidArgumentNamingIt) {
  StreamExecutionEnvironment env(clusterConfig());
  discard(env.fromSequence(0, 9).map([](int64_t x) { return x; }).name("Wide").setParallelism(200));
  Status status = executeExpectingRejection(env);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
  EXPECT_THAT(status.message(), AllOf(HasSubstr("'Wide'"), HasSubstr("200")));
}

TEST_P(FailuresTest, jobWithoutSinkIsInvalidArgument) {
  StreamExecutionEnvironment env(clusterConfig());
  env.fromSequence(0, 9).map([](int64_t x) { return x; });
  Status status = executeExpectingRejection(env);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr("no sink"));
}

TEST_P(FailuresTest, jobWithoutOperatorsIsInvalidArgument) {
  StreamExecutionEnvironment env(clusterConfig());
  Status status = executeExpectingRejection(env);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr("no operators"));
}

TEST_P(FailuresTest, badConfigurationValuesFailNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"execution.batch.rows", "abc"},
      {"execution.batch.rows", "0"},
      {"taskmanager.count", "0"},
      {"taskmanager.count", "abc"},
      {"parallelism.default", "two"},
      {"pipeline.max-parallelism", "many"},
      {"taskmanager.memory.segment-size", "huge"},
      {"taskmanager.network.numberOfBuffers", "0"},
      {"taskmanager.numberOfTaskSlots", "-1"},
      {"execution.buffer-timeout", "soon"},
  };
  for (const auto& [key, value] : cases) {
    SCOPED_TRACE(key + " = " + value);
    Configuration config = clusterConfig();
    config.set(key, value);
    StreamExecutionEnvironment env(config);
    discard(env.fromSequence(0, 99).rebalance().map([](int64_t x) { return x; }));
    Status status = executeExpectingRejection(env);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.toString();
    EXPECT_THAT(status.message(), HasSubstr(key));
  }
}

// --- the process after a failure --------------------------------------------------------------

TEST_P(FailuresTest, jobAfterAFailedJobRunsNormallyAndNothingLeaks) {
  int threadsBefore = threadCount();
  int filesBefore = openFileCount();
  expectFailsPromptly(
      [](StreamExecutionEnvironment& env, const std::shared_ptr<SinksOpen>& sinksOpen) {
        discard(env.fromSource<int64_t>(std::make_shared<EndlessSource>(sinksOpen), "Endless")
                    .keyBy([](int64_t x) { return x % 7; })
                    .map([](int64_t x) { return explodeAt42(x); })
                    .name("Exploder"),
                sinksOpen);
      },
      3, {"boom at 42"});
  std::string missingFile = tempPath("missing_again.txt");
  std::filesystem::remove(missingFile);
  {
    StreamExecutionEnvironment env(clusterConfig());
    discard(env.readTextFile(missingFile));
    std::optional<Outcome> outcome = executeWithDeadline(env);
    ASSERT_TRUE(outcome.has_value());
    EXPECT_FALSE(outcome->result.isOk());
  }
  // Every task thread is joined and every file closed once execute() returns.
  EXPECT_EQ(threadCount(), threadsBefore);
  EXPECT_EQ(openFileCount(), filesBefore);

  StreamExecutionEnvironment env(clusterConfig());
  env.setParallelism(3);
  auto sums = std::make_shared<CollectedRecords<std::pair<int64_t, int64_t>>>();
  env.fromSequence(1, 10000)
      .map([](int64_t x) { return std::make_pair(x % 10, x); })
      .keyBy([](const std::pair<int64_t, int64_t>& p) { return p.first; })
      .reduce([](const std::pair<int64_t, int64_t>& a, const std::pair<int64_t, int64_t>& b) {
        return std::make_pair(a.first, a.second + b.second);
      })
      .sinkTo(std::make_shared<CollectSink<std::pair<int64_t, int64_t>>>(sums));
  std::optional<Outcome> outcome = executeWithDeadline(env);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_OK(outcome->result);
  std::vector<std::pair<int64_t, int64_t>> records = sums->records();
  EXPECT_EQ(records.size(), 10000u);
  std::vector<int64_t> finalSum(10, 0);
  for (const auto& [key, sum] : records)
    finalSum[static_cast<size_t>(key)] = std::max(finalSum[static_cast<size_t>(key)], sum);
  for (int64_t key = 0; key < 10; ++key) {
    int64_t expected = 0;
    for (int64_t x = 1; x <= 10000; ++x) {
      if (x % 10 == key) expected += x;
    }
    EXPECT_EQ(finalSum[static_cast<size_t>(key)], expected) << "key " << key;
  }
  EXPECT_EQ(threadCount(), threadsBefore);
}

// --- back-pressure ----------------------------------------------------------------------------

/// What the blocking sink shares with the test: the records it saw and how many writers are
/// waiting for release.
struct SinkGate {
  std::shared_future<void> released;
  std::mutex mu;
  std::condition_variable changed;
  std::vector<int64_t> values;  // GUARDED_BY(mu)
  int blockedWriters = 0;       // GUARDED_BY(mu)

  int64_t seen() {
    std::lock_guard lock(mu);
    return static_cast<int64_t>(values.size());
  }
};

/// Records every batch, then blocks until the gate is released (at most kJobDeadline).
class BlockingSink final : public Sink<int64_t> {
 public:
  explicit BlockingSink(std::shared_ptr<SinkGate> gate) : gate_(std::move(gate)) {}
  std::unique_ptr<SinkWriter<int64_t>> createWriter(int, int) const override {
    return std::make_unique<Writer>(gate_);
  }

 private:
  class Writer final : public SinkWriter<int64_t> {
   public:
    explicit Writer(std::shared_ptr<SinkGate> gate) : gate_(std::move(gate)) {}
    Status write(const RecordBatch<int64_t>& batch) override {
      {
        std::lock_guard lock(gate_->mu);
        gate_->values.insert(gate_->values.end(), batch.begin(), batch.end());
        ++gate_->blockedWriters;
      }
      gate_->changed.notify_all();
      bool released = gate_->released.wait_for(kJobDeadline) == std::future_status::ready;
      {
        std::lock_guard lock(gate_->mu);
        --gate_->blockedWriters;
      }
      if (!released) return Status::deadlineExceeded("blocking sink: never released");
      return Status::ok();
    }

   private:
    std::shared_ptr<SinkGate> gate_;
  };
  std::shared_ptr<SinkGate> gate_;
};

TEST_P(FailuresTest, blockedSinkBackPressuresSourceAndEveryRecordArrivesOnceAfterRelease) {
  constexpr int64_t kRecords = 200000;
  Configuration config = clusterConfig();
  config.set("taskmanager.network.numberOfBuffers", "64");
  config.set("taskmanager.memory.segment-size", "4kb");
  StreamExecutionEnvironment env(config);
  env.setParallelism(2);

  std::promise<void> release;
  auto gate = std::make_shared<SinkGate>();
  gate->released = release.get_future().share();
  auto emitted = std::make_shared<std::atomic<int64_t>>(0);
  env.fromSequence(1, kRecords)
      .map([emitted](int64_t x) {
        emitted->fetch_add(1, std::memory_order_relaxed);
        return x;
      })
      .name("Emitted")
      .keyBy([](int64_t x) { return x % 1000; })
      .sinkTo(std::make_shared<BlockingSink>(gate), "Blocking Sink");

  std::promise<Result<JobExecutionResult>> resultPromise;
  std::future<Result<JobExecutionResult>> result = resultPromise.get_future();
  std::thread runner([&] { resultPromise.set_value(env.execute("back-pressure")); });
  bool releasedOnce = false;
  auto releaseOnce = [&] {
    if (!releasedOnce) release.set_value();
    releasedOnce = true;
  };
  // However the test ends, release the sink and wait for the job (the sink gives up after
  // kJobDeadline on its own).
  struct Cleanup {
    std::function<void()> fn;
    ~Cleanup() { fn(); }
  } cleanup{[&] {
    releaseOnce();
    if (runner.joinable()) runner.join();
  }};

  {
    std::unique_lock lock(gate->mu);
    ASSERT_TRUE(gate->changed.wait_for(lock, seconds(10), [&] { return gate->blockedWriters > 0; }))
        << "no sink writer received records";
  }
  // Let the pipeline fill up until the source cannot emit any more: the emitted count settles.
  int64_t settled = -1;
  Clock::time_point giveUp = Clock::now() + seconds(10);
  while (Clock::now() < giveUp) {
    int64_t before = emitted->load();
    ASSERT_EQ(result.wait_for(milliseconds(100)), std::future_status::timeout)
        << "the job finished while its sink was blocked";
    if (emitted->load() == before) {
      settled = before;
      break;
    }
  }
  ASSERT_GE(settled, 0) << "the source kept emitting while the sink was blocked";

  int64_t seen = gate->seen();
  RecordProperty("recordsEmittedWhileBlocked", std::to_string(settled));
  RecordProperty("recordsSeenWhileBlocked", std::to_string(seen));
  ASSERT_EQ(result.wait_for(milliseconds(300)), std::future_status::timeout)
      << "the job finished while its sink was blocked";
  EXPECT_EQ(gate->seen(), seen) << "the sink received records while blocked";
  EXPECT_EQ(emitted->load(), settled) << "the source emitted records while back-pressured";
  // One batch per sink subtask at most; and the records in flight fit in the 64 network
  // buffers of 4 KiB (at most 32768 eight-byte records) plus a batch per operator.
  EXPECT_LE(seen, 2 * static_cast<int64_t>(kDefaultBatchRows));
  EXPECT_LT(settled, 50000) << "records in flight are not bounded by the network buffers";
  EXPECT_GT(settled, seen);

  releaseOnce();
  ASSERT_EQ(result.wait_for(kJobDeadline), std::future_status::ready) << "the job did not finish";
  runner.join();
  ASSERT_OK(result.get());
  EXPECT_EQ(emitted->load(), kRecords);

  std::vector<int64_t> values;
  {
    std::lock_guard lock(gate->mu);
    values = gate->values;
  }
  ASSERT_EQ(static_cast<int64_t>(values.size()), kRecords);
  std::sort(values.begin(), values.end());
  int64_t duplicates = 0;
  int64_t outOfRange = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0 && values[i] == values[i - 1]) ++duplicates;
    if (values[i] < 1 || values[i] > kRecords) ++outOfRange;
  }
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(outOfRange, 0);
  EXPECT_EQ(values.front(), 1);
  EXPECT_EQ(values.back(), kRecords);
}

INSTANTIATE_TEST_SUITE_P(TaskManagers, FailuresTest, ::testing::Values(1, 3),
                         [](const auto& info) { return "tm" + std::to_string(info.param); });

}  // namespace
}  // namespace strom
