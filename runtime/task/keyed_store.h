#pragma once

// The task's side of the RocksDB state backend (state.backend.type: rocksdb; DESIGN §6): one
// RocksDB store per keyed operator instance in a local working directory, restored from the
// checkpoint's files, checkpointed with a RocksDB checkpoint (hard links) on the task thread
// and uploaded by the checkpoint writer: new SST files to the job's `shared/` directory, the
// others inline in the task state file. With incremental checkpoints, an SST file that a
// confirmed checkpoint (one whose completion the task was notified of) uploaded is referenced
// instead of uploaded again; the JobManager's shared-state registry deletes files no retained
// checkpoint references.
//
// Local recovery (state.backend.local-recovery, Flink's key): the local RocksDB checkpoint is
// kept after its upload, in `<local dir>/strom-local-state/<job>/<operator>-kg<start>-<end>/
// chk-<id>/`, until a later checkpoint is confirmed. A restore of that checkpoint on the same
// machine opens those files instead of downloading them, when every file the checkpoint lists
// is there with its size. The TaskManager removes a job's local state when the job ends.

#include <strom/config.h>
#include <strom/detail/keyed_state_store.h>
#include <strom/key.h>
#include <strom/status.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "checkpoint/task_state_file.h"
#include "proto/checkpoint.pb.h"

namespace strom::state {
class RocksDbKeyedStore;
class RocksDbResources;
}  // namespace strom::state

namespace strom::runtime {

/// The state backend keys of a job, read once per task (docs/config.md).
struct KeyedStoreOptions {
  bool rocksdb = false;            // state.backend.type: rocksdb (else heap / hashmap)
  std::filesystem::path localDir;  // state.backend.rocksdb.localdir, else io.tmp.dirs, else tmp
  size_t maxCachedKeys = 0;        // state.backend.rocksdb.cache.max-keys
  bool incremental = false;        // execution.checkpointing.incremental
  bool localRecovery = false;      // state.backend.local-recovery

  /// InvalidArgument naming the key whose value does not parse.
  static Result<KeyedStoreOptions> fromConfiguration(const Configuration& configuration);
};

/// The SST handles each checkpoint of one store uploaded or referenced, recorded by the writer
/// thread and read by the task thread when a checkpoint is confirmed. Thread-safe.
class StoreUploadLog {
 public:
  void record(int64_t checkpointId, std::map<std::string, checkpoint::proto::StateHandle> files);
  /// Remove and return what `checkpointId` recorded (empty if nothing), dropping what older
  /// checkpoints recorded.
  std::map<std::string, checkpoint::proto::StateHandle> take(int64_t checkpointId);

 private:
  std::mutex mu_;
  std::map<int64_t, std::map<std::string, checkpoint::proto::StateHandle>> byCheckpoint_;
};

/// One file of a local RocksDB checkpoint.
struct StoreCheckpointFile {
  std::string name;
  uint64_t size = 0;
  bool sst = false;
};

/// A store's RocksDB checkpoint, taken on the task thread, for the checkpoint writer to upload.
struct StoreUpload {
  std::string operatorUid;
  KeyGroupRange range;
  int64_t checkpointId = 0;
  std::filesystem::path localDir;  // the checkpoint's files; removed by uploadStore
  std::filesystem::path keepAs;    // local recovery: where uploadStore moves them instead
  std::vector<StoreCheckpointFile> files;
  std::string sharedPrefix;  // "shared/<store-id>-c<checkpoint>-": new SST files' paths
  std::map<std::string, checkpoint::proto::StateHandle> reusable;  // confirmed, by file name
  std::shared_ptr<StoreUploadLog> log;
};

/// On the checkpoint writer's thread: upload `upload`'s SST files to `<jobDir>/shared/` (or
/// reference the reusable ones), append its other files to `inlineEntries` (for the task state
/// file), record the SST handles in its log, and remove its local directory (or, after a
/// successful upload, move it to `keepAs` for local recovery). Return the SST
/// handles (kind keyed-rocksdb, name = file name, key-group range, operator uid, subtask).
/// IOError naming the file that could not be read or written.
Result<std::vector<checkpoint::proto::StateHandle>> uploadStore(
    StoreUpload& upload, const std::filesystem::path& jobDir, int subtaskIndex,
    std::vector<checkpoint::TaskStateEntry>& inlineEntries);

/// Where the local copies of the checkpoints of a job's stores live (local recovery).
std::filesystem::path localStateDirOfJob(const std::filesystem::path& localDir,
                                         const std::string& jobId);

/// What a store's restore read: bytes of the checkpoint's files found in a local copy, and
/// bytes downloaded from checkpoint storage.
struct StoreRestoreStats {
  uint64_t localBytes = 0;
  uint64_t downloadedBytes = 0;
};

/// The RocksDB store of one keyed operator instance: created on the operator's first request
/// (OperatorContext::keyedStateStore), restored from the handles the task got for it.
/// Thread contract: task thread only, except that uploads run on the writer thread through
/// the StoreUpload it hands out.
class OperatorKeyedStore {
 public:
  /// `directory`: the store's working directory (removed when the store closes); `what` names
  /// the operator instance in errors. `localStateDir`: the job's local state directory
  /// (localStateDirOfJob) with local recovery, else empty.
  OperatorKeyedStore(std::filesystem::path directory, std::string operatorUid, KeyGroupRange range,
                     int maxParallelism, std::string what,
                     std::filesystem::path localStateDir = {});
  ~OperatorKeyedStore();
  OperatorKeyedStore(const OperatorKeyedStore&) = delete;
  OperatorKeyedStore& operator=(const OperatorKeyedStore&) = delete;

