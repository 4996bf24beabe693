#include "state/rocksdb/rocksdb_resources.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace strom::state {
namespace {

// The share of the cache reserved for index and filter blocks (Flink's default), so that data
// blocks do not evict them.
constexpr double kHighPriorityPoolRatio = 0.1;
// Bloom filter bits per key: point reads of absent keys (a first access) skip the data blocks.
constexpr double kBloomBitsPerKey = 10.0;

}  // namespace

std::shared_ptr<RocksDbResources> RocksDbResources::create(uint64_t memoryBudgetBytes,
                                                           double writeBufferRatio) {
  if (!(writeBufferRatio >= 0.0)) {  // also NaN
    writeBufferRatio = 0.0;
  }
  writeBufferRatio = std::min(writeBufferRatio, 1.0);
  auto writeBufferBytes =
      static_cast<uint64_t>(std::floor(static_cast<double>(memoryBudgetBytes) * writeBufferRatio));

  rocksdb::LRUCacheOptions cacheOptions;
  cacheOptions.capacity = memoryBudgetBytes;
  cacheOptions.num_shard_bits = -1;  // RocksDB picks the shard count for the capacity
  cacheOptions.strict_capacity_limit = false;
  cacheOptions.high_pri_pool_ratio = kHighPriorityPoolRatio;
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(cacheOptions);

  // With a share of 0 the manager limits nothing but still charges the memtables to the cache.
  auto writeBufferManager = std::make_shared<rocksdb::WriteBufferManager>(
      static_cast<size_t>(writeBufferBytes), cache, /*allow_stall=*/false);

  rocksdb::BlockBasedTableOptions tableOptions;
  tableOptions.block_cache = cache;
  tableOptions.cache_index_and_filter_blocks = true;
  tableOptions.cache_index_and_filter_blocks_with_high_priority = true;
  tableOptions.pin_l0_filter_and_index_blocks_in_cache = true;
  tableOptions.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
  std::shared_ptr<rocksdb::TableFactory> tableFactory(
      rocksdb::NewBlockBasedTableFactory(tableOptions));

  return std::make_shared<RocksDbResources>(PrivateTag{}, memoryBudgetBytes, writeBufferBytes,
                                            std::move(cache), std::move(writeBufferManager),
                                            std::move(tableFactory));
}

RocksDbResources::RocksDbResources(PrivateTag, uint64_t budgetBytes, uint64_t writeBufferBytes,
                                   std::shared_ptr<rocksdb::Cache> cache,
                                   std::shared_ptr<rocksdb::WriteBufferManager> writeBufferManager,
                                   std::shared_ptr<rocksdb::TableFactory> tableFactory)
    : budgetBytes_(budgetBytes),
      writeBufferBytes_(writeBufferBytes),
      cache_(std::move(cache)),
      writeBufferManager_(std::move(writeBufferManager)),
      tableFactory_(std::move(tableFactory)) {}

RocksDbResources::~RocksDbResources() = default;

uint64_t RocksDbResources::usageBytes() const { return cache_->GetUsage(); }

uint64_t RocksDbResources::writeBufferUsageBytes() const {
  return writeBufferManager_->memory_usage();
}

}  // namespace strom::state
