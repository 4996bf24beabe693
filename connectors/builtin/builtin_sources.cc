#include <strom/connectors.h>
#include <strom/type_serializer.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace strom {
namespace {

/// Emits the numbers of its splits, each `remaining` consecutive numbers from `next`, split
/// after split. Counting what is left (in unsigned arithmetic) keeps a range that ends at
/// INT64_MAX free of overflow. A split's position: fixed64le(next) fixed64le(remaining).
class SequenceReader final : public SourceReader<int64_t> {
 public:
  struct Split {
    std::string id;
    int64_t next;
    uint64_t remaining;
  };

  explicit SequenceReader(Split split) { splits_.push_back(std::move(split)); }

  Result<InputStatus> pollNext(Output<int64_t>& output) override {
    for (Split& split : splits_) {
      if (split.remaining == 0) continue;
      uint64_t n = std::min<uint64_t>(split.remaining, output.maxRows());
      uint64_t first = static_cast<uint64_t>(split.next);
      output.pushGenerated(static_cast<size_t>(n), [first](size_t i) {
        return static_cast<int64_t>(first + static_cast<uint64_t>(i));
      });
      split.remaining -= n;
      split.next = static_cast<int64_t>(first + n);  // wraps only after the last value
      return InputStatus::kMoreAvailable;
    }
    return InputStatus::kEndOfInput;
  }

  Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
    std::vector<SourceSplitState> states;
    for (const Split& split : splits_) {
      if (split.remaining == 0) continue;
      std::string position;
      DataOutput out(position);
      out.writeFixed<int64_t>(split.next);
      out.writeFixed<uint64_t>(split.remaining);
      states.push_back(SourceSplitState{split.id, std::move(position)});
    }
    return states;
  }

  Status restoreState(std::vector<SourceSplitState> states) override {
    splits_.clear();
    for (const SourceSplitState& state : states) {
      DataInput in(state.position);
      Split split{state.splitId, 0, 0};
      if (!in.readFixed(split.next) || !in.readFixed(split.remaining) || in.remaining() != 0) {
        return Status::corruption("sequence source: split '" + state.splitId +
                                  "' has a malformed position (" +
                                  std::to_string(state.position.size()) + " bytes)");
      }
      splits_.push_back(std::move(split));
    }
    return Status::ok();
  }

 private:
  std::vector<Split> splits_;
};

/// Reads the lines of one file from a byte offset; its split's position is the offset of the
/// next line, fixed64le.
class TextFileReader final : public SourceReader<std::string> {
 public:
  explicit TextFileReader(std::string path) : path_(std::move(path)) {}
  ~TextFileReader() override { close(); }

  Status open(OperatorContext&) override {
    if (done_) return Status::ok();  // restored without a split
    file_ = std::fopen(path_.c_str(), "rb");
    if (file_ == nullptr) {
      return Status::ioError("cannot open input file '" + path_ + "': " + std::strerror(errno));
    }
    if (offset_ == 0) return Status::ok();
    if (std::fseek(file_, 0, SEEK_END) != 0) {
      return Status::ioError("cannot seek in input file '" + path_ + "': " + std::strerror(errno));
    }
    long size = std::ftell(file_);
    if (size < 0 || static_cast<uint64_t>(size) < offset_) {
      return Status::invalidArgument("input file '" + path_ + "' has " + std::to_string(size) +
                                     " bytes, fewer than the checkpointed position " +
                                     std::to_string(offset_));
    }
    if (std::fseek(file_, static_cast<long>(offset_), SEEK_SET) != 0) {
      return Status::ioError("cannot seek in input file '" + path_ + "': " + std::strerror(errno));
    }
    return Status::ok();
  }

  Result<InputStatus> pollNext(Output<std::string>& output) override {
    if (done_) return InputStatus::kEndOfInput;
    size_t rows = 0;
    size_t bytes = 0;
    while (rows < output.maxRows() && bytes < kSourceBatchBytes) {
      ssize_t n = ::getline(&line_, &capacity_, file_);
      if (n < 0) {
        if (std::ferror(file_)) {
          return Status::ioError("cannot read input file '" + path_ + "': " + std::strerror(errno));
        }
        done_ = true;
        return InputStatus::kEndOfInput;
      }
      offset_ += static_cast<uint64_t>(n);
      size_t length = static_cast<size_t>(n);
      if (length > 0 && line_[length - 1] == '\n') --length;
      if (length > 0 && line_[length - 1] == '\r') --length;
      output.push(std::string(line_, length));
      ++rows;
      bytes += static_cast<size_t>(n);
    }
    return InputStatus::kMoreAvailable;
  }

  Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
    if (done_) return std::vector<SourceSplitState>{};
    std::string position;
    DataOutput out(position);
    out.writeFixed<uint64_t>(offset_);
    return std::vector<SourceSplitState>{SourceSplitState{path_, std::move(position)}};
  }

  Status restoreState(std::vector<SourceSplitState> states) override {
    if (states.size() > 1) {
      return Status::invalidArgument("text file source: " + std::to_string(states.size()) +
                                     " splits restored into one reader (at most one)");
    }
    if (states.empty()) {
      done_ = true;
      return Status::ok();
    }
    DataInput in(states[0].position);
    if (!in.readFixed(offset_) || in.remaining() != 0) {
      return Status::corruption("text file source: split '" + states[0].splitId +
                                "' has a malformed position (" +
                                std::to_string(states[0].position.size()) + " bytes)");
    }
    path_ = states[0].splitId;
    return Status::ok();
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
  uint64_t offset_ = 0;  // of the next line
  bool done_ = false;
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
  return std::make_unique<SequenceReader>(
      SequenceReader::Split{"slice-" + std::to_string(subtaskIndex), static_cast<int64_t>(begin),
                            static_cast<uint64_t>(end - begin)});
}

std::unique_ptr<SourceReader<std::string>> TextFileSource::createReader(int, int) const {
  return std::make_unique<TextFileReader>(path_);
}

}  // namespace strom
