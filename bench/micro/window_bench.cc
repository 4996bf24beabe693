// Keyed event-time windows over generated events (10 k keys, 1000 events per ms of event time,
// up to 100 ms out of order): a tumbling 1 s window and sliding 10 s windows with 1 s and
// 100 ms slides, each computing count and sum per key and window. The engine on an embedded
// MiniCluster at parallelism 1 next to a hand-written single-threaded loop doing the same
// computation (same windows, same firing on the same watermarks), in the same run. Each
// reports records per second of process CPU time ("per_core"); the ratio of the two is the
// engine's cost.
//
//   build/bench/window_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>
#include <strom/strom.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace {

double processCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

constexpr int64_t kKeys = 10'000;
constexpr int64_t kEventsPerMs = 1000;
constexpr int64_t kDisorderMs = 100;
constexpr int64_t kRecords = 10'000'000;
constexpr int64_t kWatermarkEvery = 1024;  // the loop's watermark, as the engine's per batch

struct Event {
  int64_t key;
  int64_t timestamp;
  int64_t value;
  STROM_FIELDS(key, timestamp, value)
};

inline uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}
/// Event i: a pseudo-random key, timestamp i / kEventsPerMs minus up to kDisorderMs.
inline Event makeEvent(int64_t i) {
  uint64_t h = mix(static_cast<uint64_t>(i) + 0x9e3779b97f4a7c15ULL);
  int64_t ts = i / kEventsPerMs - static_cast<int64_t>((h >> 40) % kDisorderMs);
  return Event{static_cast<int64_t>(h % kKeys), ts < 0 ? 0 : ts, static_cast<int64_t>(h >> 54)};
}

struct CountSum {
  int64_t count = 0;
  int64_t sum = 0;
  STROM_FIELDS(count, sum)
};
struct CountSumAgg {
  CountSum createAccumulator() { return {}; }
  CountSum add(const Event& e, CountSum acc) { return {acc.count + 1, acc.sum + e.value}; }
  CountSum getResult(const CountSum& acc) { return acc; }
  CountSum merge(CountSum a, CountSum b) { return {a.count + b.count, a.sum + b.sum}; }
};

class ChecksumSink final : public strom::Sink<CountSum> {
 public:
  explicit ChecksumSink(std::shared_ptr<std::atomic<int64_t>> sum) : sum_(std::move(sum)) {}
  std::unique_ptr<strom::SinkWriter<CountSum>> createWriter(int, int) const override {
    return std::make_unique<Writer>(sum_);
  }

 private:
  class Writer final : public strom::SinkWriter<CountSum> {
   public:
    explicit Writer(std::shared_ptr<std::atomic<int64_t>> sum) : sum_(std::move(sum)) {}
    strom::Status write(const strom::RecordBatch<CountSum>& batch) override {
      int64_t local = 0;
      for (const CountSum& v : batch) local += v.count * 31 + v.sum;
      sum_->fetch_add(local, std::memory_order_relaxed);
      return strom::Status::ok();
    }

   private:
    std::shared_ptr<std::atomic<int64_t>> sum_;
  };
  std::shared_ptr<std::atomic<int64_t>> sum_;
};

void report(benchmark::State& state, int64_t records, double cpuSeconds, int64_t checksum) {
  state.SetItemsProcessed(records);
  state.counters["per_core"] = benchmark::Counter(static_cast<double>(records) / cpuSeconds);
  state.counters["checksum"] = static_cast<double>(checksum);
}

/// state.range(0): window size in ms, range(1): slide in ms (equal: tumbling).
void BM_Engine_Window(benchmark::State& state) {
  const int64_t size = state.range(0);
  const int64_t slide = state.range(1);
  int64_t records = 0;
  double cpu = 0;
  int64_t checksum = 0;
  for (auto _ : state) {
    auto sum = std::make_shared<std::atomic<int64_t>>(0);
    strom::Configuration config;
    config.set("execution.batch.rows", "1024");
    config.set(strom::kAutoWatermarkIntervalKey, "0 ms");
    strom::StreamExecutionEnvironment env(config);
    env.setParallelism(1);
    auto keyed =
        env.fromGenerator(kRecords, [](int64_t i) { return makeEvent(i); })
            .assignTimestampsAndWatermarks(
                strom::WatermarkStrategy<Event>::forBoundedOutOfOrderness(
                    std::chrono::milliseconds(kDisorderMs))
                    .withTimestampAssigner([](const Event& e, int64_t) { return e.timestamp; }))
            .keyBy([](const Event& e) { return e.key; });
    auto sink = std::make_shared<ChecksumSink>(sum);
    if (size == slide) {
      keyed.window(strom::TumblingEventTimeWindows::of(std::chrono::milliseconds(size)))
          .aggregate(CountSumAgg{})
          .sinkTo(sink);
    } else {
      keyed
          .window(strom::SlidingEventTimeWindows::of(std::chrono::milliseconds(size),
                                                     std::chrono::milliseconds(slide)))
          .aggregate(CountSumAgg{})
          .sinkTo(sink);
    }
    double start = processCpuSeconds();
    auto result = env.execute("window bench");
    cpu += processCpuSeconds() - start;
    if (!result.isOk()) state.SkipWithError(result.status().toString().c_str());
    checksum = sum->load();
    records += kRecords;
  }
  report(state, records, cpu, checksum);
}

