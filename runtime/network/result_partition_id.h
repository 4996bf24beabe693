#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace strom::network {

/// Names one produced result partition: the output of subtask `producerSubtask` (execution
/// attempt `attempt`) on the job edge `edgeIndex` of job `jobId`. Value type.
struct ResultPartitionId {
  std::string jobId;
  int edgeIndex = 0;
  int producerSubtask = 0;
  int attempt = 0;

  bool operator==(const ResultPartitionId&) const = default;

  /// Return "<jobId>/edge<edgeIndex>/subtask<producerSubtask>/attempt<attempt>".
  std::string toString() const {
    return jobId + "/edge" + std::to_string(edgeIndex) + "/subtask" +
           std::to_string(producerSubtask) + "/attempt" + std::to_string(attempt);
  }

  size_t hash() const {
    size_t h = std::hash<std::string>{}(jobId);
    for (int part : {edgeIndex, producerSubtask, attempt}) {
      // Boost-style combine: enough for a map of a few thousand partitions.
      h ^= std::hash<int>{}(part) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    }
    return h;
  }
};

}  // namespace strom::network

template <>
struct std::hash<strom::network::ResultPartitionId> {
  size_t operator()(const strom::network::ResultPartitionId& id) const { return id.hash(); }
};
