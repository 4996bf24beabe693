// A JobManagerServer and TaskManagerServers in one process, talking real gRPC on loopback with
// ephemeral ports: jobs submitted through the JobManager service run to the oracle's result on
// two TaskManagers; a TaskManager shut down mid-job is lost at once (its heartbeat stream
// breaks), a hung one after heartbeat.timeout; deployment errors name the TaskManager; a port in
// use and an unreachable JobManager give clear errors.

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/base_sink.h>
#include <strom/strom.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/sha256.h"
#include "graph/job_graph.h"
#include "graph/job_graph_proto.h"
#include "graph/stream_graph.h"
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

using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

/// How long a job may take before the test gives up on it.
constexpr seconds kJobDeadline{60};
/// How long the endless source runs at most (so that a hang ends eventually).
constexpr seconds kSourceLimit{40};

/// Emits its subtask's share of 0, 1, 2, ... until cancelled, or at most kSourceLimit. Counts in
/// `running` the readers that emitted their first batch and are not destroyed yet.
class EndlessSource final : public Source<int64_t> {
 public:
  explicit EndlessSource(std::shared_ptr<std::atomic<int>> running)
      : running_(std::move(running)) {}
  std::unique_ptr<SourceReader<int64_t>> createReader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(subtask, parallelism, running_);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(int subtask, int parallelism, std::shared_ptr<std::atomic<int>> running)
        : next_(subtask),
          step_(parallelism),
          stopAt_(SteadyClock::now() + kSourceLimit),
          running_(std::move(running)) {}
    ~Reader() override {
      if (counted_) running_->fetch_sub(1, std::memory_order_relaxed);
    }
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      if (SteadyClock::now() > stopAt_) return InputStatus::kEndOfInput;
      for (size_t i = 0; i < output.maxRows(); ++i, next_ += step_) output.push(next_);
      if (!counted_) {
        counted_ = true;
        running_->fetch_add(1, std::memory_order_relaxed);  // relaxed: a test's progress count
      }
      return InputStatus::kMoreAvailable;
    }

   private:
    int64_t next_;
    int64_t step_;
    SteadyClock::time_point stopAt_;
    std::shared_ptr<std::atomic<int>> running_;
    bool counted_ = false;
  };
  std::shared_ptr<std::atomic<int>> running_;
};

/// A log sink that keeps every line of the "taskmanager" and "jobmanager" loggers.
class CapturedLog {
 public:
  CapturedLog() : sink_(std::make_shared<Sink>()) {
    for (const char* module : {"taskmanager", "jobmanager"}) {
      moduleLogger(module)->sinks().push_back(sink_);
    }
  }
  ~CapturedLog() {
    for (const char* module : {"taskmanager", "jobmanager"}) {
      auto& sinks = moduleLogger(module)->sinks();
      sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }
  }
  std::string text() { return sink_->text(); }

 private:
  class Sink final : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::string text() {
      std::lock_guard lock(mutex_);
      return text_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
      text_.append(message.payload.data(), message.payload.size());
      text_ += '\n';
    }
    void flush_() override {}

   private:
    std::string text_;  // GUARDED_BY(mutex_)
  };
  std::shared_ptr<Sink> sink_;
};

class ClusterRpcTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& tm : taskManagers_) tm->shutdown();
    if (server_) server_->shutdown();
    taskManagers_.clear();
    server_.reset();
    jobManager_.reset();
  }

  /// Start a JobManager (restarts off unless `configuration` says otherwise) and its server on
  /// an ephemeral port.
  void startJobManager(Configuration configuration = {}) {
    configuration.set("jobmanager.rpc.port", "0");
    if (!configuration.contains("restart-strategy.type")) {
      configuration.set("restart-strategy.type", "none");
    }
    configuration_ = configuration;
    jobManager_ = std::make_unique<JobManager>(configuration);
    ASSERT_OK_AND_ASSIGN(server_, JobManagerServer::start(configuration, *jobManager_));
    address_ = server_->address();
    auto channel = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    stub_ = rpc::JobManager::NewStub(channel);
    blobs_ = std::make_unique<BlobClient>(channel, address_, seconds(30));
  }

  /// Start a TaskManagerServer of one slot registering with the JobManager.
  TaskManagerServer* startTaskManager(std::string id, Configuration extra = {}) {
    Configuration configuration = configuration_;
    configuration.set("jobmanager.rpc.port", std::to_string(server_->port()));
    configuration.set("taskmanager.resource-id", id);
    configuration.set("taskmanager.numberOfTaskSlots", "1");
    configuration.addAll(extra);
    auto server = TaskManagerServer::start(
        configuration, [this](const JobInformation& info, const std::string& libraryPath) {
          return resolve(info, libraryPath);
        });
    EXPECT_TRUE(server.isOk()) << server.status().toString();
    if (!server.isOk()) return nullptr;
    taskManagers_.push_back(std::move(server).value());
    return taskManagers_.back().get();
  }

  /// The test's resolver: the graph the test built for the job's name, after checking that the
  /// library arrived intact.
  Result<std::shared_ptr<const graph::JobGraph>> resolve(const JobInformation& info,
                                                         const std::string& libraryPath) {
    STROM_ASSIGN_OR_RETURN(std::string digest, Sha256::hexOfFile(libraryPath));
    if (digest != info.libraryKey) return Status::corruption("library digest differs");
    resolutions_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    auto it = graphs_.find(info.jobName);
    if (it == graphs_.end()) return Status::notFound("no graph named '" + info.jobName + "'");
    if (it->second.second.isOk()) return it->second.first;
    return it->second.second;
  }

  bool waitForTaskManagers(int n) {
    return strom::testing::eventually([&] { return server_->numberOfTaskManagers() == n; },
                                      seconds(20));
  }

  /// Build a job graph at `parallelism` from `env` and make the resolver return it (or `error`).
  std::shared_ptr<const graph::JobGraph> graphOf(const StreamExecutionEnvironment& env,
                                                 const std::string& name, int parallelism,
                                                 Status error = Status::ok(),
                                                 Configuration jobConfiguration = {}) {
    auto streamGraph = graph::StreamGraph::create(env.transformations(), parallelism, 128);
    EXPECT_TRUE(streamGraph.isOk()) << streamGraph.status().toString();
    auto jobGraph = graph::JobGraph::create(*streamGraph, name, std::move(jobConfiguration));
    EXPECT_TRUE(jobGraph.isOk()) << jobGraph.status().toString();
    std::lock_guard lock(mu_);
    graphs_[name] = {*jobGraph, std::move(error)};
    return *jobGraph;
  }

  /// Upload a stand-in job library and submit `graph` through the JobManager service.
  Result<std::string> submit(const graph::JobGraph& graph) {
    std::string library = "job library of " + graph.jobName();
    std::istringstream bytes(library);
    std::string key = Sha256::hexOf(library);
    STROM_RETURN_IF_ERROR(blobs_->upload(key, static_cast<int64_t>(library.size()), bytes));
    rpc::SubmitJobRequest request;
    graph::jobGraphToProto(graph, request.mutable_job_graph());
    JobInformation info;
    info.jobName = graph.jobName();
    info.libraryKey = key;
    info.args = {"--test"};
    info.configuration = graph.configuration();
    info.fingerprint = graph.fingerprint();
    jobInformationToProto(info, request.mutable_job_information());
    return submitRequest(request);
  }

  Result<std::string> submitRequest(const rpc::SubmitJobRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(10));
    rpc::SubmitJobResponse response;
    STROM_RETURN_IF_ERROR(fromGrpcStatus(stub_->SubmitJob(&context, request, &response)));
    return response.job_id();
  }

  /// Wait through the JobManager service until the job ends; its final status.
  Result<JobStatusInfo> waitForJob(const std::string& jobId, milliseconds timeout = kJobDeadline) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout + seconds(10));
    rpc::WaitForJobRequest request;
    request.set_job_id(jobId);
    request.set_timeout_ms(timeout.count());
    rpc::JobStatusInfo response;
    STROM_RETURN_IF_ERROR(fromGrpcStatus(stub_->WaitForJob(&context, request, &response)));
    return jobStatusInfoFromProto(response);
  }

  Result<JobStatusInfo> jobStatus(const std::string& jobId) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(10));
    rpc::JobIdRequest request;
    request.set_job_id(jobId);
    rpc::JobStatusInfo response;
    STROM_RETURN_IF_ERROR(fromGrpcStatus(stub_->GetJobStatus(&context, request, &response)));
    return jobStatusInfoFromProto(response);
  }

  Configuration configuration_;
  std::unique_ptr<JobManager> jobManager_;
  std::unique_ptr<JobManagerServer> server_;
  std::string address_;
  std::unique_ptr<rpc::JobManager::Stub> stub_;
  std::unique_ptr<BlobClient> blobs_;
  std::vector<std::unique_ptr<TaskManagerServer>> taskManagers_;
  std::atomic<int> resolutions_{0};  // relaxed: counted, read after the job
  std::mutex mu_;
  std::map<std::string, std::pair<std::shared_ptr<const graph::JobGraph>, Status>>
      graphs_;  // GUARDED_BY(mu_)
};

/// The oracle of the keyed sum job: per key (v % kKeys), the sum of v over 1..kCount.
constexpr int64_t kCount = 20000;
constexpr int64_t kKeys = 13;
std::map<int64_t, int64_t> expectedSums() {
  std::map<int64_t, int64_t> sums;
  for (int64_t v = 1; v <= kCount; ++v) sums[v % kKeys] += v;
  return sums;
}

struct KeyedSum {
  int64_t key = 0;
  int64_t sum = 0;
  STROM_FIELDS(key, sum)
};

/// Drops every record.
class DiscardSink final : public Sink<int64_t> {
 public:
  std::unique_ptr<SinkWriter<int64_t>> createWriter(int, int) const override {
    return std::make_unique<Writer>();
  }

 private:
  class Writer final : public SinkWriter<int64_t> {
   public:
    Status write(const RecordBatch<int64_t>&) override { return Status::ok(); }
  };
};

