#include "runtime/jobmanager/remote_task_manager_gateway.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <utility>

#include "common/grpc_status.h"
#include "common/logging.h"
#include "runtime/task/deployment_proto.h"

namespace strom::runtime {

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
          grpc::CreateChannel(rpcAddress_, grpc::InsecureChannelCredentials()))) {
  sender_ = std::thread([this] { sendCancels(); });
}

RemoteTaskManagerGateway::~RemoteTaskManagerGateway() {
  close(Status::unavailable(name() + ": gateway closed"));
  sender_.join();
  std::unique_lock lock(mu_);
  callEnded_.wait(lock, [&] { return calls_.empty(); });
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

void RemoteTaskManagerGateway::close(Status cause) {
  std::lock_guard lock(mu_);
  if (closed_.isOk()) closed_ = std::move(cause);
  for (grpc::ClientContext* context : calls_) context->TryCancel();
  cancels_.clear();
  callEnded_.notify_all();
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
  std::lock_guard lock(mu_);
  if (!closed_.isOk()) return;  // lost: its tasks end without us
  cancels_.push_back(attemptId);
  callEnded_.notify_all();
}

void RemoteTaskManagerGateway::releaseJob(const std::string& jobId) {
  // Waits for the answer: the JobManager deploys a restarted job's next attempt once the release
  // returns, and a release that arrived later would cancel the new attempt's tasks.
  rpc::ReleaseJobRequest request;
  request.set_job_id(jobId);
  grpc::ClientContext context;
  if (!beginCall(&context).isOk()) return;  // lost: it holds nothing of the job any more
  rpc::Empty response;
  grpc::Status status = stub_->ReleaseJob(&context, request, &response);
  endCall(&context);
  if (!status.ok() && !isClosed()) {
    moduleLogger("jobmanager")
        ->warn("{}: releasing job {} failed: {}", name(), jobId, fromGrpcStatus(status).toString());
  }
}

bool RemoteTaskManagerGateway::isClosed() {
  std::lock_guard lock(mu_);
  return !closed_.isOk();
}

void RemoteTaskManagerGateway::sendCancels() {
  std::unique_lock lock(mu_);
  while (true) {
    callEnded_.wait(lock, [&] { return !closed_.isOk() || !cancels_.empty(); });
    if (!closed_.isOk()) return;
    ExecutionAttemptId call = std::move(cancels_.front());
    cancels_.pop_front();
    lock.unlock();
    grpc::ClientContext context;
    rpc::Empty response;
    std::string what;
    Status status = beginCall(&context);
    if (status.isOk()) {
      rpc::ExecutionAttemptId request;
      executionAttemptIdToProto(call, &request);
      what = "cancelling " + call.toString();
      grpc::Status result = stub_->CancelTask(&context, request, &response);
      endCall(&context);
      status = fromGrpcStatus(result);
    }
    lock.lock();
    // After close() the TaskManager is lost: a failed call is expected, not news.
    if (!status.isOk() && closed_.isOk()) {
      moduleLogger("jobmanager")->warn("{}: {} failed: {}", name(), what, status.toString());
    }
  }
}

}  // namespace strom::runtime
