#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proto/checkpoint.pb.h"
#include "proto/strom.grpc.pb.h"
#include "runtime/task/deployment.h"

namespace strom::runtime {

/// A TaskManagerGateway over gRPC: how the JobManager calls a TaskManager daemon's TaskManager
/// service. submitTask, checkJobFits and releaseJob wait for the answer, for at most `timeout`
/// (pekko.ask.timeout): the JobManager deploys a restarted job's next attempt only once the
/// release returned. cancelTask and the checkpoint calls go through one queue that the gateway's
/// sender thread sends in order (so a notification never overtakes a trigger or a cancel made
/// before it): cancelTask and the notifications return at once and a failure is logged;
/// triggerCheckpoint waits for its turn and the answer, for at most `timeout` from the call in
/// all, and returns the TaskManager's error. A TaskManager that is unreachable gives Unavailable
/// or DeadlineExceeded, never a hang. Once close()d (the TaskManager was lost), every call in
/// progress is cancelled, the queue is dropped (a waiting trigger fails with the cause) and every
/// later call fails at once with the cause.
///
/// Thread-safe. The destructor closes the gateway (dropping the cancels not yet sent) and joins
/// the sender. (Not gRPC's callback API: gRPC 1.51's shared callback completion queue can be
/// unreferenced twice when channels come and go, which aborts the process.)
class RemoteTaskManagerGateway final : public TaskManagerGateway {
 public:
  RemoteTaskManagerGateway(std::string taskManagerId, std::string rpcAddress,
                           std::string dataAddress, int numberOfSlots,
                           std::chrono::milliseconds timeout);
  ~RemoteTaskManagerGateway() override;
  RemoteTaskManagerGateway(const RemoteTaskManagerGateway&) = delete;
  RemoteTaskManagerGateway& operator=(const RemoteTaskManagerGateway&) = delete;

  const std::string& taskManagerId() const override { return taskManagerId_; }
  int numberOfSlots() const override { return numberOfSlots_; }
  std::string dataAddress() const override { return dataAddress_; }
  /// The "host:port" of the TaskManager's gRPC service.
  const std::string& rpcAddress() const { return rpcAddress_; }

  Status checkJobFits(const std::string& jobName,
                      const std::vector<const TaskDeploymentDescriptor*>& tasks) override;
  Status submitTask(TaskDeploymentDescriptor descriptor) override;
  void cancelTask(const ExecutionAttemptId& attemptId) override;
  Status triggerCheckpoint(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                           int64_t timestamp,
                           const checkpoint::proto::CheckpointOptions& options) override;
  void notifyCheckpointComplete(const ExecutionAttemptId& attemptId, int64_t checkpointId) override;
  void notifyCheckpointAborted(const ExecutionAttemptId& attemptId, int64_t checkpointId) override;
  void releaseJob(const std::string& jobId, bool jobEnded) override;

  /// Cancel the calls in progress and fail every later call with `cause`.
  void close(Status cause);

  /// The number of queued calls not yet sent (for tests that order calls).
  size_t testingQueuedCalls();

 private:
  /// Register `context` as a call in progress with this gateway's deadline; the close cause if
  /// closed.
  Status beginCall(grpc::ClientContext* context);
  void endCall(grpc::ClientContext* context);
  bool isClosed();
  /// The close cause (OK while open).
  Status closed();
  /// A call of the ordered queue.
  struct QueuedCall {
    enum class Kind { kCancel, kTrigger, kNotifyComplete, kNotifyAborted };
    Kind kind = Kind::kCancel;
    ExecutionAttemptId attemptId;
    int64_t checkpointId = 0;
    int64_t timestamp = 0;
    checkpoint::proto::CheckpointOptions options;
    /// A trigger's: when its caller stops waiting, and where the answer goes.
    std::chrono::system_clock::time_point deadline;
    std::shared_ptr<std::promise<Status>> reply;
  };
  /// Queue `call` for the sender; false (and the call dropped) once closed.
  bool enqueue(QueuedCall call);
  /// Send one queued call; its error. REQUIRES: mu_ not held.
  Status send(const QueuedCall& call, std::string* what);
  /// The sender thread's loop.
  void sendQueued();
  /// Return "TaskManager <id> (<rpc address>)", the prefix of this gateway's errors.
  std::string name() const;

  const std::string taskManagerId_;
  const std::string rpcAddress_;
  const std::string dataAddress_;
  const int numberOfSlots_;
  const std::chrono::milliseconds timeout_;
  std::unique_ptr<rpc::TaskManager::Stub> stub_;

  std::mutex mu_;
  std::condition_variable callEnded_;     // a call ended, a call was queued, or closed
  std::set<grpc::ClientContext*> calls_;  // GUARDED_BY(mu_); calls in progress
  std::deque<QueuedCall> queue_;          // GUARDED_BY(mu_); not yet sent
  Status closed_;                         // GUARDED_BY(mu_); the cause once closed
  std::thread sender_;
};

}  // namespace strom::runtime
