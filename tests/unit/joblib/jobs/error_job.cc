// A job whose build returns an error Status.

#include <strom/strom.h>

namespace {

strom::Status build(strom::StreamExecutionEnvironment&, const strom::JobArgs&) {
  return strom::Status::invalidArgument("missing --input (the test job fails on purpose)");
}

}  // namespace

STROM_JOB(build)
