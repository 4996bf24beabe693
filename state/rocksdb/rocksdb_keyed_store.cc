#include "state/rocksdb/rocksdb_keyed_store.h"

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include "common/clock.h"
#include "common/logging.h"
#include "state/rocksdb/rocksdb_options.h"

namespace strom::state {
namespace {

// The store's metadata, in RocksDB's default column family (docs/formats.md, "RocksDB keyed
// state"). No state key starts with 0xff (a key starts with its key group, below 0x8000), but the
// metadata has a column family of its own anyway.
//
//   "\xff" "state/" name     -> version:u8=1 layout:u8 ttlMillis:i64le   ; one per state column
//   "\xff" "max-parallelism" -> maxParallelism:u32le
// ('s' and 'm' are not hex digits: each escape is the one byte 0xff.)
constexpr std::string_view kStateInfoPrefix{"\xffstate/"};
constexpr std::string_view kMaxParallelismKey{"\xffmax-parallelism"};
constexpr uint8_t kStateInfoVersion = 1;
constexpr size_t kStateInfoSize = 10;

constexpr int kMaxKeyGroups = 32768;
// Above every state key: a key starts with its key group, which is below 0x8000.
constexpr std::string_view kAboveAllKeyGroups{"\xff\xff"};
// A removePrefix() of a prefix without successor ends at the prefix's length plus this many 0xff.
constexpr size_t kNoSuccessorPadding = 8;
// A restore writes the entries it takes from a non-base source in batches of about this size.
constexpr size_t kImportBatchBytes = 4 << 20;

using Layout = StoredStateSpec::Layout;

/// How a state column is laid out: what its metadata entry holds.
struct StateInfo {
  Layout layout = Layout::kSingleValue;
  int64_t ttlMillis = 0;
  bool operator==(const StateInfo&) const = default;
};

std::string_view layoutName(Layout layout) {
  switch (layout) {
    case Layout::kSingleValue:
      return "single-value";
    case Layout::kList:
      return "list";
    case Layout::kMap:
      return "map";
    case Layout::kTimers:
      return "timer";
  }
  return "unknown";
}

std::string describe(const StateInfo& info) {
  return fmt::format("{} column with TTL {} ms", layoutName(info.layout), info.ttlMillis);
}

std::string encodeStateInfo(const StateInfo& info) {
  std::string bytes(kStateInfoSize, '\0');
  bytes[0] = static_cast<char>(kStateInfoVersion);
  bytes[1] = static_cast<char>(info.layout);
  std::memcpy(bytes.data() + 2, &info.ttlMillis, sizeof(info.ttlMillis));  // little-endian
  return bytes;
}

std::optional<StateInfo> decodeStateInfo(std::string_view bytes) {
  if (bytes.size() != kStateInfoSize || static_cast<uint8_t>(bytes[0]) != kStateInfoVersion ||
      static_cast<uint8_t>(bytes[1]) > static_cast<uint8_t>(Layout::kTimers)) {
    return std::nullopt;
  }
  StateInfo info;
  info.layout = static_cast<Layout>(bytes[1]);
  std::memcpy(&info.ttlMillis, bytes.data() + 2, sizeof(info.ttlMillis));
  if (info.ttlMillis < 0) {
    return std::nullopt;
  }
  return info;
}

std::string encodeU32(uint32_t value) {
  std::string bytes(sizeof(value), '\0');
  std::memcpy(bytes.data(), &value, sizeof(value));
  return bytes;
}

/// Return the 2-byte big-endian key group prefix of `keyGroup` (0..0xffff).
std::string keyGroupKey(int keyGroup) {
  return std::string{static_cast<char>((keyGroup >> 8) & 0xff), static_cast<char>(keyGroup & 0xff)};
}

/// Set `out` to the smallest key above every key that starts with `prefix`: drop trailing 0xff
/// bytes, then increment the last byte. Return false when there is none (only 0xff bytes, or
/// empty).
bool prefixSuccessor(std::string_view prefix, std::string& out) {
  while (!prefix.empty() && static_cast<uint8_t>(prefix.back()) == 0xff) {
    prefix.remove_suffix(1);
  }
  if (prefix.empty()) {
    return false;
  }
  out.assign(prefix);
  out.back() = static_cast<char>(static_cast<uint8_t>(out.back()) + 1);
  return true;
}

KeyGroupRange intersect(const KeyGroupRange& a, const KeyGroupRange& b) {
  return KeyGroupRange{std::max(a.startKeyGroup, b.startKeyGroup),
                       std::min(a.endKeyGroup, b.endKeyGroup)};
}

rocksdb::Slice sliceOf(std::string_view bytes) { return {bytes.data(), bytes.size()}; }
std::string_view viewOf(const rocksdb::Slice& slice) { return {slice.data(), slice.size()}; }

/// Destroy `handles` and close `db`. Errors are logged only: nothing more can be done.
void closeDatabase(std::unique_ptr<rocksdb::DB>& db,
                   std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  if (db == nullptr) {
    return;
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  handles.clear();
  rocksdb::Status status = db->Close();
  if (!status.ok()) {
    moduleLogger("state")->warn("closing rocksdb database '{}': {}", db->GetName(),
                                status.ToString());
  }
  db.reset();
}

/// A restore source, opened read-only and verified.
struct SourceDatabase {
  std::string context;  // "restore source '<name>' (<directory>)"
  std::unique_ptr<rocksdb::DB> db;
  std::vector<std::string> names;                     // every column family; [0] is the default
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // parallel to names, owned
  std::map<std::string, StateInfo> infos;             // the metadata of every state column

  SourceDatabase() = default;
  SourceDatabase(const SourceDatabase&) = delete;
  SourceDatabase& operator=(const SourceDatabase&) = delete;
  ~SourceDatabase() { closeDatabase(db, handles); }
};

/// Open `source` read-only with every column family, verify the checksums of all its files and
/// read its metadata. NotFound, Corruption (naming the file, as RocksDB does) or InvalidArgument,
/// naming the source.
Result<std::unique_ptr<SourceDatabase>> openSource(const RocksDbRestoreSource& source,
                                                   const RocksDbResources& resources,
                                                   int maxParallelism) {
  auto database = std::make_unique<SourceDatabase>();
  database->context =
      fmt::format("restore source '{}' ({})", source.name, source.directory.string());
  const std::string& context = database->context;
  std::error_code error;
  if (!std::filesystem::is_directory(source.directory, error)) {
    return Status::notFound(fmt::format("{}: no such directory", context));
  }
  rocksdb::DBOptions dbOptions = storeDbOptions(resources);
  const std::string path = source.directory.string();
  rocksdb::Status status = rocksdb::DB::ListColumnFamilies(dbOptions, path, &database->names);
  if (!status.ok()) {
    return fromRocksDb(status, context);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : database->names) {
    descriptors.emplace_back(name, name == rocksdb::kDefaultColumnFamilyName
                                       ? metadataColumnOptions(resources)
                                       : sourceColumnOptions(resources));
  }
  rocksdb::DB* db = nullptr;
  status = rocksdb::DB::OpenForReadOnly(dbOptions, path, descriptors, &database->handles, &db);
  database->db.reset(db);
  if (!status.ok()) {
    return fromRocksDb(status, context);
  }
  // OpenForReadOnly returns the handles in the order of the descriptors, the default first
  // (ListColumnFamilies lists it first); find it by name all the same.
  auto defaultIndex = static_cast<size_t>(
      std::find(database->names.begin(), database->names.end(), rocksdb::kDefaultColumnFamilyName) -
      database->names.begin());
  if (defaultIndex != 0) {
    std::swap(database->names[0], database->names[defaultIndex]);
    std::swap(database->handles[0], database->handles[defaultIndex]);
  }

  rocksdb::ReadOptions verifyOptions;
  verifyOptions.fill_cache = false;
  status = database->db->VerifyChecksum(verifyOptions);
  if (!status.ok()) {
    return fromRocksDb(status, context);
  }

  rocksdb::ReadOptions readOptions;
  readOptions.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> iterator(
      database->db->NewIterator(readOptions, database->handles[0]));
  for (iterator->Seek(sliceOf(kStateInfoPrefix));
       iterator->Valid() && iterator->key().starts_with(sliceOf(kStateInfoPrefix));
       iterator->Next()) {
    std::string name(viewOf(iterator->key()).substr(kStateInfoPrefix.size()));
    std::optional<StateInfo> info = decodeStateInfo(viewOf(iterator->value()));
    if (!info) {
      return Status::corruption(
          fmt::format("{}: the metadata entry of state '{}' does not decode", context, name));
    }
    database->infos.emplace(std::move(name), *info);
  }
  if (!iterator->status().ok()) {
    return fromRocksDb(iterator->status(), context);
  }
  iterator.reset();

  std::string bytes;
  status =
      database->db->Get(readOptions, database->handles[0], sliceOf(kMaxParallelismKey), &bytes);
  if (status.ok()) {
    uint32_t stored = 0;
    if (bytes.size() != sizeof(stored)) {
      return Status::corruption(
          fmt::format("{}: the max-parallelism metadata entry does not decode", context));
    }
    std::memcpy(&stored, bytes.data(), sizeof(stored));
    if (stored != static_cast<uint32_t>(maxParallelism)) {
      return Status::invalidArgument(
          fmt::format("{}: max parallelism mismatch: the source has {}, the store {}", context,
                      stored, maxParallelism));
    }
  } else if (!status.IsNotFound()) {
    return fromRocksDb(status, context);
  }

  for (size_t i = 1; i < database->names.size(); ++i) {
    if (database->infos.find(database->names[i]) == database->infos.end()) {
      return Status::corruption(
          fmt::format("{}: column family '{}' has no metadata entry", context, database->names[i]));
    }
  }
  return database;
}

/// Put the files of `from` into the empty directory `to`: hard links for the table files (which
/// RocksDB never changes), falling back to a copy across file systems; copies of the rest, which
/// RocksDB rewrites when it opens the database. RocksDB's lock and log files are skipped.
Status linkFiles(const std::filesystem::path& from, const std::filesystem::path& to,
                 std::string_view context) {
  std::error_code error;
  std::filesystem::directory_iterator entries(from, error);
  if (error) {
    return Status::ioError(
        fmt::format("{}: cannot list the directory: {}", context, error.message()));
  }
  for (const std::filesystem::directory_entry& entry : entries) {
    if (!entry.is_regular_file(error)) {
      continue;
    }
    std::string name = entry.path().filename().string();
    if (name == "LOCK" || name.starts_with("LOG")) {
      continue;
    }
    std::filesystem::path target = to / name;
    bool linked = false;
    if (entry.path().extension() == ".sst") {
      std::filesystem::create_hard_link(entry.path(), target, error);
      linked = !error;
    }
    if (!linked) {
      std::filesystem::copy_file(entry.path(), target, error);
      if (error) {
        return Status::ioError(fmt::format("{}: cannot copy '{}' to '{}': {}", context,
                                           entry.path().string(), target.string(),
                                           error.message()));
      }
    }
  }
  return Status::ok();
}

}  // namespace

struct RocksDbKeyedStore::Impl {
  /// A state column family of the database, registered or not.
  struct Family {
    rocksdb::ColumnFamilyHandle* handle = nullptr;
    StateInfo info;
    int64_t column = -1;  // the index openColumn() gave it, -1 before
  };
  /// A column that openColumn() returned.
  struct Column {
    std::string name;
    rocksdb::ColumnFamilyHandle* handle = nullptr;
    Layout layout = Layout::kSingleValue;
  };

