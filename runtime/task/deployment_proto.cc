#include "runtime/task/deployment_proto.h"

#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "graph/job_graph_proto.h"

namespace strom::runtime {

void executionAttemptIdToProto(const ExecutionAttemptId& id, rpc::ExecutionAttemptId* out) {
  out->set_job_id(id.jobId);
  out->set_vertex_id(id.vertexId);
  out->set_subtask_index(id.subtaskIndex);
  out->set_attempt(id.attempt);
}

ExecutionAttemptId executionAttemptIdFromProto(const rpc::ExecutionAttemptId& proto) {
  return ExecutionAttemptId{proto.job_id(), proto.vertex_id(), proto.subtask_index(),
                            proto.attempt()};
}

void resultPartitionIdToProto(const network::ResultPartitionId& id, rpc::ResultPartitionId* out) {
  out->set_job_id(id.jobId);
  out->set_edge_index(id.edgeIndex);
  out->set_producer_subtask(id.producerSubtask);
  out->set_attempt(id.attempt);
}

network::ResultPartitionId resultPartitionIdFromProto(const rpc::ResultPartitionId& proto) {
  return network::ResultPartitionId{proto.job_id(), proto.edge_index(), proto.producer_subtask(),
                                    proto.attempt()};
}

void statusToProto(const Status& status, rpc::Error* out) {
  out->set_code(static_cast<int>(status.code()));
  out->set_message(status.message());
}

Status statusFromProto(const rpc::Error& proto) {
  if (proto.code() == 0) return Status::ok();
  std::string message = proto.message().empty() ? "(no message)" : proto.message();
  std::string_view name = statusCodeName(static_cast<StatusCode>(proto.code()));
  if (name == "Unknown") {
    return Status::internal("error code " + std::to_string(proto.code()) + ": " + message);
  }
  return Status(static_cast<StatusCode>(proto.code()), std::move(message));
}

void jobInformationToProto(const JobInformation& info, rpc::JobInformation* out) {
  out->set_job_name(info.jobName);
  out->set_library_key(info.libraryKey);
  for (const std::string& arg : info.args) out->add_args(arg);
  graph::configurationToProto(info.configuration, out->mutable_configuration());
  out->set_fingerprint(info.fingerprint);
}

JobInformation jobInformationFromProto(const rpc::JobInformation& proto) {
  JobInformation info;
  info.jobName = proto.job_name();
  info.libraryKey = proto.library_key();
  info.args.assign(proto.args().begin(), proto.args().end());
  info.configuration = graph::configurationFromProto(proto.configuration());
  info.fingerprint = proto.fingerprint();
  return info;
}

void deploymentToProto(const TaskDeploymentDescriptor& descriptor,
                       rpc::TaskDeploymentDescriptor* out) {
  executionAttemptIdToProto(descriptor.attemptId, out->mutable_attempt_id());
  if (descriptor.jobInformation) {
    jobInformationToProto(*descriptor.jobInformation, out->mutable_job_information());
  }
  for (const ResultPartitionDescriptor& output : descriptor.outputs) {
    rpc::ResultPartitionDescriptor* po = out->add_outputs();
    po->set_job_edge(output.jobEdge);
    resultPartitionIdToProto(output.id, po->mutable_id());
    po->set_num_subpartitions(output.numSubpartitions);
  }
  for (const InputGateDescriptor& gate : descriptor.inputs) {
    rpc::InputGateDescriptor* pg = out->add_inputs();
    pg->set_job_edge(gate.jobEdge);
    for (const InputChannelDescriptor& channel : gate.channels) {
      rpc::InputChannelDescriptor* pc = pg->add_channels();
      resultPartitionIdToProto(channel.partition, pc->mutable_partition());
      pc->set_subpartition(channel.subpartition);
      pc->set_producer_data_address(channel.producerDataAddress);
    }
  }
  if (descriptor.restore) *out->mutable_restore() = *descriptor.restore;
  if (descriptor.checkpointing) {
    out->mutable_checkpointing()->set_periodic(descriptor.checkpointing->periodic);
    out->mutable_checkpointing()->set_directory(descriptor.checkpointing->directory);
  }
}

Result<TaskDeploymentDescriptor> deploymentFromProto(const rpc::TaskDeploymentDescriptor& proto) {
  TaskDeploymentDescriptor d;
  d.attemptId = executionAttemptIdFromProto(proto.attempt_id());
  std::string name = "deployment of " + d.attemptId.toString();
  if (!proto.has_job_information()) {
    return Status::invalidArgument(name + ": no job information");
  }
  if (d.attemptId.jobId.empty() || d.attemptId.vertexId < 0 || d.attemptId.subtaskIndex < 0 ||
      d.attemptId.attempt < 0) {
    return Status::invalidArgument(name + ": invalid execution attempt id");
  }
  if (proto.has_restore()) {
    STROM_RETURN_IF_ERROR(checkTaskRestore(proto.restore(), name));
    d.restore = std::make_shared<const checkpoint::proto::TaskRestore>(proto.restore());
  }
  if (proto.has_checkpointing()) {
    const std::string& directory = proto.checkpointing().directory();
    if (!directory.empty() && directory.front() != '/') {
      return Status::invalidArgument(name + ": checkpoint directory '" + directory +
                                     "' is not absolute");
    }
    d.checkpointing =
        TaskDeploymentDescriptor::Checkpointing{proto.checkpointing().periodic(), directory};
  }
  d.jobInformation =
      std::make_shared<const JobInformation>(jobInformationFromProto(proto.job_information()));
  for (const rpc::ResultPartitionDescriptor& po : proto.outputs()) {
    if (po.num_subpartitions() < 1) {
      return Status::invalidArgument(name + ": output on edge " + std::to_string(po.job_edge()) +
                                     " has " + std::to_string(po.num_subpartitions()) +
                                     " subpartitions");
    }
    d.outputs.push_back(ResultPartitionDescriptor{
        po.job_edge(), resultPartitionIdFromProto(po.id()), po.num_subpartitions()});
  }
  for (const rpc::InputGateDescriptor& pg : proto.inputs()) {
    InputGateDescriptor gate;
    gate.jobEdge = pg.job_edge();
    for (const rpc::InputChannelDescriptor& pc : pg.channels()) {
      if (pc.subpartition() < 0) {
        return Status::invalidArgument(name + ": input channel on edge " +
                                       std::to_string(pg.job_edge()) + " has subpartition " +
                                       std::to_string(pc.subpartition()));
      }
      gate.channels.push_back(InputChannelDescriptor{resultPartitionIdFromProto(pc.partition()),
                                                     pc.subpartition(),
                                                     pc.producer_data_address()});
    }
    d.inputs.push_back(std::move(gate));
  }
  return d;
}

rpc::ExecutionState executionStateToProto(ExecutionState state) {
  switch (state) {
    case ExecutionState::kCreated:
      return rpc::EXECUTION_STATE_CREATED;
    case ExecutionState::kDeploying:
      return rpc::EXECUTION_STATE_DEPLOYING;
    case ExecutionState::kRunning:
      return rpc::EXECUTION_STATE_RUNNING;
    case ExecutionState::kFinished:
      return rpc::EXECUTION_STATE_FINISHED;
    case ExecutionState::kCanceling:
      return rpc::EXECUTION_STATE_CANCELING;
    case ExecutionState::kCanceled:
      return rpc::EXECUTION_STATE_CANCELED;
    case ExecutionState::kFailed:
      return rpc::EXECUTION_STATE_FAILED;
  }
  return rpc::EXECUTION_STATE_CREATED;
}

Result<ExecutionState> executionStateFromProto(int state) {
  switch (state) {
    case rpc::EXECUTION_STATE_CREATED:
      return ExecutionState::kCreated;
    case rpc::EXECUTION_STATE_DEPLOYING:
      return ExecutionState::kDeploying;
    case rpc::EXECUTION_STATE_RUNNING:
      return ExecutionState::kRunning;
    case rpc::EXECUTION_STATE_FINISHED:
      return ExecutionState::kFinished;
    case rpc::EXECUTION_STATE_CANCELING:
      return ExecutionState::kCanceling;
    case rpc::EXECUTION_STATE_CANCELED:
      return ExecutionState::kCanceled;
    case rpc::EXECUTION_STATE_FAILED:
      return ExecutionState::kFailed;
    default:
      return Status::invalidArgument("unknown execution state " + std::to_string(state));
  }
}

void taskExecutionStateToProto(const TaskExecutionState& state, rpc::TaskExecutionState* out) {
  executionAttemptIdToProto(state.attemptId, out->mutable_attempt_id());
  out->set_state(executionStateToProto(state.state));
  if (!state.error.isOk()) statusToProto(state.error, out->mutable_error());
  out->set_restore_failed(state.restoreFailed);
  for (const auto& [name, value] : state.counters) {
    rpc::Counter* counter = out->add_counters();
    counter->set_name(name);
    counter->set_value(value);
  }
}

Result<TaskExecutionState> taskExecutionStateFromProto(const rpc::TaskExecutionState& proto) {
  TaskExecutionState state;
  state.attemptId = executionAttemptIdFromProto(proto.attempt_id());
  auto executionState = executionStateFromProto(proto.state());
  if (!executionState.isOk()) {
    return executionState.status().withContext("task " + state.attemptId.toString());
  }
  state.state = *executionState;
  state.error = statusFromProto(proto.error());
  if (state.state == ExecutionState::kFailed && state.error.isOk()) {
    // A failure must carry an error: the job's failure cause is taken from it.
    state.error =
        Status::internal("task " + state.attemptId.toString() + " failed without an error");
  }
  for (const rpc::Counter& counter : proto.counters()) {
    state.counters.emplace_back(counter.name(), counter.value());
  }
  state.restoreFailed = proto.restore_failed() && state.state == ExecutionState::kFailed;
  return state;
}

// ---- Checkpoints ----------------------------------------------------------------------------

namespace {

std::string checkpointName(int64_t checkpointId, const ExecutionAttemptId& attemptId) {
  return "checkpoint " + std::to_string(checkpointId) + " of " + attemptId.toString();
}

Status checkCheckpointId(int64_t checkpointId, const std::string& what) {
  if (checkpointId < 1) {
    return Status::invalidArgument(what + ": checkpoint id " + std::to_string(checkpointId) +
                                   " is not positive");
  }
  return Status::ok();
}

}  // namespace

Status checkExecutionAttemptId(const ExecutionAttemptId& id, const std::string& what) {
  if (id.jobId.empty() || id.vertexId < 0 || id.subtaskIndex < 0 || id.attempt < 0) {
    return Status::invalidArgument(what + ": invalid execution attempt id " + id.toString());
  }
  return Status::ok();
}

Status checkStateHandle(const checkpoint::proto::StateHandle& handle, const std::string& what) {
  const std::string& path = handle.path();
  auto bad = [&](const std::string& why) {
    return Status::invalidArgument(what + ": state handle '" + path + "' " + why);
  };
  if (path.empty()) return bad("has no path");
  if (path.front() == '/') return bad("has an absolute path (paths are relative to the root)");
  // No ".." component: a handle must stay below its root directory.
  for (size_t begin = 0; begin <= path.size();) {
    size_t end = path.find('/', begin);
    if (end == std::string::npos) end = path.size();
    if (std::string_view(path).substr(begin, end - begin) == "..") {
      return bad("leaves its root directory (\"..\")");
    }
    begin = end + 1;
  }
  if (handle.length() > std::numeric_limits<uint64_t>::max() - handle.offset()) {
    return bad("has a byte range past 2^64 (offset " + std::to_string(handle.offset()) +
               ", length " + std::to_string(handle.length()) + ")");
  }
  if (handle.kind() == "keyed" &&
      (handle.key_group_start() < 0 || handle.key_group_start() > handle.key_group_end())) {
    return bad("has key groups [" + std::to_string(handle.key_group_start()) + ", " +
               std::to_string(handle.key_group_end()) + "]");
  }
  return Status::ok();
}

Status checkTaskRestore(const checkpoint::proto::TaskRestore& restore, const std::string& what) {
  std::string name = what + ": restore of checkpoint " + std::to_string(restore.checkpoint_id());
  if (restore.root_dir().empty() || restore.root_dir().front() != '/') {
    return Status::invalidArgument(name + ": root_dir '" + restore.root_dir() +
                                   "' is not an absolute path");
  }
  for (const checkpoint::proto::StateHandle& handle : restore.handles()) {
    STROM_RETURN_IF_ERROR(checkStateHandle(handle, name));
  }
  for (const auto& [state, select] : restore.split_select()) {
    if (select.modulus() < 1 || select.remainder() < 0 || select.remainder() >= select.modulus()) {
      return Status::invalidArgument(name + ": split_select of '" + state + "' keeps remainder " +
                                     std::to_string(select.remainder()) + " of modulus " +
                                     std::to_string(select.modulus()));
    }
  }
  return Status::ok();
}

void checkpointTriggerToProto(const CheckpointTrigger& trigger,
                              rpc::TriggerCheckpointRequest* out) {
  executionAttemptIdToProto(trigger.attemptId, out->mutable_attempt_id());
  out->set_checkpoint_id(trigger.checkpointId);
  out->set_timestamp(trigger.timestamp);
  *out->mutable_options() = trigger.options;
}

Result<CheckpointTrigger> checkpointTriggerFromProto(const rpc::TriggerCheckpointRequest& proto) {
  CheckpointTrigger trigger;
  trigger.attemptId = executionAttemptIdFromProto(proto.attempt_id());
  trigger.checkpointId = proto.checkpoint_id();
  trigger.timestamp = proto.timestamp();
  trigger.options = proto.options();
  std::string name = "trigger of " + checkpointName(trigger.checkpointId, trigger.attemptId);
  STROM_RETURN_IF_ERROR(checkExecutionAttemptId(trigger.attemptId, name));
  STROM_RETURN_IF_ERROR(checkCheckpointId(trigger.checkpointId, name));
  if (trigger.options.type() < 0 || trigger.options.type() > 3) {
    return Status::invalidArgument(name + ": checkpoint type " +
                                   std::to_string(trigger.options.type()) +
                                   " is not 0 (aligned), 1 (at-least-once), 2 (unaligned) or 3 "
                                   "(aligned with a timeout)");
  }
  if (trigger.options.terminate() && !trigger.options.savepoint()) {
    return Status::invalidArgument(name + ": terminate is set on a checkpoint (savepoints only)");
  }
  return trigger;
}

void checkpointNotificationToProto(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                                   rpc::CheckpointNotification* out) {
  executionAttemptIdToProto(attemptId, out->mutable_attempt_id());
  out->set_checkpoint_id(checkpointId);
}

Result<std::pair<ExecutionAttemptId, int64_t>> checkpointNotificationFromProto(
    const rpc::CheckpointNotification& proto) {
  ExecutionAttemptId attemptId = executionAttemptIdFromProto(proto.attempt_id());
  std::string name = "notification of " + checkpointName(proto.checkpoint_id(), attemptId);
  STROM_RETURN_IF_ERROR(checkExecutionAttemptId(attemptId, name));
  STROM_RETURN_IF_ERROR(checkCheckpointId(proto.checkpoint_id(), name));
  return std::pair<ExecutionAttemptId, int64_t>(std::move(attemptId), proto.checkpoint_id());
}

void checkpointAcknowledgementToProto(const CheckpointAcknowledgement& ack,
                                      rpc::AcknowledgeCheckpointRequest* out) {
  executionAttemptIdToProto(ack.attemptId, out->mutable_attempt_id());
  out->set_checkpoint_id(ack.checkpointId);
  *out->mutable_subtask_state() = ack.state;
}

Result<CheckpointAcknowledgement> checkpointAcknowledgementFromProto(
    const rpc::AcknowledgeCheckpointRequest& proto) {
  CheckpointAcknowledgement ack;
  ack.attemptId = executionAttemptIdFromProto(proto.attempt_id());
  ack.checkpointId = proto.checkpoint_id();
  std::string name = "acknowledgement of " + checkpointName(ack.checkpointId, ack.attemptId);
  STROM_RETURN_IF_ERROR(checkExecutionAttemptId(ack.attemptId, name));
  STROM_RETURN_IF_ERROR(checkCheckpointId(ack.checkpointId, name));
  for (const checkpoint::proto::StateHandle& handle : proto.subtask_state().handles()) {
    STROM_RETURN_IF_ERROR(checkStateHandle(handle, name));
  }
  ack.state = proto.subtask_state();
  return ack;
}

void checkpointDeclineToProto(const CheckpointDecline& decline,
                              rpc::DeclineCheckpointRequest* out) {
  executionAttemptIdToProto(decline.attemptId, out->mutable_attempt_id());
  out->set_checkpoint_id(decline.checkpointId);
  statusToProto(decline.reason, out->mutable_reason());
}

Result<CheckpointDecline> checkpointDeclineFromProto(const rpc::DeclineCheckpointRequest& proto) {
  CheckpointDecline decline;
  decline.attemptId = executionAttemptIdFromProto(proto.attempt_id());
  decline.checkpointId = proto.checkpoint_id();
  std::string name = "decline of " + checkpointName(decline.checkpointId, decline.attemptId);
  STROM_RETURN_IF_ERROR(checkExecutionAttemptId(decline.attemptId, name));
  STROM_RETURN_IF_ERROR(checkCheckpointId(decline.checkpointId, name));
  decline.reason = statusFromProto(proto.reason());
  if (decline.reason.isOk()) {
    decline.reason = Status::internal(name + ": declined without a reason");
  }
  return decline;
}

}  // namespace strom::runtime
