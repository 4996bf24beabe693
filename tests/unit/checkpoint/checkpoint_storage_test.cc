#include "checkpoint/checkpoint_storage.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "testutil/status_matchers.h"

namespace strom::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

void writeFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class CheckpointStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "strom-checkpoint-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    base_ = pattern;
    ASSERT_OK_AND_ASSIGN(CheckpointStorage storage, CheckpointStorage::create(base_, "job1"));
    storage_.emplace(std::move(storage));
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  // Write checkpoint `id` of job1: one operator (vertex 1, uid "src", parallelism 2), each
  // subtask with one handle into a state file of the checkpoint's directory.
  proto::CheckpointMetadata writeCheckpoint(int64_t id, const std::string& jobId = "job1") {
    EXPECT_OK(storage_->initializeCheckpoint(id));
    proto::CheckpointMetadata metadata;
    metadata.set_checkpoint_id(id);
    metadata.set_job_id(jobId);
    metadata.set_trigger_timestamp(1000 + id);
    metadata.set_completion_timestamp(2000 + id);
    proto::OperatorState* op = metadata.add_operators();
    op->set_vertex_id(1);
    op->set_uid("src");
    op->set_parallelism(2);
    op->set_max_parallelism(128);
    for (int s = 0; s < 2; ++s) {
      std::string name = "chk-" + std::to_string(id) + "/op-1-" + std::to_string(s);
      writeFile(storage_->jobDir() / name, "state of subtask " + std::to_string(s));
      proto::SubtaskState* subtask = op->add_subtasks();
      subtask->set_subtask_index(s);
      proto::StateHandle* handle = subtask->add_handles();
      handle->set_path(name);
      handle->set_offset(0);
      handle->set_length(10);
      handle->set_checksum(42);
      handle->set_kind("operator");
      proto::SourcePosition* position = subtask->add_source_positions();
      position->set_split("split-" + std::to_string(s));
      position->set_position("offset " + std::to_string(100 * s));
    }
    EXPECT_OK(storage_->writeMetadata(metadata));
    return metadata;
  }

  fs::path base_;
  std::optional<CheckpointStorage> storage_;
};

TEST_F(CheckpointStorageTest, createsLayout) {
  EXPECT_EQ(storage_->jobDir(), base_ / "job1");
  EXPECT_TRUE(fs::is_directory(base_ / "job1" / "shared"));
  EXPECT_TRUE(fs::is_directory(base_ / "job1" / "taskowned"));
  EXPECT_EQ(storage_->metadataPath(7), base_ / "job1" / "chk-7" / "_metadata");
}

TEST_F(CheckpointStorageTest, rejectsBadArguments) {
  ASSERT_STATUS(StatusCode::kInvalidArgument, CheckpointStorage::create("", "job1"));
  ASSERT_STATUS(StatusCode::kInvalidArgument, CheckpointStorage::create(base_, "a/b"));
  ASSERT_STATUS(StatusCode::kInvalidArgument, CheckpointStorage::create(base_, ".."));
  ASSERT_STATUS(StatusCode::kInvalidArgument, CheckpointStorage::create(base_, ""));
}

TEST_F(CheckpointStorageTest, roundTrip) {
  proto::CheckpointMetadata written = writeCheckpoint(3);
  EXPECT_FALSE(fs::exists(storage_->checkpointDir(3) / "_metadata.inprogress"));
  ASSERT_OK_AND_ASSIGN(proto::CheckpointMetadata read, storage_->readMetadata(3));
  EXPECT_EQ(read.SerializeAsString(), written.SerializeAsString());
  EXPECT_EQ(read.operators(0).subtasks(1).source_positions(0).position(), "offset 100");
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids, storage_->listCompleted());
  EXPECT_THAT(ids, ::testing::ElementsAre(3));
}

TEST_F(CheckpointStorageTest, encodingIsFramed) {
  proto::CheckpointMetadata metadata = writeCheckpoint(1);
  std::string bytes = readFile(storage_->metadataPath(1));
  EXPECT_EQ(bytes, encodeMetadata(metadata));
  EXPECT_EQ(bytes.substr(0, 8), "STRMCKPT");
  EXPECT_EQ(bytes.size(), 28 + metadata.ByteSizeLong());
}

