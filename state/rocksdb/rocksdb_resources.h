#pragma once

// The native memory of the RocksDB state backend, shared by every store of one process (a
// TaskManager): Flink's "managed memory for RocksDB". One LRU block cache holds the data, index
// and filter blocks of every store, and one write buffer manager limits the memtables of every
// store and charges them to that same cache, so the cache's capacity bounds the total.

#include <cstdint>
#include <memory>

namespace rocksdb {
class Cache;
class TableFactory;
class WriteBufferManager;
}  // namespace rocksdb

namespace strom::state {

/// The block cache and write buffer manager that every RocksDbKeyedStore of a process opens its
/// database with. Immutable after create(); thread-safe (RocksDB's cache and write buffer
/// manager are), so stores on different task threads share one instance. Every store holds a
/// reference, so it lives until the last store is closed.
class RocksDbResources {
  struct PrivateTag {};

 public:
  /// Return resources for a budget of `memoryBudgetBytes` of native memory: an LRU cache of
  /// that capacity, and a write buffer manager that lets the memtables of all stores take
  /// `memoryBudgetBytes * writeBufferRatio` of it. The ratio is clamped to [0, 1] (Flink's
  /// default is 0.5); at 0 the memtables are charged to the cache but not limited.
  static std::shared_ptr<RocksDbResources> create(uint64_t memoryBudgetBytes,
                                                  double writeBufferRatio);

  RocksDbResources(PrivateTag, uint64_t budgetBytes, uint64_t writeBufferBytes,
                   std::shared_ptr<rocksdb::Cache> cache,
                   std::shared_ptr<rocksdb::WriteBufferManager> writeBufferManager,
                   std::shared_ptr<rocksdb::TableFactory> tableFactory);
  ~RocksDbResources();
  RocksDbResources(const RocksDbResources&) = delete;
  RocksDbResources& operator=(const RocksDbResources&) = delete;

  /// The budget: the block cache's capacity.
  uint64_t budgetBytes() const { return budgetBytes_; }
  /// The part of the budget that memtables may take.
  uint64_t writeBufferBytes() const { return writeBufferBytes_; }
  /// Return the memory the cache holds now: cached blocks plus the memtables charged to it.
  uint64_t usageBytes() const;
  /// Return the memory of all stores' memtables now (part of usageBytes()).
  uint64_t writeBufferUsageBytes() const;

  /// The shared cache, write buffer manager and block-based table factory (which caches data,
  /// index and filter blocks in the cache). For the stores' options.
  const std::shared_ptr<rocksdb::Cache>& cache() const { return cache_; }
  const std::shared_ptr<rocksdb::WriteBufferManager>& writeBufferManager() const {
    return writeBufferManager_;
  }
  const std::shared_ptr<rocksdb::TableFactory>& tableFactory() const { return tableFactory_; }

 private:
  const uint64_t budgetBytes_;
  const uint64_t writeBufferBytes_;
  const std::shared_ptr<rocksdb::Cache> cache_;
  const std::shared_ptr<rocksdb::WriteBufferManager> writeBufferManager_;
  const std::shared_ptr<rocksdb::TableFactory> tableFactory_;
};

}  // namespace strom::state
