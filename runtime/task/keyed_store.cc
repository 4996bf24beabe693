#include "runtime/task/keyed_store.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iterator>
#include <random>
#include <system_error>
#include <utility>

#include "state/rocksdb/rocksdb_keyed_store.h"

namespace strom::runtime {
namespace fs = std::filesystem;

Result<KeyedStoreOptions> KeyedStoreOptions::fromConfiguration(const Configuration& configuration) {
  KeyedStoreOptions options;
  std::string type = configuration.getString("state.backend.type", "heap");
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (type == "rocksdb") {
    options.rocksdb = true;
  } else if (type != "heap" && type != "hashmap") {
    return Status::invalidArgument("config key 'state.backend.type': unknown state backend '" +
                                   type + "' (expected heap, hashmap or rocksdb)");
  }
  std::string local = configuration.getString("state.backend.rocksdb.localdir", "");
  if (local.empty()) {
    // io.tmp.dirs may list several directories, separated by ',' or ':': take the first.
    local = configuration.getString("io.tmp.dirs", "");
    local = local.substr(0, local.find_first_of(",:"));
  }
  options.localDir = local.empty() ? fs::temp_directory_path() : fs::path(local);
  STROM_ASSIGN_OR_RETURN(int64_t maxKeys,
                         configuration.getInt("state.backend.rocksdb.cache.max-keys", 65536));
  if (maxKeys < 1) {
    return Status::invalidArgument(
        "config key 'state.backend.rocksdb.cache.max-keys' must be at least 1, got " +
        std::to_string(maxKeys));
  }
  options.maxCachedKeys = static_cast<size_t>(maxKeys);
  STROM_ASSIGN_OR_RETURN(options.incremental,
                         configuration.getBool("execution.checkpointing.incremental", false));
  return options;
}

void StoreUploadLog::record(int64_t checkpointId,
                            std::map<std::string, checkpoint::proto::StateHandle> files) {
  std::lock_guard lock(mu_);
  byCheckpoint_[checkpointId] = std::move(files);
}

std::map<std::string, checkpoint::proto::StateHandle> StoreUploadLog::take(int64_t checkpointId) {
  std::lock_guard lock(mu_);
  std::map<std::string, checkpoint::proto::StateHandle> files;
  auto it = byCheckpoint_.find(checkpointId);
  if (it != byCheckpoint_.end()) files = std::move(it->second);
  byCheckpoint_.erase(byCheckpoint_.begin(), byCheckpoint_.upper_bound(checkpointId));
  return files;
}

Result<std::vector<checkpoint::proto::StateHandle>> uploadStore(
    StoreUpload& upload, const fs::path& jobDir, int subtaskIndex,
    std::vector<checkpoint::TaskStateEntry>& inlineEntries) {
  auto work = [&]() -> Result<std::vector<checkpoint::proto::StateHandle>> {
    std::vector<checkpoint::proto::StateHandle> handles;
    std::map<std::string, checkpoint::proto::StateHandle> recorded;
    for (const StoreCheckpointFile& file : upload.files) {
      const fs::path local = upload.localDir / file.name;
      if (!file.sst) {
        checkpoint::TaskStateEntry entry;
        entry.operatorUid = upload.operatorUid;
        entry.kind = std::string(checkpoint::kRocksDbStateKind);
        entry.name = file.name;
        entry.keyGroupStart = upload.range.startKeyGroup;
        entry.keyGroupEnd = upload.range.endKeyGroup;
        std::error_code ec;
        const uint64_t size = fs::file_size(local, ec);
        if (ec) return Status::ioError("cannot read '" + local.string() + "': " + ec.message());
        // Small files (MANIFEST, CURRENT, OPTIONS): read whole.
        entry.bytes.resize(static_cast<size_t>(size));
        FILE* in = std::fopen(local.c_str(), "rb");
        if (in == nullptr) return Status::ioError("cannot open '" + local.string() + "'");
        const size_t read = std::fread(entry.bytes.data(), 1, entry.bytes.size(), in);
        std::fclose(in);
        if (read != entry.bytes.size()) {
          return Status::ioError("cannot read '" + local.string() + "' (short read)");
        }
        inlineEntries.push_back(std::move(entry));
        continue;
      }
      checkpoint::proto::StateHandle handle;
      auto reused = upload.reusable.find(file.name);
      if (reused != upload.reusable.end() && reused->second.length() == file.size) {
        handle = reused->second;
      } else {
        STROM_ASSIGN_OR_RETURN(
            handle, checkpoint::uploadSharedFile(jobDir, local, upload.sharedPrefix + file.name));
      }
      handle.set_kind(std::string(checkpoint::kRocksDbStateKind));
      handle.set_name(file.name);
      handle.set_key_group_start(upload.range.startKeyGroup);
      handle.set_key_group_end(upload.range.endKeyGroup);
      handle.set_operator_uid(upload.operatorUid);
      handle.set_subtask_index(subtaskIndex);
      recorded.emplace(file.name, handle);
      handles.push_back(std::move(handle));
    }
    if (upload.log != nullptr) upload.log->record(upload.checkpointId, std::move(recorded));
    return handles;
  };
  auto result = work();
  std::error_code ignored;
  fs::remove_all(upload.localDir, ignored);
  return result;
}

namespace {

std::string randomId() {
  std::random_device device;
  std::mt19937_64 random((static_cast<uint64_t>(device()) << 32) ^ device());
  static constexpr char kDigits[] = "0123456789abcdef";
  uint64_t value = random();
  std::string id;
  for (int i = 0; i < 16; ++i, value >>= 4) id.push_back(kDigits[value & 0xf]);
  return id;
}

}  // namespace

OperatorKeyedStore::OperatorKeyedStore(fs::path directory, std::string operatorUid,
                                       KeyGroupRange range, int maxParallelism, std::string what)
    : directory_(std::move(directory)),
      operatorUid_(std::move(operatorUid)),
      range_(range),
      maxParallelism_(maxParallelism),
      what_(std::move(what)),
      storeId_(randomId()) {}

OperatorKeyedStore::~OperatorKeyedStore() = default;

void OperatorKeyedStore::addRestoreHandle(const fs::path& rootDir,
                                          const checkpoint::proto::StateHandle& handle,
                                          bool reusable) {
  restoreHandles_.push_back(RestoreHandle{rootDir, handle, reusable});
}

Result<KeyedStateStore*> OperatorKeyedStore::open(
    const std::shared_ptr<state::RocksDbResources>& resources, size_t maxCachedKeys) {
  if (store_ != nullptr) return static_cast<KeyedStateStore*>(store_.get());
  std::error_code ec;
  fs::remove_all(directory_, ec);  // left by a process that crashed
  // The restore handles, one source per subtask that wrote them, downloaded next to the store.
  std::map<int, std::vector<const RestoreHandle*>> bySubtask;
  for (const RestoreHandle& restore : restoreHandles_) {
    bySubtask[restore.handle.subtask_index()].push_back(&restore);
  }
  std::vector<fs::path> downloads;
  auto cleanUp = [&] {
    for (const fs::path& download : downloads) fs::remove_all(download, ec);
  };
  state::RocksDbStoreOptions options;
  options.directory = directory_;
  options.keyGroupRange = range_;
  options.maxParallelism = maxParallelism_;
  options.resources = resources;
  options.maxCachedKeys = maxCachedKeys;
  for (const auto& [subtask, handles] : bySubtask) {
    fs::path download = directory_;
    download += ".restore-" + std::to_string(subtask);
    fs::remove_all(download, ec);
    downloads.push_back(download);
    fs::create_directories(download, ec);
    if (ec) {
      cleanUp();
      return Status::ioError(what_ + ": cannot create directory '" + download.string() +
                             "': " + ec.message());
    }
    state::RocksDbRestoreSource source;
    source.directory = download;
    source.keyGroupRange = KeyGroupRange{handles.front()->handle.key_group_start(),
                                         handles.front()->handle.key_group_end()};
    for (const RestoreHandle* restore : handles) {
      const std::string& name = restore->handle.name();
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
        cleanUp();
        return Status::corruption(what_ + ": a RocksDB state handle in '" +
                                  (restore->rootDir / restore->handle.path()).string() +
                                  "' has the bad file name '" + name + "'");
      }
      Status copied =
          checkpoint::copyStateHandleToFile(restore->rootDir, restore->handle, download / name);
      if (!copied.isOk()) {
        cleanUp();
        return copied.withContext(what_ + " restoring its RocksDB state");
      }
      if (source.name.empty()) {
        source.name = "RocksDB state of subtask " + std::to_string(subtask) + " (from '" +
                      (restore->rootDir / restore->handle.path()).string() + "')";
      }
    }
    options.restore.push_back(std::move(source));
  }
  auto store = state::RocksDbKeyedStore::open(std::move(options));
  cleanUp();
  if (!store.isOk()) return store.status().withContext(what_);
  store_ = std::move(store).value();
  // The base's table files are in the store under their names, with the content they have in
  // shared/: an incremental checkpoint references them (as Flink does after a restore at the
  // same parallelism) instead of uploading the whole state again.
  if (const int base = store_->restoredBaseSource(); base >= 0) {
    auto it = bySubtask.begin();
    std::advance(it, base);
    for (const RestoreHandle* restore : it->second) {
      if (restore->reusable) confirmed_[restore->handle.name()] = restore->handle;
    }
  }
  restoreHandles_.clear();
  return static_cast<KeyedStateStore*>(store_.get());
}

Result<StoreUpload> OperatorKeyedStore::takeCheckpoint(int64_t checkpointId, bool incremental) {
  StoreUpload upload;
  upload.operatorUid = operatorUid_;
  upload.range = range_;
  upload.checkpointId = checkpointId;
  upload.localDir = directory_;
  upload.localDir += ".chk-" + std::to_string(checkpointId);
  std::error_code ec;
  fs::remove_all(upload.localDir, ec);
  auto local = store_->checkpoint(upload.localDir);
  if (!local.isOk()) return local.status().withContext(what_);
  for (const state::RocksDbCheckpointFile& file : local->files) {
    upload.files.push_back(StoreCheckpointFile{file.name, file.size, file.sst});
  }
  upload.sharedPrefix = "shared/" + storeId_ + "-c" + std::to_string(checkpointId) + "-";
  if (incremental) upload.reusable = confirmed_;
  upload.log = log_;
  return upload;
}

void OperatorKeyedStore::confirm(int64_t checkpointId) {
  std::map<std::string, checkpoint::proto::StateHandle> files = log_->take(checkpointId);
  if (!files.empty()) confirmed_ = std::move(files);
}

}  // namespace strom::runtime
