#include "graph/job_graph.h"

#include <algorithm>
#include <cstdio>
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
  return std::shared_ptr<const JobGraph>(std::move(job));
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
