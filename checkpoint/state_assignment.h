#pragma once

#include <strom/status.h>

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_storage.h"
#include "proto/checkpoint.pb.h"

namespace strom::checkpoint {

/// One vertex of the job that restores: what state assignment needs of a JobGraph vertex.
struct RestoreVertex {
  int vertexId = 0;
  int parallelism = 1;
  int maxParallelism = 128;
  /// graph::operatorUid() of each chained operator (JobVertex::chainUids).
  std::vector<std::string> chainUids;
  /// The JobEdge ids it consumes, by gate, and produces, by partition (JobVertex::inputs and
  /// ::outputs): how its channel state's names map to edges.
  std::vector<int> inputs;
  std::vector<int> outputs;
};

/// One JobEdge of the job that restores, for channel state at another parallelism.
struct RestoreEdge {
  int id = 0;
  int sourceVertex = 0;  // vertex ids
  int targetVertex = 0;
  bool pointwise = false;  // forward or rescale: channels connect a local subset
  bool broadcast = false;  // every consumer gets every record
};

/// Assign the state of `source` to the subtasks of a job with `vertices` (docs/architecture.md,
/// "Restore"; mechanism 2 of issue 8). Returns one TaskRestore per subtask: result[i][s] is
/// subtask s of vertices[i], each with the checkpoint id, the root directory and:
/// - keyed handles ("keyed") whose key-group range overlaps the subtask's range;
/// - operator state ("operator") by mode: split at the same parallelism the subtask's own
///   handles, otherwise every handle of that state (in the order of the writing subtasks) and a
///   `split_select` entry "<uid>/<name>" {new parallelism, s}; union every handle; broadcast the
///   handle of the lowest writing subtask (subtask 0);
/// - channel state ("channel") written by the same subtask index, on edges whose two vertices
///   keep their parallelism. On an edge where either changed, each old channel's in-flight
///   records (the consumer's "in-<gate>-<producer>" handle, then the producer's
///   "out-<partition>-<consumer>" handle) go to new producer subtask `old producer % new
///   parallelism` as "replay-<partition>", to be sent again through the edge's partitioner
///   (broadcast edges: only the channels of old consumer 0). Matching an old channel to an edge
///   assumes the job's topology is unchanged.
/// Matching is by operator uid (StateHandle::operator_uid against the vertices' chainUids), so
/// an operator may move between chains. Errors (InvalidArgument, naming the checkpoint and the
/// operator): state of a uid that no vertex has, unless `allowUnclaimed` (then it is dropped);
/// keyed state restored at another max parallelism; channel state at another parallelism on a
/// pointwise edge or without `edges`, or naming a gate or partition the vertex does not have; a
/// handle of an unknown kind or operator-state mode.
Result<std::vector<std::vector<proto::TaskRestore>>> assignState(
    const RestorePoint& source, std::span<const RestoreVertex> vertices, bool allowUnclaimed,
    std::span<const RestoreEdge> edges = {});

}  // namespace strom::checkpoint
