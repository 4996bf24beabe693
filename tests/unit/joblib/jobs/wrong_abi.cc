// A shared object whose STROM_JOB entry claims another ABI version, as a library built against
// a future Strom would.

#include <strom/detail/job_library_entry.h>

extern "C" const strom::detail::JobLibraryEntry* strom_job_library_entry() {
  static const strom::detail::JobLibraryEntry entry{
      strom::detail::kJobLibraryMagic, strom::detail::kJobLibraryAbiVersion + 1, "99.0.0", nullptr};
  return &entry;
}
