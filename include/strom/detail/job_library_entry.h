#pragma once

// The contract between a job library (a STROM_JOB program loaded as a shared object) and the
// engine that loads it (src/graph/job_library.h). Kept apart from <strom/strom.h> so that the
// loader does not include the whole API.

#include <strom/environment.h>
#include <strom/status.h>
#include <strom/version.h>

#include <cstdint>

namespace strom::detail {

/// "STROMJOB" in ASCII: the first field of every JobLibraryEntry.
inline constexpr uint64_t kJobLibraryMagic = 0x5354524f4d4a4f42ULL;

/// The version of the contract between a job library and the engine that loads it: the layout
/// of JobLibraryEntry and the meaning of its fields. Bump it when a field is added, removed,
/// reordered or changes type or meaning (for example build's signature). Changes to the other
/// public headers are covered by the exact Strom version check instead (docs/architecture.md,
/// "Job libraries").
inline constexpr uint32_t kJobLibraryAbiVersion = 1;

/// What `strom_job_library_entry()` of a job library returns. The engine reads `magic` and
/// `abiVersion` before anything else, so those two fields stay first in every ABI version.
struct JobLibraryEntry {
  uint64_t magic;            // kJobLibraryMagic
  uint32_t abiVersion;       // kJobLibraryAbiVersion of the headers the library was built with
  const char* stromVersion;  // STROM_VERSION of those headers; static storage
  /// Declare the job on `env` from `args`. Never throws: an exception thrown by the user's
  /// build becomes an error Status.
  Status (*build)(StreamExecutionEnvironment& env, const JobArgs& args);
};

}  // namespace strom::detail
