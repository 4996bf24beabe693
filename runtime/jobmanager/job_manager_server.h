#pragma once

#include <grpcpp/server.h>
#include <strom/config.h>
#include <strom/status.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
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
/// Thread contract: gRPC's threads run the handlers; one monitor thread checks heartbeat
/// deadlines. Public methods are thread-safe. The JobManager must outlive the server; the
/// server unregisters its TaskManagers from it when it shuts down.
class JobManagerServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";                    // jobmanager.rpc.address
    int port = 6123;                                   // jobmanager.rpc.port; 0: ephemeral
    std::chrono::milliseconds heartbeatTimeout{5000};  // heartbeat.timeout
    std::chrono::milliseconds rpcTimeout{10000};       // pekko.ask.timeout

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

  /// Stop serving: end every call, stop watching heartbeats, and unregister every TaskManager
  /// from the JobManager. Idempotent.
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
  std::thread monitor_;
};

}  // namespace strom::runtime