  std::filesystem::path directory;
  std::string name;  // "rocksdb store '<directory>'", for messages
  KeyGroupRange keyGroupRange;
  int maxParallelism = kDefaultMaxParallelism;
  std::shared_ptr<RocksDbResources> resources;
  std::function<int64_t()> clock;
  size_t maxCachedKeys = 0;
  bool ownsDirectory = false;  // set once the directory is known to be the store's

  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // every open handle, [0] the default; owned
  std::map<std::string, Family, std::less<>> families;
  std::vector<Column> columns;
  int baseSource = -1;  // the restore source the database started from, -1 for none

  rocksdb::WriteBatch batch;
  Status batchError;  // the first error of a buffered write, reported by commit()
  rocksdb::WriteOptions writeOptions;
  rocksdb::ReadOptions readOptions;
  std::string scratch;

  Impl() { writeOptions.disableWAL = true; }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    closeDatabase(db, handles);
    if (ownsDirectory) {
      std::error_code error;
      std::filesystem::remove_all(directory, error);
      if (error) {
        moduleLogger("state")->warn("{}: cannot remove the directory: {}", name, error.message());
      }
    }
  }

  std::string stateContext(std::string_view state) const {
    return fmt::format("{}, state '{}'", name, state);
  }

  Status invalidColumn(uint32_t column) const {
    return Status::invalidArgument(fmt::format("{}: column {} was not opened", name, column));
  }

