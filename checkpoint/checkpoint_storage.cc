// The `_metadata` frame (docs/formats.md, "Checkpoints"), all integers little-endian:
//
//   metadata-file := magic version length payload checksum
//   magic         := "STRMCKPT"                      8 bytes
//   version       := u32                             1
//   length        := u64                             the payload's size in bytes
//   payload       := proto CheckpointMetadata        proto/checkpoint.proto, `length` bytes
//   checksum      := u64                             XXH3_64bits(payload), seed 0
//
// The file is exactly 28 + length bytes; anything shorter is "truncated", anything longer
// "trailing bytes".
#include "checkpoint/checkpoint_storage.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <system_error>

#include "common/logging.h"

namespace strom::checkpoint {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[8] = {'S', 'T', 'R', 'M', 'C', 'K', 'P', 'T'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = 8 + 4 + 8;
constexpr size_t kTrailerSize = 8;
constexpr std::string_view kMetadataName = "_metadata";
constexpr std::string_view kMetadataTempName = "_metadata.inprogress";

void putLittleEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t getLittleEndian(std::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  }
  return value;
}

std::string errnoText(int error) { return std::strerror(error); }

// Write `bytes` to `path` (created or truncated) and fsync it.
Status writeFileSynced(const fs::path& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::ioError("cannot create '" + path.string() + "': " + errnoText(errno));
  }
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      int error = errno;
      ::close(fd);
      return Status::ioError("cannot write '" + path.string() + "': " + errnoText(error));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int error = errno;
    ::close(fd);
    return Status::ioError("cannot sync '" + path.string() + "': " + errnoText(error));
  }
  if (::close(fd) != 0) {
    return Status::ioError("cannot close '" + path.string() + "': " + errnoText(errno));
  }
  return Status::ok();
}

Status syncFile(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::ioError("cannot open '" + path.string() + "': " + errnoText(errno));
  int rc = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (rc != 0) return Status::ioError("cannot sync '" + path.string() + "': " + errnoText(error));
  return Status::ok();
}

Status syncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Status::ioError("cannot open directory '" + dir.string() + "': " + errnoText(errno));
  }
  int rc = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (rc != 0) {
    return Status::ioError("cannot sync directory '" + dir.string() + "': " + errnoText(error));
  }
  return Status::ok();
}

Result<std::string> readWholeFile(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return Status::notFound("'" + path.string() + "' does not exist");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::ioError("cannot open '" + path.string() + "'");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::ioError("cannot read '" + path.string() + "'");
  return bytes;
}

Status corrupt(const fs::path& file, const std::string& check) {
  return Status::corruption("checkpoint metadata '" + file.string() + "': " + check);
}

// A handle path must stay inside the job directory: relative, and without "." or "..".
bool isSafeRelativePath(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  fs::path p(path);
  for (const fs::path& part : p) {
    if (part == ".." || part == "." || part.empty()) return false;
  }
  return true;
}

Status checkCompleteness(const proto::CheckpointMetadata& metadata, const fs::path& file,
                         const fs::path& jobDir) {
  for (const proto::OperatorState& op : metadata.operators()) {
    std::string name = "operator " + std::to_string(op.vertex_id()) +
                       (op.uid().empty() ? "" : " (uid '" + op.uid() + "')");
    if (op.parallelism() <= 0 || op.subtasks_size() != op.parallelism()) {
      return corrupt(file, "incomplete: " + name + " has " + std::to_string(op.subtasks_size()) +
                               " subtask states for parallelism " +
                               std::to_string(op.parallelism()));
    }
    std::vector<bool> seen(static_cast<size_t>(op.parallelism()), false);
    for (const proto::SubtaskState& subtask : op.subtasks()) {
      int index = subtask.subtask_index();
      if (index < 0 || index >= op.parallelism() || seen[static_cast<size_t>(index)]) {
        return corrupt(file, "incomplete: " + name + " has a bad or repeated subtask index " +
                                 std::to_string(index));
      }
      seen[static_cast<size_t>(index)] = true;
      for (const proto::StateHandle& handle : subtask.handles()) {
        if (!isSafeRelativePath(handle.path())) {
          return corrupt(file, name + " subtask " + std::to_string(index) +
                                   ": state handle path '" + handle.path() +
                                   "' is not relative to the job directory");
        }
        fs::path target = jobDir / handle.path();
        std::error_code ec;
        uintmax_t size = fs::file_size(target, ec);
        if (ec) {
          return corrupt(file, "incomplete: " + name + " subtask " + std::to_string(index) +
                                   ": state file '" + target.string() + "' is missing");
        }
        if (handle.offset() > size || handle.length() > size - handle.offset()) {
          return corrupt(file, "incomplete: " + name + " subtask " + std::to_string(index) +
                                   ": state file '" + target.string() + "' holds " +
                                   std::to_string(size) + " bytes, the handle needs " +
                                   std::to_string(handle.offset() + handle.length()));
        }
      }
    }
  }
  return Status::ok();
}

}  // namespace

