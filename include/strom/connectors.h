#pragma once

// Built-in sources and sinks: collections, number sequences, text files, standard output,
// and a collecting sink for tests. The typed halves are here; file and console I/O live in
// the strom_connectors library.

#include <strom/file_sink.h>
#include <strom/operator.h>
#include <strom/record_batch.h>
#include <strom/sink.h>
#include <strom/source.h>
#include <strom/status.h>
#include <strom/to_string.h>
#include <strom/type_serializer.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strom {

/// The most bytes a source emits in one batch (the rows are bounded by the batch size).
inline constexpr size_t kSourceBatchBytes = 1 << 20;

namespace detail {

/// The position of a split that reads the indexes [next, end) (sequences, generators,
/// collections): fixed64le(next) fixed64le(end) (docs/formats.md, "Connector operator state").
inline std::string encodeIndexRange(int64_t next, int64_t end) {
  std::string bytes;
  DataOutput out(bytes);
  out.writeFixed<int64_t>(next);
  out.writeFixed<int64_t>(end);
  return bytes;
}

/// Decode a position of encodeIndexRange; `source` names the source in errors.
inline Result<std::pair<int64_t, int64_t>> decodeIndexRange(const SourceSplitState& split,
                                                            std::string_view source) {
  DataInput in(split.position);
  int64_t next = 0;
  int64_t end = 0;
  if (!in.readFixed(next) || !in.readFixed(end) || in.remaining() != 0 || next > end) {
    return Status::corruption(std::string(source) + ": split '" + split.splitId +
                              "' has a malformed position (" +
                              std::to_string(split.position.size()) + " bytes)");
  }
  return std::pair<int64_t, int64_t>(next, end);
}

/// One split of an index-range source: its id and the indexes [next, end) left to read.
struct IndexRangeSplit {
  std::string id;
  int64_t next;
  int64_t end;  // exclusive
};

/// Snapshot the unfinished splits of `splits`.
inline std::vector<SourceSplitState> snapshotIndexRanges(
    const std::vector<IndexRangeSplit>& splits) {
  std::vector<SourceSplitState> states;
  for (const IndexRangeSplit& split : splits) {
    if (split.next < split.end) {
      states.push_back(SourceSplitState{split.id, encodeIndexRange(split.next, split.end)});
    }
  }
  return states;
}

/// Decode restored splits of an index-range source whose indexes lie in [0, limit).
inline Result<std::vector<IndexRangeSplit>> restoreIndexRanges(
    const std::vector<SourceSplitState>& states, std::string_view source, int64_t limit) {
  std::vector<IndexRangeSplit> splits;
  for (const SourceSplitState& state : states) {
    STROM_ASSIGN_OR_RETURN(auto range, decodeIndexRange(state, source));
    if (range.first < 0 || range.second > limit) {
      return Status::invalidArgument(std::string(source) + ": split '" + state.splitId +
                                     "' reads indexes [" + std::to_string(range.first) + ", " +
                                     std::to_string(range.second) + "), beyond the source's " +
                                     std::to_string(limit));
    }
    splits.push_back(IndexRangeSplit{state.splitId, range.first, range.second});
  }
  return splits;
}

}  // namespace detail

/// A non-parallel source of a fixed list of values, emitted in order. One split,
/// "collection", positioned at the index of the next value.
template <class T>
class CollectionSource final : public Source<T> {
 public:
  explicit CollectionSource(std::vector<T> values)
      : values_(std::make_shared<const std::vector<T>>(std::move(values))) {}
  int maxParallelism() const override { return 1; }
  std::unique_ptr<SourceReader<T>> createReader(int, int) const override {
    return std::make_unique<Reader>(values_);
  }

 private:
  class Reader final : public SourceReader<T> {
   public:
    explicit Reader(std::shared_ptr<const std::vector<T>> values)
        : values_(std::move(values)),
          splits_{{"collection", 0, static_cast<int64_t>(values_->size())}} {}
    Result<InputStatus> pollNext(Output<T>& output) override {
      for (detail::IndexRangeSplit& split : splits_) {
        int64_t end = std::min(split.end, split.next + static_cast<int64_t>(output.maxRows()));
        for (; split.next < end; ++split.next) {
          output.push((*values_)[static_cast<size_t>(split.next)]);
        }
        if (split.next < split.end) return InputStatus::kMoreAvailable;
      }
      return InputStatus::kEndOfInput;
    }
    Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
      return detail::snapshotIndexRanges(splits_);
    }
    Status restoreState(std::vector<SourceSplitState> splits) override {
      STROM_ASSIGN_OR_RETURN(splits_,
                             detail::restoreIndexRanges(splits, "collection source",
                                                        static_cast<int64_t>(values_->size())));
      return Status::ok();
    }

