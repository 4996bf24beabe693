#include "runtime/jobmanager/job_manager_server.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

#include "common/grpc_status.h"
#include "common/logging.h"
#include "graph/job_graph_proto.h"
#include "runtime/jobmanager/job_status_proto.h"
#include "runtime/task/deployment_proto.h"

namespace strom::runtime {
namespace {

using SteadyClock = std::chrono::steady_clock;

/// How long one WaitForJob handler waits before it looks again at whether its client went away
/// or the server shuts down.
constexpr std::chrono::milliseconds kWaitSlice{200};

std::shared_ptr<spdlog::logger> logger() { return moduleLogger("jobmanager"); }

Status bindFailure(const std::string& requested, const std::string& why) {
  return Status::unavailable("JobManager: cannot listen on " + requested +
                             (why.empty() ? "" : " (" + why + ")") +
                             ": set jobmanager.rpc.address and jobmanager.rpc.port (0 picks a "
                             "free port)");
}

/// A malformed message from a TaskManager: the error names the sender.
template <typename Request>
Status fromTaskManager(const Status& error, const Request& request) {
  return error.withContext("from TaskManager '" + request.task_manager_id() + "'");
}

}  // namespace

/// The JobManager gRPC service: converts and forwards to the JobManager and the server.
class JobManagerServer::JobManagerService final : public rpc::JobManager::Service {
 public:
  explicit JobManagerService(JobManagerServer& server) : server_(server) {}

  grpc::Status RegisterTaskManager(grpc::ServerContext*,
                                   const rpc::RegisterTaskManagerRequest* request,
                                   rpc::RegisterTaskManagerResponse* response) override {
    auto id = server_.registerTaskManager(*request);
    if (!id.isOk()) return toGrpcStatus(id.status());
    response->set_registration_id(*id);
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<rpc::HeartbeatAck, rpc::TaskManagerHeartbeat>* stream) override {
    return server_.heartbeat(context, stream);
  }

  grpc::Status UpdateTaskExecutionState(grpc::ServerContext*,
                                        const rpc::TaskExecutionState* request,
                                        rpc::Empty*) override {
    auto state = taskExecutionStateFromProto(*request);
    if (!state.isOk()) return toGrpcStatus(state.status());
    server_.jobManager_.updateTaskExecutionState(*state);
    return grpc::Status::OK;
  }

  grpc::Status SubmitJob(grpc::ServerContext*, const rpc::SubmitJobRequest* request,
                         rpc::SubmitJobResponse* response) override {
    auto graph = graph::jobGraphFromProto(request->job_graph());
    if (!graph.isOk()) return toGrpcStatus(graph.status());
    if (!request->has_job_information()) {
      return toGrpcStatus(Status::invalidArgument("job '" + request->job_graph().job_name() +
                                                  "': the submission has no job information"));
    }
    auto info =
        std::make_shared<JobInformation>(jobInformationFromProto(request->job_information()));
    if (info->jobName.empty()) info->jobName = (*graph)->jobName();
    if (!info->fingerprint.empty() && !(*graph)->fingerprint().empty() &&
        info->fingerprint != (*graph)->fingerprint()) {
      return toGrpcStatus(Status::invalidArgument(
          "job '" + info->jobName + "': the job information's fingerprint " + info->fingerprint +
          " differs from the job graph's " + (*graph)->fingerprint()));
    }
    // The TaskManagers fetch the library from here: refuse a job they could never run.
    if (!server_.blobStore_->contains(info->libraryKey)) {
      return toGrpcStatus(
          Status::notFound("job '" + info->jobName + "': its job library " + info->libraryKey +
                           " is not in the JobManager's blob store (upload it first)"));
    }
    auto jobId = server_.jobManager_.submitJob(*graph, std::move(info));
    if (!jobId.isOk()) return toGrpcStatus(jobId.status());
    response->set_job_id(*jobId);
    return grpc::Status::OK;
  }

  grpc::Status ListJobs(grpc::ServerContext*, const rpc::ListJobsRequest*,
                        rpc::ListJobsResponse* response) override {
    for (const JobStatusInfo& info : server_.jobManager_.listJobs()) {
      jobStatusInfoToProto(info, response->add_jobs());
    }
    return grpc::Status::OK;
  }