int64_t parseCheckpointDirName(std::string_view name) {
  constexpr std::string_view kPrefix = "chk-";
  if (name.size() <= kPrefix.size() || name.substr(0, kPrefix.size()) != kPrefix) return -1;
  std::string_view digits = name.substr(kPrefix.size());
  if (digits.size() > 18) return -1;
  int64_t id = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    id = id * 10 + (c - '0');
  }
  return id;
}

Result<CheckpointStorage> CheckpointStorage::create(const fs::path& baseDir, std::string jobId) {
  if (baseDir.empty()) {
    return Status::invalidArgument(
        "checkpoint storage: state.checkpoints.dir is not set (checkpoints need a directory)");
  }
  if (jobId.empty() || jobId == "." || jobId == ".." || jobId.find('/') != std::string::npos) {
    return Status::invalidArgument("checkpoint storage: job id '" + jobId +
                                   "' is not a plain directory name");
  }
  fs::path jobDir = baseDir / jobId;
  for (const fs::path& dir : {jobDir, jobDir / "shared", jobDir / "taskowned"}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      return Status::ioError("checkpoint storage: cannot create '" + dir.string() +
                             "': " + ec.message());
    }
  }
  return CheckpointStorage(std::move(jobDir), std::move(jobId));
}

fs::path CheckpointStorage::checkpointDir(int64_t checkpointId) const {
  return jobDir_ / ("chk-" + std::to_string(checkpointId));
}

fs::path CheckpointStorage::metadataPath(int64_t checkpointId) const {
  return checkpointDir(checkpointId) / kMetadataName;
}

Status CheckpointStorage::initializeCheckpoint(int64_t checkpointId) const {
  fs::path dir = checkpointDir(checkpointId);
  std::error_code ec;
  if (fs::exists(dir / kMetadataName, ec)) {
    return Status::alreadyExists("checkpoint " + std::to_string(checkpointId) + ": '" +
                                 dir.string() + "' already holds a completed checkpoint");
  }
  fs::remove_all(dir, ec);
  if (ec) {
    return Status::ioError("checkpoint " + std::to_string(checkpointId) + ": cannot clear '" +
                           dir.string() + "': " + ec.message());
  }
  fs::create_directories(dir, ec);
  if (ec) {
    return Status::ioError("checkpoint " + std::to_string(checkpointId) + ": cannot create '" +
                           dir.string() + "': " + ec.message());
  }
  return Status::ok();
}

std::string encodeMetadata(const proto::CheckpointMetadata& metadata) {
  std::string payload;
  metadata.SerializeToString(&payload);
  std::string bytes;
  bytes.reserve(kHeaderSize + payload.size() + kTrailerSize);
  bytes.append(kMagic, sizeof(kMagic));
  putLittleEndian(bytes, kFormatVersion, 4);
  putLittleEndian(bytes, payload.size(), 8);
  bytes.append(payload);
  putLittleEndian(bytes, XXH3_64bits(payload.data(), payload.size()), 8);
  return bytes;
}

namespace {

// Write `metadata` as `dir/_metadata` through a temporary file, an atomic rename and a
// directory sync.
Status writeMetadataInto(const fs::path& dir, const proto::CheckpointMetadata& metadata,
                         const std::string& context) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Status::ioError(context + ": cannot create '" + dir.string() + "': " + ec.message());
  }
  fs::path temp = dir / kMetadataTempName;
  STROM_RETURN_IF_ERROR(writeFileSynced(temp, encodeMetadata(metadata)).withContext(context));
  fs::rename(temp, dir / kMetadataName, ec);
  if (ec) {
    return Status::ioError(context + ": cannot rename '" + temp.string() +
                           "' to _metadata: " + ec.message());
  }
  return syncDirectory(dir).withContext(context);
}

}  // namespace

Status CheckpointStorage::writeMetadata(const proto::CheckpointMetadata& metadata) const {
  return writeMetadataInto(checkpointDir(metadata.checkpoint_id()), metadata,
                           "checkpoint " + std::to_string(metadata.checkpoint_id()));
}

