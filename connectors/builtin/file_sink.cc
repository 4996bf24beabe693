// The file I/O of FileSink (include/strom/file_sink.h).
//
// A committable names one part file and its length:
//   committable := varint(len(name)) name fixed64le(length)
// where name is "part-<subtask>-<n>" (the in-progress file is ".<name>.inprogress").

#include <fcntl.h>
#include <strom/file_sink.h>
#include <strom/type_serializer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

namespace strom::detail {
namespace {

constexpr std::string_view kPartPrefix = "part-";
constexpr std::string_view kInProgressSuffix = ".inprogress";

std::string errnoText(int error) { return std::strerror(error); }

std::string inProgressName(std::string_view partName) {
  return "." + std::string(partName) + std::string(kInProgressSuffix);
}

/// A part file name parsed: "part-<subtask>-<n>", or ".part-<subtask>-<n>.inprogress".
struct PartName {
  int64_t subtask;
  int64_t part;
  bool inProgress;
};

bool parseNumber(std::string_view text, int64_t& value) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && value >= 0;
}

std::optional<PartName> parsePartName(std::string_view name) {
  bool inProgress = false;
  if (name.starts_with('.') && name.ends_with(kInProgressSuffix)) {
    inProgress = true;
    name = name.substr(1, name.size() - 1 - kInProgressSuffix.size());
  }
  if (!name.starts_with(kPartPrefix)) return std::nullopt;
  name.remove_prefix(kPartPrefix.size());
  size_t dash = name.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  PartName parsed{0, 0, inProgress};
  if (!parseNumber(name.substr(0, dash), parsed.subtask) ||
      !parseNumber(name.substr(dash + 1), parsed.part)) {
    return std::nullopt;
  }
  return parsed;
}

Status syncDirectory(const std::string& directory) {
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Status::ioError("file sink: cannot open directory '" + directory +
                           "': " + errnoText(errno));
  }
  int synced = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (synced != 0) {
    return Status::ioError("file sink: cannot fsync directory '" + directory +
                           "': " + errnoText(error));
  }
  return Status::ok();
}

/// Call `visit(name, PartName)` for every part file of `directory`.
template <class Visit>
Status forEachPart(const std::string& directory, Visit&& visit) {
  std::error_code error;
  std::filesystem::directory_iterator it(directory, error);
  if (error) {
    return Status::ioError("file sink: cannot list directory '" + directory +
                           "': " + error.message());
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    std::string name = it->path().filename().string();
    if (std::optional<PartName> part = parsePartName(name)) {
      STROM_RETURN_IF_ERROR(visit(name, *part));
    }
  }
  if (error) {
    return Status::ioError("file sink: cannot list directory '" + directory +
                           "': " + error.message());
  }
  return Status::ok();
}

}  // namespace

PartFileWriter::PartFileWriter(std::string directory, int subtaskIndex, int parallelism)
    : directory_(std::move(directory)), subtaskIndex_(subtaskIndex), parallelism_(parallelism) {}

PartFileWriter::~PartFileWriter() { close(); }

Status PartFileWriter::open() {
  std::error_code error;
  std::filesystem::create_directories(directory_, error);
  if (error) {
    return Status::ioError("file sink: cannot create directory '" + directory_ +
                           "': " + error.message());
  }
  return Status::ok();
}

Status PartFileWriter::findNextPart() {
  int64_t next = 0;
  STROM_RETURN_IF_ERROR(forEachPart(directory_, [&](const std::string&, const PartName& part) {
    if (part.subtask == subtaskIndex_ && part.part >= next) next = part.part + 1;
    return Status::ok();
  }));
  nextPart_ = next;
  return Status::ok();
}

Status PartFileWriter::startPart() {
  if (nextPart_ < 0) STROM_RETURN_IF_ERROR(findNextPart());
  partName_ =
      std::string(kPartPrefix) + std::to_string(subtaskIndex_) + "-" + std::to_string(nextPart_);
  std::string path = directory_ + "/" + inProgressName(partName_);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    return Status::ioError("file sink: cannot create part file '" + path +
                           "': " + errnoText(errno));
  }
  partBytes_ = 0;
  return Status::ok();
}

