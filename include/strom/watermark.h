#pragma once

// Event time: where records get their timestamps and streams their watermarks (Flink's
// WatermarkStrategy and TimestampsAndWatermarksOperator).

#include <strom/config.h>
#include <strom/operators.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>

namespace strom {

/// The configuration key of the interval at which assignTimestampsAndWatermarks() emits
/// watermarks (a duration, default 200 ms; 0 emits after every batch).
inline constexpr const char* kAutoWatermarkIntervalKey = "pipeline.auto-watermark-interval";

namespace detail {
/// The assigner of a strategy without one: records keep the timestamp they carry.
struct RecordTimestampAssigner {
  template <class T>
  int64_t operator()(const T&, int64_t recordTimestamp) const {
    return recordTimestamp;
  }
};
}  // namespace detail

/// How a stream gets event time: a timestamp assigner and a watermark generator that
/// tolerates records arriving up to `outOfOrderness` late (Flink's WatermarkStrategy with
/// BoundedOutOfOrdernessWatermarks). The watermark is the largest timestamp seen minus the
/// out-of-orderness minus 1 ms. `Assigner` is inlined in the operator's loop.
template <class T, class Assigner = detail::RecordTimestampAssigner>
class WatermarkStrategy {
 public:
  /// Watermarks that trail the largest timestamp seen by `maxOutOfOrderness`.
  static WatermarkStrategy forBoundedOutOfOrderness(std::chrono::milliseconds maxOutOfOrderness) {
    return WatermarkStrategy(maxOutOfOrderness, Assigner{});
  }
  /// Ascending timestamps: the watermark trails the largest timestamp seen by 1 ms.
  static WatermarkStrategy forMonotonousTimestamps() {
    return WatermarkStrategy(std::chrono::milliseconds(0), Assigner{});
  }

  /// Return this strategy with `fn` assigning the timestamps: fn(const T& value, int64_t
  /// recordTimestamp) -> int64_t, where recordTimestamp is the record's current timestamp or
  /// kNoTimestamp. An exception thrown by `fn` fails the job.
  template <class F>
  WatermarkStrategy<T, F> withTimestampAssigner(F fn) const {
    return WatermarkStrategy<T, F>(outOfOrderness_, std::move(fn));
  }

  std::chrono::milliseconds outOfOrderness() const { return outOfOrderness_; }
  const Assigner& assigner() const { return assigner_; }

  WatermarkStrategy(std::chrono::milliseconds outOfOrderness, Assigner assigner)
      : outOfOrderness_(outOfOrderness < std::chrono::milliseconds(0) ? std::chrono::milliseconds(0)
                                                                      : outOfOrderness),
        assigner_(std::move(assigner)) {}

 private:
  std::chrono::milliseconds outOfOrderness_;
  Assigner assigner_;
};

namespace detail {

/// Sets each record's timestamp with the strategy's assigner and tracks the largest one; emits
/// the watermark every `pipeline.auto-watermark-interval` of processing time (a callback, no
/// clock read per record), or after every batch when the interval is 0, and only when it
/// advances. Watermarks from upstream are dropped, except the final INT64_MAX (as in Flink).
template <class T, class Assigner>
class TimestampsAndWatermarksOperator final : public OneInputOperator<T, T, NoKeying> {
  using Base = OneInputOperator<T, T, NoKeying>;

 public:
  TimestampsAndWatermarksOperator(size_t batchRows, WatermarkStrategy<T, Assigner> strategy)
      : Base(batchRows, NoKeying{}),
        outOfOrderness_(strategy.outOfOrderness().count()),
        assigner_(strategy.assigner()) {}

  void open(OperatorContext& context) override {
    Base::open(context);
    auto interval = context.configuration().getDuration(kAutoWatermarkIntervalKey,
                                                        std::chrono::milliseconds(200));
    if (!interval.isOk()) {
      context.failTask(interval.status());
      return;
    }
    interval_ = std::max<int64_t>(0, interval->count());
    if (interval_ > 0)
      context.requestProcessingTimeCallback(context.currentProcessingTime() + interval_);
  }

  void processBatch(RecordBatch<T>& batch) override {
    std::span<int64_t> timestamps = batch.mutableTimestamps();
    std::span<T> values = batch.values();
    int64_t maxTimestamp = maxTimestamp_;
    for (size_t i = 0; i < values.size(); ++i) {
      int64_t timestamp = assigner_(static_cast<const T&>(values[i]), timestamps[i]);
      timestamps[i] = timestamp;
      maxTimestamp = std::max(maxTimestamp, timestamp);
    }
    maxTimestamp_ = maxTimestamp;
    this->output_.emit(batch);
    if (interval_ == 0) emitIfAdvanced();
  }

  void onProcessingTime(int64_t now) override {
    emitIfAdvanced();
    this->context().requestProcessingTimeCallback(now + interval_);
  }

  void processWatermark(int64_t watermark) override {
    if (watermark != std::numeric_limits<int64_t>::max() || emitted_ == watermark) return;
    emitted_ = watermark;
    StreamOperator::processWatermark(watermark);
  }

 private:
  void emitIfAdvanced() {
    constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
    if (maxTimestamp_ < kMin + outOfOrderness_ + 1) return;  // nothing seen, or no room below
    int64_t watermark = maxTimestamp_ - outOfOrderness_ - 1;
    if (watermark <= emitted_) return;
    emitted_ = watermark;
    this->emitWatermark(watermark);
  }

  int64_t outOfOrderness_;
  Assigner assigner_;
  int64_t interval_ = 200;
  int64_t maxTimestamp_ = std::numeric_limits<int64_t>::min();
  int64_t emitted_ = std::numeric_limits<int64_t>::min();
};

}  // namespace detail
}  // namespace strom