TEST_F(ClusterRpcTest, jobRunsToCompletionOnTwoTaskManagers) {
  startJobManager();
  ASSERT_NE(startTaskManager("tm-a"), nullptr);
  ASSERT_NE(startTaskManager("tm-b"), nullptr);
  ASSERT_TRUE(waitForTaskManagers(2));

  StreamExecutionEnvironment env;
  auto collected = std::make_shared<CollectedRecords<KeyedSum>>();
  env.fromSequence(1, kCount)
      .map([](const int64_t& v) {
        return KeyedSum{v % kKeys, v};
      })
      .keyBy([](const KeyedSum& s) { return s.key; })
      .reduce([](const KeyedSum& a, const KeyedSum& b) {
        return KeyedSum{a.key, a.sum + b.sum};
      })
      .sinkTo(std::make_shared<CollectSink<KeyedSum>>(collected), "Collect");
  // Parallelism 2 on two one-slot TaskManagers: every exchange crosses the network.
  auto graph = graphOf(env, "keyed sums", 2);
  ASSERT_OK_AND_ASSIGN(std::string jobId, submit(*graph));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, waitForJob(jobId));
  ASSERT_EQ(done.status, JobStatus::kFinished) << done.failure.toString();
  EXPECT_EQ(done.jobName, "keyed sums");

  std::vector<KeyedSum> records = collected->records();
  EXPECT_EQ(static_cast<int64_t>(records.size()), kCount);
  std::map<int64_t, int64_t> finalSums;  // the running sums only grow: the largest is the total
  for (const KeyedSum& s : records) finalSums[s.key] = std::max(finalSums[s.key], s.sum);
  EXPECT_EQ(finalSums, expectedSums());
  // One resolution per TaskManager for the whole job.
  EXPECT_EQ(resolutions_.load(std::memory_order_relaxed), 2);

  // Listed, and the status is there after the wait.
  grpc::ClientContext context;
  rpc::ListJobsResponse list;
  ASSERT_TRUE(stub_->ListJobs(&context, rpc::ListJobsRequest(), &list).ok());
  ASSERT_EQ(list.jobs_size(), 1);
  EXPECT_EQ(list.jobs(0).job_id(), jobId);
  ASSERT_OK_AND_ASSIGN(JobStatusInfo status, jobStatus(jobId));
  EXPECT_EQ(status.status, JobStatus::kFinished);

  // A second job on the same cluster (and the same library) runs too.
  StreamExecutionEnvironment env2;
  auto collected2 = std::make_shared<CollectedRecords<int64_t>>();
  env2.fromSequence(1, 1000).rebalance().sinkTo(std::make_shared<CollectSink<int64_t>>(collected2),
                                                "Collect");
  auto graph2 = graphOf(env2, "rebalanced", 2);
  ASSERT_OK_AND_ASSIGN(std::string jobId2, submit(*graph2));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done2, waitForJob(jobId2));
  ASSERT_EQ(done2.status, JobStatus::kFinished) << done2.failure.toString();
  EXPECT_EQ(collected2->records().size(), 1000u);
}

