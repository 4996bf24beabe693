#pragma once

// The window operator (Flink's WindowOperator and EvictingWindowOperator, plus a pane-based
// path for sliding windows).
//
// State, all in the operator's HeapKeyedStateBackend (so that it is snapshotted per key group):
// - "window-contents": MapState<W, Contents>, where Contents is the accumulator (reduce: T,
//   aggregate: ACC) or, with an evictor or a ProcessWindowFunction without pre-aggregation,
//   the window's elements with their timestamps (WindowElements<T>);
// - "window-merging-set": MapState<W, W>, for merging assigners (sessions): each window of the
//   key mapped to the window whose contents hold its state (Flink's MergingWindowSet);
// - "window-panes": ValueState<PaneQueue<ACC>>, on the pane path: the key's partial aggregates
//   per pane, in start order, with two-stack aggregates over them;
// - trigger state, such as CountTrigger's "count-trigger" MapState<W, int64_t>.
// Timers are (key, window, time) in KeyedTimerQueue<K, W>, one queue per time domain, kept per
// key group.
//
// Pane path: sliding event-time windows with reduce or aggregate (and their process
// combinations), the default trigger, no evictor and no allowed lateness keep one partial
// aggregate per pane of gcd(size, slide) instead of adding each record to size / slide
// windows. A record costs one pane update and one timer-set lookup, whatever size and slide;
// a firing costs O(1) amortized merges (two stacks, see PaneQueue), whatever size / pane.
//
// Per record on the default path: one key lookup (Keying), one map lookup per assigned window,
// the trigger inlined (no virtual call), no allocation beyond amortized map growth.

#include <strom/detail/keyed_state_backend.h>
#include <strom/detail/timer_queue.h>
#include <strom/functions.h>
#include <strom/operator.h>
#include <strom/operators.h>
#include <strom/state.h>
#include <strom/window_types.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace strom::detail {

/// What a WindowedStream configures besides its assigner, trigger and evictor.
struct WindowConfig {
  int64_t allowedLateness = 0;
  std::string lateDataTag;  // empty: late records are dropped (and counted)
};

template <class F, class T>
T invokeReduce(F& fn, const T& a, const T& b) {
  if constexpr (requires { fn.reduce(a, b); }) {
    return fn.reduce(a, b);
  } else {
    return fn(a, b);
  }
}

/// reduce(f): the accumulator is the reduced value.
template <class T, class F>
struct ReduceAggregation {
  using Acc = T;
  using Result = T;
  F fn;
  Acc first(const T& value) { return value; }
  void add(Acc& acc, const T& value) { acc = invokeReduce(fn, static_cast<const T&>(acc), value); }
  void merge(Acc& into, const Acc& from) {
    into = invokeReduce(fn, static_cast<const T&>(into), from);
  }
  const Result& result(const Acc& acc) { return acc; }
};

/// aggregate(f): createAccumulator / add / getResult / merge.
template <class T, class F>
struct AggregateAggregation {
  using Acc = std::decay_t<decltype(std::declval<F&>().createAccumulator())>;
  using Result = std::decay_t<decltype(std::declval<F&>().getResult(std::declval<const Acc&>()))>;
  F fn;
  Acc first(const T& value) { return fn.add(value, fn.createAccumulator()); }
  void add(Acc& acc, const T& value) { acc = fn.add(value, std::move(acc)); }
  void merge(Acc& into, Acc from) { into = fn.merge(std::move(into), std::move(from)); }
  Result result(const Acc& acc) { return fn.getResult(acc); }
};

/// process(f) alone: the window keeps its elements.
struct NoAggregation {
  using Acc = int;
};

/// No window function after the aggregation: results are emitted as they are.
struct NoProcess {};

/// A ProcessWindowFunction (or ProcessAllWindowFunction) after the aggregation, or alone.
template <class P>
struct ProcessAdapter {
  P fn;
};

