#pragma once

#include <strom/config.h>
#include <strom/environment.h>
#include <strom/status.h>

#include <memory>
#include <mutex>
#include <string>

#include "graph/job_graph.h"

namespace strom::detail {
struct JobLibraryEntry;
}  // namespace strom::detail

namespace strom::graph {

/// A loaded job library: a shared object built with strom_add_job() from a STROM_JOB(build)
/// program, whose `build` declares the job. The process that loads it must link libstrom.so
/// (target `strom`), so the library and the engine share one copy of the engine's code and
/// static objects.
///
/// A library, once opened, stays loaded until the process exits: it is never dlclose'd, because
/// the operator factories, user functions, vtables and static objects that build creates live in
/// its code and data, and they are referenced by graphs and tasks (and by objects that other
/// threads may still destroy) whose lifetime the loader cannot see. Unloading it under them
/// would turn a finished job into a crash; the cost is the library's mapping per distinct path.
///
/// Thread-safe: open() may be called from any thread, and buildJobGraph() calls `build` under a
/// per-library mutex, so user code with static state is never entered by two threads at once.
class JobLibrary {
 public:
  /// Load the job library at `path` (dlopen with RTLD_NOW | RTLD_LOCAL, relative paths taken
  /// from the working directory) and check its STROM_JOB entry: magic number, ABI version and
  /// Strom version. Errors name `path` and what is wrong: NotFound for a missing file,
  /// InvalidArgument for a file that is not a shared object, has no STROM_JOB entry, was built
  /// for another ABI or Strom version, or needs symbols this process does not define.
  static Result<std::shared_ptr<JobLibrary>> open(const std::string& path);

  /// Declare the job: call `build` on a fresh environment with `configuration` and `args`, then
  /// build the JobGraph named `jobName` (graph::buildJobGraph). An error Status returned by
  /// build, or an exception it throws, comes back as the Status, prefixed with the path.
  Result<std::shared_ptr<const JobGraph>> buildJobGraph(const JobArgs& args,
                                                        const Configuration& configuration,
                                                        const std::string& jobName) const;

  /// The path the library was opened from, absolute.
  const std::string& path() const { return path_; }
  /// The Strom version the library was built with.
  const std::string& stromVersion() const { return stromVersion_; }

  JobLibrary(std::string path, const detail::JobLibraryEntry* entry);
  JobLibrary(const JobLibrary&) = delete;
  JobLibrary& operator=(const JobLibrary&) = delete;

 private:
  std::string path_;
  std::string stromVersion_;
  const detail::JobLibraryEntry* entry_;  // static storage of the library, which stays loaded
  mutable std::mutex mu_;                 // serializes calls into build
};

}  // namespace strom::graph
