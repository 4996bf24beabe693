#include "checkpoint/shared_state_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

namespace strom::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Handles = google::protobuf::RepeatedPtrField<proto::StateHandle>;

// A new temporary directory, or "" when none can be made.
fs::path makeTempDir() {
  std::string pattern = (fs::temp_directory_path() / "strom-registry-test-XXXXXX").string();
  return ::mkdtemp(pattern.data()) == nullptr ? fs::path() : fs::path(pattern);
}

class SharedStateRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(base_.empty());
    fs::create_directories(jobDir_ / "shared");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  // Write a 10-byte file at `path` (relative to the job directory).
  void write(const std::string& path) {
    fs::create_directories((jobDir_ / path).parent_path());
    std::ofstream(jobDir_ / path) << "0123456789";
  }
  bool exists(const std::string& path) const { return fs::exists(jobDir_ / path); }

  // Handles naming `paths`, each a whole 10-byte file (written here when `writeFiles`).
  Handles handles(std::initializer_list<std::string> paths, bool writeFiles = true) {
    Handles result;
    for (const std::string& path : paths) {
      if (writeFiles) write(path);
      proto::StateHandle* handle = result.Add();
      handle->set_path(path);
      handle->set_length(10);
      handle->set_kind("keyed-rocksdb");
    }
    return result;
  }

  // A checkpoint of one operator with one subtask per entry of `subtasks`.
  proto::CheckpointMetadata metadata(int64_t id,
                                     std::initializer_list<std::vector<std::string>> subtasks) {
    proto::CheckpointMetadata result;
    result.set_checkpoint_id(id);
    result.set_job_id("job1");
    proto::OperatorState* op = result.add_operators();
    op->set_vertex_id(1);
    op->set_parallelism(static_cast<int>(subtasks.size()));
    int index = 0;
    for (const std::vector<std::string>& paths : subtasks) {
      proto::SubtaskState* subtask = op->add_subtasks();
      subtask->set_subtask_index(index++);
      for (const std::string& path : paths) {
        write(path);
        proto::StateHandle* handle = subtask->add_handles();
        handle->set_path(path);
        handle->set_length(10);
      }
    }
    return result;
  }

  // What the coordinator does when checkpoint `id` completes with num-retained 1: register it,
  // discard the previous one, drop its pending references and delete what is due.
  std::vector<std::string> complete(int64_t id, std::vector<std::string> paths) {
    registry_.registerCheckpoint(id, metadata(id, {paths}));
    registry_.releaseCheckpoint(id - 1);
    registry_.dropPending(id);
    return registry_.deleteDueCandidates();
  }

  fs::path base_ = makeTempDir();
  fs::path jobDir_ = base_ / "job1";
  SharedStateRegistry registry_{jobDir_, "job1"};
};

TEST_F(SharedStateRegistryTest, countsReferencesAcrossCheckpoints) {
  registry_.registerCheckpoint(1, metadata(1, {{"shared/a", "shared/b"}}));
  registry_.registerCheckpoint(2, metadata(2, {{"shared/b"}, {"shared/c"}}));
  EXPECT_EQ(registry_.numReferences("shared/a"), 1);
  EXPECT_EQ(registry_.numReferences("shared/b"), 2);
  EXPECT_EQ(registry_.numReferences("shared/c"), 1);
  EXPECT_EQ(registry_.numRegisteredFiles(), 3u);
  EXPECT_EQ(registry_.registeredBytes(), 30u);
  registry_.releaseCheckpoint(1);
  EXPECT_EQ(registry_.numReferences("shared/a"), 0);
  EXPECT_EQ(registry_.numReferences("shared/b"), 1);
  EXPECT_EQ(registry_.numRegisteredFiles(), 2u);
  EXPECT_EQ(registry_.numCandidates(), 1u);
  // Due only after a later completion.
  EXPECT_THAT(registry_.deleteDueCandidates(), IsEmpty());
  EXPECT_TRUE(exists("shared/a"));
  registry_.registerCheckpoint(3, metadata(3, {{"shared/c"}}));
  EXPECT_THAT(registry_.deleteDueCandidates(), ElementsAre("shared/a"));
  EXPECT_FALSE(exists("shared/a"));
  EXPECT_TRUE(exists("shared/b"));
  EXPECT_TRUE(exists("shared/c"));
  registry_.releaseCheckpoint(2);
  registry_.releaseCheckpoint(3);
  registry_.releaseCheckpoint(3);  // twice: nothing
  EXPECT_EQ(registry_.numRegisteredFiles(), 0u);
  EXPECT_EQ(registry_.registeredBytes(), 0u);
}

TEST_F(SharedStateRegistryTest, pathNamedTwiceInOneCheckpointCountsOnce) {
  registry_.registerCheckpoint(1, metadata(1, {{"shared/a", "shared/a"}, {"shared/a"}}));
  EXPECT_EQ(registry_.numReferences("shared/a"), 1);
  EXPECT_EQ(registry_.numRegisteredFiles(), 1u);
  EXPECT_EQ(registry_.registeredBytes(), 10u);
  registry_.releaseCheckpoint(1);
  EXPECT_EQ(registry_.numCandidates(), 1u);
  EXPECT_THAT(registry_.deleteAllCandidates(), ElementsAre("shared/a"));
}