/// The panes of one key on the pane path, in start order, with the two-stack aggregation
/// that makes a sliding window's result cost O(1) amortized merges however many panes it
/// spans: the front [head, mid) keeps suffix aggregates, the back [mid, tail) one running
/// aggregate; panes from tail on are not aggregated yet. A window [s, e) is then
/// suffix[first pane >= s] merged with the back, once the tail reached e. An update of an
/// already aggregated pane (a record behind the watermark, still in a later window) drops the
/// aggregates, which the next firing rebuilds.
template <class Acc>
struct PaneQueue {
  /// One pane: its start, its aggregate, and (in [head, mid)) the suffix aggregate from it on.
  /// Kept in one vector, so that a key's panes are one allocation (a key with few panes, the
  /// common case, costs one cache miss per firing, not one per array).
  struct Pane {
    int64_t start = 0;
    Acc acc;
    std::optional<Acc> suffix;
  };
  std::vector<Pane> panes;
  std::optional<Acc> back;  // the merge of [mid, tail)
  size_t head = 0;
  size_t mid = 0;
  size_t tail = 0;

  bool empty() const { return head == panes.size(); }
  int64_t firstStart() const { return panes[head].start; }
  void invalidate() {
    mid = head;
    tail = head;
    back.reset();
  }
  /// Return the accumulator of the pane starting at `start`, or nullptr; `insertAt` gets the
  /// position where it would go.
  Acc* find(int64_t start, size_t& insertAt) {
    size_t pos = panes.size();
    while (pos > head && panes[pos - 1].start > start) --pos;
    insertAt = pos;
    if (pos > head && panes[pos - 1].start == start) {
      if (pos - 1 < tail) invalidate();
      return &panes[pos - 1].acc;
    }
    return nullptr;
  }
  void insert(size_t pos, int64_t start, Acc acc) {
    if (pos < tail) invalidate();
    panes.insert(panes.begin() + static_cast<std::ptrdiff_t>(pos),
                 Pane{start, std::move(acc), std::nullopt});
  }
  /// Drop the panes that start before `start`.
  template <class Agg>
  void popBefore(int64_t start, Agg& agg) {
    while (head < panes.size() && panes[head].start < start) {
      if (head == mid) flip(agg);
      panes[head].suffix.reset();
      ++head;
    }
    if (head == panes.size()) {
      *this = PaneQueue();
    } else if (head > 64 && head * 2 > panes.size()) {
      compact();
    }
  }
  /// Return the merge of the panes in [head, end of the window `end`), or nullopt.
  template <class Agg>
  std::optional<Acc> aggregateUntil(int64_t end, Agg& agg) {
    if (tail < mid) tail = mid;
    while (tail < panes.size() && panes[tail].start < end) {
      if (back) {
        agg.merge(*back, Acc(panes[tail].acc));
      } else {
        back.emplace(panes[tail].acc);
      }
      ++tail;
    }
    std::optional<Acc> result;
    if (head < mid) result.emplace(*panes[head].suffix);
    if (back) {
      if (result) {
        agg.merge(*result, Acc(*back));
      } else {
        result.emplace(*back);
      }
    }
    return result;
  }

 private:
  // Move the back into the front: suffix aggregates over [head, tail).
  template <class Agg>
  void flip(Agg& agg) {
    std::optional<Acc> running;
    for (size_t i = tail; i-- > head;) {
      Acc acc = panes[i].acc;
      if (running) agg.merge(acc, Acc(*running));
      running = acc;
      panes[i].suffix = std::move(acc);
    }
    mid = tail;
    back.reset();
  }
  void compact() {
    panes.erase(panes.begin(), panes.begin() + static_cast<std::ptrdiff_t>(head));
    mid -= head;
    tail -= head;
    head = 0;
  }
};

}  // namespace strom::detail

