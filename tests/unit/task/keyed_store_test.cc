#include "runtime/task/keyed_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "checkpoint/task_state_file.h"
#include "state/rocksdb/rocksdb_resources.h"
#include "testutil/status_matchers.h"

namespace strom::runtime {
namespace {

namespace fs = std::filesystem;
using Layout = StoredStateSpec::Layout;

constexpr int kKeys = 200;
constexpr int64_t kCheckpoint = 5;
const KeyGroupRange kAllKeyGroups{0, 127};

std::string key(int i) {
  const int keyGroup = i % 128;
  std::string bytes{static_cast<char>(keyGroup >> 8), static_cast<char>(keyGroup & 0xff)};
  bytes.append("key-" + std::to_string(i));
  return bytes;
}

/// The task's side of local recovery: a store's checkpoint is uploaded and kept in the job's
/// local state directory; a restore of that checkpoint opens the local copy when it is complete
/// and downloads otherwise.
class OperatorKeyedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "strom-keyed-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    base_ = pattern;
    jobDir_ = base_ / "checkpoints" / "job";
    localState_ = localStateDirOfJob(base_ / "local", "job");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  std::unique_ptr<OperatorKeyedStore> makeStore(const std::string& name, bool localRecovery) {
    return std::make_unique<OperatorKeyedStore>(base_ / "local" / name, "keyed/op 1", kAllKeyGroups,
                                                128, "operator '" + name + "'",
                                                localRecovery ? localState_ : fs::path());
  }

  /// Write kKeys values into a new store, checkpoint it as checkpoint `id`, upload the
  /// checkpoint and write its task state file: the handles a restore gets.
  std::vector<checkpoint::proto::StateHandle> writeAndCheckpoint(OperatorKeyedStore& store,
                                                                 int64_t id, int attempt = 0) {
    std::vector<checkpoint::proto::StateHandle> handles;
    auto opened = store.open(resources_, 1000);
    EXPECT_OK(opened);
    if (!opened.isOk()) return handles;
    KeyedStateStore& kv = **opened;
    auto column = kv.openColumn({"values", Layout::kSingleValue, 0});
    EXPECT_OK(column);
    for (int i = 0; i < kKeys; ++i) kv.put(*column, key(i), "value-" + std::to_string(i));
    EXPECT_OK(kv.commit());
    auto upload = store.takeCheckpoint(id, /*incremental=*/false);
    EXPECT_OK(upload);
    if (!upload.isOk()) return handles;
    std::vector<checkpoint::TaskStateEntry> inlineEntries;
    auto shared = uploadStore(*upload, jobDir_, 0, inlineEntries);
    EXPECT_OK(shared);
    auto state = checkpoint::writeTaskStateFile(
        jobDir_, checkpoint::TaskStateFileId{id, 0, 0, attempt}, inlineEntries);
    EXPECT_OK(state);
    if (!shared.isOk() || !state.isOk()) return handles;
    handles.assign(state->handles().begin(), state->handles().end());
    handles.insert(handles.end(), shared->begin(), shared->end());
    return handles;
  }

  /// Restore `handles` of checkpoint `id` into a new store and check that it holds every value.
  std::unique_ptr<OperatorKeyedStore> restore(
      const std::vector<checkpoint::proto::StateHandle>& handles, bool localRecovery,
      int64_t id = kCheckpoint) {
    auto store = makeStore("restored-" + std::to_string(restores_++), localRecovery);
    for (const auto& handle : handles) store->addRestoreHandle(jobDir_, id, handle, true);
    auto opened = store->open(resources_, 1000);
    EXPECT_OK(opened);
    if (!opened.isOk()) return store;
    KeyedStateStore& kv = **opened;
    auto column = kv.openColumn({"values", Layout::kSingleValue, 0});
    EXPECT_OK(column);
    for (int i = 0; i < kKeys; ++i) {
      std::string value;
      auto found = kv.get(*column, key(i), value);
      EXPECT_TRUE(found.isOk() && *found) << i;
      EXPECT_EQ(value, "value-" + std::to_string(i));
    }
    return store;
  }

