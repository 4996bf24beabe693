#pragma once

// The building blocks of windows (Flink's names): TimeWindow and GlobalWindow, the window
// assigners, triggers, evictors and window-function interfaces. The WindowedStream API is in
// <strom/windows.h>, the operators in <strom/detail/window_operator.h>.

#include <strom/detail/keyed_state_backend.h>
#include <strom/fields.h>
#include <strom/functions.h>
#include <strom/key.h>
#include <strom/operator.h>
#include <strom/state.h>
#include <strom/type_serializer.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace strom {

// ---- Windows --------------------------------------------------------------------------------

/// A window of time [start, end) (Flink's TimeWindow). Value type; usable as a map-state key.
struct TimeWindow {
  int64_t start = 0;
  int64_t end = 0;
  STROM_FIELDS(start, end)

  /// Return the largest timestamp that belongs to the window: end - 1.
  int64_t maxTimestamp() const { return end - 1; }
  /// Return whether the windows overlap or touch (so that sessions merge).
  bool intersects(const TimeWindow& other) const {
    return start <= other.end && end >= other.start;
  }
  /// Return the smallest window that covers both.
  TimeWindow cover(const TimeWindow& other) const {
    return TimeWindow{std::min(start, other.start), std::max(end, other.end)};
  }
  bool operator==(const TimeWindow&) const = default;
};

/// One mix of both bounds: windows are map-state keys and timer namespaces, hashed several
/// times per record by window operators.
template <>
struct KeyTraits<TimeWindow> {
  static uint64_t hash(const TimeWindow& w) {
    return detail::murmurMix(static_cast<uint64_t>(w.start) * 0x9e3779b97f4a7c15ULL ^
                             std::rotl(static_cast<uint64_t>(w.end), 31));
  }
};

/// The single window of GlobalWindows, which never ends.
struct GlobalWindow {
  STROM_FIELDS()
  int64_t maxTimestamp() const { return std::numeric_limits<int64_t>::max(); }
  bool operator==(const GlobalWindow&) const = default;
};

template <>
struct KeyTraits<GlobalWindow> {
  static uint64_t hash(const GlobalWindow&) { return 0x676c6f62616cULL; }
};

namespace detail {
inline int64_t windowStartWithOffset(int64_t timestamp, int64_t offset, int64_t size) {
  int64_t remainder = (timestamp - offset) % size;
  if (remainder < 0) remainder += size;
  return timestamp - remainder;
}
inline int64_t checkedMillis(std::chrono::milliseconds d, const char* what) {
  if (d.count() <= 0) {
    throw std::invalid_argument(std::string(what) + " must be positive, got " +
                                std::to_string(d.count()) + " ms");
  }
  return d.count();
}
}  // namespace detail

// ---- Trigger results and contexts -----------------------------------------------------------

/// What a trigger decides (Flink's TriggerResult).
enum class TriggerResult { kContinue, kFire, kPurge, kFireAndPurge };
inline bool isFire(TriggerResult r) {
  return r == TriggerResult::kFire || r == TriggerResult::kFireAndPurge;
}
inline bool isPurge(TriggerResult r) {
  return r == TriggerResult::kPurge || r == TriggerResult::kFireAndPurge;
}

/// A value per key and window: the per-window state of a trigger (a ValueState whose
/// namespace is the window). Valid while the trigger call that returned it runs.
template <class W, class V>
class WindowValueState {
 public:
  WindowValueState(MapState<W, V>& map, const W& window) : map_(&map), window_(window) {}
  const V* valuePtr() { return map_->getPtr(window_); }
  std::optional<V> value() { return map_->get(window_); }
  void update(V value) { map_->put(window_, std::move(value)); }
  void clear() { map_->remove(window_); }

 private:
  MapState<W, V>* map_;
  W window_;
};

