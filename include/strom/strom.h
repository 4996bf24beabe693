#pragma once

// The one header a Strom job includes.

#include <strom/co_functions.h>
#include <strom/config.h>
#include <strom/connected_streams.h>
#include <strom/connectors.h>
#include <strom/datastream.h>
#include <strom/detail/job_library_entry.h>
#include <strom/environment.h>
#include <strom/fields.h>
#include <strom/functions.h>
#include <strom/key.h>
#include <strom/operator.h>
#include <strom/sink.h>
#include <strom/source.h>
#include <strom/state.h>
#include <strom/status.h>
#include <strom/version.h>
#include <strom/watermark.h>
#include <strom/window_join.h>
#include <strom/windows.h>

#include <cstdio>
#include <exception>
#include <type_traits>

namespace strom::detail {

/// Run the user's `build` (returning void or Status) on `env`, turning a thrown exception into
/// an InvalidArgument Status with the exception's message. A Cancelled Status means the program
/// chose not to run a job (for example it printed --help).
template <class Build>
Status runJobBuild(Build& build, StreamExecutionEnvironment& env, const JobArgs& args) noexcept {
  try {
    if constexpr (std::is_same_v<
                      std::invoke_result_t<Build&, StreamExecutionEnvironment&, const JobArgs&>,
                      Status>) {
      return build(env, args);
    } else {
      build(env, args);
      return Status::ok();
    }
  } catch (const std::exception& e) {
    return Status::invalidArgument(e.what());
  } catch (...) {
    return Status::invalidArgument("build threw an exception that is not a std::exception");
  }
}

/// Run a job program: build the job with `build` (which returns void or Status), execute
/// it, and turn errors into a message on stderr and an exit code (2: bad arguments or an
/// invalid job, 1: the job failed).
template <class Build>
int runJobMain(Build build, int argc, char** argv) {
  StreamExecutionEnvironment env;
  JobArgs args(argc, argv);
  Status status = runJobBuild(build, env, args);
  if (status.code() == StatusCode::kCancelled) return 0;  // e.g. --help was printed
  if (!status.isOk()) {
    std::fprintf(stderr, "%s: %s\n", args.programName().c_str(), status.message().c_str());
    return 2;
  }
  Result<JobExecutionResult> result = env.execute(args.programName());
  if (!result.isOk()) {
    std::fprintf(stderr, "%s: job failed: %s\n", args.programName().c_str(),
                 result.status().message().c_str());
    return result.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace strom::detail

/// Make a job program from `build`, a function
/// `void build(strom::StreamExecutionEnvironment&, const strom::JobArgs&)` (or one returning
/// strom::Status). Use it once, at namespace scope, in a program built with strom_add_job().
/// It defines
/// - `main`, which declares the job with `build` and runs it embedded (the executable), and
/// - `strom_job_library_entry()`, which the engine finds with dlsym when it loads the program
///   as a job library (`strom run job.so`, TaskManagers) and calls `build` through.
#define STROM_JOB(build)                                                                          \
  int main(int argc, char** argv) { return ::strom::detail::runJobMain(build, argc, argv); }      \
  extern "C" const ::strom::detail::JobLibraryEntry* strom_job_library_entry() {                  \
    static const ::strom::detail::JobLibraryEntry entry{                                          \
        ::strom::detail::kJobLibraryMagic, ::strom::detail::kJobLibraryAbiVersion, STROM_VERSION, \
        [](::strom::StreamExecutionEnvironment& env, const ::strom::JobArgs& args) {              \
          return ::strom::detail::runJobBuild(build, env, args);                                  \
        }};                                                                                       \
    return &entry;                                                                                \
  }
