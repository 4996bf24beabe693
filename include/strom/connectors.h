#pragma once

// Built-in sources and sinks: collections, number sequences, text files, standard output,
// and a collecting sink for tests. The typed halves are here; file and console I/O live in
// the strom_connectors library.

#include <strom/operator.h>
#include <strom/record_batch.h>
#include <strom/sink.h>
#include <strom/source.h>
#include <strom/status.h>
#include <strom/to_string.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace strom {

/// The most bytes a source emits in one batch (the rows are bounded by the batch size).
inline constexpr size_t kSourceBatchBytes = 1 << 20;

/// A non-parallel source of a fixed list of values, emitted in order.
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
    explicit Reader(std::shared_ptr<const std::vector<T>> values) : values_(std::move(values)) {}
    Result<InputStatus> pollNext(Output<T>& output) override {
      size_t end = std::min(values_->size(), next_ + output.maxRows());
      for (; next_ < end; ++next_) output.push((*values_)[next_]);
      return next_ == values_->size() ? InputStatus::kEndOfInput : InputStatus::kMoreAvailable;
    }

   private:
    std::shared_ptr<const std::vector<T>> values_;
    size_t next_ = 0;
  };
  std::shared_ptr<const std::vector<T>> values_;
};

/// A parallel source of the integers from..to (inclusive); subtask i emits the i-th of
/// `parallelism` contiguous slices.
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
template <class T, class Generate>
class GeneratorSource final : public Source<T> {
 public:
  GeneratorSource(int64_t count, Generate generate) : count_(count), generate_(generate) {}
  std::unique_ptr<SourceReader<T>> createReader(int subtaskIndex, int parallelism) const override {
    int64_t begin = count_ * subtaskIndex / parallelism;
    int64_t end = count_ * (subtaskIndex + 1) / parallelism;
    return std::make_unique<Reader>(begin, end, generate_);
  }

 private:
  class Reader final : public SourceReader<T> {
   public:
    Reader(int64_t next, int64_t end, Generate generate)
        : next_(next), end_(end), generate_(generate) {}
    Result<InputStatus> pollNext(Output<T>& output) override {
      int64_t stop = std::min(end_, next_ + static_cast<int64_t>(output.maxRows()));
      for (; next_ < stop; ++next_) output.push(generate_(next_));
      return next_ >= end_ ? InputStatus::kEndOfInput : InputStatus::kMoreAvailable;
    }

   private:
    int64_t next_;
    int64_t end_;  // exclusive
    Generate generate_;
  };
  int64_t count_;
  Generate generate_;
};

/// A non-parallel source of the lines of a text file, without their "\n" or "\r\n".
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