  grpc::Status GetJobStatus(grpc::ServerContext*, const rpc::JobIdRequest* request,
                            rpc::JobStatusInfo* response) override {
    auto info = server_.jobManager_.jobStatus(request->job_id());
    if (!info.isOk()) return toGrpcStatus(info.status());
    jobStatusInfoToProto(*info, response);
    return grpc::Status::OK;
  }

  grpc::Status WaitForJob(grpc::ServerContext* context, const rpc::WaitForJobRequest* request,
                          rpc::JobStatusInfo* response) override {
    auto deadline =
        SteadyClock::now() + std::chrono::milliseconds(std::max<int64_t>(0, request->timeout_ms()));
    while (true) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      auto info = server_.jobManager_.waitForJobTermination(
          request->job_id(), std::clamp(left, std::chrono::milliseconds(0), kWaitSlice));
      if (!info.isOk()) return toGrpcStatus(info.status());
      if (isTerminal(info->status) || SteadyClock::now() >= deadline || context->IsCancelled() ||
          server_.isShuttingDown()) {
        jobStatusInfoToProto(*info, response);
        return grpc::Status::OK;
      }
    }
  }

  grpc::Status CancelJob(grpc::ServerContext*, const rpc::JobIdRequest* request,
                         rpc::Empty*) override {
    return toGrpcStatus(server_.jobManager_.cancelJob(request->job_id()));
  }

  grpc::Status AcknowledgeCheckpoint(grpc::ServerContext*,
                                     const rpc::AcknowledgeCheckpointRequest* request,
                                     rpc::Empty*) override {
    auto ack = checkpointAcknowledgementFromProto(*request);
    if (!ack.isOk()) return toGrpcStatus(fromTaskManager(ack.status(), *request));
    server_.jobManager_.acknowledgeCheckpoint(ack->attemptId, ack->checkpointId, ack->state);
    return grpc::Status::OK;
  }

  grpc::Status DeclineCheckpoint(grpc::ServerContext*, const rpc::DeclineCheckpointRequest* request,
                                 rpc::Empty*) override {
    auto decline = checkpointDeclineFromProto(*request);
    if (!decline.isOk()) return toGrpcStatus(fromTaskManager(decline.status(), *request));
    server_.jobManager_.declineCheckpoint(decline->attemptId, decline->checkpointId,
                                          decline->reason);
    return grpc::Status::OK;
  }

  grpc::Status ReportEndOfInput(grpc::ServerContext*, const rpc::ReportEndOfInputRequest* request,
                                rpc::Empty*) override {
    ExecutionAttemptId attemptId = executionAttemptIdFromProto(request->attempt_id());
    Status valid = checkExecutionAttemptId(attemptId, "end of input");
    if (!valid.isOk()) return toGrpcStatus(fromTaskManager(valid, *request));
    server_.jobManager_.reportEndOfInput(attemptId);
    return grpc::Status::OK;
  }

  grpc::Status TriggerSavepoint(grpc::ServerContext* context,
                                const rpc::TriggerSavepointRequest* request,
                                rpc::TriggerSavepointResponse* response) override {
    if (request->job_id().empty()) {
      return toGrpcStatus(Status::invalidArgument("savepoint: no job id"));
    }
    if (request->timeout_ms() < 0) {
      return toGrpcStatus(Status::invalidArgument("savepoint of job " + request->job_id() +
                                                  ": negative timeout " +
                                                  std::to_string(request->timeout_ms()) + " ms"));
    }
    auto timeout = request->timeout_ms() > 0 ? std::chrono::milliseconds(request->timeout_ms())
                                             : server_.options_.savepointTimeout;
    auto call = server_.startSavepoint(request->job_id(), request->target_directory(),
                                       request->terminate(), timeout);
    if (!call.isOk()) return toGrpcStatus(call.status());
    SavepointCall& savepoint = **call;
    std::unique_lock lock(savepoint.mu);
    while (!savepoint.finished.wait_for(lock, kWaitSlice,
                                        [&] { return savepoint.result.has_value(); })) {
      // The savepoint goes on without a listener: the JobManager completes or aborts it.
      if (context->IsCancelled()) {
        return toGrpcStatus(
            Status::cancelled("savepoint of job " + request->job_id() + ": the client went away"));
      }
      if (server_.isShuttingDown()) {
        return toGrpcStatus(Status::unavailable("savepoint of job " + request->job_id() +
                                                ": the JobManager is shutting down"));
      }
    }
    if (!savepoint.result->isOk()) return toGrpcStatus(savepoint.result->status());
    response->set_savepoint_path(savepoint.result->value());
    return grpc::Status::OK;
  }

