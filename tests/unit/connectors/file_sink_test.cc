// The exactly-once file sink through the sink operator: parts are visible only once their
// checkpoint completed, a restore commits the restored committables and deletes what earlier
// attempts left uncommitted (also at a lower parallelism), and without checkpointing the end of
// input commits.

#include <gtest/gtest.h>
#include <strom/connectors.h>
#include <strom/detail/connector_operators.h>
#include <strom/file_sink.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/connectors/connector_test_contexts.h"
#include "testutil/status_matchers.h"

namespace strom {
namespace {

namespace fs = std::filesystem;
using testing::ConnectorContext;
using testing::FakeInitializationContext;
using testing::RecordingSnapshotContext;

using States = std::map<std::string, std::vector<std::string>, std::less<>>;

class FileSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("strom_file_sink_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    dir_ = (root_ / "out").string();
  }
  void TearDown() override { fs::remove_all(root_); }

  /// One sink subtask.
  struct Subtask {
    Subtask(const std::string& dir, int subtask, int parallelism, bool checkpointing)
        : op(std::make_shared<const FileSink<int64_t>>(dir)), context(subtask, parallelism) {
      if (checkpointing) {
        EXPECT_OK(
            context.mutableConfiguration().setFromString("execution.checkpointing.interval=10 s"));
      }
      op.open(context);
    }
    void write(int64_t from, int64_t to) {
      RecordBatch<int64_t> batch;
      for (int64_t i = from; i < to; ++i) batch.push(i);
      op.processBatch(batch);
    }
    /// Snapshot checkpoint `id`; return the elements of "pending-committables".
    std::vector<std::string> snapshot(int64_t id) {
      RecordingSnapshotContext snapshot(id);
      Status status = op.snapshotState(snapshot);
      EXPECT_OK(status);
      auto& state = snapshot.operatorStates.at(std::string(detail::kPendingCommittablesState));
      EXPECT_EQ(state.mode, OperatorStateMode::kUnion);
      return state.elements;
    }
    detail::SinkOperator<int64_t> op;
    ConnectorContext context;
  };