/// What a trigger may do for the current key and window (Flink's TriggerContext). Implemented
/// by the window operator; valid during the trigger call only.
template <class W>
class TriggerContext {
 public:
  virtual ~TriggerContext() = default;
  virtual int64_t currentProcessingTime() = 0;
  virtual int64_t currentWatermark() = 0;
  virtual void registerProcessingTimeTimer(int64_t time) = 0;
  virtual void deleteProcessingTimeTimer(int64_t time) = 0;
  virtual void registerEventTimeTimer(int64_t time) = 0;
  virtual void deleteEventTimeTimer(int64_t time) = 0;
  /// The window the call is about.
  virtual const W& window() const = 0;
  /// In onMerge: the windows merged into window(); empty otherwise.
  virtual std::span<const W> mergedWindows() const = 0;
  /// The operator's keyed state, for per-window trigger state.
  virtual KeyedStateBackend& stateBackend() = 0;

  /// Return the state `descriptor` of the current key and window (Flink's
  /// getPartitionedState). Looks the state up by name: a trigger on a hot path caches the
  /// MapState<W, V> from stateBackend() instead.
  template <class V>
  WindowValueState<W, V> getPartitionedState(const ValueStateDescriptor<V>& descriptor) {
    return WindowValueState<W, V>(
        stateBackend().getMapState(MapStateDescriptor<W, V>(descriptor.name())), window());
  }
};

/// Base of user-defined triggers (virtual calls). Built-in triggers are plain classes with
/// the same methods as templates, so the operator inlines them.
template <class T, class W>
class Trigger {
 public:
  using Window = W;
  virtual ~Trigger() = default;
  virtual TriggerResult onElement(const T& element, int64_t timestamp, const W& window,
                                  TriggerContext<W>& ctx) = 0;
  virtual TriggerResult onEventTime(int64_t time, const W& window, TriggerContext<W>& ctx) = 0;
  virtual TriggerResult onProcessingTime(int64_t time, const W& window, TriggerContext<W>& ctx) = 0;
  /// Return true if the trigger supports merging windows (session windows).
  virtual bool canMerge() const { return false; }
  virtual void onMerge(const W& /*window*/, TriggerContext<W>& /*ctx*/) {
    throw std::logic_error("this trigger does not support merging windows");
  }
  /// Remove the trigger's timers and state of `window`.
  virtual void clear(const W& window, TriggerContext<W>& ctx) = 0;
};

// ---- Built-in triggers ----------------------------------------------------------------------

/// Fire when the watermark passes the window's end (Flink's EventTimeTrigger); an element of
/// a window the watermark already passed (allowed lateness) fires it again at once.
struct EventTimeTrigger {
  static EventTimeTrigger create() { return {}; }
  template <class T, class W, class Ctx>
  TriggerResult onElement(const T&, int64_t, const W& window, Ctx& ctx) {
    if (window.maxTimestamp() <= ctx.currentWatermark()) return TriggerResult::kFire;
    ctx.registerEventTimeTimer(window.maxTimestamp());
    return TriggerResult::kContinue;
  }
  template <class W, class Ctx>
  TriggerResult onEventTime(int64_t time, const W& window, Ctx&) {
    return time == window.maxTimestamp() ? TriggerResult::kFire : TriggerResult::kContinue;
  }
  template <class W, class Ctx>
  TriggerResult onProcessingTime(int64_t, const W&, Ctx&) {
    return TriggerResult::kContinue;
  }
  bool canMerge() const { return true; }
  template <class W, class Ctx>
  void onMerge(const W& window, Ctx& ctx) {
    if (window.maxTimestamp() > ctx.currentWatermark()) {
      ctx.registerEventTimeTimer(window.maxTimestamp());
    }
  }
  template <class W, class Ctx>
  void clear(const W& window, Ctx& ctx) {
    ctx.deleteEventTimeTimer(window.maxTimestamp());
  }
};

