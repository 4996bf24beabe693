#pragma once

// strom-nexmark: options, the result mode (a query's rows to a CSV file), and the benchmark mode
// (the query on the embedded MiniCluster next to its hand-written loop, per core of CPU time).

#include <strom/status.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench/nexmark/query.h"

namespace strom::nexmark {

/// The command line of strom-nexmark.
struct NexmarkOptions {
  /// The queries to run ("all" expanded), in suite order.
  std::vector<const Query*> queries;
  /// The whole stream: events, rate, base time, seed, generators, proportions, sizes, ratios.
  NexmarkConfig config;
  /// Parallelism of the query's operators; the source runs at min(parallelism, generators).
  int parallelism = 1;
  /// Result mode when set: the file (q10: the directory) the result is written to.
  std::string output;
  /// Write the generated events as JSON Lines to this file too.
  std::string dumpEvents;
  /// -D key=value configuration overrides.
  std::vector<std::string> dynamicOptions;
};

/// Parse the arguments (without the program name). --help returns a cancelled status whose
/// message is the help text; a bad option returns invalidArgument naming it.
Result<NexmarkOptions> parseNexmarkOptions(const std::vector<std::string>& args);

/// One run of a query on the engine.
struct EngineRun {
  RowTally rows;
  double wallSeconds = 0;
  double cpuSeconds = 0;
};

/// Run `query` on the embedded MiniCluster with `options` (result mode if options.output is
/// set, else benchmark mode with a blackhole sink).
Result<EngineRun> runOnEngine(const Query& query, const NexmarkOptions& options);

/// One run of a query's hand-written loop.
struct LoopRun {
  RowTally rows;
  double cpuSeconds = 0;
};

/// Run `query`'s hand-written loop over the events of `options`.
Result<LoopRun> runLoop(const Query& query, const NexmarkOptions& options);

/// The whole program: parse, run, print; returns the exit code.
int nexmarkMain(int argc, char** argv);

}  // namespace strom::nexmark