/// The same windows by hand, the fastest way we know for count and sum: per pane
/// (gcd(size, slide)) a flat array of accumulators by key in a ring of panes, with the keys
/// touched per pane; one running accumulator per key for the current window, to which a
/// firing adds the panes entering and from which it subtracts the panes leaving (count and sum
/// are invertible; the engine's AggregateFunction is not, so it merges instead); then every
/// key with data in the window is emitted. Windows fire when the watermark (largest timestamp
/// - disorder - 1, every 1024 records) passes their end. Keys are dense, so arrays are the
/// fastest honest state.
void BM_Loop_Window(benchmark::State& state) {
  const int64_t size = state.range(0);
  const int64_t slide = state.range(1);
  const int64_t pane = std::gcd(size, slide);
  // Panes from the oldest in the running window to the newest a record may hit.
  const int64_t ring = (size + slide + kDisorderMs) / pane + 3;
  int64_t records = 0;
  double cpu = 0;
  int64_t checksum = 0;
  for (auto _ : state) {
    double start = processCpuSeconds();
    std::vector<std::vector<CountSum>> panes(static_cast<size_t>(ring),
                                             std::vector<CountSum>(kKeys));
    std::vector<std::vector<int32_t>> touched(static_cast<size_t>(ring));
    std::vector<CountSum> window(kKeys);
    std::vector<uint8_t> active(kKeys, 0);
    std::vector<int32_t> activeKeys;
    int64_t sum = 0;
    int64_t maxTs = INT64_MIN;
    int64_t nextEnd = INT64_MIN;  // end of the next window to fire
    int64_t lo = 0;               // the running window holds panes [lo, hi)
    int64_t hi = 0;
    auto slotOf = [&](int64_t p) { return static_cast<size_t>(((p % ring) + ring) % ring); };
    auto fireUpTo = [&](int64_t watermark) {
      if (nextEnd == INT64_MIN) return;
      while (nextEnd - 1 <= watermark) {
        if (watermark == INT64_MAX && nextEnd - size > maxTs) break;
        for (; hi < nextEnd / pane; ++hi) {
          size_t slot = slotOf(hi);
          for (int32_t k : touched[slot]) {
            CountSum& w = window[static_cast<size_t>(k)];
            const CountSum& a = panes[slot][static_cast<size_t>(k)];
            w.count += a.count;
            w.sum += a.sum;
            if (!active[static_cast<size_t>(k)]) {
              active[static_cast<size_t>(k)] = 1;
              activeKeys.push_back(k);
            }
          }
        }
        for (; lo < (nextEnd - size) / pane; ++lo) {
          size_t slot = slotOf(lo);
          for (int32_t k : touched[slot]) {
            CountSum& a = panes[slot][static_cast<size_t>(k)];
            window[static_cast<size_t>(k)].count -= a.count;
            window[static_cast<size_t>(k)].sum -= a.sum;
            a = {};
          }
          touched[slot].clear();
        }
        for (size_t i = 0; i < activeKeys.size();) {
          int32_t k = activeKeys[i];
          const CountSum& w = window[static_cast<size_t>(k)];
          if (w.count == 0) {
            active[static_cast<size_t>(k)] = 0;
            activeKeys[i] = activeKeys.back();
            activeKeys.pop_back();
            continue;
          }
          sum += w.count * 31 + w.sum;
          ++i;
        }
        nextEnd += slide;
      }
    };
    for (int64_t i = 0; i < kRecords; ++i) {
      Event e = makeEvent(i);
      int64_t p = e.timestamp / pane;
      size_t slot = slotOf(p);
      CountSum& a = panes[slot][static_cast<size_t>(e.key)];
      if (a.count == 0) touched[slot].push_back(static_cast<int32_t>(e.key));
      a.count += 1;
      a.sum += e.value;
      if (nextEnd == INT64_MIN) {
        nextEnd = (e.timestamp / slide) * slide + slide;
        hi = lo = (nextEnd - size) / pane;
      }
      maxTs = std::max(maxTs, e.timestamp);
      if ((i + 1) % kWatermarkEvery == 0) fireUpTo(maxTs - kDisorderMs - 1);
    }
    fireUpTo(INT64_MAX);
    cpu += processCpuSeconds() - start;
    checksum = sum;
    records += kRecords;
  }
  report(state, records, cpu, checksum);
}

BENCHMARK(BM_Loop_Window)
    ->Args({1000, 1000})
    ->Args({10000, 1000})
    ->Args({10000, 100})
    ->ArgNames({"size_ms", "slide_ms"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Engine_Window)
    ->Args({1000, 1000})
    ->Args({10000, 1000})
    ->Args({10000, 100})
    ->ArgNames({"size_ms", "slide_ms"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
