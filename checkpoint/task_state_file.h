#pragma once

// One task's state for one checkpoint or savepoint: a single file of concatenated entries, and
// the StateHandles that describe them (docs/formats.md, "Task state files").

#include <strom/status.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/checkpoint.pb.h"

namespace strom::checkpoint {

/// The handle kinds a task writes.
inline constexpr std::string_view kKeyedStateKind = "keyed";
inline constexpr std::string_view kOperatorStateKind = "operator";
inline constexpr std::string_view kChannelStateKind = "channel";

/// One entry of a task state file: the bytes of one keyed-state snapshot, one operator state
/// (encodeOperatorStateElements) or one channel's state, and what the handle says about them.
struct TaskStateEntry {
  std::string operatorUid;  // graph::operatorUid of the chain member
  std::string kind;         // kKeyedStateKind, kOperatorStateKind or kChannelStateKind
  std::string name;         // operator state: its name; channel state: the channel
  int mode = 0;             // operator state: OperatorStateMode
  int keyGroupStart = 0;    // keyed state: the key groups covered, inclusive
  int keyGroupEnd = -1;
  std::string bytes;
};

/// Which task attempt writes a state file.
struct TaskStateFileId {
  int64_t checkpointId = 0;
  int vertexId = 0;
  int subtaskIndex = 0;
  int attempt = 0;
};

/// Return `chk-<n>/v<vertex>-s<subtask>-a<attempt>.state`: the file's path relative to the job
/// directory.
std::string taskStateFilePath(const TaskStateFileId& id);

/// Write `entries`, concatenated in order, to `<jobDir>/<taskStateFilePath(id)>` (creating
/// `chk-<n>/` when missing; the file is created or truncated, written, fsynced and closed), and
/// return the SubtaskState with one StateHandle per entry (path relative to `jobDir`, offset,
/// length, XXH3-64 checksum, kind, key-group range, operator_uid, name, mode, subtask_index).
/// With no entries nothing is written and the SubtaskState has no handles. IOError naming the
/// file (or directory) otherwise. Blocking file IO: not for the task thread.
Result<proto::SubtaskState> writeTaskStateFile(const std::filesystem::path& jobDir,
                                               const TaskStateFileId& id,
                                               std::span<const TaskStateEntry> entries);

/// Read the bytes `handle` describes, below `rootDir` (TaskRestore::root_dir), and check them:
/// the path must be relative without "." or ".." (Corruption), the file must exist (NotFound)
/// and hold offset + length bytes (Corruption: truncated), and the bytes' XXH3-64 must equal
/// the handle's checksum (Corruption: checksum mismatch). Every message names the file.
Result<std::string> readStateHandle(const std::filesystem::path& rootDir,
                                    const proto::StateHandle& handle);

/// The handle kind of the RocksDB backend's keyed state files: one handle per file of a
/// RocksDB checkpoint, `name` being the file's name there. SST files are in `shared/`
/// (uploadSharedFile), the others inline in the task state file.
inline constexpr std::string_view kRocksDbStateKind = "keyed-rocksdb";

/// Copy the local file `source` to `<jobDir>/<relativePath>` (creating its directory; the file
/// must not exist), fsync it, and return a handle for all of it: path, offset 0, length and
/// XXH3-64 checksum (the other fields are the caller's). IOError naming the file otherwise; a
/// partial copy is removed. Blocking file IO: not for the task thread.
Result<proto::StateHandle> uploadSharedFile(const std::filesystem::path& jobDir,
                                            const std::filesystem::path& source,
                                            const std::string& relativePath);

/// Copy the bytes `handle` describes, below `rootDir`, to the new local file `target`, checking
/// them as readStateHandle does (path below the root, NotFound, truncation, checksum) without
/// holding them in memory. Errors name the state file; a partial copy is removed.
Status copyStateHandleToFile(const std::filesystem::path& rootDir, const proto::StateHandle& handle,
                             const std::filesystem::path& target);

/// Encode the elements of one operator state as one handle's bytes:
///   operator-state := varint(count) element{count}
///   element        := varint(length) byte{length}
/// (TypeSerializer<std::vector<std::string>>'s encoding).
std::string encodeOperatorStateElements(std::span<const std::string> elements);

/// Decode what encodeOperatorStateElements wrote, appending the elements to `out`. Corruption
/// naming `what` (the file) when the bytes are truncated, malformed or followed by more bytes.
Status decodeOperatorStateElements(std::string_view bytes, std::string_view what,
                                   std::vector<std::string>& out);

}  // namespace strom::checkpoint
