#pragma once

#include <strom/status.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "proto/checkpoint.pb.h"

namespace strom::checkpoint {

/// The checkpoints of one job, in a directory (Flink's layout; docs/formats.md, "Checkpoints"):
///
///   <state.checkpoints.dir>/<job-id>/
///     chk-<n>/              the files of checkpoint n; `_metadata` is written last
///       _metadata           the frame of docs/formats.md around a CheckpointMetadata
///     shared/               files several checkpoints reference (incremental state backends;
///                           deleted by the coordinator's SharedStateRegistry)
///     taskowned/            state owned by the tasks (not used yet)
///
/// A checkpoint is complete exactly when its `_metadata` exists: it is written to
/// `_metadata.inprogress`, synced, and renamed over `_metadata` (atomic on POSIX), then the
/// directory is synced. State handles name files relative to the job directory.
///
/// A value type with no state besides the paths: every method goes to the file system, and
/// concurrent calls for different checkpoints are safe.
class CheckpointStorage {
 public:
  /// Create the job directory and its `shared/` and `taskowned/` below `baseDir`
  /// (state.checkpoints.dir). InvalidArgument for an empty `baseDir` or a `jobId` that is not a
  /// plain file name; IOError naming the directory when it cannot be created.
  static Result<CheckpointStorage> create(const std::filesystem::path& baseDir, std::string jobId);

  const std::string& jobId() const { return jobId_; }
  /// `<baseDir>/<job-id>`.
  const std::filesystem::path& jobDir() const { return jobDir_; }
  /// `<jobDir>/chk-<id>` (whether or not it exists).
  std::filesystem::path checkpointDir(int64_t checkpointId) const;
  /// `<jobDir>/chk-<id>/_metadata`.
  std::filesystem::path metadataPath(int64_t checkpointId) const;

  /// Create `chk-<id>/` for the tasks' files of a checkpoint that starts, after removing what a
  /// previous, unfinished one with this id left there. AlreadyExists if that checkpoint is
  /// complete (has `_metadata`).
  Status initializeCheckpoint(int64_t checkpointId) const;
  /// Write `metadata` as `chk-<id>/_metadata` (the id is metadata.checkpoint_id()) through a
  /// temporary file and an atomic rename. The checkpoint is complete when this returns OK.
  Status writeMetadata(const proto::CheckpointMetadata& metadata) const;
  /// Read and verify checkpoint `checkpointId`'s `_metadata` (see readMetadataFile).
  Result<proto::CheckpointMetadata> readMetadata(int64_t checkpointId) const;
  /// Remove `chk-<id>/` and everything in it; OK when it does not exist.
  Status discardCheckpoint(int64_t checkpointId) const;
  /// The ids of the `chk-<n>` directories that hold a `_metadata` file (not verified), ascending.
  Result<std::vector<int64_t>> listCompleted() const;

 private:
  CheckpointStorage(std::filesystem::path jobDir, std::string jobId)
      : jobDir_(std::move(jobDir)), jobId_(std::move(jobId)) {}

  std::filesystem::path jobDir_;
  std::string jobId_;
};

/// Encode `metadata` as the bytes of a `_metadata` file (docs/formats.md).
std::string encodeMetadata(const proto::CheckpointMetadata& metadata);

/// Read a `_metadata` file and check, in order: the frame (size, magic, version, length:
/// "truncated" when the file is shorter than it says), the XXH3 checksum of the payload, that the
/// payload parses, the job id (`expectedJobId`), the checkpoint id (`expectedCheckpointId`, when
/// not negative), and completeness: every operator has exactly one subtask state per subtask
/// index below its parallelism, and every state handle names a file below `jobDir` (relative,
/// no "..") that exists and holds offset + length bytes. An empty `expectedJobId` accepts any
/// job (a savepoint restored into another job). A failure is Corruption (NotFound for a
/// missing `_metadata`) whose message names the file and the check that failed.
Result<proto::CheckpointMetadata> readMetadataFile(const std::filesystem::path& file,
                                                   const std::filesystem::path& jobDir,
                                                   std::string_view expectedJobId,
                                                   int64_t expectedCheckpointId = -1);

/// A completed checkpoint found on disk.
struct CompletedCheckpoint {
  int64_t checkpointId = 0;
  std::filesystem::path directory;
  proto::CheckpointMetadata metadata;
};

/// The newest checkpoint of `jobDir` (`<state.checkpoints.dir>/<job-id>`) whose `_metadata`
/// passes readMetadataFile for job `jobId`. Checkpoints that fail are logged (module
/// "checkpoint", warning, with the reason) and skipped for the next older one, as are the ids
/// in `skip`. NotFound naming the directory when there is none (or the directory does not
/// exist).
Result<CompletedCheckpoint> findLatestCompleted(const std::filesystem::path& jobDir,
                                                std::string_view jobId,
                                                const std::set<int64_t>& skip = {});

/// Make completed savepoint `metadata` (handles relative to `jobDir`, the files in its
/// `chk-<n>/`) self-contained in the new directory `savepointDir`: copy every file its handles
/// name there (fsynced, under its file name), rewrite the paths relative to `savepointDir`, and
/// write `_metadata` (savepoint: true) last, atomically. Returns `savepointDir`. AlreadyExists if
/// it exists; IOError naming the file that could not be copied or written (then nothing is
/// left of `savepointDir`). The caller removes `chk-<n>/`.
Result<std::filesystem::path> writeSavepoint(const std::filesystem::path& jobDir,
                                             const proto::CheckpointMetadata& metadata,
                                             const std::filesystem::path& savepointDir);

/// A completed checkpoint or savepoint to restore from.
struct RestorePoint {
  proto::CheckpointMetadata metadata;
  /// The absolute directory its handles' paths are relative to: the job directory of a
  /// checkpoint, the savepoint's own directory.
  std::filesystem::path rootDir;
};

/// Read and verify (readMetadataFile, any job id) the checkpoint or savepoint at `path`
/// (`execution.savepoint.path`, `strom run -s`): a savepoint directory, a `chk-<n>` directory,
/// or the `_metadata` file in either. NotFound when there is no such directory or no
/// `_metadata`; Corruption naming the file and the failed check otherwise.
Result<RestorePoint> readRestorePoint(const std::filesystem::path& path);

/// The checkpoint id of a directory named `chk-<n>` (n ≥ 0, decimal), or -1 for any other name.
int64_t parseCheckpointDirName(std::string_view name);

}  // namespace strom::checkpoint
