#pragma once

#include <strom/config.h>
#include <strom/environment.h>
#include <strom/status.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint_coordinator.h"
#include "common/clock.h"
#include "graph/job_graph.h"
#include "runtime/jobmanager/restart_strategy.h"
#include "runtime/task/deployment.h"

namespace strom::runtime {

/// The life of a job (Flink's JobStatus). CREATED: waiting for slots; RUNNING: deployed;
/// FAILING / CANCELLING: cancelling its tasks after a failure / on request; RESTARTING: all
/// its tasks ended and it restarts after the restart strategy's delay. FAILED, CANCELED and
/// FINISHED are terminal.
enum class JobStatus {
  kCreated,
  kRunning,
  kFailing,
  kFailed,
  kCancelling,
  kCanceled,
  kFinished,
  kRestarting
};

/// Return Flink's upper-case name of `status` ("RUNNING").
const char* jobStatusName(JobStatus status);
/// True for FAILED, CANCELED and FINISHED.
bool isTerminal(JobStatus status);

/// A snapshot of one job, as `strom list` and `strom run` show it.
struct JobStatusInfo {
  std::string jobId;
  std::string jobName;
  JobStatus status = JobStatus::kCreated;
  int64_t startTimeMs = 0;  // submission time, epoch ms of the JobManager's Clock
  int64_t durationMs = 0;   // until now, or until the job ended
  int restarts = 0;
  /// Why the job failed or was cancelled: OK unless FAILED, CANCELED, or on its way there.
  Status failure;
  /// Summed over the tasks that finished ("<operator name>.<counter name>").
  std::map<std::string, int64_t> counters;
};

/// The JobManager: schedules jobs onto the slots of registered TaskManagers, deploys their
/// tasks, follows task states, and on a failure (a task, a deployment or a lost TaskManager)
/// cancels the job's other tasks and restarts the job as its restart strategy says
/// (docs/architecture.md, "Failover"). User code never runs here.
///
/// With `state.checkpoints.dir` set, each attempt of a job has a CheckpointCoordinator
/// (docs/architecture.md, "Checkpoints in the JobManager"): started once every task runs, ticked
/// by the scheduler thread, fed the tasks' acknowledgements and declines, stopped when the attempt
/// ends; restarts restore from the latest completed checkpoint, a first attempt from
/// `execution.savepoint.path`.
///
/// Thread contract: every public method is thread-safe. One scheduler thread, owned by the
/// JobManager, schedules waiting jobs, deploys them, and runs restart and slot-request
/// timers and the coordinators' ticks; other threads only change state under mu_ and wake it.
/// Gateways and coordinators (whose callbacks take mu_) are called without mu_ held. Registered
/// gateways must stay valid until unregistered or until the JobManager is destroyed.
class JobManager final : public JobManagerGateway {
 public:
  /// `configuration` holds the cluster's keys (`slot.request.timeout`, `restart-strategy.*`,
  /// `jobstore.*`); a job's own configuration is laid over it. `clock` (null: the system
  /// clock) times restarts and slot requests and must outlive the JobManager.
  explicit JobManager(Configuration configuration = {}, const Clock* clock = nullptr);
  /// Stop the scheduler thread. Jobs still running are abandoned: their tasks are not
  /// cancelled (the TaskManagers' own shutdown does that).
  ~JobManager() override;
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  /// Add a TaskManager and its slots; jobs waiting for slots are scheduled onto them.
  /// Registering a gateway that is registered already does nothing.
  void registerTaskManager(TaskManagerGateway* gateway);
  /// The TaskManager is gone (its process died, its heartbeats stopped, or its connection
  /// broke): its slots are lost, and each of its executions that had not ended is marked
  /// FAILED with `cause` (prefixed with the TaskManager's id and data address), which fails
  /// and maybe restarts its job. The gateway is never called again: this waits for the
  /// JobManager's calls to it in progress on other threads, so the gateway may be destroyed
  /// when this returns. Unknown or unregistered gateways are ignored.
  void unregisterTaskManager(TaskManagerGateway* gateway, Status cause);

