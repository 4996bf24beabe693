// The `strom` command-line client (Flink's `flink` CLI):
//
//   strom run [-m host:port] [-p N] [-d] [-D key=value]... [-s savepoint [-n]] job.so [args...]
//   strom list [-m host:port] [-a]
//   strom cancel [-m host:port] <job-id>
//   strom savepoint [-m host:port] <job-id> [target-dir]
//   strom stop [-m host:port] [-p|--savepoint [target-dir]] <job-id>
//   strom info [-p N] [-D key=value]... job.so [job args...]
//
// `run` loads the job library here (user code runs in the client and on TaskManagers, never in
// the JobManager), builds the JobGraph, uploads the library and submits the graph, then waits for
// the job unless detached; with -s it restores the job from a savepoint (or checkpoint) directory.
// `savepoint` takes a savepoint of a running job; `stop` takes one and ends the job. Errors are
// one line on stderr; exit codes: 0 success, 1 the job or the cluster failed, 2 bad arguments,
// configuration or job library.

#include <strom/environment.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/cluster_client.h"
#include "common/config_options.h"
#include "graph/job_graph_proto.h"
#include "graph/job_library.h"

namespace strom::cli {
namespace {

constexpr std::chrono::seconds kConnectTimeout{10};
// How long one WaitForJob call may wait on the JobManager before the client asks again.
constexpr std::chrono::seconds kWaitSlice{30};

int fail(int exitCode, const std::string& message) {
  std::fprintf(stderr, "strom: error: %s\n", message.c_str());
  return exitCode;
}

struct CommonOptions {
  std::string jobManager;  // -m host:port
  std::string configDir;
  std::vector<std::string> dynamicOptions;  // -D key=value
};

void addCommonOptions(CLI::App* command, CommonOptions& options, bool withAddress) {
  if (withAddress) {
    command->add_option("-m,--jobmanager", options.jobManager,
                        "JobManager address host:port (default: jobmanager.rpc.address and "
                        "jobmanager.rpc.port of the configuration)");
  }
  command->add_option("--config-dir", options.configDir,
                      "configuration directory (default: $STROM_CONF_DIR, else conf/ next to "
                      "bin/)");
}

/// Load the configuration (file and -D options) and work out the JobManager's address.
Result<Configuration> loadConfig(const CommonOptions& options, std::string* address) {
  STROM_ASSIGN_OR_RETURN(Configuration config,
                         loadProcessConfiguration(options.configDir, options.dynamicOptions));
  if (address != nullptr) {
    if (!options.jobManager.empty()) {
      if (options.jobManager.find(':') == std::string::npos) {
        return Status::invalidArgument("-m '" + options.jobManager + "' is not host:port");
      }
      *address = options.jobManager;
    } else {
      STROM_ASSIGN_OR_RETURN(int64_t port, config.getInt("jobmanager.rpc.port", 6123));
      *address =
          config.getString("jobmanager.rpc.address", "127.0.0.1") + ":" + std::to_string(port);
    }
  }
  return config;
}

/// A path given on the command line as the client means it: relative to its working directory
/// (the JobManager, which opens it, runs elsewhere). Empty stays empty.
std::string clientPath(const std::string& path) {
  if (path.empty()) return path;
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(path, error);
  return error ? path : absolute.lexically_normal().string();
}

/// Where `run` restores the job from (-s, -n).
struct RestoreOptions {
  std::string savepointPath;           // -s: a savepoint's (or a chk-<n>) directory; "": none
  bool allowNonRestoredState = false;  // -n
};

/// The job's configuration: only what the user set for it (-D, -p, -s and -n), which
/// TaskManagers lay over their own. The file configures the cluster, not the job.
Result<Configuration> jobConfiguration(const CommonOptions& options, int parallelism,
                                       const RestoreOptions& restore = {}) {
  Configuration job;
  for (const std::string& option : options.dynamicOptions) {
    STROM_RETURN_IF_ERROR(job.setFromString(option));
  }
  if (parallelism > 0) job.set("parallelism.default", std::to_string(parallelism));
  // The JobManager reads the directory (and reports it missing).
  if (!restore.savepointPath.empty()) {
    job.set("execution.savepoint.path", clientPath(restore.savepointPath));
  }
  if (restore.allowNonRestoredState) {
    if (restore.savepointPath.empty()) {
      return Status::invalidArgument("--allow-non-restored-state needs -s <savepoint path>");
    }
    job.set("execution.savepoint.ignore-unclaimed-state", "true");
  }
  return job;
}

/// Load the library and build the job's graph, as the TaskManagers will.
Result<std::shared_ptr<const graph::JobGraph>> buildGraph(const std::string& library,
                                                          const std::vector<std::string>& args,
                                                          const Configuration& jobConfig,
                                                          std::string* jobName) {
  *jobName = std::filesystem::path(library).stem().string();
  STROM_ASSIGN_OR_RETURN(auto lib, graph::JobLibrary::open(library));
  return lib->buildJobGraph(JobArgs(args, *jobName), jobConfig, *jobName);
}

std::string formatTime(int64_t epochMs) {
  if (epochMs <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(epochMs / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%d.%m.%Y %H:%M:%S", &local);
  return text;
}

int runCommand(const CommonOptions& common, int parallelism, bool detached,
               const RestoreOptions& restore, std::vector<std::string> rest) {
  if (rest.empty()) return fail(2, "run: missing the job library (strom run [options] job.so)");
  std::string library = rest.front();
  std::vector<std::string> args(rest.begin() + 1, rest.end());
  std::string address;
  auto config = loadConfig(common, &address);
  if (!config.isOk()) return fail(2, config.status().message());
  auto jobConfig = jobConfiguration(common, parallelism, restore);
  if (!jobConfig.isOk()) return fail(2, jobConfig.status().message());
  std::string jobName;
  auto graph = buildGraph(library, args, *jobConfig, &jobName);
  if (!graph.isOk()) return fail(2, graph.status().message());

  auto client = ClusterClient::connect(address, kConnectTimeout);
  if (!client.isOk()) return fail(1, client.status().message());
  auto key = (*client)->uploadLibrary(library);
  if (!key.isOk()) return fail(1, key.status().message());
  rpc::JobInformation info;
  info.set_job_name(jobName);
  info.set_library_key(*key);
  for (const std::string& arg : args) info.add_args(arg);
  graph::configurationToProto(*jobConfig, info.mutable_configuration());
  info.set_fingerprint((*graph)->fingerprint());
  auto jobId = (*client)->submitJob(**graph, info);
  if (!jobId.isOk()) return fail(1, jobId.status().message());
  std::printf("Job has been submitted with JobID %s\n", jobId->c_str());
  std::fflush(stdout);
  if (detached) return 0;

  while (true) {
    auto status = (*client)->waitForJob(*jobId, kWaitSlice);
    if (!status.isOk()) return fail(1, status.status().message());
    if (!isTerminalJobStatus(status->status())) continue;
    if (status->status() == rpc::JOB_STATUS_FINISHED) {
      std::printf("Job with JobID %s has finished.\nJob Runtime: %lld ms\n", jobId->c_str(),
                  static_cast<long long>(status->duration_ms()));
      return 0;
    }
    std::string cause = status->has_error() ? ": " + status->error().message() : "";
    return fail(1, "job " + *jobId + " (" + jobName + ") " +
                       (status->status() == rpc::JOB_STATUS_CANCELED ? "was cancelled" : "failed") +
                       " after " + std::to_string(status->restarts()) + " restarts" + cause);
  }
}

int listCommand(const CommonOptions& common, bool all) {
  std::string address;
  auto config = loadConfig(common, &address);
  if (!config.isOk()) return fail(2, config.status().message());
  auto client = ClusterClient::connect(address, kConnectTimeout);
  if (!client.isOk()) return fail(1, client.status().message());
  auto jobs = (*client)->listJobs();
  if (!jobs.isOk()) return fail(1, jobs.status().message());
  auto print = [](const rpc::JobStatusInfo& job) {
    std::printf("%s : %s : %s (%s)\n", formatTime(job.start_time_ms()).c_str(),
                job.job_id().c_str(), job.job_name().c_str(), jobStatusName(job.status()).c_str());
  };
  bool anyRunning = false;
  std::printf("------------------ Running/Restarting Jobs -------------------\n");
  for (const rpc::JobStatusInfo& job : *jobs) {
    if (!isTerminalJobStatus(job.status())) print(job), anyRunning = true;
  }
  if (!anyRunning) std::printf("No running jobs.\n");
  std::printf("--------------------------------------------------------------\n");
  if (all) {
    std::printf("---------------------- Terminated Jobs -----------------------\n");
    bool any = false;
    for (const rpc::JobStatusInfo& job : *jobs) {
      if (isTerminalJobStatus(job.status())) print(job), any = true;
    }
    if (!any) std::printf("No terminated jobs.\n");
    std::printf("--------------------------------------------------------------\n");
  }
  return 0;
}

int cancelCommand(const CommonOptions& common, const std::string& jobId) {
  std::string address;
  auto config = loadConfig(common, &address);
  if (!config.isOk()) return fail(2, config.status().message());
  auto client = ClusterClient::connect(address, kConnectTimeout);
  if (!client.isOk()) return fail(1, client.status().message());
  Status status = (*client)->cancelJob(jobId);
  if (!status.isOk()) return fail(1, status.message());
  std::printf("Cancelled job %s.\n", jobId.c_str());
  return 0;
}

/// How long a savepoint may take: the client's execution.checkpointing.timeout (the JobManager
/// waits as long, then aborts it).
Result<std::chrono::milliseconds> savepointTimeout(const Configuration& config) {
  STROM_ASSIGN_OR_RETURN(auto timeout, config.getDuration("execution.checkpointing.timeout",
                                                          std::chrono::minutes(10)));
  if (timeout.count() <= 0) {
    return Status::invalidArgument("config key 'execution.checkpointing.timeout' must be positive");
  }
  return timeout;
}

/// Load the configuration and connect to the JobManager for a savepoint: on success return 0
/// with `client` and the savepoint's `timeout`; else print the error and return the exit code.
int connectForSavepoint(const CommonOptions& common, std::unique_ptr<ClusterClient>& client,
                        std::chrono::milliseconds& timeout) {
  std::string address;
  auto config = loadConfig(common, &address);
  if (!config.isOk()) return fail(2, config.status().message());
  auto configured = savepointTimeout(*config);
  if (!configured.isOk()) return fail(2, configured.status().message());
  auto connected = ClusterClient::connect(address, kConnectTimeout);
  if (!connected.isOk()) return fail(1, connected.status().message());
  client = std::move(*connected);
  timeout = *configured;
  return 0;
}

int savepointCommand(const CommonOptions& common, const std::string& jobId,
                     const std::string& targetDirectory) {
  std::unique_ptr<ClusterClient> client;
  std::chrono::milliseconds timeout{0};
  if (int code = connectForSavepoint(common, client, timeout); code != 0) return code;
  std::printf("Triggering savepoint for job %s.\nWaiting for response...\n", jobId.c_str());
  std::fflush(stdout);
  auto path = client->triggerSavepoint(jobId, clientPath(targetDirectory), false, timeout);
  if (!path.isOk()) {
    return fail(1, "savepoint of job " + jobId + " failed: " + path.status().message());
  }
  std::printf("Savepoint completed. Path: %s\n", path->c_str());
  std::printf("You can resume your program from this savepoint with the run command (-s).\n");
  return 0;
}

/// `stop [-p|--savepoint [dir]] <job-id>`: `args` are the positionals, [dir] job-id.
int stopCommand(const CommonOptions& common, bool savepointFlag,
                const std::vector<std::string>& args) {
  if (args.empty()) return fail(2, "stop: missing the job id (strom stop [-p [dir]] <job-id>)");
  if (args.size() > 2 || (args.size() == 2 && !savepointFlag)) {
    return fail(2, "stop: too many arguments (strom stop [-p|--savepoint [dir]] <job-id>)");
  }
  const std::string& jobId = args.back();
  std::string targetDirectory = args.size() == 2 ? clientPath(args.front()) : "";
  std::unique_ptr<ClusterClient> client;
  std::chrono::milliseconds timeout{0};
  if (int code = connectForSavepoint(common, client, timeout); code != 0) return code;
  std::printf("Suspending job %s with a savepoint.\n", jobId.c_str());
  std::fflush(stdout);
  auto path = client->triggerSavepoint(jobId, targetDirectory, true, timeout);
  if (!path.isOk()) {
    return fail(1,
                "stopping job " + jobId + " with a savepoint failed: " + path.status().message());
  }
  std::printf("Savepoint completed. Path: %s\n", path->c_str());
  std::fflush(stdout);
  // The job's tasks end once they learn that the savepoint completed.
  auto status = client->waitForJob(jobId, kWaitSlice);
  if (!status.isOk()) return fail(1, status.status().message());
  if (status->status() != rpc::JOB_STATUS_FINISHED) {
    std::string cause = status->has_error() ? ": " + status->error().message() : "";
    return fail(1, "job " + jobId + " is " + jobStatusName(status->status()) +
                       ", not FINISHED, after its savepoint" + cause);
  }
  std::printf("Job %s has been stopped.\n", jobId.c_str());
  return 0;
}

int infoCommand(const CommonOptions& common, int parallelism, std::vector<std::string> rest) {
  if (rest.empty()) return fail(2, "info: missing the job library (strom info [options] job.so)");
  auto config = loadConfig(common, nullptr);
  if (!config.isOk()) return fail(2, config.status().message());
  auto jobConfig = jobConfiguration(common, parallelism);
  if (!jobConfig.isOk()) return fail(2, jobConfig.status().message());
  std::string jobName;
  auto graph = buildGraph(rest.front(), std::vector<std::string>(rest.begin() + 1, rest.end()),
                          *jobConfig, &jobName);
  if (!graph.isOk()) return fail(2, graph.status().message());
  std::printf("%s\n", (*graph)->toJson().c_str());
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"Strom command-line client: run, list, cancel, savepoint, stop and inspect jobs.",
               "strom"};
  app.require_subcommand(1);
  CommonOptions common;
  int parallelism = 0;
  bool detached = false;
  bool all = false;
  std::string jobId;
  RestoreOptions restore;
  std::string targetDirectory;
  bool stopWithSavepoint = false;
  std::vector<std::string> stopArgs;

  CLI::App* run = app.add_subcommand("run", "run a job library on a cluster");
  addCommonOptions(run, common, true);
  run->add_option("-p,--parallelism", parallelism, "default parallelism of the job")
      ->check(CLI::Range(1, 32768));
  run->add_flag("-d,--detached", detached, "return after submitting; do not wait");
  run->add_option("-D", common.dynamicOptions, "configuration key=value (repeatable)")
      ->allow_extra_args(false);
  run->add_option("-s,--fromSavepoint", restore.savepointPath,
                  "restore the job from this savepoint (or checkpoint) directory");
  run->add_flag("-n,--allowNonRestoredState,--allow-non-restored-state",
                restore.allowNonRestoredState,
                "with -s: skip the savepoint's state that no operator of the job claims");
  // Everything from the job library on is the job's: the library, then its arguments.
  run->prefix_command();
  run->footer("usage: strom run [options] job.so [job args...]");

  CLI::App* list = app.add_subcommand("list", "list the jobs of a cluster");
  addCommonOptions(list, common, true);
  list->add_flag("-a,--all", all, "also list finished, failed and cancelled jobs");

  CLI::App* cancel = app.add_subcommand("cancel", "cancel a job");
  addCommonOptions(cancel, common, true);
  cancel->add_option("job-id", jobId, "the job to cancel")->required();

  CLI::App* savepoint = app.add_subcommand("savepoint", "take a savepoint of a running job");
  addCommonOptions(savepoint, common, true);
  savepoint->add_option("job-id", jobId, "the job")->required();
  savepoint->add_option("target-dir", targetDirectory,
                        "where the savepoint's directory goes (default: state.savepoints.dir)");

  CLI::App* stop = app.add_subcommand("stop", "stop a job with a savepoint");
  addCommonOptions(stop, common, true);
  stop->add_flag("-p,--savepoint", stopWithSavepoint,
                 "the next argument, if two follow, is the savepoint's target directory "
                 "(default: state.savepoints.dir)");
  stop->add_option("args", stopArgs, "[target-dir] <job-id>");
  stop->footer("usage: strom stop [-m host:port] [-p|--savepoint [target-dir]] <job-id>");

  CLI::App* info = app.add_subcommand("info", "print a job's plan as JSON");
  addCommonOptions(info, common, false);
  info->add_option("-p,--parallelism", parallelism, "default parallelism of the job")
      ->check(CLI::Range(1, 32768));
  info->add_option("-D", common.dynamicOptions, "configuration key=value (repeatable)")
      ->allow_extra_args(false);
  info->prefix_command();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "strom: error: %s\n", e.what());
    return 2;
  }
  if (run->parsed()) return runCommand(common, parallelism, detached, restore, run->remaining());
  if (list->parsed()) return listCommand(common, all);
  if (cancel->parsed()) return cancelCommand(common, jobId);
  if (savepoint->parsed()) return savepointCommand(common, jobId, targetDirectory);
  if (stop->parsed()) return stopCommand(common, stopWithSavepoint, stopArgs);
  if (info->parsed()) return infoCommand(common, parallelism, info->remaining());
  return 2;
}

}  // namespace
}  // namespace strom::cli

int main(int argc, char** argv) { return strom::cli::main(argc, argv); }
