// Must NOT compile: a double is not keyable (no KeyTraits<double>); keyBy names the problem.
#include <strom/strom.h>

void build(strom::StreamExecutionEnvironment& env) {
  env.fromSequence(0, 10).keyBy([](int64_t x) { return static_cast<double>(x); });
}