/// Fire when the processing time passes the window's end (Flink's ProcessingTimeTrigger).
struct ProcessingTimeTrigger {
  static ProcessingTimeTrigger create() { return {}; }
  template <class T, class W, class Ctx>
  TriggerResult onElement(const T&, int64_t, const W& window, Ctx& ctx) {
    ctx.registerProcessingTimeTimer(window.maxTimestamp());
    return TriggerResult::kContinue;
  }
  template <class W, class Ctx>
  TriggerResult onEventTime(int64_t, const W&, Ctx&) {
    return TriggerResult::kContinue;
  }
  template <class W, class Ctx>
  TriggerResult onProcessingTime(int64_t time, const W& window, Ctx&) {
    return time == window.maxTimestamp() ? TriggerResult::kFire : TriggerResult::kContinue;
  }
  bool canMerge() const { return true; }
  template <class W, class Ctx>
  void onMerge(const W& window, Ctx& ctx) {
    if (window.maxTimestamp() > ctx.currentProcessingTime()) {
      ctx.registerProcessingTimeTimer(window.maxTimestamp());
    }
  }
  template <class W, class Ctx>
  void clear(const W& window, Ctx& ctx) {
    ctx.deleteProcessingTimeTimer(window.maxTimestamp());
  }
};

/// Never fire (the default of GlobalWindows: give them a trigger).
struct NeverTrigger {
  template <class T, class W, class Ctx>
  TriggerResult onElement(const T&, int64_t, const W&, Ctx&) {
    return TriggerResult::kContinue;
  }
  template <class W, class Ctx>
  TriggerResult onEventTime(int64_t, const W&, Ctx&) {
    return TriggerResult::kContinue;
  }
  template <class W, class Ctx>
  TriggerResult onProcessingTime(int64_t, const W&, Ctx&) {
    return TriggerResult::kContinue;
  }
  bool canMerge() const { return true; }
  template <class W, class Ctx>
  void onMerge(const W&, Ctx&) {}
  template <class W, class Ctx>
  void clear(const W&, Ctx&) {}
};

/// Fire every `count` elements of a window (Flink's CountTrigger); the count is per-window
/// state in the keyed backend ("count-trigger").
class CountTrigger {
 public:
  static CountTrigger of(int64_t count) {
    if (count <= 0) throw std::invalid_argument("CountTrigger: the count must be positive");
    return CountTrigger(count);
  }
  int64_t maxCount() const { return maxCount_; }

  template <class W>
  void open(KeyedStateBackend& backend) {
    counts_ = &backend.getMapState(MapStateDescriptor<W, int64_t>("count-trigger"));
  }
  template <class T, class W, class Ctx>
  TriggerResult onElement(const T&, int64_t, const W& window, Ctx&) {
    auto& counts = map<W>();
    const int64_t* current = counts.getPtr(window);
    int64_t next = (current ? *current : 0) + 1;
    if (next >= maxCount_) {
      counts.remove(window);
      return TriggerResult::kFire;
    }
    counts.put(window, next);
    return TriggerResult::kContinue;
  }
  template <class W, class Ctx>
  TriggerResult onEventTime(int64_t, const W&, Ctx&) {
    return TriggerResult::kContinue;
  }
  template <class W, class Ctx>
  TriggerResult onProcessingTime(int64_t, const W&, Ctx&) {
    return TriggerResult::kContinue;
  }
  bool canMerge() const { return true; }
  template <class W, class Ctx>
  void onMerge(const W& window, Ctx& ctx) {
    auto& counts = map<W>();
    int64_t sum = 0;
    for (const W& merged : ctx.mergedWindows()) {
      if (const int64_t* c = counts.getPtr(merged)) sum += *c;
    }
    if (const int64_t* c = counts.getPtr(window)) sum += *c;
    if (sum > 0) counts.put(window, sum);
  }
  template <class W, class Ctx>
  void clear(const W& window, Ctx&) {
    map<W>().remove(window);
  }