TEST_F(CheckpointStorageTest, corruptMetadataIsSkippedForThePreviousCheckpoint) {
  writeCheckpoint(1);
  writeCheckpoint(2);
  fs::path file = storage_->metadataPath(2);
  std::string bytes = readFile(file);
  bytes[30] = static_cast<char>(bytes[30] ^ 0x5a);  // inside the payload
  writeFile(file, bytes);
  Result<proto::CheckpointMetadata> read = storage_->readMetadata(2);
  ASSERT_STATUS(StatusCode::kCorruption, read);
  EXPECT_THAT(read.status().message(), HasSubstr(file.string()));
  EXPECT_THAT(read.status().message(), HasSubstr("checksum mismatch"));
  ASSERT_OK_AND_ASSIGN(CompletedCheckpoint latest, findLatestCompleted(storage_->jobDir(), "job1"));
  EXPECT_EQ(latest.checkpointId, 1);
  EXPECT_EQ(latest.directory, storage_->checkpointDir(1));
  EXPECT_EQ(latest.metadata.checkpoint_id(), 1);
}

TEST_F(CheckpointStorageTest, truncatedMetadataIsSkipped) {
  writeCheckpoint(1);
  writeCheckpoint(2);
  fs::path file = storage_->metadataPath(2);
  std::string bytes = readFile(file);
  for (size_t size : {bytes.size() - 1, bytes.size() / 2, size_t{10}, size_t{0}}) {
    writeFile(file, bytes.substr(0, size));
    Result<proto::CheckpointMetadata> read = storage_->readMetadata(2);
    ASSERT_STATUS(StatusCode::kCorruption, read);
    EXPECT_THAT(read.status().message(), HasSubstr("truncated")) << size;
    ASSERT_OK_AND_ASSIGN(CompletedCheckpoint latest,
                         findLatestCompleted(storage_->jobDir(), "job1"));
    EXPECT_EQ(latest.checkpointId, 1);
  }
}

TEST_F(CheckpointStorageTest, otherJobsMetadataIsSkipped) {
  writeCheckpoint(1);
  writeCheckpoint(2, "job2");
  Result<proto::CheckpointMetadata> read = storage_->readMetadata(2);
  ASSERT_STATUS(StatusCode::kCorruption, read);
  EXPECT_THAT(read.status().message(), HasSubstr("belongs to job 'job2', not 'job1'"));
  ASSERT_OK_AND_ASSIGN(CompletedCheckpoint latest, findLatestCompleted(storage_->jobDir(), "job1"));
  EXPECT_EQ(latest.checkpointId, 1);
}

TEST_F(CheckpointStorageTest, badMagicVersionAndTrailingBytesAreCorruption) {
  writeCheckpoint(1);
  fs::path file = storage_->metadataPath(1);
  std::string good = readFile(file);
  std::string bad = good;
  bad[0] = 'X';
  writeFile(file, bad);
  EXPECT_THAT(storage_->readMetadata(1).status().message(), HasSubstr("bad magic"));
  bad = good;
  bad[8] = 9;
  writeFile(file, bad);
  EXPECT_THAT(storage_->readMetadata(1).status().message(),
              HasSubstr("unsupported format version 9"));
  writeFile(file, good + "x");
  EXPECT_THAT(storage_->readMetadata(1).status().message(), HasSubstr("trailing bytes"));
  writeFile(file, good);
  EXPECT_OK(storage_->readMetadata(1));
}

TEST_F(CheckpointStorageTest, missingOrShortStateFileIsIncomplete) {
  writeCheckpoint(1);
  writeCheckpoint(2);
  fs::remove(storage_->checkpointDir(2) / "op-1-1");
  Result<proto::CheckpointMetadata> read = storage_->readMetadata(2);
  ASSERT_STATUS(StatusCode::kCorruption, read);
  EXPECT_THAT(read.status().message(), HasSubstr("incomplete"));
  EXPECT_THAT(read.status().message(), HasSubstr("op-1-1' is missing"));
  writeFile(storage_->checkpointDir(2) / "op-1-1", "short");
  EXPECT_THAT(storage_->readMetadata(2).status().message(), HasSubstr("holds 5 bytes"));
  ASSERT_OK_AND_ASSIGN(CompletedCheckpoint latest, findLatestCompleted(storage_->jobDir(), "job1"));
  EXPECT_EQ(latest.checkpointId, 1);
}