  void recordBatchError(Status status) {
    if (batchError.isOk()) {
      batchError = std::move(status);
    }
  }

  void recordWrite(const rocksdb::Status& status, uint32_t column) {
    if (!status.ok()) [[unlikely]] {
      recordBatchError(fromRocksDb(status, stateContext(columns[column].name)));
    }
  }

  /// Create the directory or check that it is empty. It belongs to the store from then on.
  Status prepareDirectory() {
    std::error_code error;
    bool exists = std::filesystem::exists(directory, error);
    if (error) {
      return Status::ioError(
          fmt::format("{}: cannot access the directory: {}", name, error.message()));
    }
    if (exists) {
      if (!std::filesystem::is_directory(directory, error) ||
          !std::filesystem::is_empty(directory, error) || error) {
        return Status::invalidArgument(fmt::format("{}: not an empty directory", name));
      }
    } else if (!std::filesystem::create_directories(directory, error) || error) {
      return Status::ioError(fmt::format("{}: cannot create the directory: {}", name,
                                         error ? error.message() : "unknown error"));
    }
    ownsDirectory = true;
    return Status::ok();
  }

  /// Open the database in `directory` with the default column family and the state columns of
  /// `infos`, which must be all it has. `create`: a fresh database.
  Status openDatabase(const std::map<std::string, StateInfo>& infos, bool create) {
    rocksdb::DBOptions dbOptions = storeDbOptions(*resources);
    dbOptions.create_if_missing = create;
    dbOptions.error_if_exists = create;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, metadataColumnOptions(*resources));
    for (const auto& [state, info] : infos) {
      descriptors.emplace_back(state,
                               stateColumnOptions(*resources, info.layout, info.ttlMillis, clock));
    }
    rocksdb::DB* raw = nullptr;
    rocksdb::Status status =
        rocksdb::DB::Open(dbOptions, directory.string(), descriptors, &handles, &raw);
    db.reset(raw);
    if (!status.ok()) {
      return fromRocksDb(status, name);
    }
    size_t index = 1;
    for (const auto& [state, info] : infos) {
      families.emplace(state, Family{handles[index++], info});
    }
    return putMetadata(kMaxParallelismKey, encodeU32(static_cast<uint32_t>(maxParallelism)));
  }

