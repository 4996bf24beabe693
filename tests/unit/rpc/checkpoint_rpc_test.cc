// Checkpoints over the control plane: the remote gateways against recording fakes of the
// TaskManager and JobManager services (calls arrive in the order they were made, a notification
// never overtakes a trigger, the TaskManager's error comes back from a trigger, acks carry their
// handles unchanged), and the real servers over loopback (TaskManagerServer forwards triggers and
// notifications to its TaskManager, JobManagerServer checks what TaskManagers send, and a
// savepoint's error comes back to the client while other calls are served).

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/grpc_status.h"
#include "proto/strom.grpc.pb.h"
#include "runtime/jobmanager/job_manager.h"
#include "runtime/jobmanager/job_manager_server.h"
#include "runtime/jobmanager/remote_task_manager_gateway.h"
#include "runtime/task/deployment_proto.h"
#include "runtime/taskmanager/remote_job_manager_gateway.h"
#include "runtime/taskmanager/task_manager_server.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"

namespace strom::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

bool equal(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

/// Serve `service` on an ephemeral loopback port; its "host:port" in `address`.
std::unique_ptr<grpc::Server> serve(grpc::Service* service, std::string* address) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  auto server = builder.BuildAndStart();
  *address = "127.0.0.1:" + std::to_string(port);
  return server;
}

/// A TaskManager service that records the calls it gets, in order, and notices two calls in
/// progress at once. It can hold the first notification until released, and fails the trigger
/// of checkpoint `failingCheckpoint` with its own error.
class RecordingTaskManager final : public rpc::TaskManager::Service {
 public:
  static constexpr int64_t kFailingCheckpoint = 13;

  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  bool overlapped() {
    std::lock_guard lock(mu_);
    return overlapped_;
  }
  void holdFirstNotification() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void release() {
    std::lock_guard lock(mu_);
    hold_ = false;
    changed_.notify_all();
  }
  int held() {
    std::lock_guard lock(mu_);
    return held_;
  }
  checkpoint::proto::CheckpointOptions lastOptions() {
    std::lock_guard lock(mu_);
    return lastOptions_;
  }

  grpc::Status CancelTask(grpc::ServerContext*, const rpc::ExecutionAttemptId* request,
                          rpc::Empty*) override {
    Call call(*this, "cancel " + executionAttemptIdFromProto(*request).toString());
    return grpc::Status::OK;
  }
  grpc::Status TriggerCheckpoint(grpc::ServerContext*, const rpc::TriggerCheckpointRequest* request,
                                 rpc::Empty*) override {
    Call call(*this, "trigger " + std::to_string(request->checkpoint_id()));
    {
      std::lock_guard lock(mu_);
      lastOptions_ = request->options();
    }
    if (request->checkpoint_id() == kFailingCheckpoint) {
      return toGrpcStatus(Status::failedPrecondition(
          "task " + executionAttemptIdFromProto(request->attempt_id()).toString() +
          " is not running here"));
    }
    return grpc::Status::OK;
  }
  grpc::Status NotifyCheckpointComplete(grpc::ServerContext*,
                                        const rpc::CheckpointNotification* request,
                                        rpc::Empty*) override {
    Call call(*this, "complete " + std::to_string(request->checkpoint_id()));
    maybeHold();
    return grpc::Status::OK;
  }
  grpc::Status NotifyCheckpointAborted(grpc::ServerContext*,
                                       const rpc::CheckpointNotification* request,
                                       rpc::Empty*) override {
    Call call(*this, "aborted " + std::to_string(request->checkpoint_id()));
    maybeHold();
    return grpc::Status::OK;
  }

 private:
  /// Records a call for its duration.
  class Call {
   public:
    Call(RecordingTaskManager& tm, std::string what) : tm_(tm) {
      std::lock_guard lock(tm_.mu_);
      if (tm_.inProgress_ > 0) tm_.overlapped_ = true;
      ++tm_.inProgress_;
      tm_.calls_.push_back(std::move(what));
    }
    ~Call() {
      std::lock_guard lock(tm_.mu_);
      --tm_.inProgress_;
    }

