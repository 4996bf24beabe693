#include "graph/job_library.h"

#include <dlfcn.h>
#include <strom/detail/job_library_entry.h>

#include <filesystem>
#include <system_error>
#include <utility>

namespace strom::graph {
namespace {

// dlopen and dlerror report through one thread-local message (glibc), so read it right away.
std::string lastDlError() {
  const char* message = dlerror();
  return message != nullptr ? message : "unknown dynamic loader error";
}

}  // namespace

JobLibrary::JobLibrary(std::string path, const detail::JobLibraryEntry* entry)
    : path_(std::move(path)), stromVersion_(entry->stromVersion), entry_(entry) {}

Result<std::shared_ptr<JobLibrary>> JobLibrary::open(const std::string& path) {
  std::error_code error;
  // dlopen searches the library path for a name without a slash; a user means the file.
  std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (error) {
    return Status::invalidArgument("job library " + path + ": " + error.message());
  }
  std::string where = "job library " + absolute.string();
  auto status = std::filesystem::status(absolute, error);
  if (error || !std::filesystem::exists(status)) {
    return Status::notFound(where + ": no such file");
  }
  if (!std::filesystem::is_regular_file(status)) {
    return Status::invalidArgument(where + ": not a regular file");
  }
  // RTLD_NOW: a library built against another engine fails here, naming the missing symbol,
  // rather than in the middle of a job. RTLD_LOCAL: two jobs' libraries may define the same
  // names (every one has a `build` and a strom_job_library_entry).
  void* handle = dlopen(absolute.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    std::string message = lastDlError();
    // dlerror names the file first; the status names it already.
    std::string prefix = absolute.string() + ": ";
    if (message.starts_with(prefix)) message.erase(0, prefix.size());
    if (message.find("undefined symbol") != std::string::npos) {
      return Status::invalidArgument(
          where +
          ": undefined symbols (built against another Strom, or a dependency missing): " + message);
    }
    return Status::invalidArgument(where + ": not a loadable shared object: " + message);
  }
  // Never dlclose'd, not even on the errors below: see the class comment (and a library
  // without an entry may still have run static constructors that registered something).
  dlerror();
  void* symbol = dlsym(handle, "strom_job_library_entry");
  if (symbol == nullptr) {
    return Status::invalidArgument(where +
                                   ": not a Strom job library (no STROM_JOB entry "
                                   "strom_job_library_entry)");
  }
  using EntryFunction = const detail::JobLibraryEntry* (*)();
  const detail::JobLibraryEntry* entry = reinterpret_cast<EntryFunction>(symbol)();
  if (entry == nullptr || entry->magic != detail::kJobLibraryMagic) {
    return Status::invalidArgument(where +
                                   ": not a Strom job library (strom_job_library_entry returned "
                                   "no STROM_JOB entry: bad magic number)");
  }
  if (entry->abiVersion != detail::kJobLibraryAbiVersion) {
    return Status::invalidArgument(
        where + ": built for job library ABI version " + std::to_string(entry->abiVersion) +
        ", but this Strom (" STROM_VERSION ") loads ABI version " +
        std::to_string(detail::kJobLibraryAbiVersion) + ": rebuild the job against this Strom");
  }
  std::string version = entry->stromVersion != nullptr ? entry->stromVersion : "";
  if (version != STROM_VERSION) {
    return Status::invalidArgument(where + ": built with Strom " + version +
                                   ", but this is Strom " STROM_VERSION
                                   ": rebuild the job against this Strom");
  }
  return std::make_shared<JobLibrary>(absolute.string(), entry);
}

Result<std::shared_ptr<const JobGraph>> JobLibrary::buildJobGraph(
    const JobArgs& args, const Configuration& configuration, const std::string& jobName) const {
  StreamExecutionEnvironment env(configuration);
  {
    std::lock_guard<std::mutex> lock(mu_);
    Status status = entry_->build(env, args);
    if (!status.isOk()) {
      return Status(status.code(), "job library " + path_ + ": build failed: " + status.message());
    }
  }
  return graph::buildJobGraph(env, jobName);
}

}  // namespace strom::graph
