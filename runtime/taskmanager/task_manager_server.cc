#include "runtime/taskmanager/task_manager_server.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>
#include <utility>
#include <vector>

#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/sha256.h"
#include "graph/job_library.h"
#include "runtime/task/deployment_proto.h"

namespace strom::runtime {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::shared_ptr<spdlog::logger> logger() { return moduleLogger("taskmanager"); }

std::string randomId() {
  std::random_device random;
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%08x", static_cast<unsigned>(random()));
  return std::string("taskmanager-") + buffer;
}

Result<milliseconds> positiveDuration(const Configuration& configuration, std::string_view key,
                                      milliseconds fallback) {
  STROM_ASSIGN_OR_RETURN(milliseconds value, configuration.getDuration(key, fallback));
  if (value.count() <= 0) {
    return Status::invalidArgument("config key '" + std::string(key) + "' must be positive");
  }
  return value;
}

}  // namespace

JobGraphResolver jobLibraryResolver() {
  return [](const JobInformation& info,
            const std::string& libraryPath) -> Result<std::shared_ptr<const graph::JobGraph>> {
    STROM_ASSIGN_OR_RETURN(std::shared_ptr<graph::JobLibrary> library,
                           graph::JobLibrary::open(libraryPath));
    STROM_ASSIGN_OR_RETURN(
        std::shared_ptr<const graph::JobGraph> jobGraph,
        library->buildJobGraph(JobArgs(info.args, info.jobName), info.configuration, info.jobName));
    if (jobGraph->fingerprint() != info.fingerprint) {
      return Status::invalidArgument(
          "the job graph built here has fingerprint " + jobGraph->fingerprint() +
          ", the submitted one " + info.fingerprint +
          ": the job's build must declare the same topology for the same arguments every time");
    }
    return jobGraph;
  };
}

/// The TaskManager gRPC service: converts and forwards to the server and its TaskManager.
class TaskManagerServer::TaskManagerService final : public rpc::TaskManager::Service {
 public:
  explicit TaskManagerService(TaskManagerServer& server) : server_(server) {}

  grpc::Status SubmitTask(grpc::ServerContext*, const rpc::TaskDeploymentDescriptor* request,
                          rpc::Empty*) override {
    std::string context = server_.name() + ": deploying " +
                          executionAttemptIdFromProto(request->attempt_id()).toString();
    auto descriptor = deploymentFromProto(*request);
    if (!descriptor.isOk()) return toGrpcStatus(descriptor.status().withContext(context));
    auto graph = server_.jobGraph(descriptor->attemptId.jobId, *descriptor->jobInformation);
    if (!graph.isOk()) return toGrpcStatus(graph.status().withContext(context));
    descriptor->jobGraph = *graph;
    Status status = server_.taskManager_->submitTask(std::move(*descriptor));
    return toGrpcStatus(status.withContext(context));
  }

  grpc::Status CancelTask(grpc::ServerContext*, const rpc::ExecutionAttemptId* request,
                          rpc::Empty*) override {
    server_.taskManager_->cancelTask(executionAttemptIdFromProto(*request));
    return grpc::Status::OK;
  }

  grpc::Status ReleaseJob(grpc::ServerContext*, const rpc::ReleaseJobRequest* request,
                          rpc::Empty*) override {
    server_.taskManager_->releaseJob(request->job_id(), request->job_ended());
    std::lock_guard lock(server_.mu_);
    server_.jobs_.erase(request->job_id());
    return grpc::Status::OK;
  }

  grpc::Status CheckJobFits(grpc::ServerContext*, const rpc::CheckJobFitsRequest* request,
                            rpc::Empty*) override {
    std::vector<TaskDeploymentDescriptor> tasks;
    for (const rpc::TaskDeploymentDescriptor& proto : request->tasks()) {
      auto descriptor = deploymentFromProto(proto);
      if (!descriptor.isOk()) return toGrpcStatus(descriptor.status());
      // Resolving the graph here (once per job) also fails a job whose library is bad before
      // any of its tasks is deployed.
      auto graph = server_.jobGraph(descriptor->attemptId.jobId, *descriptor->jobInformation);
      // The JobManager's gateway names this TaskManager and the job.
      if (!graph.isOk()) return toGrpcStatus(graph.status());
      descriptor->jobGraph = *graph;
      tasks.push_back(std::move(*descriptor));
    }
    std::vector<const TaskDeploymentDescriptor*> pointers;
    for (const TaskDeploymentDescriptor& task : tasks) pointers.push_back(&task);
    return toGrpcStatus(server_.taskManager_->checkJobFits(request->job_name(), pointers));
  }

