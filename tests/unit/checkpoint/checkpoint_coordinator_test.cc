#include "checkpoint/checkpoint_coordinator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "testutil/status_matchers.h"

namespace strom::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Result_ = CheckpointMessageResult;

// The job of every test: a source (vertex 1, parallelism 1) and a sink (vertex 2, parallelism 2).
const std::vector<CheckpointTaskKey> kTasks = {{1, 0}, {2, 0}, {2, 1}};

class CheckpointCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "strom-coordinator-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    base_ = pattern;
    options_.interval = std::chrono::milliseconds(100);
    options_.timeout = std::chrono::milliseconds(1000);
  }
  void TearDown() override {
    coordinator_.reset();
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  void create() {
    ASSERT_OK_AND_ASSIGN(CheckpointStorage storage, CheckpointStorage::create(base_, "job1"));
    CheckpointCoordinatorCallbacks callbacks;
    callbacks.trigger = [this](int64_t id, int64_t timestamp,
                               const proto::CheckpointOptions& options) {
      std::string what = options.savepoint() ? "savepoint" : "trigger";
      if (options.final()) what += " final";
      if (options.terminate()) what += " terminate";
      if (options.type() != 0) what += " type " + std::to_string(options.type());
      record(what + " " + std::to_string(id) + " at " + std::to_string(timestamp));
      return triggerStatus_;
    };
    callbacks.notifyComplete = [this](int64_t id) {
      record("complete " + std::to_string(id));
      if (onComplete_) onComplete_(id);
    };
    callbacks.notifyAborted = [this](int64_t id, const Status& reason) {
      record("abort " + std::to_string(id) + ": " + reason.toString());
    };
    callbacks.failJob = [this](const Status& cause) {
      record("fail: " + cause.toString());
      if (onFail_) onFail_();
    };
    std::vector<CheckpointVertex> vertices = {{2, "sink", 2, 128}, {1, "source", 1, 128}};
    ASSERT_OK_AND_ASSIGN(coordinator_,
                         CheckpointCoordinator::create(options_, std::move(storage), vertices,
                                                       std::move(callbacks), clock_));
  }

  void record(std::string event) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
  }
  std::vector<std::string> takeEvents() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(events_, {});
  }

  // Move the clock to `millis` and tick.
  void tickAt(int64_t millis) {
    clock_.set(millis);
    coordinator_->tick();
  }

  // The state a task acknowledges: one handle into a file it wrote in the checkpoint directory.
  proto::SubtaskState stateOf(CheckpointTaskKey task, int64_t id) {
    std::string name = "chk-" + std::to_string(id) + "/state-" + std::to_string(task.vertexId) +
                       "-" + std::to_string(task.subtaskIndex);
    std::ofstream(coordinator_->storage().jobDir() / name) << "0123456789";
    proto::SubtaskState state;
    proto::StateHandle* handle = state.add_handles();
    handle->set_path(name);
    handle->set_length(10);
    return state;
  }

  void ackAll(int64_t id) {
    for (CheckpointTaskKey task : kTasks) {
      EXPECT_EQ(coordinator_->acknowledge(task, id, stateOf(task, id)), Result_::kAccepted);
    }
  }

  // What an incremental state backend does: upload a 12-byte file as `shared/<name>`.
  void upload(const std::string& name) {
    std::ofstream(coordinator_->storage().jobDir() / "shared" / name) << "shared-state";
  }
  bool hasShared(const std::string& name) const {
    return fs::exists(coordinator_->storage().jobDir() / "shared" / name);
  }
  // The state of a task that references the files `names` in shared/.
  static proto::SubtaskState sharedStateOf(const std::vector<std::string>& names) {
    proto::SubtaskState state;
    for (const std::string& name : names) {
      proto::StateHandle* handle = state.add_handles();
      handle->set_path("shared/" + name);
      handle->set_length(12);
      handle->set_kind("keyed-rocksdb");
    }
    return state;
  }
  // Acknowledge checkpoint `id` from every task: the source references `sourceFiles` in
  // shared/, the sinks nothing.
  void ackShared(int64_t id, const std::vector<std::string>& sourceFiles) {
    EXPECT_EQ(coordinator_->acknowledge({1, 0}, id, sharedStateOf(sourceFiles)),
              Result_::kAccepted);
    EXPECT_EQ(coordinator_->acknowledge({2, 0}, id, proto::SubtaskState()), Result_::kAccepted);
    EXPECT_EQ(coordinator_->acknowledge({2, 1}, id, proto::SubtaskState()), Result_::kAccepted);
  }

  fs::path base_;
  CheckpointCoordinatorOptions options_;
  ManualClock clock_{0};
  Status triggerStatus_;
  std::function<void(int64_t)> onComplete_;
  std::function<void()> onFail_;
  std::mutex mu_;
  std::vector<std::string> events_;
  std::unique_ptr<CheckpointCoordinator> coordinator_;
};

