#include "state/rocksdb/rocksdb_options.h"

#include <fmt/format.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/env.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/slice.h>

#include <cstdarg>
#include <cstdio>
#include <memory>
#include <string>

#include "common/logging.h"
#include "state/rocksdb/ttl_filter.h"

namespace strom::state {
namespace {

std::string_view viewOf(const rocksdb::Slice& slice) { return {slice.data(), slice.size()}; }

/// Concatenates list records: an operand is `(varint(n) element{n})*`, and so is the
/// concatenation of any number of them, which makes the operator associative. Stateless, so one
/// instance serves every column of every store, on any thread.
class ListAppendOperator final : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    if (in.existing_value == nullptr && in.operand_list.size() == 1) {
      out->existing_operand = in.operand_list.front();
      return true;
    }
    size_t size = in.existing_value != nullptr ? in.existing_value->size() : 0;
    for (const rocksdb::Slice& operand : in.operand_list) {
      size += operand.size();
    }
    out->new_value.clear();
    out->new_value.reserve(size);
    if (in.existing_value != nullptr) {
      out->new_value.append(in.existing_value->data(), in.existing_value->size());
    }
    for (const rocksdb::Slice& operand : in.operand_list) {
      out->new_value.append(operand.data(), operand.size());
    }
    return true;
  }

  bool PartialMergeMulti(const rocksdb::Slice& /*key*/, const std::deque<rocksdb::Slice>& operands,
                         std::string* newValue, rocksdb::Logger* /*logger*/) const override {
    size_t size = 0;
    for (const rocksdb::Slice& operand : operands) {
      size += operand.size();
    }
    newValue->clear();
    newValue->reserve(size);
    for (const rocksdb::Slice& operand : operands) {
      newValue->append(operand.data(), operand.size());
    }
    return true;
  }

  const char* Name() const override { return kListAppendOperatorName; }
};

/// The TTL filter of one compaction: values below `cutoff` have expired. Made per compaction by
/// TtlFilterFactory, so it is used by one thread.
class TtlCompactionFilter final : public rocksdb::CompactionFilter {
 public:
  TtlCompactionFilter(StoredStateSpec::Layout layout, int64_t cutoff)
      : layout_(layout), cutoff_(cutoff) {}

  Decision FilterV2(int /*level*/, const rocksdb::Slice& /*key*/, ValueType valueType,
                    const rocksdb::Slice& existingValue, std::string* newValue,
                    std::string* /*skipUntil*/) const override {
    // Merge operands are list records too (lists are the only merged layout), and are filtered
    // the same way; anything else a single-value or map column holds as an operand is kept.
    if (valueType == ValueType::kBlobIndex ||
        (valueType == ValueType::kMergeOperand && layout_ != StoredStateSpec::Layout::kList)) {
      return Decision::kKeep;
    }
    switch (applyTtl(layout_, viewOf(existingValue), cutoff_, *newValue)) {
      case TtlVerdict::kKeep:
        return Decision::kKeep;
      case TtlVerdict::kRemove:
        return Decision::kRemove;
      case TtlVerdict::kChange:
        return Decision::kChangeValue;
    }
    return Decision::kKeep;
  }

  const char* Name() const override { return kTtlCompactionFilterName; }

 private:
  const StoredStateSpec::Layout layout_;
  const int64_t cutoff_;
};

/// Makes one TtlCompactionFilter per compaction (not per flush: RocksDB's default), reading the
/// clock once when the compaction starts.
class TtlFilterFactory final : public rocksdb::CompactionFilterFactory {
 public:
  TtlFilterFactory(StoredStateSpec::Layout layout, int64_t ttlMillis,
                   std::function<int64_t()> clock)
      : layout_(layout), ttlMillis_(ttlMillis), clock_(std::move(clock)) {}

  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& /*context*/) override {
    return std::make_unique<TtlCompactionFilter>(layout_, ttlCutoff(clock_(), ttlMillis_));
  }

  const char* Name() const override { return kTtlCompactionFilterName; }

 private:
  const StoredStateSpec::Layout layout_;
  const int64_t ttlMillis_;
  const std::function<int64_t()> clock_;
};

