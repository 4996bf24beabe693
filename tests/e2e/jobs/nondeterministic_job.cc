// A job whose build is not deterministic: an operator's name contains the process id, so the
// client and every TaskManager build different topologies. Submitting it must fail the
// deployment with a fingerprint mismatch, naming the job and both fingerprints.

#include <strom/strom.h>
#include <unistd.h>

#include <cstdint>
#include <string>

void build(strom::StreamExecutionEnvironment& env, const strom::JobArgs&) {
  env.fromSequence(1, 10)
      .map([](int64_t v) { return v + 1; })
      .name("Map in process " + std::to_string(::getpid()))
      .print();
}

STROM_JOB(build)