TEST_F(CheckpointCoordinatorTest, triggersPeriodicallyOnePendingAtATime) {
  create();
  coordinator_->start();
  EXPECT_EQ(coordinator_->nextTickMillis(), 100);
  tickAt(99);
  EXPECT_THAT(takeEvents(), IsEmpty());
  tickAt(100);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger 1 at 100"));
  EXPECT_TRUE(fs::is_directory(coordinator_->storage().checkpointDir(1)));
  // max-concurrent-checkpoints 1: nothing while 1 is pending; its timeout is the next tick.
  EXPECT_EQ(coordinator_->nextTickMillis(), 1100);
  tickAt(250);
  EXPECT_THAT(takeEvents(), IsEmpty());
  ackAll(1);
  EXPECT_THAT(takeEvents(), ElementsAre("complete 1"));
  EXPECT_EQ(coordinator_->nextTickMillis(), 200);  // overdue: at once
  tickAt(260);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger 2 at 260"));
  EXPECT_EQ(coordinator_->pendingIds(), std::vector<int64_t>{2});
}

TEST_F(CheckpointCoordinatorTest, noIntervalNoTriggers) {
  options_.interval = std::chrono::milliseconds(0);
  create();
  coordinator_->start();
  EXPECT_EQ(coordinator_->nextTickMillis(), INT64_MAX);
  tickAt(100000);
  EXPECT_THAT(takeEvents(), IsEmpty());
}

TEST_F(CheckpointCoordinatorTest, notStartedNoTriggers) {
  create();
  tickAt(1000);
  EXPECT_THAT(takeEvents(), IsEmpty());
}

TEST_F(CheckpointCoordinatorTest, maxConcurrentBoundsPending) {
  options_.maxConcurrent = 2;
  create();
  coordinator_->start();
  tickAt(100);
  tickAt(200);
  tickAt(300);
  tickAt(400);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger 1 at 100", "trigger 2 at 200"));
  EXPECT_EQ(coordinator_->pendingIds(), (std::vector<int64_t>{1, 2}));
  ackAll(1);
  tickAt(450);
  EXPECT_THAT(takeEvents(), ElementsAre("complete 1", "trigger 3 at 450"));
}

TEST_F(CheckpointCoordinatorTest, minPauseCountsFromTheLastEnd) {
  options_.minPause = std::chrono::milliseconds(250);
  options_.maxConcurrent = 5;  // min-pause > 0 makes it 1
  create();
  coordinator_->start();
  tickAt(100);
  tickAt(200);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger 1 at 100"));
  clock_.set(220);
  ackAll(1);
  EXPECT_EQ(coordinator_->nextTickMillis(), 470);
  tickAt(469);
  EXPECT_THAT(takeEvents(), ElementsAre("complete 1"));
  tickAt(470);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger 2 at 470"));
  // The next periodic trigger is one interval after that one, if the pause allows.
  ASSERT_EQ(coordinator_->decline({1, 0}, 2, Status::internal("no")), Result_::kAccepted);
  takeEvents();
  EXPECT_EQ(coordinator_->nextTickMillis(), 720);  // 470 + 250: the pause is longer
}

TEST_F(CheckpointCoordinatorTest, completionWritesMetadata) {
  create();
  coordinator_->start();
  clock_.set(100);
  coordinator_->tick();
  clock_.set(130);
  EXPECT_EQ(coordinator_->acknowledge({2, 1}, 1, stateOf({2, 1}, 1)), Result_::kAccepted);
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 1, stateOf({1, 0}, 1)), Result_::kAccepted);
  EXPECT_FALSE(fs::exists(coordinator_->storage().metadataPath(1)));
  EXPECT_EQ(coordinator_->acknowledge({2, 0}, 1, stateOf({2, 0}, 1)), Result_::kAccepted);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger 1 at 100", "complete 1"));
  EXPECT_EQ(coordinator_->latestCompletedId(), 1);
  ASSERT_OK_AND_ASSIGN(proto::CheckpointMetadata metadata, coordinator_->storage().readMetadata(1));
  EXPECT_EQ(metadata.job_id(), "job1");
  EXPECT_EQ(metadata.trigger_timestamp(), 100);
  EXPECT_EQ(metadata.completion_timestamp(), 130);
  ASSERT_EQ(metadata.operators_size(), 2);
  EXPECT_EQ(metadata.operators(0).vertex_id(), 1);
  EXPECT_EQ(metadata.operators(0).uid(), "source");
  EXPECT_EQ(metadata.operators(1).uid(), "sink");
  ASSERT_EQ(metadata.operators(1).subtasks_size(), 2);
  EXPECT_EQ(metadata.operators(1).subtasks(1).subtask_index(), 1);
  EXPECT_EQ(metadata.operators(1).subtasks(1).handles(0).path(), "chk-1/state-2-1");
  ASSERT_OK_AND_ASSIGN(CompletedCheckpoint latest,
                       findLatestCompleted(coordinator_->storage().jobDir(), "job1"));
  EXPECT_EQ(latest.checkpointId, 1);
}

TEST_F(CheckpointCoordinatorTest, completionSubsumesOlderPending) {
  options_.maxConcurrent = 3;
  create();
  coordinator_->start();
  tickAt(100);
  tickAt(200);
  tickAt(300);
  takeEvents();
  ackAll(2);
  EXPECT_THAT(takeEvents(), ElementsAre("abort 1: Cancelled: checkpoint 1 subsumed by checkpoint 2",
                                        "complete 2"));
  EXPECT_EQ(coordinator_->pendingIds(), std::vector<int64_t>{3});
  EXPECT_EQ(coordinator_->consecutiveFailures(), 0);  // subsumed is no failure
  EXPECT_FALSE(fs::exists(coordinator_->storage().checkpointDir(1)));
  // Late acknowledgements for the subsumed checkpoint are ignored and their files removed.
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 1, stateOf({1, 0}, 1)), Result_::kIgnored);
  EXPECT_FALSE(fs::exists(coordinator_->storage().checkpointDir(1)));
  // And for the completed one: ignored, files kept.
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 2, proto::SubtaskState()), Result_::kIgnored);
  EXPECT_OK(coordinator_->storage().readMetadata(2));
  ackAll(3);
  EXPECT_THAT(takeEvents(), ElementsAre("complete 3"));
  EXPECT_EQ(coordinator_->latestCompletedId(), 3);
}