  /// The committed records: every line of every file whose name starts with neither '.' nor
  /// '_', sorted.
  std::vector<int64_t> committed() const {
    std::vector<int64_t> values;
    if (!fs::exists(dir_)) return values;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      std::string name = entry.path().filename().string();
      if (name.starts_with('.') || name.starts_with('_')) continue;
      std::ifstream file(entry.path());
      std::string line;
      while (std::getline(file, line)) values.push_back(std::stoll(line));
    }
    std::sort(values.begin(), values.end());
    return values;
  }
  std::vector<std::string> inProgressFiles() const {
    std::vector<std::string> names;
    if (!fs::exists(dir_)) return names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      std::string name = entry.path().filename().string();
      if (name.ends_with(".inprogress")) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  static std::vector<int64_t> range(int64_t from, int64_t to) {
    std::vector<int64_t> values;
    for (int64_t i = from; i < to; ++i) values.push_back(i);
    return values;
  }

  fs::path root_;
  std::string dir_;
};

TEST_F(FileSinkTest, withoutCheckpointingTheEndOfInputCommits) {
  Subtask sink(dir_, 0, 1, false);
  FakeInitializationContext fresh;
  ASSERT_OK(sink.op.initializeState(fresh));
  sink.write(0, 100);
  sink.write(100, 150);
  EXPECT_TRUE(committed().empty());
  sink.op.endInput();
  sink.op.close();
  EXPECT_OK(sink.context.failure());
  EXPECT_EQ(committed(), range(0, 150));
  EXPECT_TRUE(inProgressFiles().empty());
  EXPECT_TRUE(fs::exists(dir_ + "/part-0-0"));
}

TEST_F(FileSinkTest, partsBecomeVisibleWhenTheirCheckpointCompletes) {
  Subtask sink(dir_, 0, 1, true);
  FakeInitializationContext fresh;
  ASSERT_OK(sink.op.initializeState(fresh));
  sink.write(0, 10);
  sink.snapshot(1);
  EXPECT_EQ(inProgressFiles(), std::vector<std::string>{".part-0-0.inprogress"});
  sink.write(10, 20);
  sink.snapshot(2);
  sink.write(20, 30);
  EXPECT_TRUE(committed().empty());
  sink.op.notifyCheckpointComplete(1);
  EXPECT_EQ(committed(), range(0, 10));
  EXPECT_EQ(sink.op.testingPendingCommittables(), 1u);
  sink.snapshot(3);
  sink.op.notifyCheckpointComplete(3);  // covers 2 as well
  EXPECT_EQ(committed(), range(0, 30));
  EXPECT_EQ(sink.op.testingPendingCommittables(), 0u);
  // With checkpointing on, the end of input leaves committing to the final checkpoint.
  sink.write(30, 35);
  sink.op.endInput();
  EXPECT_EQ(committed(), range(0, 30));
  sink.snapshot(4);
  sink.op.notifyCheckpointComplete(4);
  EXPECT_EQ(committed(), range(0, 35));
  EXPECT_TRUE(inProgressFiles().empty());
  EXPECT_OK(sink.context.failure());
}

TEST_F(FileSinkTest, anAbortedCheckpointsPartsWaitForTheNextCompletedOne) {
  Subtask sink(dir_, 0, 1, true);
  FakeInitializationContext fresh;
  ASSERT_OK(sink.op.initializeState(fresh));
  sink.write(0, 10);
  sink.snapshot(1);
  sink.op.notifyCheckpointAborted(1);
  sink.write(10, 20);
  std::vector<std::string> state = sink.snapshot(2);
  EXPECT_EQ(state.size(), 2u);  // checkpoint 1's part is still pending
  sink.op.notifyCheckpointComplete(2);
  EXPECT_EQ(committed(), range(0, 20));
}

TEST_F(FileSinkTest, aSnapshotWithoutNewRecordsMakesNoPart) {
  Subtask sink(dir_, 0, 1, true);
  FakeInitializationContext fresh;
  ASSERT_OK(sink.op.initializeState(fresh));
  EXPECT_TRUE(sink.snapshot(1).empty());
  sink.op.notifyCheckpointComplete(1);
  EXPECT_TRUE(!fs::exists(dir_) || fs::is_empty(dir_));
}

TEST_F(FileSinkTest, restoreCommitsTheRestoredPartsAndDeletesUncommittedOnes) {
  std::vector<std::string> state;
  {
    Subtask sink(dir_, 0, 1, true);
    FakeInitializationContext fresh;
    ASSERT_OK(sink.op.initializeState(fresh));
    sink.write(0, 10);
    state = sink.snapshot(1);  // checkpoint 1 completes, its notification is lost
    sink.write(10, 20);
    sink.snapshot(2);    // never completes
    sink.write(20, 25);  // not even prepared
    // The task dies here: no close.
  }
  EXPECT_EQ(inProgressFiles().size(), 3u);
  EXPECT_TRUE(committed().empty());

  for (int attempt = 1; attempt <= 2; ++attempt) {  // restoring twice commits idempotently
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    Subtask sink(dir_, 0, 1, true);
    FakeInitializationContext restored(
        1, States{{std::string(detail::kPendingCommittablesState), state}});
    ASSERT_OK(sink.op.initializeState(restored));
    EXPECT_EQ(committed(), range(0, 10));
    EXPECT_TRUE(inProgressFiles().empty());
    sink.write(100, 105);  // a new part after the committed one: no name is reused
    sink.op.close();
  }
  Subtask sink(dir_, 0, 1, true);
  FakeInitializationContext restored(
      1, States{{std::string(detail::kPendingCommittablesState), state}});
  ASSERT_OK(sink.op.initializeState(restored));
  sink.write(10, 20);
  sink.snapshot(2);
  sink.op.notifyCheckpointComplete(2);
  EXPECT_EQ(committed(), range(0, 20));
  EXPECT_TRUE(fs::exists(dir_ + "/part-0-0"));
  EXPECT_TRUE(fs::exists(dir_ + "/part-0-1"));
}

TEST_F(FileSinkTest, restoreAtALowerParallelismCleansTheVanishedSubtasksFiles) {
  // Three subtasks write; checkpoint 1 completes (no notification arrives); then each writes
  // more that is never committed.
  std::vector<std::string> unionState;
  {
    std::vector<std::unique_ptr<Subtask>> sinks;
    for (int s = 0; s < 3; ++s) {
      sinks.push_back(std::make_unique<Subtask>(dir_, s, 3, true));
      FakeInitializationContext fresh;
      ASSERT_OK(sinks.back()->op.initializeState(fresh));
      sinks.back()->write(1000 * s, 1000 * s + 10);
    }
    for (int s = 0; s < 3; ++s) {
      std::vector<std::string> elements = sinks[static_cast<size_t>(s)]->snapshot(1);
      unionState.insert(unionState.end(), elements.begin(), elements.end());
      sinks[static_cast<size_t>(s)]->write(1000 * s + 10, 1000 * s + 20);
    }
  }
  EXPECT_EQ(inProgressFiles().size(), 6u);

  std::vector<std::unique_ptr<Subtask>> sinks;
  for (int s = 0; s < 2; ++s) {
    sinks.push_back(std::make_unique<Subtask>(dir_, s, 2, true));
    FakeInitializationContext restored(
        1, States{{std::string(detail::kPendingCommittablesState), unionState}});
    ASSERT_OK(sinks.back()->op.initializeState(restored));
  }
  std::vector<int64_t> expected;
  for (int s = 0; s < 3; ++s) {
    for (int64_t v : range(1000 * s, 1000 * s + 10)) expected.push_back(v);
  }
  EXPECT_EQ(committed(), expected);
  EXPECT_TRUE(inProgressFiles().empty());
}

TEST_F(FileSinkTest, aPartOfAnotherLengthIsCorruptionNamingTheFile) {
  std::vector<std::string> state;
  {
    Subtask sink(dir_, 0, 1, true);
    FakeInitializationContext fresh;
    ASSERT_OK(sink.op.initializeState(fresh));
    sink.write(0, 10);
    state = sink.snapshot(1);
  }
  std::string part = dir_ + "/.part-0-0.inprogress";
  fs::resize_file(part, 3);
  Subtask sink(dir_, 0, 1, true);
  FakeInitializationContext restored(
      1, States{{std::string(detail::kPendingCommittablesState), state}});
  Status status = sink.op.initializeState(restored);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find(part), std::string::npos) << status.toString();

