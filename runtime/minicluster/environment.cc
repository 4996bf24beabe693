// The non-template parts of StreamExecutionEnvironment: with no cluster configured, a job
// runs on an embedded MiniCluster.

#include <strom/connectors.h>
#include <strom/datastream.h>
#include <strom/environment.h>

#include <algorithm>
#include <memory>

#include "graph/job_graph.h"
#include "runtime/minicluster/mini_cluster.h"

namespace strom {

int StreamExecutionEnvironment::getParallelism() const {
  if (state_->parallelism != -1) return state_->parallelism;
  auto configured = state_->configuration.getInt("parallelism.default", 1);
  return configured.isOk() ? static_cast<int>(*configured) : 1;
}

int StreamExecutionEnvironment::getMaxParallelism() const {
  if (state_->maxParallelism != -1) return state_->maxParallelism;
  auto configured =
      state_->configuration.getInt("pipeline.max-parallelism", kDefaultMaxParallelism);
  return configured.isOk() ? static_cast<int>(*configured) : kDefaultMaxParallelism;
}

DataStreamSource<int64_t> StreamExecutionEnvironment::fromSequence(int64_t from, int64_t to) {
  return fromSource<int64_t>(std::make_shared<SequenceSource>(from, to), "Sequence Source");
}

DataStreamSource<std::string> StreamExecutionEnvironment::readTextFile(std::string path) {
  std::string name = "Text File Source (" + path + ")";
  return fromSource<std::string>(std::make_shared<TextFileSource>(std::move(path)),
                                 std::move(name));
}

Result<JobExecutionResult> StreamExecutionEnvironment::execute(std::string jobName) {
  STROM_ASSIGN_OR_RETURN(auto jobGraph, graph::buildJobGraph(*this, std::move(jobName)));
  const Configuration& config = jobGraph->configuration();
  runtime::MiniCluster::Options options;
  options.configuration = config;
  STROM_ASSIGN_OR_RETURN(int64_t taskManagers, config.getInt("taskmanager.count", 1));
  options.numberOfTaskManagers = static_cast<int>(taskManagers);
  if (!config.contains("taskmanager.numberOfTaskSlots")) {
    // Like Flink's MiniCluster: enough slots for the job.
    int needed = jobGraph->maxVertexParallelism();
    int perTaskManager =
        (needed + options.numberOfTaskManagers - 1) / std::max(1, options.numberOfTaskManagers);
    options.configuration.set("taskmanager.numberOfTaskSlots",
                              std::to_string(std::max(1, perTaskManager)));
  }
  STROM_ASSIGN_OR_RETURN(auto cluster, runtime::MiniCluster::start(std::move(options)));
  return cluster->executeJob(jobGraph);
}

}  // namespace strom
