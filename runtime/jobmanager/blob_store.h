#pragma once

#include <strom/config.h>
#include <strom/status.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "common/sha256.h"

namespace strom::runtime {

/// The JobManager's store of job libraries: one file per blob under `blob.storage.directory`,
/// named by the sha256 of its bytes (64 lowercase hex digits), so a key names its content and
/// an upload of the same library twice stores it once. Uploads go to a temporary file that is
/// renamed into place only once its size and sha256 match what the uploader declared: a reader
/// never sees a partial or corrupted blob. Thread-safe.
class BlobStore {
 public:
  /// Open (creating it if needed) the directory `blob.storage.directory` of `configuration`, or
  /// with no such key a fresh directory under the system's temporary directory, which is removed
  /// again with the store (Flink's default). Leftover temporary files of an earlier process are
  /// removed. IOError naming the directory if it cannot be created or written.
  static Result<std::unique_ptr<BlobStore>> create(const Configuration& configuration);
  ~BlobStore();
  BlobStore(const BlobStore&) = delete;
  BlobStore& operator=(const BlobStore&) = delete;

  /// An upload in progress. Destroying it before finish() removes what was written.
  class Upload {
   public:
    ~Upload();
    Upload(const Upload&) = delete;
    Upload& operator=(const Upload&) = delete;
    /// Append `bytes`. Corruption once more bytes arrive than were declared; IOError if the disk
    /// write fails.
    Status write(std::string_view bytes);
    /// Check the size and sha256 of what was written against the declared ones and move the
    /// blob into place. Corruption naming both sizes or both hashes if they differ (then nothing
    /// is stored).
    Status finish();

   private:
    friend class BlobStore;
    Upload(BlobStore& store, std::string key, int64_t size, std::string tempPath, std::FILE* file);
    void discard();

    BlobStore& store_;
    std::string key_;
    int64_t declaredSize_;
    int64_t written_ = 0;
    std::string tempPath_;
    std::FILE* file_;
    Sha256 sha_;
    bool done_ = false;
  };

  /// Begin storing blob `key` (sha256 hex) of `size` bytes. InvalidArgument for a key that is not
  /// 64 lowercase hex digits or a negative size or one above 4 GiB.
  Result<std::unique_ptr<Upload>> beginUpload(std::string_view key, int64_t size);
  /// Return whether blob `key` is stored.
  bool contains(std::string_view key) const;
  /// Return the path of stored blob `key`: NotFound naming the key if it is not stored,
  /// InvalidArgument if it is not a key.
  Result<std::string> path(std::string_view key) const;
  const std::string& directory() const { return directory_; }

 private:
  BlobStore(std::string directory, bool removeOnClose);

  std::string directory_;
  bool removeOnClose_;
};

}  // namespace strom::runtime
