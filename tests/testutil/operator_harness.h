#pragma once

// Drives one operator directly, without a task (Flink's OneInputStreamOperatorTestHarness): a
// fake OperatorContext whose processing time the test sets, records and watermarks handed in
// one call each, main and side output collected with their timestamps.

#include <strom/config.h>
#include <strom/metrics.h>
#include <strom/operator.h>
#include <strom/record_batch.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace strom::testing {

/// An OperatorContext for one subtask, with a manual clock: processing-time callbacks run only
/// when the test advances the time with OperatorHarness::setProcessingTime.
class FakeOperatorContext final : public OperatorContext {
 public:
  FakeOperatorContext(int subtaskIndex, int parallelism, int maxParallelism)
      : subtaskIndex_(subtaskIndex), parallelism_(parallelism), maxParallelism_(maxParallelism) {}
  const std::string& operatorName() const override { return name_; }
  const std::string& taskName() const override { return name_; }
  int subtaskIndex() const override { return subtaskIndex_; }
  int parallelism() const override { return parallelism_; }
  int maxParallelism() const override { return maxParallelism_; }
  int attemptNumber() const override { return 0; }
  int64_t currentProcessingTime() override { return now_; }
  void requestProcessingTimeCallback(int64_t time) override {
    if (time < requested_) requested_ = time;
  }
  void failTask(Status status) override { failure_ = std::move(status); }
  const Configuration& configuration() const override { return configuration_; }
  MetricGroup& metricGroup() override { return metrics_; }

  void setNow(int64_t now) { now_ = now; }
  /// Return the earliest requested callback time and forget it, or INT64_MAX.
  int64_t takeRequested() { return std::exchange(requested_, std::numeric_limits<int64_t>::max()); }
  int64_t requested() const { return requested_; }
  const Status& failure() const { return failure_; }

 private:
  std::string name_ = "operator under test";
  int subtaskIndex_;
  int parallelism_;
  int maxParallelism_;
  int64_t now_ = 0;
  int64_t requested_ = std::numeric_limits<int64_t>::max();
  Status failure_;
  Configuration configuration_;
  MetricGroup metrics_;
};

/// Collects what an output hands on: records with their timestamps, and watermarks.
template <class T>
class CollectingInput final : public Input<T> {
 public:
  void processBatch(RecordBatch<T>& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) records.emplace_back(batch[i], batch.timestamp(i));
  }
  void processWatermark(int64_t watermark) override { watermarks.push_back(watermark); }

  std::vector<std::pair<T, int64_t>> records;
  std::vector<int64_t> watermarks;
};

/// Drives `Op` (an operator with input In and main output Out).
template <class In, class Out>
class OperatorHarness {
 public:
  explicit OperatorHarness(std::unique_ptr<StreamOperator> op, int subtaskIndex = 0,
                           int parallelism = 1, int maxParallelism = 128)
      : op_(std::move(op)), context_(subtaskIndex, parallelism, maxParallelism) {}

  /// Declare the side output `tagId` of type X (before open()).
  template <class X>
  CollectingInput<X>& addSideOutput(const std::string& tagId) {
    auto input = std::make_unique<CollectingInput<X>>();
    CollectingInput<X>& result = *input;
    op_->addSideOutput(tagId, std::make_unique<Output<X>>(16));
    Status status = op_->sideOutput(tagId)->connect(result, "side " + tagId);
    if (!status.isOk()) throw std::logic_error(status.message());
    sideInputs_.push_back(std::move(input));
    return result;
  }

  void open() {
    Status status = op_->mainOutput()->connect(main_, "main");
    if (!status.isOk()) throw std::logic_error(status.message());
    op_->open(context_);
  }

  /// Hand in one record (as a batch of one).
  void processElement(In value, int64_t timestamp) {
    RecordBatch<In> batch;
    batch.push(std::move(value), timestamp);
    processBatch(batch);
  }
  void processBatch(RecordBatch<In>& batch) {
    static_cast<Input<In>*>(op_->input())->processBatch(batch);
    op_->flushOutputs();
  }
  void processWatermark(int64_t watermark) {
    op_->processWatermark(watermark);
    op_->flushOutputs();
  }
  /// Advance the manual clock to `now` and run the processing-time callback if one is due
  /// (repeatedly, as the task does, while the operator asks for due times).
  void setProcessingTime(int64_t now) {
    context_.setNow(now);
    for (int i = 0; i < 1'000'000 && context_.requested() <= now; ++i) {
      context_.takeRequested();
      op_->onProcessingTime(now);
    }
    op_->flushOutputs();
  }
  /// End of input: the final watermark, then endInput.
  void endInput() {
    processWatermark(std::numeric_limits<int64_t>::max());
    op_->endInput();
    op_->flushOutputs();
  }

  StreamOperator& op() { return *op_; }
  FakeOperatorContext& context() { return context_; }
  CollectingInput<Out>& output() { return main_; }
  /// Return and clear the main output records.
  std::vector<std::pair<Out, int64_t>> takeOutput() { return std::exchange(main_.records, {}); }

 private:
  std::unique_ptr<StreamOperator> op_;
  FakeOperatorContext context_;
  CollectingInput<Out> main_;
  std::vector<std::unique_ptr<InputBase>> sideInputs_;
};

}  // namespace strom::testing
