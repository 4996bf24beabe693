#include "runtime/taskmanager/remote_job_manager_gateway.h"

#include <grpcpp/client_context.h>

#include <utility>

#include "common/grpc_status.h"
#include "common/logging.h"
#include "runtime/task/deployment_proto.h"

namespace strom::runtime {
namespace {

/// Attempts per update, and the backoff before the first retry (doubling).
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

void RemoteJobManagerGateway::updateTaskExecutionState(const TaskExecutionState& state) {
  rpc::TaskExecutionState proto;
  taskExecutionStateToProto(state, &proto);
  proto.set_task_manager_id(taskManagerId_);
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(proto));
  }
  changed_.notify_all();
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
    rpc::TaskExecutionState update = std::move(queue_.front());
    queue_.pop_front();
    sending_ = true;
    Status status;
    auto backoff = kFirstBackoff;
    for (int attempt = 1; attempt <= kAttempts && !stopping_; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + timeout_);
      call_ = &context;
      lock.unlock();
      rpc::Empty response;
      status = fromGrpcStatus(stub_->UpdateTaskExecutionState(&context, update, &response),
                              "JobManager " + address_);
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
          ->warn("TaskManager {}: the state {} of task {} did not reach the JobManager: {}",
                 taskManagerId_, rpc::ExecutionState_Name(update.state()),
                 executionAttemptIdFromProto(update.attempt_id()).toString(), status.toString());
    }
    sending_ = false;
    changed_.notify_all();
  }
}

}  // namespace strom::runtime
