// Task state files (docs/formats.md, "Task state files"):
//
//   task-state-file := entry*                  no header, no trailer, no padding
//   entry           := byte{length}            described only by its StateHandle: path,
//                                              offset, length, checksum = XXH3_64bits(bytes),
//                                              kind, key groups, operator_uid, name, mode
//
// Entries of kind "operator" hold one operator state's elements:
//
//   operator-state  := varint(count) element{count}
//   element         := varint(length) byte{length}
//
// Entries of kind "keyed" hold a KeyedStateSnapshotter snapshot (docs/formats.md §6).
#include "checkpoint/task_state_file.h"

#include <fcntl.h>
#include <strom/type_serializer.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace strom::checkpoint {
namespace fs = std::filesystem;
namespace {

std::string errnoText(int error) { return std::strerror(error); }

// A handle path must stay below the root: relative, and without ".", ".." or empty parts.
bool staysBelowRoot(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

Status writeAll(int fd, std::string_view bytes, const fs::path& path) {
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::ioError("cannot write task state file '" + path.string() +
                             "': " + errnoText(errno));
    }
    written += static_cast<size_t>(n);
  }
  return Status::ok();
}

}  // namespace

std::string taskStateFilePath(const TaskStateFileId& id) {
  return "chk-" + std::to_string(id.checkpointId) + "/v" + std::to_string(id.vertexId) + "-s" +
         std::to_string(id.subtaskIndex) + "-a" + std::to_string(id.attempt) + ".state";
}

Result<proto::SubtaskState> writeTaskStateFile(const fs::path& jobDir, const TaskStateFileId& id,
                                               std::span<const TaskStateEntry> entries) {
  proto::SubtaskState state;
  state.set_subtask_index(id.subtaskIndex);
  if (entries.empty()) return state;
  const std::string relative = taskStateFilePath(id);
  const fs::path path = jobDir / relative;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return Status::ioError("cannot create checkpoint directory '" + path.parent_path().string() +
                           "': " + ec.message());
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::ioError("cannot create task state file '" + path.string() +
                           "': " + errnoText(errno));
  }
  uint64_t offset = 0;
  for (const TaskStateEntry& entry : entries) {
    Status status = writeAll(fd, entry.bytes, path);
    if (!status.isOk()) {
      ::close(fd);
      return status;
    }
    proto::StateHandle* handle = state.add_handles();
    handle->set_path(relative);
    handle->set_offset(offset);
    handle->set_length(entry.bytes.size());
    handle->set_checksum(XXH3_64bits(entry.bytes.data(), entry.bytes.size()));
    handle->set_kind(entry.kind);
    handle->set_key_group_start(entry.keyGroupStart);
    handle->set_key_group_end(entry.keyGroupEnd);
    handle->set_operator_uid(entry.operatorUid);
    handle->set_name(entry.name);
    handle->set_mode(entry.mode);
    handle->set_subtask_index(id.subtaskIndex);
    offset += entry.bytes.size();
  }
  if (::fsync(fd) != 0) {
    int error = errno;
    ::close(fd);
    return Status::ioError("cannot sync task state file '" + path.string() +
                           "': " + errnoText(error));
  }
  if (::close(fd) != 0) {
    return Status::ioError("cannot close task state file '" + path.string() +
                           "': " + errnoText(errno));
  }
  return state;
}

Result<std::string> readStateHandle(const fs::path& rootDir, const proto::StateHandle& handle) {
  if (!staysBelowRoot(handle.path())) {
    return Status::corruption("state handle path '" + handle.path() + "' is not relative to '" +
                              rootDir.string() + "' (absolute, empty, or with '.' or '..')");
  }
  const fs::path path = rootDir / handle.path();
  const std::string name = "state file '" + path.string() + "'";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    if (error == ENOENT) return Status::notFound(name + " is missing");
    return Status::ioError("cannot open " + name + ": " + errnoText(error));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    int error = errno;
    ::close(fd);
    return Status::ioError("cannot stat " + name + ": " + errnoText(error));
  }
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  const uint64_t offset = handle.offset();
  const uint64_t length = handle.length();
  if (offset > size || length > size - offset) {
    ::close(fd);
    return Status::corruption(name + " is truncated: it holds " + std::to_string(size) +
                              " bytes, the handle needs " + std::to_string(offset) + " + " +
                              std::to_string(length));
  }
  std::string bytes(static_cast<size_t>(length), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int error = n < 0 ? errno : 0;
      ::close(fd);
      if (n == 0) return Status::corruption(name + " is truncated while reading");
      return Status::ioError("cannot read " + name + ": " + errnoText(error));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  uint64_t checksum = XXH3_64bits(bytes.data(), bytes.size());
  if (checksum != handle.checksum()) {
    return Status::corruption(name + ": checksum mismatch in bytes " + std::to_string(offset) +
                              ".." + std::to_string(offset + length) + " (" + handle.kind() +
                              " state of operator '" + handle.operator_uid() + "')");
  }
  return bytes;
}

