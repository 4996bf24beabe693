#pragma once

// The connector SPI for sources: a Source describes the data and creates one reader per
// subtask; the reader emits bounded batches on the task thread.

#include <strom/operator.h>
#include <strom/status.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace strom {

template <class T>
class ReaderOutput;

/// The output of one split of a source reader (Flink's SourceOutput). With a watermark
/// strategy given to fromSource(), each split has its own watermark generator, and the
/// source's watermark is the minimum over its active splits.
template <class T>
class SourceOutput {
 public:
  /// Emit `value` with `timestamp` (the strategy's assigner may replace it).
  void collect(T value, int64_t timestamp = kNoTimestamp);
  /// Emit a record that `fill(T&)` writes in place (see Output::pushInPlace), with `timestamp`.
  template <class Fill>
  void collectInPlace(int64_t timestamp, Fill&& fill);
  int slot() const { return slot_; }

 private:
  friend class ReaderOutput<T>;
  SourceOutput(ReaderOutput<T>& owner, int slot) : owner_(owner), slot_(slot) {}
  ReaderOutput<T>& owner_;
  int slot_;
};

/// Told when split outputs come and go, and which records belong to which split: the
/// watermark generation of fromSource(source, strategy). Engine-internal.
class SplitListener {
 public:
  virtual ~SplitListener() = default;
  virtual void onSplitAdded(int slot) = 0;
  virtual void onSplitReleased(int slot) = 0;
};

/// What a source reader emits into (Flink's ReaderOutput): records of the reader as a whole,
/// or through an output per split (createOutputForSplit). A reader that uses split outputs
/// should emit every record through one. Task thread only.
template <class T>
class ReaderOutput {
 public:
  /// The split slot of records emitted without a split.
  static constexpr int kNoSplit = -1;

  ReaderOutput(Output<T>& output, SplitListener* listener) : output_(output), listener_(listener) {}

  /// Emit a record of the reader as a whole.
  void collect(T value, int64_t timestamp = kNoTimestamp) {
    switchTo(kNoSplit);
    output_.push(std::move(value), timestamp);
  }
  /// The arena of the batch being filled: copy the bytes of a record's std::string_view
  /// fields here before emitting it (see RecordBatch::arena()).
  detail::ByteArena& arena() { return output_.arena(); }
  /// The plain output (push, pushGenerated), for records of the reader as a whole.
  Output<T>& records() {
    switchTo(kNoSplit);
    return output_;
  }

  /// Return the output of split `splitId`, creating it (a new split starts with no watermark,
  /// which holds the source's watermark back until the split emits one).
  SourceOutput<T>& createOutputForSplit(const std::string& splitId) {
    for (size_t i = 0; i < splits_.size(); ++i) {
      if (splits_[i] && splitIds_[i] == splitId) return *splits_[i];
    }
    size_t slot = 0;
    while (slot < splits_.size() && splits_[slot]) ++slot;
    if (slot == splits_.size()) {
      splits_.emplace_back();
      splitIds_.emplace_back();
    }
    splits_[slot].reset(new SourceOutput<T>(*this, static_cast<int>(slot)));
    splitIds_[slot] = splitId;
    if (listener_ != nullptr) listener_->onSplitAdded(static_cast<int>(slot));
    return *splits_[slot];
  }
  /// Drop the output of a finished split: it no longer holds the watermark back.
  void releaseOutputForSplit(const std::string& splitId) {
    for (size_t i = 0; i < splits_.size(); ++i) {
      if (!splits_[i] || splitIds_[i] != splitId) continue;
      output_.flush();  // its records go downstream with their split's watermark
      splits_[i].reset();
      if (listener_ != nullptr) listener_->onSplitReleased(static_cast<int>(i));
      return;
    }
  }

  // ---- For the source operator: which split each record of the pending batch is from ----

