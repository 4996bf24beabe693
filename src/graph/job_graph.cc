#include "graph/job_graph.h"

#include <strom/environment.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace strom::graph {
namespace {

bool chainable(const StreamGraph& graph, const StreamNode& node) {
  if (node.inEdges.size() != 1) return false;
  const StreamEdge& edge = graph.edges()[static_cast<size_t>(node.inEdges[0])];
  const StreamNode& upstream = *graph.node(edge.sourceNode);
  return edge.kind == PartitionerKind::kForward && upstream.parallelism == node.parallelism &&
         upstream.transformation->chainingAllowed && node.transformation->chainingAllowed &&
         node.kind() != TransformationKind::kSource;
}

void appendJsonString(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

// The canonical description that fingerprint() hashes: one line per item, every string
// length-prefixed ("<length>:<bytes>") so that no choice of names can make two different
// topologies describe alike. Versioned by its first line.
void appendField(std::string& out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
  out += ' ';
}

const char* kindName(TransformationKind kind) {
  switch (kind) {
    case TransformationKind::kSource:
      return "source";
    case TransformationKind::kOneInput:
      return "one-input";
    case TransformationKind::kTwoInput:
      return "two-input";
    case TransformationKind::kSink:
      return "sink";
    case TransformationKind::kUnion:
      return "union";
    case TransformationKind::kPartition:
      return "partition";
    case TransformationKind::kSideOutput:
      return "side-output";
  }
  return "unknown";
}

std::string computeFingerprint(const JobGraph& job) {
  std::string text = "strom-job-graph-fingerprint 1\njob ";
  appendField(text, job.jobName());
  text += '\n';
  const StreamGraph& graph = job.streamGraph();
  for (const JobVertex& v : job.vertices()) {
    text += "vertex " + std::to_string(v.id) + ' ' + std::to_string(v.parallelism) + ' ' +
            std::to_string(v.maxParallelism) + ' ';
    appendField(text, v.name);
    text += '\n';
    for (int nodeId : v.chain) {
      const StreamNode& node = *graph.node(nodeId);
      text += "operator " + std::to_string(nodeId) + ' ' + kindName(node.kind()) + ' ';
      appendField(text, node.name());
      appendField(text, node.transformation->uid);
      text += '\n';
    }
  }
  for (const JobEdge& e : job.edges()) {
    const StreamEdge& streamEdge = graph.edges()[static_cast<size_t>(e.streamEdge)];
    text += "edge " + std::to_string(e.id) + ' ' + std::to_string(e.sourceVertex) + ' ' +
            std::to_string(e.targetVertex) + ' ' + partitionerName(e.kind) + ' ' +
            std::to_string(streamEdge.sourceNode) + ' ' + std::to_string(streamEdge.targetNode) +
            ' ' + std::to_string(streamEdge.inputIndex) + ' ';
    appendField(text, streamEdge.sideOutputTag);
    text += '\n';
  }
  XXH128_hash_t hash = XXH3_128bits(text.data(), text.size());
  char hex[33];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(hash.high64),
                static_cast<unsigned long long>(hash.low64));
  return std::string(hex, 32);
}

}  // namespace

Result<std::shared_ptr<const JobGraph>> JobGraph::create(std::shared_ptr<const StreamGraph> graph,
                                                         std::string jobName,
                                                         Configuration configuration) {
  auto job = std::make_shared<JobGraph>();
  job->jobName_ = std::move(jobName);
  job->configuration_ = std::move(configuration);
  int maxId = 0;
  for (const StreamNode& node : graph->nodes()) maxId = std::max(maxId, node.id + 1);
  job->vertexOfNode_.assign(static_cast<size_t>(maxId), -1);

  for (const StreamNode& node : graph->nodes()) {
    if (chainable(*graph, node)) {
      const StreamEdge& edge = graph->edges()[static_cast<size_t>(node.inEdges[0])];
      int vertexId = job->vertexOfNode_[static_cast<size_t>(edge.sourceNode)];
      JobVertex& vertex = job->vertices_[static_cast<size_t>(vertexId)];
      vertex.chain.push_back(node.id);
      vertex.chainUids.push_back(operatorUid(node));
      vertex.name += " -> " + node.name();
      job->vertexOfNode_[static_cast<size_t>(node.id)] = vertexId;
      continue;
    }
    JobVertex vertex;
    vertex.id = static_cast<int>(job->vertices_.size());
    vertex.name = node.name();
    vertex.parallelism = node.parallelism;
    vertex.maxParallelism = node.maxParallelism;
    vertex.chain.push_back(node.id);
    vertex.chainUids.push_back(operatorUid(node));
    job->vertexOfNode_[static_cast<size_t>(node.id)] = vertex.id;
    job->vertices_.push_back(std::move(vertex));
  }
  for (const StreamEdge& edge : graph->edges()) {
    int source = job->vertexOfNode_[static_cast<size_t>(edge.sourceNode)];
    int target = job->vertexOfNode_[static_cast<size_t>(edge.targetNode)];
    if (source == target) continue;  // chained
    JobEdge jobEdge;
    jobEdge.id = static_cast<int>(job->edges_.size());
    jobEdge.sourceVertex = source;
    jobEdge.targetVertex = target;
    jobEdge.streamEdge = edge.index;
    jobEdge.kind = edge.kind;
    job->vertices_[static_cast<size_t>(source)].outputs.push_back(jobEdge.id);
    job->vertices_[static_cast<size_t>(target)].inputs.push_back(jobEdge.id);
    job->edges_.push_back(jobEdge);
  }
  job->streamGraph_ = std::move(graph);
  job->fingerprint_ = computeFingerprint(*job);
  return std::shared_ptr<const JobGraph>(std::move(job));
}