Status PartFileWriter::write(std::string_view bytes) {
  if (fd_ < 0) STROM_RETURN_IF_ERROR(startPart());
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::ioError("file sink: cannot write part file '" + directory_ + "/" +
                             inProgressName(partName_) + "': " + errnoText(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    partBytes_ += static_cast<uint64_t>(n);
  }
  return Status::ok();
}

Result<std::vector<std::string>> PartFileWriter::prepareCommit() {
  if (fd_ < 0) return std::vector<std::string>{};
  std::string path = directory_ + "/" + inProgressName(partName_);
  int synced = ::fsync(fd_);
  int error = errno;
  int closed = ::close(fd_);
  if (closed != 0 && synced == 0) error = errno;
  fd_ = -1;
  if (synced != 0 || closed != 0) {
    return Status::ioError("file sink: cannot fsync part file '" + path + "': " + errnoText(error));
  }
  STROM_RETURN_IF_ERROR(syncDirectory(directory_));  // the in-progress name must survive
  ++nextPart_;
  std::string committable;
  DataOutput out(committable);
  out.writeVarint(partName_.size());
  out.write(partName_.data(), partName_.size());
  out.writeFixed<uint64_t>(partBytes_);
  return std::vector<std::string>{std::move(committable)};
}

Status PartFileWriter::cleanUpUncommitted() {
  close();
  STROM_RETURN_IF_ERROR(forEachPart(directory_, [&](const std::string& name, const PartName& part) {
    bool mine =
        part.subtask == subtaskIndex_ || (subtaskIndex_ == 0 && part.subtask >= parallelism_);
    if (!part.inProgress || !mine) return Status::ok();
    std::string path = directory_ + "/" + name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::ioError("file sink: cannot delete uncommitted part file '" + path +
                             "': " + errnoText(errno));
    }
    return Status::ok();
  }));
  nextPart_ = -1;
  return Status::ok();
}

void PartFileWriter::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status PartFileCommitter::commit(std::span<const std::string> committables) {
  bool renamed = false;
  for (const std::string& committable : committables) {
    DataInput in(committable);
    uint64_t nameLength = 0;
    std::string_view name;
    uint64_t length = 0;
    if (!in.readVarint(nameLength) || nameLength > in.remaining() ||
        !in.readView(static_cast<size_t>(nameLength), name) || !in.readFixed(length) ||
        in.remaining() != 0 || !parsePartName(name) || parsePartName(name)->inProgress) {
      return Status::corruption("file sink: a committable for directory '" + directory_ +
                                "' is malformed (" + std::to_string(committable.size()) +
                                " bytes)");
    }
    std::string target = directory_ + "/" + std::string(name);
    std::string source = directory_ + "/" + inProgressName(name);
    struct stat info {};
    if (::stat(source.c_str(), &info) == 0) {
      if (static_cast<uint64_t>(info.st_size) != length) {
        return Status::corruption("file sink: in-progress part file '" + source + "' has " +
                                  std::to_string(info.st_size) + " bytes, its committable " +
                                  std::to_string(length));
      }
      if (::rename(source.c_str(), target.c_str()) == 0) {
        renamed = true;
        continue;
      }
      if (errno != ENOENT) {
        return Status::ioError("file sink: cannot rename '" + source + "' to '" + target +
                               "': " + errnoText(errno));
      }
      // Another subtask committed it meanwhile (restored committables go to every subtask).
    } else if (errno != ENOENT) {
      return Status::ioError("file sink: cannot stat '" + source + "': " + errnoText(errno));
    }
    if (::stat(target.c_str(), &info) != 0) {
      return Status::notFound("file sink: cannot commit part file '" + target +
                              "': neither it nor its in-progress file exists");
    }
  }
  if (renamed) STROM_RETURN_IF_ERROR(syncDirectory(directory_));
  return Status::ok();
}

}  // namespace strom::detail
