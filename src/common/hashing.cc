#include <strom/key.h>
#include <xxhash.h>

namespace strom {

uint64_t hashBytes(const void* data, size_t size) { return XXH3_64bits(data, size); }

}  // namespace strom