namespace strom {

/// A key's panes in keyed-state snapshots (docs/formats.md §6, "Window state values"): the
/// panes from head on, in start order, with their aggregates; the two-stack aggregates are not
/// written (a restored queue rebuilds them at its next firing, as after an out-of-order update):
///
///   paneQueue := varint(count) (start:i64 acc:ACC){count}
template <Serializable Acc>
struct TypeSerializer<detail::PaneQueue<Acc>> {
  static constexpr size_t kMinSize = 1;
  static void serialize(const detail::PaneQueue<Acc>& queue, DataOutput& out) {
    out.writeVarint(queue.panes.size() - queue.head);
    for (size_t i = queue.head; i < queue.panes.size(); ++i) {
      out.writeFixed(queue.panes[i].start);
      TypeSerializer<Acc>::serialize(queue.panes[i].acc, out);
    }
  }
  [[nodiscard]] static bool deserialize(DataInput& in, detail::PaneQueue<Acc>& queue) {
    size_t count = 0;
    if (!detail::readCount(in, sizeof(int64_t) + detail::minSerializedSize<Acc>(), count)) {
      return false;
    }
    queue = detail::PaneQueue<Acc>();
    queue.panes.resize(count);
    for (auto& pane : queue.panes) {
      if (!in.readFixed(pane.start) || !TypeSerializer<Acc>::deserialize(in, pane.acc)) {
        return false;
      }
    }
    for (size_t i = 1; i < count; ++i) {
      if (queue.panes[i - 1].start >= queue.panes[i].start) return in.fail();  // not in order
    }
    return true;
  }
};

}  // namespace strom

namespace strom::detail {

template <class K, class T, class Out, class Selector, class Assigner, class Trig, class Evict,
          class Agg, class Proc>
class WindowOperator final : public OneInputOperator<T, Out, Keying<K, Selector>> {
  using Base = OneInputOperator<T, Out, Keying<K, Selector>>;
  using W = typename Assigner::Window;
  static constexpr bool kEventTime = Assigner::kEventTime;
  static constexpr bool kMerging = Assigner::kMerging;
  static constexpr bool kHasEvictor = !std::is_same_v<Evict, NoEvictor>;
  static constexpr bool kAggregates = !std::is_same_v<Agg, NoAggregation>;
  static constexpr bool kKeepsElements = kHasEvictor || !kAggregates;
  static constexpr bool kProcess = !std::is_same_v<Proc, NoProcess>;
  static constexpr bool kPaneCapable = std::is_same_v<Assigner, SlidingEventTimeWindows> &&
                                       std::is_same_v<Trig, EventTimeTrigger> && !kHasEvictor &&
                                       kAggregates;
  using Acc = typename Agg::Acc;
  using Contents = std::conditional_t<kKeepsElements, WindowElements<T>, Acc>;
  using Timer = typename KeyedTimerQueue<K, W>::Timer;

 public:
  WindowOperator(size_t batchRows, Selector selector, Assigner assigner, Trig trigger,
                 Evict evictor, WindowConfig config, Agg agg, Proc proc)
      : Base(batchRows, Keying<K, Selector>(std::move(selector))),
        assigner_(std::move(assigner)),
        trigger_(std::move(trigger)),
        evictor_(std::move(evictor)),
        config_(std::move(config)),
        agg_(std::move(agg)),
        proc_(std::move(proc)),
        triggerContext_(*this),
        windowContext_(*this),
        collector_(&this->output_) {}

  void open(OperatorContext& context) override {
    Base::open(context);
    KeyedStateBackend& backend = *this->keys_.backend();
    const KeyGroupRange range = backend.keyGroupRange();
    eventTimers_ = KeyedTimerQueue<K, W>(range, backend.maxParallelism());
    processingTimers_ = KeyedTimerQueue<K, W>(range, backend.maxParallelism());
    contents_ = &backend.getMapState(MapStateDescriptor<W, Contents>("window-contents"));
    if constexpr (kMerging) {
      mergingSet_ = &backend.getMapState(MapStateDescriptor<W, W>("window-merging-set"));
    }
    if constexpr (kPaneCapable) {
      usePanes_ = config_.allowedLateness == 0;
      paneSize_ = std::gcd(assigner_.size, assigner_.slide);
      panes_ = &backend.getState(ValueStateDescriptor<PaneQueue<Acc>>("window-panes"));
    }
    if constexpr (requires { trigger_.template open<W>(backend); }) {
      trigger_.template open<W>(backend);
    }
    if (!config_.lateDataTag.empty()) {
      OutputBase* out = this->sideOutput(config_.lateDataTag);
      if (out != nullptr && out->recordType() == typeid(T))
        lateOutput_ = static_cast<Output<T>*>(out);
    }
    lateRecordsDropped_ = &context.metricGroup().counter("numLateRecordsDropped");
    this->keys_.addTimerQueue("window-event-timers", eventTimers_);
    this->keys_.addTimerQueue("window-processing-timers", processingTimers_);
    if constexpr (kAggregates) this->openUserFunction(agg_.fn);
    if constexpr (kProcess) this->openUserFunction(proc_.fn);
  }

