// How long a RocksDB store takes to restore a checkpoint with and without local recovery
// (state.backend.local-recovery). One operator instance's store gets --keys values of
// --value-bytes (random bytes: RocksDB cannot compress them away), is checkpointed and uploaded
// to a checkpoint directory with local recovery on, so that both the upload and a local copy
// exist. Then, --rounds times each, a new store of the same key groups restores it:
//   download: from the checkpoint directory (copy and checksum every file, then open);
//   local:    from the local copy (check the small files, hard-link, open).
// The reference is copying the same files with std::filesystem::copy_file (no checksum, no
// open): the least a download can cost on this disk. Every restore is checked: it must hold
// every key, and the local restore must have read nothing from the checkpoint directory.
//
//   ./build/bench/local_recovery_bench [--keys 200000] [--value-bytes 1000] [--rounds 5]

#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "checkpoint/task_state_file.h"
#include "runtime/task/keyed_store.h"
#include "state/rocksdb/rocksdb_resources.h"

namespace {

namespace fs = std::filesystem;
using namespace strom;
using Clock = std::chrono::steady_clock;

constexpr int64_t kCheckpoint = 1;
const KeyGroupRange kAllKeyGroups{0, 127};

std::string keyOf(int64_t i) {
  const int keyGroup = static_cast<int>(i % 128);
  std::string bytes{static_cast<char>(keyGroup >> 8), static_cast<char>(keyGroup & 0xff)};
  bytes.append("key-" + std::to_string(i));
  return bytes;
}

[[noreturn]] void fail(const std::string& what, const Status& status) {
  std::fprintf(stderr, "local_recovery_bench: %s: %s\n", what.c_str(), status.toString().c_str());
  std::exit(1);
}

double millisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t keys = 200'000;
  int64_t valueBytes = 1000;
  int rounds = 5;
  CLI::App app{"RocksDB restore from checkpoint storage vs from the local copy"};
  app.add_option("--keys", keys, "keys in the keyed state")->check(CLI::PositiveNumber);
  app.add_option("--value-bytes", valueBytes, "bytes of each key's value")
      ->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "restores of each kind")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  std::string pattern = (fs::temp_directory_path() / "strom-local-recovery-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "local_recovery_bench: cannot create a directory in %s\n",
                 fs::temp_directory_path().c_str());
    return 1;
  }
  const fs::path base = pattern;
  const fs::path jobDir = base / "checkpoints" / "job";
  const fs::path localState = runtime::localStateDirOfJob(base / "local", "job");
  auto resources = state::RocksDbResources::create(uint64_t{256} << 20, 0.5);
  auto makeStore = [&](const std::string& name, bool localRecovery) {
    return std::make_unique<runtime::OperatorKeyedStore>(
        base / "local" / name, "bench-op", kAllKeyGroups, 128, "operator '" + name + "'",
        localRecovery ? localState : fs::path());
  };

  // The state, its checkpoint, its upload and its local copy.
  std::vector<checkpoint::proto::StateHandle> handles;
  uint64_t stateBytes = 0;
  {
    auto store = makeStore("written", /*localRecovery=*/true);
    auto opened = store->open(resources, 4096);
    if (!opened.isOk()) fail("opening the store", opened.status());
    auto column = (*opened)->openColumn({"values", StoredStateSpec::Layout::kSingleValue, 0});
    if (!column.isOk()) fail("opening the column", column.status());
    std::mt19937_64 random(42);
    std::string value(static_cast<size_t>(valueBytes), '\0');
    for (int64_t i = 0; i < keys; ++i) {
      for (char& c : value) c = static_cast<char>(random());
      (*opened)->put(*column, keyOf(i), value);
      if (i % 10'000 == 9'999) {
        if (Status s = (*opened)->commit(); !s.isOk()) fail("writing", s);
      }
    }
    if (Status s = (*opened)->commit(); !s.isOk()) fail("writing", s);
    auto upload = store->takeCheckpoint(kCheckpoint, /*incremental=*/false);
    if (!upload.isOk()) fail("checkpointing", upload.status());
    std::vector<checkpoint::TaskStateEntry> inlineEntries;
    auto shared = runtime::uploadStore(*upload, jobDir, 0, inlineEntries);
    if (!shared.isOk()) fail("uploading", shared.status());
    auto stateFile = checkpoint::writeTaskStateFile(
        jobDir, checkpoint::TaskStateFileId{kCheckpoint, 0, 0, 0}, inlineEntries);
    if (!stateFile.isOk()) fail("writing the task state file", stateFile.status());
    handles.assign(stateFile->handles().begin(), stateFile->handles().end());
    handles.insert(handles.end(), shared->begin(), shared->end());
    for (const auto& handle : handles) stateBytes += handle.length();
  }

  int restoreIndex = 0;
  auto restore = [&](bool localRecovery) {
    auto store = makeStore("restored-" + std::to_string(restoreIndex++), localRecovery);
    for (const auto& handle : handles) store->addRestoreHandle(jobDir, kCheckpoint, handle, true);
    const Clock::time_point start = Clock::now();
    auto opened = store->open(resources, 4096);
    const double millis = millisSince(start);
    if (!opened.isOk()) fail("restoring", opened.status());
    const runtime::StoreRestoreStats& stats = store->restoreStats();
    if (localRecovery ? stats.downloadedBytes != 0 || stats.localBytes != stateBytes
                      : stats.localBytes != 0 || stats.downloadedBytes != stateBytes) {
      std::fprintf(stderr, "local_recovery_bench: a %s restore read %llu local, %llu downloaded\n",
                   localRecovery ? "local" : "download",
                   static_cast<unsigned long long>(stats.localBytes),
                   static_cast<unsigned long long>(stats.downloadedBytes));
      std::exit(1);
    }
    // Every key is there (a sample of 1,000, spread over the range, read through RocksDB).
    auto column = (*opened)->openColumn({"values", StoredStateSpec::Layout::kSingleValue, 0});
    if (!column.isOk()) fail("opening the restored column", column.status());
    std::string value;
    for (int64_t i = 0; i < keys; i += std::max<int64_t>(1, keys / 1000)) {
      auto found = (*opened)->get(*column, keyOf(i), value);
      if (!found.isOk() || !*found || value.size() != static_cast<size_t>(valueBytes)) {
        std::fprintf(stderr, "local_recovery_bench: key %lld is missing after the restore\n",
                     static_cast<long long>(i));
        std::exit(1);
      }
    }
    return millis;
  };
  auto copyAll = [&] {
    const fs::path target = base / ("copy-" + std::to_string(restoreIndex++));
    fs::create_directories(target);
    const Clock::time_point start = Clock::now();
    for (const auto& handle : handles) {
      if (handle.path().starts_with("shared/")) {
        fs::copy_file(jobDir / handle.path(), target / handle.name());
      }
    }
    const double millis = millisSince(start);
    fs::remove_all(target);
    return millis;
  };

  std::vector<double> download;
  std::vector<double> local;
  std::vector<double> copy;
  for (int i = 0; i < rounds; ++i) {
    download.push_back(restore(/*localRecovery=*/false));
    local.push_back(restore(/*localRecovery=*/true));
    copy.push_back(copyAll());
  }
  const double mib = static_cast<double>(stateBytes) / (1 << 20);
  std::printf("state: %lld keys of %lld bytes, %.1f MiB in %zu files\n",
              static_cast<long long>(keys), static_cast<long long>(valueBytes), mib,
              handles.size());
  std::printf("%-40s %10s %12s\n", "restore (median of rounds)", "ms", "MiB/s");
  auto row = [&](const char* name, double millis) {
    std::printf("%-40s %10.1f %12.0f\n", name, millis, mib / (millis / 1000));
  };
  row("download (copy + checksum + open)", median(download));
  row("local copy (check + hard links + open)", median(local));
  row("reference: copy_file of the SST files", median(copy));
  std::printf("local restore is %.1fx faster than the download\n",
              median(download) / median(local));
  std::error_code ec;
  fs::remove_all(base, ec);
  return 0;
}