  Status putMetadata(std::string_view key, std::string_view value) {
    rocksdb::Status status = db->Put(writeOptions, handles[0], sliceOf(key), sliceOf(value));
    return status.ok() ? Status::ok() : fromRocksDb(status, fmt::format("{}: metadata", name));
  }

  /// Create the column family of state `state` and its metadata entry.
  Result<Family*> createFamily(const std::string& state, const StateInfo& info) {
    rocksdb::ColumnFamilyHandle* handle = nullptr;
    rocksdb::Status status = db->CreateColumnFamily(
        stateColumnOptions(*resources, info.layout, info.ttlMillis, clock), state, &handle);
    if (!status.ok()) {
      return fromRocksDb(status, stateContext(state));
    }
    handles.push_back(handle);
    std::string key(kStateInfoPrefix);
    key.append(state);
    STROM_RETURN_IF_ERROR(putMetadata(key, encodeStateInfo(info)));
    return &families.emplace(state, Family{handle, info}).first->second;
  }

  /// Restore from `sources`: see RocksDbStoreOptions::restore and docs/formats.md.
  Status restore(const std::vector<RocksDbRestoreSource>& sources) {
    std::vector<int> overlaps;
    int best = -1;
    for (size_t i = 0; i < sources.size(); ++i) {
      const KeyGroupRange& range = sources[i].keyGroupRange;
      if (range.startKeyGroup < 0 || range.endKeyGroup >= maxParallelism) {
        return Status::invalidArgument(
            fmt::format("{}: restore source '{}': key groups [{}, {}] are outside [0, {})", name,
                        sources[i].name, range.startKeyGroup, range.endKeyGroup, maxParallelism));
      }
      overlaps.push_back(intersect(range, keyGroupRange).size());
      if (overlaps.back() > 0 && (best < 0 || overlaps.back() > overlaps[best])) {
        best = static_cast<int>(i);
      }
    }
    if (best < 0) {
      return openDatabase({}, /*create=*/true);  // no source holds any of our key groups
    }

    // The base: its files become the store's database, less the key groups that are not ours.
    const RocksDbRestoreSource& base = sources[best];
    baseSource = best;
    std::map<std::string, StateInfo> infos;
    {
      STROM_ASSIGN_OR_RETURN(std::unique_ptr<SourceDatabase> source,
                             openSource(base, *resources, maxParallelism));
      infos = std::move(source->infos);
    }
    STROM_RETURN_IF_ERROR(linkFiles(
        base.directory, directory,
        fmt::format("{}: restore source '{}' ({})", name, base.name, base.directory.string())));
    STROM_RETURN_IF_ERROR(openDatabase(infos, /*create=*/false));
    STROM_RETURN_IF_ERROR(clip(base.keyGroupRange, intersect(keyGroupRange, base.keyGroupRange)));

    for (size_t i = 0; i < sources.size(); ++i) {
      if (static_cast<int>(i) != best && overlaps[i] > 0) {
        STROM_RETURN_IF_ERROR(import(sources[i]));
      }
    }
    return Status::ok();
  }

