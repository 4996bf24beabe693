#pragma once

#include <strom/config.h>
#include <strom/record_io.h>
#include <strom/status.h>
#include <strom/transformation.h>

#include <memory>
#include <string>
#include <vector>

namespace strom::graph {

/// An edge between two physical operators, with its partitioning resolved.
struct StreamEdge {
  int index = 0;
  int sourceNode = 0;
  int targetNode = 0;
  PartitionerKind kind = PartitionerKind::kForward;
  std::shared_ptr<const PartitionerFactory> partitioner;
  std::string sideOutputTag;  // empty: the source's main output
  int inputIndex = 0;  // which logical input of the target it feeds: 0, or 1 for a second input
  std::shared_ptr<const RecordTypeOps> recordType;  // of the records on this edge
};

/// A physical operator: a source, an operator or a sink.
struct StreamNode {
  int id = 0;  // the id of its transformation
  std::shared_ptr<const Transformation> transformation;
  int parallelism = 1;
  int maxParallelism = kDefaultMaxParallelism;
  std::vector<int> inEdges;   // indices into StreamGraph::edges()
  std::vector<int> outEdges;  // indices into StreamGraph::edges()

  const std::string& name() const { return transformation->name; }
  TransformationKind kind() const { return transformation->kind; }
};

/// The job's operators and the edges between them, with virtual transformations (union,
/// partitioning, side-output selection) folded into the edges. Immutable once built; shared
/// by every task of the job (it holds the user's operator factories).
class StreamGraph {
 public:
  /// Build from the transformations of an environment. Checks parallelism against
  /// maxParallelism and the limits of non-parallel sources and sinks, and forward edges
  /// against parallelism changes; the errors name the operator.
  static Result<std::shared_ptr<const StreamGraph>> create(
      const std::vector<std::shared_ptr<Transformation>>& transformations, int defaultParallelism,
      int defaultMaxParallelism);

  /// Nodes in topological order (inputs before their consumers).
  const std::vector<StreamNode>& nodes() const { return nodes_; }
  const std::vector<StreamEdge>& edges() const { return edges_; }
  /// Return the node of transformation `id`, or nullptr if it is virtual.
  const StreamNode* node(int id) const;

 private:
  std::vector<StreamNode> nodes_;
  std::vector<int> nodeIndexById_;  // transformation id -> index in nodes_, or -1
  std::vector<StreamEdge> edges_;
};

}  // namespace strom::graph