  void close() override {
    if constexpr (kAggregates) closeFunction(agg_.fn);
    if constexpr (kProcess) closeFunction(proc_.fn);
  }

  void processBatch(RecordBatch<T>& batch) override {
    this->keys_.beginBatch(this->context());
    now_ = this->keys_.backend()->currentTime();  // the clock, read once for the batch
    const size_t n = batch.size();
    for (size_t i = 0; i < n; ++i) {
      const T& value = batch[i];
      const int64_t timestamp = batch.timestamp(i);
      if constexpr (kEventTime) {
        if (timestamp == kNoTimestamp) [[unlikely]] {
          throw std::runtime_error(
              "event-time window: a record has no timestamp (call "
              "assignTimestampsAndWatermarks before the window)");
        }
      }
      this->keys_.setKeyOf(value);
      bool skipped = true;
      if constexpr (kPaneCapable) {
        if (usePanes_) {
          skipped = !addToPane(value, timestamp);
          if (skipped && isElementLate(timestamp)) late(value, timestamp);
          continue;
        }
      }
      assigner_.assignWindows(value, timestamp, now_, [&](const W& window) {
        if (addToWindow(value, timestamp, window)) skipped = false;
      });
      if (skipped && isElementLate(timestamp)) late(value, timestamp);
    }
    this->flushOutputs();
  }

  /// Fire the event-time timers due at `watermark`, in time order, then forward it.
  void processWatermark(int64_t watermark) override {
    if (watermark <= watermark_) return;
    watermark_ = watermark;
    if (eventTimers_.nextTime() <= watermark) {
      this->keys_.beginBatch(this->context());
      now_ = this->keys_.backend()->currentTime();
      while (auto timer = eventTimers_.pollDue(watermark)) {
        this->keys_.setKey(timer->key);
        onTimer(*timer, /*eventTime=*/true);
        this->keys_.maybeEvict();
      }
      this->flushOutputs();
    }
    StreamOperator::processWatermark(watermark);
  }

  void onProcessingTime(int64_t now) override {
    this->keys_.beginBatch(this->context());
    now_ = now;
    while (auto timer = processingTimers_.pollDue(now)) {
      this->keys_.setKey(timer->key);
      onTimer(*timer, /*eventTime=*/false);
      this->keys_.maybeEvict();
    }
    requestedTime_ = processingTimers_.nextTime();
    if (requestedTime_ != INT64_MAX) this->context().requestProcessingTimeCallback(requestedTime_);
    this->flushOutputs();
  }

  /// Return the number of late records dropped (late for every window, and no late-data side
  /// output declared or consumed); also the operator counter "numLateRecordsDropped".
  int64_t numLateRecordsDropped() const { return lateRecordsDropped_->getCount(); }
  /// Return the number of registered event-time and processing-time timers.
  size_t numEventTimeTimers() const { return eventTimers_.size(); }
  size_t numProcessingTimeTimers() const { return processingTimers_.size(); }
  /// Return whether the pane path is used (sliding windows with reduce or aggregate).
  bool usesPanes() const { return usePanes_; }

 protected:
  /// Ask for the processing-time callback of the earliest restored timer.
  void onStateRestored() override {
    requestedTime_ = processingTimers_.nextTime();
    if (requestedTime_ != INT64_MAX) this->context().requestProcessingTimeCallback(requestedTime_);
  }

 private:
  // The trigger's view of the operator, for the current key and window. Final, so the
  // built-in triggers' calls through it are direct.
  class Context final : public TriggerContext<W> {
   public:
    explicit Context(WindowOperator& op) : op_(op) {}
    int64_t currentProcessingTime() override { return op_.now_; }
    int64_t currentWatermark() override { return op_.watermark_; }
    void registerProcessingTimeTimer(int64_t time) override {
      op_.registerProcessingTimer(*window_, time);
    }
    void deleteProcessingTimeTimer(int64_t time) override {
      op_.processingTimers_.remove(op_.keys_.currentKey(), *window_, time);
    }
    void registerEventTimeTimer(int64_t time) override {
      op_.eventTimers_.add(op_.keys_.currentKey(), op_.keys_.backend()->currentKeyHash(), *window_,
                           time);
    }
    void deleteEventTimeTimer(int64_t time) override {
      op_.eventTimers_.remove(op_.keys_.currentKey(), *window_, time);
    }
    const W& window() const override { return *window_; }
    std::span<const W> mergedWindows() const override { return merged_; }
    KeyedStateBackend& stateBackend() override { return *op_.keys_.backend(); }

