#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "proto/checkpoint.pb.h"

namespace strom::checkpoint {

/// Whether state handle path `path` names a file in the job's `shared/` directory: relative,
/// first component `shared`, at least one component after it, and no empty, "." or ".."
/// component.
bool isSharedStatePath(std::string_view path);

/// The files of a job's `shared/` directory and the checkpoints that reference them (Flink's
/// SharedStateRegistry; docs/formats.md, "Checkpoints"). Incremental state backends upload a
/// file to `shared/` once and reference the same path from later checkpoints, so removing
/// `chk-<n>/` frees none of them: this registry deletes a shared file once nothing references
/// it any more.
///
/// A path is referenced by every registered (completed and retained) checkpoint whose handles
/// name it, and by every pending checkpoint an acknowledgement of which named it. A path whose
/// last reference goes away becomes a deletion candidate. Deletion is deferred by one completed
/// checkpoint: deleteDueCandidates() deletes only the candidates that became candidates before
/// the latest registerCheckpoint() and are still unreferenced, because a task bases its next
/// checkpoint on the last one whose completion it was notified of, and that notification races
/// with the next trigger (checkpoint n+1 may still name files of n-1 when the completion of n
/// discards n-1). A candidate that is referenced again stops being one.
///
/// Only paths for which isSharedStatePath() holds are counted or deleted; other paths (the
/// files in `chk-<n>/`) are ignored, and a path that is absolute or holds "." or ".." is
/// ignored with a warning. Files are removed with std::filesystem::remove below
/// `<jobDir>/shared/` only; a failed removal is logged (module "checkpoint", warning) and the
/// path forgotten.
///
/// Threads: not thread-safe. Its owner serializes every call: the CheckpointCoordinator calls
/// it only with its mu_ held, so that an acknowledgement's check that its shared files exist
/// and its addPending() are atomic with respect to deletions.
class SharedStateRegistry {
 public:
  /// `jobDir` is `<state.checkpoints.dir>/<job-id>`; `jobId` names the job in log lines.
  SharedStateRegistry(std::filesystem::path jobDir, std::string jobId);

  SharedStateRegistry(SharedStateRegistry&&) = default;
  SharedStateRegistry& operator=(SharedStateRegistry&&) = default;
  SharedStateRegistry(const SharedStateRegistry&) = delete;
  SharedStateRegistry& operator=(const SharedStateRegistry&) = delete;

  /// Checkpoint `checkpointId` completed (or was found on disk) with `metadata`: it references
  /// every shared path its handles name (once, however many handles name a path) until
  /// releaseCheckpoint(). Counts as a completion for the deferred deletion: the candidates made
  /// before this call become due. Registering an id again replaces its references.
  void registerCheckpoint(int64_t checkpointId, const proto::CheckpointMetadata& metadata);
  /// Retained checkpoint `checkpointId` was discarded: drop its references; the paths left
  /// unreferenced become candidates. Nothing for an id that is not registered.
  void releaseCheckpoint(int64_t checkpointId);

  /// An acknowledgement of pending checkpoint `checkpointId` names `handles`: their shared
  /// paths stay referenced until dropPending(`checkpointId`). The acknowledgements of one
  /// checkpoint add up.
  void addPending(int64_t checkpointId,
                  const google::protobuf::RepeatedPtrField<proto::StateHandle>& handles);
  /// Checkpoint `checkpointId` is no longer pending (completed, aborted, subsumed, or a
  /// savepoint, which is never registered): drop its pending references; the paths left
  /// unreferenced become candidates. Nothing for an id with no pending references.
  void dropPending(int64_t checkpointId);
  /// `handles` came with a checkpoint that is not pending (a late acknowledgement of an aborted
  /// one): the shared paths that nothing references become candidates.
  void addUnreferenced(const google::protobuf::RepeatedPtrField<proto::StateHandle>& handles);

  /// Delete the candidates that were candidates before the latest registerCheckpoint(). Returns
  /// the paths (relative to the job directory) of the files removed.
  std::vector<std::string> deleteDueCandidates();
  /// Delete every candidate, due or not: for the end of a job attempt, when no pending
  /// checkpoint is left to reference one again. Returns the paths of the files removed.
  std::vector<std::string> deleteAllCandidates();

  /// The number of shared files that registered checkpoints reference.
  size_t numRegisteredFiles() const;
  /// The bytes of those files: for each, the largest offset + length of a handle naming it.
  uint64_t registeredBytes() const;
  /// The number of deletion candidates (due or not).
  size_t numCandidates() const;
  /// The number of registered plus pending checkpoints that reference `path`.
  int numReferences(std::string_view path) const;

 private:
  struct Entry {
    int registered = 0;  // registered checkpoints that reference the path
    int pending = 0;     // pending checkpoints that reference the path
    uint64_t bytes = 0;  // the largest offset + length of a handle naming it
  };
  // The valid shared paths of `handles`, each once, with its largest offset + length.
  using PathSizes = std::map<std::string, uint64_t, std::less<>>;

  void collectPaths(const google::protobuf::RepeatedPtrField<proto::StateHandle>& handles,
                    PathSizes& paths) const;
  // Add one reference (registered or pending) to `path`; it stops being a candidate.
  void reference(const std::string& path, uint64_t bytes, bool registered);
  // Drop one reference; the path becomes a candidate when none is left.
  void unreference(const std::string& path, bool registered);
  // Delete the candidates for which `due` holds.
  std::vector<std::string> deleteCandidates(const std::function<bool(uint64_t since)>& due);

  std::filesystem::path jobDir_;
  std::string jobId_;
  std::map<std::string, Entry, std::less<>> entries_;       // every referenced path
  std::map<int64_t, std::vector<std::string>> registered_;  // checkpoint -> its shared paths
  std::map<int64_t, std::set<std::string>> pending_;        // checkpoint -> its shared paths
  // Unreferenced path -> the value of completions_ when it became a candidate.
  std::map<std::string, uint64_t, std::less<>> candidates_;
  uint64_t completions_ = 0;  // registerCheckpoint calls so far
};

}  // namespace strom::checkpoint