TEST_F(ClusterRpcTest, badRequestsGetClearErrors) {
  startJobManager();
  StreamExecutionEnvironment env;
  env.fromSequence(1, 10).sinkTo(
      std::make_shared<CollectSink<int64_t>>(std::make_shared<CollectedRecords<int64_t>>()));
  auto graph = graphOf(env, "never uploaded", 1);
  rpc::SubmitJobRequest request;
  graph::jobGraphToProto(*graph, request.mutable_job_graph());
  JobInformation info;
  info.jobName = "never uploaded";
  info.libraryKey = Sha256::hexOf("not uploaded");
  jobInformationToProto(info, request.mutable_job_information());
  auto unknownLibrary = submitRequest(request);
  ASSERT_EQ(unknownLibrary.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(unknownLibrary.status().message(), HasSubstr(info.libraryKey));
  EXPECT_THAT(unknownLibrary.status().message(), HasSubstr("not in the JobManager's blob store"));

  std::string blob = "some library";
  std::istringstream blobBytes(blob);
  ASSERT_OK(blobs_->upload(Sha256::hexOf(blob), static_cast<int64_t>(blob.size()), blobBytes));
  request.mutable_job_information()->set_library_key(Sha256::hexOf(blob));
  request.mutable_job_information()->set_fingerprint("0123");
  auto mismatch = submitRequest(request);
  ASSERT_EQ(mismatch.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(mismatch.status().message(), HasSubstr("fingerprint 0123 differs"));

  request.mutable_job_graph()->mutable_vertices(0)->set_parallelism(0);
  auto badGraph = submitRequest(request);
  ASSERT_EQ(badGraph.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(badGraph.status().message(), HasSubstr("parallelism 0"));

  auto unknownJob = jobStatus("no-such-job");
  ASSERT_EQ(unknownJob.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(unknownJob.status().message(), HasSubstr("no-such-job"));
  ASSERT_EQ(waitForJob("no-such-job").status().code(), StatusCode::kNotFound);
  grpc::ClientContext context;
  rpc::JobIdRequest cancel;
  cancel.set_job_id("no-such-job");
  rpc::Empty empty;
  EXPECT_EQ(stub_->CancelJob(&context, cancel, &empty).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ClusterRpcTest, deploymentErrorNamesTheTaskManagerAndCause) {
  startJobManager();
  ASSERT_NE(startTaskManager("tm-bad"), nullptr);
  ASSERT_TRUE(waitForTaskManagers(1));
  StreamExecutionEnvironment env;
  env.fromSequence(1, 10).sinkTo(
      std::make_shared<CollectSink<int64_t>>(std::make_shared<CollectedRecords<int64_t>>()));
  auto graph = graphOf(env, "mismatch", 1,
                       Status::invalidArgument("fingerprint mismatch: build is not deterministic"));
  ASSERT_OK_AND_ASSIGN(std::string jobId, submit(*graph));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, waitForJob(jobId));
  ASSERT_EQ(done.status, JobStatus::kFailed);
  EXPECT_THAT(done.failure.message(), HasSubstr("TaskManager tm-bad"));
  EXPECT_THAT(done.failure.message(), HasSubstr("fingerprint mismatch"));
}

TEST_F(ClusterRpcTest, taskManagerShutDownMidJobIsLostAtOnce) {
  Configuration configuration;
  // Far longer than the test waits: only the broken stream can explain a prompt detection.
  configuration.set("heartbeat.timeout", "60 s");
  startJobManager(configuration);
  CapturedLog log;
  ASSERT_NE(startTaskManager("tm-stays"), nullptr);
  TaskManagerServer* leaving = startTaskManager("tm-leaves");
  ASSERT_NE(leaving, nullptr);
  ASSERT_TRUE(waitForTaskManagers(2));

  StreamExecutionEnvironment env;
  auto running = std::make_shared<std::atomic<int>>(0);
  env.fromSource<int64_t>(std::make_shared<EndlessSource>(running), "Endless")
      .keyBy([](const int64_t& v) { return v % 16; })
      .sinkTo(std::make_shared<DiscardSink>(), "Discard");
  auto graph = graphOf(env, "endless", 2);
  ASSERT_OK_AND_ASSIGN(std::string jobId, submit(*graph));
  // Both sources emit: the job runs on both TaskManagers.
  ASSERT_TRUE(strom::testing::eventually(
      [&] { return running->load(std::memory_order_relaxed) == 2; }, seconds(20)));

  auto before = SteadyClock::now();
  leaving->shutdown();
  ASSERT_TRUE(waitForTaskManagers(1));
  auto detection = SteadyClock::now() - before;
  EXPECT_LT(detection, seconds(10));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, waitForJob(jobId));
  EXPECT_EQ(done.status, JobStatus::kFailed);
  EXPECT_THAT(log.text(), HasSubstr("TaskManager tm-leaves at"));
  EXPECT_THAT(log.text(), HasSubstr("its heartbeat stream broke"));
}

TEST_F(ClusterRpcTest, hungTaskManagerIsLostAfterTheHeartbeatTimeout) {
  Configuration configuration;
  configuration.set("heartbeat.interval", "50 ms");
  configuration.set("heartbeat.timeout", "1 s");
  startJobManager(configuration);
  ASSERT_NE(startTaskManager("tm-ok"), nullptr);
  TaskManagerServer* hung = startTaskManager("tm-hung");
  ASSERT_NE(hung, nullptr);
  ASSERT_TRUE(waitForTaskManagers(2));

  StreamExecutionEnvironment env;
  auto running = std::make_shared<std::atomic<int>>(0);
  env.fromSource<int64_t>(std::make_shared<EndlessSource>(running), "Endless")
      .keyBy([](const int64_t& v) { return v % 16; })
      .sinkTo(std::make_shared<DiscardSink>(), "Discard");
  auto graph = graphOf(env, "endless", 2);
  ASSERT_OK_AND_ASSIGN(std::string jobId, submit(*graph));
  // Both sources emit: the job runs on both TaskManagers.
  ASSERT_TRUE(strom::testing::eventually(
      [&] { return running->load(std::memory_order_relaxed) == 2; }, seconds(20)));

  auto before = SteadyClock::now();
  hung->testingPauseHeartbeats(true);
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, waitForJob(jobId));
  auto detection = SteadyClock::now() - before;
  EXPECT_EQ(done.status, JobStatus::kFailed);
  EXPECT_THAT(done.failure.message(), HasSubstr("tm-hung"));
  EXPECT_THAT(done.failure.message(), HasSubstr("no heartbeat within heartbeat.timeout"));
  EXPECT_GE(detection, milliseconds(900));

  // Awake again, it registers anew, and the cluster runs the next job on both TaskManagers.
  hung->testingPauseHeartbeats(false);
  ASSERT_TRUE(strom::testing::eventually(
      [&] { return hung->registrations() >= 2 && hung->isRegistered(); }, seconds(20)));
  ASSERT_TRUE(waitForTaskManagers(2));
  StreamExecutionEnvironment env2;
  auto collected = std::make_shared<CollectedRecords<int64_t>>();
  env2.fromSequence(1, 500).rebalance().sinkTo(std::make_shared<CollectSink<int64_t>>(collected));
  auto graph2 = graphOf(env2, "after", 2);
  ASSERT_OK_AND_ASSIGN(std::string jobId2, submit(*graph2));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done2, waitForJob(jobId2));
  ASSERT_EQ(done2.status, JobStatus::kFinished) << done2.failure.toString();
  EXPECT_EQ(collected->records().size(), 500u);
}

TEST_F(ClusterRpcTest, taskManagerCancelsItsTasksAndRegistersWithANewJobManager) {
  startJobManager();
  TaskManagerServer* tm = startTaskManager("tm-survivor");
  ASSERT_NE(tm, nullptr);
  ASSERT_TRUE(waitForTaskManagers(1));
  StreamExecutionEnvironment env;
  auto running = std::make_shared<std::atomic<int>>(0);
  auto collected = std::make_shared<CollectedRecords<int64_t>>();
  env.fromSource<int64_t>(std::make_shared<EndlessSource>(running), "Endless")
      .sinkTo(std::make_shared<DiscardSink>(), "Discard");
  auto graph = graphOf(env, "endless", 1);
  ASSERT_OK_AND_ASSIGN(std::string jobId, submit(*graph));
  ASSERT_TRUE(strom::testing::eventually(
      [&] { return running->load(std::memory_order_relaxed) == 1; }, seconds(20)));

  // The JobManager goes away; a new one comes up on the same port.
  int port = server_->port();
  server_->shutdown();
  server_.reset();
  jobManager_.reset();
  ASSERT_TRUE(strom::testing::eventually([&] { return !tm->isRegistered(); }, seconds(20)));
  // Its task is cancelled (and its reader gone) without a JobManager asking.
  ASSERT_TRUE(strom::testing::eventually(
      [&] { return running->load(std::memory_order_relaxed) == 0; }, seconds(20)));
  Configuration configuration = configuration_;
  configuration.set("jobmanager.rpc.port", std::to_string(port));
  jobManager_ = std::make_unique<JobManager>(configuration);
  ASSERT_OK_AND_ASSIGN(server_, JobManagerServer::start(configuration, *jobManager_));
  ASSERT_TRUE(waitForTaskManagers(1));
  ASSERT_TRUE(strom::testing::eventually([&] { return tm->registrations() == 2; }, seconds(20)));

  // The new JobManager runs a job on it.
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  stub_ = rpc::JobManager::NewStub(channel);
  blobs_ = std::make_unique<BlobClient>(channel, server_->address(), seconds(30));
  StreamExecutionEnvironment env2;
  env2.fromSequence(1, 100).sinkTo(std::make_shared<CollectSink<int64_t>>(collected));
  auto graph2 = graphOf(env2, "after restart", 1);
  ASSERT_OK_AND_ASSIGN(std::string jobId2, submit(*graph2));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, waitForJob(jobId2));
  ASSERT_EQ(done.status, JobStatus::kFinished) << done.failure.toString();
  EXPECT_EQ(collected->records().size(), 100u);
}