namespace {

// Copy `length` bytes of `in` from `offset` to the new file `target`, hashing them; return the
// XXH3-64 of the bytes. `what` names the source in errors.
Result<uint64_t> copyRange(int in, uint64_t offset, uint64_t length, const fs::path& target,
                           const std::string& what) {
  int out = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    return Status::ioError("cannot create '" + target.string() + "': " + errnoText(errno));
  }
  auto fail = [&](Status status) {
    ::close(out);
    std::error_code ignored;
    fs::remove(target, ignored);
    return status;
  };
  XXH3_state_t* hash = XXH3_createState();
  XXH3_64bits_reset(hash);
  std::string buffer(size_t{1} << 20, '\0');
  uint64_t done = 0;
  Status status;
  while (done < length && status.isOk()) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), length - done));
    ssize_t n = ::pread(in, buffer.data(), want, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      status = Status::corruption(what + " is truncated while reading");
    } else if (n < 0) {
      status = Status::ioError("cannot read " + what + ": " + errnoText(errno));
    } else {
      XXH3_64bits_update(hash, buffer.data(), static_cast<size_t>(n));
      status = writeAll(out, std::string_view(buffer.data(), static_cast<size_t>(n)), target);
      done += static_cast<uint64_t>(n);
    }
  }
  const uint64_t checksum = XXH3_64bits_digest(hash);
  XXH3_freeState(hash);
  if (!status.isOk()) return fail(std::move(status));
  if (::fsync(out) != 0) {
    return fail(Status::ioError("cannot sync '" + target.string() + "': " + errnoText(errno)));
  }
  if (::close(out) != 0) {
    std::error_code ignored;
    fs::remove(target, ignored);
    return Status::ioError("cannot close '" + target.string() + "': " + errnoText(errno));
  }
  return checksum;
}

}  // namespace

Result<proto::StateHandle> uploadSharedFile(const fs::path& jobDir, const fs::path& source,
                                            const std::string& relativePath) {
  const fs::path target = jobDir / relativePath;
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) {
    return Status::ioError("cannot create directory '" + target.parent_path().string() +
                           "': " + ec.message());
  }
  int in = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    return Status::ioError("cannot open '" + source.string() + "': " + errnoText(errno));
  }
  struct stat info {};
  if (::fstat(in, &info) != 0) {
    int error = errno;
    ::close(in);
    return Status::ioError("cannot stat '" + source.string() + "': " + errnoText(error));
  }
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  Result<uint64_t> checksum = copyRange(in, 0, size, target, "'" + source.string() + "'");
  ::close(in);
  if (!checksum.isOk()) return checksum.status();
  proto::StateHandle handle;
  handle.set_path(relativePath);
  handle.set_offset(0);
  handle.set_length(size);
  handle.set_checksum(*checksum);
  return handle;
}

Status copyStateHandleToFile(const fs::path& rootDir, const proto::StateHandle& handle,
                             const fs::path& target) {
  if (!staysBelowRoot(handle.path())) {
    return Status::corruption("state handle path '" + handle.path() + "' is not relative to '" +
                              rootDir.string() + "' (absolute, empty, or with '.' or '..')");
  }
  const fs::path path = rootDir / handle.path();
  const std::string name = "state file '" + path.string() + "'";
  int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    int error = errno;
    if (error == ENOENT) return Status::notFound(name + " is missing");
    return Status::ioError("cannot open " + name + ": " + errnoText(error));
  }
  struct stat info {};
  if (::fstat(in, &info) != 0) {
    int error = errno;
    ::close(in);
    return Status::ioError("cannot stat " + name + ": " + errnoText(error));
  }
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  if (handle.offset() > size || handle.length() > size - handle.offset()) {
    ::close(in);
    return Status::corruption(name + " is truncated: it holds " + std::to_string(size) +
                              " bytes, the handle needs " + std::to_string(handle.offset()) +
                              " + " + std::to_string(handle.length()));
  }
  Result<uint64_t> checksum = copyRange(in, handle.offset(), handle.length(), target, name);
  ::close(in);
  if (!checksum.isOk()) return checksum.status();
  if (*checksum != handle.checksum()) {
    std::error_code ignored;
    fs::remove(target, ignored);
    return Status::corruption(
        name + ": checksum mismatch in bytes " + std::to_string(handle.offset()) + ".." +
        std::to_string(handle.offset() + handle.length()) + " (" + handle.kind() +
        " state of operator '" + handle.operator_uid() + "', file '" + handle.name() + "')");
  }
  return Status::ok();
}

std::string encodeOperatorStateElements(std::span<const std::string> elements) {
  std::string bytes;
  DataOutput out(bytes);
  out.writeVarint(elements.size());
  for (const std::string& element : elements) serializeValue(element, out);
  return bytes;
}

Status decodeOperatorStateElements(std::string_view bytes, std::string_view what,
                                   std::vector<std::string>& out) {
  DataInput in(bytes);
  size_t count = 0;
  if (!detail::readCount(in, TypeSerializer<std::string>::kMinSize, count)) {
    return Status::corruption(std::string(what) + ": operator state has a bad element count");
  }
  out.reserve(out.size() + count);
  for (size_t i = 0; i < count; ++i) {
    std::string element;
    if (!deserializeValue(in, element)) {
      return Status::corruption(std::string(what) + ": operator state element " +
                                std::to_string(i) + " of " + std::to_string(count) +
                                " is truncated or malformed");
    }
    out.push_back(std::move(element));
  }
  if (in.remaining() != 0) {
    return Status::corruption(std::string(what) + ": " + std::to_string(in.remaining()) +
                              " bytes after the operator state's " + std::to_string(count) +
                              " elements");
  }
  return Status::ok();
}

}  // namespace strom::checkpoint