  /// Accept a job and return its id (32 lowercase hex characters, random) at once. The job
  /// then waits in CREATED for enough free slots (its largest vertex parallelism; slot
  /// sharing) for up to `slot.request.timeout`. `info` is how a daemon's TaskManagers rebuild
  /// the job (null in embedded mode). Fails at once, naming the key, if the job's
  /// `restart-strategy.*` or `slot.request.timeout` value is bad. A TaskManager that can never
  /// hold the job's tasks (TaskManagerGateway::checkJobFits) fails the job before any of its
  /// tasks is deployed, without a restart. With `execution.checkpointing.interval` set,
  /// `state.checkpoints.dir` must be set and the `execution.checkpointing.*` keys valid
  /// (InvalidArgument naming the key).
  Result<std::string> submitJob(std::shared_ptr<const graph::JobGraph> jobGraph,
                                std::shared_ptr<const JobInformation> info = nullptr);
  /// Return the job's status; NotFound naming the id if the job is unknown (or was dropped
  /// from the store of finished jobs).
  Result<JobStatusInfo> jobStatus(const std::string& jobId) const;
  /// Wait until the job is FAILED, CANCELED or FINISHED, or for `timeout`; return its status
  /// then (which is not terminal after a timeout). NotFound if the job is unknown.
  Result<JobStatusInfo> waitForJobTermination(const std::string& jobId,
                                              std::chrono::milliseconds timeout);
  /// Return every job the JobManager knows, newest first: those not yet ended, and ended ones
  /// up to `jobstore.max-capacity`, each for `jobstore.expiration-time`.
  std::vector<JobStatusInfo> listJobs() const;
  /// Wait until the job ends; return its result, or its failure (the first failure's cause,
  /// or Cancelled). NotFound if the job is unknown.
  Result<JobExecutionResult> waitForJob(const std::string& jobId);
  /// Cancel the job: one that waits for slots or to restart is CANCELED at once; a running
  /// one is CANCELLING until its tasks end. NotFound naming the id if the job is unknown;
  /// FailedPrecondition if it has ended already. Cancelling a CANCELLING job is OK.
  Status cancelJob(const std::string& jobId);

  /// Trigger a savepoint of the running job (always aligned, self-contained) into a new
  /// directory `savepoint-<first 6 hex of the job id>-<random>` below `targetDirectory` (empty:
  /// `state.savepoints.dir`), and wait for it: return the savepoint's directory. With
  /// `terminate`, the job then ends (FINISHED) without processing more input (`strom stop
  /// --savepoint`). NotFound for an unknown job; FailedPrecondition if it is not RUNNING or has
  /// no `state.checkpoints.dir`; InvalidArgument with no directory given or configured; the
  /// savepoint's abort reason if it fails (the job keeps running then).
  Result<std::string> triggerSavepoint(const std::string& jobId, const std::string& targetDirectory,
                                       bool terminate, std::chrono::milliseconds timeout);

  void updateTaskExecutionState(const TaskExecutionState& state) override;
  void acknowledgeCheckpoint(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                             const checkpoint::proto::SubtaskState& state) override;
  void declineCheckpoint(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                         const Status& reason) override;
  void reportEndOfInput(const ExecutionAttemptId& attemptId) override;

  /// Check the JobManager's own keys (`jobstore.*`, `slot.request.timeout` and the
  /// `restart-strategy.*` defaults): InvalidArgument naming the first bad key. The constructor
  /// logs a bad value and uses the key's default; a daemon calls this first to refuse it.
  static Status checkConfiguration(const Configuration& configuration);