TEST_F(ClusterRpcTest, jobRestartsOnAnotherTaskManagerWhenItsTaskManagerIsLost) {
  Configuration configuration;
  configuration.set("restart-strategy.type", "fixed-delay");
  configuration.set("restart-strategy.fixed-delay.attempts", "3");
  configuration.set("restart-strategy.fixed-delay.delay", "10 ms");
  startJobManager(configuration);
  TaskManagerServer* first = startTaskManager("tm-first");
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(waitForTaskManagers(1));

  // Runs until released; the first attempt on tm-first, the second on tm-second.
  StreamExecutionEnvironment env;
  auto running = std::make_shared<std::atomic<int>>(0);
  auto collected = std::make_shared<CollectedRecords<int64_t>>();
  env.fromSource<int64_t>(std::make_shared<EndlessSource>(running), "Endless")
      .filter([](const int64_t& v) { return v % 1000000 == 0; })
      .sinkTo(std::make_shared<DiscardSink>(), "Discard");
  auto graph = graphOf(env, "restarting", 1);
  ASSERT_OK_AND_ASSIGN(std::string jobId, submit(*graph));
  ASSERT_TRUE(strom::testing::eventually(
      [&] { return running->load(std::memory_order_relaxed) == 1; }, seconds(20)));
  ASSERT_NE(startTaskManager("tm-second"), nullptr);
  ASSERT_TRUE(waitForTaskManagers(2));

  first->shutdown();
  ASSERT_TRUE(strom::testing::eventually(
      [&] {
        auto status = jobStatus(jobId);
        return status.isOk() && status->restarts == 1 && status->status == JobStatus::kRunning;
      },
      seconds(20)));
  // The new attempt's source runs (on tm-second: tm-first is gone).
  ASSERT_TRUE(strom::testing::eventually(
      [&] { return running->load(std::memory_order_relaxed) == 1; }, seconds(20)));
  grpc::ClientContext context;
  rpc::JobIdRequest cancel;
  cancel.set_job_id(jobId);
  rpc::Empty empty;
  ASSERT_TRUE(stub_->CancelJob(&context, cancel, &empty).ok());
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, waitForJob(jobId));
  EXPECT_EQ(done.status, JobStatus::kCanceled) << done.failure.toString();
  EXPECT_EQ(done.restarts, 1);
}

