#pragma once

// The RocksDB implementation of KeyedStateStore (<strom/detail/keyed_state_store.h>; DESIGN §6):
// one RocksDB database per operator instance, in a working directory the store owns, with one
// column family per state. Byte layouts: docs/formats.md, "RocksDB keyed state". The store's
// RocksDB types stay in the .cc, so the task code that includes this header needs no RocksDB
// headers.
//
// Snapshots: checkpoint() takes the synchronous part (flush, then a RocksDB checkpoint of hard
// links); a store restores from the files of one or more such checkpoints, keeping only the key
// groups of its own range (rescaling).

#include <strom/detail/keyed_state_store.h>
#include <strom/key.h>
#include <strom/status.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "state/rocksdb/rocksdb_resources.h"

namespace strom::state {

/// One RocksDB checkpoint to restore from.
struct RocksDbRestoreSource {
  /// A local directory holding the files of the checkpoint (RocksDbLocalCheckpoint::files).
  std::filesystem::path directory;
  /// The key groups the checkpointed store held.
  KeyGroupRange keyGroupRange;
  /// Names the source in errors (such as the checkpoint file's path).
  std::string name;
};

/// How to open a RocksDbKeyedStore.
struct RocksDbStoreOptions {
  /// The store's working directory: created, and removed when the store is destroyed. It must
  /// not exist or be empty.
  std::filesystem::path directory;
  /// The key groups of the operator instance.
  KeyGroupRange keyGroupRange;
  /// The job's max parallelism, 1..32768: the number of key groups.
  int maxParallelism = kDefaultMaxParallelism;
  /// The process's shared cache and write buffer manager (required).
  std::shared_ptr<RocksDbResources> resources;
  /// The wall clock in epoch ms for the TTL compaction filter; default: the system clock. Called
  /// on RocksDB's background threads, once per compaction: it must be thread-safe and must not
  /// throw.
  std::function<int64_t()> clock;
  /// The checkpoints to restore from; empty for a fresh store.
  std::vector<RocksDbRestoreSource> restore;
  /// What maxCachedKeys() returns: how many keys the state handles cache in memory
  /// (state.backend.rocksdb.cache.max-keys).
  size_t maxCachedKeys = 65536;
};

/// One file of a local checkpoint.
struct RocksDbCheckpointFile {
  std::string name;  // the file name within the checkpoint directory
  uint64_t size = 0;
  bool sst = false;  // an immutable table file (*.sst), shareable between checkpoints
};

/// The files of a local checkpoint, for the asynchronous part of a snapshot to upload.
struct RocksDbLocalCheckpoint {
  std::filesystem::path directory;
  std::vector<RocksDbCheckpointFile> files;
};

/// The keyed state of one operator instance in RocksDB. Thread contract: used by its task's
/// thread only; stores on different threads may share one RocksDbResources. Move-only through its
/// unique_ptr.
class RocksDbKeyedStore final : public KeyedStateStore {
  struct Impl;

 public:
  /// Open a store in `options.directory`: a fresh database when `options.restore` is empty,
  /// otherwise one holding exactly the keys of `options.keyGroupRange` from the sources. Errors:
  /// InvalidArgument for bad options or a non-empty directory; IOError naming the directory when
  /// it cannot be created; for a restore, NotFound or Corruption naming the source (and, for a
  /// corrupt file, the file), InvalidArgument when sources disagree on a state's layout or on the
  /// max parallelism. On an error after the directory was checked, it is removed. A restore
  /// only reads the sources' directories.
  static Result<std::unique_ptr<RocksDbKeyedStore>> open(RocksDbStoreOptions options);

  /// Close the database and remove the working directory.
  ~RocksDbKeyedStore() override;
  RocksDbKeyedStore(const RocksDbKeyedStore&) = delete;
  RocksDbKeyedStore& operator=(const RocksDbKeyedStore&) = delete;

  /// The state name "default" is reserved (it is RocksDB's default column family, which holds the
  /// store's metadata) and so is the empty name: InvalidArgument.
  Result<uint32_t> openColumn(const StoredStateSpec& spec) override;
  Result<bool> get(uint32_t column, std::string_view key, std::string& value) override;
  Status scan(uint32_t column, std::string_view prefix,
              const std::function<void(std::string_view key, std::string_view value)>& fn) override;
  Status scanFrom(
      uint32_t column, std::string_view prefix, std::string_view from,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) override;
  /// A write to a column that was not opened is reported by the next commit(), as
  /// InvalidArgument, and the buffered writes are dropped.
  void put(uint32_t column, std::string_view key, std::string_view value) override;
  void merge(uint32_t column, std::string_view key, std::string_view records) override;
  void remove(uint32_t column, std::string_view key) override;
  /// Keys start with a key group below 0x8000, so for a prefix of only 0xff bytes (or an empty
  /// one), which has no successor, the range removed ends at the prefix's length plus 8 bytes of
  /// 0xff.
  void removePrefix(uint32_t column, std::string_view prefix) override;
  Status commit() override;
  size_t maxCachedKeys() const override;

  /// Flush every column's memtable, then write a RocksDB checkpoint into `target` (which must not
  /// exist; its parent must): hard links to the table files, copies of the rest. Return the files.
  /// InvalidArgument when writes are buffered (commit first); IOError naming the store and
  /// `target` otherwise.
  Result<RocksDbLocalCheckpoint> checkpoint(const std::filesystem::path& target);

  /// The working directory.
  const std::filesystem::path& directory() const;
  /// The index in RocksDbStoreOptions::restore of the source whose files the database started
  /// from (the base), -1 for a fresh store. Its table files that are still in the database keep
  /// their names; the store never creates another file of those names.
  int restoredBaseSource() const;

  /// Close the database, dropping buffered writes; every later call fails (FailedPrecondition or,
  /// for writes, at commit). The directory stays until the store is destroyed. Idempotent.
  Status close();

  /// Flush and fully compact every opened column, running the TTL compaction filter. For tests.
  Status testingCompact();

  /// For open() only: Impl is private.
  explicit RocksDbKeyedStore(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace strom::state