Result<fs::path> writeSavepoint(const fs::path& jobDir, const proto::CheckpointMetadata& metadata,
                                const fs::path& savepointDir) {
  std::string context = "savepoint " + std::to_string(metadata.checkpoint_id()) + " in '" +
                        savepointDir.string() + "'";
  std::error_code ec;
  if (fs::exists(savepointDir, ec)) {
    return Status::alreadyExists(context + ": the directory exists already");
  }
  fs::create_directories(savepointDir, ec);
  if (ec) return Status::ioError(context + ": cannot create the directory: " + ec.message());
  auto fail = [&](Status status) {
    std::error_code ignored;
    fs::remove_all(savepointDir, ignored);
    return status.withContext(context);
  };
  // Each distinct file once, under its file name (a number in front if two share one).
  std::map<std::string, std::string> copies;  // job-relative path -> savepoint-relative name
  std::set<std::string> names;
  proto::CheckpointMetadata rewritten = metadata;
  rewritten.set_savepoint(true);
  for (proto::OperatorState& op : *rewritten.mutable_operators()) {
    for (proto::SubtaskState& subtask : *op.mutable_subtasks()) {
      for (proto::StateHandle& handle : *subtask.mutable_handles()) {
        auto it = copies.find(handle.path());
        if (it == copies.end()) {
          if (!isSafeRelativePath(handle.path())) {
            return fail(Status::invalidArgument("state handle path '" + handle.path() +
                                                "' is not relative to the job directory"));
          }
          std::string name = fs::path(handle.path()).filename().string();
          for (int n = 1; name == std::string(kMetadataName) ||
                          name == std::string(kMetadataTempName) || names.count(name) != 0;
               ++n) {
            name = std::to_string(n) + "-" + fs::path(handle.path()).filename().string();
          }
          fs::copy_file(jobDir / handle.path(), savepointDir / name, ec);
          if (ec) {
            return fail(Status::ioError("cannot copy '" + (jobDir / handle.path()).string() +
                                        "': " + ec.message()));
          }
          Status synced = syncFile(savepointDir / name);
          if (!synced.isOk()) return fail(synced);
          names.insert(name);
          it = copies.emplace(handle.path(), name).first;
        }
        handle.set_path(it->second);
      }
    }
  }
  Status written = writeMetadataInto(savepointDir, rewritten, "savepoint");
  if (!written.isOk()) return fail(written);
  Status parent = syncDirectory(savepointDir.parent_path().empty() ? fs::path(".")
                                                                   : savepointDir.parent_path());
  if (!parent.isOk()) return fail(parent);
  return savepointDir;
}

Result<RestorePoint> readRestorePoint(const fs::path& path) {
  std::error_code ec;
  fs::path dir = path;
  if (dir.filename() == kMetadataName && fs::is_regular_file(dir, ec)) dir = dir.parent_path();
  if (!fs::is_directory(dir, ec)) {
    return Status::notFound("savepoint or checkpoint '" + path.string() + "': no such directory");
  }
  // A checkpoint's handles are relative to its job directory, a savepoint's to itself.
  int64_t checkpointId = parseCheckpointDirName(dir.filename().string());
  fs::path root = checkpointId >= 0 ? dir.parent_path() : dir;
  STROM_ASSIGN_OR_RETURN(proto::CheckpointMetadata metadata,
                         readMetadataFile(dir / kMetadataName, root, "", checkpointId));
  if (metadata.savepoint() == (checkpointId >= 0)) {
    return Status::corruption("checkpoint metadata '" + (dir / kMetadataName).string() + "': " +
                              (metadata.savepoint()
                                   ? "a savepoint's _metadata in a chk-<n> directory"
                                   : "a checkpoint's _metadata outside its "
                                     "chk-<n> directory"));
  }
  return RestorePoint{std::move(metadata), fs::absolute(root, ec)};
}

Result<proto::CheckpointMetadata> CheckpointStorage::readMetadata(int64_t checkpointId) const {
  return readMetadataFile(metadataPath(checkpointId), jobDir_, jobId_, checkpointId);
}

Status CheckpointStorage::discardCheckpoint(int64_t checkpointId) const {
  fs::path dir = checkpointDir(checkpointId);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) {
    return Status::ioError("checkpoint " + std::to_string(checkpointId) + ": cannot remove '" +
                           dir.string() + "': " + ec.message());
  }
  return Status::ok();
}

