#include "runtime/task/keyed_store.h"

#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <system_error>
#include <utility>

#include "common/logging.h"
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
  STROM_ASSIGN_OR_RETURN(options.localRecovery,
                         configuration.getBool("state.backend.local-recovery", false));
  return options;
}

fs::path localStateDirOfJob(const fs::path& localDir, const std::string& jobId) {
  return localDir / "strom-local-state" / jobId;
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
  if (result.isOk() && !upload.keepAs.empty()) {
    // Kept for local recovery; without it (no space, ...) a restore downloads.
    fs::remove_all(upload.keepAs, ignored);
    fs::create_directories(upload.keepAs.parent_path(), ignored);
    std::error_code moved;
    fs::rename(upload.localDir, upload.keepAs, moved);
    if (!moved) return result;
  }
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

/// `uid` as one file name: letters, digits, '-', '_' and '.' as they are, other bytes as %XX.
std::string fileNameOf(const std::string& uid) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string name;
  for (unsigned char c : uid) {
    if (std::isalnum(c) || c == '-' || c == '_' || (c == '.' && !name.empty())) {
      name.push_back(static_cast<char>(c));
    } else {
      name.push_back('%');
      name.push_back(kDigits[c >> 4]);
      name.push_back(kDigits[c & 0xf]);
    }
  }
  return name;
}

}  // namespace

OperatorKeyedStore::OperatorKeyedStore(fs::path directory, std::string operatorUid,
                                       KeyGroupRange range, int maxParallelism, std::string what,
                                       fs::path localStateDir)
    : directory_(std::move(directory)),
      operatorUid_(std::move(operatorUid)),
      range_(range),
      maxParallelism_(maxParallelism),
      what_(std::move(what)),
      storeId_(randomId()),
      localStateDir_(std::move(localStateDir)) {}

OperatorKeyedStore::~OperatorKeyedStore() = default;

fs::path OperatorKeyedStore::localSlot(const KeyGroupRange& range) const {
  return localStateDir_ / (fileNameOf(operatorUid_) + "-kg" + std::to_string(range.startKeyGroup) +
                           "-" + std::to_string(range.endKeyGroup));
}

