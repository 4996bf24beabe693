#include "runtime/task/deployment.h"

namespace strom::runtime {

const char* executionStateName(ExecutionState state) {
  switch (state) {
    case ExecutionState::kCreated:
      return "CREATED";
    case ExecutionState::kDeploying:
      return "DEPLOYING";
    case ExecutionState::kRunning:
      return "RUNNING";
    case ExecutionState::kFinished:
      return "FINISHED";
    case ExecutionState::kCanceling:
      return "CANCELING";
    case ExecutionState::kCanceled:
      return "CANCELED";
    case ExecutionState::kFailed:
      return "FAILED";
  }
  return "?";
}

std::string ExecutionAttemptId::toString() const {
  return jobId + "/" + std::to_string(vertexId) + "#" + std::to_string(subtaskIndex) + "@" +
         std::to_string(attempt);
}

std::string TaskDeploymentDescriptor::taskName() const {
  const graph::JobVertex& v = vertex();
  return v.name + " (" + std::to_string(attemptId.subtaskIndex + 1) + "/" +
         std::to_string(v.parallelism) + ")";
}

}  // namespace strom::runtime
