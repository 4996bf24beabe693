#pragma once

// The exactly-once file sink (a TwoPhaseCommittingSink): each subtask writes its records, as
// lines, into an in-progress part file `<dir>/.part-<subtask>-<n>.inprogress`; a checkpoint's
// snapshot fsyncs and closes it (the next record starts part n + 1), and the checkpoint's
// completion renames it to `<dir>/part-<subtask>-<n>`. Only committed files have names that
// start with neither '.' nor '_'. On every (re)start, a subtask first commits the parts the
// restored checkpoint holds, then deletes its own in-progress files that earlier attempts left
// (subtask 0 also those of subtask indexes beyond the parallelism: an earlier run at a higher
// one). Without checkpointing, the parts are committed at end of input. The file I/O lives in
// the strom_connectors library. Committable layout: docs/formats.md, "File sink committables".

#include <strom/operator.h>
#include <strom/record_batch.h>
#include <strom/sink.h>
#include <strom/status.h>
#include <strom/to_string.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strom {
namespace detail {

/// Writes one subtask's part files in `directory` (see the top of this file). Task thread only.
class PartFileWriter {
 public:
  PartFileWriter(std::string directory, int subtaskIndex, int parallelism);
  PartFileWriter(const PartFileWriter&) = delete;
  PartFileWriter& operator=(const PartFileWriter&) = delete;
  ~PartFileWriter();
  /// Create the directory (and its parents) if missing.
  Status open();
  /// Append `bytes` to the current in-progress part, starting one if there is none.
  Status write(std::string_view bytes);
  /// Fsync and close the current part; return its committable (none without a part).
  Result<std::vector<std::string>> prepareCommit();
  /// Delete the in-progress parts of this subtask (and, on subtask 0, of subtasks >=
  /// parallelism); the next part number follows the highest committed one of this subtask.
  Status cleanUpUncommitted();
  /// Close the current part without committing it (it stays in progress).
  void close();

 private:
  Status startPart();
  Status findNextPart();

  std::string directory_;
  int subtaskIndex_;
  int parallelism_;
  int fd_ = -1;
  std::string partName_;  // of the open part: "part-<subtask>-<n>"
  uint64_t partBytes_ = 0;
  int64_t nextPart_ = -1;  // -1: not known yet (the directory is scanned)
};

/// Commits part files of `directory`: renames each committable's in-progress file to its final
/// name after checking its length; a part already renamed is committed already.
class PartFileCommitter final : public SinkCommitter {
 public:
  explicit PartFileCommitter(std::string directory) : directory_(std::move(directory)) {}
  Status commit(std::span<const std::string> committables) override;

 private:
  std::string directory_;
};

/// Encodes a record as `toString(value)` and a newline.
struct LineEncoder {
  template <class T>
  void operator()(const T& value, std::string& out) const {
    appendToString(out, value);
    out += '\n';
  }
};

}  // namespace detail

/// The exactly-once file sink of records as lines: `encoder(const T&, std::string& out)`
/// appends one record's bytes (default: toString and "\n"). Use with
/// `stream.sinkTo(std::make_shared<FileSink<T>>(dir), "File Sink")`.
template <class T, class Encoder = detail::LineEncoder>
class FileSink final : public TwoPhaseCommittingSink<T> {
 public:
  explicit FileSink(std::string directory, Encoder encoder = Encoder())
      : directory_(std::move(directory)), encoder_(std::move(encoder)) {}
  const std::string& directory() const { return directory_; }

  std::unique_ptr<PrecommittingSinkWriter<T>> createPrecommittingWriter(
      int subtaskIndex, int parallelism) const override {
    return std::make_unique<Writer>(directory_, subtaskIndex, parallelism, encoder_);
  }
  std::unique_ptr<SinkCommitter> createCommitter(int, int) const override {
    return std::make_unique<detail::PartFileCommitter>(directory_);
  }

 private:
  class Writer final : public PrecommittingSinkWriter<T> {
   public:
    Writer(std::string directory, int subtaskIndex, int parallelism, Encoder encoder)
        : files_(std::move(directory), subtaskIndex, parallelism), encoder_(std::move(encoder)) {}
    Status open(OperatorContext&) override { return files_.open(); }
    Status write(const RecordBatch<T>& batch) override {
      text_.clear();
      for (const T& value : batch) encoder_(value, text_);
      return text_.empty() ? Status::ok() : files_.write(text_);
    }
    Status cleanUpUncommitted() override { return files_.cleanUpUncommitted(); }
    Result<std::vector<std::string>> prepareCommit(int64_t) override {
      return files_.prepareCommit();
    }
    void close() override { files_.close(); }

   private:
    detail::PartFileWriter files_;
    Encoder encoder_;
    std::string text_;  // reused per batch
  };

  std::string directory_;
  Encoder encoder_;
};

}  // namespace strom