TEST_F(CheckpointCoordinatorTest, timeoutAborts) {
  options_.timeout = std::chrono::milliseconds(500);
  options_.tolerableFailures = 1;
  create();
  coordinator_->start();
  tickAt(100);
  EXPECT_EQ(coordinator_->acknowledge({2, 0}, 1, stateOf({2, 0}, 1)), Result_::kAccepted);
  EXPECT_EQ(coordinator_->nextTickMillis(), 600);
  tickAt(599);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger 1 at 100"));
  tickAt(600);
  std::vector<std::string> events = takeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0],
            "abort 1: DeadlineExceeded: checkpoint 1 expired after 500 ms with 1 of 3 tasks "
            "acknowledged (missing: vertex 1 subtask 0, vertex 2 subtask 1)");
  EXPECT_EQ(events[1], "trigger 2 at 600");
  EXPECT_EQ(coordinator_->consecutiveFailures(), 1);
  EXPECT_FALSE(fs::exists(coordinator_->storage().checkpointDir(1)));
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 1, proto::SubtaskState()), Result_::kIgnored);
  EXPECT_EQ(coordinator_->decline({1, 0}, 1, Status::internal("late")), Result_::kIgnored);
}

TEST_F(CheckpointCoordinatorTest, declineAborts) {
  options_.tolerableFailures = 5;
  create();
  coordinator_->start();
  tickAt(100);
  takeEvents();
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 1, stateOf({1, 0}, 1)), Result_::kAccepted);
  EXPECT_EQ(coordinator_->decline({2, 1}, 1, Status::ioError("disk full")), Result_::kAccepted);
  EXPECT_THAT(takeEvents(), ElementsAre(HasSubstr("abort 1: IOError: checkpoint 1 declined by "
                                                  "vertex 2 subtask 1: disk full")));
  EXPECT_EQ(coordinator_->consecutiveFailures(), 1);
  EXPECT_THAT(coordinator_->pendingIds(), IsEmpty());
  EXPECT_EQ(coordinator_->acknowledge({2, 0}, 1, proto::SubtaskState()), Result_::kIgnored);
}

TEST_F(CheckpointCoordinatorTest, duplicateUnknownAndMalformedAcknowledgements) {
  options_.tolerableFailures = 5;
  create();
  coordinator_->start();
  tickAt(100);
  takeEvents();
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 1, stateOf({1, 0}, 1)), Result_::kAccepted);
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 1, stateOf({1, 0}, 1)), Result_::kDuplicate);
  EXPECT_EQ(coordinator_->acknowledge({1, 1}, 1, proto::SubtaskState()), Result_::kRejected);
  EXPECT_EQ(coordinator_->acknowledge({3, 0}, 1, proto::SubtaskState()), Result_::kRejected);
  EXPECT_EQ(coordinator_->decline({3, 0}, 1, Status::internal("x")), Result_::kRejected);
  EXPECT_EQ(coordinator_->acknowledge({2, 0}, 99, proto::SubtaskState()), Result_::kIgnored);
  EXPECT_EQ(coordinator_->pendingIds(), std::vector<int64_t>{1});
  proto::SubtaskState escaping;
  escaping.add_handles()->set_path("/etc/passwd");
  EXPECT_EQ(coordinator_->acknowledge({2, 0}, 1, escaping), Result_::kRejected);
  EXPECT_THAT(takeEvents(), ElementsAre(HasSubstr("not relative to the job directory")));
  EXPECT_THAT(coordinator_->pendingIds(), IsEmpty());
}

TEST_F(CheckpointCoordinatorTest, tolerableFailuresThenFailsTheJobOnce) {
  options_.tolerableFailures = 1;
  create();
  coordinator_->start();
  // fail, complete (resets), fail: still tolerable.
  tickAt(100);
  coordinator_->decline({1, 0}, 1, Status::internal("a"));
  tickAt(200);
  ackAll(2);
  tickAt(300);
  coordinator_->decline({1, 0}, 3, Status::internal("b"));
  EXPECT_EQ(coordinator_->consecutiveFailures(), 1);
  for (const std::string& event : takeEvents())
    EXPECT_THAT(event, ::testing::Not(HasSubstr("fail")));
  // A second consecutive failure is one too many.
  tickAt(400);
  coordinator_->decline({2, 0}, 4, Status::internal("c"));
  std::vector<std::string> events = takeEvents();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2],
            "fail: Internal: exceeded the checkpoint tolerable failure threshold "
            "(execution.checkpointing.tolerable-failed-checkpoints = 1, 2 consecutive failures); "
            "the last: checkpoint 4 declined by vertex 2 subtask 0: c");
  tickAt(500);
  coordinator_->decline({2, 0}, 5, Status::internal("d"));
  events = takeEvents();
  EXPECT_EQ(events.size(), 2u);  // trigger and abort, no second fail
}