    void setWindow(const W* window) { window_ = window; }
    void setMerged(std::span<const W> merged) { merged_ = merged; }

   private:
    WindowOperator& op_;
    const W* window_ = nullptr;
    std::span<const W> merged_;
  };

  // ---- Lateness and cleanup (Flink's isWindowLate, isElementLate, cleanupTime) ----

  static int64_t saturatingAdd(int64_t a, int64_t b) {
    return a > std::numeric_limits<int64_t>::max() - b ? std::numeric_limits<int64_t>::max()
                                                       : a + b;
  }
  int64_t cleanupTime(const W& window) const {
    if constexpr (kEventTime) return saturatingAdd(window.maxTimestamp(), config_.allowedLateness);
    return window.maxTimestamp();
  }
  bool isWindowLate(const W& window) const {
    return kEventTime && cleanupTime(window) <= watermark_;
  }
  bool isElementLate(int64_t timestamp) const {
    return kEventTime && saturatingAdd(timestamp, config_.allowedLateness) <= watermark_;
  }
  void late(const T& value, int64_t timestamp) {
    if (lateOutput_ != nullptr) {
      lateOutput_->push(value, timestamp);
    } else {
      lateRecordsDropped_->inc();
    }
  }
  void registerCleanupTimer(const W& window) {
    const int64_t time = cleanupTime(window);
    if (time == std::numeric_limits<int64_t>::max()) return;  // no timer at the end of time
    triggerContext_.setWindow(&window);
    if constexpr (kEventTime) {
      triggerContext_.registerEventTimeTimer(time);
    } else {
      triggerContext_.registerProcessingTimeTimer(time);
    }
  }
  void deleteCleanupTimer(const W& window) {
    const int64_t time = cleanupTime(window);
    if (time == std::numeric_limits<int64_t>::max()) return;
    triggerContext_.setWindow(&window);
    if constexpr (kEventTime) {
      triggerContext_.deleteEventTimeTimer(time);
    } else {
      triggerContext_.deleteProcessingTimeTimer(time);
    }
  }
  void registerProcessingTimer(const W& window, int64_t time) {
    if (processingTimers_.add(this->keys_.currentKey(), this->keys_.backend()->currentKeyHash(),
                              window, time) &&
        time < requestedTime_) {
      requestedTime_ = time;
      this->context().requestProcessingTimeCallback(time);
    }
  }

  // ---- Contents ----

  /// Add the element to the contents of `stateWindow`; return whether they existed before.
  bool addToContents(const W& stateWindow, const T& value, int64_t timestamp) {
    if (Contents* contents = contents_->getPtrForUpdate(stateWindow)) {
      if constexpr (kKeepsElements) {
        contents->add(value, timestamp);
      } else {
        agg_.add(*contents, value);
      }
      return true;
    }
    if constexpr (kKeepsElements) {
      WindowElements<T> elements;
      elements.add(value, timestamp);
      contents_->put(stateWindow, std::move(elements));
    } else {
      contents_->put(stateWindow, agg_.first(value));
    }
    return false;
  }
  void mergeContents(Contents& into, Contents&& from) {
    if constexpr (kKeepsElements) {
      into.append(std::move(from));
    } else {
      agg_.merge(into, std::move(from));
    }
  }

