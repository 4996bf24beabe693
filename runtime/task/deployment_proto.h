#pragma once

#include <strom/status.h>

#include <cstdint>
#include <string>
#include <utility>

#include "proto/checkpoint.pb.h"
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

/// Write everything of `descriptor` except its jobGraph (its restore, if any, goes as it is) (the
/// TaskManager rebuilds it from the job library its jobInformation names).
void deploymentToProto(const TaskDeploymentDescriptor& descriptor,
                       rpc::TaskDeploymentDescriptor* out);
/// Read a descriptor; its jobGraph is left null for the caller to resolve. InvalidArgument if
/// the job information or a count is missing or negative, or if its restore is malformed
/// (checkTaskRestore).
Result<TaskDeploymentDescriptor> deploymentFromProto(const rpc::TaskDeploymentDescriptor& proto);

rpc::ExecutionState executionStateToProto(ExecutionState state);
Result<ExecutionState> executionStateFromProto(int state);

void taskExecutionStateToProto(const TaskExecutionState& state, rpc::TaskExecutionState* out);
Result<TaskExecutionState> taskExecutionStateFromProto(const rpc::TaskExecutionState& proto);

// ---- Checkpoints ----------------------------------------------------------------------------

/// Check a state handle from a peer: a non-empty path relative to its root without "..", a byte
/// range that does not overflow, and for kind "keyed" a key-group range 0 <= start <= end.
/// InvalidArgument naming `what`, the handle's path and the check.
Status checkStateHandle(const checkpoint::proto::StateHandle& handle, const std::string& what);
/// Check a TaskRestore from the JobManager: an absolute root_dir, every handle
/// (checkStateHandle), and split selections with modulus >= 1 and 0 <= remainder < modulus.
Status checkTaskRestore(const checkpoint::proto::TaskRestore& restore, const std::string& what);

/// TaskManagerGateway::triggerCheckpoint's arguments.
struct CheckpointTrigger {
  ExecutionAttemptId attemptId;
  int64_t checkpointId = 0;
  int64_t timestamp = 0;  // epoch ms
  checkpoint::proto::CheckpointOptions options;
};
void checkpointTriggerToProto(const CheckpointTrigger& trigger, rpc::TriggerCheckpointRequest* out);
/// InvalidArgument for an invalid attempt id, a checkpoint id < 1, a type outside 0..2, or
/// terminate without savepoint.
Result<CheckpointTrigger> checkpointTriggerFromProto(const rpc::TriggerCheckpointRequest& proto);

/// A notifyCheckpointComplete/Aborted's arguments.
void checkpointNotificationToProto(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                                   rpc::CheckpointNotification* out);
/// InvalidArgument for an invalid attempt id or a checkpoint id < 1.
Result<std::pair<ExecutionAttemptId, int64_t>> checkpointNotificationFromProto(
    const rpc::CheckpointNotification& proto);

/// JobManagerGateway::acknowledgeCheckpoint's arguments.
struct CheckpointAcknowledgement {
  ExecutionAttemptId attemptId;
  int64_t checkpointId = 0;
  checkpoint::proto::SubtaskState state;
};
void checkpointAcknowledgementToProto(const CheckpointAcknowledgement& ack,
                                      rpc::AcknowledgeCheckpointRequest* out);
/// InvalidArgument for an invalid attempt id, a checkpoint id < 1 or a bad handle
/// (checkStateHandle).
Result<CheckpointAcknowledgement> checkpointAcknowledgementFromProto(
    const rpc::AcknowledgeCheckpointRequest& proto);

/// JobManagerGateway::declineCheckpoint's arguments.
struct CheckpointDecline {
  ExecutionAttemptId attemptId;
  int64_t checkpointId = 0;
  Status reason;
};
void checkpointDeclineToProto(const CheckpointDecline& decline, rpc::DeclineCheckpointRequest* out);
/// InvalidArgument for an invalid attempt id or a checkpoint id < 1; a decline without a reason
/// gets one (a decline never reads as OK).
Result<CheckpointDecline> checkpointDeclineFromProto(const rpc::DeclineCheckpointRequest& proto);

/// InvalidArgument naming `what` if `id` cannot name an execution attempt (empty job id or a
/// negative number).
Status checkExecutionAttemptId(const ExecutionAttemptId& id, const std::string& what);

}  // namespace strom::runtime
