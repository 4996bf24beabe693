#include "checkpoint/state_assignment.h"

#include <strom/key.h>
#include <strom/operator.h>

#include <map>
#include <utility>

namespace strom::checkpoint {
namespace {

// A handle of the checkpoint and the subtask (of its old vertex) that acknowledged it.
struct OldHandle {
  const proto::StateHandle* handle = nullptr;
  int subtask = 0;
};

// Everything the checkpoint holds for one operator uid.
struct OldOperator {
  const proto::OperatorState* vertex = nullptr;
  std::vector<OldHandle> handles;  // in (subtask, handle) order
};

// Where an operator uid runs in the new job.
struct NewOperator {
  size_t vertexIndex = 0;
};

Status invalid(const RestorePoint& source, const std::string& what) {
  return Status::invalidArgument((source.metadata.savepoint() ? "savepoint " : "checkpoint ") +
                                 std::to_string(source.metadata.checkpoint_id()) + " (" +
                                 source.rootDir.string() + "): " + what);
}

}  // namespace

Result<std::vector<std::vector<proto::TaskRestore>>> assignState(
    const RestorePoint& source, std::span<const RestoreVertex> vertices, bool allowUnclaimed) {
  std::map<std::string, NewOperator> newOperators;
  for (size_t i = 0; i < vertices.size(); ++i) {
    if (vertices[i].parallelism < 1 || vertices[i].maxParallelism < vertices[i].parallelism) {
      return invalid(source, "vertex " + std::to_string(vertices[i].vertexId) +
                                 " has parallelism " + std::to_string(vertices[i].parallelism) +
                                 " and max parallelism " +
                                 std::to_string(vertices[i].maxParallelism));
    }
    for (const std::string& uid : vertices[i].chainUids) {
      if (!newOperators.emplace(uid, NewOperator{i}).second) {
        return invalid(source, "operator uid '" + uid + "' is used twice in the job");
      }
    }
  }

  std::map<std::string, OldOperator> oldOperators;
  for (const proto::OperatorState& vertex : source.metadata.operators()) {
    for (const proto::SubtaskState& subtask : vertex.subtasks()) {
      for (const proto::StateHandle& handle : subtask.handles()) {
        OldOperator& old = oldOperators[handle.operator_uid()];
        if (old.vertex != nullptr && old.vertex != &vertex) {
          return invalid(source, "operator uid '" + handle.operator_uid() +
                                     "' has state in vertices " +
                                     std::to_string(old.vertex->vertex_id()) + " and " +
                                     std::to_string(vertex.vertex_id()));
        }
        old.vertex = &vertex;
        old.handles.push_back(OldHandle{&handle, subtask.subtask_index()});
      }
    }
  }

  std::vector<std::vector<proto::TaskRestore>> result(vertices.size());
  for (size_t i = 0; i < vertices.size(); ++i) {
    result[i].resize(static_cast<size_t>(vertices[i].parallelism));
    for (proto::TaskRestore& restore : result[i]) {
      restore.set_checkpoint_id(source.metadata.checkpoint_id());
      restore.set_root_dir(source.rootDir.string());
    }
  }

  for (const auto& [uid, old] : oldOperators) {
    auto found = newOperators.find(uid);
    if (found == newOperators.end()) {
      if (allowUnclaimed) continue;
      return invalid(source, "the state of operator '" + uid + "' (vertex " +
                                 std::to_string(old.vertex->vertex_id()) +
                                 ") belongs to no operator of the job; set "
                                 "execution.savepoint.ignore-unclaimed-state to drop it");
    }
    const RestoreVertex& vertex = vertices[found->second.vertexIndex];
    std::vector<proto::TaskRestore>& restores = result[found->second.vertexIndex];
    const int oldParallelism = old.vertex->parallelism();
    const int newParallelism = vertex.parallelism;
    const bool sameParallelism = oldParallelism == newParallelism;
    if (source.metadata.unaligned() && !sameParallelism) {
      return invalid(source, "operator '" + uid + "' ran at parallelism " +
                                 std::to_string(oldParallelism) +
                                 " in an unaligned checkpoint, which restores only at the same "
                                 "parallelism, not at " +
                                 std::to_string(newParallelism));
    }
    // Operator states of mode broadcast: the subtask whose handle everyone gets.
    std::map<std::string, int> broadcastFrom;
    for (const OldHandle& h : old.handles) {
      if (h.handle->kind() == "operator" &&
          h.handle->mode() == static_cast<int>(OperatorStateMode::kBroadcast)) {
        auto [it, inserted] = broadcastFrom.emplace(h.handle->name(), h.subtask);
        if (!inserted && h.subtask < it->second) it->second = h.subtask;
      }
    }
    for (const OldHandle& h : old.handles) {
      const proto::StateHandle& handle = *h.handle;
      proto::StateHandle copy = handle;
      copy.set_subtask_index(h.subtask);
      if (handle.kind() == "keyed") {
        if (old.vertex->max_parallelism() != vertex.maxParallelism) {
          return invalid(source, "operator '" + uid + "' has keyed state for max parallelism " +
                                     std::to_string(old.vertex->max_parallelism()) +
                                     ", which cannot be restored at max parallelism " +
                                     std::to_string(vertex.maxParallelism));
        }
        for (int s = 0; s < newParallelism; ++s) {
          KeyGroupRange range =
              KeyGroupRange::forOperator(vertex.maxParallelism, newParallelism, s);
          if (handle.key_group_end() < range.startKeyGroup ||
              handle.key_group_start() > range.endKeyGroup ||
              handle.key_group_end() < handle.key_group_start()) {
            continue;
          }
          *restores[static_cast<size_t>(s)].add_handles() = copy;
        }
      } else if (handle.kind() == "operator") {
        switch (static_cast<OperatorStateMode>(handle.mode())) {
          case OperatorStateMode::kSplit:
            if (sameParallelism) {
              if (h.subtask >= 0 && h.subtask < newParallelism) {
                *restores[static_cast<size_t>(h.subtask)].add_handles() = copy;
              }
              break;
            }
            for (int s = 0; s < newParallelism; ++s) {
              proto::TaskRestore& restore = restores[static_cast<size_t>(s)];
              *restore.add_handles() = copy;
              proto::SplitSelect& select =
                  (*restore.mutable_split_select())[uid + "/" + handle.name()];
              select.set_modulus(newParallelism);
              select.set_remainder(s);
            }
            break;
          case OperatorStateMode::kUnion:
            for (proto::TaskRestore& restore : restores) *restore.add_handles() = copy;
            break;
          case OperatorStateMode::kBroadcast:
            if (broadcastFrom.at(handle.name()) != h.subtask) break;
            for (proto::TaskRestore& restore : restores) *restore.add_handles() = copy;
            break;
          default:
            return invalid(source, "operator '" + uid + "' state '" + handle.name() +
                                       "' has unknown mode " + std::to_string(handle.mode()));
        }
      } else if (handle.kind() == "channel") {
        if (sameParallelism && h.subtask >= 0 && h.subtask < newParallelism) {
          *restores[static_cast<size_t>(h.subtask)].add_handles() = copy;
        }
      } else {
        return invalid(source, "operator '" + uid + "' has a state handle of unknown kind '" +
                                   handle.kind() + "' (" + handle.path() + ")");
      }
    }
  }
  return result;
}

}  // namespace strom::checkpoint