std::string operatorUid(const StreamNode& node) {
  const std::string& uid = node.transformation->uid;
  return uid.empty() ? "node-" + std::to_string(node.id) : uid;
}

Result<std::shared_ptr<const JobGraph>> buildJobGraph(const StreamExecutionEnvironment& env,
                                                      std::string jobName) {
  const detail::EnvironmentState& state = *env.state();
  const Configuration& config = state.configuration;
  // Validate the settings that getParallelism() reads leniently.
  STROM_ASSIGN_OR_RETURN(int64_t defaultParallelism, config.getInt("parallelism.default", 1));
  STROM_ASSIGN_OR_RETURN(int64_t defaultMaxParallelism,
                         config.getInt("pipeline.max-parallelism", kDefaultMaxParallelism));
  int parallelism =
      state.parallelism != -1 ? state.parallelism : static_cast<int>(defaultParallelism);
  int maxParallelism =
      state.maxParallelism != -1 ? state.maxParallelism : static_cast<int>(defaultMaxParallelism);
  if (parallelism < 1) {
    return Status::invalidArgument("parallelism " + std::to_string(parallelism) +
                                   " must be at least 1");
  }
  if (maxParallelism < 1 || maxParallelism > 32768) {
    return Status::invalidArgument("max parallelism " + std::to_string(maxParallelism) +
                                   " is outside 1..32768");
  }
  if (parallelism > maxParallelism) {
    return Status::invalidArgument("parallelism " + std::to_string(parallelism) +
                                   " exceeds the max parallelism " +
                                   std::to_string(maxParallelism));
  }
  if (state.transformations.empty()) {
    return Status::invalidArgument("job '" + jobName + "' has no operators");
  }
  bool hasSink = std::any_of(state.transformations.begin(), state.transformations.end(),
                             [](const auto& t) { return t->kind == TransformationKind::kSink; });
  if (!hasSink) {
    return Status::invalidArgument("job '" + jobName +
                                   "' has no sink: add print(), sinkTo() or writeAsText()");
  }
  STROM_ASSIGN_OR_RETURN(auto streamGraph,
                         StreamGraph::create(state.transformations, parallelism, maxParallelism));
  return JobGraph::create(std::move(streamGraph), std::move(jobName), config);
}

