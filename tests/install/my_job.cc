// The job of the install test: squares of 1..5, keyed by parity and summed, printed.

#include <strom/strom.h>

#include <cstdint>

namespace {

void build(strom::StreamExecutionEnvironment& env, const strom::JobArgs&) {
  env.fromSequence(1, 5)
      .map([](int64_t x) { return x * x; })
      .name("Square")
      .keyBy([](int64_t x) { return x % 2; })
      .reduce([](int64_t a, int64_t b) { return a + b; })
      .name("SumByParity")
      .print();
}

}  // namespace

STROM_JOB(build)
