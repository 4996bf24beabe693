// job_library_check LIBRARY [job args...]: open a job library with JobLibrary, build its
// JobGraph and print "fingerprint <hex> vertices <n>"; on an error print it and exit 1. Used by
// the install test on a job built against an installed Strom.

#include <cstdio>
#include <string>
#include <vector>

#include "graph/job_library.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s LIBRARY [job args...]\n", argv[0]);
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  auto library = strom::graph::JobLibrary::open(argv[1]);
  if (!library.isOk()) {
    std::fprintf(stderr, "%s\n", library.status().message().c_str());
    return 1;
  }
  auto job = (*library)->buildJobGraph(strom::JobArgs(args, argv[1]), {}, "check");
  if (!job.isOk()) {
    std::fprintf(stderr, "%s\n", job.status().message().c_str());
    return 1;
  }
  std::printf("fingerprint %s vertices %zu\n", (*job)->fingerprint().c_str(),
              (*job)->vertices().size());
  return 0;
}
