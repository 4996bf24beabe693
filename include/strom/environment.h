#pragma once

#include <strom/config.h>
#include <strom/source.h>
#include <strom/status.h>
#include <strom/transformation.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace strom {

template <class T>
class DataStreamSource;

/// What a finished job reports.
struct JobExecutionResult {
  std::string jobId;
  std::string jobName;
  std::chrono::milliseconds netRuntime{0};
  /// Every operator counter (see <strom/metrics.h>) summed over the operator's subtasks, by
  /// "<operator name>.<counter name>", such as "Interval Join.numLateRecordsDropped".
  std::map<std::string, int64_t> counters;

  /// Return the counter `name` ("<operator name>.<counter name>"), or 0 if none was registered.
  int64_t counter(const std::string& name) const {
    auto it = counters.find(name);
    return it == counters.end() ? 0 : it->second;
  }
};

/// The command-line arguments of a job program (after the program name).
class JobArgs {
 public:
  JobArgs() = default;
  explicit JobArgs(std::vector<std::string> args, std::string programName = "job")
      : args_(std::move(args)), programName_(std::move(programName)) {}
  JobArgs(int argc, char** argv) : programName_(argc > 0 ? argv[0] : "job") {
    for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i]);
  }
  const std::vector<std::string>& args() const { return args_; }
  const std::string& programName() const { return programName_; }

 private:
  std::vector<std::string> args_;
  std::string programName_;
};

namespace detail {

/// The environment's state, shared by every DataStream handle of the job being declared.
struct EnvironmentState {
  Configuration configuration;
  int parallelism = -1;     // -1: parallelism.default from the configuration
  int maxParallelism = -1;  // -1: pipeline.max-parallelism, else 128
  std::vector<std::shared_ptr<Transformation>> transformations;

  Transformation& add(Transformation transformation) {
    transformation.id = static_cast<int>(transformations.size());
    transformations.push_back(std::make_shared<Transformation>(std::move(transformation)));
    return *transformations.back();
  }
  Transformation& at(int id) { return *transformations.at(static_cast<size_t>(id)); }
};

}  // namespace detail

/// Declares a job (sources, transformations, sinks) and runs it (Flink's
/// StreamExecutionEnvironment). With no cluster configured, execute() runs the job on an
/// embedded MiniCluster in this process. Not thread-safe; cheap to move.
class StreamExecutionEnvironment {
 public:
  explicit StreamExecutionEnvironment(Configuration configuration = {})
      : state_(std::make_shared<detail::EnvironmentState>()) {
    state_->configuration = std::move(configuration);
  }
  /// Return a new environment configured from `configuration` (Flink's
  /// getExecutionEnvironment).
  static StreamExecutionEnvironment getExecutionEnvironment(Configuration configuration = {}) {
    return StreamExecutionEnvironment(std::move(configuration));
  }

  /// Set the default parallelism of operators. Checked by execute(): 1..maxParallelism.
  StreamExecutionEnvironment& setParallelism(int parallelism) {
    state_->parallelism = parallelism;
    return *this;
  }
  /// Return the default parallelism (parallelism.default when not set; 1 by default).
  int getParallelism() const;
  /// Set the number of key groups, the upper bound of keyed parallelism (default 128).
  StreamExecutionEnvironment& setMaxParallelism(int maxParallelism) {
    state_->maxParallelism = maxParallelism;
    return *this;
  }
  int getMaxParallelism() const;
  Configuration& getConfiguration() { return state_->configuration; }
  const Configuration& getConfiguration() const { return state_->configuration; }

  /// Add a source. Defined in <strom/datastream.h>.
  template <class T>
  DataStreamSource<T> fromSource(std::shared_ptr<const Source<T>> source, std::string name);
  /// Add a source whose records get timestamps and watermarks from `strategy` (a
  /// WatermarkStrategy<T, ...>), with one watermark generator per split of each reader
  /// (Flink's fromSource with a WatermarkStrategy). Defined in <strom/datastream.h>.
  template <class T, class Strategy>
  DataStreamSource<T> fromSource(std::shared_ptr<const Source<T>> source, Strategy strategy,
                                 std::string name);
  /// A non-parallel source of the given values, in order.
  template <class T>
  DataStreamSource<T> fromCollection(std::vector<T> values);
  /// A parallel source of the numbers from..to (inclusive), split evenly over subtasks.
  DataStreamSource<int64_t> fromSequence(int64_t from, int64_t to);
  /// A parallel source of `count` records, record i being `generate(i)` (an int64_t index):
  /// Flink's DataGeneratorSource. Defined in <strom/datastream.h>.
  template <class Generate>
  auto fromGenerator(int64_t count, Generate generate);
  /// A non-parallel source of the lines of a text file (without line terminators).
  DataStreamSource<std::string> readTextFile(std::string path);

  /// Run the job and wait until it finishes. Returns an error naming the operator and the
  /// cause if the job is invalid or fails.
  Result<JobExecutionResult> execute(std::string jobName = "Strom Job");

  const std::vector<std::shared_ptr<Transformation>>& transformations() const {
    return state_->transformations;
  }
  const std::shared_ptr<detail::EnvironmentState>& state() const { return state_; }

 private:
  std::shared_ptr<detail::EnvironmentState> state_;
};

}  // namespace strom