 private:
  struct Execution {
    ExecutionAttemptId attemptId;
    int64_t slotId = 0;
    TaskManagerGateway* taskManager = nullptr;
    ExecutionState state = ExecutionState::kCreated;
    /// Its TaskManager was unregistered: the gateway is not called for it again.
    bool lost = false;
    /// The task reported end of input (reportEndOfInput).
    bool endOfInput = false;
  };
  /// A job's checkpointing keys, read at submission.
  struct CheckpointSettings {
    checkpoint::CheckpointCoordinatorOptions options;
    std::filesystem::path checkpointsDir;  // state.checkpoints.dir
    std::string savepointsDir;             // state.savepoints.dir
  };
  struct Job {
    std::string id;
    int64_t sequence = 0;                          // submission order
    std::shared_ptr<const graph::JobGraph> graph;  // null once ended (drops the user code)
    std::shared_ptr<const JobInformation> info;
    std::string name;
    std::unique_ptr<RestartStrategy> restartStrategy;
    std::chrono::milliseconds slotRequestTimeout{0};
    JobStatus status = JobStatus::kCreated;
    int attempt = 0;  // of the current executions
    int restarts = 0;
    int64_t waitingSinceMs = 0;  // CREATED: since when the job waits for slots
    int64_t restartAtMs = 0;     // RESTARTING: when to restart
    /// CREATED after a restart: the previous attempt is being released on the TaskManagers.
    bool releasing = false;
    /// The scheduler thread is deploying the current attempt.
    bool deploying = false;
    /// A failure the restart strategy is not asked about (the job can never run).
    bool suppressRestart = false;
    std::vector<Execution> executions;  // of the current attempt
    std::vector<int64_t> slotsTaken;    // keys of slots_; subtask s runs in slotsTaken[s]
    size_t terminal = 0;                // executions in a terminal state
    Status failure;                     // the current attempt's first failure
    int64_t startMs = 0;
    int64_t endMs = 0;
    int64_t endIndex = 0;                     // how many jobs had ended before this one
    std::map<std::string, int64_t> counters;  // summed over the current attempt's finished tasks
    // Checkpoints.
    std::optional<CheckpointSettings> checkpointing;  // set when state.checkpoints.dir is
    std::string restorePath;                          // execution.savepoint.path
    bool allowUnclaimedState = false;                 // execution.savepoint.ignore-unclaimed-state
    /// The current attempt's coordinator; shared so that callers outside mu_ keep it alive
    /// while the attempt ends.
    std::shared_ptr<checkpoint::CheckpointCoordinator> coordinator;
    bool coordinatorStarted = false;     // every task of the attempt ran
    bool sourceEnded = false;            // a source task of the attempt reported end of input
    size_t endOfInputs = 0;              // tasks of the attempt that reported end of input
    bool finalCheckpointWanted = false;  // every task did: trigger the final checkpoint
    int64_t finalCheckpointAtMs = 0;     // not before then (a retry after an abort)
    bool terminating = false;            // a stop-with-savepoint is pending
    /// The job's checkpoint the current attempt restored, -1 for none (or a savepoint).
    int64_t restoredCheckpointId = -1;
    /// Checkpoints a restore failed on (a corrupt or missing state file): later attempts
    /// restore the newest other one.
    std::set<int64_t> unrestorable;
  };
  struct Slot {
    TaskManagerGateway* taskManager = nullptr;
    int index = 0;
    bool free = true;
    bool lost = false;  // its TaskManager was unregistered; erased once freed
  };
  struct TaskManagerEntry {
    TaskManagerGateway* gateway = nullptr;
    std::string id;           // taskManagerId(), read once at registration
    std::string dataAddress;  // dataAddress(), read once at registration
    int callsInFlight = 0;    // gateway calls made without mu_ held, not yet returned
    bool lost = false;        // being unregistered: no new calls
  };
  using CancelList = std::vector<std::pair<TaskManagerGateway*, ExecutionAttemptId>>;

