#include "checkpoint/shared_state_registry.h"

#include <algorithm>
#include <cassert>
#include <system_error>
#include <utility>

#include "common/logging.h"

namespace strom::checkpoint {
namespace fs = std::filesystem;
namespace {

std::shared_ptr<spdlog::logger> logger() { return moduleLogger("checkpoint"); }

enum class PathClass { kShared, kOther, kUnsafe };

PathClass classify(std::string_view path) {
  if (path.empty() || path.front() == '/') return PathClass::kUnsafe;
  int components = 0;
  bool underShared = false;
  for (const fs::path& part : fs::path(path)) {
    if (part.empty() || part == "." || part == "..") return PathClass::kUnsafe;
    if (components++ == 0) underShared = part == "shared";
  }
  return underShared && components >= 2 ? PathClass::kShared : PathClass::kOther;
}

uint64_t handleEnd(const proto::StateHandle& handle) {
  uint64_t end = handle.offset() + handle.length();
  return end < handle.offset() ? UINT64_MAX : end;
}

}  // namespace

bool isSharedStatePath(std::string_view path) { return classify(path) == PathClass::kShared; }

SharedStateRegistry::SharedStateRegistry(fs::path jobDir, std::string jobId)
    : jobDir_(std::move(jobDir)), jobId_(std::move(jobId)) {}

void SharedStateRegistry::collectPaths(
    const google::protobuf::RepeatedPtrField<proto::StateHandle>& handles, PathSizes& paths) const {
  for (const proto::StateHandle& handle : handles) {
    switch (classify(handle.path())) {
      case PathClass::kShared: {
        uint64_t& bytes = paths[handle.path()];
        bytes = std::max(bytes, handleEnd(handle));
        break;
      }
      case PathClass::kUnsafe:
        logger()->warn(
            "job {}: shared state registry: ignoring state handle path '{}': not relative to "
            "the job directory",
            jobId_, handle.path());
        break;
      case PathClass::kOther:
        break;
    }
  }
}

void SharedStateRegistry::reference(const std::string& path, uint64_t bytes, bool registered) {
  Entry& entry = entries_[path];
  ++(registered ? entry.registered : entry.pending);
  entry.bytes = std::max(entry.bytes, bytes);
  candidates_.erase(path);
}

void SharedStateRegistry::unreference(const std::string& path, bool registered) {
  auto it = entries_.find(path);
  assert(it != entries_.end());
  if (it == entries_.end()) return;
  --(registered ? it->second.registered : it->second.pending);
  if (it->second.registered == 0 && it->second.pending == 0) {
    entries_.erase(it);
    candidates_.emplace(path, completions_);
  }
}

void SharedStateRegistry::registerCheckpoint(int64_t checkpointId,
                                             const proto::CheckpointMetadata& metadata) {
  PathSizes paths;
  for (const proto::OperatorState& op : metadata.operators()) {
    for (const proto::SubtaskState& subtask : op.subtasks()) collectPaths(subtask.handles(), paths);
  }
  ++completions_;
  std::vector<std::string> referenced;
  referenced.reserve(paths.size());
  for (const auto& [path, bytes] : paths) {
    reference(path, bytes, /*registered=*/true);
    referenced.push_back(path);
  }
  // A second registration of the id replaces the first (after taking the new references, so
  // that the paths both name never become candidates).
  auto [it, inserted] = registered_.try_emplace(checkpointId);
  if (!inserted) {
    for (const std::string& path : it->second) unreference(path, /*registered=*/true);
  }
  it->second = std::move(referenced);
}

void SharedStateRegistry::releaseCheckpoint(int64_t checkpointId) {
  auto it = registered_.find(checkpointId);
  if (it == registered_.end()) return;
  for (const std::string& path : it->second) unreference(path, /*registered=*/true);
  registered_.erase(it);
}

void SharedStateRegistry::addPending(
    int64_t checkpointId, const google::protobuf::RepeatedPtrField<proto::StateHandle>& handles) {
  PathSizes paths;
  collectPaths(handles, paths);
  if (paths.empty()) return;
  std::set<std::string>& pending = pending_[checkpointId];
  for (const auto& [path, bytes] : paths) {
    if (pending.insert(path).second) {
      reference(path, bytes, /*registered=*/false);
    } else {
      Entry& entry = entries_.at(path);
      entry.bytes = std::max(entry.bytes, bytes);
    }
  }
}

void SharedStateRegistry::dropPending(int64_t checkpointId) {
  auto it = pending_.find(checkpointId);
  if (it == pending_.end()) return;
  for (const std::string& path : it->second) unreference(path, /*registered=*/false);
  pending_.erase(it);
}

void SharedStateRegistry::addUnreferenced(
    const google::protobuf::RepeatedPtrField<proto::StateHandle>& handles) {
  PathSizes paths;
  collectPaths(handles, paths);
  for (const auto& [path, bytes] : paths) {
    if (entries_.count(path) == 0) candidates_.emplace(path, completions_);
  }
}

std::vector<std::string> SharedStateRegistry::deleteDueCandidates() {
  return deleteCandidates([this](uint64_t since) { return since < completions_; });
}

std::vector<std::string> SharedStateRegistry::deleteAllCandidates() {
  return deleteCandidates([](uint64_t) { return true; });
}

std::vector<std::string> SharedStateRegistry::deleteCandidates(
    const std::function<bool(uint64_t since)>& due) {
  std::vector<std::string> deleted;
  for (auto it = candidates_.begin(); it != candidates_.end();) {
    if (!due(it->second)) {
      ++it;
      continue;
    }
    // Candidates are unreferenced valid shared paths: the file is below <jobDir>/shared/.
    assert(entries_.count(it->first) == 0 && isSharedStatePath(it->first));
    std::error_code ec;
    bool removed = fs::remove(jobDir_ / it->first, ec);
    if (ec) {
      logger()->warn("job {}: cannot delete shared state file '{}': {}", jobId_,
                     (jobDir_ / it->first).string(), ec.message());
    } else if (removed) {
      logger()->debug("job {}: deleted shared state file '{}'", jobId_, it->first);
      deleted.push_back(it->first);
    }
    it = candidates_.erase(it);
  }
  if (!deleted.empty()) {
    logger()->info("job {}: deleted {} shared state file(s) that no checkpoint references", jobId_,
                   deleted.size());
  }
  return deleted;
}

size_t SharedStateRegistry::numRegisteredFiles() const {
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(),
                                           [](const auto& e) { return e.second.registered > 0; }));
}

uint64_t SharedStateRegistry::registeredBytes() const {
  uint64_t bytes = 0;
  for (const auto& [path, entry] : entries_) {
    if (entry.registered > 0) bytes += entry.bytes;
  }
  return bytes;
}

size_t SharedStateRegistry::numCandidates() const { return candidates_.size(); }

int SharedStateRegistry::numReferences(std::string_view path) const {
  auto it = entries_.find(path);
  return it == entries_.end() ? 0 : it->second.registered + it->second.pending;
}

}  // namespace strom::checkpoint