   private:
    RecordingTaskManager& tm_;
  };

  void maybeHold() {
    std::unique_lock lock(mu_);
    if (!hold_ || held_ > 0) return;
    ++held_;
    changed_.wait_for(lock, seconds(30), [&] { return !hold_; });
  }

  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> calls_;                    // GUARDED_BY(mu_)
  int inProgress_ = 0;                                // GUARDED_BY(mu_)
  bool overlapped_ = false;                           // GUARDED_BY(mu_)
  bool hold_ = false;                                 // GUARDED_BY(mu_)
  int held_ = 0;                                      // GUARDED_BY(mu_)
  checkpoint::proto::CheckpointOptions lastOptions_;  // GUARDED_BY(mu_)
};

TEST(CheckpointRpcTest, callsReachTheTaskManagerInOrderAndATriggerCarriesItsError) {
  RecordingTaskManager fake;
  std::string address;
  auto server = serve(&fake, &address);
  ASSERT_NE(server, nullptr);
  RemoteTaskManagerGateway gateway("tm-fake", address, "", 1, seconds(20));
  ExecutionAttemptId a{"job-1", 0, 0, 0};
  ExecutionAttemptId b{"job-1", 1, 0, 0};

  checkpoint::proto::CheckpointOptions options;
  options.set_savepoint(true);
  options.set_terminate(true);
  ASSERT_OK(gateway.triggerCheckpoint(a, 1, 1000, options));
  EXPECT_TRUE(equal(fake.lastOptions(), options));

  // The notification of 1 is held by the TaskManager; the trigger of 2, made after it, must wait
  // behind it: it is queued, not sent beside it.
  fake.holdFirstNotification();
  gateway.notifyCheckpointComplete(a, 1);  // returns at once
  ASSERT_TRUE(strom::testing::eventually([&] { return fake.held() == 1; }));
  std::future<Status> trigger = std::async(std::launch::async, [&] {
    return gateway.triggerCheckpoint(a, 2, 2000, checkpoint::proto::CheckpointOptions());
  });
  ASSERT_TRUE(strom::testing::eventually([&] { return gateway.testingQueuedCalls() == 1; }));
  EXPECT_EQ(trigger.wait_for(milliseconds(0)), std::future_status::timeout);
  fake.release();
  ASSERT_EQ(trigger.wait_for(seconds(20)), std::future_status::ready);
  ASSERT_OK(trigger.get());

  gateway.cancelTask(b);
  gateway.notifyCheckpointAborted(a, 2);
  Status failed = gateway.triggerCheckpoint(a, RecordingTaskManager::kFailingCheckpoint, 3000,
                                            checkpoint::proto::CheckpointOptions());
  ASSERT_EQ(failed.code(), StatusCode::kFailedPrecondition) << failed.toString();
  EXPECT_THAT(failed.message(), HasSubstr("task " + a.toString() + " is not running here"));
  gateway.notifyCheckpointComplete(b, 14);
  ASSERT_TRUE(strom::testing::eventually([&] { return fake.calls().size() == 7; }));
  EXPECT_THAT(fake.calls(),
              ElementsAre("trigger 1", "complete 1", "trigger 2", "cancel " + b.toString(),
                          "aborted 2", "trigger 13", "complete 14"));
  EXPECT_FALSE(fake.overlapped());
  server->Shutdown();
}

/// A JobManager service that records what TaskManagers send, in order.
class RecordingJobManager final : public rpc::JobManager::Service {
 public:
  struct Received {
    std::string what;
    std::string taskManagerId;
    std::unique_ptr<google::protobuf::Message> message;
  };

