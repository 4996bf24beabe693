#pragma once

// Event time: where records get their timestamps and streams their watermarks (Flink's
// WatermarkStrategy, WatermarkGenerator, WatermarksWithIdleness and
// TimestampsAndWatermarksOperator).

#include <strom/config.h>
#include <strom/detail/connector_operators.h>
#include <strom/operators.h>
#include <strom/source.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace strom {

/// The configuration key of the interval at which assignTimestampsAndWatermarks() calls its
/// generator's onPeriodicEmit() (a duration, default 200 ms; 0 calls it after every batch).
inline constexpr const char* kAutoWatermarkIntervalKey = "pipeline.auto-watermark-interval";

/// Where a watermark generator emits (Flink's WatermarkOutput). Implemented by the runtime;
/// valid only during the generator call it is passed to.
class WatermarkOutput {
 public:
  /// Emit the watermark `watermark`: no record with a timestamp <= `watermark` is expected any
  /// more. A watermark that does not advance the last one emitted is dropped. Marks the output
  /// active if it was idle.
  virtual void emitWatermark(int64_t watermark) = 0;
  /// Mark the output idle: downstream operators stop waiting for its watermarks until it emits
  /// a record or a watermark again.
  virtual void markIdle() = 0;
  /// Mark the output active again (a record or a watermark does this too).
  virtual void markActive() = 0;

 protected:
  ~WatermarkOutput() = default;
};

/// Watermarks that trail the largest timestamp seen by `maxOutOfOrderness` + 1 ms, emitted
/// periodically (Flink's BoundedOutOfOrdernessWatermarks). With 0 it is Flink's
/// AscendingTimestampsWatermarks (forMonotonousTimestamps()).
struct BoundedOutOfOrdernessWatermarks {
  explicit BoundedOutOfOrdernessWatermarks(std::chrono::milliseconds maxOutOfOrderness)
      : outOfOrderness(std::max<int64_t>(0, maxOutOfOrderness.count())) {}

  template <class T>
  void onEvent(const T&, int64_t timestamp, WatermarkOutput&) {
    maxTimestamp = std::max(maxTimestamp, timestamp);
  }
  void onPeriodicEmit(WatermarkOutput& output) const {
    constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
    if (maxTimestamp < kMin + outOfOrderness + 1) return;  // nothing seen, or no room below
    output.emitWatermark(maxTimestamp - outOfOrderness - 1);
  }

  int64_t outOfOrderness;
  int64_t maxTimestamp = std::numeric_limits<int64_t>::min();
};

namespace detail {
/// The assigner of a strategy without one: records keep the timestamp they carry.
struct RecordTimestampAssigner {
  template <class T>
  int64_t operator()(const T&, int64_t recordTimestamp) const {
    return recordTimestamp;
  }
};

/// The generator factory of forBoundedOutOfOrderness() and forMonotonousTimestamps().
struct BoundedOutOfOrdernessFactory {
  std::chrono::milliseconds outOfOrderness{0};
  BoundedOutOfOrdernessWatermarks operator()() const {
    return BoundedOutOfOrdernessWatermarks(outOfOrderness);
  }
};
}  // namespace detail

/// How a stream gets event time (Flink's WatermarkStrategy): a timestamp assigner, a factory of
/// the watermark generator (one generator per subtask) and an optional idleness timeout.
///
/// A generator is a class with
///   void onEvent(const T& value, int64_t timestamp, WatermarkOutput& output);
///   void onPeriodicEmit(WatermarkOutput& output);
/// (Flink's WatermarkGenerator). A punctuated generator emits in onEvent: the watermark goes
/// downstream right after that record. A periodic one emits in onPeriodicEmit, called every
/// `pipeline.auto-watermark-interval`. `Assigner` and the generator are held by value and
/// inlined in the operator's loop: no virtual call per record.
template <class T, class Assigner = detail::RecordTimestampAssigner,
          class GeneratorFactory = detail::BoundedOutOfOrdernessFactory>
class WatermarkStrategy {
 public:
  using Generator = decltype(std::declval<const GeneratorFactory&>()());
  using AssignerType = Assigner;
  using GeneratorFactoryType = GeneratorFactory;