  /// Add the element to `window` unless the window is late; return whether it was added.
  bool addToWindow(const T& value, int64_t timestamp, const W& assigned) {
    W window = assigned;
    W stateWindow = assigned;
    if constexpr (kMerging) {
      window = addMergingWindow(assigned, stateWindow);
      if (isWindowLate(window)) {
        mergingSet_->remove(window);
        return false;
      }
    } else {
      if (isWindowLate(window)) return false;
    }
    const bool existed = addToContents(stateWindow, value, timestamp);
    if constexpr (std::is_same_v<Trig, EventTimeTrigger>) {
      // The default trigger's timer and the cleanup timer were registered with the window's
      // first element, and only go (clear, or firing at cleanup time) with its contents: skip
      // the two timer-set lookups per record. A merged window (sessions) had its trigger timer
      // registered by onMerge, which is also its cleanup timer when there is no allowed
      // lateness.
      if (existed && (!kMerging || config_.allowedLateness == 0)) {
        if (window.maxTimestamp() <= watermark_) emitWindow(window, stateWindow);
        return true;
      }
    }
    triggerContext_.setWindow(&window);
    TriggerResult result = trigger_.onElement(value, timestamp, window, triggerContext_);
    if (isFire(result)) emitWindow(window, stateWindow);
    if (isPurge(result)) contents_->remove(stateWindow);
    registerCleanupTimer(window);
    return true;
  }

  void onTimer(const Timer& timer, bool eventTime) {
    if constexpr (kPaneCapable) {
      if (usePanes_) {
        if (eventTime) firePaneWindow(timer.ns);
        return;
      }
    }
    const W& window = timer.ns;
    W stateWindow = window;
    if constexpr (kMerging) {
      const W* mapped = mergingSet_->getPtr(window);
      if (mapped == nullptr) return;  // the window was merged away
      stateWindow = *mapped;
    }
    triggerContext_.setWindow(&window);
    TriggerResult result = eventTime
                               ? trigger_.onEventTime(timer.time, window, triggerContext_)
                               : trigger_.onProcessingTime(timer.time, window, triggerContext_);
    if (isFire(result)) emitWindow(window, stateWindow);
    if (isPurge(result)) contents_->remove(stateWindow);
    if (eventTime == kEventTime && timer.time == cleanupTime(window)) {
      contents_->remove(stateWindow);
      triggerContext_.setWindow(&window);
      trigger_.clear(window, triggerContext_);
      if constexpr (kMerging) mergingSet_->remove(window);
    }
  }

  // ---- Merging (Flink's MergingWindowSet.addWindow with TimeWindow.mergeWindows) ----

  /// Add `newWindow` to the key's merging set, merging it with the windows it overlaps;
  /// return the window it ended up in, and set `stateWindow` to the window its state lives in.
  W addMergingWindow(const W& newWindow, W& stateWindowOut) {
    windows_.clear();
    for (const auto& entry : mergingSet_->entries()) windows_.push_back(entry.first);
    windows_.push_back(newWindow);
    std::sort(windows_.begin(), windows_.end(),
              [](const W& a, const W& b) { return a.start < b.start; });
    // The existing windows never overlap each other: only the group of newWindow can merge.
    size_t groupBegin = 0;
    size_t groupEnd = 0;
    W result = newWindow;
    for (size_t i = 0; i < windows_.size();) {
      W cover = windows_[i];
      size_t j = i + 1;
      while (j < windows_.size() && cover.intersects(windows_[j]))
        cover = cover.cover(windows_[j++]);
      bool hasNew = false;
      for (size_t k = i; k < j; ++k) hasNew = hasNew || windows_[k] == newWindow;
      if (hasNew) {
        groupBegin = i;
        groupEnd = j;
        result = cover;
        break;
      }
      i = j;
    }
    merged_.clear();
    bool removedNew = false;
    for (size_t k = groupBegin; k < groupEnd; ++k) {
      if (!removedNew && windows_[k] == newWindow) {
        removedNew = true;
        continue;
      }
      merged_.push_back(windows_[k]);
    }
    if (merged_.empty()) {
      mergingSet_->put(newWindow, newWindow);
      stateWindowOut = newWindow;
      return newWindow;
    }
    const W stateWindow = *mergingSet_->getPtr(merged_.front());
    stateWindowOut = stateWindow;
    if (merged_.size() == 1 && merged_.front() == result) return result;  // inside a window
    stateWindows_.clear();
    for (const W& m : merged_) {
      if (const W* s = mergingSet_->getPtr(m)) {
        if (!(*s == stateWindow)) stateWindows_.push_back(*s);
        mergingSet_->remove(m);
      }
    }
    mergingSet_->put(result, stateWindow);
    // Flink's merge function: trigger onMerge, clear the merged windows' triggers and
    // cleanup timers, merge their contents into the state window.
    triggerContext_.setWindow(&result);
    triggerContext_.setMerged(merged_);
    trigger_.onMerge(result, triggerContext_);
    triggerContext_.setMerged({});
    for (const W& m : merged_) {
      triggerContext_.setWindow(&m);
      trigger_.clear(m, triggerContext_);
      // The default trigger's clear deleted the timer at maxTimestamp, which is the cleanup
      // timer too when there is no allowed lateness.
      if (!std::is_same_v<Trig, EventTimeTrigger> || config_.allowedLateness != 0) {
        deleteCleanupTimer(m);
      }
    }
    for (const W& source : stateWindows_) {
      Contents* from = contents_->getPtrForUpdate(source);
      if (from == nullptr) continue;
      Contents moved = std::move(*from);
      contents_->remove(source);
      if (Contents* into = contents_->getPtrForUpdate(stateWindow)) {
        mergeContents(*into, std::move(moved));
      } else {
        contents_->put(stateWindow, std::move(moved));
      }
    }
    return result;
  }