 private:
  explicit CountTrigger(int64_t count) : maxCount_(count) {}
  template <class W>
  MapState<W, int64_t>& map() {
    return static_cast<MapState<W, int64_t>&>(*counts_);
  }
  int64_t maxCount_;
  detail::StateBase* counts_ = nullptr;  // a MapState<W, int64_t>, owned by the backend
};

/// Fire every `interval` of event time while the window is open, and at its end (Flink's
/// ContinuousEventTimeTrigger). The next fire time is per-window state in the keyed backend
/// ("continuous-event-time-trigger").
class ContinuousEventTimeTrigger {
 public:
  static ContinuousEventTimeTrigger of(std::chrono::milliseconds interval) {
    return ContinuousEventTimeTrigger(
        detail::checkedMillis(interval, "ContinuousEventTimeTrigger: the interval"));
  }
  int64_t interval() const { return interval_; }

  template <class W>
  void open(KeyedStateBackend& backend) {
    fireTimes_ =
        &backend.getMapState(MapStateDescriptor<W, int64_t>("continuous-event-time-trigger"));
  }
  template <class T, class W, class Ctx>
  TriggerResult onElement(const T&, int64_t timestamp, const W& window, Ctx& ctx) {
    if (window.maxTimestamp() <= ctx.currentWatermark()) return TriggerResult::kFire;
    ctx.registerEventTimeTimer(window.maxTimestamp());
    auto& fireTimes = map<W>();
    if (fireTimes.getPtr(window) == nullptr) {
      int64_t remainder = timestamp % interval_;
      if (remainder < 0) remainder += interval_;
      registerNext(timestamp - remainder + interval_, window, ctx);
    }
    return TriggerResult::kContinue;
  }
  template <class W, class Ctx>
  TriggerResult onEventTime(int64_t time, const W& window, Ctx& ctx) {
    if (time == window.maxTimestamp()) return TriggerResult::kFire;
    auto& fireTimes = map<W>();
    const int64_t* next = fireTimes.getPtr(window);
    if (next != nullptr && *next == time) {
      fireTimes.remove(window);
      registerNext(time + interval_, window, ctx);
      return TriggerResult::kFire;
    }
    return TriggerResult::kContinue;
  }
  template <class W, class Ctx>
  TriggerResult onProcessingTime(int64_t, const W&, Ctx&) {
    return TriggerResult::kContinue;
  }
  bool canMerge() const { return true; }
  template <class W, class Ctx>
  void onMerge(const W& window, Ctx& ctx) {
    auto& fireTimes = map<W>();
    std::optional<int64_t> earliest;
    auto take = [&](const W& w) {
      if (const int64_t* t = fireTimes.getPtr(w)) {
        earliest = earliest ? std::min(*earliest, *t) : *t;
      }
    };
    for (const W& merged : ctx.mergedWindows()) take(merged);
    take(window);
    if (earliest) {
      fireTimes.put(window, *earliest);
      ctx.registerEventTimeTimer(*earliest);
    }
  }
  template <class W, class Ctx>
  void clear(const W& window, Ctx& ctx) {
    auto& fireTimes = map<W>();
    if (const int64_t* next = fireTimes.getPtr(window)) {
      ctx.deleteEventTimeTimer(*next);
      fireTimes.remove(window);
    }
  }

 private:
  explicit ContinuousEventTimeTrigger(int64_t interval) : interval_(interval) {}
  template <class W, class Ctx>
  void registerNext(int64_t time, const W& window, Ctx& ctx) {
    const int64_t next = std::min(time, window.maxTimestamp());
    map<W>().put(window, next);
    ctx.registerEventTimeTimer(next);
  }
  template <class W>
  MapState<W, int64_t>& map() {
    return static_cast<MapState<W, int64_t>&>(*fireTimes_);
  }
  int64_t interval_;
  detail::StateBase* fireTimes_ = nullptr;  // a MapState<W, int64_t>, owned by the backend
};