  /// Delete every state key of the key groups `held` outside the key groups `keep` and compact
  /// those ranges, so that the files hold no deleted data. Nothing is written when `held` is
  /// within `keep`: a restore at the same key groups keeps the base's files as they are, which
  /// incremental checkpoints reference. (A flush of range deletions would add a level-0 file,
  /// and reaching the compaction trigger would rewrite every file.)
  Status clip(const KeyGroupRange& held, const KeyGroupRange& keep) {
    std::vector<std::pair<std::string, std::string>> ranges;
    if (held.startKeyGroup < keep.startKeyGroup) {
      ranges.emplace_back(std::string(), keyGroupKey(keep.startKeyGroup));
    }
    if (held.endKeyGroup > keep.endKeyGroup) {
      ranges.emplace_back(keyGroupKey(keep.endKeyGroup + 1), std::string(kAboveAllKeyGroups));
    }
    if (ranges.empty()) return Status::ok();
    rocksdb::WriteBatch deletions;
    for (const auto& [state, family] : families) {
      for (const auto& [begin, end] : ranges) {
        rocksdb::Status status = deletions.DeleteRange(family.handle, begin, end);
        if (!status.ok()) {
          return fromRocksDb(status, stateContext(state));
        }
      }
    }
    rocksdb::Status status = db->Write(writeOptions, &deletions);
    if (!status.ok()) {
      return fromRocksDb(status, fmt::format("{}: deleting the key groups outside [{}, {}]", name,
                                             keep.startKeyGroup, keep.endKeyGroup));
    }
    rocksdb::CompactRangeOptions compactOptions;
    compactOptions.bottommost_level_compaction =
        rocksdb::BottommostLevelCompaction::kForceOptimized;
    for (const auto& [state, family] : families) {
      for (const auto& [begin, end] : ranges) {
        rocksdb::Slice beginSlice(begin);
        rocksdb::Slice endSlice(end);
        status = db->CompactRange(compactOptions, family.handle, &beginSlice, &endSlice);
        if (!status.ok()) {
          return fromRocksDb(status, fmt::format("{}: compacting", stateContext(state)));
        }
      }
    }
    return Status::ok();
  }

  /// Copy the entries of our key groups from `sourceOptions` into the database.
  Status import(const RocksDbRestoreSource& sourceOptions) {
    STROM_ASSIGN_OR_RETURN(std::unique_ptr<SourceDatabase> source,
                           openSource(sourceOptions, *resources, maxParallelism));
    KeyGroupRange take = intersect(keyGroupRange, sourceOptions.keyGroupRange);
    const std::string lower = keyGroupKey(take.startKeyGroup);
    const std::string upper = keyGroupKey(take.endKeyGroup + 1);
    rocksdb::WriteBatch entries;
    auto writeEntries = [&]() -> Status {
      rocksdb::Status status = db->Write(writeOptions, &entries);
      entries.Clear();
      return status.ok()
                 ? Status::ok()
                 : fromRocksDb(status, fmt::format("{}: importing from {}", name, source->context));
    };
    for (size_t i = 1; i < source->names.size(); ++i) {
      const std::string& state = source->names[i];
      const StateInfo& info = source->infos.at(state);
      Family* family = nullptr;
      if (auto found = families.find(state); found != families.end()) {
        if (found->second.info != info) {
          return Status::invalidArgument(
              fmt::format("{}: state '{}' is a {} there, but a {} in another source",
                          source->context, state, describe(info), describe(found->second.info)));
        }
        family = &found->second;
      } else {
        STROM_ASSIGN_OR_RETURN(family, createFamily(state, info));
      }
      rocksdb::ReadOptions readOptions;
      readOptions.fill_cache = false;
      rocksdb::Slice upperSlice(upper);
      readOptions.iterate_upper_bound = &upperSlice;
      std::unique_ptr<rocksdb::Iterator> iterator(
          source->db->NewIterator(readOptions, source->handles[i]));
      for (iterator->Seek(lower); iterator->Valid(); iterator->Next()) {
        rocksdb::Status status = entries.Put(family->handle, iterator->key(), iterator->value());
        if (!status.ok()) {
          return fromRocksDb(status, stateContext(state));
        }
        if (entries.GetDataSize() >= kImportBatchBytes) {
          STROM_RETURN_IF_ERROR(writeEntries());
        }
      }
      if (!iterator->status().ok()) {
        return fromRocksDb(iterator->status(),
                           fmt::format("{}, state '{}'", source->context, state));
      }
    }
    return entries.Count() > 0 ? writeEntries() : Status::ok();
  }