TEST_F(CheckpointCoordinatorTest, declinesOfTasksThatCouldNotTakePartAreNoFailures) {
  create();  // tolerable failures: 0
  coordinator_->start();
  tickAt(100);
  coordinator_->decline({1, 0}, 1, Status::failedPrecondition("the source reached its end"));
  tickAt(200);
  coordinator_->decline({1, 0}, 2, Status::cancelled("a newer barrier arrived"));
  EXPECT_EQ(coordinator_->consecutiveFailures(), 0);
  for (const std::string& event : takeEvents())
    EXPECT_THAT(event, ::testing::Not(HasSubstr("fail")));
}

TEST_F(CheckpointCoordinatorTest, defaultToleranceFailsOnTheFirstFailure) {
  create();
  coordinator_->start();
  tickAt(100);
  tickAt(1100);  // expired
  std::vector<std::string> events = takeEvents();
  ASSERT_GE(events.size(), 3u);
  EXPECT_THAT(events[2], HasSubstr("fail: DeadlineExceeded: exceeded the checkpoint tolerable"));
}

TEST_F(CheckpointCoordinatorTest, retentionDeletesOlderCheckpoints) {
  options_.numRetained = 2;
  create();
  coordinator_->start();
  for (int64_t id = 1; id <= 4; ++id) {
    tickAt(100 * id);
    ackAll(id);
  }
  EXPECT_EQ(coordinator_->retainedIds(), (std::vector<int64_t>{3, 4}));
  const CheckpointStorage& storage = coordinator_->storage();
  EXPECT_FALSE(fs::exists(storage.checkpointDir(1)));
  EXPECT_FALSE(fs::exists(storage.checkpointDir(2)));
  EXPECT_OK(storage.readMetadata(3));
  EXPECT_OK(storage.readMetadata(4));
}

TEST_F(CheckpointCoordinatorTest, idsContinueAfterCheckpointsOnDisk) {
  options_.numRetained = 1;
  create();
  coordinator_->start();
  tickAt(100);
  ackAll(1);
  tickAt(200);
  ackAll(2);
  coordinator_->stop(Status::cancelled("attempt over"));
  coordinator_.reset();
  create();  // the next attempt of the same job
  EXPECT_EQ(coordinator_->retainedIds(), std::vector<int64_t>{2});
  coordinator_->start();
  takeEvents();
  tickAt(300);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger 3 at 300"));
  ackAll(3);
  EXPECT_EQ(coordinator_->retainedIds(), std::vector<int64_t>{3});
  EXPECT_FALSE(fs::exists(coordinator_->storage().checkpointDir(2)));
}

TEST_F(CheckpointCoordinatorTest, stopAbortsPendingWithoutFailing) {
  options_.maxConcurrent = 2;
  create();
  coordinator_->start();
  tickAt(100);
  tickAt(200);
  takeEvents();
  coordinator_->stop(Status::cancelled("job cancelled"));
  EXPECT_THAT(takeEvents(), ElementsAre("abort 1: Cancelled: job cancelled",
                                        "abort 2: Cancelled: job cancelled"));
  EXPECT_EQ(coordinator_->consecutiveFailures(), 0);
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 2, proto::SubtaskState()), Result_::kIgnored);
  EXPECT_EQ(coordinator_->nextTickMillis(), INT64_MAX);
  tickAt(10000);
  coordinator_->start();  // a stopped coordinator stays stopped
  tickAt(20000);
  EXPECT_THAT(takeEvents(), IsEmpty());
}

TEST_F(CheckpointCoordinatorTest, failedTriggerAbortsWithoutCounting) {
  triggerStatus_ = Status::unavailable("source not running");
  create();
  coordinator_->start();
  tickAt(100);
  EXPECT_THAT(
      takeEvents(),
      ElementsAre("trigger 1 at 100",
                  "abort 1: Unavailable: checkpoint 1: trigger failed: source not running"));
  EXPECT_EQ(coordinator_->consecutiveFailures(), 0);
  EXPECT_THAT(coordinator_->pendingIds(), IsEmpty());
  EXPECT_FALSE(fs::exists(coordinator_->storage().checkpointDir(1)));
}

TEST_F(CheckpointCoordinatorTest, metadataWriteFailureAbortsAsFailure) {
  options_.tolerableFailures = 3;
  create();
  coordinator_->start();
  tickAt(100);
  takeEvents();
  // A directory where the temporary file goes makes the write fail.
  fs::create_directories(coordinator_->storage().checkpointDir(1) / "_metadata.inprogress");
  ackAll(1);
  EXPECT_THAT(takeEvents(),
              ElementsAre(HasSubstr("abort 1: IOError: checkpoint 1: cannot create")));
  EXPECT_EQ(coordinator_->consecutiveFailures(), 1);
  EXPECT_EQ(coordinator_->latestCompletedId(), -1);
}

TEST_F(CheckpointCoordinatorTest, callbacksMayCallBack) {
  create();
  std::vector<int64_t> seenPending;
  onComplete_ = [&](int64_t) { seenPending = coordinator_->pendingIds(); };
  onFail_ = [&] { coordinator_->stop(Status::cancelled("job failing")); };
  coordinator_->start();
  tickAt(100);
  ackAll(1);
  EXPECT_THAT(seenPending, IsEmpty());
  tickAt(200);
  coordinator_->decline({1, 0}, 2, Status::internal("x"));  // fails the job, which stops us
  tickAt(300);
  std::vector<std::string> events = takeEvents();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_THAT(events[4], HasSubstr("fail: "));
}

