#include "runtime/taskmanager/remote_job_manager_gateway.h"

#include <grpcpp/client_context.h>

#include <string>
#include <utility>

#include "common/grpc_status.h"
#include "common/logging.h"
#include "runtime/task/deployment_proto.h"

namespace strom::runtime {
namespace {

/// Attempts per message, and the backoff before the first retry (doubling).
constexpr int kAttempts = 4;
constexpr std::chrono::milliseconds kFirstBackoff{100};

}  // namespace

RemoteJobManagerGateway::RemoteJobManagerGateway(std::shared_ptr<grpc::Channel> channel,
                                                 std::string address, std::string taskManagerId,
                                                 std::chrono::milliseconds timeout)
    : address_(std::move(address)),
      taskManagerId_(std::move(taskManagerId)),
      timeout_(timeout),
      stub_(rpc::JobManager::NewStub(std::move(channel))) {
  sender_ = std::thread([this] { run(); });
}

RemoteJobManagerGateway::~RemoteJobManagerGateway() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (call_ != nullptr) call_->TryCancel();
  }
  changed_.notify_all();
  sender_.join();
}

void RemoteJobManagerGateway::enqueue(Message message) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(message));
  }
  changed_.notify_all();
}

void RemoteJobManagerGateway::updateTaskExecutionState(const TaskExecutionState& state) {
  rpc::TaskExecutionState proto;
  taskExecutionStateToProto(state, &proto);
  proto.set_task_manager_id(taskManagerId_);
  enqueue(std::move(proto));
}

void RemoteJobManagerGateway::acknowledgeCheckpoint(const ExecutionAttemptId& attemptId,
                                                    int64_t checkpointId,
                                                    const checkpoint::proto::SubtaskState& state) {
  rpc::AcknowledgeCheckpointRequest proto;
  checkpointAcknowledgementToProto(CheckpointAcknowledgement{attemptId, checkpointId, state},
                                   &proto);
  proto.set_task_manager_id(taskManagerId_);
  enqueue(std::move(proto));
}

void RemoteJobManagerGateway::declineCheckpoint(const ExecutionAttemptId& attemptId,
                                                int64_t checkpointId, const Status& reason) {
  rpc::DeclineCheckpointRequest proto;
  checkpointDeclineToProto(CheckpointDecline{attemptId, checkpointId, reason}, &proto);
  proto.set_task_manager_id(taskManagerId_);
  enqueue(std::move(proto));
}

void RemoteJobManagerGateway::reportEndOfInput(const ExecutionAttemptId& attemptId) {
  rpc::ReportEndOfInputRequest proto;
  executionAttemptIdToProto(attemptId, proto.mutable_attempt_id());
  proto.set_task_manager_id(taskManagerId_);
  enqueue(std::move(proto));
}

Status RemoteJobManagerGateway::sendOnce(grpc::ClientContext* context, const Message& message) {
  rpc::Empty response;
  grpc::Status status;
  if (const auto* update = std::get_if<rpc::TaskExecutionState>(&message)) {
    status = stub_->UpdateTaskExecutionState(context, *update, &response);
  } else if (const auto* ack = std::get_if<rpc::AcknowledgeCheckpointRequest>(&message)) {
    status = stub_->AcknowledgeCheckpoint(context, *ack, &response);
  } else if (const auto* decline = std::get_if<rpc::DeclineCheckpointRequest>(&message)) {
    status = stub_->DeclineCheckpoint(context, *decline, &response);
  } else {
    status = stub_->ReportEndOfInput(context, std::get<rpc::ReportEndOfInputRequest>(message),
                                     &response);
  }
  return fromGrpcStatus(status, "JobManager " + address_);
}

std::string RemoteJobManagerGateway::describe(const Message& message) {
  if (const auto* update = std::get_if<rpc::TaskExecutionState>(&message)) {
    return "the state " + rpc::ExecutionState_Name(update->state()) + " of task " +
           executionAttemptIdFromProto(update->attempt_id()).toString();
  }
  if (const auto* ack = std::get_if<rpc::AcknowledgeCheckpointRequest>(&message)) {
    return "the acknowledgement of checkpoint " + std::to_string(ack->checkpoint_id()) +
           " by task " + executionAttemptIdFromProto(ack->attempt_id()).toString();
  }
  if (const auto* decline = std::get_if<rpc::DeclineCheckpointRequest>(&message)) {
    return "the decline of checkpoint " + std::to_string(decline->checkpoint_id()) + " by task " +
           executionAttemptIdFromProto(decline->attempt_id()).toString();
  }
  return "the end of input of task " +
         executionAttemptIdFromProto(std::get<rpc::ReportEndOfInputRequest>(message).attempt_id())
             .toString();
}

void RemoteJobManagerGateway::clear() {
  std::lock_guard lock(mu_);
  queue_.clear();
  changed_.notify_all();
}

bool RemoteJobManagerGateway::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return queue_.empty() && !sending_; });
}

void RemoteJobManagerGateway::run() {
  std::unique_lock lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Message message = std::move(queue_.front());
    queue_.pop_front();
    sending_ = true;
    Status status;
    auto backoff = kFirstBackoff;
    for (int attempt = 1; attempt <= kAttempts && !stopping_; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + timeout_);
      call_ = &context;
      lock.unlock();
      status = sendOnce(&context, message);
      lock.lock();
      call_ = nullptr;
      // Only the transport's errors are worth a retry: the JobManager's answer stays the same.
      if (status.isOk() || (status.code() != StatusCode::kUnavailable &&
                            status.code() != StatusCode::kDeadlineExceeded)) {
        break;
      }
      if (attempt < kAttempts) {
        changed_.wait_for(lock, backoff, [&] { return stopping_; });
        backoff *= 2;
      }
    }
    if (!status.isOk()) {
      moduleLogger("taskmanager")
          ->warn("TaskManager {}: {} did not reach the JobManager: {}", taskManagerId_,
                 describe(message), status.toString());
    }
    sending_ = false;
    changed_.notify_all();
  }
}

}  // namespace strom::runtime