  Status closed() const { return Status::failedPrecondition(fmt::format("{}: closed", name)); }
};

RocksDbKeyedStore::RocksDbKeyedStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RocksDbKeyedStore::~RocksDbKeyedStore() = default;

Result<std::unique_ptr<RocksDbKeyedStore>> RocksDbKeyedStore::open(RocksDbStoreOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->directory = std::move(options.directory);
  impl->maxCachedKeys = options.maxCachedKeys;
  impl->name = fmt::format("rocksdb store '{}'", impl->directory.string());
  if (impl->directory.empty()) {
    return Status::invalidArgument("rocksdb store: no directory given");
  }
  if (options.resources == nullptr) {
    return Status::invalidArgument(fmt::format("{}: no RocksDbResources given", impl->name));
  }
  if (options.maxParallelism < 1 || options.maxParallelism > kMaxKeyGroups) {
    return Status::invalidArgument(fmt::format("{}: max parallelism {} is outside [1, {}]",
                                               impl->name, options.maxParallelism, kMaxKeyGroups));
  }
  const KeyGroupRange& range = options.keyGroupRange;
  if (range.size() == 0 || range.startKeyGroup < 0 || range.endKeyGroup >= options.maxParallelism) {
    return Status::invalidArgument(
        fmt::format("{}: key groups [{}, {}] are not a range within [0, {})", impl->name,
                    range.startKeyGroup, range.endKeyGroup, options.maxParallelism));
  }
  impl->keyGroupRange = range;
  impl->maxParallelism = options.maxParallelism;
  impl->resources = std::move(options.resources);
  impl->clock = options.clock ? std::move(options.clock)
                              : [] { return SystemClock::instance().currentTimeMillis(); };

  STROM_RETURN_IF_ERROR(impl->prepareDirectory());
  // On an error from here on, ~Impl closes the database and removes the directory.
  if (options.restore.empty()) {
    STROM_RETURN_IF_ERROR(impl->openDatabase({}, /*create=*/true));
  } else {
    STROM_RETURN_IF_ERROR(impl->restore(options.restore));
  }
  return std::make_unique<RocksDbKeyedStore>(std::move(impl));
}

Result<uint32_t> RocksDbKeyedStore::openColumn(const StoredStateSpec& spec) {
  Impl& impl = *impl_;
  if (impl.db == nullptr) {
    return impl.closed();
  }
  if (spec.name.empty() || spec.name == rocksdb::kDefaultColumnFamilyName) {
    return Status::invalidArgument(
        fmt::format("{}: state name '{}' is reserved", impl.name, spec.name));
  }
  if (static_cast<uint8_t>(spec.layout) > static_cast<uint8_t>(Layout::kTimers) ||
      spec.ttlMillis < 0 || (spec.layout == Layout::kTimers && spec.ttlMillis != 0)) {
    return Status::invalidArgument(fmt::format("{}: bad layout {} or TTL {}",
                                               impl.stateContext(spec.name),
                                               static_cast<int>(spec.layout), spec.ttlMillis));
  }
  // The timer queues' columns have names of their own.
  if (spec.name.starts_with(kTimerColumnPrefix) != (spec.layout == Layout::kTimers)) {
    return Status::invalidArgument(
        fmt::format("{}: state names that start with '{}' are reserved for timers",
                    impl.stateContext(spec.name), kTimerColumnPrefix));
  }
  StateInfo info{spec.layout, spec.ttlMillis};
  Impl::Family* family = nullptr;
  if (auto found = impl.families.find(spec.name); found != impl.families.end()) {
    if (found->second.info != info) {
      return Status::invalidArgument(fmt::format("{}: the state is a {}, not a {}",
                                                 impl.stateContext(spec.name),
                                                 describe(found->second.info), describe(info)));
    }
    family = &found->second;
  } else {
    STROM_ASSIGN_OR_RETURN(family, impl.createFamily(spec.name, info));
  }
  if (family->column < 0) {
    family->column = static_cast<int64_t>(impl.columns.size());
    impl.columns.push_back(Impl::Column{spec.name, family->handle, spec.layout});
  }
  return static_cast<uint32_t>(family->column);
}