void OperatorKeyedStore::addRestoreHandle(const fs::path& rootDir, int64_t checkpointId,
                                          const checkpoint::proto::StateHandle& handle,
                                          bool reusable) {
  restoreCheckpointId_ = checkpointId;
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
    const std::string& name = restore.handle.name();
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      return Status::corruption(what_ + ": a RocksDB state handle in '" +
                                (restore.rootDir / restore.handle.path()).string() +
                                "' has the bad file name '" + name + "'");
    }
    bySubtask[restore.handle.subtask_index()].push_back(&restore);
  }
  // With local recovery, a subtask's files come from the local copy of the checkpoint when it
  // holds every one of them at its length, and its small files (MANIFEST, CURRENT, OPTIONS)
  // have the checksums of the checkpoint's. The MANIFEST names every table file with its size,
  // key range and unique id: a copy of another checkpoint with the same id (one an earlier
  // attempt took and never completed) does not pass.
  auto localCopy = [&](const std::vector<const RestoreHandle*>& handles) -> fs::path {
    if (localStateDir_.empty() || restoreCheckpointId_ < 0) return {};
    const fs::path directory = localSlot(KeyGroupRange{handles.front()->handle.key_group_start(),
                                                       handles.front()->handle.key_group_end()}) /
                               ("chk-" + std::to_string(restoreCheckpointId_));
    for (const RestoreHandle* restore : handles) {
      const fs::path file = directory / restore->handle.name();
      std::error_code ec;
      const uint64_t size = fs::file_size(file, ec);
      if (ec || size != restore->handle.length()) return {};
      if (restore->handle.name().ends_with(".sst")) continue;
      std::ifstream in(file, std::ios::binary);
      std::string bytes(static_cast<size_t>(size), '\0');
      if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())) ||
          XXH3_64bits(bytes.data(), bytes.size()) != restore->handle.checksum()) {
        return {};
      }
    }
    return directory;
  };
  std::vector<fs::path> downloads;
  auto cleanUp = [&] {
    for (const fs::path& download : downloads) fs::remove_all(download, ec);
    downloads.clear();
  };
  auto openFrom = [&](bool useLocal) -> Result<std::unique_ptr<state::RocksDbKeyedStore>> {
    restoreStats_ = StoreRestoreStats{};
    restoredLocalCopies_.clear();
    state::RocksDbStoreOptions options;
    options.directory = directory_;
    options.keyGroupRange = range_;
    options.maxParallelism = maxParallelism_;
    options.resources = resources;
    options.maxCachedKeys = maxCachedKeys;
    for (const auto& [subtask, handles] : bySubtask) {
      state::RocksDbRestoreSource source;
      source.keyGroupRange = KeyGroupRange{handles.front()->handle.key_group_start(),
                                           handles.front()->handle.key_group_end()};
      const std::string from = (handles.front()->rootDir / handles.front()->handle.path()).string();
      if (fs::path local = useLocal ? localCopy(handles) : fs::path(); !local.empty()) {
        source.directory = local;
        source.name = "RocksDB state of subtask " + std::to_string(subtask) + " (local copy '" +
                      local.string() + "' of '" + from + "')";
        for (const RestoreHandle* restore : handles) {
          restoreStats_.localBytes += restore->handle.length();
        }
        restoredLocalCopies_.push_back(local);
        options.restore.push_back(std::move(source));
        continue;
      }
      fs::path download = directory_;
      download += ".restore-" + std::to_string(subtask);
      fs::remove_all(download, ec);
      downloads.push_back(download);
      fs::create_directories(download, ec);
      if (ec) {
        return Status::ioError(what_ + ": cannot create directory '" + download.string() +
                               "': " + ec.message());
      }
      source.directory = download;
      source.name =
          "RocksDB state of subtask " + std::to_string(subtask) + " (from '" + from + "')";
      for (const RestoreHandle* restore : handles) {
        const std::string& name = restore->handle.name();
        Status copied =
            checkpoint::copyStateHandleToFile(restore->rootDir, restore->handle, download / name);
        if (!copied.isOk()) return copied.withContext(what_ + " restoring its RocksDB state");
        restoreStats_.downloadedBytes += restore->handle.length();
      }
      options.restore.push_back(std::move(source));
    }
    auto store = state::RocksDbKeyedStore::open(std::move(options));
    if (!store.isOk()) return store.status().withContext(what_);
    return store;
  };
  auto store = openFrom(/*useLocal=*/true);
  cleanUp();
  if (!store.isOk() && restoreStats_.localBytes > 0) {
    // A local copy that does not open (a corrupt file of the right length): download instead.
    moduleLogger("task")->warn(
        "{}: the local copy of checkpoint {} does not open ({}); "
        "downloading it",
        what_, restoreCheckpointId_, store.status().toString());
    fs::remove_all(directory_, ec);
    store = openFrom(/*useLocal=*/false);
    cleanUp();
  }
  if (!store.isOk()) return store.status();
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
  if (!localStateDir_.empty()) {
    upload.keepAs = localSlot(range_) / ("chk-" + std::to_string(checkpointId));
  }
  upload.log = log_;
  return upload;
}

void OperatorKeyedStore::dropLocalCopies() {
  if (localStateDir_.empty()) return;
  std::error_code ec;
  for (const fs::path& copy : restoredLocalCopies_) fs::remove_all(copy, ec);
  fs::remove_all(localSlot(range_), ec);
}

void OperatorKeyedStore::confirm(int64_t checkpointId) {
  std::map<std::string, checkpoint::proto::StateHandle> files = log_->take(checkpointId);
  if (!files.empty()) confirmed_ = std::move(files);
  if (localStateDir_.empty()) return;
  // A restore starts from the latest completed checkpoint: older local copies are of no use.
  std::vector<fs::path> older;
  std::error_code ec;
  for (fs::directory_iterator it(localSlot(range_), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with("chk-")) continue;
    char* rest = nullptr;
    const long long id = std::strtoll(name.c_str() + 4, &rest, 10);
    if (rest != nullptr && *rest == '\0' && id < checkpointId) older.push_back(it->path());
  }
  for (const fs::path& path : older) fs::remove_all(path, ec);
}

}  // namespace strom::runtime