/// Turn every FIRE of `Nested` into FIRE_AND_PURGE (Flink's PurgingTrigger).
template <class Nested>
class PurgingTrigger {
 public:
  static PurgingTrigger of(Nested nested) { return PurgingTrigger(std::move(nested)); }
  explicit PurgingTrigger(Nested nested) : nested_(std::move(nested)) {}

  template <class W>
  void open(KeyedStateBackend& backend) {
    if constexpr (requires { nested_.template open<W>(backend); }) {
      nested_.template open<W>(backend);
    }
  }
  template <class T, class W, class Ctx>
  TriggerResult onElement(const T& element, int64_t timestamp, const W& window, Ctx& ctx) {
    return purging(nested_.onElement(element, timestamp, window, ctx));
  }
  template <class W, class Ctx>
  TriggerResult onEventTime(int64_t time, const W& window, Ctx& ctx) {
    return purging(nested_.onEventTime(time, window, ctx));
  }
  template <class W, class Ctx>
  TriggerResult onProcessingTime(int64_t time, const W& window, Ctx& ctx) {
    return purging(nested_.onProcessingTime(time, window, ctx));
  }
  bool canMerge() const { return nested_.canMerge(); }
  template <class W, class Ctx>
  void onMerge(const W& window, Ctx& ctx) {
    nested_.onMerge(window, ctx);
  }
  template <class W, class Ctx>
  void clear(const W& window, Ctx& ctx) {
    nested_.clear(window, ctx);
  }

 private:
  static TriggerResult purging(TriggerResult r) {
    return isFire(r) ? TriggerResult::kFireAndPurge : r;
  }
  Nested nested_;
};

// ---- Assigners ------------------------------------------------------------------------------

/// Tumbling windows of event time: [start, start + size) with start = offset + k * size.
struct TumblingEventTimeWindows {
  using Window = TimeWindow;
  using DefaultTrigger = EventTimeTrigger;
  static constexpr bool kEventTime = true;
  static constexpr bool kMerging = false;
  int64_t size;
  int64_t offset;

  static TumblingEventTimeWindows of(std::chrono::milliseconds size,
                                     std::chrono::milliseconds offset = {}) {
    int64_t s = detail::checkedMillis(size, "TumblingEventTimeWindows: the size");
    return {s, offset.count() % s};
  }
  template <class T, class Fn>
  void assignWindows(const T&, int64_t timestamp, int64_t, Fn&& fn) const {
    int64_t start = detail::windowStartWithOffset(timestamp, offset, size);
    fn(TimeWindow{start, start + size});
  }
};

/// Tumbling windows of processing time.
struct TumblingProcessingTimeWindows {
  using Window = TimeWindow;
  using DefaultTrigger = ProcessingTimeTrigger;
  static constexpr bool kEventTime = false;
  static constexpr bool kMerging = false;
  int64_t size;
  int64_t offset;

  static TumblingProcessingTimeWindows of(std::chrono::milliseconds size,
                                          std::chrono::milliseconds offset = {}) {
    int64_t s = detail::checkedMillis(size, "TumblingProcessingTimeWindows: the size");
    return {s, offset.count() % s};
  }
  template <class T, class Fn>
  void assignWindows(const T&, int64_t, int64_t now, Fn&& fn) const {
    int64_t start = detail::windowStartWithOffset(now, offset, size);
    fn(TimeWindow{start, start + size});
  }
};

/// Sliding windows of event time: windows of `size` starting every `slide`. Each record is in
/// size / slide windows, but the operator keeps one partial aggregate per pane of
/// gcd(size, slide) for reduce and aggregate (see window_operator.h).
struct SlidingEventTimeWindows {
  using Window = TimeWindow;
  using DefaultTrigger = EventTimeTrigger;
  static constexpr bool kEventTime = true;
  static constexpr bool kMerging = false;
  int64_t size;
  int64_t slide;
  int64_t offset;