TEST_F(CheckpointCoordinatorTest, concurrentAcknowledgements) {
  options_.maxConcurrent = 4;
  options_.numRetained = 2;
  create();
  coordinator_->start();
  constexpr int64_t kCheckpoints = 40;
  for (int64_t round = 0; round < kCheckpoints / 4; ++round) {
    for (int i = 1; i <= 4; ++i) tickAt(clock_.currentTimeMillis() + 100);
    std::vector<std::thread> threads;
    for (CheckpointTaskKey task : kTasks) {
      threads.emplace_back([this, task, round] {
        for (int64_t id = round * 4 + 1; id <= round * 4 + 4; ++id) {
          coordinator_->acknowledge(task, id, proto::SubtaskState());
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  EXPECT_EQ(coordinator_->latestCompletedId(), kCheckpoints);
  EXPECT_THAT(coordinator_->pendingIds(), IsEmpty());
  int completed = 0;
  int64_t lastCompleted = 0;
  for (const std::string& event : takeEvents()) {
    if (event.rfind("complete ", 0) == 0) {
      int64_t id = std::stoll(event.substr(9));
      EXPECT_GT(id, lastCompleted);  // notifications in order
      lastCompleted = id;
      ++completed;
    }
  }
  EXPECT_GT(completed, 0);
  EXPECT_EQ(lastCompleted, kCheckpoints);
}

TEST(CheckpointCoordinatorOptionsTest, readsFlinkKeys) {
  ASSERT_OK_AND_ASSIGN(CheckpointCoordinatorOptions defaults,
                       CheckpointCoordinatorOptions::fromConfiguration(Configuration()));
  EXPECT_EQ(defaults.interval.count(), 0);
  EXPECT_EQ(defaults.timeout, std::chrono::minutes(10));
  EXPECT_EQ(defaults.minPause.count(), 0);
  EXPECT_EQ(defaults.maxConcurrent, 1);
  EXPECT_EQ(defaults.tolerableFailures, 0);
  EXPECT_EQ(defaults.numRetained, 1);
  Configuration config;
  config.set("execution.checkpointing.interval", "10 s");
  config.set("execution.checkpointing.timeout", "1 min");
  config.set("execution.checkpointing.min-pause", "500 ms");
  config.set("execution.checkpointing.max-concurrent-checkpoints", "2");
  config.set("execution.checkpointing.tolerable-failed-checkpoints", "3");
  config.set("state.checkpoints.num-retained", "4");
  ASSERT_OK_AND_ASSIGN(CheckpointCoordinatorOptions options,
                       CheckpointCoordinatorOptions::fromConfiguration(config));
  EXPECT_EQ(options.interval, std::chrono::seconds(10));
  EXPECT_EQ(options.timeout, std::chrono::minutes(1));
  EXPECT_EQ(options.minPause, std::chrono::milliseconds(500));
  EXPECT_EQ(options.maxConcurrent, 2);
  EXPECT_EQ(options.tolerableFailures, 3);
  EXPECT_EQ(options.numRetained, 4);
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"execution.checkpointing.timeout", "0"},
           {"execution.checkpointing.max-concurrent-checkpoints", "0"},
           {"execution.checkpointing.tolerable-failed-checkpoints", "-1"},
           {"state.checkpoints.num-retained", "0"},
           {"execution.checkpointing.interval", "soon"}}) {
    Configuration bad;
    bad.set(key, value);
    Result<CheckpointCoordinatorOptions> result =
        CheckpointCoordinatorOptions::fromConfiguration(bad);
    ASSERT_STATUS(StatusCode::kInvalidArgument, result);
    EXPECT_THAT(result.status().message(), HasSubstr(key));
  }
}

// A savepoint request whose writeSavepoint copies nothing and names "sp-<id>", and whose onDone
// records the outcome.
CheckpointRequest savepointRequest(CheckpointCoordinatorTest* test, bool terminate,
                                   std::vector<std::string>* done,
                                   std::vector<proto::CheckpointMetadata>* written) {
  CheckpointRequest request;
  request.options.set_savepoint(true);
  request.options.set_terminate(terminate);
  request.options.set_type(1);  // forced to aligned
  request.writeSavepoint =
      [written](const proto::CheckpointMetadata& metadata) -> Result<std::string> {
    written->push_back(metadata);
    return "sp-" + std::to_string(metadata.checkpoint_id());
  };
  request.onDone = [done](const Result<std::string>& result) {
    done->push_back(result.isOk() ? "done " + *result : "failed " + result.status().toString());
  };
  (void)test;
  return request;
}

TEST_F(CheckpointCoordinatorTest, savepointIsWrittenElsewhereAndNotRetained) {
  create();
  coordinator_->start();
  std::vector<std::string> done;
  std::vector<proto::CheckpointMetadata> written;
  clock_.set(50);
  ASSERT_OK_AND_ASSIGN(int64_t id,
                       coordinator_->trigger(savepointRequest(this, false, &done, &written)));
  EXPECT_EQ(id, 1);
  EXPECT_THAT(takeEvents(), ElementsAre("savepoint 1 at 50"));
  ackAll(1);
  // No notifyComplete: a savepoint without terminate commits nothing.
  EXPECT_THAT(takeEvents(), IsEmpty());
  EXPECT_THAT(done, ElementsAre("done sp-1"));
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].operators_size(), 2);
  EXPECT_EQ(written[0].operators(1).subtasks(1).handles(0).path(), "chk-1/state-2-1");
  EXPECT_FALSE(fs::exists(coordinator_->storage().checkpointDir(1)));
  EXPECT_EQ(coordinator_->latestCompletedId(), -1);
  EXPECT_THAT(coordinator_->retainedIds(), IsEmpty());
  // Periodic checkpoints go on with the next id.
  tickAt(100);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger 2 at 100"));
}

