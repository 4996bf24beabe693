// Source operators in checkpoints: every built-in source snapshots its splits and restores
// them at another parallelism (the split-mode deal of the restore), and the records emitted
// before the snapshot plus those of the restored readers are exactly the whole input.

#include <gtest/gtest.h>
#include <strom/connectors.h>
#include <strom/detail/connector_operators.h>
#include <strom/watermark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "connectors/nexmark/nexmark_config.h"
#include "connectors/nexmark/nexmark_json.h"
#include "connectors/nexmark/nexmark_source.h"
#include "tests/unit/connectors/connector_test_contexts.h"
#include "testutil/status_matchers.h"

namespace strom {
namespace {

using testing::ConnectorContext;
using testing::FakeInitializationContext;
using testing::RecordingSnapshotContext;

constexpr size_t kBatchRows = 16;

/// Turns each record into a string key as it arrives (records may view batch memory).
template <class T>
class KeyCollector final : public Input<T> {
 public:
  explicit KeyCollector(std::function<std::string(const T&)> key) : key_(std::move(key)) {}
  void processBatch(RecordBatch<T>& batch) override {
    for (const T& value : batch) keys.push_back(key_(value));
  }
  std::vector<std::string> keys;

 private:
  std::function<std::string(const T&)> key_;
};

template <class T>
using MakeSource = std::function<std::unique_ptr<SourceOperatorBase>()>;

/// One source subtask: the operator, its context and its collected output.
template <class T>
struct SourceSubtask {
  SourceSubtask(const MakeSource<T>& make, int subtask, int parallelism,
                std::function<std::string(const T&)> key)
      : op(make()), context(subtask, parallelism), output(std::move(key)) {
    Status wired = op->mainOutput()->connect(output, "collector");
    EXPECT_OK(wired);
    op->open(context);
  }
  /// Emit up to `batches` batches; return whether the source reached its end.
  bool emit(int batches) {
    for (int i = 0; i < batches; ++i) {
      if (op->emitNext() == InputStatus::kEndOfInput) return true;
    }
    return false;
  }
  void emitAll() {
    for (int i = 0; i < 1'000'000; ++i) {
      if (op->emitNext() == InputStatus::kEndOfInput) return;
    }
    FAIL() << "the source did not end";
  }
  std::unique_ptr<SourceOperatorBase> op;
  ConnectorContext context;
  KeyCollector<T> output;
};

/// Run `oldParallelism` subtasks for `batches` batches each, snapshot them, deal their splits
/// to 1, 2 and 3 new subtasks and run those to the end: the first part plus the restored
/// output must equal the whole input (a fresh run to the end), record for record.
template <class T>
void checkRestoreAtEveryParallelism(const MakeSource<T>& make, int oldParallelism, int batches,
                                    std::function<std::string(const T&)> key) {
  std::vector<std::string> whole;
  for (int s = 0; s < oldParallelism; ++s) {
    SourceSubtask<T> subtask(make, s, oldParallelism, key);
    FakeInitializationContext fresh;
    ASSERT_OK(subtask.op->initializeState(fresh));
    subtask.emitAll();
    whole.insert(whole.end(), subtask.output.keys.begin(), subtask.output.keys.end());
  }
  std::sort(whole.begin(), whole.end());
  ASSERT_FALSE(whole.empty());

  for (int newParallelism = 1; newParallelism <= 3; ++newParallelism) {
    SCOPED_TRACE("restored at parallelism " + std::to_string(newParallelism));
    std::vector<std::string> seen;
    std::vector<std::vector<std::string>> snapshots;
    for (int s = 0; s < oldParallelism; ++s) {
      SourceSubtask<T> subtask(make, s, oldParallelism, key);
      FakeInitializationContext fresh;
      ASSERT_OK(subtask.op->initializeState(fresh));
      subtask.emit(batches);
      RecordingSnapshotContext snapshot(7);
      ASSERT_OK(subtask.op->snapshotState(snapshot));
      auto& state = snapshot.operatorStates.at(std::string(detail::kSourceSplitsState));
      EXPECT_EQ(state.mode, OperatorStateMode::kSplit);
      snapshots.push_back(state.elements);
      seen.insert(seen.end(), subtask.output.keys.begin(), subtask.output.keys.end());
      subtask.op->close();
    }
    ASSERT_LT(seen.size(), whole.size()) << "snapshot taken too late to test anything";
    std::vector<std::vector<std::string>> dealt =
        testing::dealSplitState(snapshots, newParallelism);
    for (int s = 0; s < newParallelism; ++s) {
      SourceSubtask<T> subtask(make, s, newParallelism, key);
      FakeInitializationContext restored(
          7, {{std::string(detail::kSourceSplitsState), dealt[static_cast<size_t>(s)]}});
      ASSERT_OK(subtask.op->initializeState(restored));
      subtask.emitAll();
      EXPECT_OK(subtask.context.failure());
      seen.insert(seen.end(), subtask.output.keys.begin(), subtask.output.keys.end());
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, whole);
  }
}

template <class T>
MakeSource<T> plain(std::shared_ptr<const Source<T>> source) {
  return [source] { return std::make_unique<detail::SourceOperator<T>>(kBatchRows, source); };
}

template <class T, class A, class G>
MakeSource<T> withWatermarks(std::shared_ptr<const Source<T>> source,
                             WatermarkStrategy<T, A, G> strategy) {
  return [source, strategy] {
    return std::make_unique<detail::SourceWithWatermarksOperator<T, A, G>>(kBatchRows, source,
                                                                           strategy);
  };
}

std::string numberKey(const int64_t& value) { return std::to_string(value); }
std::string stringKey(const std::string& value) { return value; }

TEST(SourceCheckpointTest, sequenceRestoresAtAnyParallelism) {
  auto source = std::make_shared<const SequenceSource>(-500, 1000);
  for (int oldParallelism = 1; oldParallelism <= 3; ++oldParallelism) {
    SCOPED_TRACE("old parallelism " + std::to_string(oldParallelism));
    checkRestoreAtEveryParallelism<int64_t>(plain<int64_t>(source), oldParallelism, 5, numberKey);
  }
}

TEST(SourceCheckpointTest, sequenceEndingAtInt64MaxRestores) {
  auto source = std::make_shared<const SequenceSource>(INT64_MAX - 99, INT64_MAX);
  checkRestoreAtEveryParallelism<int64_t>(plain<int64_t>(source), 2, 1, numberKey);
}

TEST(SourceCheckpointTest, collectionRestoresFromItsIndex) {
  std::vector<std::string> values;
  for (int i = 0; i < 100; ++i) values.push_back("value " + std::to_string(i));
  auto source = std::make_shared<const CollectionSource<std::string>>(values);
  checkRestoreAtEveryParallelism<std::string>(plain<std::string>(source), 1, 3, stringKey);
}

TEST(SourceCheckpointTest, generatorRestoresAtAnyParallelism) {
  auto generate = [](int64_t i) { return i * i; };
  auto source = std::make_shared<const GeneratorSource<int64_t, decltype(generate)>>(500, generate);
  checkRestoreAtEveryParallelism<int64_t>(plain<int64_t>(source), 3, 4, numberKey);
}

class TextFileSourceCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("strom_source_checkpoint_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "input.txt").string();
    std::ofstream file(path_, std::ios::binary);
    for (int i = 0; i < 300; ++i) {
      file << "line " << i << std::string(static_cast<size_t>(i % 7), 'x')
           << (i % 5 == 0 ? "\r\n" : "\n");
      if (i % 50 == 0) file << "\n";  // empty lines count too
    }
    file << "last line without a newline";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(TextFileSourceCheckpointTest, resumesAtTheByteOffsetOfTheNextLine) {
  auto source = std::make_shared<const TextFileSource>(path_);
  // Empty lines repeat: the comparison is of multisets.
  checkRestoreAtEveryParallelism<std::string>(plain<std::string>(source), 1, 4, stringKey);
}

TEST_F(TextFileSourceCheckpointTest, aFileShorterThanThePositionFailsNamingIt) {
  auto source = std::make_shared<const TextFileSource>(path_);
  SourceSubtask<std::string> first(plain<std::string>(source), 0, 1, stringKey);
  FakeInitializationContext fresh;
  ASSERT_OK(first.op->initializeState(fresh));
  first.emit(10);
  RecordingSnapshotContext snapshot(3);
  ASSERT_OK(first.op->snapshotState(snapshot));
  first.op->close();
  std::filesystem::resize_file(path_, 10);

  SourceSubtask<std::string> second(plain<std::string>(source), 0, 1, stringKey);
  FakeInitializationContext restored(
      3, {{std::string(detail::kSourceSplitsState),
           snapshot.operatorStates.at(std::string(detail::kSourceSplitsState)).elements}});
  Status status = second.op->initializeState(restored);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(path_), std::string::npos) << status.toString();
  EXPECT_NE(status.message().find("connector under test"), std::string::npos) << status.toString();
}

TEST(SourceCheckpointTest, aFinishedSourceSnapshotsNoSplitsAndRestoresToNothing) {
  auto source = std::make_shared<const SequenceSource>(1, 100);
  SourceSubtask<int64_t> first(plain<int64_t>(source), 0, 1, numberKey);
  FakeInitializationContext fresh;
  ASSERT_OK(first.op->initializeState(fresh));
  first.emitAll();
  RecordingSnapshotContext snapshot(1);
  ASSERT_OK(first.op->snapshotState(snapshot));
  EXPECT_TRUE(snapshot.operatorStates.at(std::string(detail::kSourceSplitsState)).elements.empty());

  SourceSubtask<int64_t> second(plain<int64_t>(source), 0, 1, numberKey);
  FakeInitializationContext restored(1, {});
  ASSERT_OK(second.op->initializeState(restored));
  second.emitAll();
  EXPECT_TRUE(second.output.keys.empty());
}

TEST(SourceCheckpointTest, aMalformedPositionIsCorruptionNamingSourceAndSplit) {
  auto source = std::make_shared<const SequenceSource>(1, 100);
  SourceSubtask<int64_t> subtask(plain<int64_t>(source), 0, 1, numberKey);
  FakeInitializationContext restored(
      1, {{std::string(detail::kSourceSplitsState),
           {detail::encodeSourceSplit(SourceSplitState{"slice-0", "short"})}}});
  Status status = subtask.op->initializeState(restored);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_NE(status.message().find("split 'slice-0'"), std::string::npos) << status.toString();
  EXPECT_NE(status.message().find("source 'connector under test'"), std::string::npos)
      << status.toString();

  SourceSubtask<int64_t> truncated(plain<int64_t>(source), 0, 1, numberKey);
  FakeInitializationContext cut(1, {{std::string(detail::kSourceSplitsState),
                                     {"\x09"
                                      "abc"}}});
  EXPECT_EQ(truncated.op->initializeState(cut).code(), StatusCode::kCorruption);
}

/// A source whose reader has no checkpoint support.
class UncheckpointedSource final : public Source<int64_t> {
 public:
  std::unique_ptr<SourceReader<int64_t>> createReader(int, int) const override {
    return std::make_unique<Reader>();
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      output.push(1);
      return InputStatus::kMoreAvailable;
    }
  };
};

TEST(SourceCheckpointTest, aReaderWithoutSupportDeclinesNamingTheSource) {
  auto source = std::make_shared<const UncheckpointedSource>();
  SourceSubtask<int64_t> subtask(plain<int64_t>(source), 0, 1, numberKey);
  FakeInitializationContext fresh;
  ASSERT_OK(subtask.op->initializeState(fresh));
  subtask.emit(2);
  RecordingSnapshotContext snapshot(1);
  Status status = subtask.op->snapshotState(snapshot);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("source 'connector under test'"), std::string::npos)
      << status.toString();
  EXPECT_NE(status.message().find("does not support checkpoints"), std::string::npos)
      << status.toString();
  EXPECT_OK(subtask.context.failure());  // a decline, not a failure
}

