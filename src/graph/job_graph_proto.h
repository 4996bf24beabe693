#pragma once

#include <strom/config.h>
#include <strom/status.h>

#include <memory>

#include "graph/job_graph.h"
#include "proto/strom.pb.h"

namespace strom::graph {

/// Write the topology of `graph` (name, vertices, edges, configuration, fingerprint) into `out`:
/// what the JobManager schedules. The operators (user code) stay behind.
void jobGraphToProto(const JobGraph& graph, rpc::JobGraph* out);
/// Build a topology-only JobGraph (JobGraph::fromTopology) from `proto`, as the JobManager does
/// for a submitted job. InvalidArgument naming what is wrong for an unknown partitioner or an
/// inconsistent topology.
Result<std::shared_ptr<const JobGraph>> jobGraphFromProto(const rpc::JobGraph& proto);

rpc::PartitionerKind partitionerKindToProto(PartitionerKind kind);
Result<PartitionerKind> partitionerKindFromProto(int kind);

/// Copy every entry of `configuration` into a proto map field.
void configurationToProto(const Configuration& configuration,
                          google::protobuf::Map<std::string, std::string>* out);
Configuration configurationFromProto(const google::protobuf::Map<std::string, std::string>& map);

}  // namespace strom::graph
