// Generating Nexmark events (no JSON): events per second of one core for one split of the
// reference generator, and the same with the JSON Lines encoding of the golden files.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "connectors/nexmark/nexmark_config.h"
#include "connectors/nexmark/nexmark_generator.h"
#include "connectors/nexmark/nexmark_json.h"

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

}  // namespace

BENCHMARK_MAIN();