TEST_F(ClusterRpcTest, libraryThatArrivesCorruptedFailsTheDeployment) {
  startJobManager();
  StreamExecutionEnvironment env;
  env.fromSequence(1, 10).sinkTo(
      std::make_shared<CollectSink<int64_t>>(std::make_shared<CollectedRecords<int64_t>>()));
  auto graph = graphOf(env, "corrupted library", 1);
  // No TaskManager yet: the job waits for a slot while its library rots on the JobManager's disk.
  ASSERT_OK_AND_ASSIGN(std::string jobId, submit(*graph));
  std::string key = Sha256::hexOf("job library of corrupted library");
  ASSERT_OK_AND_ASSIGN(std::string path, server_->blobStore().path(key));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "job library of c0rrupted library";
  ASSERT_NE(startTaskManager("tm-careful"), nullptr);
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, waitForJob(jobId));
  ASSERT_EQ(done.status, JobStatus::kFailed);
  EXPECT_EQ(done.failure.code(), StatusCode::kCorruption) << done.failure.toString();
  EXPECT_THAT(done.failure.message(), HasSubstr("TaskManager tm-careful"));
  EXPECT_THAT(done.failure.message(), HasSubstr("downloading blob " + key));
  EXPECT_THAT(done.failure.message(), HasSubstr("the bytes have sha256"));
  EXPECT_EQ(resolutions_.load(std::memory_order_relaxed), 0);
}

TEST_F(ClusterRpcTest, portInUseIsAClearError) {
  startJobManager();
  Configuration configuration;
  configuration.set("jobmanager.rpc.port", std::to_string(server_->port()));
  JobManager other(configuration);
  auto second = JobManagerServer::start(configuration, other);
  ASSERT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(server_->address()));
  EXPECT_THAT(second.status().message(), HasSubstr("in use"));
  EXPECT_THAT(second.status().message(), HasSubstr("jobmanager.rpc.port"));

  ASSERT_NE(startTaskManager("tm-first"), nullptr);
  Configuration tmConfiguration = configuration_;
  tmConfiguration.set("jobmanager.rpc.port", std::to_string(server_->port()));
  tmConfiguration.set("taskmanager.rpc.port", std::to_string(taskManagers_[0]->port()));
  auto tm = TaskManagerServer::start(
      tmConfiguration,
      [](const JobInformation&, const std::string&)
          -> Result<std::shared_ptr<const graph::JobGraph>> { return Status::internal("unused"); });
  ASSERT_EQ(tm.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(tm.status().message(), HasSubstr("in use"));
  EXPECT_THAT(tm.status().message(), HasSubstr("taskmanager.rpc.port"));
}

/// A loopback port nothing listens on (bound, then closed).
int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

TEST_F(ClusterRpcTest, unreachableJobManagerGivesLoggedRetriesThenAnError) {
  CapturedLog log;
  int port = freePort();
  Configuration configuration;
  configuration.set("jobmanager.rpc.port", std::to_string(port));
  configuration.set("taskmanager.resource-id", "tm-alone");
  configuration.set("taskmanager.registration.timeout", "1 s");
  configuration.set("cluster.registration.initial-timeout", "50 ms");
  configuration.set("cluster.registration.max-timeout", "200 ms");
  auto before = SteadyClock::now();
  ASSERT_OK_AND_ASSIGN(auto tm, TaskManagerServer::start(configuration, nullptr));
  Status failure = tm->awaitTermination();
  auto elapsed = SteadyClock::now() - before;
  ASSERT_EQ(failure.code(), StatusCode::kUnavailable) << failure.toString();
  std::string address = "127.0.0.1:" + std::to_string(port);
  EXPECT_THAT(failure.message(), HasSubstr("tm-alone"));
  EXPECT_THAT(failure.message(), HasSubstr(address));
  EXPECT_THAT(failure.message(), HasSubstr("taskmanager.registration.timeout"));
  EXPECT_GE(elapsed, milliseconds(900));
  EXPECT_LT(elapsed, seconds(10));
  std::string text = log.text();
  EXPECT_THAT(text, HasSubstr("registration attempt 1 with the JobManager at " + address));
  EXPECT_THAT(text, HasSubstr("registration attempt 2 with the JobManager at " + address));
  tm->shutdown();
}

