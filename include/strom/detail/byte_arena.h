#pragma once

// Bytes that live as long as a record batch: records whose fields are std::string_view point
// into the arena of the batch they travel in (see RecordBatch::arena()).

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace strom::detail {

/// A bump allocator of bytes in chunks. Copies are stable (chunks never move) until reset(),
/// which keeps the chunks for reuse, so an arena that is filled and reset per batch allocates
/// nothing in steady state. Not thread-safe: it belongs to one batch.
class ByteArena {
 public:
  static constexpr size_t kChunkBytes = 16 * 1024;
  /// Chunks beyond this many bytes are freed by reset() (after an unusually large batch).
  static constexpr size_t kRetainedBytes = 1024 * 1024;

  ByteArena() = default;
  ByteArena(const ByteArena&) = delete;
  ByteArena& operator=(const ByteArena&) = delete;
  ByteArena(ByteArena&&) noexcept = default;
  ByteArena& operator=(ByteArena&&) noexcept = default;

  /// Copy `bytes` into the arena and return the copy.
  std::string_view copy(std::string_view bytes) {
    if (bytes.empty()) return {};
    char* out = allocate(bytes.size());
    std::memcpy(out, bytes.data(), bytes.size());
    return {out, bytes.size()};
  }

  /// Return `n` > 0 bytes of storage, stable until reset().
  char* allocate(size_t n) {
    while (current_ < chunks_.size()) {
      Chunk& chunk = chunks_[current_];
      if (chunk.size - used_ >= n) {
        char* out = chunk.data.get() + used_;
        used_ += n;
        bytesUsed_ += n;
        return out;
      }
      ++current_;
      used_ = 0;
    }
    const size_t size = std::max(n, kChunkBytes);
    chunks_.push_back(Chunk{std::make_unique<char[]>(size), size});
    current_ = chunks_.size() - 1;
    used_ = n;
    bytesUsed_ += n;
    return chunks_.back().data.get();
  }

  /// Forget every copy (their views dangle from now on), keeping up to kRetainedBytes of
  /// chunks for reuse.
  void reset() {
    if (bytesUsed_ == 0) return;
    size_t kept = 0;
    size_t retained = 0;
    while (kept < chunks_.size() && retained + chunks_[kept].size <= kRetainedBytes) {
      retained += chunks_[kept].size;
      ++kept;
    }
    chunks_.resize(kept);
    current_ = 0;
    used_ = 0;
    bytesUsed_ = 0;
  }

  /// The bytes handed out since the last reset().
  size_t bytesUsed() const { return bytesUsed_; }

 private:
  struct Chunk {
    std::unique_ptr<char[]> data;
    size_t size;
  };
  std::vector<Chunk> chunks_;
  size_t current_ = 0;  // the chunk being filled
  size_t used_ = 0;     // bytes used of it
  size_t bytesUsed_ = 0;
};

}  // namespace strom::detail
