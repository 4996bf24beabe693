#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "proto/strom.grpc.pb.h"
#include "runtime/task/deployment.h"

namespace strom::runtime {

/// A JobManagerGateway over gRPC: how a TaskManager daemon reports task states. Task threads
/// only enqueue; one sender thread sends the updates in order, each with a deadline of
/// `timeout` (pekko.ask.timeout), retrying an unreachable JobManager a few times before it logs
/// the update as lost. Thread-safe.
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

  /// Enqueue the update; returns at once.
  void updateTaskExecutionState(const TaskExecutionState& state) override;
  /// Drop the queued updates (the JobManager they were for was lost).
  void clear();
  /// Wait until every update enqueued so far was sent (or given up), or for `timeout`; false on
  /// timeout.
  bool flush(std::chrono::milliseconds timeout);

 private:
  void run();

  const std::string address_;
  const std::string taskManagerId_;
  const std::chrono::milliseconds timeout_;
  std::unique_ptr<rpc::JobManager::Stub> stub_;

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<rpc::TaskExecutionState> queue_;  // GUARDED_BY(mu_)
  bool sending_ = false;                       // GUARDED_BY(mu_); an update is in flight
  grpc::ClientContext* call_ = nullptr;        // GUARDED_BY(mu_); its call, to cancel
  bool stopping_ = false;                      // GUARDED_BY(mu_)
  std::thread sender_;
};

}  // namespace strom::runtime
