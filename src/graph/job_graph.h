#pragma once

#include <strom/config.h>
#include <strom/record_io.h>
#include <strom/status.h>

#include <memory>
#include <string>
#include <vector>

#include "graph/stream_graph.h"

namespace strom {
class StreamExecutionEnvironment;
}  // namespace strom

namespace strom::graph {

/// A data exchange between two vertices: one result partition per producer subtask.
struct JobEdge {
  int id = 0;
  int sourceVertex = 0;
  int targetVertex = 0;
  int streamEdge = 0;  // index into StreamGraph::edges()
  PartitionerKind kind = PartitionerKind::kForward;
  /// Pointwise edges (forward, rescale) connect each producer to a local subset of
  /// consumers; all others connect every producer to every consumer.
  bool pointwise() const {
    return kind == PartitionerKind::kForward || kind == PartitionerKind::kRescale;
  }
};

/// A chain of operators that runs as one task per subtask.
struct JobVertex {
  int id = 0;
  std::string name;  // operator names joined by " -> "
  int parallelism = 1;
  int maxParallelism = kDefaultMaxParallelism;
  std::vector<int> chain;  // stream node ids, head first, in topological order
  /// operatorUid() of each chained node, in `chain` order: how checkpoints name their state.
  std::vector<std::string> chainUids;
  std::vector<int> inputs;   // JobEdge ids consumed by the head
  std::vector<int> outputs;  // JobEdge ids produced by operators of the chain
  bool isSource() const { return inputs.empty(); }
};

/// The job as the JobManager schedules it: vertices (operator chains) and the edges between
/// them. Immutable once built; holds the StreamGraph, whose factories create the operators.
class JobGraph {
 public:
  /// Chain operators: a node joins its input's vertex when it has exactly one input, the
  /// edge is forward with equal parallelism, and neither side disabled chaining.
  static Result<std::shared_ptr<const JobGraph>> create(std::shared_ptr<const StreamGraph> graph,
                                                        std::string jobName,
                                                        Configuration configuration);
  /// Build the graph of a topology alone, as the JobManager receives it: it never runs user
  /// code, so the graph has no StreamGraph (hasStreamGraph() is false, and streamGraph() aborts
  /// naming the job). Its fingerprint() is `fingerprint`, as the client computed it (the
  /// operators it covers are not here to compute it again). InvalidArgument naming the vertex or
  /// edge if the topology is inconsistent: ids not 0..n-1 in order, an edge not from an earlier
  /// vertex to a later one, inputs and outputs that do not match the edges, a parallelism
  /// outside 1..maxParallelism, a stream node in two chains.
  static Result<std::shared_ptr<const JobGraph>> fromTopology(std::string jobName,
                                                              std::vector<JobVertex> vertices,
                                                              std::vector<JobEdge> edges,
                                                              Configuration configuration,
                                                              std::string fingerprint = "");

  const std::string& jobName() const { return jobName_; }
  const std::vector<JobVertex>& vertices() const { return vertices_; }
  const std::vector<JobEdge>& edges() const { return edges_; }
  /// Return the operators' graph. Only a graph built from the user's program has one (see
  /// fromTopology): calling this on a topology-only graph is a programmer error and aborts.
  const StreamGraph& streamGraph() const;
  bool hasStreamGraph() const { return streamGraph_ != nullptr; }
  const Configuration& configuration() const { return configuration_; }
  /// Return the vertex that runs stream node `nodeId`.
  int vertexOfNode(int nodeId) const { return vertexOfNode_.at(static_cast<size_t>(nodeId)); }
  /// Return the most subtasks of one vertex: the slots the job needs with slot sharing.
  int maxVertexParallelism() const;
  /// Return the plan as JSON (vertices, chains, edges), for `strom info` and logs.
  std::string toJson() const;
  /// Return the topology fingerprint: 32 lowercase hex digits of the XXH3-128 hash of a
  /// canonical description of the job name, the vertices (id, name, parallelism, max
  /// parallelism, and each chained operator's node id, kind, name and uid) and the edges (id,
  /// endpoints, partitioner, the stream edge's input index and side output). Two builds of the
  /// same deterministic program give the same fingerprint in every process; a different
  /// operator, parallelism or edge gives a different one. Computed once, at create().
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  std::string jobName_;
  std::vector<JobVertex> vertices_;
  std::vector<JobEdge> edges_;
  std::vector<int> vertexOfNode_;                   // by stream node id; -1 for virtual ids
  std::shared_ptr<const StreamGraph> streamGraph_;  // null for a topology-only graph
  Configuration configuration_;
  std::string fingerprint_;
};

/// Return the name checkpoints give stream node `node`'s state: its uid() when set, else
/// "node-<id>" (ids follow the order of the program's calls, so a changed program may shift
/// them: set uid() on stateful operators to restore across program changes).
std::string operatorUid(const StreamNode& node);

/// Validate the environment's settings (parallelism, max parallelism, at least one operator and
/// one sink) and build the StreamGraph and then the JobGraph of the job declared on `env`,
/// carrying `env`'s configuration. The one path from a declared program to a JobGraph: used by
/// execute(), the job library loader, the CLI and the TaskManagers, so every process builds the
/// same graph from the same program, arguments and configuration. Errors name what is wrong.
Result<std::shared_ptr<const JobGraph>> buildJobGraph(const StreamExecutionEnvironment& env,
                                                      std::string jobName);

}  // namespace strom::graph