  grpc::Status TriggerCheckpoint(grpc::ServerContext*, const rpc::TriggerCheckpointRequest* request,
                                 rpc::Empty*) override {
    std::string context = server_.name() + ": triggering checkpoint " +
                          std::to_string(request->checkpoint_id()) + " of " +
                          executionAttemptIdFromProto(request->attempt_id()).toString();
    auto trigger = checkpointTriggerFromProto(*request);
    if (!trigger.isOk()) return toGrpcStatus(trigger.status().withContext(context));
    Status status = server_.taskManager_->triggerCheckpoint(
        trigger->attemptId, trigger->checkpointId, trigger->timestamp, trigger->options);
    return toGrpcStatus(status.withContext(context));
  }

  grpc::Status NotifyCheckpointComplete(grpc::ServerContext*,
                                        const rpc::CheckpointNotification* request,
                                        rpc::Empty*) override {
    auto notification = checkpointNotificationFromProto(*request);
    if (!notification.isOk()) {
      return toGrpcStatus(notification.status().withContext(server_.name()));
    }
    server_.taskManager_->notifyCheckpointComplete(notification->first, notification->second);
    return grpc::Status::OK;
  }

  grpc::Status NotifyCheckpointAborted(grpc::ServerContext*,
                                       const rpc::CheckpointNotification* request,
                                       rpc::Empty*) override {
    auto notification = checkpointNotificationFromProto(*request);
    if (!notification.isOk()) {
      return toGrpcStatus(notification.status().withContext(server_.name()));
    }
    server_.taskManager_->notifyCheckpointAborted(notification->first, notification->second);
    return grpc::Status::OK;
  }

 private:
  TaskManagerServer& server_;
};

Result<TaskManagerServer::Options> TaskManagerServer::Options::fromConfiguration(
    const Configuration& configuration) {
  Options options;
  options.host = configuration.getString("taskmanager.host", "127.0.0.1");
  if (options.host.empty())
    return Status::invalidArgument("config key 'taskmanager.host' is empty");
  STROM_ASSIGN_OR_RETURN(int64_t port, configuration.getInt("taskmanager.rpc.port", 0));
  if (port < 0 || port > 65535) {
    return Status::invalidArgument("config key 'taskmanager.rpc.port': " + std::to_string(port) +
                                   " is outside 0..65535");
  }
  options.port = static_cast<int>(port);
  options.taskManagerId = configuration.getString("taskmanager.resource-id", "");
  if (options.taskManagerId.empty()) options.taskManagerId = randomId();
  std::string jobManagerHost = configuration.getString("jobmanager.rpc.address", "127.0.0.1");
  if (jobManagerHost.empty()) {
    return Status::invalidArgument("config key 'jobmanager.rpc.address' is empty");
  }
  STROM_ASSIGN_OR_RETURN(int64_t jobManagerPort, configuration.getInt("jobmanager.rpc.port", 6123));
  if (jobManagerPort < 1 || jobManagerPort > 65535) {
    return Status::invalidArgument(
        "config key 'jobmanager.rpc.port': " + std::to_string(jobManagerPort) +
        " is outside 1..65535 (a TaskManager needs the JobManager's port)");
  }
  options.jobManagerAddress = jobManagerHost + ":" + std::to_string(jobManagerPort);
  STROM_ASSIGN_OR_RETURN(options.registrationTimeout,
                         positiveDuration(configuration, "taskmanager.registration.timeout",
                                          options.registrationTimeout));
  STROM_ASSIGN_OR_RETURN(options.initialRegistrationBackoff,
                         positiveDuration(configuration, "cluster.registration.initial-timeout",
                                          options.initialRegistrationBackoff));
  STROM_ASSIGN_OR_RETURN(options.maxRegistrationBackoff,
                         positiveDuration(configuration, "cluster.registration.max-timeout",
                                          options.maxRegistrationBackoff));
  STROM_ASSIGN_OR_RETURN(
      options.heartbeatInterval,
      positiveDuration(configuration, "heartbeat.interval", options.heartbeatInterval));
  STROM_ASSIGN_OR_RETURN(
      options.heartbeatTimeout,
      positiveDuration(configuration, "heartbeat.timeout", options.heartbeatTimeout));
  if (options.heartbeatInterval >= options.heartbeatTimeout) {
    return Status::invalidArgument("config key 'heartbeat.interval' (" +
                                   std::to_string(options.heartbeatInterval.count()) +
                                   " ms) must be less than 'heartbeat.timeout' (" +
                                   std::to_string(options.heartbeatTimeout.count()) + " ms)");
  }
  STROM_ASSIGN_OR_RETURN(options.rpcTimeout,
                         positiveDuration(configuration, "pekko.ask.timeout", options.rpcTimeout));
  STROM_ASSIGN_OR_RETURN(
      options.blobTimeout,
      positiveDuration(configuration, "blob.client.socket.timeout", options.blobTimeout));
  // Flink's io.tmp.dirs lists directories separated by ',' (or the path separator); the
  // libraries go into the first.
  std::string tmpDirs = configuration.getString("io.tmp.dirs", "");
  options.tmpDirectory = tmpDirs.substr(0, tmpDirs.find_first_of(",:"));
  return options;
}