TEST_F(CheckpointStorageTest, missingSubtaskAndEscapingPathAreCorruption) {
  proto::CheckpointMetadata metadata = writeCheckpoint(1);
  proto::CheckpointMetadata missing = metadata;
  missing.mutable_operators(0)->mutable_subtasks()->RemoveLast();
  ASSERT_OK(storage_->writeMetadata(missing));
  EXPECT_THAT(storage_->readMetadata(1).status().message(),
              HasSubstr("has 1 subtask states for parallelism 2"));
  proto::CheckpointMetadata repeated = metadata;
  repeated.mutable_operators(0)->mutable_subtasks(1)->set_subtask_index(0);
  ASSERT_OK(storage_->writeMetadata(repeated));
  EXPECT_THAT(storage_->readMetadata(1).status().message(), HasSubstr("repeated subtask index"));
  proto::CheckpointMetadata escaping = metadata;
  escaping.mutable_operators(0)->mutable_subtasks(0)->mutable_handles(0)->set_path("../other/file");
  ASSERT_OK(storage_->writeMetadata(escaping));
  EXPECT_THAT(storage_->readMetadata(1).status().message(),
              HasSubstr("not relative to the job directory"));
}

TEST_F(CheckpointStorageTest, checkpointIdMustMatchDirectory) {
  proto::CheckpointMetadata metadata = writeCheckpoint(1);
  fs::create_directories(storage_->checkpointDir(4));
  fs::copy_file(storage_->metadataPath(1), storage_->metadataPath(4));
  EXPECT_THAT(storage_->readMetadata(4).status().message(), HasSubstr("holds checkpoint 1"));
  ASSERT_OK_AND_ASSIGN(CompletedCheckpoint latest, findLatestCompleted(storage_->jobDir(), "job1"));
  EXPECT_EQ(latest.checkpointId, 1);
}

TEST_F(CheckpointStorageTest, noCompletedCheckpointIsNotFound) {
  ASSERT_STATUS(StatusCode::kNotFound, findLatestCompleted(storage_->jobDir(), "job1"));
  ASSERT_STATUS(StatusCode::kNotFound, findLatestCompleted(base_ / "nope", "job1"));
  ASSERT_OK(storage_->initializeCheckpoint(1));  // in progress: no _metadata
  ASSERT_STATUS(StatusCode::kNotFound, findLatestCompleted(storage_->jobDir(), "job1"));
  ASSERT_STATUS(StatusCode::kNotFound, storage_->readMetadata(1));
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids, storage_->listCompleted());
  EXPECT_TRUE(ids.empty());
}

TEST_F(CheckpointStorageTest, initializeClearsLeftoversButNotCompleted) {
  ASSERT_OK(storage_->initializeCheckpoint(2));
  writeFile(storage_->checkpointDir(2) / "leftover", "x");
  ASSERT_OK(storage_->initializeCheckpoint(2));
  EXPECT_FALSE(fs::exists(storage_->checkpointDir(2) / "leftover"));
  writeCheckpoint(3);
  ASSERT_STATUS(StatusCode::kAlreadyExists, storage_->initializeCheckpoint(3));
}

TEST_F(CheckpointStorageTest, discardRemovesDirectory) {
  writeCheckpoint(1);
  writeCheckpoint(2);
  ASSERT_OK(storage_->discardCheckpoint(1));
  ASSERT_OK(storage_->discardCheckpoint(1));  // already gone
  EXPECT_FALSE(fs::exists(storage_->checkpointDir(1)));
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids, storage_->listCompleted());
  EXPECT_THAT(ids, ::testing::ElementsAre(2));
}

