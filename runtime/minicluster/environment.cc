// The non-template parts of StreamExecutionEnvironment: with no cluster configured, a job
// runs on an embedded MiniCluster.

#include <strom/connectors.h>
#include <strom/datastream.h>
#include <strom/environment.h>

#include <algorithm>
#include <memory>

#include "graph/job_graph.h"
#include "graph/stream_graph.h"
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
  const Configuration& config = state_->configuration;
  // Validate the settings that getParallelism() reads leniently.
  STROM_ASSIGN_OR_RETURN(int64_t defaultParallelism, config.getInt("parallelism.default", 1));
  STROM_ASSIGN_OR_RETURN(int64_t maxParallelism,
                         config.getInt("pipeline.max-parallelism", kDefaultMaxParallelism));
  int parallelism =
      state_->parallelism != -1 ? state_->parallelism : static_cast<int>(defaultParallelism);
  int maxP =
      state_->maxParallelism != -1 ? state_->maxParallelism : static_cast<int>(maxParallelism);
  if (parallelism < 1) {
    return Status::invalidArgument("parallelism " + std::to_string(parallelism) +
                                   " must be at least 1");
  }
  if (maxP < 1 || maxP > 32768) {
    return Status::invalidArgument("max parallelism " + std::to_string(maxP) +
                                   " is outside 1..32768");
  }
  if (parallelism > maxP) {
    return Status::invalidArgument("parallelism " + std::to_string(parallelism) +
                                   " exceeds the max parallelism " + std::to_string(maxP));
  }
  if (state_->transformations.empty()) {
    return Status::invalidArgument("job '" + jobName + "' has no operators");
  }
  bool hasSink = std::any_of(state_->transformations.begin(), state_->transformations.end(),
                             [](const auto& t) { return t->kind == TransformationKind::kSink; });
  if (!hasSink) {
    return Status::invalidArgument("job '" + jobName +
                                   "' has no sink: add print(), sinkTo() or writeAsText()");
  }
  STROM_ASSIGN_OR_RETURN(auto streamGraph,
                         graph::StreamGraph::create(state_->transformations, parallelism, maxP));
  STROM_ASSIGN_OR_RETURN(auto jobGraph, graph::JobGraph::create(streamGraph, jobName, config));

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