Result<std::unique_ptr<TaskManagerServer>> TaskManagerServer::start(
    const Configuration& configuration, JobGraphResolver resolver, const Clock* clock) {
  STROM_ASSIGN_OR_RETURN(Options options, Options::fromConfiguration(configuration));
  std::unique_ptr<TaskManagerServer> server(
      new TaskManagerServer(std::move(options), std::move(resolver)));
  STROM_RETURN_IF_ERROR(server->init(configuration, clock));
  return server;
}

TaskManagerServer::TaskManagerServer(Options options, JobGraphResolver resolver)
    : options_(std::move(options)), resolver_(std::move(resolver)) {}

Status TaskManagerServer::init(const Configuration& configuration, const Clock* clock) {
  routeGrpcLogging();
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path base = options_.tmpDirectory.empty() ? fs::temp_directory_path(error)
                                                : fs::path(options_.tmpDirectory);
  if (error) base = "/tmp";
  std::string pattern = (base / ("strom-" + options_.taskManagerId + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return Status::ioError("io.tmp.dirs: cannot create a directory " + pattern + ": " +
                           std::strerror(errno));
  }
  libraryDirectory_ = pattern;

  jobManagerChannel_ =
      grpc::CreateChannel(options_.jobManagerAddress, grpc::InsecureChannelCredentials());
  jobManagerStub_ = rpc::JobManager::NewStub(jobManagerChannel_);
  blobClient_ = std::make_unique<BlobClient>(jobManagerChannel_, options_.jobManagerAddress,
                                             options_.blobTimeout);
  jobManagerGateway_ = std::make_unique<RemoteJobManagerGateway>(
      jobManagerChannel_, options_.jobManagerAddress, options_.taskManagerId, options_.rpcTimeout);
  STROM_ASSIGN_OR_RETURN(
      TaskManager::Options tmOptions,
      TaskManager::Options::fromConfiguration(configuration, options_.taskManagerId));
  STROM_ASSIGN_OR_RETURN(taskManager_, TaskManager::create(std::move(tmOptions),
                                                           clock ? clock : &SystemClock::instance(),
                                                           jobManagerGateway_.get()));

  service_ = std::make_unique<TaskManagerService>(*this);
  std::string requested = options_.host + ":" + std::to_string(options_.port);
  auto bindFailure = [&](const std::string& why) {
    return Status::unavailable("TaskManager " + options_.taskManagerId + ": cannot listen on " +
                               requested + (why.empty() ? "" : " (" + why + ")") +
                               ": set taskmanager.host and taskmanager.rpc.port (0 picks a free "
                               "port)");
  };
  // gRPC says only that no address was added, and in its own log: ask the kernel why first.
  std::string why = bindError(options_.host, options_.port);
  if (!why.empty()) return bindFailure(why);
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(requested, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    if (server_) server_->Shutdown();
    server_ = nullptr;
    return bindFailure(bindError(options_.host, options_.port));
  }
  logger()->info("TaskManager {} listening on {} (data {}), {} slots, JobManager {}",
                 options_.taskManagerId, address(), taskManager_->dataAddress(),
                 taskManager_->numberOfSlots(), options_.jobManagerAddress);
  connection_ = std::thread([this] { connect(); });
  return Status::ok();
}

TaskManagerServer::~TaskManagerServer() { shutdown(); }

std::string TaskManagerServer::name() const {
  return "TaskManager " + options_.taskManagerId + " (" + address() + ")";
}

void TaskManagerServer::shutdown() {
  // A concurrent second caller waits until the first is done.
  std::call_once(shutdownOnce_, [this] { doShutdown(); });
}

void TaskManagerServer::doShutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (call_ != nullptr) call_->TryCancel();
  }
  changed_.notify_all();
  if (connection_.joinable()) connection_.join();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + milliseconds(200));
    server_->Wait();
    server_ = nullptr;
  }
  if (taskManager_) taskManager_->shutdown();
  // The final states of the cancelled tasks, while the JobManager may still listen.
  if (jobManagerGateway_) (void)jobManagerGateway_->flush(milliseconds(1000));
  if (!libraryDirectory_.empty()) {
    std::error_code error;
    std::filesystem::remove_all(libraryDirectory_, error);
  }
  {
    std::lock_guard lock(mu_);
    terminated_ = true;
  }
  changed_.notify_all();
}