  /// Watermarks that trail the largest timestamp seen by `maxOutOfOrderness` (+ 1 ms).
  static WatermarkStrategy forBoundedOutOfOrderness(
      std::chrono::milliseconds maxOutOfOrderness) requires
      std::is_same_v<GeneratorFactory, detail::BoundedOutOfOrdernessFactory> {
    return WatermarkStrategy(maxOutOfOrderness, Assigner{});
  }
  /// Ascending timestamps: the watermark trails the largest timestamp seen by 1 ms.
  static WatermarkStrategy forMonotonousTimestamps() requires
      std::is_same_v<GeneratorFactory, detail::BoundedOutOfOrdernessFactory> {
    return WatermarkStrategy(std::chrono::milliseconds(0), Assigner{});
  }
  /// Watermarks from a user generator: `factory()` returns one (by value) per subtask. Called
  /// on the task thread when the operator opens.
  template <class F>
  static WatermarkStrategy<T, detail::RecordTimestampAssigner, F> forGenerator(F factory) {
    return WatermarkStrategy<T, detail::RecordTimestampAssigner, F>(
        detail::RecordTimestampAssigner{}, std::move(factory), std::chrono::milliseconds(0));
  }

  /// Return this strategy with `fn` assigning the timestamps: fn(const T& value, int64_t
  /// recordTimestamp) -> int64_t, where recordTimestamp is the record's current timestamp or
  /// kNoTimestamp. An exception thrown by `fn` fails the job.
  template <class F>
  WatermarkStrategy<T, F, GeneratorFactory> withTimestampAssigner(F fn) const {
    return WatermarkStrategy<T, F, GeneratorFactory>(std::move(fn), factory_, idleTimeout_);
  }

  /// Return this strategy marking its output idle when no record arrived for `timeout` of
  /// processing time, checked at each periodic emission (Flink's withIdleness). Downstream
  /// operators then stop waiting for its watermarks; the next record makes it active again.
  /// A timeout <= 0 disables idleness.
  WatermarkStrategy withIdleness(std::chrono::milliseconds timeout) const {
    return WatermarkStrategy(assigner_, factory_, timeout);
  }

  /// The out-of-orderness of a built-in strategy.
  std::chrono::milliseconds outOfOrderness()
      const requires std::is_same_v<GeneratorFactory, detail::BoundedOutOfOrdernessFactory> {
    return factory_.outOfOrderness;
  }
  const Assigner& assigner() const { return assigner_; }
  const GeneratorFactory& generatorFactory() const { return factory_; }
  /// The idleness timeout; 0 when idleness is off.
  std::chrono::milliseconds idleTimeout() const { return idleTimeout_; }
  /// Return a new generator.
  Generator createGenerator() const { return factory_(); }

  WatermarkStrategy(std::chrono::milliseconds outOfOrderness, Assigner assigner) requires
      std::is_same_v<GeneratorFactory, detail::BoundedOutOfOrdernessFactory>
      : assigner_(std::move(assigner)),
        factory_{outOfOrderness < std::chrono::milliseconds(0) ? std::chrono::milliseconds(0)
                                                               : outOfOrderness} {}
  WatermarkStrategy(Assigner assigner, GeneratorFactory factory,
                    std::chrono::milliseconds idleTimeout)
      : assigner_(std::move(assigner)),
        factory_(std::move(factory)),
        idleTimeout_(std::max(idleTimeout, std::chrono::milliseconds(0))) {}

 private:
  Assigner assigner_;
  GeneratorFactory factory_;
  std::chrono::milliseconds idleTimeout_{0};
};

namespace detail {

/// Sets each record's timestamp with the strategy's assigner and runs its watermark generator:
/// onEvent per record (inlined), onPeriodicEmit every `pipeline.auto-watermark-interval` of
/// processing time (a callback, no clock read per record) or after every batch when the
/// interval is 0. Watermarks only go forward. Watermarks and watermark statuses from upstream
/// are dropped, except the final INT64_MAX (as in Flink): this operator makes its own.
///
/// A watermark emitted in onEvent for record i goes downstream after records 0..i of the batch
/// and before record i+1; a batch without one is handed on in place.
///
/// With an idleness timeout, a periodic emission that finds no record since the timeout marks
/// the output idle (a watermark-status event) instead of calling onPeriodicEmit; the next
/// record or watermark marks it active before it goes downstream.
template <class T, class Assigner, class GeneratorFactory>
class TimestampsAndWatermarksOperator final : public OneInputOperator<T, T, NoKeying> {
  using Base = OneInputOperator<T, T, NoKeying>;
  using Strategy = WatermarkStrategy<T, Assigner, GeneratorFactory>;
  using Generator = typename Strategy::Generator;