  static SlidingEventTimeWindows of(std::chrono::milliseconds size, std::chrono::milliseconds slide,
                                    std::chrono::milliseconds offset = {}) {
    int64_t s = detail::checkedMillis(size, "SlidingEventTimeWindows: the size");
    int64_t sl = detail::checkedMillis(slide, "SlidingEventTimeWindows: the slide");
    return {s, sl, offset.count() % sl};
  }
  template <class T, class Fn>
  void assignWindows(const T&, int64_t timestamp, int64_t, Fn&& fn) const {
    int64_t last = detail::windowStartWithOffset(timestamp, offset, slide);
    for (int64_t start = last; start > timestamp - size; start -= slide) {
      fn(TimeWindow{start, start + size});
    }
  }
};

/// Sliding windows of processing time.
struct SlidingProcessingTimeWindows {
  using Window = TimeWindow;
  using DefaultTrigger = ProcessingTimeTrigger;
  static constexpr bool kEventTime = false;
  static constexpr bool kMerging = false;
  int64_t size;
  int64_t slide;
  int64_t offset;

  static SlidingProcessingTimeWindows of(std::chrono::milliseconds size,
                                         std::chrono::milliseconds slide,
                                         std::chrono::milliseconds offset = {}) {
    int64_t s = detail::checkedMillis(size, "SlidingProcessingTimeWindows: the size");
    int64_t sl = detail::checkedMillis(slide, "SlidingProcessingTimeWindows: the slide");
    return {s, sl, offset.count() % sl};
  }
  template <class T, class Fn>
  void assignWindows(const T&, int64_t, int64_t now, Fn&& fn) const {
    int64_t last = detail::windowStartWithOffset(now, offset, slide);
    for (int64_t start = last; start > now - size; start -= slide) {
      fn(TimeWindow{start, start + size});
    }
  }
};

namespace detail {
struct ConstantGap {
  int64_t gap;
  template <class T>
  int64_t operator()(const T&) const {
    return gap;
  }
};
}  // namespace detail

/// Session windows of event time: a record opens [timestamp, timestamp + gap), and windows
/// that overlap merge. `Gap` computes the gap from the element (withDynamicGap).
template <class Gap = detail::ConstantGap>
struct EventTimeSessionWindowsOf {
  using Window = TimeWindow;
  using DefaultTrigger = EventTimeTrigger;
  static constexpr bool kEventTime = true;
  static constexpr bool kMerging = true;
  Gap gap;

  template <class T, class Fn>
  void assignWindows(const T& element, int64_t timestamp, int64_t, Fn&& fn) const {
    int64_t g = gap(element);
    if (g <= 0) throw std::invalid_argument("session window gap must be positive");
    fn(TimeWindow{timestamp, timestamp + g});
  }
};

/// Session windows of processing time.
template <class Gap = detail::ConstantGap>
struct ProcessingTimeSessionWindowsOf {
  using Window = TimeWindow;
  using DefaultTrigger = ProcessingTimeTrigger;
  static constexpr bool kEventTime = false;
  static constexpr bool kMerging = true;
  Gap gap;

  template <class T, class Fn>
  void assignWindows(const T& element, int64_t, int64_t now, Fn&& fn) const {
    int64_t g = gap(element);
    if (g <= 0) throw std::invalid_argument("session window gap must be positive");
    fn(TimeWindow{now, now + g});
  }
};

struct EventTimeSessionWindows {
  /// Sessions separated by at least `gap` of event time.
  static EventTimeSessionWindowsOf<> withGap(std::chrono::milliseconds gap) {
    return {detail::ConstantGap{detail::checkedMillis(gap, "EventTimeSessionWindows: the gap")}};
  }
  /// Sessions whose gap `extractor(element)` (milliseconds) computes per element.
  template <class F>
  static EventTimeSessionWindowsOf<F> withDynamicGap(F extractor) {
    return {std::move(extractor)};
  }
};