TEST(SourceCheckpointTest, readerOpensOnFirstEmitWhenNotInitialized) {
  auto source = std::make_shared<const SequenceSource>(1, 40);
  SourceSubtask<int64_t> subtask(plain<int64_t>(source), 0, 1, numberKey);
  subtask.emitAll();
  EXPECT_EQ(subtask.output.keys.size(), 40u);
}

std::string nexmarkKey(const nexmark::NexmarkEvent& event) {
  std::string line;
  nexmark::appendJsonLine(line, event.split, event);
  return line;
}

nexmark::NexmarkConfig nexmarkConfig() {
  nexmark::NexmarkConfig config;
  config.maxEvents = 20000;  // 5000 per split: several polls of 1024 each
  config.baseTime = 1'600'000'000'000;
  config.numEventGenerators = 4;
  return config;
}

TEST(SourceCheckpointTest, nexmarkRestoresItsSplitsAtAnyParallelism) {
  ASSERT_OK_AND_ASSIGN(auto source, nexmark::NexmarkSource::create(nexmarkConfig()));
  std::shared_ptr<const Source<nexmark::NexmarkEvent>> base = source;
  for (int oldParallelism : {1, 2, 4}) {
    SCOPED_TRACE("old parallelism " + std::to_string(oldParallelism));
    checkRestoreAtEveryParallelism<nexmark::NexmarkEvent>(
        withWatermarks(base, nexmark::nexmarkWatermarks()), oldParallelism, 3, nexmarkKey);
  }
  checkRestoreAtEveryParallelism<nexmark::NexmarkEvent>(plain(base), 2, 3, nexmarkKey);
}

}  // namespace
}  // namespace strom