 private:
  JobManagerServer& server_;
};

Result<JobManagerServer::Options> JobManagerServer::Options::fromConfiguration(
    const Configuration& configuration) {
  Options options;
  options.host = configuration.getString("jobmanager.rpc.address", "127.0.0.1");
  if (options.host.empty()) {
    return Status::invalidArgument("config key 'jobmanager.rpc.address' is empty");
  }
  STROM_ASSIGN_OR_RETURN(int64_t port, configuration.getInt("jobmanager.rpc.port", 6123));
  if (port < 0 || port > 65535) {
    return Status::invalidArgument("config key 'jobmanager.rpc.port': " + std::to_string(port) +
                                   " is outside 0..65535");
  }
  options.port = static_cast<int>(port);
  STROM_ASSIGN_OR_RETURN(options.heartbeatTimeout,
                         configuration.getDuration("heartbeat.timeout", options.heartbeatTimeout));
  if (options.heartbeatTimeout.count() <= 0) {
    return Status::invalidArgument("config key 'heartbeat.timeout' must be positive");
  }
  STROM_ASSIGN_OR_RETURN(options.rpcTimeout,
                         configuration.getDuration("pekko.ask.timeout", options.rpcTimeout));
  if (options.rpcTimeout.count() <= 0) {
    return Status::invalidArgument("config key 'pekko.ask.timeout' must be positive");
  }
  STROM_ASSIGN_OR_RETURN(
      options.savepointTimeout,
      configuration.getDuration("execution.checkpointing.timeout", options.savepointTimeout));
  if (options.savepointTimeout.count() <= 0) {
    return Status::invalidArgument("config key 'execution.checkpointing.timeout' must be positive");
  }
  return options;
}

Result<std::unique_ptr<JobManagerServer>> JobManagerServer::start(
    const Configuration& configuration, JobManager& jobManager) {
  STROM_ASSIGN_OR_RETURN(Options options, Options::fromConfiguration(configuration));
  STROM_ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> blobStore, BlobStore::create(configuration));
  std::unique_ptr<JobManagerServer> server(
      new JobManagerServer(std::move(options), jobManager, std::move(blobStore)));
  STROM_RETURN_IF_ERROR(server->startServing());
  return server;
}

JobManagerServer::JobManagerServer(Options options, JobManager& jobManager,
                                   std::unique_ptr<BlobStore> blobStore)
    : options_(std::move(options)), jobManager_(jobManager), blobStore_(std::move(blobStore)) {}

Status JobManagerServer::startServing() {
  blobService_ = std::make_unique<BlobService>(*blobStore_);
  jobManagerService_ = std::make_unique<JobManagerService>(*this);
  routeGrpcLogging();
  std::string requested = options_.host + ":" + std::to_string(options_.port);
  // gRPC says only that no address was added, and in its own log: ask the kernel why first.
  std::string why = bindError(options_.host, options_.port);
  if (!why.empty()) return bindFailure(requested, why);
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second JobManager bind the same port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(requested, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(jobManagerService_.get());
  builder.RegisterService(blobService_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    if (server_) server_->Shutdown();
    server_ = nullptr;
    return bindFailure(requested, bindError(options_.host, options_.port));
  }
  monitor_ = std::thread([this] { monitorHeartbeats(); });
  logger()->info("JobManager listening on {} (blob store {})", address(), blobStore_->directory());
  return Status::ok();
}

JobManagerServer::~JobManagerServer() { shutdown(); }

bool JobManagerServer::isShuttingDown() const {
  std::lock_guard lock(mu_);
  return shuttingDown_;
}

void JobManagerServer::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (shuttingDown_) return;
    shuttingDown_ = true;
    // Heartbeat streams never end by themselves.
    for (auto& [id, registration] : registrations_) {
      if (registration->stream != nullptr) registration->stream->TryCancel();
    }
  }
  monitorWake_.notify_all();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + kWaitSlice);
    server_->Wait();  // every handler has returned: none loses a TaskManager any more
  }
  if (monitor_.joinable()) monitor_.join();
  std::map<std::string, std::unique_ptr<Registration>> registrations;
  {
    std::lock_guard lock(mu_);
    registrations.swap(registrations_);
  }
  for (auto& [id, registration] : registrations) {
    if (registration->lost) continue;
    Status cause = Status::unavailable("the JobManager's server shut down");
    registration->gateway->close(cause);
    jobManager_.unregisterTaskManager(registration->gateway.get(), cause);
  }
  // No handler starts one any more: the list only shrinks.
  std::list<SavepointThread> savepoints;
  {
    std::lock_guard lock(mu_);
    savepoints.swap(savepoints_);
  }
  for (SavepointThread& savepoint : savepoints) savepoint.thread.join();
}

