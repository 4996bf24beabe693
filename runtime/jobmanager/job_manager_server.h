#pragma once

#include <grpcpp/server.h>
#include <strom/config.h>
#include <strom/status.h>

#include <chrono>
#include <condition_variable>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "runtime/jobmanager/blob_service.h"
#include "runtime/jobmanager/blob_store.h"
#include "runtime/jobmanager/job_manager.h"
#include "runtime/jobmanager/remote_task_manager_gateway.h"

namespace strom::runtime {

/// The JobManager daemon's gRPC front: serves the JobManager and Blob services
/// (proto/strom.proto, docs/architecture.md) over a JobManager, gives it a
/// RemoteTaskManagerGateway for each TaskManager that registers, and watches the TaskManagers'
/// heartbeats. A TaskManager is lost, and unregistered from the JobManager with a cause that
/// names it and says why, when its heartbeat stream breaks (at once), when no heartbeat arrives
/// within `heartbeat.timeout`, or when it registers again.
///
/// Checkpoint messages from TaskManagers (acks, declines, ends of input) go to the JobManager as
/// they arrive. TriggerSavepoint runs JobManager::triggerSavepoint, which blocks until the
/// savepoint completes, on a thread of its own (one per savepoint in progress): the handler only
/// waits for it, and gives up when its client goes away or the server shuts down, so that the
/// acks the savepoint waits for, and every other call, are served meanwhile.
///
/// Thread contract: gRPC's threads run the handlers; one monitor thread checks heartbeat
/// deadlines; savepoint threads run triggerSavepoint. Public methods are thread-safe. The
/// JobManager must outlive the server; the server unregisters its TaskManagers from it when it
/// shuts down, and then waits for the savepoints in progress to end (the JobManager aborts them
/// once their job's tasks are gone, or at their timeout).
class JobManagerServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";                    // jobmanager.rpc.address
    int port = 6123;                                   // jobmanager.rpc.port; 0: ephemeral
    std::chrono::milliseconds heartbeatTimeout{5000};  // heartbeat.timeout
    std::chrono::milliseconds rpcTimeout{10000};       // pekko.ask.timeout
    /// How long a savepoint may take when its request says nothing
    /// (execution.checkpointing.timeout).
    std::chrono::milliseconds savepointTimeout{10 * 60 * 1000};

    /// Read the options from `configuration` (keys in docs/config.md); InvalidArgument naming
    /// the key for a bad value.
    static Result<Options> fromConfiguration(const Configuration& configuration);
  };

  /// Bind `host:port` and start serving, with a BlobStore made from `configuration`
  /// (blob.storage.directory). Unavailable naming the address and the key if the port cannot be
  /// bound (in use, or the address is not local).
  static Result<std::unique_ptr<JobManagerServer>> start(const Configuration& configuration,
                                                         JobManager& jobManager);
  ~JobManagerServer();
  JobManagerServer(const JobManagerServer&) = delete;
  JobManagerServer& operator=(const JobManagerServer&) = delete;

  /// Stop serving: end every call, stop watching heartbeats, unregister every TaskManager from
  /// the JobManager, and wait for the savepoint threads. Idempotent.
  void shutdown();

  /// The bound port (the ephemeral one when configured 0).
  int port() const { return port_; }
  /// "host:port" as bound.
  std::string address() const { return options_.host + ":" + std::to_string(port_); }
  BlobStore& blobStore() { return *blobStore_; }
  /// The number of registered TaskManagers not (yet) lost.
  int numberOfTaskManagers() const;
  bool isShuttingDown() const;

 private:
  class JobManagerService;
  /// One TriggerSavepoint in progress: its thread sets `result`.
  struct SavepointCall {
    std::mutex mu;
    std::condition_variable finished;
    std::optional<Result<std::string>> result;  // GUARDED_BY(mu); set once, at the end
  };
  struct SavepointThread {
    std::shared_ptr<SavepointCall> call;
    std::thread thread;
  };
  struct Registration {
    std::string registrationId;
    std::unique_ptr<RemoteTaskManagerGateway> gateway;
    std::chrono::steady_clock::time_point lastHeartbeat;
    /// The open heartbeat stream's context, to cancel when the TaskManager is lost.
    grpc::ServerContext* stream = nullptr;
    bool lost = false;
  };

  JobManagerServer(Options options, JobManager& jobManager, std::unique_ptr<BlobStore> blobStore);
  Status startServing();
  /// The monitor thread: loses TaskManagers whose heartbeats stopped.
  void monitorHeartbeats();
  /// Mark the TaskManager of `registrationId` lost and unregister it from the JobManager with
  /// `why`. Does nothing if it was lost already. REQUIRES: mu_ not held.
  void loseTaskManager(const std::string& registrationId, const std::string& why);

  /// Start JobManager::triggerSavepoint on a thread of its own (joining the threads of savepoints
  /// that ended); Unavailable if the server is shutting down.
  Result<std::shared_ptr<SavepointCall>> startSavepoint(const std::string& jobId,
                                                        const std::string& targetDirectory,
                                                        bool terminate,
                                                        std::chrono::milliseconds timeout);

  // Handlers (JobManagerService forwards to these).
  Result<std::string> registerTaskManager(const rpc::RegisterTaskManagerRequest& request);
  grpc::Status heartbeat(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<rpc::HeartbeatAck, rpc::TaskManagerHeartbeat>* stream);

  const Options options_;
  JobManager& jobManager_;
  std::unique_ptr<BlobStore> blobStore_;
  std::unique_ptr<BlobService> blobService_;
  std::unique_ptr<JobManagerService> jobManagerService_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable monitorWake_;
  bool shuttingDown_ = false;                                           // GUARDED_BY(mu_)
  int nextRegistration_ = 0;                                            // GUARDED_BY(mu_)
  std::map<std::string, std::unique_ptr<Registration>> registrations_;  // GUARDED_BY(mu_)
  std::list<SavepointThread> savepoints_;                               // GUARDED_BY(mu_)
  std::thread monitor_;
};

}  // namespace strom::runtime
