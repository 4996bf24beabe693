// map -> filter and map -> filter -> keyBy -> reduce over a generated sequence: the engine on
// an embedded MiniCluster next to a hand-written single-threaded loop doing the same work, in
// the same run. Each reports records per second of process CPU time ("per_core"), so the
// engine's several threads are charged in full; the ratio of the two is the engine's cost.
//
// BM_Engine_MapFilterKeyByReduce also runs at parallelism 2 on one TaskManager (every channel
// local) and on two (`taskmanager.count=2`, one slot each). Slot sharing places subtask s of
// every vertex in slot s, so on two TaskManagers the forward edges stay local and each producer
// sends the records of the other subtask's key groups (about half) over loopback TCP; the
// difference between the two is the cost of that network hop.

#include <benchmark/benchmark.h>
#include <strom/strom.h>

#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"

namespace {

using bench::processCpuSeconds;

constexpr int64_t kKeys = 1000;

inline int64_t mapFn(int64_t x) { return x * 3 + 1; }
inline bool filterFn(int64_t x) { return x % 5 != 0; }

/// Consumes records and keeps a checksum, so that nothing is optimized away.
template <class T>
class ChecksumSink final : public strom::Sink<T> {
 public:
  explicit ChecksumSink(std::shared_ptr<std::atomic<int64_t>> sum) : sum_(std::move(sum)) {}
  std::unique_ptr<strom::SinkWriter<T>> createWriter(int, int) const override {
    return std::make_unique<Writer>(sum_);
  }

 private:
  class Writer final : public strom::SinkWriter<T> {
   public:
    explicit Writer(std::shared_ptr<std::atomic<int64_t>> sum) : sum_(std::move(sum)) {}
    strom::Status write(const strom::RecordBatch<T>& batch) override {
      int64_t local = 0;
      for (const T& v : batch) {
        if constexpr (std::is_same_v<T, int64_t>) {
          local += v;
        } else {
          local += v.first ^ v.second;
        }
      }
      sum_->fetch_add(local, std::memory_order_relaxed);
      return strom::Status::ok();
    }

   private:
    std::shared_ptr<std::atomic<int64_t>> sum_;
  };
  std::shared_ptr<std::atomic<int64_t>> sum_;
};

void report(benchmark::State& state, int64_t records, double cpuSeconds) {
  bench::reportPerCore(state, records, cpuSeconds);
}

/// Run the job that `declare(env, records, checksum)` declares once per iteration, on an
/// embedded MiniCluster with batches of state.range(1) rows, at `parallelism` on `taskManagers`
/// TaskManagers.
template <class Declare>
void runEngine(benchmark::State& state, Declare declare, int64_t parallelism = 1,
               int64_t taskManagers = 1) {
  int64_t n = state.range(0);
  int64_t records = 0;
  double cpu = 0;
  for (auto _ : state) {
    auto checksum = std::make_shared<std::atomic<int64_t>>(0);
    strom::Configuration config;
    config.set("execution.batch.rows", std::to_string(state.range(1)));
    config.set("taskmanager.count", std::to_string(taskManagers));
    strom::StreamExecutionEnvironment env(config);
    env.setParallelism(static_cast<int>(parallelism));
    declare(env, n, checksum);
    double start = processCpuSeconds();
    auto result = env.execute("bench");
    cpu += processCpuSeconds() - start;
    if (!result.isOk()) state.SkipWithError(result.status().toString().c_str());
    benchmark::DoNotOptimize(checksum->load());
    records += n;
  }
  report(state, records, cpu);
}

void BM_Engine_MapFilter(benchmark::State& state) {
  runEngine(state, [](strom::StreamExecutionEnvironment& env, int64_t n, auto checksum) {
    env.fromSequence(0, n - 1)
        .map([](int64_t x) { return mapFn(x); })
        .filter([](int64_t x) { return filterFn(x); })
        .sinkTo(std::make_shared<ChecksumSink<int64_t>>(checksum));
  });
}

void BM_Loop_MapFilter(benchmark::State& state) {
  int64_t n = state.range(0);
  int64_t records = 0;
  double cpu = 0;
  for (auto _ : state) {
    double start = processCpuSeconds();
    int64_t sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = mapFn(i);
      if (filterFn(v)) sum += v;
    }
    benchmark::DoNotOptimize(sum);
    cpu += processCpuSeconds() - start;
    records += n;
  }
  report(state, records, cpu);
}

void BM_Engine_MapFilterKeyByReduce(benchmark::State& state) {
  using Pair = std::pair<int64_t, int64_t>;
  auto declare = [](strom::StreamExecutionEnvironment& env, int64_t n, auto checksum) {
    env.fromSequence(0, n - 1)
        .map([](int64_t x) { return std::make_pair(mapFn(x) % kKeys, mapFn(x)); })
        .filter([](const Pair& p) { return filterFn(p.second); })
        .keyBy([](const Pair& p) { return p.first; })
        .reduce([](const Pair& a, const Pair& b) { return Pair(a.first, a.second + b.second); })
        .sinkTo(std::make_shared<ChecksumSink<Pair>>(checksum));
  };
  runEngine(state, declare, state.range(2), state.range(3));
}

void BM_Loop_MapFilterKeyByReduce(benchmark::State& state) {
  int64_t n = state.range(0);
  int64_t records = 0;
  double cpu = 0;
  for (auto _ : state) {
    double start = processCpuSeconds();
    // Keys are dense (0..999), so the fastest honest state is a flat array.
    std::vector<int64_t> sums(kKeys, 0);
    int64_t checksum = 0;
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = mapFn(i);
      if (!filterFn(v)) continue;
      int64_t key = v % kKeys;
      int64_t s = sums[static_cast<size_t>(key)] += v;
      checksum += key ^ s;
    }
    benchmark::DoNotOptimize(checksum);
    cpu += processCpuSeconds() - start;
    records += n;
  }
  report(state, records, cpu);
}

constexpr int64_t kRecords = 10'000'000;

// Loops take only the record count; engine runs also take the batch size in rows.
BENCHMARK(BM_Loop_MapFilter)
    ->Args({kRecords, 0})
    ->ArgNames({"records", "batch_rows"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Engine_MapFilter)
    ->Args({kRecords, 256})
    ->Args({kRecords, 1024})
    ->Args({kRecords, 4096})
    ->ArgNames({"records", "batch_rows"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Loop_MapFilterKeyByReduce)
    ->Args({kRecords, 0})
    ->ArgNames({"records", "batch_rows"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Engine_MapFilterKeyByReduce)
    ->Args({kRecords, 1024, 1, 1})
    ->Args({kRecords, 4096, 1, 1})
    ->Args({kRecords, 1024, 2, 1})
    ->Args({kRecords, 1024, 2, 2})
    ->Args({kRecords, 4096, 2, 1})
    ->Args({kRecords, 4096, 2, 2})
    ->ArgNames({"records", "batch_rows", "parallelism", "taskmanagers"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