   private:
    std::shared_ptr<const std::vector<T>> values_;
    std::vector<detail::IndexRangeSplit> splits_;
  };
  std::shared_ptr<const std::vector<T>> values_;
};

/// A parallel source of the integers from..to (inclusive); subtask i emits the i-th of
/// `parallelism` contiguous slices. Each slice is a split ("slice-<i>"), positioned at its
/// next value; a restored reader reads the splits it is given, at any parallelism.
class SequenceSource final : public Source<int64_t> {
 public:
  SequenceSource(int64_t from, int64_t to) : from_(from), to_(to) {}
  std::unique_ptr<SourceReader<int64_t>> createReader(int subtaskIndex,
                                                      int parallelism) const override;

 private:
  int64_t from_;
  int64_t to_;
};

/// A parallel source of `count` records made by `generate(index)` for index 0..count-1
/// (Flink's DataGeneratorSource); subtask i generates the i-th of `parallelism` contiguous
/// index ranges, in order. `generate` must be copyable and must not keep state between calls.
/// Each range is a split ("range-<i>"), positioned at its next index.
template <class T, class Generate>
class GeneratorSource final : public Source<T> {
 public:
  GeneratorSource(int64_t count, Generate generate) : count_(count), generate_(generate) {}
  std::unique_ptr<SourceReader<T>> createReader(int subtaskIndex, int parallelism) const override {
    int64_t begin = count_ * subtaskIndex / parallelism;
    int64_t end = count_ * (subtaskIndex + 1) / parallelism;
    return std::make_unique<Reader>(
        detail::IndexRangeSplit{"range-" + std::to_string(subtaskIndex), begin, end}, count_,
        generate_);
  }

 private:
  class Reader final : public SourceReader<T> {
   public:
    Reader(detail::IndexRangeSplit split, int64_t count, Generate generate)
        : splits_{std::move(split)}, count_(count), generate_(generate) {}
    Result<InputStatus> pollNext(Output<T>& output) override {
      for (detail::IndexRangeSplit& split : splits_) {
        int64_t stop = std::min(split.end, split.next + static_cast<int64_t>(output.maxRows()));
        for (; split.next < stop; ++split.next) output.push(generate_(split.next));
        if (split.next < split.end) return InputStatus::kMoreAvailable;
      }
      return InputStatus::kEndOfInput;
    }
    Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
      return detail::snapshotIndexRanges(splits_);
    }
    Status restoreState(std::vector<SourceSplitState> splits) override {
      STROM_ASSIGN_OR_RETURN(splits_,
                             detail::restoreIndexRanges(splits, "generator source", count_));
      return Status::ok();
    }

   private:
    std::vector<detail::IndexRangeSplit> splits_;
    int64_t count_;
    Generate generate_;
  };
  int64_t count_;
  Generate generate_;
};

/// A non-parallel source of the lines of a text file, without their "\n" or "\r\n". One
/// split, whose id is the file's path, positioned at the byte offset of the next line
/// (fixed64le); a restored reader reads the file of the split it is given from there.
class TextFileSource final : public Source<std::string> {
 public:
  explicit TextFileSource(std::string path) : path_(std::move(path)) {}
  int maxParallelism() const override { return 1; }
  std::unique_ptr<SourceReader<std::string>> createReader(int, int) const override;

 private:
  std::string path_;
};

