// Generating Nexmark events (no JSON): events per second of one core for one split of the
// reference generator, and the same with the JSON Lines encoding of the golden files; and the
// NexmarkSource in the engine (one split, parallelism 1, into a checksum sink), per second of
// process CPU time next to the bare generator loop measured the same way.

#include <benchmark/benchmark.h>
#include <strom/strom.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "bench_util.h"
#include "connectors/nexmark/nexmark_config.h"
#include "connectors/nexmark/nexmark_generator.h"
#include "connectors/nexmark/nexmark_json.h"
#include "connectors/nexmark/nexmark_source.h"

namespace {

using strom::nexmark::NexmarkConfig;
using strom::nexmark::NexmarkEvent;
using strom::nexmark::NexmarkGenerator;

constexpr int64_t kEventsPerIteration = 100'000;

NexmarkGenerator makeGenerator() {
  NexmarkConfig config;
  config.baseTime = 1'600'000'000'000;
  auto generator = NexmarkGenerator::create(config);  // unbounded
  if (!generator.isOk()) {
    std::abort();
  }
  return std::move(generator).value();
}

// One long-running split, so the per-seed tables are built once, outside the timed loop.
void BM_GenerateEvents(benchmark::State& state) {
  NexmarkGenerator generator = makeGenerator();
  int64_t checksum = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < kEventsPerIteration; ++i) {
      const NexmarkEvent& event = generator.next();
      checksum += event.timestamp + static_cast<int64_t>(event.type) + event.bid.price +
                  static_cast<int64_t>(event.bid.extra.size());
    }
    benchmark::DoNotOptimize(checksum);
  }
  state.SetItemsProcessed(state.iterations() * kEventsPerIteration);
}
BENCHMARK(BM_GenerateEvents);

void BM_GenerateEventsAsJson(benchmark::State& state) {
  NexmarkGenerator generator = makeGenerator();
  std::string line;
  int64_t bytes = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < kEventsPerIteration; ++i) {
      line.clear();
      strom::nexmark::appendJsonLine(line, 0, generator.next());
      bytes += static_cast<int64_t>(line.size());
    }
    benchmark::DoNotOptimize(line.data());
  }
  state.SetItemsProcessed(state.iterations() * kEventsPerIteration);
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_GenerateEventsAsJson);

int64_t eventChecksum(const NexmarkEvent& event) {
  return event.timestamp + static_cast<int64_t>(event.type) + event.bid.price +
         static_cast<int64_t>(event.bid.extra.size());
}

/// Sums eventChecksum over every event it receives.
class ChecksumSink final : public strom::Sink<NexmarkEvent> {
 public:
  explicit ChecksumSink(std::shared_ptr<std::atomic<int64_t>> sum) : sum_(std::move(sum)) {}
  std::unique_ptr<strom::SinkWriter<NexmarkEvent>> createWriter(int, int) const override {
    return std::make_unique<Writer>(sum_);
  }

 private:
  class Writer final : public strom::SinkWriter<NexmarkEvent> {
   public:
    explicit Writer(std::shared_ptr<std::atomic<int64_t>> sum) : sum_(std::move(sum)) {}
    strom::Status write(const strom::RecordBatch<NexmarkEvent>& batch) override {
      int64_t local = 0;
      for (const NexmarkEvent& event : batch) local += eventChecksum(event);
      sum_->fetch_add(local, std::memory_order_relaxed);
      return strom::Status::ok();
    }

   private:
    std::shared_ptr<std::atomic<int64_t>> sum_;
  };
  std::shared_ptr<std::atomic<int64_t>> sum_;
};

constexpr int64_t kSourceEvents = 2'000'000;

NexmarkConfig sourceConfig() {
  NexmarkConfig config;
  config.baseTime = 1'600'000'000'000;
  config.maxEvents = kSourceEvents;
  return config;
}

void BM_Engine_NexmarkSource(benchmark::State& state) {
  int64_t records = 0;
  double cpu = 0;
  auto source = strom::nexmark::NexmarkSource::create(sourceConfig());
  if (!source.isOk()) std::abort();
  for (auto _ : state) {
    auto checksum = std::make_shared<std::atomic<int64_t>>(0);
    auto env = strom::StreamExecutionEnvironment::getExecutionEnvironment();
    env.fromSource<NexmarkEvent>(*source, strom::nexmark::nexmarkWatermarks(), "Nexmark")
        .sinkTo(std::make_shared<ChecksumSink>(checksum));
    double start = bench::processCpuSeconds();
    if (!env.execute("nexmark source").isOk()) std::abort();
    cpu += bench::processCpuSeconds() - start;
    records += kSourceEvents;
    state.counters["checksum"] = static_cast<double>(checksum->load());
  }
  bench::reportPerCore(state, records, cpu);
}
BENCHMARK(BM_Engine_NexmarkSource)->UseRealTime()->Unit(benchmark::kMillisecond);

/// The same events and checksum from the generator in a plain loop.
void BM_Loop_NexmarkSource(benchmark::State& state) {
  int64_t records = 0;
  double cpu = 0;
  for (auto _ : state) {
    double start = bench::processCpuSeconds();
    auto generator = NexmarkGenerator::create(sourceConfig());
    if (!generator.isOk()) std::abort();
    int64_t checksum = 0;
    while (generator->hasNext()) checksum += eventChecksum(generator->next());
    cpu += bench::processCpuSeconds() - start;
    records += kSourceEvents;
    state.counters["checksum"] = static_cast<double>(checksum);
  }
  bench::reportPerCore(state, records, cpu);
}
BENCHMARK(BM_Loop_NexmarkSource)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
