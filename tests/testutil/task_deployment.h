#pragma once

// Running a job's tasks on TaskManagers without a JobManager: deployments built by hand and a
// JobManagerGateway that records what the tasks report (state changes, checkpoint
// acknowledgements and declines, end of input), for tests of the task side of the runtime.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "graph/job_graph.h"
#include "proto/checkpoint.pb.h"
#include "runtime/task/deployment.h"

namespace strom::testing {

/// Records what tasks report; thread-safe. waitFor() blocks until a condition over the records
/// holds (evaluated under the mutex after every report).
class RecordingJobManager final : public runtime::JobManagerGateway {
 public:
  struct Ack {
    runtime::ExecutionAttemptId attempt;
    int64_t checkpointId = 0;
    checkpoint::proto::SubtaskState state;
  };
  struct Decline {
    runtime::ExecutionAttemptId attempt;
    int64_t checkpointId = 0;
    Status reason;
  };

  void updateTaskExecutionState(const runtime::TaskExecutionState& state) override {
    std::lock_guard lock(mu);
    states[state.attemptId.toString()] = state;
    changed.notify_all();
  }
  void acknowledgeCheckpoint(const runtime::ExecutionAttemptId& attempt, int64_t checkpointId,
                             const checkpoint::proto::SubtaskState& state) override {
    std::lock_guard lock(mu);
    acks.push_back(Ack{attempt, checkpointId, state});
    changed.notify_all();
  }
  void declineCheckpoint(const runtime::ExecutionAttemptId& attempt, int64_t checkpointId,
                         const Status& reason) override {
    std::lock_guard lock(mu);
    declines.push_back(Decline{attempt, checkpointId, reason});
    changed.notify_all();
  }
  void reportEndOfInput(const runtime::ExecutionAttemptId& attempt) override {
    std::lock_guard lock(mu);
    endOfInput.insert(attempt.toString());
    changed.notify_all();
  }

  /// Wait until `condition()` (called with mu held) holds; false after `timeout`.
  template <class Condition>
  bool waitFor(Condition condition, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, timeout, condition);
  }

  /// The number of acknowledgements of `checkpointId`. REQUIRES: mu held.
  int acksOf(int64_t checkpointId) const {
    int n = 0;
    for (const Ack& ack : acks) n += ack.checkpointId == checkpointId ? 1 : 0;
    return n;
  }
  /// The number of tasks whose last reported state is `state`. REQUIRES: mu held.
  int tasksIn(runtime::ExecutionState state) const {
    int n = 0;
    for (const auto& [attempt, report] : states) n += report.state == state ? 1 : 0;
    return n;
  }

  std::mutex mu;
  std::condition_variable changed;
  // Guarded by mu.
  std::map<std::string, runtime::TaskExecutionState> states;  // by attempt id, the last one
  std::vector<Ack> acks;
  std::vector<Decline> declines;
  std::set<std::string> endOfInput;
};

/// Build the deployments of every subtask of `job` for attempt `attempt` of job `jobId`, vertex
/// by vertex, as the JobManager does: subtask s of every vertex runs in slot s (slot sharing),
/// whose TaskManager's data address is `slotAddresses[s]`. Every channel of an edge reads the
/// producer's partition of that attempt.
inline std::vector<runtime::TaskDeploymentDescriptor> buildTaskDeployments(
    const std::shared_ptr<const graph::JobGraph>& job, const std::string& jobId, int attempt,
    const std::vector<std::string>& slotAddresses) {
  // The consumers producer i of p serves on a pointwise edge to c consumers, in order.
  auto pointwiseConsumers = [](int i, int p, int c) {
    std::vector<int> consumers;
    if (p >= c) {
      consumers.push_back(static_cast<int>(static_cast<int64_t>(i) * c / p));
    } else {
      for (int j = 0; j < c; ++j) {
        if (static_cast<int64_t>(j) * p / c == i) consumers.push_back(j);
      }
    }
    return consumers;
  };
  std::vector<runtime::TaskDeploymentDescriptor> deployments;
  for (const graph::JobVertex& vertex : job->vertices()) {
    for (int s = 0; s < vertex.parallelism; ++s) {
      runtime::TaskDeploymentDescriptor d;
      d.attemptId = runtime::ExecutionAttemptId{jobId, vertex.id, s, attempt};
      d.jobGraph = job;
      for (int edgeId : vertex.outputs) {
        const graph::JobEdge& edge = job->edges()[static_cast<size_t>(edgeId)];
        const graph::JobVertex& consumer = job->vertices()[static_cast<size_t>(edge.targetVertex)];
        int n = edge.pointwise()
                    ? static_cast<int>(
                          pointwiseConsumers(s, vertex.parallelism, consumer.parallelism).size())
                    : consumer.parallelism;
        d.outputs.push_back(runtime::ResultPartitionDescriptor{
            edgeId, network::ResultPartitionId{jobId, edgeId, s, attempt}, n});
      }
      for (int edgeId : vertex.inputs) {
        const graph::JobEdge& edge = job->edges()[static_cast<size_t>(edgeId)];
        const graph::JobVertex& producer = job->vertices()[static_cast<size_t>(edge.sourceVertex)];
        runtime::InputGateDescriptor gate;
        gate.jobEdge = edgeId;
        for (int i = 0; i < producer.parallelism; ++i) {
          network::ResultPartitionId id{jobId, edgeId, i, attempt};
          const std::string& address = slotAddresses.at(static_cast<size_t>(i));
          if (!edge.pointwise()) {
            gate.channels.push_back(runtime::InputChannelDescriptor{id, s, address});
            continue;
          }
          std::vector<int> consumers =
              pointwiseConsumers(i, producer.parallelism, vertex.parallelism);
          for (size_t k = 0; k < consumers.size(); ++k) {
            if (consumers[k] == s) {
              gate.channels.push_back(
                  runtime::InputChannelDescriptor{id, static_cast<int>(k), address});
            }
          }
        }
        d.inputs.push_back(std::move(gate));
      }
      deployments.push_back(std::move(d));
    }
  }
  return deployments;
}

}  // namespace strom::testing