Result<std::shared_ptr<JobManagerServer::SavepointCall>> JobManagerServer::startSavepoint(
    const std::string& jobId, const std::string& targetDirectory, bool terminate,
    std::chrono::milliseconds timeout) {
  auto call = std::make_shared<SavepointCall>();
  std::list<SavepointThread> ended;
  {
    std::lock_guard lock(mu_);
    if (shuttingDown_) {
      return Status::unavailable("savepoint of job " + jobId + ": the JobManager is shutting down");
    }
    for (auto it = savepoints_.begin(); it != savepoints_.end();) {
      auto next = std::next(it);
      bool done = false;
      {
        std::lock_guard callLock(it->call->mu);
        done = it->call->result.has_value();
      }
      if (done) ended.splice(ended.end(), savepoints_, it);
      it = next;
    }
    SavepointThread& savepoint = savepoints_.emplace_back();
    savepoint.call = call;
    savepoint.thread = std::thread([this, call, jobId, targetDirectory, terminate, timeout] {
      Result<std::string> result =
          jobManager_.triggerSavepoint(jobId, targetDirectory, terminate, timeout);
      if (result.isOk()) {
        logger()->info("savepoint of job {} completed: {}", jobId, *result);
      } else {
        logger()->warn("savepoint of job {} failed: {}", jobId, result.status().toString());
      }
      std::lock_guard lock(call->mu);
      call->result = std::move(result);
      call->finished.notify_all();
    });
  }
  // Their result is set: they end at once.
  for (SavepointThread& savepoint : ended) savepoint.thread.join();
  return call;
}

int JobManagerServer::numberOfTaskManagers() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(std::count_if(registrations_.begin(), registrations_.end(),
                                        [](const auto& entry) { return !entry.second->lost; }));
}

Result<std::string> JobManagerServer::registerTaskManager(
    const rpc::RegisterTaskManagerRequest& request) {
  const std::string& tmId = request.task_manager_id();
  if (tmId.empty() || request.rpc_address().empty()) {
    return Status::invalidArgument("TaskManager registration without an id or rpc address");
  }
  if (request.number_of_slots() < 1) {
    return Status::invalidArgument("TaskManager " + tmId + " offers " +
                                   std::to_string(request.number_of_slots()) + " slots");
  }
  // A TaskManager that registers again lost the JobManager (or restarted): what it ran under
  // its old registration is gone.
  std::vector<std::string> previous;
  {
    std::lock_guard lock(mu_);
    if (shuttingDown_) return Status::unavailable("the JobManager is shutting down");
    for (auto& [id, registration] : registrations_) {
      if (!registration->lost && registration->gateway->taskManagerId() == tmId) {
        previous.push_back(id);
      }
    }
  }
  for (const std::string& id : previous) loseTaskManager(id, "it registered again");

  auto registration = std::make_unique<Registration>();
  registration->gateway = std::make_unique<RemoteTaskManagerGateway>(
      tmId, request.rpc_address(), request.data_address(), request.number_of_slots(),
      options_.rpcTimeout);
  registration->lastHeartbeat = SteadyClock::now();
  RemoteTaskManagerGateway* gateway = registration->gateway.get();
  std::string registrationId;
  {
    std::lock_guard lock(mu_);
    if (shuttingDown_) return Status::unavailable("the JobManager is shutting down");
    registrationId = tmId + "#" + std::to_string(nextRegistration_++);
    registration->registrationId = registrationId;
    registrations_[registrationId] = std::move(registration);
    // Registered with the JobManager under mu_, so that shutdown() (which takes the
    // registrations under mu_) unregisters it.
    jobManager_.registerTaskManager(gateway);
  }
  monitorWake_.notify_all();
  logger()->info("TaskManager {} registered: rpc {}, data {}, {} slots", tmId,
                 request.rpc_address(), request.data_address(), request.number_of_slots());
  return registrationId;
}