struct ProcessingTimeSessionWindows {
  static ProcessingTimeSessionWindowsOf<> withGap(std::chrono::milliseconds gap) {
    return {
        detail::ConstantGap{detail::checkedMillis(gap, "ProcessingTimeSessionWindows: the gap")}};
  }
  template <class F>
  static ProcessingTimeSessionWindowsOf<F> withDynamicGap(F extractor) {
    return {std::move(extractor)};
  }
};

/// One window per key holding every element (Flink's GlobalWindows); it fires only with a
/// trigger such as CountTrigger.
struct GlobalWindows {
  using Window = GlobalWindow;
  using DefaultTrigger = NeverTrigger;
  static constexpr bool kEventTime = false;
  static constexpr bool kMerging = false;
  static GlobalWindows create() { return {}; }
  template <class T, class Fn>
  void assignWindows(const T&, int64_t, int64_t, Fn&& fn) const {
    fn(GlobalWindow{});
  }
};

// ---- Evictors -------------------------------------------------------------------------------

/// The elements of a window with their timestamps, in arrival order (kept when the window
/// has an evictor or a ProcessWindowFunction without pre-aggregation).
template <class T>
struct WindowElements {
  std::vector<T> values;
  std::vector<int64_t> timestamps;

  size_t size() const { return values.size(); }
  bool empty() const { return values.empty(); }
  void add(const T& value, int64_t timestamp) {
    values.push_back(value);
    timestamps.push_back(timestamp);
  }
  void append(WindowElements&& other) {
    values.insert(values.end(), std::make_move_iterator(other.values.begin()),
                  std::make_move_iterator(other.values.end()));
    timestamps.insert(timestamps.end(), other.timestamps.begin(), other.timestamps.end());
  }
  /// Remove the first `n` elements.
  void erasePrefix(size_t n) {
    n = std::min(n, size());
    values.erase(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n));
    timestamps.erase(timestamps.begin(), timestamps.begin() + static_cast<std::ptrdiff_t>(n));
  }
  /// Remove the elements whose timestamp satisfies `predicate`, keeping the order.
  template <class P>
  void eraseIfTimestamp(P&& predicate) {
    size_t kept = 0;
    for (size_t i = 0; i < size(); ++i) {
      if (predicate(timestamps[i])) continue;
      if (kept != i) {
        values[kept] = std::move(values[i]);
        timestamps[kept] = timestamps[i];
      }
      ++kept;
    }
    values.resize(kept);
    timestamps.resize(kept);
  }
};

/// A window's elements in keyed-state snapshots (docs/formats.md §6, "Window state values"):
///
///   windowElements := varint(count) (value:T timestamp:i64){count}
template <Serializable T>
struct TypeSerializer<WindowElements<T>> {
  static constexpr size_t kMinSize = 1;
  static void serialize(const WindowElements<T>& elements, DataOutput& out) {
    out.writeVarint(elements.size());
    for (size_t i = 0; i < elements.size(); ++i) {
      TypeSerializer<T>::serialize(elements.values[i], out);
      out.writeFixed(elements.timestamps[i]);
    }
  }
  [[nodiscard]] static bool deserialize(DataInput& in, WindowElements<T>& elements) {
    size_t count = 0;
    if (!detail::readCount(in, detail::minSerializedSize<T>() + sizeof(int64_t), count)) {
      return false;
    }
    elements.values.resize(count);
    elements.timestamps.resize(count);
    for (size_t i = 0; i < count; ++i) {
      if (!TypeSerializer<T>::deserialize(in, elements.values[i]) ||
          !in.readFixed(elements.timestamps[i])) {
        return false;
      }
    }
    return true;
  }
};

/// No evictor (the default).
struct NoEvictor {};

/// Keep the last `maxCount` elements of a window (Flink's CountEvictor), before the window
/// function runs, or after it with doEvictAfter.
struct CountEvictor {
  int64_t maxCount;
  bool doEvictAfter = false;
  static CountEvictor of(int64_t maxCount, bool doEvictAfter = false) {
    if (maxCount <= 0) throw std::invalid_argument("CountEvictor: the count must be positive");
    return {maxCount, doEvictAfter};
  }
  template <class T, class W>
  void evictBefore(WindowElements<T>& elements, const W&) const {
    if (!doEvictAfter) evict(elements);
  }
  template <class T, class W>
  void evictAfter(WindowElements<T>& elements, const W&) const {
    if (doEvictAfter) evict(elements);
  }

