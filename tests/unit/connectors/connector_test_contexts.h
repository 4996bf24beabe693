#pragma once

// Fakes for driving source and sink operators through checkpoints without a task: an
// OperatorContext with a settable configuration, a StateSnapshotContext that records what an
// operator adds, and a StateInitializationContext built from recorded operator state.

#include <strom/config.h>
#include <strom/metrics.h>
#include <strom/operator.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strom::testing {

class ConnectorContext final : public OperatorContext {
 public:
  ConnectorContext(int subtaskIndex, int parallelism)
      : subtaskIndex_(subtaskIndex), parallelism_(parallelism) {}
  const std::string& operatorName() const override { return name_; }
  const std::string& taskName() const override { return name_; }
  int subtaskIndex() const override { return subtaskIndex_; }
  int parallelism() const override { return parallelism_; }
  int maxParallelism() const override { return 128; }
  int attemptNumber() const override { return 0; }
  int64_t currentProcessingTime() override { return 0; }
  void requestProcessingTimeCallback(int64_t) override {}
  void failTask(Status status) override {
    if (failure_.isOk()) failure_ = std::move(status);
  }
  const Configuration& configuration() const override { return configuration_; }
  MetricGroup& metricGroup() override { return metrics_; }

  Configuration& mutableConfiguration() { return configuration_; }
  const Status& failure() const { return failure_; }

 private:
  std::string name_ = "connector under test";
  int subtaskIndex_;
  int parallelism_;
  Status failure_;
  Configuration configuration_;
  MetricGroup metrics_;
};

/// One operator state as an operator added it.
struct RecordedOperatorState {
  OperatorStateMode mode;
  std::vector<std::string> elements;
};

class RecordingSnapshotContext final : public StateSnapshotContext {
 public:
  explicit RecordingSnapshotContext(int64_t checkpointId) : checkpointId_(checkpointId) {}
  int64_t checkpointId() const override { return checkpointId_; }
  int64_t checkpointTimestamp() const override { return 1000 * checkpointId_; }
  bool isSavepoint() const override { return false; }
  void addKeyedState(std::string bytes) override { keyed.push_back(std::move(bytes)); }
  void addOperatorState(std::string name, OperatorStateMode mode,
                        std::vector<std::string> elements) override {
    operatorStates[std::move(name)] = RecordedOperatorState{mode, std::move(elements)};
  }

  std::vector<std::string> keyed;
  std::map<std::string, RecordedOperatorState> operatorStates;

 private:
  int64_t checkpointId_;
};

class FakeInitializationContext final : public StateInitializationContext {
 public:
  /// A fresh start.
  FakeInitializationContext() = default;
  /// A restore of checkpoint `checkpointId` with `states` (name -> elements).
  FakeInitializationContext(int64_t checkpointId,
                            std::map<std::string, std::vector<std::string>, std::less<>> states)
      : restored_(true), checkpointId_(checkpointId), states_(std::move(states)) {}
  bool isRestored() const override { return restored_; }
  int64_t restoredCheckpointId() const override { return checkpointId_; }
  std::span<const KeyedStateSnapshotInput> keyedState() const override { return {}; }
  const std::vector<std::string>& operatorState(std::string_view name) const override {
    auto it = states_.find(name);
    return it == states_.end() ? empty_ : it->second;
  }
  std::vector<std::string> operatorStateNames() const override {
    std::vector<std::string> names;
    for (const auto& [name, elements] : states_) names.push_back(name);
    return names;
  }

 private:
  bool restored_ = false;
  int64_t checkpointId_ = -1;
  std::map<std::string, std::vector<std::string>, std::less<>> states_;
  std::vector<std::string> empty_;
};

/// Deal the elements of one split-mode operator state, written by `snapshots` (one per old
/// subtask, in subtask order), to `parallelism` new subtasks as the restore does at another
/// parallelism: element i of the concatenation goes to subtask i % parallelism.
inline std::vector<std::vector<std::string>> dealSplitState(
    const std::vector<std::vector<std::string>>& snapshots, int parallelism) {
  std::vector<std::vector<std::string>> dealt(static_cast<size_t>(parallelism));
  size_t i = 0;
  for (const std::vector<std::string>& elements : snapshots) {
    for (const std::string& element : elements) {
      dealt[i % static_cast<size_t>(parallelism)].push_back(element);
      ++i;
    }
  }
  return dealt;
}

}  // namespace strom::testing