TEST_F(CheckpointCoordinatorTest, terminatingSavepointNotifiesCompletion) {
  create();
  coordinator_->start();
  std::vector<std::string> done;
  std::vector<proto::CheckpointMetadata> written;
  ASSERT_OK_AND_ASSIGN(int64_t id,
                       coordinator_->trigger(savepointRequest(this, true, &done, &written)));
  ackAll(id);
  EXPECT_THAT(takeEvents(), ElementsAre("savepoint terminate 1 at 0", "complete 1"));
  EXPECT_THAT(done, ElementsAre("done sp-1"));
}

TEST_F(CheckpointCoordinatorTest, savepointAndCheckpointsDoNotSubsumeEachOther) {
  options_.maxConcurrent = 3;
  create();
  coordinator_->start();
  std::vector<std::string> done;
  std::vector<proto::CheckpointMetadata> written;
  tickAt(100);  // checkpoint 1
  ASSERT_OK_AND_ASSIGN(int64_t savepoint,
                       coordinator_->trigger(savepointRequest(this, false, &done, &written)));
  EXPECT_EQ(savepoint, 2);
  tickAt(200);  // checkpoint 3
  takeEvents();
  ackAll(3);  // subsumes checkpoint 1, not the savepoint
  EXPECT_THAT(takeEvents(), ElementsAre("abort 1: Cancelled: checkpoint 1 subsumed by checkpoint 3",
                                        "complete 3"));
  EXPECT_EQ(coordinator_->pendingIds(), std::vector<int64_t>{2});
  ackAll(2);
  EXPECT_THAT(done, ElementsAre("done sp-2"));
  EXPECT_EQ(coordinator_->latestCompletedId(), 3);
}

TEST_F(CheckpointCoordinatorTest, failedSavepointReportsTheReasonAndIsNoFailure) {
  create();
  coordinator_->start();
  std::vector<std::string> done;
  std::vector<proto::CheckpointMetadata> written;
  CheckpointRequest request = savepointRequest(this, false, &done, &written);
  request.writeSavepoint = [](const proto::CheckpointMetadata&) -> Result<std::string> {
    return Status::ioError("disk full");
  };
  ASSERT_OK_AND_ASSIGN(int64_t id, coordinator_->trigger(std::move(request)));
  ackAll(id);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_THAT(done[0], HasSubstr("savepoint 1: disk full"));
  EXPECT_FALSE(fs::exists(coordinator_->storage().checkpointDir(1)));
  EXPECT_EQ(coordinator_->consecutiveFailures(), 0);
  // A declined one too.
  ASSERT_OK_AND_ASSIGN(id, coordinator_->trigger(savepointRequest(this, false, &done, &written)));
  EXPECT_EQ(coordinator_->decline({1, 0}, id, Status::internal("no")), Result_::kAccepted);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_THAT(done[1], HasSubstr("checkpoint 2 declined by vertex 1 subtask 0"));
  EXPECT_EQ(coordinator_->consecutiveFailures(), 0);
}

TEST_F(CheckpointCoordinatorTest, manualCheckpointCarriesItsOptionsAndCountsForRetention) {
  options_.type = 1;
  create();
  // Not started yet: a manual trigger (a bounded job's final checkpoint) still goes out.
  CheckpointRequest request;
  request.options.set_final(true);
  std::vector<std::string> done;
  request.onDone = [&done](const Result<std::string>& result) {
    done.push_back(result.isOk() ? *result : result.status().toString());
  };
  ASSERT_OK_AND_ASSIGN(int64_t id, coordinator_->trigger(std::move(request)));
  ackAll(id);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger final 1 at 0", "complete 1"));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0], coordinator_->storage().checkpointDir(1).string());
  EXPECT_EQ(coordinator_->latestCompletedId(), 1);
  coordinator_->start();
  tickAt(100);
  EXPECT_THAT(takeEvents(), ElementsAre("trigger type 1 2 at 100"));
  coordinator_->stop(Status::cancelled("attempt ended"));
  ASSERT_STATUS(StatusCode::kFailedPrecondition, coordinator_->trigger(CheckpointRequest{}));
}

TEST_F(CheckpointCoordinatorTest, stopAbortsAPendingSavepointWithTheReason) {
  create();
  coordinator_->start();
  std::vector<std::string> done;
  std::vector<proto::CheckpointMetadata> written;
  ASSERT_OK(coordinator_->trigger(savepointRequest(this, false, &done, &written)).status());
  CheckpointRequest noWriter;
  noWriter.options.set_savepoint(true);
  ASSERT_STATUS(StatusCode::kInvalidArgument, coordinator_->trigger(std::move(noWriter)));
  coordinator_->stop(Status::cancelled("job failing"));
  EXPECT_THAT(done, ElementsAre("failed Cancelled: job failing"));
}