  std::vector<std::string> calls() {
    std::lock_guard lock(mu_);
    std::vector<std::string> calls;
    for (const Received& received : received_) calls.push_back(received.what);
    return calls;
  }
  template <typename Message>
  Message message(size_t i) {
    std::lock_guard lock(mu_);
    return dynamic_cast<const Message&>(*received_.at(i).message);
  }
  std::string taskManagerIdOf(size_t i) {
    std::lock_guard lock(mu_);
    return received_.at(i).taskManagerId;
  }

  grpc::Status UpdateTaskExecutionState(grpc::ServerContext*,
                                        const rpc::TaskExecutionState* request,
                                        rpc::Empty*) override {
    record("state " + rpc::ExecutionState_Name(request->state()), request->task_manager_id(),
           *request);
    return grpc::Status::OK;
  }
  grpc::Status AcknowledgeCheckpoint(grpc::ServerContext*,
                                     const rpc::AcknowledgeCheckpointRequest* request,
                                     rpc::Empty*) override {
    record("ack " + std::to_string(request->checkpoint_id()), request->task_manager_id(), *request);
    return grpc::Status::OK;
  }
  grpc::Status DeclineCheckpoint(grpc::ServerContext*, const rpc::DeclineCheckpointRequest* request,
                                 rpc::Empty*) override {
    record("decline " + std::to_string(request->checkpoint_id()), request->task_manager_id(),
           *request);
    return grpc::Status::OK;
  }
  grpc::Status ReportEndOfInput(grpc::ServerContext*, const rpc::ReportEndOfInputRequest* request,
                                rpc::Empty*) override {
    record("end of input", request->task_manager_id(), *request);
    return grpc::Status::OK;
  }

 private:
  template <typename Message>
  void record(std::string what, const std::string& taskManagerId, const Message& message) {
    std::lock_guard lock(mu_);
    received_.push_back(
        Received{std::move(what), taskManagerId, std::make_unique<Message>(message)});
  }

  std::mutex mu_;
  std::vector<Received> received_;  // GUARDED_BY(mu_)
};

TEST(CheckpointRpcTest, taskManagerMessagesReachTheJobManagerInOrderWithTheirContent) {
  RecordingJobManager fake;
  std::string address;
  auto server = serve(&fake, &address);
  ASSERT_NE(server, nullptr);
  RemoteJobManagerGateway gateway(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()),
                                  address, "tm-7", seconds(20));
  ExecutionAttemptId attempt{"job-2", 3, 1, 4};

  checkpoint::proto::SubtaskState state;
  state.set_subtask_index(1);
  checkpoint::proto::StateHandle* handle = state.add_handles();
  handle->set_path("chk-5/v3-s1-a4.state");
  handle->set_offset(0);
  handle->set_length(321);
  handle->set_checksum(0x0123456789abcdefULL);
  handle->set_kind("keyed");
  handle->set_key_group_start(64);
  handle->set_key_group_end(127);
  handle->set_operator_uid("sum");
  handle->set_subtask_index(1);

  gateway.updateTaskExecutionState(TaskExecutionState{attempt, ExecutionState::kRunning, {}, {}});
  gateway.acknowledgeCheckpoint(attempt, 5, state);
  gateway.declineCheckpoint(attempt, 6, Status::ioError("disk full"));
  gateway.reportEndOfInput(attempt);
  gateway.acknowledgeCheckpoint(attempt, 7, checkpoint::proto::SubtaskState());
  gateway.updateTaskExecutionState(TaskExecutionState{attempt, ExecutionState::kFinished, {}, {}});
  ASSERT_TRUE(gateway.flush(seconds(20)));
  EXPECT_THAT(fake.calls(), ElementsAre("state EXECUTION_STATE_RUNNING", "ack 5", "decline 6",
                                        "end of input", "ack 7", "state EXECUTION_STATE_FINISHED"));
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(fake.taskManagerIdOf(i), "tm-7") << i;

  ASSERT_OK_AND_ASSIGN(
      CheckpointAcknowledgement ack,
      checkpointAcknowledgementFromProto(fake.message<rpc::AcknowledgeCheckpointRequest>(1)));
  EXPECT_EQ(ack.attemptId, attempt);
  EXPECT_EQ(ack.checkpointId, 5);
  EXPECT_TRUE(equal(ack.state, state)) << ack.state.DebugString();
  ASSERT_OK_AND_ASSIGN(CheckpointDecline decline,
                       checkpointDeclineFromProto(fake.message<rpc::DeclineCheckpointRequest>(2)));
  EXPECT_EQ(decline.checkpointId, 6);
  EXPECT_EQ(decline.reason.code(), StatusCode::kIOError);
  EXPECT_EQ(decline.reason.message(), "disk full");
  EXPECT_EQ(executionAttemptIdFromProto(fake.message<rpc::ReportEndOfInputRequest>(3).attempt_id()),
            attempt);
  server->Shutdown();
}