  /// The local copies of checkpoints kept for the test's store.
  std::vector<std::string> localCopies() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(localState_, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it.depth() == 1) names.push_back(it->path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  /// The one local copy's directory.
  fs::path localCopy() const {
    for (const fs::directory_entry& slot : fs::directory_iterator(localState_)) {
      return slot.path() / ("chk-" + std::to_string(kCheckpoint));
    }
    return {};
  }

  std::shared_ptr<state::RocksDbResources> resources_ =
      state::RocksDbResources::create(64 << 20, 0.5);
  fs::path base_;
  fs::path jobDir_;
  fs::path localState_;
  int restores_ = 0;
};

TEST_F(OperatorKeyedStoreTest, withoutLocalRecoveryNothingIsKeptAndARestoreDownloads) {
  auto store = makeStore("written", /*localRecovery=*/false);
  auto handles = writeAndCheckpoint(*store, kCheckpoint);
  ASSERT_FALSE(handles.empty());
  EXPECT_FALSE(fs::exists(localState_));
  auto restored = restore(handles, /*localRecovery=*/false);
  EXPECT_EQ(restored->restoreStats().localBytes, 0u);
  EXPECT_GT(restored->restoreStats().downloadedBytes, 0u);
}

TEST_F(OperatorKeyedStoreTest, aRestoreOpensTheLocalCopyInsteadOfDownloading) {
  auto store = makeStore("written", /*localRecovery=*/true);
  auto handles = writeAndCheckpoint(*store, kCheckpoint);
  ASSERT_FALSE(handles.empty());
  EXPECT_EQ(localCopies(), std::vector<std::string>{"chk-5"});
  store.reset();
  // Nothing can be downloaded: the restore reads the local copy only.
  fs::remove_all(jobDir_ / "shared");
  auto restored = restore(handles, /*localRecovery=*/true);
  uint64_t total = 0;
  for (const auto& handle : handles) total += handle.length();
  EXPECT_EQ(restored->restoreStats().localBytes, total);
  EXPECT_EQ(restored->restoreStats().downloadedBytes, 0u);
  // The local copy is only read: a second restore opens it too.
  auto again = restore(handles, /*localRecovery=*/true);
  EXPECT_EQ(again->restoreStats().localBytes, total);
}

TEST_F(OperatorKeyedStoreTest, aLocalCopyOfAnotherCheckpointIsNotUsed) {
  auto store = makeStore("written", /*localRecovery=*/true);
  auto handles = writeAndCheckpoint(*store, kCheckpoint);
  ASSERT_FALSE(handles.empty());
  // The same files, restored as if they were checkpoint 4's: no local copy of 4.
  auto restored = restore(handles, /*localRecovery=*/true, kCheckpoint - 1);
  EXPECT_EQ(restored->restoreStats().localBytes, 0u);
  EXPECT_GT(restored->restoreStats().downloadedBytes, 0u);
}

TEST_F(OperatorKeyedStoreTest, aLocalCopyWithAFileMissingOrOfAnotherLengthIsDownloaded) {
  auto store = makeStore("written", /*localRecovery=*/true);
  auto handles = writeAndCheckpoint(*store, kCheckpoint);
  ASSERT_FALSE(handles.empty());
  const fs::path copy = localCopy();
  ASSERT_TRUE(fs::exists(copy / "CURRENT"));
  {
    std::ofstream(copy / "CURRENT", std::ios::app) << "x";  // another length
  }
  auto restored = restore(handles, /*localRecovery=*/true);
  EXPECT_EQ(restored->restoreStats().localBytes, 0u);
  EXPECT_GT(restored->restoreStats().downloadedBytes, 0u);

  fs::remove(copy / "CURRENT");
  auto missing = restore(handles, /*localRecovery=*/true);
  EXPECT_EQ(missing->restoreStats().localBytes, 0u);
  EXPECT_GT(missing->restoreStats().downloadedBytes, 0u);
}

TEST_F(OperatorKeyedStoreTest, aLocalCopyThatDoesNotOpenIsDownloaded) {
  auto store = makeStore("written", /*localRecovery=*/true);
  auto handles = writeAndCheckpoint(*store, kCheckpoint);
  ASSERT_FALSE(handles.empty());
  // Every table file's footer overwritten, at the same length: the database does not open.
  int corrupted = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(localCopy())) {
    if (entry.path().extension() != ".sst") continue;
    const auto size = static_cast<std::streamoff>(fs::file_size(entry.path()));
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(size - 16);
    file.write("corrupt-corrupt-", 16);
    ++corrupted;
  }
  ASSERT_GT(corrupted, 0);
  auto restored = restore(handles, /*localRecovery=*/true);
  EXPECT_EQ(restored->restoreStats().localBytes, 0u);
  EXPECT_GT(restored->restoreStats().downloadedBytes, 0u);
}

TEST_F(OperatorKeyedStoreTest, aLocalCopyOfTheSameCheckpointIdByAnotherStoreIsNotUsed) {
  // Two attempts' stores of the same operator instance, the same state, the same checkpoint
  // id (an attempt that failed before its checkpoint completed, and the restarted one): the
  // later upload's copy replaces the other's.
  auto first = makeStore("first", /*localRecovery=*/true);
  auto handles = writeAndCheckpoint(*first, kCheckpoint);
  ASSERT_FALSE(handles.empty());
  auto second = makeStore("second", /*localRecovery=*/true);
  ASSERT_FALSE(writeAndCheckpoint(*second, kCheckpoint, /*attempt=*/1).empty());
  // Its files have the names and lengths of the first's; their content differs.
  for (const auto& handle : handles) {
    EXPECT_EQ(fs::file_size(localCopy() / handle.name()), handle.length()) << handle.name();
  }
  auto restored = restore(handles, /*localRecovery=*/true);
  EXPECT_EQ(restored->restoreStats().localBytes, 0u);
  EXPECT_GT(restored->restoreStats().downloadedBytes, 0u);
}

TEST_F(OperatorKeyedStoreTest, droppedLocalCopiesAreDownloadedNextTime) {
  // A task that failed on corrupt data drops the copies its store used: the next restore
  // downloads.
  auto store = makeStore("written", /*localRecovery=*/true);
  auto handles = writeAndCheckpoint(*store, kCheckpoint);
  ASSERT_FALSE(handles.empty());
  auto restored = restore(handles, /*localRecovery=*/true);
  EXPECT_GT(restored->restoreStats().localBytes, 0u);
  restored->dropLocalCopies();
  EXPECT_EQ(localCopies(), std::vector<std::string>{});
  auto again = restore(handles, /*localRecovery=*/true);
  EXPECT_EQ(again->restoreStats().localBytes, 0u);
  EXPECT_GT(again->restoreStats().downloadedBytes, 0u);
}

TEST_F(OperatorKeyedStoreTest, aConfirmedCheckpointRemovesTheOlderLocalCopies) {
  auto store = makeStore("written", /*localRecovery=*/true);
  ASSERT_FALSE(writeAndCheckpoint(*store, 5).empty());
  ASSERT_FALSE(writeAndCheckpoint(*store, 6).empty());
  ASSERT_FALSE(writeAndCheckpoint(*store, 7).empty());
  EXPECT_EQ(localCopies(), (std::vector<std::string>{"chk-5", "chk-6", "chk-7"}));
  store->confirm(6);
  EXPECT_EQ(localCopies(), (std::vector<std::string>{"chk-6", "chk-7"}));
  store->confirm(7);
  EXPECT_EQ(localCopies(), std::vector<std::string>{"chk-7"});
}

}  // namespace
}  // namespace strom::runtime
