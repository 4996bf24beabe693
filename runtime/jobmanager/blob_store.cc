#include "runtime/jobmanager/blob_store.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "common/logging.h"

namespace strom::runtime {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTempPrefix = ".upload-";
constexpr int64_t kMaxBlobSize = int64_t{4} << 30;

std::string errnoText() { return std::strerror(errno); }

}  // namespace

Result<std::unique_ptr<BlobStore>> BlobStore::create(const Configuration& configuration) {
  std::optional<std::string> configured = configuration.getString("blob.storage.directory");
  std::string directory;
  bool removeOnClose = false;
  if (configured && !configured->empty()) {
    directory = *configured;
    std::error_code error;
    fs::create_directories(directory, error);
    if (error) {
      return Status::ioError("blob.storage.directory '" + directory +
                             "': cannot create: " + error.message());
    }
    // Temporary files of an upload an earlier process did not finish.
    for (const fs::directory_entry& entry : fs::directory_iterator(directory, error)) {
      if (entry.path().filename().string().starts_with(kTempPrefix))
        fs::remove(entry.path(), error);
    }
  } else {
    std::error_code error;
    fs::path base = fs::temp_directory_path(error);
    if (error) base = "/tmp";
    std::string pattern = (base / "strom-blobs-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Status::ioError("blob store: cannot create a directory " + pattern + ": " +
                             errnoText());
    }
    directory = pattern;
    removeOnClose = true;
  }
  if (::access(directory.c_str(), W_OK) != 0) {
    return Status::ioError("blob.storage.directory '" + directory +
                           "': not writable: " + errnoText());
  }
  return std::unique_ptr<BlobStore>(new BlobStore(std::move(directory), removeOnClose));
}

BlobStore::BlobStore(std::string directory, bool removeOnClose)
    : directory_(std::move(directory)), removeOnClose_(removeOnClose) {}

BlobStore::~BlobStore() {
  if (!removeOnClose_) return;
  std::error_code error;
  fs::remove_all(directory_, error);
}

Result<std::unique_ptr<BlobStore::Upload>> BlobStore::beginUpload(std::string_view key,
                                                                  int64_t size) {
  if (!Sha256::isHexDigest(key)) {
    return Status::invalidArgument("blob key '" + std::string(key.substr(0, 80)) +
                                   "' is not a sha256 (64 lowercase hex digits)");
  }
  if (size < 0 || size > kMaxBlobSize) {
    return Status::invalidArgument("blob " + std::string(key) + ": declared size " +
                                   std::to_string(size) + " is outside 0..4 GiB");
  }
  // Unique per upload, so that two uploads of the same blob never share a temporary file.
  static std::atomic<uint64_t> nextUpload{0};
  std::string tempPath = directory_ + "/" + std::string(kTempPrefix) + std::string(key) + "-" +
                         std::to_string(::getpid()) + "-" +
                         // relaxed: only uniqueness matters
                         std::to_string(nextUpload.fetch_add(1, std::memory_order_relaxed));
  std::FILE* file = std::fopen(tempPath.c_str(), "wb");
  if (file == nullptr) {
    return Status::ioError("blob " + std::string(key) + ": cannot create " + tempPath + ": " +
                           errnoText());
  }
  return std::unique_ptr<Upload>(
      new Upload(*this, std::string(key), size, std::move(tempPath), file));
}

bool BlobStore::contains(std::string_view key) const {
  if (!Sha256::isHexDigest(key)) return false;
  std::error_code error;
  return fs::is_regular_file(directory_ + "/" + std::string(key), error);
}

Result<std::string> BlobStore::path(std::string_view key) const {
  if (!Sha256::isHexDigest(key)) {
    return Status::invalidArgument("blob key '" + std::string(key.substr(0, 80)) +
                                   "' is not a sha256 (64 lowercase hex digits)");
  }
  if (!contains(key)) {
    return Status::notFound("blob " + std::string(key) + " is not in the blob store");
  }
  return directory_ + "/" + std::string(key);
}

BlobStore::Upload::Upload(BlobStore& store, std::string key, int64_t size, std::string tempPath,
                          std::FILE* file)
    : store_(store),
      key_(std::move(key)),
      declaredSize_(size),
      tempPath_(std::move(tempPath)),
      file_(file) {}

BlobStore::Upload::~Upload() {
  if (!done_) discard();
}

void BlobStore::Upload::discard() {
  done_ = true;
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  std::remove(tempPath_.c_str());
}

Status BlobStore::Upload::write(std::string_view bytes) {
  if (done_) return Status::internal("blob " + key_ + ": write after the upload ended");
  written_ += static_cast<int64_t>(bytes.size());
  if (written_ > declaredSize_) {
    discard();
    return Status::corruption("blob " + key_ + ": upload has more than the declared " +
                              std::to_string(declaredSize_) + " bytes");
  }
  sha_.update(bytes);
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    Status error = Status::ioError("blob " + key_ + ": writing " + tempPath_ + ": " + errnoText());
    discard();
    return error;
  }
  return Status::ok();
}

Status BlobStore::Upload::finish() {
  if (done_) return Status::internal("blob " + key_ + ": upload already ended");
  if (written_ != declaredSize_) {
    discard();
    return Status::corruption("blob " + key_ + ": upload has " + std::to_string(written_) +
                              " bytes, declared " + std::to_string(declaredSize_));
  }
  std::string actual = sha_.finishHex();
  if (actual != key_) {
    discard();
    return Status::corruption("blob upload: the bytes have sha256 " + actual +
                              ", but the uploader declared " + key_);
  }
  bool flushed = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  int closed = std::fclose(file_);
  file_ = nullptr;
  if (!flushed || closed != 0) {
    Status error = Status::ioError("blob " + key_ + ": writing " + tempPath_ + ": " + errnoText());
    discard();
    return error;
  }
  // Atomic: a reader sees the whole blob or none; a concurrent upload of the same bytes
  // replaces it with the same content.
  if (std::rename(tempPath_.c_str(), (store_.directory_ + "/" + key_).c_str()) != 0) {
    Status error =
        Status::ioError("blob " + key_ + ": moving " + tempPath_ + " into place: " + errnoText());
    discard();
    return error;
  }
  done_ = true;
  moduleLogger("blob")->info("stored blob {} ({} bytes)", key_, declaredSize_);
  return Status::ok();
}

}  // namespace strom::runtime