/// A real JobManager and TaskManager daemon's servers over loopback.
class CheckpointServersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Configuration configuration;
    configuration.set("jobmanager.rpc.port", "0");
    configuration.set("restart-strategy.type", "none");
    jobManager_ = std::make_unique<JobManager>(configuration);
    ASSERT_OK_AND_ASSIGN(jobManagerServer_, JobManagerServer::start(configuration, *jobManager_));
    stub_ = rpc::JobManager::NewStub(
        grpc::CreateChannel(jobManagerServer_->address(), grpc::InsecureChannelCredentials()));
    configuration.set("jobmanager.rpc.port", std::to_string(jobManagerServer_->port()));
    configuration.set("taskmanager.resource-id", "tm-a");
    configuration.set("taskmanager.numberOfTaskSlots", "1");
    ASSERT_OK_AND_ASSIGN(
        taskManagerServer_,
        TaskManagerServer::start(configuration,
                                 [](const JobInformation&, const std::string&)
                                     -> Result<std::shared_ptr<const graph::JobGraph>> {
                                   return Status::notFound("no jobs in this test");
                                 }));
  }
  void TearDown() override {
    if (taskManagerServer_) taskManagerServer_->shutdown();
    if (jobManagerServer_) jobManagerServer_->shutdown();
  }

  Status call(const std::function<grpc::Status(grpc::ClientContext*)>& rpc) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(20));
    return fromGrpcStatus(rpc(&context));
  }

  std::unique_ptr<JobManager> jobManager_;
  std::unique_ptr<JobManagerServer> jobManagerServer_;
  std::unique_ptr<TaskManagerServer> taskManagerServer_;
  std::unique_ptr<rpc::JobManager::Stub> stub_;
};

TEST_F(CheckpointServersTest, taskManagerServerForwardsTriggersAndNotifications) {
  RemoteTaskManagerGateway gateway("tm-a", taskManagerServer_->address(), "", 1, seconds(20));
  ExecutionAttemptId unknown{"no-such-job", 0, 0, 0};
  // The TaskManager runs no such task: its error comes back, named.
  Status status = gateway.triggerCheckpoint(unknown, 1, 0, checkpoint::proto::CheckpointOptions());
  ASSERT_FALSE(status.isOk());
  EXPECT_THAT(status.message(), HasSubstr("TaskManager tm-a"));
  EXPECT_THAT(status.message(), HasSubstr("checkpoint 1 of " + unknown.toString()));
  // A malformed trigger is refused before it reaches the TaskManager.
  checkpoint::proto::CheckpointOptions terminateOnly;
  terminateOnly.set_terminate(true);
  Status malformed = gateway.triggerCheckpoint(unknown, 2, 0, terminateOnly);
  ASSERT_EQ(malformed.code(), StatusCode::kInvalidArgument) << malformed.toString();
  EXPECT_THAT(malformed.message(), HasSubstr("terminate"));
  // Notifications of unknown tasks are ignored; a trigger after them still answers.
  gateway.notifyCheckpointComplete(unknown, 1);
  gateway.notifyCheckpointAborted(unknown, 2);
  EXPECT_FALSE(
      gateway.triggerCheckpoint(unknown, 3, 0, checkpoint::proto::CheckpointOptions()).isOk());
  EXPECT_EQ(gateway.testingQueuedCalls(), 0u);
}

