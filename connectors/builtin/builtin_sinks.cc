#include <strom/connectors.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

namespace strom::detail {

void writeToStdout(std::string_view text) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

TextFileWriter::~TextFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Status TextFileWriter::open(const std::string& path) {
  path_ = path;
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) {
    return Status::ioError("cannot open output file '" + path + "': " + std::strerror(errno));
  }
  return Status::ok();
}

Status TextFileWriter::append(std::string_view text) {
  if (file_ == nullptr) return Status::internal("output file '" + path_ + "' is not open");
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size()) {
    return Status::ioError("cannot write output file '" + path_ + "': " + std::strerror(errno));
  }
  return Status::ok();
}

Status TextFileWriter::close() {
  if (file_ == nullptr) return Status::ok();
  int flushed = std::fflush(file_);
  int error = errno;
  int closed = std::fclose(file_);
  file_ = nullptr;
  if (flushed != 0 || closed != 0) {
    return Status::ioError("cannot write output file '" + path_ +
                           "': " + std::strerror(flushed != 0 ? error : errno));
  }
  return Status::ok();
}

Result<std::string> textSinkFilePath(const std::string& path, int subtaskIndex, int parallelism) {
  if (parallelism == 1) return path;
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::ioError("cannot create output directory '" + path +
                           "': " + std::strerror(errno));
  }
  return path + "/" + std::to_string(subtaskIndex + 1);
}

}  // namespace strom::detail
