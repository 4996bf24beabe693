#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "proto/checkpoint.pb.h"
#include "proto/strom.grpc.pb.h"
#include "runtime/task/deployment.h"

namespace strom::runtime {

/// A JobManagerGateway over gRPC: how a TaskManager daemon reports task states, checkpoint
/// acknowledgements and declines, and ends of input. Callers (task threads, the checkpoint
/// writer) only enqueue; one sender thread sends the messages in the order they came (an ack
/// never overtakes the task's earlier state update, nor a FINISHED its end of input), each with
/// a deadline of `timeout` (pekko.ask.timeout), retrying an unreachable JobManager a few times
/// before it logs the message as lost. Thread-safe.
class RemoteJobManagerGateway final : public JobManagerGateway {
 public:
  /// `address` ("host:port") names the JobManager in logs; `taskManagerId` goes into every
  /// update.
  RemoteJobManagerGateway(std::shared_ptr<grpc::Channel> channel, std::string address,
                          std::string taskManagerId, std::chrono::milliseconds timeout);
  /// Stop the sender, cancelling the update in flight; updates still queued are dropped.
  ~RemoteJobManagerGateway() override;
  RemoteJobManagerGateway(const RemoteJobManagerGateway&) = delete;
  RemoteJobManagerGateway& operator=(const RemoteJobManagerGateway&) = delete;

  /// Enqueue the update; returns at once. So do the three below.
  void updateTaskExecutionState(const TaskExecutionState& state) override;
  void acknowledgeCheckpoint(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                             const checkpoint::proto::SubtaskState& state) override;
  void declineCheckpoint(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                         const Status& reason) override;
  void reportEndOfInput(const ExecutionAttemptId& attemptId) override;
  /// Drop the queued messages (the JobManager they were for was lost).
  void clear();
  /// Wait until every message enqueued so far was sent (or given up), or for `timeout`; false on
  /// timeout.
  bool flush(std::chrono::milliseconds timeout);

 private:
  using Message = std::variant<rpc::TaskExecutionState, rpc::AcknowledgeCheckpointRequest,
                               rpc::DeclineCheckpointRequest, rpc::ReportEndOfInputRequest>;
  void enqueue(Message message);
  /// Send `message` once; the call's error, prefixed with the JobManager's address.
  Status sendOnce(grpc::ClientContext* context, const Message& message);
  /// Return what `message` is, for the log line of a lost one.
  static std::string describe(const Message& message);
  void run();

  const std::string address_;
  const std::string taskManagerId_;
  const std::chrono::milliseconds timeout_;
  std::unique_ptr<rpc::JobManager::Stub> stub_;

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Message> queue_;            // GUARDED_BY(mu_)
  bool sending_ = false;                 // GUARDED_BY(mu_); a message is in flight
  grpc::ClientContext* call_ = nullptr;  // GUARDED_BY(mu_); its call, to cancel
  bool stopping_ = false;                // GUARDED_BY(mu_)
  std::thread sender_;
};

}  // namespace strom::runtime