TEST_F(ClusterRpcTest, badConfigurationNamesTheKey) {
  Configuration configuration;
  configuration.set("heartbeat.interval", "5 s");
  configuration.set("heartbeat.timeout", "1 s");
  auto tm = TaskManagerServer::start(configuration, nullptr);
  ASSERT_EQ(tm.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(tm.status().message(), HasSubstr("heartbeat.interval"));
  configuration.set("jobmanager.rpc.port", "70000");
  JobManager jobManager;
  auto server = JobManagerServer::start(configuration, jobManager);
  ASSERT_EQ(server.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("jobmanager.rpc.port"));
}

/// Emits its subtask's share of startAt, startAt + 1, ... below `limit` (value v on subtask
/// v % parallelism), then ends; from `pauseAt` on it emits nothing (but does not end). Its
/// position (the next value) is its checkpointed state. Counts the values emitted in `emitted`.
class CountingSource final : public Source<int64_t> {
 public:
  CountingSource(int64_t startAt, int64_t limit, int64_t pauseAt,
                 std::shared_ptr<std::atomic<int64_t>> emitted)
      : startAt_(startAt), limit_(limit), pauseAt_(pauseAt), emitted_(std::move(emitted)) {}
  std::unique_ptr<SourceReader<int64_t>> createReader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(subtask, parallelism, startAt_, limit_, pauseAt_, emitted_);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(int subtask, int parallelism, int64_t startAt, int64_t limit, int64_t pauseAt,
           std::shared_ptr<std::atomic<int64_t>> emitted)
        : subtask_(subtask),
          next_(subtask + (std::max<int64_t>(0, startAt - subtask) + parallelism - 1) /
                              parallelism * parallelism),
          step_(parallelism),
          limit_(limit),
          pauseAt_(std::min(limit, pauseAt)),
          emitted_(std::move(emitted)) {}
    Result<InputStatus> pollNext(Output<int64_t>& output) override {
      int64_t count = 0;
      for (; count < static_cast<int64_t>(output.maxRows()) && next_ < pauseAt_; ++count) {
        output.push(next_);
        next_ += step_;
      }
      emitted_->fetch_add(count, std::memory_order_relaxed);  // relaxed: a progress count
      return next_ >= limit_ ? InputStatus::kEndOfInput : InputStatus::kMoreAvailable;
    }
    Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
      return std::vector<SourceSplitState>{
          SourceSplitState{"counter-" + std::to_string(subtask_), std::to_string(next_)}};
    }
    Status restoreState(std::vector<SourceSplitState> splits) override {
      if (splits.size() != 1) {
        return Status::invalidArgument("counter " + std::to_string(subtask_) + " restores " +
                                       std::to_string(splits.size()) + " splits");
      }
      next_ = std::stoll(splits[0].position);
      return Status::ok();
    }

   private:
    int subtask_;
    int64_t next_;
    int64_t step_;
    int64_t limit_;
    int64_t pauseAt_;
    std::shared_ptr<std::atomic<int64_t>> emitted_;
  };
  int64_t startAt_;
  int64_t limit_;
  int64_t pauseAt_;
  std::shared_ptr<std::atomic<int64_t>> emitted_;
};

/// Keeps, per key, the largest running sum written (the running sums only grow: the largest
/// is the key's total so far).
class MaxSumSink final : public Sink<KeyedSum> {
 public:
  struct Sums {
    std::mutex mu;
    std::map<int64_t, int64_t> byKey;  // GUARDED_BY(mu)
  };
  explicit MaxSumSink(std::shared_ptr<Sums> sums) : sums_(std::move(sums)) {}
  std::unique_ptr<SinkWriter<KeyedSum>> createWriter(int, int) const override {
    return std::make_unique<Writer>(sums_);
  }

 private:
  class Writer final : public SinkWriter<KeyedSum> {
   public:
    explicit Writer(std::shared_ptr<Sums> sums) : sums_(std::move(sums)) {}
    Status write(const RecordBatch<KeyedSum>& batch) override {
      std::lock_guard lock(sums_->mu);
      for (const KeyedSum& s : batch) {
        int64_t& max = sums_->byKey[s.key];
        max = std::max(max, s.sum);
      }
      return Status::ok();
    }

   private:
    std::shared_ptr<Sums> sums_;
  };
  std::shared_ptr<Sums> sums_;
};