TEST_F(SharedStateRegistryTest, registeredBytesTakeTheLargestEndOfEachFile) {
  proto::CheckpointMetadata checkpoint = metadata(1, {{"shared/a", "shared/a", "shared/b"}});
  proto::SubtaskState* subtask = checkpoint.mutable_operators(0)->mutable_subtasks(0);
  subtask->mutable_handles(0)->set_length(4);
  subtask->mutable_handles(1)->set_offset(4);
  subtask->mutable_handles(1)->set_length(6);
  registry_.registerCheckpoint(1, checkpoint);
  EXPECT_EQ(registry_.registeredBytes(), 20u);
}

TEST_F(SharedStateRegistryTest, fileSharedByThreeCheckpointsLivesUntilItsLastReference) {
  EXPECT_THAT(complete(1, {"shared/x"}), IsEmpty());
  EXPECT_THAT(complete(2, {"shared/x", "shared/y"}), IsEmpty());
  EXPECT_THAT(complete(3, {"shared/x", "shared/z"}), IsEmpty());  // y: a candidate now
  EXPECT_TRUE(exists("shared/x"));
  EXPECT_TRUE(exists("shared/y"));
  EXPECT_EQ(registry_.numReferences("shared/x"), 1);
  EXPECT_THAT(complete(4, {"shared/z"}), ElementsAre("shared/y"));  // x: a candidate now
  EXPECT_TRUE(exists("shared/x"));
  EXPECT_THAT(complete(5, {"shared/z"}), ElementsAre("shared/x"));
  EXPECT_FALSE(exists("shared/x"));
  EXPECT_TRUE(exists("shared/z"));
  EXPECT_EQ(registry_.numRegisteredFiles(), 1u);
}

TEST_F(SharedStateRegistryTest, deletionWaitsForOneMoreCompletion) {
  EXPECT_THAT(complete(1, {"shared/a"}), IsEmpty());
  // Completing 2 discards 1: a becomes a candidate during this completion, not before it.
  EXPECT_THAT(complete(2, {"shared/b"}), IsEmpty());
  EXPECT_TRUE(exists("shared/a"));
  EXPECT_THAT(registry_.deleteDueCandidates(), IsEmpty());  // no completion in between
  EXPECT_THAT(complete(3, {"shared/b"}), ElementsAre("shared/a"));
}

TEST_F(SharedStateRegistryTest, candidateReferencedAgainIsKept) {
  complete(1, {"shared/a"});
  complete(2, {"shared/b"});  // a: a candidate
  // Checkpoint 3 was triggered before the task heard of 2's completion: it still names a.
  registry_.addPending(3, handles({"shared/a", "shared/b"}));
  EXPECT_EQ(registry_.numCandidates(), 0u);
  EXPECT_THAT(complete(3, {"shared/a", "shared/b"}), IsEmpty());
  EXPECT_TRUE(exists("shared/a"));
  EXPECT_EQ(registry_.numReferences("shared/a"), 1);
}

TEST_F(SharedStateRegistryTest, pendingReferencesKeepFilesAlive) {
  complete(1, {"shared/a"});
  // Two tasks acknowledge pending checkpoint 3; both name a.
  registry_.addPending(3, handles({"shared/a", "shared/n1"}));
  registry_.addPending(3, handles({"shared/a", "shared/n2"}));
  EXPECT_EQ(registry_.numReferences("shared/a"), 2);  // checkpoint 1 and pending 3
  EXPECT_EQ(registry_.numReferences("shared/n1"), 1);
  EXPECT_EQ(registry_.numRegisteredFiles(), 1u);  // pending references are not registered
  EXPECT_THAT(complete(2, {"shared/b"}), IsEmpty());
  EXPECT_THAT(complete(4, {"shared/b"}), IsEmpty());
  EXPECT_THAT(complete(5, {"shared/b"}), IsEmpty());
  EXPECT_TRUE(exists("shared/a"));
  EXPECT_TRUE(exists("shared/n1"));
  // 3 is aborted: its files go after the next completion.
  registry_.dropPending(3);
  EXPECT_EQ(registry_.numCandidates(), 3u);
  EXPECT_THAT(registry_.deleteDueCandidates(), IsEmpty());
  EXPECT_THAT(complete(6, {"shared/b"}), ElementsAre("shared/a", "shared/n1", "shared/n2"));
}

