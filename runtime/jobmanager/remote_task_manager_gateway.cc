#include "runtime/jobmanager/remote_task_manager_gateway.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <utility>

#include "common/grpc_status.h"
#include "common/logging.h"
#include "runtime/task/deployment_proto.h"

namespace strom::runtime {

/// A background call: owns what gRPC needs until the callback runs.
struct RemoteTaskManagerGateway::AsyncCall {
  grpc::ClientContext context;
  rpc::ExecutionAttemptId attemptId;
  rpc::ReleaseJobRequest release;
  rpc::Empty response;
  std::string what;  // for the log
};

RemoteTaskManagerGateway::RemoteTaskManagerGateway(std::string taskManagerId,
                                                   std::string rpcAddress, std::string dataAddress,
                                                   int numberOfSlots,
                                                   std::chrono::milliseconds timeout)
    : taskManagerId_(std::move(taskManagerId)),
      rpcAddress_(std::move(rpcAddress)),
      dataAddress_(std::move(dataAddress)),
      numberOfSlots_(numberOfSlots),
      timeout_(timeout),
      stub_(rpc::TaskManager::NewStub(
          grpc::CreateChannel(rpcAddress_, grpc::InsecureChannelCredentials()))) {}

RemoteTaskManagerGateway::~RemoteTaskManagerGateway() {
  close(Status::unavailable(name() + ": gateway closed"));
  std::unique_lock lock(mu_);
  callEnded_.wait(lock, [&] { return asyncCalls_ == 0 && calls_.empty(); });
}

std::string RemoteTaskManagerGateway::name() const {
  return "TaskManager " + taskManagerId_ + " (" + rpcAddress_ + ")";
}

Status RemoteTaskManagerGateway::beginCall(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + timeout_);
  std::lock_guard lock(mu_);
  if (!closed_.isOk()) return closed_;
  calls_.insert(context);
  return Status::ok();
}

void RemoteTaskManagerGateway::endCall(grpc::ClientContext* context) {
  std::lock_guard lock(mu_);
  calls_.erase(context);
  callEnded_.notify_all();
}

void RemoteTaskManagerGateway::endAsyncCall(AsyncCall* call, const grpc::Status& status) {
  std::unique_ptr<AsyncCall> owned(call);
  std::lock_guard lock(mu_);
  // After close() the TaskManager is lost: a failed call is expected, not news.
  if (!status.ok() && closed_.isOk()) {
    moduleLogger("jobmanager")
        ->warn("{}: {} failed: {}", name(), owned->what, fromGrpcStatus(status).toString());
  }
  calls_.erase(&owned->context);
  --asyncCalls_;
  callEnded_.notify_all();
}

void RemoteTaskManagerGateway::close(Status cause) {
  std::lock_guard lock(mu_);
  if (closed_.isOk()) closed_ = std::move(cause);
  for (grpc::ClientContext* context : calls_) context->TryCancel();
}

Status RemoteTaskManagerGateway::checkJobFits(
    const std::string& jobName, const std::vector<const TaskDeploymentDescriptor*>& tasks) {
  rpc::CheckJobFitsRequest request;
  request.set_job_name(jobName);
  for (const TaskDeploymentDescriptor* task : tasks) deploymentToProto(*task, request.add_tasks());
  grpc::ClientContext context;
  STROM_RETURN_IF_ERROR(beginCall(&context));
  rpc::Empty response;
  grpc::Status status = stub_->CheckJobFits(&context, request, &response);
  endCall(&context);
  return fromGrpcStatus(status, name() + ": checking that job '" + jobName + "' fits");
}

Status RemoteTaskManagerGateway::submitTask(TaskDeploymentDescriptor descriptor) {
  rpc::TaskDeploymentDescriptor request;
  deploymentToProto(descriptor, &request);
  grpc::ClientContext context;
  STROM_RETURN_IF_ERROR(beginCall(&context));
  rpc::Empty response;
  grpc::Status status = stub_->SubmitTask(&context, request, &response);
  endCall(&context);
  // The TaskManager's own errors name it already; a transport error does not.
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
      status.error_code() == grpc::StatusCode::CANCELLED) {
    return fromGrpcStatus(status, name() + ": deploying " + descriptor.attemptId.toString());
  }
  return fromGrpcStatus(status);
}

void RemoteTaskManagerGateway::cancelTask(const ExecutionAttemptId& attemptId) {
  auto call = std::make_unique<AsyncCall>();
  executionAttemptIdToProto(attemptId, &call->attemptId);
  call->what = "cancelling " + attemptId.toString();
  if (!beginCall(&call->context).isOk()) return;  // lost: its tasks end without us
  {
    std::lock_guard lock(mu_);
    ++asyncCalls_;
  }
  AsyncCall* raw = call.release();
  stub_->async()->CancelTask(&raw->context, &raw->attemptId, &raw->response,
                             [this, raw](grpc::Status status) { endAsyncCall(raw, status); });
}

void RemoteTaskManagerGateway::releaseJob(const std::string& jobId) {
  auto call = std::make_unique<AsyncCall>();
  call->release.set_job_id(jobId);
  call->what = "releasing job " + jobId;
  if (!beginCall(&call->context).isOk()) return;
  {
    std::lock_guard lock(mu_);
    ++asyncCalls_;
  }
  AsyncCall* raw = call.release();
  stub_->async()->ReleaseJob(&raw->context, &raw->release, &raw->response,
                             [this, raw](grpc::Status status) { endAsyncCall(raw, status); });
}

}  // namespace strom::runtime
