// RemoteTaskManagerGateway against TaskManagers that are not there: nothing listens (refused at
// once), or a listener that accepts connections and never answers (the call's deadline ends it);
// close() cancels a call in progress and fails a queued trigger; background calls (cancels,
// checkpoint notifications) never block their caller.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "runtime/jobmanager/remote_task_manager_gateway.h"
#include "testutil/status_matchers.h"

namespace strom::runtime {
namespace {

using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

/// A loopback TCP listener that accepts connections (the kernel completes them) but never reads
/// or writes: a hung process.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd_, 16) != 0) {
      ADD_FAILURE() << "cannot listen";
    }
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

/// A loopback port nothing listens on.
std::string refusingAddress() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

TaskDeploymentDescriptor someTask() {
  TaskDeploymentDescriptor d;
  d.attemptId = ExecutionAttemptId{"job-1", 0, 0, 0};
  auto info = std::make_shared<JobInformation>();
  info->jobName = "job";
  d.jobInformation = info;
  return d;
}

TEST(RemoteGatewayTest, unreachableTaskManagerFailsAtOnceNamingIt) {
  std::string address = refusingAddress();
  RemoteTaskManagerGateway gateway("tm-gone", address, "", 1, seconds(30));
  auto before = SteadyClock::now();
  Status status = gateway.submitTask(someTask());
  EXPECT_LT(SteadyClock::now() - before, seconds(10));
  ASSERT_EQ(status.code(), StatusCode::kUnavailable) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr("TaskManager tm-gone (" + address + ")"));
  EXPECT_THAT(status.message(), HasSubstr("deploying job-1/0#0@0"));
  // Background calls return at once; the destructor waits for them.
  gateway.cancelTask(ExecutionAttemptId{"job-1", 0, 0, 0});
  gateway.releaseJob("job-1", /*jobEnded=*/true);
}

TEST(RemoteGatewayTest, hungTaskManagerFailsAtTheDeadline) {
  SilentListener hung;
  RemoteTaskManagerGateway gateway("tm-hung", hung.address(), "", 1, milliseconds(300));
  auto before = SteadyClock::now();
  Status status = gateway.checkJobFits("job", {});
  auto elapsed = SteadyClock::now() - before;
  ASSERT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr("TaskManager tm-hung"));
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, seconds(10));
  auto cancelStart = SteadyClock::now();
  gateway.cancelTask(ExecutionAttemptId{"job-1", 0, 0, 0});
  EXPECT_LT(SteadyClock::now() - cancelStart, milliseconds(250));
}

TEST(RemoteGatewayTest, closeCancelsACallInProgressAndFailsLaterOnes) {
  SilentListener hung;
  RemoteTaskManagerGateway gateway("tm-lost", hung.address(), "", 1, seconds(60));
  auto before = SteadyClock::now();
  std::future<Status> call =
      std::async(std::launch::async, [&] { return gateway.submitTask(someTask()); });
  // close() may come before the call registers; then the call fails with the cause at once.
  gateway.close(Status::unavailable("tm-lost is lost"));
  ASSERT_EQ(call.wait_for(seconds(20)), std::future_status::ready);
  Status status = call.get();
  EXPECT_FALSE(status.isOk());
  EXPECT_LT(SteadyClock::now() - before, seconds(20));
  Status later = gateway.submitTask(someTask());
  ASSERT_EQ(later.code(), StatusCode::kUnavailable);
  EXPECT_EQ(later.message(), "tm-lost is lost");
}

TEST(RemoteGatewayTest, triggerToAHungTaskManagerFailsAtTheDeadlineAndNotificationsDoNotBlock) {
  SilentListener hung;
  RemoteTaskManagerGateway gateway("tm-hung", hung.address(), "", 1, milliseconds(300));
  ExecutionAttemptId attempt{"job-1", 0, 0, 0};
  auto before = SteadyClock::now();
  gateway.notifyCheckpointComplete(attempt, 1);  // queued: the trigger waits behind it
  EXPECT_LT(SteadyClock::now() - before, milliseconds(250));
  Status status = gateway.triggerCheckpoint(attempt, 2, 0, checkpoint::proto::CheckpointOptions());
  auto elapsed = SteadyClock::now() - before;
  ASSERT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr("TaskManager tm-hung"));
  EXPECT_THAT(status.message(), HasSubstr("checkpoint 2"));
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, seconds(10));
  auto notifyStart = SteadyClock::now();
  gateway.notifyCheckpointAborted(attempt, 2);
  EXPECT_LT(SteadyClock::now() - notifyStart, milliseconds(250));
}

TEST(RemoteGatewayTest, triggerAfterCloseFailsAtOnceWithTheCause) {
  SilentListener hung;
  RemoteTaskManagerGateway gateway("tm-lost", hung.address(), "", 1, seconds(60));
  ExecutionAttemptId attempt{"job-1", 0, 0, 0};
  // A trigger queued behind a notification that hangs: close() answers it with the cause.
  gateway.notifyCheckpointComplete(attempt, 1);
  auto before = SteadyClock::now();
  std::future<Status> trigger = std::async(std::launch::async, [&] {
    return gateway.triggerCheckpoint(attempt, 2, 0, checkpoint::proto::CheckpointOptions());
  });
  gateway.close(Status::unavailable("tm-lost is lost"));
  ASSERT_EQ(trigger.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_FALSE(trigger.get().isOk());
  EXPECT_LT(SteadyClock::now() - before, seconds(20));
  Status later = gateway.triggerCheckpoint(attempt, 3, 0, checkpoint::proto::CheckpointOptions());
  ASSERT_EQ(later.code(), StatusCode::kUnavailable);
  EXPECT_EQ(later.message(), "tm-lost is lost");
  gateway.notifyCheckpointComplete(attempt, 3);  // dropped, without blocking
}

}  // namespace
}  // namespace strom::runtime