TEST_F(CheckpointCoordinatorTest, sharedFileLivesUntilNoRetainedCheckpointReferencesIt) {
  create();  // num-retained 1
  coordinator_->start();
  tickAt(100);
  upload("base");
  upload("c1");
  ackShared(1, {"base", "c1"});
  EXPECT_EQ(coordinator_->numSharedStateFiles(), 2u);
  EXPECT_EQ(coordinator_->sharedStateBytes(), 24u);
  tickAt(200);
  upload("c2");
  ackShared(2, {"base", "c2"});  // discards 1: c1 is unreferenced, deleted one completion later
  EXPECT_TRUE(hasShared("c1"));
  EXPECT_FALSE(fs::exists(coordinator_->storage().checkpointDir(1)));
  tickAt(300);
  upload("c3");
  ackShared(3, {"base", "c3"});
  EXPECT_FALSE(hasShared("c1"));
  EXPECT_TRUE(hasShared("c2"));
  EXPECT_TRUE(hasShared("base"));  // named by three checkpoints, retained by the third
  tickAt(400);
  upload("d4");
  ackShared(4, {"d4"});
  EXPECT_FALSE(hasShared("c2"));
  EXPECT_TRUE(hasShared("base"));
  EXPECT_TRUE(hasShared("c3"));
  tickAt(500);
  ackShared(5, {"d4"});
  EXPECT_FALSE(hasShared("base"));
  EXPECT_FALSE(hasShared("c3"));
  EXPECT_TRUE(hasShared("d4"));
  EXPECT_EQ(coordinator_->numSharedStateFiles(), 1u);
  EXPECT_EQ(coordinator_->sharedStateBytes(), 12u);
}

TEST_F(CheckpointCoordinatorTest, nextCheckpointMayStillReferenceTheDiscardedOnesFiles) {
  options_.maxConcurrent = 2;
  create();
  coordinator_->start();
  tickAt(100);
  upload("a");
  ackShared(1, {"a"});
  tickAt(200);
  tickAt(300);
  EXPECT_EQ(coordinator_->pendingIds(), (std::vector<int64_t>{2, 3}));
  upload("b");
  ackShared(2, {"b"});  // discards 1, the only checkpoint that referenced a
  EXPECT_TRUE(hasShared("a"));
  // The source took 3 before it heard that 2 completed: 3 builds on 1 and names a.
  ackShared(3, {"a"});
  EXPECT_EQ(coordinator_->latestCompletedId(), 3);
  EXPECT_TRUE(hasShared("a"));
  EXPECT_TRUE(hasShared("b"));  // unreferenced since 3 discarded 2
  tickAt(400);
  ackShared(4, {"a"});
  EXPECT_TRUE(hasShared("a"));
  EXPECT_FALSE(hasShared("b"));
}

TEST_F(CheckpointCoordinatorTest, pendingSavepointKeepsItsSharedFilesUntilItCompletes) {
  options_.maxConcurrent = 2;
  create();
  coordinator_->start();
  std::vector<std::string> done;
  std::vector<proto::CheckpointMetadata> written;
  tickAt(100);
  upload("a");
  ackShared(1, {"a"});
  ASSERT_OK_AND_ASSIGN(int64_t savepoint,
                       coordinator_->trigger(savepointRequest(this, false, &done, &written)));
  upload("s");
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, savepoint, sharedStateOf({"a", "s"})),
            Result_::kAccepted);
  tickAt(200);
  ackShared(3, {});  // discards 1; a stays: the pending savepoint references it
  tickAt(300);
  ackShared(4, {});
  EXPECT_TRUE(hasShared("a"));
  EXPECT_TRUE(hasShared("s"));
  EXPECT_EQ(coordinator_->acknowledge({2, 0}, savepoint, proto::SubtaskState()),
            Result_::kAccepted);
  EXPECT_EQ(coordinator_->acknowledge({2, 1}, savepoint, proto::SubtaskState()),
            Result_::kAccepted);
  EXPECT_THAT(done, ElementsAre("done sp-2"));
  EXPECT_EQ(written.size(), 1u);
  // The savepoint holds copies: its files go after the next completion.
  EXPECT_TRUE(hasShared("a"));
  EXPECT_TRUE(hasShared("s"));
  EXPECT_EQ(coordinator_->numSharedStateFiles(), 0u);
  tickAt(400);
  ackShared(5, {});
  EXPECT_FALSE(hasShared("a"));
  EXPECT_FALSE(hasShared("s"));
}

TEST_F(CheckpointCoordinatorTest, abortedCheckpointsUploadsGoAfterTheNextCompletion) {
  options_.tolerableFailures = 5;
  create();
  coordinator_->start();
  tickAt(100);
  upload("base");
  ackShared(1, {"base"});
  tickAt(200);
  upload("u1");
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 2, sharedStateOf({"base", "u1"})),
            Result_::kAccepted);
  EXPECT_EQ(coordinator_->decline({2, 0}, 2, Status::ioError("disk full")), Result_::kAccepted);
  // A late acknowledgement of the aborted checkpoint with its own upload.
  upload("u2");
  EXPECT_EQ(coordinator_->acknowledge({2, 1}, 2, sharedStateOf({"base", "u2"})), Result_::kIgnored);
  EXPECT_TRUE(hasShared("u1"));
  EXPECT_TRUE(hasShared("u2"));
  tickAt(300);
  ackShared(3, {"base"});
  EXPECT_FALSE(hasShared("u1"));
  EXPECT_FALSE(hasShared("u2"));
  EXPECT_TRUE(hasShared("base"));
}