Result<std::shared_ptr<const JobGraph>> JobGraph::fromTopology(std::string jobName,
                                                               std::vector<JobVertex> vertices,
                                                               std::vector<JobEdge> edges,
                                                               Configuration configuration,
                                                               std::string fingerprint) {
  auto bad = [&](const std::string& what) {
    return Status::invalidArgument("job graph '" + jobName + "': " + what);
  };
  int numVertices = static_cast<int>(vertices.size());
  int numEdges = static_cast<int>(edges.size());
  if (numVertices == 0) return bad("has no vertices");
  for (int i = 0; i < numEdges; ++i) {
    const JobEdge& e = edges[static_cast<size_t>(i)];
    std::string name = "edge " + std::to_string(i);
    if (e.id != i) return bad(name + " has id " + std::to_string(e.id));
    if (e.sourceVertex < 0 || e.targetVertex >= numVertices || e.sourceVertex >= e.targetVertex) {
      return bad(name + " connects vertex " + std::to_string(e.sourceVertex) + " to " +
                 std::to_string(e.targetVertex) + ": not an earlier to a later vertex of " +
                 std::to_string(numVertices));
    }
  }
  auto job = std::make_shared<JobGraph>();
  std::vector<int> inputsSeen(edges.size(), 0);
  std::vector<int> outputsSeen(edges.size(), 0);
  for (int i = 0; i < numVertices; ++i) {
    const JobVertex& v = vertices[static_cast<size_t>(i)];
    std::string name = "vertex " + std::to_string(i) + " '" + v.name + "'";
    if (v.id != i) return bad(name + " has id " + std::to_string(v.id));
    if (v.parallelism < 1 || v.maxParallelism < v.parallelism) {
      return bad(name + " has parallelism " + std::to_string(v.parallelism) +
                 " outside 1..maxParallelism " + std::to_string(v.maxParallelism));
    }
    if (v.chain.empty()) return bad(name + " has an empty chain");
    if (v.chainUids.size() != v.chain.size()) {
      return bad(name + " has " + std::to_string(v.chainUids.size()) + " operator uids for " +
                 std::to_string(v.chain.size()) + " chained operators");
    }
    for (int node : v.chain) {
      if (node < 0 || node > (1 << 24))
        return bad(name + " has stream node " + std::to_string(node));
      if (static_cast<size_t>(node) >= job->vertexOfNode_.size()) {
        job->vertexOfNode_.resize(static_cast<size_t>(node) + 1, -1);
      }
      int& owner = job->vertexOfNode_[static_cast<size_t>(node)];
      if (owner != -1)
        return bad(name + ": stream node " + std::to_string(node) + " is chained twice");
      owner = i;
    }
    for (int edge : v.inputs) {
      if (edge < 0 || edge >= numEdges || edges[static_cast<size_t>(edge)].targetVertex != i ||
          inputsSeen[static_cast<size_t>(edge)]++ != 0) {
        return bad(name + " lists input edge " + std::to_string(edge) + " that does not enter it");
      }
    }
    for (int edge : v.outputs) {
      if (edge < 0 || edge >= numEdges || edges[static_cast<size_t>(edge)].sourceVertex != i ||
          outputsSeen[static_cast<size_t>(edge)]++ != 0) {
        return bad(name + " lists output edge " + std::to_string(edge) + " that does not leave it");
      }
    }
  }
  for (int i = 0; i < numEdges; ++i) {
    if (inputsSeen[static_cast<size_t>(i)] != 1 || outputsSeen[static_cast<size_t>(i)] != 1) {
      return bad("edge " + std::to_string(i) + " is not among its vertices' inputs and outputs");
    }
  }
  job->jobName_ = std::move(jobName);
  job->vertices_ = std::move(vertices);
  job->edges_ = std::move(edges);
  job->configuration_ = std::move(configuration);
  job->fingerprint_ = std::move(fingerprint);
  return std::shared_ptr<const JobGraph>(std::move(job));
}

const StreamGraph& JobGraph::streamGraph() const {
  if (streamGraph_ == nullptr) {
    // A programmer error, not bad input: only TaskManagers create operators, from a graph they
    // built from the job library.
    std::fprintf(stderr, "JobGraph '%s' holds only the topology: it has no StreamGraph\n",
                 jobName_.c_str());
    std::abort();
  }
  return *streamGraph_;
}

int JobGraph::maxVertexParallelism() const {
  int result = 0;
  for (const JobVertex& v : vertices_) result = std::max(result, v.parallelism);
  return result;
}

std::string JobGraph::toJson() const {
  std::string out = "{\"job\":";
  appendJsonString(out, jobName_);
  out += ",\"vertices\":[";
  for (const JobVertex& v : vertices_) {
    if (v.id > 0) out += ',';
    out += "{\"id\":" + std::to_string(v.id) + ",\"name\":";
    appendJsonString(out, v.name);
    out += ",\"parallelism\":" + std::to_string(v.parallelism) +
           ",\"maxParallelism\":" + std::to_string(v.maxParallelism) + "}";
  }
  out += "],\"edges\":[";
  for (const JobEdge& e : edges_) {
    if (e.id > 0) out += ',';
    out += "{\"source\":" + std::to_string(e.sourceVertex) +
           ",\"target\":" + std::to_string(e.targetVertex) + ",\"partitioner\":\"" +
           partitionerName(e.kind) + "\"}";
  }
  out += "]}";
  return out;
}

}  // namespace strom::graph