// Checkpoints over gRPC: a keyed job on two TaskManager daemons takes periodic checkpoints
// (acks over AcknowledgeCheckpoint), a savepoint through TriggerSavepoint, then stops with a
// savepoint (terminate) and ends FINISHED; a new job started from that savepoint
// (execution.savepoint.path) continues exactly where it stopped: the keyed sums over both runs
// are exact. The first run pauses at kPause before it is stopped and the second starts there,
// so the sums check the restored keyed state whether or not sources restore their positions.
TEST_F(ClusterRpcTest, savepointStopAndRestoreOverGrpcGiveExactSums) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("strom-rpc-savepoint-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  Configuration cluster;
  cluster.set("state.checkpoints.dir", (dir / "checkpoints").string());
  cluster.set("state.savepoints.dir", (dir / "savepoints").string());
  startJobManager(cluster);
  ASSERT_NE(startTaskManager("tm-a"), nullptr);
  ASSERT_NE(startTaskManager("tm-b"), nullptr);
  ASSERT_TRUE(waitForTaskManagers(2));

  constexpr int64_t kPause = 1000000;  // the first run emits this much, then waits to be stopped
  constexpr int64_t kLimit = 3000000;
  auto emitted = std::make_shared<std::atomic<int64_t>>(0);
  auto sums = std::make_shared<MaxSumSink::Sums>();
  auto build = [&](int64_t startAt, int64_t pauseAt) {
    auto env = std::make_unique<StreamExecutionEnvironment>();
    env->fromSource(std::shared_ptr<const Source<int64_t>>(
                        std::make_shared<CountingSource>(startAt, kLimit, pauseAt, emitted)),
                    "Counter")
        .uid("counter")
        .map([](const int64_t& v) {
          return KeyedSum{v % kKeys, v};
        })
        .keyBy([](const KeyedSum& s) { return s.key; })
        .reduce([](const KeyedSum& a, const KeyedSum& b) {
          return KeyedSum{a.key, a.sum + b.sum};
        })
        .uid("sums")
        .sinkTo(std::make_shared<MaxSumSink>(sums), "Max");
    return env;
  };
  Configuration job;
  job.set("execution.checkpointing.interval", "100 ms");
  job.set("state.checkpoints.dir", (dir / "checkpoints").string());
  job.set("state.savepoints.dir", (dir / "savepoints").string());

  auto first = build(0, kPause);
  auto graph = graphOf(*first, "counting", 2, Status::ok(), job);
  ASSERT_OK_AND_ASSIGN(std::string jobId, submit(*graph));
  ASSERT_TRUE(strom::testing::eventually(
      [&] { return emitted->load(std::memory_order_relaxed) > 100000; }, kJobDeadline));

  auto savepoint = [&](bool terminate, const std::string& target) -> Result<std::string> {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kJobDeadline);
    rpc::TriggerSavepointRequest request;
    request.set_job_id(jobId);
    request.set_target_directory(target);
    request.set_terminate(terminate);
    request.set_timeout_ms(std::chrono::milliseconds(kJobDeadline).count());
    rpc::TriggerSavepointResponse response;
    STROM_RETURN_IF_ERROR(fromGrpcStatus(stub_->TriggerSavepoint(&context, request, &response)));
    return response.savepoint_path();
  };
  // A savepoint into a directory of the request's; the job goes on. The source emits before
  // every task runs (the JobManager refuses a savepoint until then), so try until it is taken.
  std::optional<Result<std::string>> attempt;
  ASSERT_TRUE(strom::testing::eventually(
      [&] {
        attempt = savepoint(false, (dir / "kept").string());
        return attempt->isOk() || attempt->status().code() != StatusCode::kFailedPrecondition;
      },
      kJobDeadline));
  ASSERT_OK_AND_ASSIGN(std::string kept, std::move(*attempt));
  EXPECT_TRUE(fs::exists(fs::path(kept) / "_metadata")) << kept;
  EXPECT_EQ(fs::path(kept).parent_path(), dir / "kept");
  ASSERT_OK_AND_ASSIGN(JobStatusInfo running, jobStatus(jobId));
  EXPECT_EQ(running.status, JobStatus::kRunning);
  // Periodic checkpoints completed through the TaskManagers' acks.
  ASSERT_TRUE(strom::testing::eventually(
      [&] {
        std::error_code error;
        for (const auto& entry : fs::directory_iterator(dir / "checkpoints" / jobId, error)) {
          if (entry.path().filename().string().rfind("chk-", 0) == 0 &&
              fs::exists(entry.path() / "_metadata")) {
            return true;
          }
        }
        return false;
      },
      kJobDeadline));

  // Stop with a savepoint into state.savepoints.dir once the sources paused: the job ends
  // FINISHED.
  ASSERT_TRUE(strom::testing::eventually(
      [&] { return emitted->load(std::memory_order_relaxed) == kPause; }, kJobDeadline));
  ASSERT_OK_AND_ASSIGN(std::string stopped, savepoint(true, ""));
  EXPECT_EQ(fs::path(stopped).parent_path(), dir / "savepoints");
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done, waitForJob(jobId));
  ASSERT_EQ(done.status, JobStatus::kFinished) << done.failure.toString();
  ASSERT_EQ(emitted->load(std::memory_order_relaxed), kPause);

  // A savepoint of a job that ended is an error naming it.
  auto late = savepoint(false, "");
  ASSERT_FALSE(late.isOk());
  EXPECT_THAT(late.status().message(), HasSubstr(jobId));

  // Restore: the new job continues from the savepoint and ends at kLimit.
  Configuration restore = job;
  restore.set("execution.savepoint.path", stopped);
  auto second = build(kPause, kLimit);
  auto graph2 = graphOf(*second, "counting", 2, Status::ok(), restore);
  ASSERT_OK_AND_ASSIGN(std::string jobId2, submit(*graph2));
  ASSERT_OK_AND_ASSIGN(JobStatusInfo done2, waitForJob(jobId2));
  ASSERT_EQ(done2.status, JobStatus::kFinished) << done2.failure.toString();
  std::map<int64_t, int64_t> expected;
  for (int64_t v = 0; v < kLimit; ++v) expected[v % kKeys] += v;
  std::lock_guard lock(sums->mu);
  EXPECT_EQ(sums->byKey, expected);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace strom::runtime
