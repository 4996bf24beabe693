#pragma once

// Shared by the micro benchmarks: process CPU time, and the "per_core" counter (records per
// second of process CPU time, so an engine's several threads are charged in full).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <ctime>

namespace bench {

inline double processCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Report `records` processed in `cpuSeconds` of process CPU time.
inline void reportPerCore(benchmark::State& state, int64_t records, double cpuSeconds) {
  state.SetItemsProcessed(records);
  state.counters["per_core"] =
      benchmark::Counter(static_cast<double>(records) / cpuSeconds, benchmark::Counter::kDefaults);
}

}  // namespace bench
