#pragma once

// The operators that drive the connector SPI: SourceOperator runs a SourceReader, SinkOperator
// a SinkWriter (<strom/source.h>, <strom/sink.h>), including their part in checkpoints:
//
// - a source's operator state "source-splits" (mode split): one element per unfinished split,
//       element := varint(len(splitId)) splitId position      (position: the rest, the reader's)
// - a two-phase-commit sink's operator state "pending-committables" (mode union): one element
//   per committable not committed yet,
//       element := fixed64le(checkpointId) committable          (committable: the rest)
//
// (docs/formats.md, "Connector operator state").

#include <strom/config.h>
#include <strom/operator.h>
#include <strom/sink.h>
#include <strom/source.h>
#include <strom/status.h>
#include <strom/type_serializer.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strom::detail {

/// The operator state of a source operator: its readers' unfinished splits.
inline constexpr std::string_view kSourceSplitsState = "source-splits";
/// The operator state of a two-phase-commit sink operator: committables not committed yet.
inline constexpr std::string_view kPendingCommittablesState = "pending-committables";

inline std::string encodeSourceSplit(const SourceSplitState& split) {
  std::string bytes;
  DataOutput out(bytes);
  out.writeVarint(split.splitId.size());
  out.write(split.splitId.data(), split.splitId.size());
  out.write(split.position.data(), split.position.size());
  return bytes;
}

inline Result<SourceSplitState> decodeSourceSplit(std::string_view bytes) {
  DataInput in(bytes);
  uint64_t length = 0;
  std::string_view id;
  if (!in.readVarint(length) || length > in.remaining() ||
      !in.readView(static_cast<size_t>(length), id)) {
    return Status::corruption("a source split in operator state '" +
                              std::string(kSourceSplitsState) + "' is truncated (" +
                              std::to_string(bytes.size()) + " bytes)");
  }
  std::string_view position = bytes.substr(bytes.size() - in.remaining());
  return SourceSplitState{std::string(id), std::string(position)};
}

/// Restore `reader` from `context` (only when restored: the splits of "source-splits", none
/// when the state is absent), then open it. Errors are the reader's (the caller names the source).
template <class T>
Status initializeSourceReader(SourceReader<T>& reader, StateInitializationContext& state,
                              OperatorContext& context) {
  if (state.isRestored()) {
    std::vector<SourceSplitState> splits;
    for (const std::string& element : state.operatorState(kSourceSplitsState)) {
      STROM_ASSIGN_OR_RETURN(SourceSplitState split, decodeSourceSplit(element));
      splits.push_back(std::move(split));
    }
    STROM_RETURN_IF_ERROR(reader.restoreState(std::move(splits)));
  }
  return reader.open(context);
}

/// Add `reader`'s splits to `state` as "source-splits".
template <class T>
Status snapshotSourceReader(SourceReader<T>& reader, StateSnapshotContext& state) {
  STROM_ASSIGN_OR_RETURN(std::vector<SourceSplitState> splits,
                         reader.snapshotState(state.checkpointId()));
  std::vector<std::string> elements;
  elements.reserve(splits.size());
  for (const SourceSplitState& split : splits) elements.push_back(encodeSourceSplit(split));
  state.addOperatorState(std::string(kSourceSplitsState), OperatorStateMode::kSplit,
                         std::move(elements));
  return Status::ok();
}

/// Return whether `configuration` turns checkpointing on (`execution.checkpointing.interval`
/// set and positive).
inline Result<bool> checkpointingEnabled(const Configuration& configuration) {
  STROM_ASSIGN_OR_RETURN(
      std::chrono::milliseconds interval,
      configuration.getDuration("execution.checkpointing.interval", std::chrono::milliseconds(0)));
  return interval.count() > 0;
}