  fs::remove(part);
  Subtask again(dir_, 0, 1, true);
  status = again.op.initializeState(restored);
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find(dir_ + "/part-0-0"), std::string::npos) << status.toString();

  Subtask garbage(dir_, 0, 1, true);
  FakeInitializationContext malformed(
      1, States{{std::string(detail::kPendingCommittablesState), {std::string(8, '\0') + "x"}}});
  EXPECT_EQ(garbage.op.initializeState(malformed).code(), StatusCode::kCorruption);
}

TEST_F(FileSinkTest, anUnwritableDirectoryFailsTheTaskNamingIt) {
  fs::create_directories(root_);
  std::ofstream(root_ / "file") << "x";
  std::string dir = (root_ / "file" / "out").string();
  Subtask sink(dir, 0, 1, false);
  EXPECT_EQ(sink.context.failure().code(), StatusCode::kIOError);
  EXPECT_NE(sink.context.failure().message().find(dir), std::string::npos)
      << sink.context.failure().toString();
}

TEST_F(FileSinkTest, aRecordEncoderWritesEachRecord) {
  auto encoder = [](const int64_t& value, std::string& out) {
    out += "n=" + std::to_string(value) + "\n";
  };
  detail::SinkOperator<int64_t> op(
      std::make_shared<const FileSink<int64_t, decltype(encoder)>>(dir_, encoder));
  ConnectorContext context(0, 1);
  op.open(context);
  FakeInitializationContext fresh;
  ASSERT_OK(op.initializeState(fresh));
  RecordBatch<int64_t> batch;
  batch.push(7);
  batch.push(8);
  op.processBatch(batch);
  op.endInput();
  std::ifstream file(dir_ + "/part-0-0");
  std::stringstream text;
  text << file.rdbuf();
  EXPECT_EQ(text.str(), "n=7\nn=8\n");
}

}  // namespace
}  // namespace strom