  /// Keep `handle` (kind keyed-rocksdb, below `rootDir`, of checkpoint `checkpointId`) to
  /// restore from. `reusable`: the handle is a file of this job's shared/ directory, which the
  /// first checkpoint after the restore may reference instead of uploading the file again (if
  /// it is still in the store).
  void addRestoreHandle(const std::filesystem::path& rootDir, int64_t checkpointId,
                        const checkpoint::proto::StateHandle& handle, bool reusable);
  bool hasRestoreHandles() const { return !restoreHandles_.empty(); }
  /// Return the store, opening it on the first call: download the restore handles' files (one
  /// directory per subtask that wrote them; with local recovery, a complete local copy of a
  /// subtask's files is opened instead), and open a store of this instance's key groups over
  /// them. Errors name the file or the directory.
  Result<KeyedStateStore*> open(const std::shared_ptr<state::RocksDbResources>& resources,
                                size_t maxCachedKeys);
  bool isOpen() const { return store_ != nullptr; }
  /// What the restore in open() read (zeros before it, or without restore handles).
  const StoreRestoreStats& restoreStats() const { return restoreStats_; }
  /// Remove the local copies of this instance's checkpoints and those it restored from: the
  /// task failed on corrupt data, which may be in them (the store's files are hard links to
  /// them), so the next attempt downloads.
  void dropLocalCopies();
  /// Take a RocksDB checkpoint of the (committed) store for checkpoint `checkpointId`.
  /// `incremental`: let the upload reference the SST files of the last confirmed checkpoint.
  Result<StoreUpload> takeCheckpoint(int64_t checkpointId, bool incremental);
  /// Checkpoint `checkpointId` completed: its SST files become the reusable ones. (After a
  /// restore, the reusable ones are the restored base's files that came from this job's
  /// shared/ directory.) With local recovery, the local copies of older checkpoints go.
  void confirm(int64_t checkpointId);

 private:
  struct RestoreHandle {
    std::filesystem::path rootDir;
    checkpoint::proto::StateHandle handle;
    bool reusable = false;
  };

  /// The local copy of this instance's checkpoints, for the store of key groups `range`.
  std::filesystem::path localSlot(const KeyGroupRange& range) const;

  std::filesystem::path directory_;
  std::string operatorUid_;
  KeyGroupRange range_;
  int maxParallelism_;
  std::string what_;
  std::string storeId_;                  // random: names this store's uploads in shared/
  std::filesystem::path localStateDir_;  // empty without local recovery
  std::vector<RestoreHandle> restoreHandles_;
  int64_t restoreCheckpointId_ = -1;
  std::vector<std::filesystem::path> restoredLocalCopies_;  // opened by the restore
  StoreRestoreStats restoreStats_;
  std::unique_ptr<state::RocksDbKeyedStore> store_;
  std::map<std::string, checkpoint::proto::StateHandle> confirmed_;  // by file name
  std::shared_ptr<StoreUploadLog> log_ = std::make_shared<StoreUploadLog>();
};

}  // namespace strom::runtime