/// Drives a SourceReader, created in open() for this subtask and opened in initializeState()
/// after restoring its splits: one bounded batch per emitNext().
template <class T>
class SourceOperator final : public SourceOperatorBase {
 public:
  SourceOperator(size_t batchRows, std::shared_ptr<const Source<T>> source)
      : source_(std::move(source)), output_(batchRows), readerOutput_(output_, nullptr) {}
  OutputBase* mainOutput() override { return &output_; }
  void open(OperatorContext& context) override {
    SourceOperatorBase::open(context);
    reader_ = source_->createReader(context.subtaskIndex(), context.parallelism());
  }
  Status initializeState(StateInitializationContext& state) override {
    opened_ = true;
    Status status = initializeSourceReader(*reader_, state, context());
    if (!status.isOk()) {
      failed_ = true;
      return named(status);
    }
    return Status::ok();
  }
  InputStatus emitNext() override {
    if (!opened_) openWithoutState();
    if (failed_) return InputStatus::kEndOfInput;
    Result<InputStatus> result = reader_->pollNext(readerOutput_);
    output_.flush();
    if (!result.isOk()) {
      fail(result.status());
      return InputStatus::kEndOfInput;
    }
    return *result;
  }
  Status snapshotState(StateSnapshotContext& state) override {
    if (!opened_) openWithoutState();
    if (failed_) return named(Status::failedPrecondition("the source failed"));
    Status status = snapshotSourceReader(*reader_, state);
    return status.isOk() ? status : named(status);
  }
  void notifyCheckpointComplete(int64_t checkpointId) override {
    if (reader_ && opened_ && !failed_) reader_->notifyCheckpointComplete(checkpointId);
  }
  void close() override {
    if (reader_) reader_->close();
  }

 private:
  /// For a runtime that does not call initializeState: open the reader on first use.
  void openWithoutState() {
    opened_ = true;
    Status status = reader_->open(context());
    if (!status.isOk()) fail(status);
  }
  Status named(const Status& status) {
    return status.withContext("source '" + context().operatorName() + "'");
  }
  void fail(const Status& status) {
    failed_ = true;
    context().failTask(named(status));
  }
  std::shared_ptr<const Source<T>> source_;
  std::unique_ptr<SourceReader<T>> reader_;
  Output<T> output_;
  ReaderOutput<T> readerOutput_;
  bool opened_ = false;
  bool failed_ = false;
};