namespace detail {

/// Write `text` to standard output in one piece (subtasks share stdout).
void writeToStdout(std::string_view text);

/// Appends text to one file; creates or truncates it on open.
class TextFileWriter {
 public:
  TextFileWriter() = default;
  TextFileWriter(const TextFileWriter&) = delete;
  TextFileWriter& operator=(const TextFileWriter&) = delete;
  ~TextFileWriter();
  Status open(const std::string& path);
  Status append(std::string_view text);
  Status close();

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

/// Return the file a subtask of a text sink writes: `path` itself at parallelism 1, else
/// `path/<subtask + 1>` (creating the directory), as Flink's writeAsText does.
Result<std::string> textSinkFilePath(const std::string& path, int subtaskIndex, int parallelism);

}  // namespace detail

/// Prints records to standard output, one line each: "prefix:subtask> value" with several
/// subtasks (subtask counted from 1), "prefix> value" with one, as Flink's print() does.
template <class T>
class PrintSink final : public Sink<T> {
 public:
  explicit PrintSink(std::string prefix = "") : prefix_(std::move(prefix)) {}
  std::unique_ptr<SinkWriter<T>> createWriter(int subtaskIndex, int parallelism) const override {
    std::string linePrefix = prefix_;
    if (parallelism > 1) {
      linePrefix += (linePrefix.empty() ? "" : ":") + std::to_string(subtaskIndex + 1);
    }
    if (!linePrefix.empty()) linePrefix += "> ";
    return std::make_unique<Writer>(std::move(linePrefix));
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(std::string linePrefix) : linePrefix_(std::move(linePrefix)) {}
    Status write(const RecordBatch<T>& batch) override {
      text_.clear();
      for (const T& value : batch) {
        text_ += linePrefix_;
        appendToString(text_, value);
        text_ += '\n';
      }
      writeToStdoutChecked();
      return Status::ok();
    }

   private:
    void writeToStdoutChecked() { detail::writeToStdout(text_); }
    std::string linePrefix_;
    std::string text_;  // reused per batch
  };
  std::string prefix_;
};

/// Writes records as lines of text (see detail::textSinkFilePath for the file names).
template <class T>
class TextFileSink final : public Sink<T> {
 public:
  explicit TextFileSink(std::string path) : path_(std::move(path)) {}
  std::unique_ptr<SinkWriter<T>> createWriter(int subtaskIndex, int parallelism) const override {
    return std::make_unique<Writer>(path_, subtaskIndex, parallelism);
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    Writer(std::string path, int subtaskIndex, int parallelism)
        : path_(std::move(path)), subtaskIndex_(subtaskIndex), parallelism_(parallelism) {}
    Status open(OperatorContext&) override {
      STROM_ASSIGN_OR_RETURN(std::string file,
                             detail::textSinkFilePath(path_, subtaskIndex_, parallelism_));
      return writer_.open(file);
    }
    Status write(const RecordBatch<T>& batch) override {
      text_.clear();
      for (const T& value : batch) {
        appendToString(text_, value);
        text_ += '\n';
      }
      return writer_.append(text_);
    }
    Status finish() override { return writer_.close(); }

   private:
    std::string path_;
    int subtaskIndex_;
    int parallelism_;
    detail::TextFileWriter writer_;
    std::string text_;  // reused per batch
  };
  std::string path_;
};

/// The records a CollectSink received, shared between the sink's subtasks and the test.
template <class T>
class CollectedRecords {
 public:
  void add(const RecordBatch<T>& batch) {
    std::lock_guard lock(mu_);
    records_.insert(records_.end(), batch.begin(), batch.end());
  }
  std::vector<T> records() const {
    std::lock_guard lock(mu_);
    return records_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<T> records_;  // GUARDED_BY(mu_)
};

/// Collects every record into a CollectedRecords shared with the caller (for tests and
/// embedded programs; it only works when the job runs in this process).
template <class T>
class CollectSink final : public Sink<T> {
 public:
  explicit CollectSink(std::shared_ptr<CollectedRecords<T>> records)
      : records_(std::move(records)) {}
  std::unique_ptr<SinkWriter<T>> createWriter(int, int) const override {
    return std::make_unique<Writer>(records_);
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(std::shared_ptr<CollectedRecords<T>> records) : records_(std::move(records)) {}
    Status write(const RecordBatch<T>& batch) override {
      records_->add(batch);
      return Status::ok();
    }

   private:
    std::shared_ptr<CollectedRecords<T>> records_;
  };
  std::shared_ptr<CollectedRecords<T>> records_;
};

}  // namespace strom