/// RocksDB's info log, sent to the "state" module logger instead of a LOG file in each
/// database directory (a restore source may be read-only, and a store's directory is removed at
/// close anyway). Errors only, as Flink logs nothing of RocksDB by default: RocksDB 7.8 warns on
/// every checkpoint ("File Deletions Disabled, but already disabled"). Thread-safe: spdlog loggers
/// are.
class SpdlogInfoLog final : public rocksdb::Logger {
 public:
  SpdlogInfoLog()
      : rocksdb::Logger(rocksdb::InfoLogLevel::ERROR_LEVEL), logger_(moduleLogger("state")) {}

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel() || level == rocksdb::InfoLogLevel::HEADER_LEVEL) {
      return;
    }
    char buffer[1024];
    std::vsnprintf(buffer, sizeof(buffer), format, ap);
    logger_->log(
        level >= rocksdb::InfoLogLevel::FATAL_LEVEL ? spdlog::level::critical : spdlog::level::err,
        "rocksdb: {}", buffer);
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

const std::shared_ptr<rocksdb::MergeOperator>& listAppendOperator() {
  static const std::shared_ptr<rocksdb::MergeOperator> kOperator =
      std::make_shared<ListAppendOperator>();
  return kOperator;
}

const std::shared_ptr<rocksdb::Logger>& infoLog() {
  static const std::shared_ptr<rocksdb::Logger> kLog = std::make_shared<SpdlogInfoLog>();
  return kLog;
}

}  // namespace

Status fromRocksDb(const rocksdb::Status& status, std::string_view context) {
  std::string message = fmt::format("{}: {}", context, status.ToString());
  using Code = rocksdb::Status::Code;
  switch (status.code()) {
    case Code::kOk:
      return Status::internal(fmt::format("{}: fromRocksDb called with an OK status", context));
    case Code::kNotFound:
    case Code::kColumnFamilyDropped:
      return Status::notFound(std::move(message));
    case Code::kCorruption:
      return Status::corruption(std::move(message));
    case Code::kInvalidArgument:
    case Code::kNotSupported:
      return Status::invalidArgument(std::move(message));
    case Code::kIOError:
      if (status.IsPathNotFound()) {
        return Status::notFound(std::move(message));
      }
      return Status::ioError(std::move(message));
    case Code::kBusy:
    case Code::kTryAgain:
      return Status::unavailable(std::move(message));
    case Code::kTimedOut:
    case Code::kExpired:
      return Status::deadlineExceeded(std::move(message));
    case Code::kAborted:
    case Code::kShutdownInProgress:
      return Status::cancelled(std::move(message));
    default:
      return Status::internal(std::move(message));
  }
}

rocksdb::DBOptions storeDbOptions(const RocksDbResources& resources) {
  rocksdb::DBOptions options;
  options.write_buffer_manager = resources.writeBufferManager();
  options.info_log = infoLog();
  options.info_log_level = rocksdb::InfoLogLevel::ERROR_LEVEL;
  options.stats_dump_period_sec = 0;
  // Writes skip the WAL (a crash restores from the last checkpoint), and the directory is removed
  // after close: flushing the memtables at close would be wasted work.
  options.avoid_flush_during_shutdown = true;
  options.skip_stats_update_on_db_open = true;
  return options;
}

rocksdb::ColumnFamilyOptions metadataColumnOptions(const RocksDbResources& resources) {
  rocksdb::ColumnFamilyOptions options;
  options.table_factory = resources.tableFactory();
  return options;
}

rocksdb::ColumnFamilyOptions stateColumnOptions(const RocksDbResources& resources,
                                                StoredStateSpec::Layout layout, int64_t ttlMillis,
                                                const std::function<int64_t()>& clock) {
  rocksdb::ColumnFamilyOptions options;
  options.table_factory = resources.tableFactory();
  // A bloom filter over the memtable's whole keys: the cache reads every key it has not seen,
  // and most of those are new keys, absent from the memtable.
  options.memtable_whole_key_filtering = true;
  options.memtable_prefix_bloom_size_ratio = 0.05;
  if (layout == StoredStateSpec::Layout::kList) {
    options.merge_operator = listAppendOperator();
  }
  if (ttlMillis > 0) {
    options.compaction_filter_factory =
        std::make_shared<TtlFilterFactory>(layout, ttlMillis, clock);
  }
  return options;
}

rocksdb::ColumnFamilyOptions sourceColumnOptions(const RocksDbResources& resources) {
  rocksdb::ColumnFamilyOptions options;
  options.table_factory = resources.tableFactory();
  options.merge_operator = listAppendOperator();
  return options;
}

}  // namespace strom::state
