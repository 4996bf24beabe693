#include "cli/cluster_client.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "common/grpc_status.h"
#include "graph/job_graph_proto.h"
#include "runtime/taskmanager/blob_client.h"

namespace strom::cli {
namespace {

constexpr std::chrono::seconds kCallTimeout{30};

}  // namespace

ClusterClient::ClusterClient(std::string address, std::shared_ptr<grpc::Channel> channel)
    : address_(std::move(address)),
      channel_(std::move(channel)),
      jobManager_(rpc::JobManager::NewStub(channel_)) {}

Result<std::unique_ptr<ClusterClient>> ClusterClient::connect(const std::string& address,
                                                              std::chrono::milliseconds timeout) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + timeout)) {
    return Status::unavailable("cannot reach the JobManager at " + address + " within " +
                               std::to_string(timeout.count()) +
                               " ms (is strom-jobmanager running there? set it with -m "
                               "host:port or jobmanager.rpc.address/port)");
  }
  return std::unique_ptr<ClusterClient>(new ClusterClient(address, std::move(channel)));
}

std::unique_ptr<grpc::ClientContext> ClusterClient::context(
    std::chrono::milliseconds timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

Result<std::string> ClusterClient::uploadLibrary(const std::string& path) {
  return runtime::BlobClient(channel_, address_, std::chrono::minutes(5)).uploadFile(path);
}

Result<std::string> ClusterClient::submitJob(const graph::JobGraph& graph,
                                             const rpc::JobInformation& info) {
  rpc::SubmitJobRequest request;
  graph::jobGraphToProto(graph, request.mutable_job_graph());
  *request.mutable_job_information() = info;
  rpc::SubmitJobResponse response;
  auto ctx = context(kCallTimeout);
  STROM_RETURN_IF_ERROR(fromGrpcStatus(jobManager_->SubmitJob(ctx.get(), request, &response),
                                       "JobManager " + address_));
  return response.job_id();
}

Result<rpc::JobStatusInfo> ClusterClient::waitForJob(const std::string& jobId,
                                                     std::chrono::milliseconds timeout) {
  rpc::WaitForJobRequest request;
  request.set_job_id(jobId);
  request.set_timeout_ms(timeout.count());
  rpc::JobStatusInfo response;
  auto ctx = context(timeout + kCallTimeout);
  STROM_RETURN_IF_ERROR(fromGrpcStatus(jobManager_->WaitForJob(ctx.get(), request, &response),
                                       "JobManager " + address_));
  return response;
}

Result<std::vector<rpc::JobStatusInfo>> ClusterClient::listJobs() {
  rpc::ListJobsResponse response;
  auto ctx = context(kCallTimeout);
  STROM_RETURN_IF_ERROR(
      fromGrpcStatus(jobManager_->ListJobs(ctx.get(), rpc::ListJobsRequest(), &response),
                     "JobManager " + address_));
  return std::vector<rpc::JobStatusInfo>(response.jobs().begin(), response.jobs().end());
}

Status ClusterClient::cancelJob(const std::string& jobId) {
  rpc::JobIdRequest request;
  request.set_job_id(jobId);
  rpc::Empty response;
  auto ctx = context(kCallTimeout);
  return fromGrpcStatus(jobManager_->CancelJob(ctx.get(), request, &response),
                        "JobManager " + address_);
}

Result<std::string> ClusterClient::triggerSavepoint(const std::string& jobId,
                                                    const std::string& targetDirectory,
                                                    bool terminate,
                                                    std::chrono::milliseconds timeout) {
  rpc::TriggerSavepointRequest request;
  request.set_job_id(jobId);
  request.set_target_directory(targetDirectory);
  request.set_terminate(terminate);
  request.set_timeout_ms(timeout.count());
  rpc::TriggerSavepointResponse response;
  // The JobManager answers by the timeout; the margin covers the call itself.
  auto ctx = context(timeout + kCallTimeout);
  STROM_RETURN_IF_ERROR(fromGrpcStatus(jobManager_->TriggerSavepoint(ctx.get(), request, &response),
                                       "JobManager " + address_));
  return response.savepoint_path();
}

bool isTerminalJobStatus(rpc::JobStatus status) {
  return status == rpc::JOB_STATUS_FINISHED || status == rpc::JOB_STATUS_FAILED ||
         status == rpc::JOB_STATUS_CANCELED;
}

std::string jobStatusName(rpc::JobStatus status) {
  std::string name = rpc::JobStatus_Name(status);
  const std::string prefix = "JOB_STATUS_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

}  // namespace strom::cli