  int64_t now() const { return clock_->currentTimeMillis(); }
  /// The scheduler thread's loop.
  void run();
  /// Call `fn(gateway)` without mu_ held if the gateway is still registered, keeping
  /// unregisterTaskManager from returning meanwhile; false if it is not registered.
  template <class Fn>
  bool callGateway(TaskManagerGateway* gateway, Fn&& fn);
  void cancelAll(const CancelList& toCancel);
  /// Take free slots for `job` and create its executions of attempt `job.attempt`; false if
  /// too few slots are free. REQUIRES: mu_ held.
  bool takeSlots(Job& job);
  /// Deploy every execution of the job's current attempt: the one path for first runs and
  /// restarts. Called by the scheduler thread without mu_ held.
  void deployAttempt(const std::string& jobId);
  /// REQUIRES: mu_ held (reads the slots' TaskManagers for the producers' data addresses).
  std::vector<TaskDeploymentDescriptor> buildDeployments(const Job& job) const;
  /// Read the job's checkpoint or savepoint to restore (attempt > 0: its latest completed
  /// checkpoint not in `unrestorable`, else `execution.savepoint.path`) and assign it to its
  /// subtasks: result[v][s] for subtask s of vertex v, or nothing to restore (empty).
  /// `restoredCheckpointId`: the job's checkpoint chosen, -1 for none or a savepoint. Every
  /// retained checkpoint unrestorable is FailedPrecondition. Called without mu_ held.
  static Result<std::vector<std::vector<checkpoint::proto::TaskRestore>>> assignRestore(
      const std::string& jobId, const graph::JobGraph& graph, int attempt,
      const std::optional<CheckpointSettings>& checkpointing, const std::string& restorePath,
      bool allowUnclaimedState, const std::set<int64_t>& unrestorable,
      int64_t& restoredCheckpointId);
  /// Create the coordinator of attempt `attempt` of the job. Called without mu_ held.
  Result<std::shared_ptr<checkpoint::CheckpointCoordinator>> createCoordinator(
      const std::string& jobId, int attempt, const graph::JobGraph& graph,
      const CheckpointSettings& settings);
  /// The coordinator callbacks' work, for attempt `attempt` of job `jobId` (ignored once it is
  /// not the job's running attempt). Called without mu_ held.
  Status triggerTasks(const std::string& jobId, int attempt, int64_t checkpointId,
                      int64_t timestamp, const checkpoint::proto::CheckpointOptions& options);
  void notifyTasks(const std::string& jobId, int attempt, int64_t checkpointId, bool completed);
  void failAttempt(const std::string& jobId, int attempt, const Status& cause);
  /// Trigger the final checkpoint of a bounded job. Called by the scheduler without mu_ held.
  void triggerFinalCheckpoint(const std::string& jobId, int attempt,
                              const std::shared_ptr<checkpoint::CheckpointCoordinator>& coordinator,
                              int checkpointType);
  /// Hand the job's coordinator to the scheduler thread to stop (the attempt ended or leaves
  /// RUNNING). REQUIRES: mu_ held.
  void retireCoordinator(Job& job);
  /// Move a RUNNING job to `target` (FAILING or CANCELLING, keeping the first cause), and mark
  /// its executions not yet deployed CANCELED; return the deployed ones to cancel.
  /// REQUIRES: mu_ held.
  CancelList stopExecutions(Job& job, JobStatus target, const Status& cause);
  /// Mark an execution terminal, adding its counters; once every execution of the job is
  /// terminal, end the attempt (onAllTerminal). REQUIRES: mu_ held.
  void setTerminal(Job& job, Execution& execution, ExecutionState state,
                   const std::vector<std::pair<std::string, int64_t>>& counters = {});
  /// Free the job's slots and move it to FINISHED, CANCELED, FAILED or RESTARTING.
  /// REQUIRES: mu_ held.
  void onAllTerminal(Job& job);
  /// Free the job's slots (erasing lost ones) and wake the scheduler. REQUIRES: mu_ held.
  void freeSlots(Job& job);
  /// Move the job to `status`, logging the transition with `cause`. REQUIRES: mu_ held.
  void transition(Job& job, JobStatus status, const Status& cause = Status::ok());
  /// The job ended: drop its user code, release it on the TaskManagers, trim the store of
  /// ended jobs. REQUIRES: mu_ held.
  void archive(Job& job);
  /// The job is terminal and no gateway call for it is in progress. REQUIRES: mu_ held.
  static bool hasEnded(const Job& job);
  /// The job ended longer than `jobstore.expiration-time` ago, or more than
  /// `jobstore.max-capacity` jobs ended after it: it is no longer listed. REQUIRES: mu_ held.
  bool dropped(const Job& job, int64_t nowMs) const;
  /// Erase dropped jobs. Only the scheduler thread calls it, between its passes over jobs_.
  /// REQUIRES: mu_ held.
  void trimEndedJobs();
  JobStatusInfo statusOf(const Job& job) const;  // REQUIRES: mu_ held
  Job* findJob(const std::string& jobId);        // REQUIRES: mu_ held
  const TaskManagerEntry* findTaskManager(const TaskManagerGateway* gateway) const;
  void wakeScheduler();  // REQUIRES: mu_ held
  /// The coordinator of the job of `attemptId` if that is the job's current attempt, else null.
  /// REQUIRES: mu_ not held.
  std::shared_ptr<checkpoint::CheckpointCoordinator> coordinatorFor(
      const ExecutionAttemptId& attemptId);
  /// Wake the scheduler thread if `coordinator`'s next tick is now before `before`.
  /// REQUIRES: mu_ not held.
  void wakeSchedulerIfSooner(const checkpoint::CheckpointCoordinator& coordinator, int64_t before);

  const Configuration configuration_;
  const Clock* const clock_;
  int64_t maxEndedJobs_ = 0;          // jobstore.max-capacity
  int64_t endedJobExpirationMs_ = 0;  // jobstore.expiration-time

  mutable std::mutex mu_;
  std::condition_variable jobChanged_;                // a job changed status (waiters)
  std::condition_variable schedulerCv_;               // the scheduler thread waits here
  std::condition_variable callReturned_;              // a gateway call made without mu_ returned
  bool stopping_ = false;                             // GUARDED_BY(mu_)
  bool schedulerWoken_ = false;                       // GUARDED_BY(mu_)
  std::map<int64_t, Slot> slots_;                     // GUARDED_BY(mu_)
  int64_t nextSlotId_ = 0;                            // GUARDED_BY(mu_)
  std::vector<TaskManagerEntry> taskManagers_;        // GUARDED_BY(mu_); registered ones
  std::map<std::string, std::unique_ptr<Job>> jobs_;  // GUARDED_BY(mu_)
  std::deque<std::string> endedJobs_;         // GUARDED_BY(mu_); not yet erased, oldest first
  int64_t endedCount_ = 0;                    // GUARDED_BY(mu_); jobs ended so far
  std::vector<std::string> pendingReleases_;  // GUARDED_BY(mu_); ended jobs to release
  /// GUARDED_BY(mu_); coordinators of ended attempts, for the scheduler thread to stop.
  std::vector<std::shared_ptr<checkpoint::CheckpointCoordinator>> coordinatorsToStop_;
  int64_t nextSequence_ = 0;  // GUARDED_BY(mu_)
  std::mt19937_64 idRandom_;  // GUARDED_BY(mu_); job ids
  std::thread scheduler_;
};

}  // namespace strom::runtime
