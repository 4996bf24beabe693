// A shared object with a valid STROM_JOB entry of this ABI version but built, it says, with
// another Strom release.

#include <strom/detail/job_library_entry.h>

extern "C" const strom::detail::JobLibraryEntry* strom_job_library_entry() {
  static const strom::detail::JobLibraryEntry entry{
      strom::detail::kJobLibraryMagic, strom::detail::kJobLibraryAbiVersion, "0.0.1", nullptr};
  return &entry;
}
