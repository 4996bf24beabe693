#include <strom/connectors.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace strom {
namespace {

class SequenceReader final : public SourceReader<int64_t> {
 public:
  SequenceReader(int64_t next, int64_t end) : next_(next), end_(end) {}
  Result<InputStatus> pollNext(Output<int64_t>& output) override {
    int64_t stop = next_ + static_cast<int64_t>(output.maxRows());
    if (stop > end_ || stop < next_) stop = end_;
    int64_t first = next_;
    output.pushGenerated(static_cast<size_t>(stop - first),
                         [first](size_t i) { return first + static_cast<int64_t>(i); });
    next_ = stop;
    return next_ == end_ ? InputStatus::kEndOfInput : InputStatus::kMoreAvailable;
  }

 private:
  int64_t next_;
  int64_t end_;  // exclusive
};

class TextFileReader final : public SourceReader<std::string> {
 public:
  explicit TextFileReader(std::string path) : path_(std::move(path)) {}
  ~TextFileReader() override { close(); }

  Status open(OperatorContext&) override {
    file_ = std::fopen(path_.c_str(), "rb");
    if (file_ == nullptr) {
      return Status::ioError("cannot open input file '" + path_ + "': " + std::strerror(errno));
    }
    return Status::ok();
  }

  Result<InputStatus> pollNext(Output<std::string>& output) override {
    size_t rows = 0;
    size_t bytes = 0;
    while (rows < output.maxRows() && bytes < kSourceBatchBytes) {
      ssize_t n = ::getline(&line_, &capacity_, file_);
      if (n < 0) {
        if (std::ferror(file_)) {
          return Status::ioError("cannot read input file '" + path_ + "': " + std::strerror(errno));
        }
        return InputStatus::kEndOfInput;
      }
      size_t length = static_cast<size_t>(n);
      if (length > 0 && line_[length - 1] == '\n') --length;
      if (length > 0 && line_[length - 1] == '\r') --length;
      output.push(std::string(line_, length));
      ++rows;
      bytes += static_cast<size_t>(n);
    }
    return InputStatus::kMoreAvailable;
  }

  void close() override {
    if (file_ != nullptr) std::fclose(file_);
    file_ = nullptr;
    std::free(line_);
    line_ = nullptr;
    capacity_ = 0;
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  char* line_ = nullptr;  // getline's buffer, reused for every line
  size_t capacity_ = 0;
};

}  // namespace

std::unique_ptr<SourceReader<int64_t>> SequenceSource::createReader(int subtaskIndex,
                                                                    int parallelism) const {
  // Slice [from, to] into `parallelism` contiguous parts of nearly equal size.
  __int128 count = static_cast<__int128>(to_) - from_ + 1;
  if (count < 0) count = 0;
  auto boundary = [&](int i) {
    return static_cast<int64_t>(from_ + count * i / parallelism);
  };
  return std::make_unique<SequenceReader>(boundary(subtaskIndex), boundary(subtaskIndex + 1));
}

std::unique_ptr<SourceReader<std::string>> TextFileSource::createReader(int, int) const {
  return std::make_unique<TextFileReader>(path_);
}

}  // namespace strom
