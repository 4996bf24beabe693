#include "runtime/task/deployment_proto.h"

#include <memory>
#include <string>
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
  return state;
}

}  // namespace strom::runtime