Status TaskManagerServer::awaitTermination() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return terminated_ || !failure_.isOk(); });
  return failure_;
}

bool TaskManagerServer::isRegistered() const {
  std::lock_guard lock(mu_);
  return registered_;
}

int TaskManagerServer::registrations() const {
  std::lock_guard lock(mu_);
  return registrations_;
}

void TaskManagerServer::testingPauseHeartbeats(bool paused) {
  heartbeatsPaused_.store(paused, std::memory_order_relaxed);
}

void TaskManagerServer::connect() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Register, retrying with a growing backoff until the registration timeout.
    auto deadline = SteadyClock::now() + options_.registrationTimeout;
    milliseconds backoff = options_.initialRegistrationBackoff;
    std::string registrationId;
    for (int attempt = 1; !stopping_; ++attempt) {
      lock.unlock();
      auto registered = registerOnce(deadline);
      lock.lock();
      if (registered.isOk()) {
        registrationId = *registered;
        break;
      }
      if (stopping_) break;
      auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) {
        failure_ = Status::unavailable(
            name() + ": could not register with the JobManager at " + options_.jobManagerAddress +
            " within taskmanager.registration.timeout (" +
            std::to_string(options_.registrationTimeout.count()) + " ms, " +
            std::to_string(attempt) + " attempts): " + registered.status().message());
        logger()->error("{}", failure_.message());
        changed_.notify_all();
        return;
      }
      milliseconds wait = std::min(backoff, left);
      logger()->warn(
          "{}: registration attempt {} with the JobManager at {} failed: {}; retrying "
          "in {} ms",
          name(), attempt, options_.jobManagerAddress, registered.status().message(), wait.count());
      changed_.wait_for(lock, wait, [&] { return stopping_; });
      backoff = std::min(backoff * 2, options_.maxRegistrationBackoff);
    }
    if (stopping_) break;
    registered_ = true;
    ++registrations_;
    changed_.notify_all();
    logger()->info("{}: registered with the JobManager at {} as {}", name(),
                   options_.jobManagerAddress, registrationId);
    lock.unlock();
    std::string why = heartbeat(registrationId);
    lock.lock();
    registered_ = false;
    changed_.notify_all();
    if (stopping_) break;
    logger()->warn("{}: lost the JobManager at {} ({}): cancelling its tasks and registering again",
                   name(), options_.jobManagerAddress, why);
    lock.unlock();
    dropJobs();
    lock.lock();
  }
}

Result<std::string> TaskManagerServer::registerOnce(SteadyClock::time_point deadline) {
  rpc::RegisterTaskManagerRequest request;
  request.set_task_manager_id(options_.taskManagerId);
  request.set_rpc_address(address());
  request.set_data_address(taskManager_->dataAddress());
  request.set_number_of_slots(taskManager_->numberOfSlots());
  grpc::ClientContext context;
  auto callDeadline = std::min(deadline, SteadyClock::now() + options_.rpcTimeout);
  context.set_deadline(std::chrono::system_clock::now() + (callDeadline - SteadyClock::now()));
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::cancelled(name() + " is shutting down");
    call_ = &context;
  }
  rpc::RegisterTaskManagerResponse response;
  grpc::Status status = jobManagerStub_->RegisterTaskManager(&context, request, &response);
  {
    std::lock_guard lock(mu_);
    call_ = nullptr;
  }
  if (!status.ok()) return fromGrpcStatus(status);
  return response.registration_id();
}