TEST_F(CheckpointStorageTest, parsesDirectoryNames) {
  EXPECT_EQ(parseCheckpointDirName("chk-0"), 0);
  EXPECT_EQ(parseCheckpointDirName("chk-123"), 123);
  EXPECT_EQ(parseCheckpointDirName("chk-"), -1);
  EXPECT_EQ(parseCheckpointDirName("chk-1a"), -1);
  EXPECT_EQ(parseCheckpointDirName("shared"), -1);
  EXPECT_EQ(parseCheckpointDirName("chk--1"), -1);
  EXPECT_EQ(parseCheckpointDirName("chk-9999999999999999999"), -1);
}

TEST_F(CheckpointStorageTest, savepointIsSelfContainedAndRestorableByAnyJob) {
  proto::CheckpointMetadata metadata = writeCheckpoint(3);
  fs::path target = base_ / "savepoints" / "savepoint-abc123-000001";
  ASSERT_OK_AND_ASSIGN(fs::path dir, writeSavepoint(storage_->jobDir(), metadata, target));
  EXPECT_EQ(dir, target);
  // The checkpoint may go now: the savepoint does not depend on it.
  ASSERT_OK(storage_->discardCheckpoint(3));
  EXPECT_EQ(readFile(target / "op-1-1"), "state of subtask 1");
  ASSERT_OK_AND_ASSIGN(RestorePoint point, readRestorePoint(target));
  EXPECT_TRUE(point.metadata.savepoint());
  EXPECT_EQ(point.metadata.job_id(), "job1");  // any job may restore it
  EXPECT_EQ(point.rootDir, fs::absolute(target));
  EXPECT_EQ(point.metadata.operators(0).subtasks(1).handles(0).path(), "op-1-1");
  EXPECT_EQ(point.metadata.operators(0).subtasks(1).handles(0).checksum(), 42u);
  // The _metadata file names the savepoint too.
  ASSERT_OK_AND_ASSIGN(point, readRestorePoint(target / "_metadata"));
  EXPECT_EQ(point.metadata.checkpoint_id(), 3);
  // A second savepoint into the same directory is refused.
  ASSERT_STATUS(StatusCode::kAlreadyExists, writeSavepoint(storage_->jobDir(), metadata, target));
}

TEST_F(CheckpointStorageTest, checkpointDirectoryIsARestorePoint) {
  writeCheckpoint(4);
  ASSERT_OK_AND_ASSIGN(RestorePoint point, readRestorePoint(storage_->checkpointDir(4)));
  EXPECT_FALSE(point.metadata.savepoint());
  EXPECT_EQ(point.rootDir, fs::absolute(storage_->jobDir()));
  EXPECT_EQ(point.metadata.operators(0).subtasks(0).handles(0).path(), "chk-4/op-1-0");
}

TEST_F(CheckpointStorageTest, badRestorePointsNameTheProblem) {
  ASSERT_STATUS(StatusCode::kNotFound, readRestorePoint(base_ / "nowhere"));
  fs::create_directories(base_ / "empty");
  ASSERT_STATUS(StatusCode::kNotFound, readRestorePoint(base_ / "empty"));
  proto::CheckpointMetadata metadata = writeCheckpoint(5);
  fs::path target = base_ / "sp";
  ASSERT_OK(writeSavepoint(storage_->jobDir(), metadata, target).status());
  writeFile(target / "op-1-0", "short");
  auto result = readRestorePoint(target);
  ASSERT_STATUS(StatusCode::kCorruption, result);
  EXPECT_THAT(result.status().message(), HasSubstr("op-1-0"));
  // A savepoint whose files are missing cannot be written.
  ASSERT_OK(storage_->discardCheckpoint(5));
  auto missing = writeSavepoint(storage_->jobDir(), metadata, base_ / "sp2");
  ASSERT_STATUS(StatusCode::kIOError, missing);
  EXPECT_THAT(missing.status().message(), HasSubstr("chk-5/op-1-0"));
  EXPECT_FALSE(fs::exists(base_ / "sp2"));
}

}  // namespace
}  // namespace strom::checkpoint
