#pragma once

#include <strom/status.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "graph/job_graph.h"
#include "proto/strom.grpc.pb.h"

namespace strom::cli {

/// The `strom` CLI's connection to a JobManager: uploads job libraries, submits jobs and asks
/// about them, over the JobManager and Blob gRPC services. Every call has a deadline, and its
/// errors name the JobManager's address. Not thread-safe.
class ClusterClient {
 public:
  /// Connect to the JobManager at `address` ("host:port"), waiting at most `timeout`: Unavailable
  /// "cannot reach the JobManager at <address> ..." if it does not answer.
  static Result<std::unique_ptr<ClusterClient>> connect(const std::string& address,
                                                        std::chrono::milliseconds timeout);

  /// Upload the file at `path` to the blob store (runtime::BlobClient: in chunks, with its sha256
  /// and size); return its key (the sha256).
  Result<std::string> uploadLibrary(const std::string& path);
  /// Submit `graph`'s topology with `info`; return the job id.
  Result<std::string> submitJob(const graph::JobGraph& graph, const rpc::JobInformation& info);
  /// Wait up to `timeout` for the job to end; return its status then.
  Result<rpc::JobStatusInfo> waitForJob(const std::string& jobId,
                                        std::chrono::milliseconds timeout);
  Result<std::vector<rpc::JobStatusInfo>> listJobs();
  Status cancelJob(const std::string& jobId);
  /// Take a savepoint of the job into a new directory below `targetDirectory` (empty: the
  /// cluster's state.savepoints.dir) and wait for it, at most `timeout`; return its directory.
  /// With `terminate`, the job then ends (stop with a savepoint).
  Result<std::string> triggerSavepoint(const std::string& jobId, const std::string& targetDirectory,
                                       bool terminate, std::chrono::milliseconds timeout);

 private:
  ClusterClient(std::string address, std::shared_ptr<grpc::Channel> channel);
  std::unique_ptr<grpc::ClientContext> context(std::chrono::milliseconds timeout) const;

  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<rpc::JobManager::Stub> jobManager_;
};

/// Return whether `status` (a JobStatus) is terminal: FINISHED, FAILED or CANCELED.
bool isTerminalJobStatus(rpc::JobStatus status);
/// Return the name of `status` as Flink prints it ("RUNNING").
std::string jobStatusName(rpc::JobStatus status);

}  // namespace strom::cli