/// Drives a SinkWriter (created in open() for this subtask): one write per batch. With a
/// TwoPhaseCommittingSink, it prepares a commit in every checkpoint's snapshot, keeps the
/// committables (with their checkpoint ids) as union operator state, and commits them when a
/// checkpoint with that id or a later one completes, or when the job restores (they belong to
/// a completed checkpoint); committables of an aborted checkpoint wait for the next completed
/// one. Without checkpointing, it prepares and commits at end of input.
template <class T>
class SinkOperator final : public StreamOperator, public Input<T> {
 public:
  explicit SinkOperator(std::shared_ptr<const Sink<T>> sink) : sink_(std::move(sink)) {}
  InputBase* input() override { return this; }
  void open(OperatorContext& context) override {
    StreamOperator::open(context);
    if (auto twoPhase = dynamic_cast<const TwoPhaseCommittingSink<T>*>(sink_.get())) {
      auto writer =
          twoPhase->createPrecommittingWriter(context.subtaskIndex(), context.parallelism());
      precommitting_ = writer.get();
      writer_ = std::move(writer);
      committer_ = twoPhase->createCommitter(context.subtaskIndex(), context.parallelism());
      Result<bool> enabled = checkpointingEnabled(context.configuration());
      if (!enabled.isOk()) return check(enabled.status());
      checkpointing_ = *enabled;
    } else {
      writer_ = sink_->createWriter(context.subtaskIndex(), context.parallelism());
    }
    check(writer_->open(context));
  }
  Status initializeState(StateInitializationContext& state) override {
    initialized_ = true;
    if (precommitting_ == nullptr) return StreamOperator::initializeState(state);
    if (failed_) return Status::ok();  // open() failed the task already
    if (state.isRestored()) {
      std::vector<std::string> restored;
      for (const std::string& element : state.operatorState(kPendingCommittablesState)) {
        if (element.size() < sizeof(int64_t)) {
          return named(Status::corruption(
              "a committable in operator state '" + std::string(kPendingCommittablesState) +
              "' is truncated (" + std::to_string(element.size()) + " bytes)"));
        }
        restored.push_back(element.substr(sizeof(int64_t)));
      }
      // They belong to the restored checkpoint, which completed: commit them now.
      if (!restored.empty()) STROM_RETURN_IF_ERROR(named(committer_->commit(restored)));
    }
    Status status = named(precommitting_->cleanUpUncommitted());
    if (!status.isOk()) failed_ = true;
    return status;
  }
  void processBatch(RecordBatch<T>& batch) override {
    if (!initialized_) initializeWithoutState();
    if (!failed_) check(writer_->write(batch));
  }
  void processWatermark(int64_t watermark) override { StreamOperator::processWatermark(watermark); }
  void processWatermarkStatus(bool idle) override { StreamOperator::processWatermarkStatus(idle); }
  Status snapshotState(StateSnapshotContext& state) override {
    if (precommitting_ == nullptr) return Status::ok();
    if (failed_) return named(Status::failedPrecondition("the sink failed"));
    if (!initialized_) initializeWithoutState();
    Result<std::vector<std::string>> prepared = precommitting_->prepareCommit(state.checkpointId());
    if (!prepared.isOk()) return named(prepared.status());
    for (std::string& committable : *prepared) {
      pending_.push_back(Pending{state.checkpointId(), std::move(committable)});
    }
    std::vector<std::string> elements;
    elements.reserve(pending_.size());
    for (const Pending& pending : pending_) {
      std::string element;
      DataOutput out(element);
      out.writeFixed<int64_t>(pending.checkpointId);
      out.write(pending.committable.data(), pending.committable.size());
      elements.push_back(std::move(element));
    }
    state.addOperatorState(std::string(kPendingCommittablesState), OperatorStateMode::kUnion,
                           std::move(elements));
    return Status::ok();
  }
  void notifyCheckpointComplete(int64_t checkpointId) override {
    if (precommitting_ == nullptr || failed_) return;
    std::vector<std::string> due;
    std::vector<Pending> later;
    for (Pending& pending : pending_) {
      if (pending.checkpointId <= checkpointId) {
        due.push_back(std::move(pending.committable));
      } else {
        later.push_back(std::move(pending));
      }
    }
    pending_ = std::move(later);
    if (!due.empty()) check(committer_->commit(due));
  }
  void endInput() override {
    if (!initialized_) initializeWithoutState();
    if (failed_) return;
    check(writer_->finish());
    if (precommitting_ == nullptr || checkpointing_ || failed_) return;
    // Without checkpointing, the end of input commits everything written.
    Result<std::vector<std::string>> prepared = precommitting_->prepareCommit(kNoCheckpointId);
    if (!prepared.isOk()) return check(prepared.status());
    if (!prepared->empty()) check(committer_->commit(*prepared));
  }
  void close() override {
    if (writer_) writer_->close();
  }

  /// The committables prepared and not committed yet (for tests).
  size_t testingPendingCommittables() const { return pending_.size(); }

 private:
  struct Pending {
    int64_t checkpointId;
    std::string committable;
  };

  /// For a runtime that does not call initializeState: a fresh start.
  void initializeWithoutState() {
    initialized_ = true;
    if (precommitting_ != nullptr && !failed_) check(precommitting_->cleanUpUncommitted());
  }
  Status named(const Status& status) {
    if (status.isOk()) return status;
    return status.withContext("sink '" + context().operatorName() + "'");
  }
  void check(const Status& status) {
    if (status.isOk()) return;
    failed_ = true;
    context().failTask(named(status));
  }
  std::shared_ptr<const Sink<T>> sink_;
  std::unique_ptr<SinkWriter<T>> writer_;
  PrecommittingSinkWriter<T>* precommitting_ = nullptr;  // writer_, for a two-phase sink
  std::unique_ptr<SinkCommitter> committer_;
  std::vector<Pending> pending_;  // in checkpoint id order
  bool checkpointing_ = false;
  bool initialized_ = false;
  bool failed_ = false;
};

}  // namespace strom::detail