TEST_F(CheckpointCoordinatorTest, subsumedCheckpointsUploadsGoOneCompletionLater) {
  options_.maxConcurrent = 2;
  create();
  coordinator_->start();
  tickAt(100);
  tickAt(200);
  upload("s1");
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 1, sharedStateOf({"s1"})), Result_::kAccepted);
  ackShared(2, {});  // subsumes 1
  EXPECT_THAT(coordinator_->pendingIds(), IsEmpty());
  EXPECT_TRUE(hasShared("s1"));
  tickAt(300);
  ackShared(3, {});
  EXPECT_FALSE(hasShared("s1"));
}

TEST_F(CheckpointCoordinatorTest, acknowledgementOfAMissingSharedFileDeclinesTheCheckpoint) {
  create();  // tolerable failures: 0
  coordinator_->start();
  tickAt(100);
  takeEvents();
  upload("ok");
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 1, sharedStateOf({"ok"})), Result_::kAccepted);
  EXPECT_EQ(coordinator_->acknowledge({2, 0}, 1, sharedStateOf({"missing"})), Result_::kRejected);
  EXPECT_THAT(takeEvents(),
              ElementsAre("abort 1: NotFound: checkpoint 1: vertex 2 subtask 0 acknowledged "
                          "shared state file 'shared/missing', which does not exist"));
  EXPECT_EQ(coordinator_->consecutiveFailures(), 0);
  EXPECT_THAT(coordinator_->pendingIds(), IsEmpty());
  EXPECT_EQ(coordinator_->latestCompletedId(), -1);
  EXPECT_TRUE(hasShared("ok"));
  tickAt(200);
  ackShared(2, {});
  EXPECT_FALSE(hasShared("ok"));  // uploaded for the declined checkpoint only
  for (const std::string& event : takeEvents()) EXPECT_THAT(event, Not(HasSubstr("fail")));
}

TEST_F(CheckpointCoordinatorTest, nextAttemptRegistersTheRetainedCheckpointsSharedFiles) {
  options_.numRetained = 2;
  create();
  coordinator_->start();
  tickAt(100);
  upload("a");
  ackShared(1, {"a"});
  tickAt(200);
  upload("b");
  ackShared(2, {"a", "b"});
  tickAt(300);
  upload("c");
  ackShared(3, {"c"});  // discards 1; a and b stay with 2
  coordinator_->stop(Status::cancelled("attempt over"));
  EXPECT_TRUE(hasShared("a"));
  EXPECT_TRUE(hasShared("b"));
  coordinator_.reset();
  create();
  EXPECT_EQ(coordinator_->retainedIds(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(coordinator_->numSharedStateFiles(), 3u);
  EXPECT_EQ(coordinator_->sharedStateBytes(), 36u);
  coordinator_->start();
  tickAt(400);
  ackShared(4, {"c"});  // discards 2
  EXPECT_TRUE(hasShared("a"));
  tickAt(500);
  ackShared(5, {"c"});
  EXPECT_FALSE(hasShared("a"));
  EXPECT_FALSE(hasShared("b"));
  EXPECT_TRUE(hasShared("c"));
}

TEST_F(CheckpointCoordinatorTest, unreadableRetainedCheckpointIsSkippedAndItsFilesKept) {
  options_.numRetained = 2;
  create();
  coordinator_->start();
  tickAt(100);
  upload("a");
  ackShared(1, {"a"});
  tickAt(200);
  upload("b");
  ackShared(2, {"b"});
  coordinator_->stop(Status::cancelled("attempt over"));
  coordinator_.reset();
  fs::resize_file(base_ / "job1" / "chk-1" / "_metadata", 10);
  create();
  EXPECT_EQ(coordinator_->retainedIds(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(coordinator_->numSharedStateFiles(), 1u);
  coordinator_->start();
  for (int64_t id = 3; id <= 5; ++id) {
    tickAt(100 * id);
    ackShared(id, {"b"});
  }
  // What an unreadable checkpoint referenced is not known to be unreferenced: it is left.
  EXPECT_TRUE(hasShared("a"));
  EXPECT_TRUE(hasShared("b"));
}

TEST_F(CheckpointCoordinatorTest, stopDeletesUploadsNoRetainedCheckpointReferences) {
  create();
  coordinator_->start();
  tickAt(100);
  upload("a");
  ackShared(1, {"a"});
  tickAt(200);
  upload("b");
  EXPECT_EQ(coordinator_->acknowledge({1, 0}, 2, sharedStateOf({"a", "b"})), Result_::kAccepted);
  coordinator_->stop(Status::cancelled("job cancelled"));
  EXPECT_TRUE(hasShared("a"));
  EXPECT_FALSE(hasShared("b"));
  EXPECT_EQ(coordinator_->numSharedStateFiles(), 1u);
}

}  // namespace
}  // namespace strom::checkpoint
