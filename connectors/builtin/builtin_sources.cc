#include <strom/connectors.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace strom {
namespace {

/// Emits `remaining` consecutive numbers from `next`. Counting what is left (in unsigned
/// arithmetic) keeps a range that ends at INT64_MAX free of overflow.
class SequenceReader final : public SourceReader<int64_t> {
 public:
  SequenceReader(int64_t next, uint64_t remaining) : next_(next), remaining_(remaining) {}
  Result<InputStatus> pollNext(Output<int64_t>& output) override {
    uint64_t n = std::min<uint64_t>(remaining_, output.maxRows());
    uint64_t first = static_cast<uint64_t>(next_);
    output.pushGenerated(static_cast<size_t>(n), [first](size_t i) {
      return static_cast<int64_t>(first + static_cast<uint64_t>(i));
    });
    remaining_ -= n;
    next_ = static_cast<int64_t>(first + n);  // wraps only after the last value was emitted
    return remaining_ == 0 ? InputStatus::kEndOfInput : InputStatus::kMoreAvailable;
  }

 private:
  int64_t next_;
  uint64_t remaining_;
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
  auto boundary = [&](int i) { return static_cast<__int128>(from_) + count * i / parallelism; };
  __int128 begin = boundary(subtaskIndex);
  __int128 end = boundary(subtaskIndex + 1);
  return std::make_unique<SequenceReader>(static_cast<int64_t>(begin),
                                          static_cast<uint64_t>(end - begin));
}

std::unique_ptr<SourceReader<std::string>> TextFileSource::createReader(int, int) const {
  return std::make_unique<TextFileReader>(path_);
}

}  // namespace strom