  /// Runs of the pending batch: (first row, split slot), in row order; the first run starts
  /// at row 0. Only kept with a listener.
  const std::vector<std::pair<size_t, int>>& runs() const { return runs_; }
  /// Start the runs of the next batch (the current split continues).
  void resetRuns() {
    runs_.clear();
    runs_.emplace_back(0, current_);
  }

 private:
  friend class SourceOutput<T>;
  void switchTo(int slot) {
    if (slot == current_) return;
    current_ = slot;
    if (listener_ == nullptr) return;
    const size_t row = output_.pendingRows();
    if (!runs_.empty() && runs_.back().first == row) {
      runs_.back().second = slot;
    } else {
      runs_.emplace_back(row, slot);
    }
  }

  Output<T>& output_;
  SplitListener* listener_;
  std::vector<std::unique_ptr<SourceOutput<T>>> splits_;  // by slot; null: released
  std::vector<std::string> splitIds_;
  std::vector<std::pair<size_t, int>> runs_{{0, kNoSplit}};
  int current_ = kNoSplit;
};

template <class T>
void SourceOutput<T>::collect(T value, int64_t timestamp) {
  owner_.switchTo(slot_);
  owner_.output_.push(std::move(value), timestamp);
}

template <class T>
template <class Fill>
void SourceOutput<T>::collectInPlace(int64_t timestamp, Fill&& fill) {
  owner_.switchTo(slot_);
  owner_.output_.pushInPlace(timestamp, std::forward<Fill>(fill));
}

/// One split of a source in a checkpoint: its id and where to resume it, in bytes the source's
/// readers write and read (an offset, a line number, a generator's index).
struct SourceSplitState {
  std::string splitId;
  std::string position;
  bool operator==(const SourceSplitState&) const = default;
};

template <class T>
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  /// Prepare to read (open files, connect). An error fails the task.
  virtual Status open(OperatorContext& /*context*/) { return Status::ok(); }
  /// Emit at most one bounded batch (bounded in rows and in bytes) into `output`. A reader of
  /// splits overrides the ReaderOutput overload instead.
  virtual Result<InputStatus> pollNext(Output<T>& /*output*/) {
    return Status::internal("source reader implements no pollNext");
  }
  /// Emit at most one bounded batch through `output`'s split outputs (or its plain records()).
  /// The default calls pollNext(output.records()).
  virtual Result<InputStatus> pollNext(ReaderOutput<T>& output) {
    return pollNext(output.records());
  }
  virtual void close() {}

  // ---- Checkpoints (docs/checkpoints.md). A reader that overrides none cannot be part of a
  // job with checkpointing on: its first checkpoint is declined naming the source.

  /// Return the position of every split this reader has not finished, just after the last
  /// record it emitted (the synchronous part of a checkpoint, on the task thread).
  virtual Result<std::vector<SourceSplitState>> snapshotState(int64_t /*checkpointId*/) {
    return Status::failedPrecondition("the source does not support checkpoints");
  }
  /// Called instead of reading this subtask's default share when the job restores: read
  /// exactly `splits` (written by snapshotState of this source's readers, at any parallelism;
  /// possibly none) from their positions. Called before open().
  virtual Status restoreState(std::vector<SourceSplitState> /*splits*/) {
    return Status::failedPrecondition("the source does not support restoring from a checkpoint");
  }
  /// Checkpoint `checkpointId` completed (for sources that acknowledge upstream).
  virtual void notifyCheckpointComplete(int64_t /*checkpointId*/) {}
};

/// A source definition: immutable and shareable; createReader is called once per subtask.
template <class T>
class Source {
 public:
  using Type = T;
  virtual ~Source() = default;
  /// Return the highest parallelism the source supports (1 for a non-parallel source).
  virtual int maxParallelism() const { return INT_MAX; }
  virtual std::unique_ptr<SourceReader<T>> createReader(int subtaskIndex,
                                                        int parallelism) const = 0;
};

}  // namespace strom
