#include "graph/job_graph_proto.h"

#include <string>
#include <utility>
#include <vector>

namespace strom::graph {

rpc::PartitionerKind partitionerKindToProto(PartitionerKind kind) {
  switch (kind) {
    case PartitionerKind::kForward:
      return rpc::PARTITIONER_FORWARD;
    case PartitionerKind::kRescale:
      return rpc::PARTITIONER_RESCALE;
    case PartitionerKind::kRebalance:
      return rpc::PARTITIONER_REBALANCE;
    case PartitionerKind::kBroadcast:
      return rpc::PARTITIONER_BROADCAST;
    case PartitionerKind::kHash:
      return rpc::PARTITIONER_HASH;
  }
  return rpc::PARTITIONER_FORWARD;
}

Result<PartitionerKind> partitionerKindFromProto(int kind) {
  switch (kind) {
    case rpc::PARTITIONER_FORWARD:
      return PartitionerKind::kForward;
    case rpc::PARTITIONER_RESCALE:
      return PartitionerKind::kRescale;
    case rpc::PARTITIONER_REBALANCE:
      return PartitionerKind::kRebalance;
    case rpc::PARTITIONER_BROADCAST:
      return PartitionerKind::kBroadcast;
    case rpc::PARTITIONER_HASH:
      return PartitionerKind::kHash;
    default:
      return Status::invalidArgument("unknown partitioner kind " + std::to_string(kind));
  }
}

void configurationToProto(const Configuration& configuration,
                          google::protobuf::Map<std::string, std::string>* out) {
  for (const auto& [key, value] : configuration.entries()) (*out)[key] = value;
}

Configuration configurationFromProto(const google::protobuf::Map<std::string, std::string>& map) {
  Configuration configuration;
  for (const auto& [key, value] : map) configuration.set(key, value);
  return configuration;
}

void jobGraphToProto(const JobGraph& graph, rpc::JobGraph* out) {
  out->set_job_name(graph.jobName());
  for (const JobVertex& v : graph.vertices()) {
    rpc::JobVertex* pv = out->add_vertices();
    pv->set_id(v.id);
    pv->set_name(v.name);
    pv->set_parallelism(v.parallelism);
    pv->set_max_parallelism(v.maxParallelism);
    for (int node : v.chain) pv->add_chain(node);
    for (const std::string& uid : v.chainUids) pv->add_chain_uids(uid);
    for (int edge : v.inputs) pv->add_inputs(edge);
    for (int edge : v.outputs) pv->add_outputs(edge);
  }
  for (const JobEdge& e : graph.edges()) {
    rpc::JobEdge* pe = out->add_edges();
    pe->set_id(e.id);
    pe->set_source_vertex(e.sourceVertex);
    pe->set_target_vertex(e.targetVertex);
    pe->set_stream_edge(e.streamEdge);
    pe->set_kind(partitionerKindToProto(e.kind));
  }
  configurationToProto(graph.configuration(), out->mutable_configuration());
  out->set_fingerprint(graph.fingerprint());
}

Result<std::shared_ptr<const JobGraph>> jobGraphFromProto(const rpc::JobGraph& proto) {
  std::vector<JobVertex> vertices;
  vertices.reserve(static_cast<size_t>(proto.vertices_size()));
  for (const rpc::JobVertex& pv : proto.vertices()) {
    JobVertex v;
    v.id = pv.id();
    v.name = pv.name();
    v.parallelism = pv.parallelism();
    v.maxParallelism = pv.max_parallelism();
    v.chain.assign(pv.chain().begin(), pv.chain().end());
    v.chainUids.assign(pv.chain_uids().begin(), pv.chain_uids().end());
    v.inputs.assign(pv.inputs().begin(), pv.inputs().end());
    v.outputs.assign(pv.outputs().begin(), pv.outputs().end());
    vertices.push_back(std::move(v));
  }
  std::vector<JobEdge> edges;
  edges.reserve(static_cast<size_t>(proto.edges_size()));
  for (const rpc::JobEdge& pe : proto.edges()) {
    JobEdge e;
    e.id = pe.id();
    e.sourceVertex = pe.source_vertex();
    e.targetVertex = pe.target_vertex();
    e.streamEdge = pe.stream_edge();
    auto kind = partitionerKindFromProto(pe.kind());
    if (!kind.isOk()) {
      return kind.status().withContext("job graph '" + proto.job_name() + "': edge " +
                                       std::to_string(pe.id()));
    }
    e.kind = *kind;
    edges.push_back(e);
  }
  return JobGraph::fromTopology(proto.job_name(), std::move(vertices), std::move(edges),
                                configurationFromProto(proto.configuration()), proto.fingerprint());
}

}  // namespace strom::graph