 public:
  TimestampsAndWatermarksOperator(size_t batchRows, const Strategy& strategy)
      : Base(batchRows, NoKeying{}),
        assigner_(strategy.assigner()),
        generator_(strategy.createGenerator()),
        idleTimeout_(strategy.idleTimeout().count()),
        emitter_(*this) {}

  void open(OperatorContext& context) override {
    Base::open(context);
    auto interval = context.configuration().getDuration(kAutoWatermarkIntervalKey,
                                                        std::chrono::milliseconds(200));
    if (!interval.isOk()) {
      context.failTask(interval.status());
      return;
    }
    interval_ = std::max<int64_t>(0, interval->count());
    // Without a periodic interval, idleness is still checked, every timeout.
    checkInterval_ = interval_ > 0 ? interval_ : idleTimeout_;
    int64_t now = context.currentProcessingTime();
    lastActivity_ = now;
    if (checkInterval_ > 0) context.requestProcessingTimeCallback(now + checkInterval_);
  }

  void processBatch(RecordBatch<T>& batch) override {
    std::span<int64_t> timestamps = batch.mutableTimestamps();
    std::span<T> values = batch.values();
    if (values.empty()) return;
    activity_ = true;
    timedOut_ = false;
    if (emitter_.idle) emitter_.markActive();
    emitter_.batch = &batch;
    emitter_.handedOn = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      int64_t timestamp = assigner_(static_cast<const T&>(values[i]), timestamps[i]);
      timestamps[i] = timestamp;
      emitter_.current = i;
      generator_.onEvent(static_cast<const T&>(values[i]), timestamp, emitter_);
    }
    emitter_.batch = nullptr;
    if (emitter_.handedOn == 0) {
      this->output_.emit(batch);  // no watermark inside the batch: hand it on in place
    } else {
      handOn(batch, emitter_.handedOn, values.size());
    }
    if (interval_ == 0) generator_.onPeriodicEmit(emitter_);
  }

  void onProcessingTime(int64_t now) override {
    if (idleTimeout_ > 0) {
      if (activity_) {
        activity_ = false;
        lastActivity_ = now;  // the last record came at most now
      } else if (now - lastActivity_ >= idleTimeout_) {
        timedOut_ = true;
        emitter_.markIdle();
      }
    }
    // Idle by timeout: the generator is not asked (Flink's WatermarksWithIdleness).
    if (interval_ > 0 && !timedOut_) generator_.onPeriodicEmit(emitter_);
    this->context().requestProcessingTimeCallback(now + checkInterval_);
  }

  void processWatermark(int64_t watermark) override {
    if (watermark == std::numeric_limits<int64_t>::max()) emitter_.emitWatermark(watermark);
  }
  void processWatermarkStatus(bool /*idle*/) override {}

 private:
  /// The WatermarkOutput handed to the generator. Inside processBatch, an emission first hands
  /// on the records up to and including the current one.
  class Emitter final : public WatermarkOutput {
   public:
    explicit Emitter(TimestampsAndWatermarksOperator& op) : op_(op) {}

    void emitWatermark(int64_t watermark) override {
      if (watermark <= emitted) return;
      emitted = watermark;
      markActive();
      handOnUpToCurrent();
      op_.emitWatermark(watermark);
    }
    void markIdle() override {
      if (idle) return;
      idle = true;
      handOnUpToCurrent();
      op_.emitWatermarkStatus(true);
    }
    void markActive() override {
      if (!idle) return;
      idle = false;
      handOnUpToCurrent();
      op_.emitWatermarkStatus(false);
    }

    RecordBatch<T>* batch = nullptr;  // the batch being processed, or nullptr
    size_t current = 0;               // its record being processed
    size_t handedOn = 0;              // its records [0, handedOn) went downstream
    int64_t emitted = std::numeric_limits<int64_t>::min();
    bool idle = false;

   private:
    void handOnUpToCurrent() {
      if (batch == nullptr) return;
      op_.handOn(*batch, handedOn, current + 1);
      handedOn = current + 1;
    }
    TimestampsAndWatermarksOperator& op_;
  };

