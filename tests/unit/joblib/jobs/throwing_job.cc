// A job whose build throws after declaring part of the job.

#include <strom/strom.h>

#include <stdexcept>

namespace {

void build(strom::StreamExecutionEnvironment& env, const strom::JobArgs&) {
  env.fromSequence(0, 9).print();
  throw std::runtime_error("the test job throws on purpose");
}

}  // namespace

STROM_JOB(build)
