#include "checkpoint/state_assignment.h"

#include <strom/key.h>
#include <strom/operator.h>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "checkpoint/channel_state_names.h"
#include "checkpoint/task_state_file.h"

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

// The in-flight records of one old channel of an edge whose parallelism changed: the consumer's
// input part and the producer's output part (either may be missing).
struct ReplayedChannel {
  std::optional<proto::StateHandle> input;
  std::optional<proto::StateHandle> output;
};

Status invalid(const RestorePoint& source, const std::string& what) {
  return Status::invalidArgument((source.metadata.savepoint() ? "savepoint " : "checkpoint ") +
                                 std::to_string(source.metadata.checkpoint_id()) + " (" +
                                 source.rootDir.string() + "): " + what);
}

}  // namespace

Result<std::vector<std::vector<proto::TaskRestore>>> assignState(
    const RestorePoint& source, std::span<const RestoreVertex> vertices, bool allowUnclaimed,
    std::span<const RestoreEdge> edges) {
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

  // Channel state: the old parallelism of each new vertex (from the old vertex with the same
  // head operator; -1 when there is none), and the edges by id.
  std::map<std::string, int> oldParallelismByHead;
  for (const proto::OperatorState& vertex : source.metadata.operators()) {
    oldParallelismByHead[vertex.uid()] = vertex.parallelism();
  }
  std::map<int, size_t> vertexIndexById;
  std::vector<int> oldParallelism(vertices.size(), -1);
  for (size_t i = 0; i < vertices.size(); ++i) {
    vertexIndexById[vertices[i].vertexId] = i;
    if (vertices[i].chainUids.empty()) continue;
    auto it = oldParallelismByHead.find(vertices[i].chainUids.front());
    if (it != oldParallelismByHead.end()) oldParallelism[i] = it->second;
  }
  std::map<int, const RestoreEdge*> edgeById;
  for (const RestoreEdge& edge : edges) edgeById[edge.id] = &edge;
  auto keepsParallelism = [&](int vertexId) {
    auto it = vertexIndexById.find(vertexId);
    return it != vertexIndexById.end() &&
           oldParallelism[it->second] == vertices[it->second].parallelism;
  };
  // By edge id, then (old producer, old consumer) subtask.
  std::map<int, std::map<std::pair<int, int>, ReplayedChannel>> replayed;

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
      // Keyed state (a snapshot, or a RocksDB store's file): to every new subtask whose key
      // groups overlap the handle's.
      if (handle.kind() == kKeyedStateKind || handle.kind() == kRocksDbStateKind) {
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
        auto name = parseChannelStateName(handle.name());
        if (!name.isOk() || name->kind == ChannelStateName::Kind::kReplay) {
          return invalid(source, "operator '" + uid + "': bad channel state name '" +
                                     handle.name() + "' (" + handle.path() + ")");
        }
        const bool input = name->kind == ChannelStateName::Kind::kInput;
        const std::vector<int>& ends = input ? vertex.inputs : vertex.outputs;
        const RestoreEdge* edge = nullptr;
        if (!edges.empty()) {
          if (name->first >= static_cast<int>(ends.size())) {
            return invalid(source, "operator '" + uid + "': channel state '" + handle.name() +
                                       "' names " + (input ? "an input" : "an output") +
                                       " its vertex does not have");
          }
          auto found = edgeById.find(ends[static_cast<size_t>(name->first)]);
          if (found != edgeById.end()) edge = found->second;
        }
        const bool rescaled = edge == nullptr ? !sameParallelism
                                              : !keepsParallelism(edge->sourceVertex) ||
                                                    !keepsParallelism(edge->targetVertex);
        if (!rescaled) {
          if (h.subtask >= 0 && h.subtask < newParallelism) {
            *restores[static_cast<size_t>(h.subtask)].add_handles() = copy;
          }
          continue;
        }
        if (edge == nullptr || edge->pointwise) {
          return invalid(source,
                         "operator '" + uid + "' ran at parallelism " +
                             std::to_string(oldParallelism) + " with in-flight records on a " +
                             (edge == nullptr ? "channel" : "pointwise (forward) edge") +
                             " in an unaligned checkpoint, which restores only at the "
                             "same parallelism, not at " +
                             std::to_string(newParallelism) + "; take a savepoint to rescale");
        }
        // All-to-all: an input channel is the producer subtask, an output subpartition the
        // consumer subtask.
        const int producer = input ? name->second : h.subtask;
        const int consumer = input ? h.subtask : name->second;
        if (edge->broadcast && consumer != 0) continue;  // consumer 0's copy is replayed
        ReplayedChannel& channel = replayed[edge->id][{producer, consumer}];
        (input ? channel.input : channel.output) = copy;
      } else {
        return invalid(source, "operator '" + uid + "' has a state handle of unknown kind '" +
                                   handle.kind() + "' (" + handle.path() + ")");
      }
    }
  }
  // Each old channel's records go to a new producer subtask, to be partitioned again.
  for (const auto& [edgeId, channels] : replayed) {
    const RestoreEdge& edge = *edgeById.at(edgeId);
    auto producerIt = vertexIndexById.find(edge.sourceVertex);
    if (producerIt == vertexIndexById.end()) {
      return invalid(source, "edge " + std::to_string(edgeId) + " has no producer vertex");
    }
    const RestoreVertex& producer = vertices[producerIt->second];
    auto partition = std::find(producer.outputs.begin(), producer.outputs.end(), edgeId);
    if (partition == producer.outputs.end() || producer.chainUids.empty()) {
      return invalid(source, "edge " + std::to_string(edgeId) + " is not an output of vertex " +
                                 std::to_string(producer.vertexId));
    }
    const std::string name =
        replayChannelStateName(static_cast<int>(partition - producer.outputs.begin()));
    for (const auto& [subtasks, channel] : channels) {
      proto::TaskRestore& restore =
          result[producerIt->second][static_cast<size_t>(subtasks.first % producer.parallelism)];
      for (const std::optional<proto::StateHandle>& part : {channel.input, channel.output}) {
        if (!part) continue;
        proto::StateHandle* handle = restore.add_handles();
        *handle = *part;
        handle->set_name(name);
        handle->set_operator_uid(producer.chainUids.front());
      }
    }
  }
  return result;
}

}  // namespace strom::checkpoint
