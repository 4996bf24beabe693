// Real job libraries through the control plane: the client side opens a job library and builds
// its JobGraph, uploads the library and submits the topology; a TaskManagerServer with
// jobLibraryResolver() downloads the library, loads it and builds the same graph, and the job
// runs; a nondeterministic build fails the deployment with both fingerprints. Links libstrom.so
// (target strom) only, as every process that loads job libraries must.

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "common/grpc_status.h"
#include "graph/job_graph_proto.h"
#include "graph/job_library.h"
#include "proto/strom.grpc.pb.h"
#include "runtime/jobmanager/job_manager.h"
#include "runtime/jobmanager/job_manager_server.h"
#include "runtime/jobmanager/job_status_proto.h"
#include "runtime/task/deployment_proto.h"
#include "runtime/taskmanager/blob_client.h"
#include "runtime/taskmanager/task_manager_server.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"

namespace strom::runtime {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

class JobLibraryRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Configuration configuration;
    configuration.set("jobmanager.rpc.port", "0");
    configuration.set("restart-strategy.type", "none");
    jobManager_ = std::make_unique<JobManager>(configuration);
    ASSERT_OK_AND_ASSIGN(server_, JobManagerServer::start(configuration, *jobManager_));
    auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = rpc::JobManager::NewStub(channel);
    blobs_ = std::make_unique<BlobClient>(channel, server_->address(), seconds(30));
    Configuration tmConfiguration;
    tmConfiguration.set("jobmanager.rpc.port", std::to_string(server_->port()));
    tmConfiguration.set("taskmanager.resource-id", "tm-loader");
    tmConfiguration.set("taskmanager.numberOfTaskSlots", "2");
    ASSERT_OK_AND_ASSIGN(taskManager_,
                         TaskManagerServer::start(tmConfiguration, jobLibraryResolver()));
    ASSERT_TRUE(strom::testing::eventually([&] { return server_->numberOfTaskManagers() >= 1; },
                                           seconds(20)));
    ASSERT_EQ(server_->numberOfTaskManagers(), 1);
  }
  void TearDown() override {
    if (taskManager_) taskManager_->shutdown();
    if (server_) server_->shutdown();
  }

  /// Upload `libraryPath`, submit `graph` with `args` through the JobManager service, and wait
  /// for the job to end.
  Result<JobStatusInfo> run(const std::string& libraryPath, const graph::JobGraph& graph,
                            std::vector<std::string> args) {
    STROM_ASSIGN_OR_RETURN(std::string key, blobs_->uploadFile(libraryPath));
    rpc::SubmitJobRequest request;
    graph::jobGraphToProto(graph, request.mutable_job_graph());
    JobInformation info;
    info.jobName = graph.jobName();
    info.libraryKey = key;
    info.args = std::move(args);
    info.configuration = graph.configuration();
    info.fingerprint = graph.fingerprint();
    jobInformationToProto(info, request.mutable_job_information());
    rpc::SubmitJobResponse submitted;
    {
      grpc::ClientContext context;
      STROM_RETURN_IF_ERROR(fromGrpcStatus(stub_->SubmitJob(&context, request, &submitted)));
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(70));
    rpc::WaitForJobRequest wait;
    wait.set_job_id(submitted.job_id());
    wait.set_timeout_ms(60000);
    rpc::JobStatusInfo done;
    STROM_RETURN_IF_ERROR(fromGrpcStatus(stub_->WaitForJob(&context, wait, &done)));
    return jobStatusInfoFromProto(done);
  }

  std::unique_ptr<JobManager> jobManager_;
  std::unique_ptr<JobManagerServer> server_;
  std::unique_ptr<rpc::JobManager::Stub> stub_;
  std::unique_ptr<BlobClient> blobs_;
  std::unique_ptr<TaskManagerServer> taskManager_;
};

TEST_F(JobLibraryRpcTest, jobFromALibraryRunsOnATaskManagerDaemon) {
  ASSERT_OK_AND_ASSIGN(auto library, graph::JobLibrary::open(STROM_TEST_PIPELINE_JOB));
  std::vector<std::string> args = {"--parallelism", "2"};
  ASSERT_OK_AND_ASSIGN(auto jobGraph, library->buildJobGraph(JobArgs(args), {}, "pipeline"));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, run(STROM_TEST_PIPELINE_JOB, *jobGraph, args));
  EXPECT_EQ(done.status, JobStatus::kFinished) << done.failure.toString();
}

TEST_F(JobLibraryRpcTest, nondeterministicBuildFailsTheDeploymentWithBothFingerprints) {
  ASSERT_OK_AND_ASSIGN(auto library, graph::JobLibrary::open(STROM_TEST_NONDETERMINISTIC_JOB));
  // This process's copy of the library has counted one build; the TaskManager loads its own
  // copy (another file), whose first build declares parallelism 1.
  ASSERT_OK_AND_ASSIGN(auto first, library->buildJobGraph(JobArgs(), {}, "nondeterministic"));
  ASSERT_OK_AND_ASSIGN(auto second, library->buildJobGraph(JobArgs(), {}, "nondeterministic"));
  ASSERT_NE(first->fingerprint(), second->fingerprint());
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, run(STROM_TEST_NONDETERMINISTIC_JOB, *second, {}));
  ASSERT_EQ(done.status, JobStatus::kFailed);
  EXPECT_EQ(done.failure.code(), StatusCode::kInvalidArgument) << done.failure.toString();
  EXPECT_THAT(done.failure.message(), HasSubstr("TaskManager tm-loader"));
  EXPECT_THAT(done.failure.message(), HasSubstr(first->fingerprint()));
  EXPECT_THAT(done.failure.message(), HasSubstr(second->fingerprint()));
}

TEST_F(JobLibraryRpcTest, fileThatIsNotAJobLibraryFailsTheDeployment) {
  ASSERT_OK_AND_ASSIGN(auto library, graph::JobLibrary::open(STROM_TEST_PIPELINE_JOB));
  ASSERT_OK_AND_ASSIGN(auto jobGraph, library->buildJobGraph(JobArgs(), {}, "pipeline"));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, run(STROM_TEST_NO_ENTRY, *jobGraph, {}));
  ASSERT_EQ(done.status, JobStatus::kFailed);
  EXPECT_THAT(done.failure.message(), HasSubstr("TaskManager tm-loader"));
  EXPECT_THAT(done.failure.message(), HasSubstr("STROM_JOB"));
}

}  // namespace
}  // namespace strom::runtime