Result<std::vector<int64_t>> CheckpointStorage::listCompleted() const {
  std::vector<int64_t> ids;
  std::error_code ec;
  fs::directory_iterator it(jobDir_, ec);
  if (ec) {
    return Status::ioError("checkpoint storage: cannot list '" + jobDir_.string() +
                           "': " + ec.message());
  }
  for (const fs::directory_entry& entry : it) {
    int64_t id = parseCheckpointDirName(entry.path().filename().string());
    std::error_code existsError;
    if (id >= 0 && fs::exists(entry.path() / kMetadataName, existsError)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<proto::CheckpointMetadata> readMetadataFile(const fs::path& file, const fs::path& jobDir,
                                                   std::string_view expectedJobId,
                                                   int64_t expectedCheckpointId) {
  STROM_ASSIGN_OR_RETURN(std::string bytes, readWholeFile(file));
  if (bytes.size() < kHeaderSize + kTrailerSize) {
    return corrupt(file, "truncated: " + std::to_string(bytes.size()) +
                             " bytes, shorter than the frame's " +
                             std::to_string(kHeaderSize + kTrailerSize));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return corrupt(file, "bad magic (not a Strom checkpoint _metadata file)");
  }
  uint64_t version = getLittleEndian(bytes, 8, 4);
  if (version != kFormatVersion) {
    return corrupt(file, "unsupported format version " + std::to_string(version) +
                             " (this Strom reads version " + std::to_string(kFormatVersion) + ")");
  }
  uint64_t length = getLittleEndian(bytes, 12, 8);
  uint64_t available = bytes.size() - kHeaderSize - kTrailerSize;
  if (length > available) {
    return corrupt(file, "truncated: the payload is " + std::to_string(length) +
                             " bytes, the file holds " + std::to_string(available));
  }
  if (length < available) {
    return corrupt(file, "trailing bytes: " + std::to_string(available - length) +
                             " bytes after the checksum");
  }
  std::string_view payload(bytes.data() + kHeaderSize, length);
  uint64_t stored = getLittleEndian(bytes, kHeaderSize + length, 8);
  uint64_t actual = XXH3_64bits(payload.data(), payload.size());
  if (stored != actual) {
    return corrupt(file, "checksum mismatch");
  }
  proto::CheckpointMetadata metadata;
  if (!metadata.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return corrupt(file, "the payload does not parse as CheckpointMetadata");
  }
  if (!expectedJobId.empty() && metadata.job_id() != expectedJobId) {
    return corrupt(file, "belongs to job '" + metadata.job_id() + "', not '" +
                             std::string(expectedJobId) + "'");
  }
  if (expectedCheckpointId >= 0 && metadata.checkpoint_id() != expectedCheckpointId) {
    return corrupt(file, "holds checkpoint " + std::to_string(metadata.checkpoint_id()) +
                             ", expected " + std::to_string(expectedCheckpointId));
  }
  STROM_RETURN_IF_ERROR(checkCompleteness(metadata, file, jobDir));
  return metadata;
}

Result<CompletedCheckpoint> findLatestCompleted(const fs::path& jobDir, std::string_view jobId,
                                                const std::set<int64_t>& skip) {
  std::vector<int64_t> ids;
  std::error_code ec;
  fs::directory_iterator it(jobDir, ec);
  if (!ec) {
    for (const fs::directory_entry& entry : it) {
      int64_t id = parseCheckpointDirName(entry.path().filename().string());
      if (id >= 0) ids.push_back(id);
    }
  }
  std::sort(ids.rbegin(), ids.rend());
  auto logger = moduleLogger("checkpoint");
  for (int64_t id : ids) {
    if (skip.contains(id)) continue;
    fs::path dir = jobDir / ("chk-" + std::to_string(id));
    fs::path file = dir / kMetadataName;
    std::error_code existsError;
    if (!fs::exists(file, existsError)) {
      logger->debug("skipping checkpoint {} in '{}': no _metadata (not completed)", id,
                    dir.string());
      continue;
    }
    Result<proto::CheckpointMetadata> metadata = readMetadataFile(file, jobDir, jobId, id);
    if (!metadata.isOk()) {
      logger->warn("skipping checkpoint {}: {}", id, metadata.status().toString());
      continue;
    }
    return CompletedCheckpoint{id, dir, std::move(metadata).value()};
  }
  return Status::notFound("no completed checkpoint of job '" + std::string(jobId) + "' in '" +
                          jobDir.string() + "'");
}

}  // namespace strom::checkpoint