  /// Push records [begin, end) of `batch` (moved out) into the output.
  void handOn(RecordBatch<T>& batch, size_t begin, size_t end) {
    std::span<T> values = batch.values();
    std::span<int64_t> timestamps = batch.mutableTimestamps();
    for (size_t i = begin; i < end; ++i) this->output_.push(std::move(values[i]), timestamps[i]);
  }

  Assigner assigner_;
  Generator generator_;
  int64_t idleTimeout_;
  Emitter emitter_;
  int64_t interval_ = 200;
  int64_t checkInterval_ = 200;
  int64_t lastActivity_ = 0;
  bool activity_ = false;  // a record arrived since the last idleness check
  bool timedOut_ = false;  // idle because no record came for the idleness timeout
};

/// A source with a watermark strategy (fromSource(source, strategy, name); Flink's
/// ProgressiveTimestampsAndWatermarks): the strategy's assigner sets each record's timestamp,
/// each split of the reader has its own watermark generator (records without a split share
/// one), and the source's watermark is the minimum over its splits that are not idle. A new
/// split holds the watermark back until it emits one; a released split no longer counts.
/// Watermarks go downstream after the batch they were generated in; periodic generators are
/// asked every `pipeline.auto-watermark-interval`.
template <class T, class Assigner, class GeneratorFactory>
class SourceWithWatermarksOperator final : public SourceOperatorBase,
                                           private Input<T>,
                                           private SplitListener {
  using Strategy = WatermarkStrategy<T, Assigner, GeneratorFactory>;
  using Generator = typename Strategy::Generator;

 public:
  SourceWithWatermarksOperator(size_t batchRows, std::shared_ptr<const Source<T>> source,
                               Strategy strategy)
      : source_(std::move(source)),
        strategy_(std::move(strategy)),
        assigner_(strategy_.assigner()),
        idleTimeout_(strategy_.idleTimeout().count()),
        staging_(batchRows),
        output_(batchRows),
        readerOutput_(staging_, this) {}

  OutputBase* mainOutput() override { return &output_; }

  void open(OperatorContext& context) override {
    SourceOperatorBase::open(context);
    Status wired = staging_.connect(static_cast<Input<T>&>(*this), context.operatorName());
    if (!wired.isOk()) return fail(wired);
    auto interval = context.configuration().getDuration(kAutoWatermarkIntervalKey,
                                                        std::chrono::milliseconds(200));
    if (!interval.isOk()) return fail(interval.status());
    interval_ = std::max<int64_t>(0, interval->count());
    checkInterval_ = interval_ > 0 ? interval_ : idleTimeout_;
    if (checkInterval_ > 0) {
      context.requestProcessingTimeCallback(context.currentProcessingTime() + checkInterval_);
    }
    reader_ = source_->createReader(context.subtaskIndex(), context.parallelism());
  }

  /// Restore the reader's splits (when restored), then open it (see SourceOperator).
  Status initializeState(StateInitializationContext& state) override {
    if (failed_) return Status::ok();  // open() failed the task already
    opened_ = true;
    Status status = detail::initializeSourceReader(*reader_, state, context());
    if (!status.isOk()) {
      failed_ = true;
      return named(status);
    }
    return Status::ok();
  }

  Status snapshotState(StateSnapshotContext& state) override {
    if (!opened_ && !failed_) openWithoutState();
    if (failed_) return named(Status::failedPrecondition("the source failed"));
    Status status = detail::snapshotSourceReader(*reader_, state);
    return status.isOk() ? status : named(status);
  }

  void notifyCheckpointComplete(int64_t checkpointId) override {
    if (reader_ && opened_ && !failed_) reader_->notifyCheckpointComplete(checkpointId);
  }

  InputStatus emitNext() override {
    if (!opened_ && !failed_) openWithoutState();
    if (failed_) return InputStatus::kEndOfInput;
    Result<InputStatus> result = reader_->pollNext(readerOutput_);
    staging_.flush();
    if (!result.isOk()) {
      fail(result.status());
      return InputStatus::kEndOfInput;
    }
    return *result;
  }

  void onProcessingTime(int64_t now) override {
    for (std::optional<Split>& split : splits_) {
      if (!split) continue;
      if (idleTimeout_ > 0) {
        if (split->activity) {
          split->activity = false;
          split->lastActivity = now;
        } else if (now - split->lastActivity >= idleTimeout_) {
          split->timedOut = true;
          split->output.markIdle();
        }
      }
      if (interval_ > 0 && !split->timedOut) split->generator.onPeriodicEmit(split->output);
    }
    emitCombined();
    context().requestProcessingTimeCallback(now + checkInterval_);
  }

  void close() override {
    if (reader_) reader_->close();
  }

 private:
  /// What one split's generator emits into: its own watermark and idleness.
  struct SplitOutput final : WatermarkOutput {
    void emitWatermark(int64_t w) override {
      if (w > watermark) watermark = w;
      idle = false;
    }
    void markIdle() override { idle = true; }
    void markActive() override { idle = false; }
    int64_t watermark = std::numeric_limits<int64_t>::min();
    bool idle = false;
  };
  struct Split {
    explicit Split(Generator g, int64_t now) : generator(std::move(g)), lastActivity(now) {}
    Generator generator;
    SplitOutput output;
    bool activity = false;
    bool timedOut = false;
    int64_t lastActivity;
  };

  // SplitListener: slot -1 (records without a split) is index 0.
  void onSplitAdded(int slot) override { ensureSplit(slot); }
  void onSplitReleased(int slot) override {
    splits_[static_cast<size_t>(slot + 1)].reset();
    emitCombined();
  }
  Split& ensureSplit(int slot) {
    const size_t index = static_cast<size_t>(slot + 1);
    if (index >= splits_.size()) splits_.resize(index + 1);
    if (!splits_[index]) {
      splits_[index].emplace(strategy_.createGenerator(), context().currentProcessingTime());
    }
    return *splits_[index];
  }

  // Input<T>: a full or flushed batch of the reader. Timestamps and generators per split run,
  // then the batch goes downstream in place, followed by the combined watermark.
  void processBatch(RecordBatch<T>& batch) override {
    const std::vector<std::pair<size_t, int>>& runs = readerOutput_.runs();
    std::span<T> values = batch.values();
    std::span<int64_t> timestamps = batch.mutableTimestamps();
    for (size_t r = 0; r < runs.size(); ++r) {
      const size_t begin = std::min(runs[r].first, values.size());
      const size_t end =
          r + 1 < runs.size() ? std::min(runs[r + 1].first, values.size()) : values.size();
      if (begin == end) continue;
      Split& split = ensureSplit(runs[r].second);
      split.activity = true;
      if (split.timedOut) {
        split.timedOut = false;
        split.output.markActive();
      }
      for (size_t i = begin; i < end; ++i) {
        const int64_t timestamp = assigner_(static_cast<const T&>(values[i]), timestamps[i]);
        timestamps[i] = timestamp;
        split.generator.onEvent(static_cast<const T&>(values[i]), timestamp, split.output);
      }
      if (interval_ == 0) split.generator.onPeriodicEmit(split.output);
    }
    readerOutput_.resetRuns();
    output_.emit(batch);
    emitCombined();
  }

  /// Emit the minimum watermark over the splits that are not idle, if it advanced; mark the
  /// source idle when every split is.
  void emitCombined() {
    int64_t minimum = std::numeric_limits<int64_t>::max();
    bool anyActive = false;
    bool anySplit = false;
    for (const std::optional<Split>& split : splits_) {
      if (!split) continue;
      anySplit = true;
      if (split->output.idle) continue;
      anyActive = true;
      minimum = std::min(minimum, split->output.watermark);
    }
    if (!anySplit) return;
    if (!anyActive) {
      if (!idle_) {
        idle_ = true;
        output_.emitWatermarkStatus(true);
      }
      return;
    }
    if (idle_) {
      idle_ = false;
      output_.emitWatermarkStatus(false);
    }
    if (minimum > emitted_ && minimum != std::numeric_limits<int64_t>::min()) {
      emitted_ = minimum;
      output_.emitWatermark(minimum);
    }
  }

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
  Strategy strategy_;
  Assigner assigner_;
  int64_t idleTimeout_;
  Output<T> staging_;  // what the reader writes into; delivers to processBatch
  Output<T> output_;   // downstream
  ReaderOutput<T> readerOutput_;
  std::unique_ptr<SourceReader<T>> reader_;
  std::vector<std::optional<Split>> splits_;  // by slot + 1
  int64_t interval_ = 200;
  int64_t checkInterval_ = 200;
  int64_t emitted_ = std::numeric_limits<int64_t>::min();
  bool idle_ = false;
  bool opened_ = false;
  bool failed_ = false;
};

}  // namespace detail
}  // namespace strom
