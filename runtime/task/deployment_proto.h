#pragma once

#include <strom/status.h>

#include "proto/strom.pb.h"
#include "runtime/network/result_partition_id.h"
#include "runtime/task/deployment.h"

namespace strom::runtime {

// Conversions between the deployment types and their protobuf form (proto/strom.proto), used by
// the JobManager's and the TaskManager's gRPC services and gateways. The *FromProto functions
// read messages from a peer: they check what they rely on and return InvalidArgument naming the
// field, never abort.

void executionAttemptIdToProto(const ExecutionAttemptId& id, rpc::ExecutionAttemptId* out);
ExecutionAttemptId executionAttemptIdFromProto(const rpc::ExecutionAttemptId& proto);

void resultPartitionIdToProto(const network::ResultPartitionId& id, rpc::ResultPartitionId* out);
network::ResultPartitionId resultPartitionIdFromProto(const rpc::ResultPartitionId& proto);

/// An error Status as an rpc::Error (OK writes code 0).
void statusToProto(const Status& status, rpc::Error* out);
/// An rpc::Error as a Status; an unknown code arrives as kInternal with the number in the
/// message, and an error without a message gets one (an error must never read as OK).
Status statusFromProto(const rpc::Error& proto);

void jobInformationToProto(const JobInformation& info, rpc::JobInformation* out);
JobInformation jobInformationFromProto(const rpc::JobInformation& proto);

/// Write everything of `descriptor` except its jobGraph (the TaskManager rebuilds it from the
/// job library its jobInformation names).
void deploymentToProto(const TaskDeploymentDescriptor& descriptor,
                       rpc::TaskDeploymentDescriptor* out);
/// Read a descriptor; its jobGraph is left null for the caller to resolve. InvalidArgument if
/// the job information or a count is missing or negative.
Result<TaskDeploymentDescriptor> deploymentFromProto(const rpc::TaskDeploymentDescriptor& proto);

rpc::ExecutionState executionStateToProto(ExecutionState state);
Result<ExecutionState> executionStateFromProto(int state);

void taskExecutionStateToProto(const TaskExecutionState& state, rpc::TaskExecutionState* out);
Result<TaskExecutionState> taskExecutionStateFromProto(const rpc::TaskExecutionState& proto);

}  // namespace strom::runtime