TEST_F(SharedStateRegistryTest, abortedCheckpointsUploadsGoAfterTheNextCompletion) {
  complete(1, {"shared/base"});
  registry_.addPending(2, handles({"shared/base", "shared/u1"}));
  registry_.dropPending(2);  // aborted (or subsumed, or a savepoint that completed)
  // A late acknowledgement of 2 names base, still referenced, and another upload.
  registry_.addUnreferenced(handles({"shared/base", "shared/u2", "chk-2/state"}));
  EXPECT_EQ(registry_.numCandidates(), 2u);
  EXPECT_TRUE(exists("shared/u1"));
  EXPECT_TRUE(exists("shared/u2"));
  EXPECT_THAT(complete(3, {"shared/base"}), ElementsAre("shared/u1", "shared/u2"));
  EXPECT_TRUE(exists("shared/base"));
  EXPECT_TRUE(exists("chk-2/state"));
}

TEST_F(SharedStateRegistryTest, deleteAllCandidatesIgnoresTheDeferral) {
  complete(1, {"shared/a"});
  complete(2, {"shared/b"});
  registry_.addPending(3, handles({"shared/c"}));
  registry_.dropPending(3);
  EXPECT_THAT(registry_.deleteAllCandidates(), ElementsAre("shared/a", "shared/c"));
  EXPECT_TRUE(exists("shared/b"));
  EXPECT_EQ(registry_.numCandidates(), 0u);
}

TEST_F(SharedStateRegistryTest, pathsOutsideSharedAreNeverTouched) {
  write("chk-1/state");
  write("taskowned/x");
  write("sharedfoo/x");
  write("outside");
  std::ofstream(base_ / "escaped") << "x";
  std::vector<std::string> paths = {
      "chk-1/state", "taskowned/x",       "sharedfoo/x",
      "shared",      "shared/../outside", "../escaped",
      "./shared/x",  "shared//",          (base_ / "escaped").string()};
  proto::CheckpointMetadata checkpoint = metadata(1, {});
  proto::SubtaskState* subtask = checkpoint.mutable_operators(0)->add_subtasks();
  for (const std::string& path : paths) subtask->add_handles()->set_path(path);
  registry_.registerCheckpoint(1, checkpoint);
  registry_.addPending(2, subtask->handles());
  EXPECT_EQ(registry_.numRegisteredFiles(), 0u);
  for (const std::string& path : paths) EXPECT_EQ(registry_.numReferences(path), 0) << path;
  registry_.releaseCheckpoint(1);
  registry_.dropPending(2);
  registry_.addUnreferenced(subtask->handles());
  EXPECT_EQ(registry_.numCandidates(), 0u);
  EXPECT_THAT(registry_.deleteAllCandidates(), IsEmpty());
  EXPECT_TRUE(exists("chk-1/state"));
  EXPECT_TRUE(exists("taskowned/x"));
  EXPECT_TRUE(exists("sharedfoo/x"));
  EXPECT_TRUE(exists("outside"));
  EXPECT_TRUE(fs::exists(base_ / "escaped"));
  EXPECT_TRUE(fs::is_directory(jobDir_ / "shared"));
}

TEST_F(SharedStateRegistryTest, failedAndNeedlessDeletionsAreForgotten) {
  // A candidate that is a non-empty directory cannot be removed; one that is gone already is
  // nothing to remove. Neither is reported nor kept.
  write("shared/dir/file");
  registry_.addUnreferenced(handles({"shared/dir", "shared/gone"}, /*writeFiles=*/false));
  EXPECT_EQ(registry_.numCandidates(), 2u);
  EXPECT_THAT(registry_.deleteAllCandidates(), IsEmpty());
  EXPECT_EQ(registry_.numCandidates(), 0u);
  EXPECT_TRUE(exists("shared/dir/file"));
}

TEST_F(SharedStateRegistryTest, registeringAnIdAgainReplacesItsReferences) {
  registry_.registerCheckpoint(1, metadata(1, {{"shared/a", "shared/b"}}));
  registry_.registerCheckpoint(1, metadata(1, {{"shared/b", "shared/c"}}));
  EXPECT_EQ(registry_.numReferences("shared/a"), 0);
  EXPECT_EQ(registry_.numReferences("shared/b"), 1);
  EXPECT_EQ(registry_.numReferences("shared/c"), 1);
  EXPECT_EQ(registry_.numCandidates(), 1u);
}

TEST_F(SharedStateRegistryTest, recognizesPathsInShared) {
  EXPECT_TRUE(isSharedStatePath("shared/a.sst"));
  EXPECT_TRUE(isSharedStatePath("shared/sub/a.sst"));
  EXPECT_FALSE(isSharedStatePath("shared"));
  EXPECT_FALSE(isSharedStatePath("shared/"));
  EXPECT_FALSE(isSharedStatePath("shared/../chk-1/_metadata"));
  EXPECT_FALSE(isSharedStatePath("shared/./a"));
  EXPECT_FALSE(isSharedStatePath("/shared/a"));
  EXPECT_FALSE(isSharedStatePath("chk-1/shared/a"));
  EXPECT_FALSE(isSharedStatePath("sharedx/a"));
  EXPECT_FALSE(isSharedStatePath(""));
}

}  // namespace
}  // namespace strom::checkpoint
