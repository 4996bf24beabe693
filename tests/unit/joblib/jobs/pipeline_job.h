#pragma once

// The job of pipeline_job.cc, also built in-process by job_library_test.cc to compare
// fingerprints. Internal linkage on purpose: the test executable and the job library each get
// their own copy, so neither's symbols can stand in for the other's.

#include <strom/strom.h>

#include <cstdint>
#include <string>

namespace {

/// A keyed pipeline: numbers -> map -> keyBy -> reduce -> print. Arguments: `--parallelism N`
/// (default 2), and `--throw` to make build throw after declaring the source.
strom::Status buildPipelineJob(strom::StreamExecutionEnvironment& env, const strom::JobArgs& args) {
  int parallelism = 2;
  const auto& list = args.args();
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] == "--parallelism" && i + 1 < list.size()) {
      parallelism = std::stoi(list[++i]);
    } else {
      return strom::Status::invalidArgument("unknown argument '" + list[i] + "'");
    }
  }
  env.setParallelism(parallelism);
  env.fromSequence(0, 999)
      .name("Numbers")
      .map([](int64_t x) { return x * 3; })
      .name("Triple")
      .uid("triple")
      .keyBy([](int64_t x) { return x % 10; })
      .reduce([](int64_t a, int64_t b) { return a + b; })
      .name("Sum")
      .print();
  return strom::Status::ok();
}

}  // namespace