  // ---- Emitting ----

  void emitWindow(const W& window, const W& stateWindow) {
    Contents* contents = contents_->getPtrForUpdate(stateWindow);
    if (contents == nullptr) return;
    if constexpr (kKeepsElements) {
      if constexpr (kHasEvictor) evictor_.evictBefore(*contents, window);
      if constexpr (kAggregates) {
        if (!contents->empty()) {
          Acc acc = agg_.first(contents->values[0]);
          for (size_t i = 1; i < contents->size(); ++i) agg_.add(acc, contents->values[i]);
          emitValue(window, agg_.result(acc));
        }
      } else {
        callProcess(window, std::span<const T>(contents->values));
      }
      if constexpr (kHasEvictor) {
        // The process function may have written state: look the contents up again.
        contents = contents_->getPtrForUpdate(stateWindow);
        if (contents != nullptr) {
          evictor_.evictAfter(*contents, window);
          if (contents->empty()) contents_->remove(stateWindow);
        }
      }
    } else {
      emitValue(window, agg_.result(*contents));
    }
  }

  template <class R>
  void emitValue(const W& window, R&& result) {
    if constexpr (kProcess) {
      const std::decay_t<R>& value = result;
      callProcess(window, std::span<const std::decay_t<R>>(&value, 1));
    } else {
      this->output_.push(Out(std::forward<R>(result)), window.maxTimestamp());
    }
  }

  template <class X>
  void callProcess(const W& window, std::span<const X> elements) {
    if constexpr (kProcess) {
      windowContext_.set(&window, watermark_, now_);
      collector_.setTimestamp(window.maxTimestamp());
      auto& fn = proc_.fn;
      if constexpr (requires {
                      fn.apply(this->keys_.currentKey(), window, elements, collector_);
                    }) {
        fn.apply(this->keys_.currentKey(), window, elements, collector_);
      } else if constexpr (requires {
                             fn.process(this->keys_.currentKey(), windowContext_, elements,
                                        collector_);
                           }) {
        fn.process(this->keys_.currentKey(), windowContext_, elements, collector_);
      } else {
        fn.process(windowContext_, elements, collector_);
      }
    }
  }

  // ---- Pane path (sliding event-time windows with reduce/aggregate) ----