grpc::Status JobManagerServer::heartbeat(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<rpc::HeartbeatAck, rpc::TaskManagerHeartbeat>* stream) {
  rpc::TaskManagerHeartbeat beat;
  if (!stream->Read(&beat)) return grpc::Status::CANCELLED;
  const std::string registrationId = beat.registration_id();
  {
    std::lock_guard lock(mu_);
    auto it = registrations_.find(registrationId);
    if (it == registrations_.end() || it->second->lost || shuttingDown_) {
      return toGrpcStatus(Status::notFound("registration " + registrationId +
                                           " is unknown or lost: register again"));
    }
    if (it->second->stream != nullptr) {
      return toGrpcStatus(Status::alreadyExists("registration " + registrationId +
                                                " has a heartbeat stream already"));
    }
    it->second->stream = context;
    it->second->lastHeartbeat = SteadyClock::now();
  }
  rpc::HeartbeatAck ack;
  bool open = stream->Write(ack);
  while (open && stream->Read(&beat)) {
    {
      std::lock_guard lock(mu_);
      auto it = registrations_.find(registrationId);
      // Once lost, the stream stays open (unanswered) until loseTaskManager has unregistered the
      // TaskManager and cancels it.
      if (it == registrations_.end() || it->second->lost) continue;
      it->second->lastHeartbeat = SteadyClock::now();
    }
    open = stream->Write(ack);
  }
  bool lostAlready = true;
  {
    std::lock_guard lock(mu_);
    auto it = registrations_.find(registrationId);
    if (it != registrations_.end()) {
      it->second->stream = nullptr;
      lostAlready = it->second->lost || shuttingDown_;
    }
  }
  if (!lostAlready) loseTaskManager(registrationId, "its heartbeat stream broke");
  return grpc::Status::OK;
}

void JobManagerServer::monitorHeartbeats() {
  std::unique_lock lock(mu_);
  while (!shuttingDown_) {
    auto now = SteadyClock::now();
    auto next = now + options_.heartbeatTimeout;
    std::vector<std::string> expired;
    for (auto& [id, registration] : registrations_) {
      if (registration->lost) continue;
      auto deadline = registration->lastHeartbeat + options_.heartbeatTimeout;
      if (deadline <= now) {
        expired.push_back(id);
      } else {
        next = std::min(next, deadline);
      }
    }
    if (!expired.empty()) {
      lock.unlock();
      for (const std::string& id : expired) {
        loseTaskManager(id, "no heartbeat within heartbeat.timeout (" +
                                std::to_string(options_.heartbeatTimeout.count()) + " ms)");
      }
      lock.lock();
      continue;
    }
    monitorWake_.wait_until(lock, next);
  }
}

void JobManagerServer::loseTaskManager(const std::string& registrationId, const std::string& why) {
  RemoteTaskManagerGateway* gateway = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = registrations_.find(registrationId);
    if (it == registrations_.end() || it->second->lost) return;
    it->second->lost = true;
    gateway = it->second->gateway.get();
  }
  logger()->warn("TaskManager {} at {} is lost: {}", gateway->taskManagerId(),
                 gateway->rpcAddress(), why);
  // The JobManager prefixes the TaskManager's id and data address.
  Status cause =
      Status::unavailable(why + " (its TaskManager service is at " + gateway->rpcAddress() + ")");
  gateway->close(cause);
  // Returns once the JobManager no longer calls the gateway: then it may go.
  jobManager_.unregisterTaskManager(gateway, cause);
  std::unique_ptr<Registration> gone;
  {
    std::lock_guard lock(mu_);
    auto it = registrations_.find(registrationId);
    if (it == registrations_.end()) return;  // shutdown() took it
    // Only now tell the TaskManager (a hung one that wakes up): the states of the tasks it then
    // cancels must not reach the JobManager before the loss, or they would be the jobs' cause.
    if (it->second->stream != nullptr) it->second->stream->TryCancel();
    gone = std::move(it->second);
    registrations_.erase(it);
  }
}

}  // namespace strom::runtime