 private:
  template <class T>
  void evict(WindowElements<T>& elements) const {
    if (static_cast<int64_t>(elements.size()) > maxCount) {
      elements.erasePrefix(elements.size() - static_cast<size_t>(maxCount));
    }
  }
};

/// Keep the elements within `windowSize` of the window's largest element timestamp (Flink's
/// TimeEvictor).
struct TimeEvictor {
  int64_t windowSize;
  bool doEvictAfter = false;
  static TimeEvictor of(std::chrono::milliseconds windowSize, bool doEvictAfter = false) {
    return {windowSize.count(), doEvictAfter};
  }
  template <class T, class W>
  void evictBefore(WindowElements<T>& elements, const W&) const {
    if (!doEvictAfter) evict(elements);
  }
  template <class T, class W>
  void evictAfter(WindowElements<T>& elements, const W&) const {
    if (doEvictAfter) evict(elements);
  }

 private:
  template <class T>
  void evict(WindowElements<T>& elements) const {
    if (elements.empty()) return;
    int64_t maxTimestamp =
        *std::max_element(elements.timestamps.begin(), elements.timestamps.end());
    int64_t cutoff = maxTimestamp - windowSize;
    elements.eraseIfTimestamp([cutoff](int64_t ts) { return ts <= cutoff; });
  }
};

// ---- Window functions -----------------------------------------------------------------------

/// The context of a window function call: the window, the clocks and side outputs (the
/// records it emits carry the window's maxTimestamp()).
template <class W>
class WindowContext : public ProcessContextBase {
 public:
  explicit WindowContext(SideOutputs& sideOutputs) : ProcessContextBase(sideOutputs) {}
  const W& window() const { return *window_; }
  int64_t currentWatermark() const { return watermark_; }
  int64_t currentProcessingTime() const { return processingTime_; }
  /// For the operator: set what the next call sees.
  void set(const W* window, int64_t watermark, int64_t processingTime) {
    window_ = window;
    watermark_ = watermark;
    processingTime_ = processingTime;
    setTimestamp(window->maxTimestamp());
  }

 private:
  const W* window_ = nullptr;
  int64_t watermark_ = INT64_MIN;
  int64_t processingTime_ = 0;
};

/// Flink's ProcessWindowFunction: called once per window firing with the key, a context and
/// the window's elements (or the single pre-aggregated value with reduce/aggregate).
template <class IN, class OUT, class KEY, class W = TimeWindow>
class ProcessWindowFunction : public RichFunction {
 public:
  using InputType = IN;
  using OutputType = OUT;
  using Context = WindowContext<W>;
  virtual void process(const KEY& key, Context& ctx, std::span<const IN> elements,
                       Collector<OUT>& out) = 0;
};

/// Flink's (older) WindowFunction: called once per window firing with the key, the window and
/// its elements (or the single pre-aggregated value), without a context.
template <class IN, class OUT, class KEY, class W = TimeWindow>
class WindowFunction : public RichFunction {
 public:
  using InputType = IN;
  using OutputType = OUT;
  virtual void apply(const KEY& key, const W& window, std::span<const IN> elements,
                     Collector<OUT>& out) = 0;
};

/// Flink's ProcessAllWindowFunction (windowAll): as ProcessWindowFunction, without a key.
template <class IN, class OUT, class W = TimeWindow>
class ProcessAllWindowFunction : public RichFunction {
 public:
  using InputType = IN;
  using OutputType = OUT;
  using Context = WindowContext<W>;
  virtual void process(Context& ctx, std::span<const IN> elements, Collector<OUT>& out) = 0;
};

}  // namespace strom