Result<bool> RocksDbKeyedStore::get(uint32_t column, std::string_view key, std::string& value) {
  Impl& impl = *impl_;
  if (column >= impl.columns.size()) [[unlikely]] {
    return impl.db == nullptr ? impl.closed() : impl.invalidColumn(column);
  }
  rocksdb::Status status =
      impl.db->Get(impl.readOptions, impl.columns[column].handle, sliceOf(key), &value);
  if (status.ok()) {
    return true;
  }
  if (status.IsNotFound()) {
    value.clear();
    return false;
  }
  return fromRocksDb(status, impl.stateContext(impl.columns[column].name));
}

Status RocksDbKeyedStore::scan(
    uint32_t column, std::string_view prefix,
    const std::function<void(std::string_view key, std::string_view value)>& fn) {
  return scanFrom(column, prefix, prefix, [&](std::string_view key, std::string_view value) {
    fn(key, value);
    return true;
  });
}

Status RocksDbKeyedStore::scanFrom(
    uint32_t column, std::string_view prefix, std::string_view from,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) {
  Impl& impl = *impl_;
  if (column >= impl.columns.size()) [[unlikely]] {
    return impl.db == nullptr ? impl.closed() : impl.invalidColumn(column);
  }
  // Local, not a member: `fn` may scan again.
  rocksdb::ReadOptions readOptions = impl.readOptions;
  std::string upperBound;
  rocksdb::Slice upperSlice;
  const bool bounded = prefixSuccessor(prefix, upperBound);
  if (bounded) {
    upperSlice = rocksdb::Slice(upperBound);
    readOptions.iterate_upper_bound = &upperSlice;
  }
  std::unique_ptr<rocksdb::Iterator> iterator(
      impl.db->NewIterator(readOptions, impl.columns[column].handle));
  for (iterator->Seek(sliceOf(std::max(from, prefix))); iterator->Valid(); iterator->Next()) {
    std::string_view key = viewOf(iterator->key());
    if (!bounded && !key.starts_with(prefix)) {
      break;
    }
    if (!fn(key, viewOf(iterator->value()))) {
      break;
    }
  }
  if (!iterator->status().ok()) {
    return fromRocksDb(iterator->status(), impl.stateContext(impl.columns[column].name));
  }
  return Status::ok();
}

void RocksDbKeyedStore::put(uint32_t column, std::string_view key, std::string_view value) {
  Impl& impl = *impl_;
  if (column >= impl.columns.size()) [[unlikely]] {
    impl.recordBatchError(impl.db == nullptr ? impl.closed() : impl.invalidColumn(column));
    return;
  }
  impl.recordWrite(impl.batch.Put(impl.columns[column].handle, sliceOf(key), sliceOf(value)),
                   column);
}

void RocksDbKeyedStore::merge(uint32_t column, std::string_view key, std::string_view records) {
  Impl& impl = *impl_;
  if (column >= impl.columns.size()) [[unlikely]] {
    impl.recordBatchError(impl.db == nullptr ? impl.closed() : impl.invalidColumn(column));
    return;
  }
  if (impl.columns[column].layout != Layout::kList) [[unlikely]] {
    impl.recordBatchError(
        Status::invalidArgument(fmt::format("{}: merge into a column that is not a list",
                                            impl.stateContext(impl.columns[column].name))));
    return;
  }
  impl.recordWrite(impl.batch.Merge(impl.columns[column].handle, sliceOf(key), sliceOf(records)),
                   column);
}

void RocksDbKeyedStore::remove(uint32_t column, std::string_view key) {
  Impl& impl = *impl_;
  if (column >= impl.columns.size()) [[unlikely]] {
    impl.recordBatchError(impl.db == nullptr ? impl.closed() : impl.invalidColumn(column));
    return;
  }
  impl.recordWrite(impl.batch.Delete(impl.columns[column].handle, sliceOf(key)), column);
}

void RocksDbKeyedStore::removePrefix(uint32_t column, std::string_view prefix) {
  Impl& impl = *impl_;
  if (column >= impl.columns.size()) [[unlikely]] {
    impl.recordBatchError(impl.db == nullptr ? impl.closed() : impl.invalidColumn(column));
    return;
  }
  if (!prefixSuccessor(prefix, impl.scratch)) {
    impl.scratch.assign(prefix.size() + kNoSuccessorPadding, '\xff');
  }
  impl.recordWrite(
      impl.batch.DeleteRange(impl.columns[column].handle, sliceOf(prefix), impl.scratch), column);
}

