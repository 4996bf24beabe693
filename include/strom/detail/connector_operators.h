#pragma once

// The operators that drive the connector SPI: SourceOperator runs a SourceReader, SinkOperator
// a SinkWriter (<strom/source.h>, <strom/sink.h>), including their part in checkpoints.

#include <strom/operator.h>
#include <strom/sink.h>
#include <strom/source.h>
#include <strom/status.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace strom::detail {

/// Drives a SourceReader (created in open() for this subtask): one bounded batch per
/// emitNext().
template <class T>
class SourceOperator final : public SourceOperatorBase {
 public:
  SourceOperator(size_t batchRows, std::shared_ptr<const Source<T>> source)
      : source_(std::move(source)), output_(batchRows), readerOutput_(output_, nullptr) {}
  OutputBase* mainOutput() override { return &output_; }
  void open(OperatorContext& context) override {
    SourceOperatorBase::open(context);
    reader_ = source_->createReader(context.subtaskIndex(), context.parallelism());
    Status status = reader_->open(context);
    if (!status.isOk()) fail(status);
  }
  InputStatus emitNext() override {
    if (failed_) return InputStatus::kEndOfInput;
    Result<InputStatus> result = reader_->pollNext(readerOutput_);
    output_.flush();
    if (!result.isOk()) {
      fail(result.status());
      return InputStatus::kEndOfInput;
    }
    return *result;
  }
  void close() override {
    if (reader_) reader_->close();
  }

 private:
  void fail(const Status& status) {
    failed_ = true;
    context().failTask(status.withContext("source '" + context().operatorName() + "'"));
  }
  std::shared_ptr<const Source<T>> source_;
  std::unique_ptr<SourceReader<T>> reader_;
  Output<T> output_;
  ReaderOutput<T> readerOutput_;
  bool failed_ = false;
};

/// Drives a SinkWriter (created in open() for this subtask): one write per batch.
template <class T>
class SinkOperator final : public StreamOperator, public Input<T> {
 public:
  explicit SinkOperator(std::shared_ptr<const Sink<T>> sink) : sink_(std::move(sink)) {}
  InputBase* input() override { return this; }
  void open(OperatorContext& context) override {
    StreamOperator::open(context);
    writer_ = sink_->createWriter(context.subtaskIndex(), context.parallelism());
    check(writer_->open(context));
  }
  void processBatch(RecordBatch<T>& batch) override {
    if (!failed_) check(writer_->write(batch));
  }
  void processWatermark(int64_t watermark) override { StreamOperator::processWatermark(watermark); }
  void processWatermarkStatus(bool idle) override { StreamOperator::processWatermarkStatus(idle); }
  void endInput() override {
    if (!failed_) check(writer_->finish());
  }
  void close() override {
    if (writer_) writer_->close();
  }

 private:
  void check(const Status& status) {
    if (status.isOk()) return;
    failed_ = true;
    context().failTask(status.withContext("sink '" + context().operatorName() + "'"));
  }
  std::shared_ptr<const Sink<T>> sink_;
  std::unique_ptr<SinkWriter<T>> writer_;
  bool failed_ = false;
};

}  // namespace strom::detail
