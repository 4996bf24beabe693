#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/server.h>
#include <strom/config.h>
#include <strom/status.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "graph/job_graph.h"
#include "proto/strom.grpc.pb.h"
#include "runtime/taskmanager/blob_client.h"
#include "runtime/taskmanager/remote_job_manager_gateway.h"
#include "runtime/taskmanager/task_manager.h"

namespace strom::runtime {

/// Rebuild a job's JobGraph, with its user code, from the job library downloaded to
/// `libraryPath` (the daemon's main loads the library, calls its `build` with `info`'s arguments
/// and configuration, and checks the topology's fingerprint against `info.fingerprint`). Called
/// once per job and TaskManager (more often only after an error); the error names the job and
/// the cause, and fails the deployment.
using JobGraphResolver = std::function<Result<std::shared_ptr<const graph::JobGraph>>(
    const JobInformation& info, const std::string& libraryPath)>;

/// Return the resolver a TaskManager daemon uses: open the job library at `libraryPath`
/// (graph::JobLibrary, which stays loaded), call its `build` with `info.args` and
/// `info.configuration`, build the JobGraph named `info.jobName`, and check its fingerprint
/// against `info.fingerprint`: InvalidArgument naming both fingerprints if they differ (the
/// program's build is not deterministic, or the TaskManager got other arguments). The process
/// must link libstrom.so (see JobLibrary).
JobGraphResolver jobLibraryResolver();

/// The TaskManager daemon's gRPC side: creates a TaskManager, serves the TaskManager service
/// (proto/strom.proto) for the JobManager, registers with the JobManager and keeps a heartbeat
/// stream open to it. Registration retries with a backoff until `taskmanager.registration.timeout`
/// (each failed attempt logged with the JobManager's address), then the server fails
/// (awaitTermination returns the error). When the JobManager is lost (the stream breaks or no
/// answer within `heartbeat.timeout`), the TaskManager cancels its tasks and registers again.
/// A deployed task's job library is downloaded once per key into a directory under
/// `io.tmp.dirs`, its sha256 checked, and turned into a JobGraph once per job by the resolver.
///
/// Thread contract: gRPC's threads run the service; one connection thread registers and sends
/// heartbeats (one more reads the answers while a stream is open). Public methods are
/// thread-safe.
class TaskManagerServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";  // taskmanager.host
    int port = 0;                    // taskmanager.rpc.port; 0: ephemeral
    std::string taskManagerId;       // taskmanager.resource-id; "" picks a random one
    std::string jobManagerAddress;   // jobmanager.rpc.address:jobmanager.rpc.port
    std::chrono::milliseconds registrationTimeout{5 * 60 *
                                                  1000};  // taskmanager.registration.timeout
    std::chrono::milliseconds initialRegistrationBackoff{
        100};  // cluster.registration.initial-timeout
    std::chrono::milliseconds maxRegistrationBackoff{30000};  // cluster.registration.max-timeout
    std::chrono::milliseconds heartbeatInterval{1000};        // heartbeat.interval
    std::chrono::milliseconds heartbeatTimeout{5000};         // heartbeat.timeout
    std::chrono::milliseconds rpcTimeout{10000};              // pekko.ask.timeout
    std::chrono::milliseconds blobTimeout{300000};            // blob.client.socket.timeout
    std::string tmpDirectory;  // the first of io.tmp.dirs; "" is the system's

    /// Read the options (keys in docs/config.md); InvalidArgument naming a bad key.
    static Result<Options> fromConfiguration(const Configuration& configuration);
  };

  /// Create the TaskManager (TaskManager::Options from `configuration`), bind the service and
  /// begin registering with the JobManager in the background. Unavailable naming the address if
  /// the port cannot be bound. `clock` (null: the system clock) must outlive the server.
  static Result<std::unique_ptr<TaskManagerServer>> start(const Configuration& configuration,
                                                          JobGraphResolver resolver,
                                                          const Clock* clock = nullptr);
  ~TaskManagerServer();
  TaskManagerServer(const TaskManagerServer&) = delete;
  TaskManagerServer& operator=(const TaskManagerServer&) = delete;

  /// Stop registering and heartbeating, stop serving, cancel every task and wait for them.
  /// Idempotent.
  void shutdown();
  /// Block until shutdown() was called (OK) or the server failed for good (the registration
  /// timed out: its error).
  Status awaitTermination();

  const std::string& taskManagerId() const { return options_.taskManagerId; }
  int port() const { return port_; }
  /// "host:port" of the TaskManager service.
  std::string address() const { return options_.host + ":" + std::to_string(port_); }
  bool isRegistered() const;
  /// How many times it registered with the JobManager so far.
  int registrations() const;
  TaskManager& taskManager() { return *taskManager_; }

  /// Test hook: stop (true) or resume (false) sending heartbeats and checking the JobManager's
  /// answers, as a hung process would, while the stream stays open.
  void testingPauseHeartbeats(bool paused);

 private:
  class TaskManagerService;
  struct JobEntry {
    std::mutex mu;
    std::shared_ptr<const graph::JobGraph> graph;  // GUARDED_BY(mu); null until resolved
  };
  struct LibraryEntry {
    std::mutex mu;
    bool downloaded = false;  // GUARDED_BY(mu)
  };

  TaskManagerServer(Options options, JobGraphResolver resolver);
  Status init(const Configuration& configuration, const Clock* clock);

  void doShutdown();
  /// The connection thread: register, heartbeat until the JobManager is lost, again.
  void connect();
  /// Register once; the registration id.
  Result<std::string> registerOnce(std::chrono::steady_clock::time_point deadline);
  /// Heartbeat on one stream until the JobManager is lost or the server stops; why it ended.
  std::string heartbeat(const std::string& registrationId);
  /// Cancel every task and forget the jobs: the JobManager that deployed them is gone.
  void dropJobs();

  /// Return the job's JobGraph, resolving it (and downloading its library) on first use.
  Result<std::shared_ptr<const graph::JobGraph>> jobGraph(const std::string& jobId,
                                                          const JobInformation& info);
  /// Download library `key` once into the library directory; its path.
  Result<std::string> library(const std::string& key);
  /// Return "TaskManager <id> (<address>)", the prefix of this server's errors.
  std::string name() const;

  Options options_;
  JobGraphResolver resolver_;
  std::string libraryDirectory_;
  std::shared_ptr<grpc::Channel> jobManagerChannel_;
  std::unique_ptr<rpc::JobManager::Stub> jobManagerStub_;
  std::unique_ptr<BlobClient> blobClient_;
  std::unique_ptr<RemoteJobManagerGateway> jobManagerGateway_;
  std::unique_ptr<TaskManager> taskManager_;
  std::unique_ptr<TaskManagerService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<bool> heartbeatsPaused_{false};  // relaxed: a test hook, read once per beat
  std::once_flag shutdownOnce_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;                // GUARDED_BY(mu_)
  bool terminated_ = false;              // GUARDED_BY(mu_)
  Status failure_;                       // GUARDED_BY(mu_)
  bool registered_ = false;              // GUARDED_BY(mu_)
  int registrations_ = 0;                // GUARDED_BY(mu_)
  grpc::ClientContext* call_ = nullptr;  // GUARDED_BY(mu_); the connection thread's call
  std::map<std::string, std::shared_ptr<JobEntry>> jobs_;           // GUARDED_BY(mu_)
  std::map<std::string, std::shared_ptr<LibraryEntry>> libraries_;  // GUARDED_BY(mu_)
  std::thread connection_;
};

}  // namespace strom::runtime
