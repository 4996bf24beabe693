// A job that declares a different topology on every call of build: its parallelism comes from a
// counter that lives as long as the library. A TaskManager's build would not match the CLI's.

#include <strom/strom.h>

namespace {

int buildCount = 0;

void build(strom::StreamExecutionEnvironment& env, const strom::JobArgs&) {
  ++buildCount;
  env.fromSequence(0, 9).map([](int64_t x) { return x + 1; }).setParallelism(buildCount).print();
}

}  // namespace

STROM_JOB(build)
