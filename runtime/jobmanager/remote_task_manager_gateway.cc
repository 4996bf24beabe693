#include "runtime/jobmanager/remote_task_manager_gateway.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <string>
#include <utility>

#include "common/grpc_status.h"
#include "common/logging.h"
#include "runtime/task/deployment_proto.h"

namespace strom::runtime {
namespace {

/// How much longer than its deadline a trigger's caller waits for the sender's answer.
constexpr std::chrono::milliseconds kAnswerGrace{100};

}  // namespace

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
  sender_ = std::thread([this] { sendQueued(); });
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
  std::deque<QueuedCall> dropped;
  {
    std::lock_guard lock(mu_);
    if (closed_.isOk()) closed_ = std::move(cause);
    for (grpc::ClientContext* context : calls_) context->TryCancel();
    dropped.swap(queue_);
    callEnded_.notify_all();
  }
  for (QueuedCall& call : dropped) {
    if (call.reply) call.reply->set_value(closed());
  }
}

Status RemoteTaskManagerGateway::closed() {
  std::lock_guard lock(mu_);
  return closed_;
}

size_t RemoteTaskManagerGateway::testingQueuedCalls() {
  std::lock_guard lock(mu_);
  return queue_.size();
}

bool RemoteTaskManagerGateway::enqueue(QueuedCall call) {
  std::lock_guard lock(mu_);
  if (!closed_.isOk()) return false;  // lost: its tasks end without us
  queue_.push_back(std::move(call));
  callEnded_.notify_all();
  return true;
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
  QueuedCall call;
  call.kind = QueuedCall::Kind::kCancel;
  call.attemptId = attemptId;
  (void)enqueue(std::move(call));
}

Status RemoteTaskManagerGateway::triggerCheckpoint(
    const ExecutionAttemptId& attemptId, int64_t checkpointId, int64_t timestamp,
    const checkpoint::proto::CheckpointOptions& options) {
  QueuedCall call;
  call.kind = QueuedCall::Kind::kTrigger;
  call.attemptId = attemptId;
  call.checkpointId = checkpointId;
  call.timestamp = timestamp;
  call.options = options;
  call.deadline = std::chrono::system_clock::now() + timeout_;
  call.reply = std::make_shared<std::promise<Status>>();
  std::future<Status> answer = call.reply->get_future();
  auto deadline = call.deadline;
  if (!enqueue(std::move(call))) return closed();
  // The sender answers by the deadline (it does not send a call whose deadline passed, and the
  // call's own deadline ends it); a cancel in flight before it may hold the sender a little
  // longer: do not wait for that.
  if (answer.wait_until(deadline + kAnswerGrace) != std::future_status::ready) {
    return Status::deadlineExceeded(name() + ": triggering checkpoint " +
                                    std::to_string(checkpointId) + " of " + attemptId.toString() +
                                    ": no answer within " + std::to_string(timeout_.count()) +
                                    " ms (pekko.ask.timeout)");
  }
  return answer.get();
}

void RemoteTaskManagerGateway::notifyCheckpointComplete(const ExecutionAttemptId& attemptId,
                                                        int64_t checkpointId) {
  QueuedCall call;
  call.kind = QueuedCall::Kind::kNotifyComplete;
  call.attemptId = attemptId;
  call.checkpointId = checkpointId;
  (void)enqueue(std::move(call));
}

void RemoteTaskManagerGateway::notifyCheckpointAborted(const ExecutionAttemptId& attemptId,
                                                       int64_t checkpointId) {
  QueuedCall call;
  call.kind = QueuedCall::Kind::kNotifyAborted;
  call.attemptId = attemptId;
  call.checkpointId = checkpointId;
  (void)enqueue(std::move(call));
}

void RemoteTaskManagerGateway::releaseJob(const std::string& jobId, bool jobEnded) {
  // Waits for the answer: the JobManager deploys a restarted job's next attempt once the release
  // returns, and a release that arrived later would cancel the new attempt's tasks.
  rpc::ReleaseJobRequest request;
  request.set_job_id(jobId);
  request.set_job_ended(jobEnded);
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

Status RemoteTaskManagerGateway::send(const QueuedCall& call, std::string* what) {
  grpc::ClientContext context;
  if (call.kind == QueuedCall::Kind::kTrigger) {
    *what = "triggering checkpoint " + std::to_string(call.checkpointId) + " of " +
            call.attemptId.toString();
    if (std::chrono::system_clock::now() >= call.deadline) {
      return Status::deadlineExceeded(name() + ": " + *what + ": not sent within " +
                                      std::to_string(timeout_.count()) +
                                      " ms (pekko.ask.timeout): earlier calls took that long");
    }
  }
  STROM_RETURN_IF_ERROR(beginCall(&context));
  // A trigger's caller waits only until its own deadline.
  if (call.kind == QueuedCall::Kind::kTrigger) context.set_deadline(call.deadline);
  rpc::Empty response;
  grpc::Status result;
  switch (call.kind) {
    case QueuedCall::Kind::kCancel: {
      *what = "cancelling " + call.attemptId.toString();
      rpc::ExecutionAttemptId request;
      executionAttemptIdToProto(call.attemptId, &request);
      result = stub_->CancelTask(&context, request, &response);
      break;
    }
    case QueuedCall::Kind::kTrigger: {
      rpc::TriggerCheckpointRequest request;
      checkpointTriggerToProto(
          CheckpointTrigger{call.attemptId, call.checkpointId, call.timestamp, call.options},
          &request);
      result = stub_->TriggerCheckpoint(&context, request, &response);
      break;
    }
    case QueuedCall::Kind::kNotifyComplete:
    case QueuedCall::Kind::kNotifyAborted: {
      bool complete = call.kind == QueuedCall::Kind::kNotifyComplete;
      *what = std::string(complete ? "notifying the completion" : "notifying the abort") +
              " of checkpoint " + std::to_string(call.checkpointId) + " to " +
              call.attemptId.toString();
      rpc::CheckpointNotification request;
      checkpointNotificationToProto(call.attemptId, call.checkpointId, &request);
      result = complete ? stub_->NotifyCheckpointComplete(&context, request, &response)
                        : stub_->NotifyCheckpointAborted(&context, request, &response);
      break;
    }
  }
  endCall(&context);
  // The TaskManager's own errors name it already; a transport error does not.
  if (result.error_code() == grpc::StatusCode::UNAVAILABLE ||
      result.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
      result.error_code() == grpc::StatusCode::CANCELLED) {
    return fromGrpcStatus(result, name() + ": " + *what);
  }
  return fromGrpcStatus(result);
}

void RemoteTaskManagerGateway::sendQueued() {
  std::unique_lock lock(mu_);
  while (true) {
    callEnded_.wait(lock, [&] { return !closed_.isOk() || !queue_.empty(); });
    if (!closed_.isOk()) return;  // close() answered the queued triggers
    QueuedCall call = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::string what;
    Status status = send(call, &what);
    if (call.reply) {
      call.reply->set_value(status);
    } else if (!status.isOk() && !isClosed()) {
      // After close() the TaskManager is lost: a failed call is expected, not news.
      moduleLogger("jobmanager")->warn("{}: {} failed: {}", name(), what, status.toString());
    }
    lock.lock();
  }
}

}  // namespace strom::runtime