Status RocksDbKeyedStore::commit() {
  Impl& impl = *impl_;
  if (!impl.batchError.isOk()) [[unlikely]] {
    Status error = std::move(impl.batchError);
    impl.batchError = Status::ok();
    impl.batch.Clear();
    return error;
  }
  if (impl.batch.Count() == 0) {
    return Status::ok();
  }
  rocksdb::Status status = impl.db->Write(impl.writeOptions, &impl.batch);
  impl.batch.Clear();
  if (!status.ok()) {
    return fromRocksDb(status, fmt::format("{}: commit", impl.name));
  }
  return Status::ok();
}

Result<RocksDbLocalCheckpoint> RocksDbKeyedStore::checkpoint(const std::filesystem::path& target) {
  Impl& impl = *impl_;
  if (impl.db == nullptr) {
    return impl.closed();
  }
  if (impl.batch.Count() > 0 || !impl.batchError.isOk()) {
    return Status::invalidArgument(
        fmt::format("{}: checkpoint with uncommitted writes (commit first)", impl.name));
  }
  const std::string context = fmt::format("{}: checkpoint '{}'", impl.name, target.string());
  rocksdb::FlushOptions flushOptions;
  flushOptions.wait = true;
  flushOptions.allow_write_stall = true;
  rocksdb::Status status = impl.db->Flush(flushOptions, impl.handles);
  if (!status.ok()) {
    return fromRocksDb(status, context);
  }
  rocksdb::Checkpoint* raw = nullptr;
  status = rocksdb::Checkpoint::Create(impl.db.get(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpointer(raw);
  if (!status.ok()) {
    return fromRocksDb(status, context);
  }
  status = checkpointer->CreateCheckpoint(target.string(), /*log_size_for_flush=*/0);
  if (!status.ok()) {
    return fromRocksDb(status, context);
  }

  RocksDbLocalCheckpoint result;
  result.directory = target;
  std::error_code error;
  std::filesystem::directory_iterator entries(target, error);
  if (error) {
    return Status::ioError(fmt::format("{}: cannot list: {}", context, error.message()));
  }
  for (const std::filesystem::directory_entry& entry : entries) {
    if (!entry.is_regular_file(error)) {
      continue;
    }
    RocksDbCheckpointFile file;
    file.name = entry.path().filename().string();
    file.size = entry.file_size(error);
    if (error) {
      return Status::ioError(
          fmt::format("{}: cannot stat '{}': {}", context, file.name, error.message()));
    }
    file.sst = entry.path().extension() == ".sst";
    result.files.push_back(std::move(file));
  }
  std::sort(result.files.begin(), result.files.end(),
            [](const RocksDbCheckpointFile& a, const RocksDbCheckpointFile& b) {
              return a.name < b.name;
            });
  return result;
}

const std::filesystem::path& RocksDbKeyedStore::directory() const { return impl_->directory; }

int RocksDbKeyedStore::restoredBaseSource() const { return impl_->baseSource; }

size_t RocksDbKeyedStore::maxCachedKeys() const { return impl_->maxCachedKeys; }

Status RocksDbKeyedStore::close() {
  Impl& impl = *impl_;
  if (impl.db == nullptr) {
    return Status::ok();
  }
  impl.batch.Clear();
  impl.batchError = Status::ok();
  impl.columns.clear();
  impl.families.clear();
  for (rocksdb::ColumnFamilyHandle* handle : impl.handles) {
    impl.db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  impl.handles.clear();
  rocksdb::Status status = impl.db->Close();
  impl.db.reset();
  return status.ok() ? Status::ok() : fromRocksDb(status, fmt::format("{}: close", impl.name));
}

Status RocksDbKeyedStore::testingCompact() {
  Impl& impl = *impl_;
  if (impl.db == nullptr) {
    return impl.closed();
  }
  rocksdb::FlushOptions flushOptions;
  rocksdb::Status status = impl.db->Flush(flushOptions, impl.handles);
  if (!status.ok()) {
    return fromRocksDb(status, impl.name);
  }
  rocksdb::CompactRangeOptions compactOptions;
  compactOptions.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (const Impl::Column& column : impl.columns) {
    status = impl.db->CompactRange(compactOptions, column.handle, nullptr, nullptr);
    if (!status.ok()) {
      return fromRocksDb(status, impl.stateContext(column.name));
    }
  }
  return Status::ok();
}

}  // namespace strom::state