TEST_F(CheckpointServersTest, jobManagerServerChecksTaskManagerMessages) {
  rpc::AcknowledgeCheckpointRequest ack;
  executionAttemptIdToProto(ExecutionAttemptId{"job-1", 0, 0, 0}, ack.mutable_attempt_id());
  ack.set_checkpoint_id(3);
  ack.set_task_manager_id("tm-x");
  ack.mutable_subtask_state()->add_handles()->set_path("chk-3/v0-s0-a0.state");
  rpc::Empty empty;
  // Acks of a job the JobManager does not run are dropped, not errors.
  ASSERT_OK(
      call([&](grpc::ClientContext* c) { return stub_->AcknowledgeCheckpoint(c, ack, &empty); }));
  ack.mutable_subtask_state()->mutable_handles(0)->set_path("/etc/passwd");
  Status absolute =
      call([&](grpc::ClientContext* c) { return stub_->AcknowledgeCheckpoint(c, ack, &empty); });
  ASSERT_EQ(absolute.code(), StatusCode::kInvalidArgument) << absolute.toString();
  EXPECT_THAT(absolute.message(), HasSubstr("from TaskManager 'tm-x'"));
  EXPECT_THAT(absolute.message(), HasSubstr("'/etc/passwd' has an absolute path"));

  rpc::DeclineCheckpointRequest decline;
  *decline.mutable_attempt_id() = ack.attempt_id();
  decline.set_checkpoint_id(3);
  decline.set_task_manager_id("tm-x");
  ASSERT_OK(
      call([&](grpc::ClientContext* c) { return stub_->DeclineCheckpoint(c, decline, &empty); }));
  decline.set_checkpoint_id(0);
  Status badId =
      call([&](grpc::ClientContext* c) { return stub_->DeclineCheckpoint(c, decline, &empty); });
  ASSERT_EQ(badId.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(badId.message(), HasSubstr("checkpoint id 0"));

  rpc::ReportEndOfInputRequest end;
  *end.mutable_attempt_id() = ack.attempt_id();
  ASSERT_OK(call([&](grpc::ClientContext* c) { return stub_->ReportEndOfInput(c, end, &empty); }));
  end.mutable_attempt_id()->set_job_id("");
  ASSERT_EQ(
      call([&](grpc::ClientContext* c) { return stub_->ReportEndOfInput(c, end, &empty); }).code(),
      StatusCode::kInvalidArgument);
}

TEST_F(CheckpointServersTest, savepointOfAnUnknownJobFailsNamingIt) {
  rpc::TriggerSavepointRequest request;
  request.set_job_id("0123456789abcdef0123456789abcdef");
  request.set_target_directory("/tmp/savepoints");
  rpc::TriggerSavepointResponse response;
  Status status =
      call([&](grpc::ClientContext* c) { return stub_->TriggerSavepoint(c, request, &response); });
  ASSERT_FALSE(status.isOk());
  EXPECT_THAT(status.message(), HasSubstr(request.job_id()));
  EXPECT_TRUE(response.savepoint_path().empty());

  request.set_job_id("");
  Status noJob =
      call([&](grpc::ClientContext* c) { return stub_->TriggerSavepoint(c, request, &response); });
  ASSERT_EQ(noJob.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(noJob.message(), HasSubstr("no job id"));
  request.set_job_id("j");
  request.set_timeout_ms(-5);
  Status negative =
      call([&](grpc::ClientContext* c) { return stub_->TriggerSavepoint(c, request, &response); });
  ASSERT_EQ(negative.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(negative.message(), HasSubstr("negative timeout"));
}

}  // namespace
}  // namespace strom::runtime