  /// Add the element to its pane; return false if every window of it is late.
  bool addToPane(const T& value, int64_t timestamp) {
    if constexpr (kPaneCapable) {
      const int64_t size = assigner_.size;
      const int64_t slide = assigner_.slide;
      const int64_t lastStart = windowStartWithOffset(timestamp, assigner_.offset, slide);
      if (lastStart + size - 1 <= watermark_) return false;
      const int64_t paneStart = windowStartWithOffset(timestamp, assigner_.offset, paneSize_);
      if (PaneQueue<Acc>* queue = panes_->valuePtrForUpdate()) {
        size_t insertAt = 0;
        if (Acc* acc = queue->find(paneStart, insertAt)) {
          // The pane's first element registered the timer of its first window that is not
          // late, and each firing chains the next window with data: no timer per record.
          agg_.add(*acc, value);
          return true;
        } else {
          queue->insert(insertAt, paneStart, agg_.first(value));
        }
      } else {
        PaneQueue<Acc> fresh;
        fresh.insert(0, paneStart, agg_.first(value));
        panes_->update(std::move(fresh));
      }
      // The first window of the element that is not late fires first; later ones are
      // chained from each firing.
      int64_t start = lastStart - (lastStart - (timestamp - size) - 1) / slide * slide;
      if (start + size - 1 <= watermark_) {
        start = lastStart - (lastStart - (watermark_ - size + 1) - 1) / slide * slide;
      }
      registerPaneTimer(start + size);
      return true;
    } else {
      (void)value;
      (void)timestamp;
      return false;
    }
  }

  void registerPaneTimer(int64_t windowEnd) {
    if constexpr (kPaneCapable) {
      eventTimers_.add(this->keys_.currentKey(), this->keys_.backend()->currentKeyHash(),
                       W{windowEnd - assigner_.size, windowEnd}, windowEnd - 1);
    }
  }

  void firePaneWindow(const W& window) {
    if constexpr (kPaneCapable) {
      const int64_t size = assigner_.size;
      const int64_t slide = assigner_.slide;
      PaneQueue<Acc>* queue = panes_->valuePtrForUpdate();
      if (queue == nullptr) return;
      queue->popBefore(window.start, agg_);
      if (std::optional<Acc> acc = queue->aggregateUntil(window.end, agg_)) {
        emitValue(window, agg_.result(*acc));
        queue = panes_->valuePtrForUpdate();  // the window function may have written state
        if (queue == nullptr) return;
      }
      // Drop the panes no later window needs; chain the timer of the next window with data.
      queue->popBefore(window.end + slide - size, agg_);
      if (queue->empty()) {
        panes_->clear();
        return;
      }
      const int64_t minKept = queue->firstStart();
      const int64_t lastStart = windowStartWithOffset(minKept, assigner_.offset, slide);
      int64_t firstStart = lastStart - (lastStart - (minKept - size) - 1) / slide * slide;
      registerPaneTimer(std::max(firstStart + size, window.end + slide));
    } else {
      (void)window;
    }
  }

  Assigner assigner_;
  Trig trigger_;
  Evict evictor_;
  WindowConfig config_;
  Agg agg_;
  Proc proc_;
  MapState<W, Contents>* contents_ = nullptr;    // owned by the keyed backend
  MapState<W, W>* mergingSet_ = nullptr;         // merging assigners only
  ValueState<PaneQueue<Acc>>* panes_ = nullptr;  // pane path only
  bool usePanes_ = false;
  int64_t paneSize_ = 1;
  KeyedTimerQueue<K, W> eventTimers_;
  KeyedTimerQueue<K, W> processingTimers_;
  int64_t watermark_ = std::numeric_limits<int64_t>::min();
  int64_t now_ = 0;
  int64_t requestedTime_ = std::numeric_limits<int64_t>::max();
  Output<T>* lateOutput_ = nullptr;        // owned by the base
  Counter* lateRecordsDropped_ = nullptr;  // the metric group's "numLateRecordsDropped"
  Context triggerContext_;
  WindowContext<W> windowContext_;
  Collector<Out> collector_;
  std::vector<W> windows_;       // scratch: merging
  std::vector<W> merged_;        // scratch: merging
  std::vector<W> stateWindows_;  // scratch: merging
};

/// Create the window operator for a WindowedStream's configuration.
template <class K, class T, class Out, class Selector, class Assigner, class Trig, class Evict,
          class Agg, class Proc>
std::unique_ptr<StreamOperator> makeWindowOperator(size_t batchRows, Selector selector,
                                                   Assigner assigner, Trig trigger, Evict evictor,
                                                   WindowConfig config, Agg agg, Proc proc) {
  return std::make_unique<WindowOperator<K, T, Out, Selector, Assigner, Trig, Evict, Agg, Proc>>(
      batchRows, std::move(selector), std::move(assigner), std::move(trigger), std::move(evictor),
      std::move(config), std::move(agg), std::move(proc));
}

}  // namespace strom::detail