std::string TaskManagerServer::heartbeat(const std::string& registrationId) {
  grpc::ClientContext context;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return "shutting down";
    call_ = &context;
  }
  auto stream = jobManagerStub_->Heartbeat(&context);
  rpc::TaskManagerHeartbeat beat;
  beat.set_registration_id(registrationId);

  // The reader: each answer proves the JobManager alive; the stream ending, that it is lost.
  std::mutex readMu;
  std::condition_variable readChanged;
  auto lastAnswer = SteadyClock::now();
  bool broken = false;
  std::thread reader([&] {
    rpc::HeartbeatAck ack;
    while (stream->Read(&ack)) {
      std::lock_guard lock(readMu);
      lastAnswer = SteadyClock::now();
    }
    std::lock_guard lock(readMu);
    broken = true;
    readChanged.notify_all();
  });

  std::string why;
  bool writable = stream->Write(beat);
  auto nextBeat = SteadyClock::now() + options_.heartbeatInterval;
  {
    std::unique_lock lock(readMu);
    while (why.empty()) {
      if (!writable) {
        why = "the heartbeat stream broke";
        break;
      }
      readChanged.wait_until(lock, nextBeat, [&] { return broken; });
      if (broken) {
        why = "the heartbeat stream broke";
        break;
      }
      {
        std::lock_guard serverLock(mu_);
        if (stopping_) why = "shutting down";
      }
      if (!why.empty()) break;
      auto now = SteadyClock::now();
      if (now < nextBeat) continue;
      nextBeat = now + options_.heartbeatInterval;
      if (heartbeatsPaused_.load(std::memory_order_relaxed)) {
        lastAnswer = now;  // a hung process checks nothing either
        continue;
      }
      if (now - lastAnswer > options_.heartbeatTimeout) {
        why = "no answer to heartbeats within heartbeat.timeout (" +
              std::to_string(options_.heartbeatTimeout.count()) + " ms)";
        break;
      }
      lock.unlock();
      writable = stream->Write(beat);
      lock.lock();
    }
  }
  context.TryCancel();
  reader.join();
  grpc::Status status = stream->Finish();
  {
    std::lock_guard lock(mu_);
    call_ = nullptr;
  }
  if (why == "the heartbeat stream broke" && !status.ok()) {
    why += ": " + fromGrpcStatus(status).toString();
  }
  return why;
}

void TaskManagerServer::dropJobs() {
  taskManager_->shutdown();
  jobManagerGateway_->clear();
  std::lock_guard lock(mu_);
  // A new JobManager may reuse job ids: resolve every job afresh. Libraries stay (by content).
  jobs_.clear();
}

Result<std::shared_ptr<const graph::JobGraph>> TaskManagerServer::jobGraph(
    const std::string& jobId, const JobInformation& info) {
  std::shared_ptr<JobEntry> entry;
  {
    std::lock_guard lock(mu_);
    std::shared_ptr<JobEntry>& slot = jobs_[jobId];
    if (!slot) slot = std::make_shared<JobEntry>();
    entry = slot;
  }
  std::lock_guard lock(entry->mu);
  if (entry->graph) return entry->graph;
  // Errors are not kept: a download that failed (the JobManager was briefly unreachable) is
  // retried by the next deployment.
  STROM_ASSIGN_OR_RETURN(std::string path, library(info.libraryKey));
  auto graph = resolver_(info, path);
  if (!graph.isOk())
    return graph.status().withContext("job '" + info.jobName + "' (" + jobId + ")");
  if (*graph == nullptr) {
    return Status::internal("job '" + info.jobName + "': the job graph resolver returned none");
  }
  entry->graph = *graph;
  return entry->graph;
}

Result<std::string> TaskManagerServer::library(const std::string& key) {
  if (!Sha256::isHexDigest(key)) {
    return Status::invalidArgument("job library key '" + key.substr(0, 80) +
                                   "' is not a sha256 (64 lowercase hex digits)");
  }
  std::shared_ptr<LibraryEntry> entry;
  {
    std::lock_guard lock(mu_);
    std::shared_ptr<LibraryEntry>& slot = libraries_[key];
    if (!slot) slot = std::make_shared<LibraryEntry>();
    entry = slot;
  }
  std::string path = libraryDirectory_ + "/" + key + ".so";
  std::lock_guard lock(entry->mu);
  if (entry->downloaded) return path;
  auto started = SteadyClock::now();
  STROM_RETURN_IF_ERROR(blobClient_->download(key, path));
  entry->downloaded = true;
  logger()->info("{}: downloaded job library {} in {} ms", name(), key,
                 std::chrono::duration_cast<milliseconds>(SteadyClock::now() - started).count());
  return path;
}

}  // namespace strom::runtime
