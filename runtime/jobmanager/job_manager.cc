#include "runtime/jobmanager/job_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <limits>
#include <utility>

#include "checkpoint/barrier_handler.h"
#include "checkpoint/state_assignment.h"
#include "common/logging.h"

namespace strom::runtime {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();  // Flink's Integer.MAX_VALUE
constexpr milliseconds kDefaultSlotRequestTimeout{300'000};       // Flink's 5 min
constexpr milliseconds kDefaultJobStoreExpiration{3'600'000};     // Flink's 1 h
/// How often the scheduler thread reads a clock that is not the system clock while a timer is
/// pending: a manual clock moves without telling anyone.
constexpr milliseconds kManualClockPoll{20};
/// How long after an aborted final checkpoint (of a bounded job) the next one is triggered.
constexpr milliseconds kFinalCheckpointRetry{100};

/// The gateway whose call the current thread is in (see callGateway): unregistering it from
/// within that call must not wait for the call to return.
thread_local const TaskManagerGateway* callingGateway = nullptr;

/// The consumers producer `i` of `p` serves on a pointwise edge to `c` consumers, in order.
std::vector<int> pointwiseConsumers(int i, int p, int c) {
  std::vector<int> consumers;
  if (p >= c) {
    consumers.push_back(static_cast<int>(static_cast<int64_t>(i) * c / p));
  } else {
    for (int j = 0; j < c; ++j) {
      if (static_cast<int64_t>(j) * p / c == i) consumers.push_back(j);
    }
  }
  return consumers;
}

Result<milliseconds> slotRequestTimeout(const Configuration& config) {
  return config.getDuration("slot.request.timeout", kDefaultSlotRequestTimeout);
}

Result<int64_t> maxEndedJobs(const Configuration& config) {
  STROM_ASSIGN_OR_RETURN(int64_t capacity, config.getInt("jobstore.max-capacity", kIntMax));
  if (capacity < 1 || capacity > kIntMax) {
    return Status::invalidArgument(
        fmt::format("config key 'jobstore.max-capacity': {} is outside 1..{}", capacity, kIntMax));
  }
  return capacity;
}

Result<milliseconds> endedJobExpiration(const Configuration& config) {
  STROM_ASSIGN_OR_RETURN(milliseconds expiration, config.getDuration("jobstore.expiration-time",
                                                                     kDefaultJobStoreExpiration));
  if (expiration.count() <= 0) {
    return Status::invalidArgument("config key 'jobstore.expiration-time': must be positive");
  }
  return expiration;
}

std::string jobLabel(const std::string& id, const std::string& name) {
  return fmt::format("job {} ({})", id, name);
}

}  // namespace

const char* jobStatusName(JobStatus status) {
  switch (status) {
    case JobStatus::kCreated:
      return "CREATED";
    case JobStatus::kRunning:
      return "RUNNING";
    case JobStatus::kFailing:
      return "FAILING";
    case JobStatus::kFailed:
      return "FAILED";
    case JobStatus::kCancelling:
      return "CANCELLING";
    case JobStatus::kCanceled:
      return "CANCELED";
    case JobStatus::kFinished:
      return "FINISHED";
    case JobStatus::kRestarting:
      return "RESTARTING";
  }
  return "UNKNOWN";
}

bool isTerminal(JobStatus status) {
  return status == JobStatus::kFailed || status == JobStatus::kCanceled ||
         status == JobStatus::kFinished;
}

Status JobManager::checkConfiguration(const Configuration& configuration) {
  STROM_RETURN_IF_ERROR(maxEndedJobs(configuration).status());
  STROM_RETURN_IF_ERROR(endedJobExpiration(configuration).status());
  STROM_RETURN_IF_ERROR(slotRequestTimeout(configuration).status());
  return RestartStrategy::create(configuration).status();
}

JobManager::JobManager(Configuration configuration, const Clock* clock)
    : configuration_(std::move(configuration)),
      clock_(clock ? clock : &SystemClock::instance()),
      idRandom_(std::random_device{}()) {
  auto logger = moduleLogger("jobmanager");
  auto capacity = maxEndedJobs(configuration_);
  if (!capacity.isOk()) logger->warn("{}; using the default", capacity.status().message());
  maxEndedJobs_ = capacity.isOk() ? *capacity : kIntMax;
  auto expiration = endedJobExpiration(configuration_);
  if (!expiration.isOk()) logger->warn("{}; using the default", expiration.status().message());
  endedJobExpirationMs_ = (expiration.isOk() ? *expiration : kDefaultJobStoreExpiration).count();
  scheduler_ = std::thread([this] { run(); });
}

JobManager::~JobManager() {
  std::vector<std::shared_ptr<checkpoint::CheckpointCoordinator>> coordinators;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    coordinators.swap(coordinatorsToStop_);
    for (auto& [id, job] : jobs_) {
      if (job->coordinator) coordinators.push_back(job->coordinator);
    }
  }
  schedulerCv_.notify_all();
  scheduler_.join();
  // Pending savepoints end (their callers get the reason); with stopping_ set, the callbacks
  // call no gateway.
  for (const auto& coordinator : coordinators) {
    coordinator->stop(Status::cancelled("the JobManager is shutting down"));
  }
}

// --- TaskManagers -------------------------------------------------------------------------

const JobManager::TaskManagerEntry* JobManager::findTaskManager(
    const TaskManagerGateway* gateway) const {
  for (const TaskManagerEntry& entry : taskManagers_) {
    if (entry.gateway == gateway) return &entry;
  }
  return nullptr;
}

template <class Fn>
bool JobManager::callGateway(TaskManagerGateway* gateway, Fn&& fn) {
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(taskManagers_.begin(), taskManagers_.end(),
                           [&](const TaskManagerEntry& e) { return e.gateway == gateway; });
    if (it == taskManagers_.end() || it->lost) return false;
    ++it->callsInFlight;
  }
  const TaskManagerGateway* outer = callingGateway;
  callingGateway = gateway;
  fn(gateway);
  callingGateway = outer;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(taskManagers_.begin(), taskManagers_.end(),
                           [&](const TaskManagerEntry& e) { return e.gateway == gateway; });
    // unregisterTaskManager keeps the entry until the call returns, unless it was made from
    // within this very call.
    if (it != taskManagers_.end()) --it->callsInFlight;
  }
  callReturned_.notify_all();
  return true;
}

void JobManager::cancelAll(const CancelList& toCancel) {
  for (const auto& [gateway, attemptId] : toCancel) {
    callGateway(gateway, [&](TaskManagerGateway* tm) { tm->cancelTask(attemptId); });
  }
}

void JobManager::wakeScheduler() {
  schedulerWoken_ = true;
  schedulerCv_.notify_all();
}

void JobManager::registerTaskManager(TaskManagerGateway* gateway) {
  TaskManagerEntry entry{gateway, gateway->taskManagerId(), gateway->dataAddress(), 0};
  int numberOfSlots = gateway->numberOfSlots();
  std::lock_guard lock(mu_);
  if (findTaskManager(gateway) != nullptr) return;
  moduleLogger("jobmanager")
      ->info("TaskManager {} ({}) registered with {} slots", entry.id,
             entry.dataAddress.empty() ? "no data server" : entry.dataAddress, numberOfSlots);
  taskManagers_.push_back(std::move(entry));
  for (int i = 0; i < numberOfSlots; ++i) slots_[nextSlotId_++] = Slot{gateway, i, true, false};
  wakeScheduler();
}

void JobManager::unregisterTaskManager(TaskManagerGateway* gateway, Status cause) {
  CancelList toCancel;
  {
    std::unique_lock lock(mu_);
    auto entry = std::find_if(taskManagers_.begin(), taskManagers_.end(),
                              [&](const TaskManagerEntry& e) { return e.gateway == gateway; });
    if (entry == taskManagers_.end() || entry->lost) return;
    entry->lost = true;  // no new calls to it
    Status lostCause(cause.isOk() ? StatusCode::kUnavailable : cause.code(),
                     fmt::format("TaskManager {} ({}) is lost: {}", entry->id,
                                 entry->dataAddress.empty() ? "no data server" : entry->dataAddress,
                                 cause.isOk() ? "unregistered" : cause.message()));
    bool hadExecutions = false;
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (it->second.taskManager != gateway) {
        ++it;
      } else if (it->second.free) {
        it = slots_.erase(it);
      } else {
        it->second.lost = true;
        ++it;
      }
    }
    for (auto& [id, job] : jobs_) {
      bool hit = false;
      for (Execution& e : job->executions) {
        if (e.taskManager != gateway || isTerminal(e.state)) continue;
        e.lost = true;
        hit = true;
      }
      if (!hit) continue;
      hadExecutions = true;
      // Fail the job first, so that the lost executions' cause is the job's failure.
      CancelList more = stopExecutions(*job, JobStatus::kFailing, lostCause);
      for (Execution& e : job->executions) {
        if (e.lost && !isTerminal(e.state)) setTerminal(*job, e, ExecutionState::kFailed);
      }
      for (auto& c : more) {
        if (c.first != gateway) toCancel.push_back(std::move(c));
      }
    }
    if (hadExecutions) {
      moduleLogger("jobmanager")->warn("{}", lostCause.message());
    } else {
      moduleLogger("jobmanager")
          ->info("TaskManager {} unregistered (no tasks there): {}", entry->id,
                 cause.isOk() ? "no cause given" : cause.message());
    }
    // The gateway may be destroyed once this returns: wait for calls to it on other threads.
    callReturned_.wait(lock, [&] {
      const TaskManagerEntry* e = findTaskManager(gateway);
      return e == nullptr || e->callsInFlight == 0 || callingGateway == gateway;
    });
    std::erase_if(taskManagers_, [&](const TaskManagerEntry& e) { return e.gateway == gateway; });
    wakeScheduler();
  }
  jobChanged_.notify_all();
  cancelAll(toCancel);
}

// --- Jobs -----------------------------------------------------------------------------------

Result<std::string> JobManager::submitJob(std::shared_ptr<const graph::JobGraph> jobGraph,
                                          std::shared_ptr<const JobInformation> info) {
  if (!jobGraph) return Status::invalidArgument("submitJob: no JobGraph");
  // The job's configuration wins over the JobManager's. The graph's is the one the program
  // built with: the client's (`info->configuration` for a daemon) and what the program itself
  // set (word_count's --checkpoint-interval), which the TaskManagers' rebuild sets again.
  Configuration config = configuration_;
  config.addAll(jobGraph->configuration());
  auto job = std::make_unique<Job>();
  job->name = jobGraph->jobName();
  STROM_ASSIGN_OR_RETURN(job->restartStrategy, RestartStrategy::create(config));
  STROM_ASSIGN_OR_RETURN(job->slotRequestTimeout, slotRequestTimeout(config));
  STROM_ASSIGN_OR_RETURN(checkpoint::CheckpointCoordinatorOptions checkpointOptions,
                         checkpoint::CheckpointCoordinatorOptions::fromConfiguration(config));
  STROM_ASSIGN_OR_RETURN(checkpoint::CheckpointType barrierType, checkpoint::barrierTypeOf(config));
  checkpointOptions.type = static_cast<int>(barrierType);
  std::string checkpointsDir = config.getString("state.checkpoints.dir", "");
  if (checkpointOptions.interval.count() > 0 && checkpointsDir.empty()) {
    return Status::invalidArgument("job '" + job->name +
                                   "': config key 'state.checkpoints.dir' must be set when "
                                   "execution.checkpointing.interval is");
  }
  if (!checkpointsDir.empty()) {
    job->checkpointing = CheckpointSettings{checkpointOptions, checkpointsDir,
                                            config.getString("state.savepoints.dir", "")};
  }
  job->restorePath = config.getString("execution.savepoint.path", "");
  STROM_ASSIGN_OR_RETURN(job->allowUnclaimedState,
                         config.getBool("execution.savepoint.ignore-unclaimed-state", false));
  if (jobGraph->vertices().empty()) {
    return Status::invalidArgument("job '" + job->name + "' has no vertices");
  }
  job->graph = std::move(jobGraph);
  job->info = std::move(info);
  std::lock_guard lock(mu_);
  do {
    job->id = fmt::format("{:016x}{:016x}", idRandom_(), idRandom_());
  } while (jobs_.count(job->id) != 0);
  job->sequence = nextSequence_++;
  job->startMs = now();
  job->waitingSinceMs = job->startMs;
  std::string id = job->id;
  moduleLogger("jobmanager")
      ->info("{}: submitted, CREATED; needs {} slots; restart strategy {}", jobLabel(id, job->name),
             job->graph->maxVertexParallelism(), job->restartStrategy->description());
  jobs_[id] = std::move(job);
  wakeScheduler();
  return id;
}

JobStatusInfo JobManager::statusOf(const Job& job) const {
  JobStatusInfo info;
  info.jobId = job.id;
  info.jobName = job.name;
  info.status = job.status;
  info.startTimeMs = job.startMs;
  info.durationMs = (isTerminal(job.status) ? job.endMs : now()) - job.startMs;
  info.restarts = job.restarts;
  info.failure = job.failure;
  info.counters = job.counters;
  return info;
}

bool JobManager::hasEnded(const Job& job) {
  // A job may end while deployAttempt is still in its last submitTask call (the task ran and
  // finished at once): waiters see the end only after that call returned, so that a caller
  // who then releases the job on the TaskManagers does not race with the call.
  return isTerminal(job.status) && !job.deploying;
}

bool JobManager::dropped(const Job& job, int64_t nowMs) const {
  return isTerminal(job.status) &&
         (nowMs - job.endMs >= endedJobExpirationMs_ || endedCount_ - job.endIndex > maxEndedJobs_);
}

Result<JobStatusInfo> JobManager::jobStatus(const std::string& jobId) const {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(jobId);
  if (it == jobs_.end() || dropped(*it->second, now())) {
    return Status::notFound("job " + jobId + " is unknown");
  }
  return statusOf(*it->second);
}

Result<JobStatusInfo> JobManager::waitForJobTermination(const std::string& jobId,
                                                        milliseconds timeout) {
  std::unique_lock lock(mu_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // Look the job up after every wake-up: the store of ended jobs may drop it meanwhile.
  for (;;) {
    auto it = jobs_.find(jobId);
    if (it == jobs_.end()) return Status::notFound("job " + jobId + " is unknown");
    if (hasEnded(*it->second) ||
        jobChanged_.wait_until(lock, deadline) == std::cv_status::timeout) {
      it = jobs_.find(jobId);
      if (it == jobs_.end()) return Status::notFound("job " + jobId + " is unknown");
      return statusOf(*it->second);
    }
  }
}

std::vector<JobStatusInfo> JobManager::listJobs() const {
  std::lock_guard lock(mu_);
  int64_t nowMs = now();
  std::vector<const Job*> jobs;
  for (const auto& [id, job] : jobs_) {
    if (!dropped(*job, nowMs)) jobs.push_back(job.get());
  }
  std::sort(jobs.begin(), jobs.end(),
            [](const Job* a, const Job* b) { return a->sequence > b->sequence; });
  std::vector<JobStatusInfo> out;
  out.reserve(jobs.size());
  for (const Job* job : jobs) out.push_back(statusOf(*job));
  return out;
}

Result<JobExecutionResult> JobManager::waitForJob(const std::string& jobId) {
  std::unique_lock lock(mu_);
  for (;;) {
    auto it = jobs_.find(jobId);
    if (it == jobs_.end()) return Status::notFound("job " + jobId + " is unknown");
    const Job& job = *it->second;
    if (hasEnded(job)) {
      if (job.status != JobStatus::kFinished) return job.failure;
      return JobExecutionResult{job.id, job.name, milliseconds(job.endMs - job.startMs),
                                job.counters};
    }
    jobChanged_.wait(lock);
  }
}

Status JobManager::cancelJob(const std::string& jobId) {
  CancelList toCancel;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(jobId);
    if (it == jobs_.end() || dropped(*it->second, now())) {
      return Status::notFound("job " + jobId + " is unknown");
    }
    Job& job = *it->second;
    Status cause = Status::cancelled("job " + jobId + " was cancelled");
    switch (job.status) {
      case JobStatus::kFailed:
      case JobStatus::kCanceled:
      case JobStatus::kFinished:
        return Status::failedPrecondition(fmt::format(
            "{} has ended already: {}", jobLabel(jobId, job.name), jobStatusName(job.status)));
      case JobStatus::kCancelling:
        return Status::ok();
      case JobStatus::kCreated:
        if (job.deploying) {
          toCancel = stopExecutions(job, JobStatus::kCancelling, cause);
          break;
        }
        [[fallthrough]];
      case JobStatus::kRestarting:
        // Nothing runs: no slots are held (a waiting job takes them only to deploy).
        job.failure = cause;
        transition(job, JobStatus::kCanceled, cause);
        archive(job);
        break;
      case JobStatus::kRunning:
      case JobStatus::kFailing:
        toCancel = stopExecutions(job, JobStatus::kCancelling, cause);
        break;
    }
  }
  jobChanged_.notify_all();
  cancelAll(toCancel);
  return Status::ok();
}

void JobManager::updateTaskExecutionState(const TaskExecutionState& update) {
  CancelList toCancel;
  std::shared_ptr<checkpoint::CheckpointCoordinator> toStart;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(update.attemptId.jobId);
    if (it == jobs_.end()) return;
    Job& job = *it->second;
    // A report of an earlier attempt (a task that ended late, or ran on a lost TaskManager).
    if (update.attemptId.attempt != job.attempt) return;
    auto e = std::find_if(job.executions.begin(), job.executions.end(),
                          [&](const Execution& x) { return x.attemptId == update.attemptId; });
    if (e == job.executions.end() || isTerminal(e->state) || e->lost) return;
    if (!isTerminal(update.state)) {
      e->state = update.state;
      if (update.state == ExecutionState::kRunning && job.coordinator && !job.coordinatorStarted &&
          job.status == JobStatus::kRunning &&
          std::all_of(job.executions.begin(), job.executions.end(),
                      [](const Execution& x) { return x.state == ExecutionState::kRunning; })) {
        job.coordinatorStarted = true;
        toStart = job.coordinator;
      }
    } else {
      if (update.state == ExecutionState::kFailed) {
        Status cause = update.error.isOk()
                           ? Status::internal(update.attemptId.toString() + " failed")
                           : update.error;
        if (update.restoreFailed && job.restoredCheckpointId >= 0 &&
            job.unrestorable.insert(job.restoredCheckpointId).second) {
          moduleLogger("jobmanager")
              ->warn(
                  "{}: checkpoint {} cannot be restored ({}); the next attempt restores the "
                  "newest other retained checkpoint",
                  jobLabel(job.id, job.name), job.restoredCheckpointId, cause.toString());
        }
        toCancel = stopExecutions(job, JobStatus::kFailing, cause);
        std::erase_if(toCancel, [&](const auto& c) { return c.second == update.attemptId; });
      } else if (update.state == ExecutionState::kCanceled && job.status == JobStatus::kRunning) {
        // Cancelled by someone other than this JobManager (its TaskManager shutting down).
        toCancel = stopExecutions(
            job, JobStatus::kFailing,
            Status::cancelled(update.attemptId.toString() + " was cancelled by its TaskManager"));
      }
      setTerminal(job, *e, update.state, update.counters);
    }
  }
  if (toStart) {
    toStart->start();
    std::lock_guard lock(mu_);
    wakeScheduler();  // to tick it
  }
  jobChanged_.notify_all();
  cancelAll(toCancel);
}

// --- Failover -------------------------------------------------------------------------------

void JobManager::transition(Job& job, JobStatus status, const Status& cause) {
  auto logger = moduleLogger("jobmanager");
  std::string what = fmt::format("{}: {} -> {}", jobLabel(job.id, job.name),
                                 jobStatusName(job.status), jobStatusName(status));
  job.status = status;
  if (status == JobStatus::kFailing || status == JobStatus::kFailed) {
    logger->warn("{}: {}", what, cause.toString());
  } else if (!cause.isOk()) {
    logger->info("{}: {}", what, cause.toString());
  } else {
    logger->info("{}", what);
  }
  jobChanged_.notify_all();
}

JobManager::CancelList JobManager::stopExecutions(Job& job, JobStatus target, const Status& cause) {
  CancelList toCancel;
  bool running =
      job.status == JobStatus::kRunning || (job.status == JobStatus::kCreated && job.deploying);
  if (job.status == JobStatus::kFailing && target == JobStatus::kCancelling) {
    // Cancelling a failing job: it ends CANCELED and is not restarted.
    job.failure = cause;
    transition(job, target, cause);
    return toCancel;
  }
  if (!running) return toCancel;  // FAILING or CANCELLING already
  job.failure = cause;
  transition(job, target, cause);
  retireCoordinator(job);
  for (Execution& e : job.executions) {
    if (isTerminal(e.state) || e.lost) continue;
    if (e.state == ExecutionState::kCreated) {
      // Not handed to its TaskManager yet: deployAttempt skips it.
      setTerminal(job, e, ExecutionState::kCanceled);
    } else {
      toCancel.emplace_back(e.taskManager, e.attemptId);
    }
  }
  return toCancel;
}

void JobManager::setTerminal(Job& job, Execution& execution, ExecutionState state,
                             const std::vector<std::pair<std::string, int64_t>>& counters) {
  execution.state = state;
  ++job.terminal;
  for (const auto& [name, count] : counters) job.counters[name] += count;
  if (job.terminal == job.executions.size()) onAllTerminal(job);
}

void JobManager::freeSlots(Job& job) {
  for (int64_t slotId : job.slotsTaken) {
    auto it = slots_.find(slotId);
    if (it == slots_.end()) continue;
    if (it->second.lost) {
      slots_.erase(it);
    } else {
      it->second.free = true;
    }
  }
  job.slotsTaken.clear();
  wakeScheduler();
}

void JobManager::retireCoordinator(Job& job) {
  if (!job.coordinator) return;
  coordinatorsToStop_.push_back(std::move(job.coordinator));
  job.coordinator.reset();
  job.coordinatorStarted = false;
  wakeScheduler();
}

void JobManager::onAllTerminal(Job& job) {
  retireCoordinator(job);
  freeSlots(job);
  switch (job.status) {
    case JobStatus::kRunning:
      transition(job, JobStatus::kFinished);
      archive(job);
      return;
    case JobStatus::kCancelling:
      transition(job, JobStatus::kCanceled, job.failure);
      archive(job);
      return;
    case JobStatus::kFailing:
      break;
    default:
      return;
  }
  std::optional<milliseconds> delay;
  if (!job.suppressRestart) delay = job.restartStrategy->onFailure(now());
  if (delay) {
    job.restartAtMs = now() + delay->count();
    transition(job, JobStatus::kRestarting,
               job.failure.withContext(
                   fmt::format("restart {} in {} ms after", job.restarts + 1, delay->count())));
    wakeScheduler();
    return;
  }
  if (job.restarts > 0 && job.suppressRestart) {
    job.failure = Status(job.failure.code(), fmt::format("{} (after {} restarts)",
                                                         job.failure.message(), job.restarts));
  } else if (job.restarts > 0) {
    job.failure = Status(
        job.failure.code(),
        fmt::format("{} (after {} restarts; restart strategy {} gave up)", job.failure.message(),
                    job.restarts, job.restartStrategy->description()));
  }
  transition(job, JobStatus::kFailed, job.failure);
  archive(job);
}

void JobManager::archive(Job& job) {
  job.endMs = now();
  job.graph.reset();  // the user code, and a daemon's handle on the job library
  job.info.reset();
  job.endIndex = endedCount_++;
  pendingReleases_.push_back(job.id);
  endedJobs_.push_back(job.id);
  // The scheduler thread erases dropped jobs (trimEndedJobs): callers of archive may be
  // iterating over jobs_.
  wakeScheduler();
}

void JobManager::trimEndedJobs() {
  int64_t nowMs = now();
  while (!endedJobs_.empty()) {
    auto oldest = jobs_.find(endedJobs_.front());
    if (oldest != jobs_.end()) {
      if (!dropped(*oldest->second, nowMs)) break;
      jobs_.erase(oldest);
    }
    endedJobs_.pop_front();
  }
}

// --- Scheduling and deployment --------------------------------------------------------------

bool JobManager::takeSlots(Job& job) {
  size_t needed = static_cast<size_t>(job.graph->maxVertexParallelism());
  std::vector<int64_t> freeSlots;
  for (auto& [id, slot] : slots_) {
    if (freeSlots.size() == needed) break;
    if (slot.free && !slot.lost) freeSlots.push_back(id);
  }
  if (freeSlots.size() < needed) return false;
  job.slotsTaken = std::move(freeSlots);
  for (int64_t id : job.slotsTaken) slots_[id].free = false;
  job.executions.clear();
  job.terminal = 0;
  job.failure = Status::ok();
  job.counters.clear();
  job.sourceEnded = false;
  job.endOfInputs = 0;
  job.finalCheckpointWanted = false;
  job.finalCheckpointAtMs = 0;
  job.terminating = false;
  for (const graph::JobVertex& vertex : job.graph->vertices()) {
    for (int s = 0; s < vertex.parallelism; ++s) {
      // Slot sharing: subtask s of every vertex runs in the job's s-th slot.
      int64_t slotId = job.slotsTaken[static_cast<size_t>(s)];
      job.executions.push_back(Execution{ExecutionAttemptId{job.id, vertex.id, s, job.attempt},
                                         slotId, slots_[slotId].taskManager,
                                         ExecutionState::kCreated, false});
    }
  }
  return true;
}

void JobManager::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    schedulerWoken_ = false;
    trimEndedJobs();
    int64_t t = now();
    struct Release {
      std::string jobId;
      bool jobEnded = false;  // else the job restarts
    };
    std::vector<Release> toRelease;
    std::vector<std::string> toDeploy;
    std::vector<std::shared_ptr<checkpoint::CheckpointCoordinator>> toTick;
    struct FinalCheckpoint {
      std::string jobId;
      int attempt = 0;
      std::shared_ptr<checkpoint::CheckpointCoordinator> coordinator;
      int type = 0;
    };
    std::vector<FinalCheckpoint> toFinal;
    std::vector<std::shared_ptr<checkpoint::CheckpointCoordinator>> toStop;
    toStop.swap(coordinatorsToStop_);
    for (std::string& ended : pendingReleases_) toRelease.push_back({std::move(ended), true});
    pendingReleases_.clear();
    std::vector<Job*> ordered;
    for (auto& [id, job] : jobs_) ordered.push_back(job.get());
    std::sort(ordered.begin(), ordered.end(),
              [](const Job* a, const Job* b) { return a->sequence < b->sequence; });
    int64_t nextTimer = std::numeric_limits<int64_t>::max();
    for (Job* job : ordered) {
      if (job->status == JobStatus::kRunning && job->coordinator) {
        if (job->coordinatorStarted) {
          int64_t next = job->coordinator->nextTickMillis();
          if (next <= t) {
            toTick.push_back(job->coordinator);
          } else {
            nextTimer = std::min(nextTimer, next);
          }
        }
        if (job->finalCheckpointWanted) {
          if (t >= job->finalCheckpointAtMs) {
            job->finalCheckpointWanted = false;
            toFinal.push_back(FinalCheckpoint{job->id, job->attempt, job->coordinator,
                                              job->checkpointing->options.type});
          } else {
            nextTimer = std::min(nextTimer, job->finalCheckpointAtMs);
          }
        }
        continue;
      }
      if (job->status == JobStatus::kRestarting) {
        if (t < job->restartAtMs) {
          nextTimer = std::min(nextTimer, job->restartAtMs);
          continue;
        }
        ++job->restarts;
        ++job->attempt;
        job->releasing = true;
        job->waitingSinceMs = t;
        moduleLogger("jobmanager")
            ->info("{}: restart {} (attempt {})", jobLabel(job->id, job->name), job->restarts,
                   job->attempt);
        transition(*job, JobStatus::kCreated);
        toRelease.push_back({job->id, false});
        continue;
      }
      if (job->status != JobStatus::kCreated || job->deploying || job->releasing) continue;
      if (takeSlots(*job)) {
        job->deploying = true;
        transition(*job, JobStatus::kRunning);
        toDeploy.push_back(job->id);
        continue;
      }
      int64_t deadline = job->waitingSinceMs + job->slotRequestTimeout.count();
      if (t < deadline) {
        nextTimer = std::min(nextTimer, deadline);
        continue;
      }
      size_t usable = 0;
      size_t free = 0;
      for (const auto& [id, slot] : slots_) {
        usable += slot.lost ? 0 : 1;
        free += slot.free && !slot.lost ? 1 : 0;
      }
      Status cause = Status::resourceExhausted(fmt::format(
          "{}: could not get {} slots within slot.request.timeout ({} ms): {} of {} slots "
          "are free on {} TaskManagers",
          jobLabel(job->id, job->name), job->graph->maxVertexParallelism(),
          job->slotRequestTimeout.count(), free, usable, taskManagers_.size()));
      job->failure = cause;
      transition(*job, JobStatus::kFailing, cause);
      job->executions.clear();
      job->terminal = 0;
      onAllTerminal(*job);
    }
    if (toRelease.empty() && toDeploy.empty() && toTick.empty() && toFinal.empty() &&
        toStop.empty()) {
      if (schedulerWoken_) continue;  // something changed while this pass ran
      if (nextTimer == std::numeric_limits<int64_t>::max()) {
        schedulerCv_.wait(lock, [&] { return stopping_ || schedulerWoken_; });
      } else {
        milliseconds wait(std::max<int64_t>(0, nextTimer - t));
        if (clock_ != &SystemClock::instance()) wait = std::min(wait, kManualClockPoll);
        schedulerCv_.wait_for(lock, wait, [&] { return stopping_ || schedulerWoken_; });
      }
      continue;
    }
    std::vector<TaskManagerGateway*> gateways;
    for (const TaskManagerEntry& entry : taskManagers_) gateways.push_back(entry.gateway);
    lock.unlock();
    for (const auto& coordinator : toStop) {
      coordinator->stop(Status::cancelled("the job attempt ended"));
    }
    toStop.clear();
    for (const auto& coordinator : toTick) coordinator->tick();
    toTick.clear();
    for (const FinalCheckpoint& final : toFinal) {
      triggerFinalCheckpoint(final.jobId, final.attempt, final.coordinator, final.type);
    }
    toFinal.clear();
    for (const Release& release : toRelease) {
      for (TaskManagerGateway* gateway : gateways) {
        callGateway(gateway, [&](TaskManagerGateway* tm) {
          tm->releaseJob(release.jobId, release.jobEnded);
        });
      }
    }
    lock.lock();
    for (const Release& release : toRelease) {
      auto it = jobs_.find(release.jobId);
      if (it != jobs_.end()) it->second->releasing = false;
    }
    lock.unlock();
    for (const std::string& id : toDeploy) deployAttempt(id);
    lock.lock();
  }
}

std::vector<TaskDeploymentDescriptor> JobManager::buildDeployments(const Job& job) const {
  const graph::JobGraph& g = *job.graph;
  std::vector<TaskDeploymentDescriptor> deployments;
  auto addressOf = [&](int subtask) {
    const Slot& slot = slots_.at(job.slotsTaken[static_cast<size_t>(subtask)]);
    const TaskManagerEntry* entry = findTaskManager(slot.taskManager);
    return entry ? entry->dataAddress : std::string();
  };
  for (const graph::JobVertex& vertex : g.vertices()) {
    for (int s = 0; s < vertex.parallelism; ++s) {
      TaskDeploymentDescriptor d;
      d.attemptId = ExecutionAttemptId{job.id, vertex.id, s, job.attempt};
      d.jobGraph = job.graph;
      d.jobInformation = job.info;
      for (int edgeId : vertex.outputs) {
        const graph::JobEdge& edge = g.edges()[static_cast<size_t>(edgeId)];
        const graph::JobVertex& consumer = g.vertices()[static_cast<size_t>(edge.targetVertex)];
        int n = edge.pointwise()
                    ? static_cast<int>(
                          pointwiseConsumers(s, vertex.parallelism, consumer.parallelism).size())
                    : consumer.parallelism;
        d.outputs.push_back(ResultPartitionDescriptor{
            edgeId, network::ResultPartitionId{job.id, edgeId, s, job.attempt}, n});
      }
      for (int edgeId : vertex.inputs) {
        const graph::JobEdge& edge = g.edges()[static_cast<size_t>(edgeId)];
        const graph::JobVertex& producer = g.vertices()[static_cast<size_t>(edge.sourceVertex)];
        InputGateDescriptor gate;
        gate.jobEdge = edgeId;
        for (int i = 0; i < producer.parallelism; ++i) {
          network::ResultPartitionId id{job.id, edgeId, i, job.attempt};
          // Slot sharing: producer subtask i runs in the job's i-th slot.
          if (!edge.pointwise()) {
            gate.channels.push_back(InputChannelDescriptor{id, s, addressOf(i)});
            continue;
          }
          std::vector<int> consumers =
              pointwiseConsumers(i, producer.parallelism, vertex.parallelism);
          auto it = std::find(consumers.begin(), consumers.end(), s);
          if (it != consumers.end()) {
            gate.channels.push_back(
                InputChannelDescriptor{id, static_cast<int>(it - consumers.begin()), addressOf(i)});
          }
        }
        d.inputs.push_back(std::move(gate));
      }
      deployments.push_back(std::move(d));
    }
  }
  return deployments;
}

void JobManager::deployAttempt(const std::string& jobId) {
  std::vector<TaskDeploymentDescriptor> deployments;
  std::vector<TaskManagerGateway*> targets;
  std::string name;
  std::shared_ptr<const graph::JobGraph> graph;
  int attempt = 0;
  std::optional<CheckpointSettings> checkpointing;
  std::string restorePath;
  bool allowUnclaimedState = false;
  std::set<int64_t> unrestorable;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(jobId);
    if (it == jobs_.end()) return;
    Job& job = *it->second;
    if (job.status != JobStatus::kRunning) {
      job.deploying = false;
      return;
    }
    graph = job.graph;
    attempt = job.attempt;
    checkpointing = job.checkpointing;
    restorePath = job.restorePath;
    allowUnclaimedState = job.allowUnclaimedState;
    unrestorable = job.unrestorable;
  }
  // Files are read and the coordinator made without mu_ held.
  int64_t restoredCheckpointId = -1;
  auto restore = assignRestore(jobId, *graph, attempt, checkpointing, restorePath,
                               allowUnclaimedState, unrestorable, restoredCheckpointId);
  Result<std::shared_ptr<checkpoint::CheckpointCoordinator>> coordinator(
      std::shared_ptr<checkpoint::CheckpointCoordinator>{});
  if (checkpointing) coordinator = createCoordinator(jobId, attempt, *graph, *checkpointing);
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(jobId);
    if (it == jobs_.end()) return;
    Job& job = *it->second;
    if (job.status != JobStatus::kRunning || job.attempt != attempt) {
      job.deploying = false;  // stopped meanwhile
      jobChanged_.notify_all();
      return;
    }
    if (!restore.isOk() || !coordinator.isOk()) {
      // A checkpoint that cannot be restored fails again on every restart.
      if (!restore.isOk()) job.suppressRestart = true;
      Status cause = restore.isOk() ? coordinator.status() : restore.status();
      // Nothing is deployed yet: every execution becomes CANCELED, none is to cancel.
      CancelList none =
          stopExecutions(job, JobStatus::kFailing, cause.withContext(jobLabel(jobId, job.name)));
      job.deploying = false;
      jobChanged_.notify_all();
      return;
    }
    job.coordinator = std::move(coordinator).value();
    job.coordinatorStarted = false;
    job.restoredCheckpointId = restoredCheckpointId;
    deployments = buildDeployments(job);
    // Decided here once for every task: whether to wait for a final checkpoint, and where state
    // goes (the coordinator's directory).
    TaskDeploymentDescriptor::Checkpointing checkpointing;
    if (job.checkpointing) {
      checkpointing.periodic = job.checkpointing->options.interval.count() > 0;
      checkpointing.directory =
          std::filesystem::absolute(job.checkpointing->checkpointsDir).string();
    }
    for (TaskDeploymentDescriptor& d : deployments) d.checkpointing = checkpointing;
    if (!restore->empty()) {
      for (TaskDeploymentDescriptor& d : deployments) {
        d.restore = std::make_shared<const checkpoint::proto::TaskRestore>(
            (*restore)[static_cast<size_t>(d.attemptId.vertexId)]
                      [static_cast<size_t>(d.attemptId.subtaskIndex)]);
      }
    }
    for (const Execution& e : job.executions) targets.push_back(e.taskManager);
    name = job.name;
  }
  auto logger = moduleLogger("jobmanager");
  // Reject a job that some TaskManager can never hold before deploying any of its tasks.
  std::vector<TaskManagerGateway*> taskManagers;
  for (TaskManagerGateway* tm : targets) {
    if (std::find(taskManagers.begin(), taskManagers.end(), tm) == taskManagers.end()) {
      taskManagers.push_back(tm);
    }
  }
  for (TaskManagerGateway* tm : taskManagers) {
    std::vector<const TaskDeploymentDescriptor*> tasks;
    for (size_t i = 0; i < deployments.size(); ++i) {
      if (targets[i] == tm) tasks.push_back(&deployments[i]);
    }
    Status fits;
    callGateway(tm,
                [&](TaskManagerGateway* gateway) { fits = gateway->checkJobFits(name, tasks); });
    if (!fits.isOk()) {
      {
        std::lock_guard lock(mu_);
        if (Job* job = findJob(jobId)) {
          job->suppressRestart = true;  // the job can never run on these TaskManagers
          // Nothing is deployed yet: every execution becomes CANCELED, none is to cancel.
          CancelList none = stopExecutions(*job, JobStatus::kFailing, fits);
          job->deploying = false;
        }
      }
      jobChanged_.notify_all();
      return;
    }
  }
  logger->info("{}: deploying {} tasks, attempt {}", jobLabel(jobId, name), deployments.size(),
               deployments.front().attemptId.attempt);
  logger->debug("job {} plan: {}", jobId, deployments.front().jobGraph->toJson());
  // Vertices are in topological order, so producers register their partitions before their
  // consumers are deployed. A task may fail while later ones are still being deployed: then
  // the rest are not deployed (stopExecutions marks them CANCELED), and a task deployed just
  // as the job began failing is cancelled again (its first cancel may have reached the
  // TaskManager before the task did).
  for (size_t i = 0; i < deployments.size(); ++i) {
    ExecutionAttemptId attemptId = deployments[i].attemptId;
    {
      std::lock_guard lock(mu_);
      Job* job = findJob(jobId);
      if (job == nullptr || job->status != JobStatus::kRunning) break;
      Execution& e = job->executions[i];
      if (isTerminal(e.state)) continue;  // its TaskManager was lost meanwhile
      e.state = ExecutionState::kDeploying;
    }
    Status status = Status::unavailable("TaskManager of " + attemptId.toString() + " is lost");
    callGateway(targets[i], [&](TaskManagerGateway* tm) {
      status = tm->submitTask(std::move(deployments[i]));
    });
    CancelList toCancel;
    {
      std::lock_guard lock(mu_);
      Job* found = findJob(jobId);
      if (found == nullptr) break;  // ended and dropped from the store meanwhile
      Job& job = *found;
      Execution& e = job.executions[i];
      if (!status.isOk() && !isTerminal(e.state) && !e.lost) {
        toCancel = stopExecutions(job, JobStatus::kFailing,
                                  status.withContext("deploying " + attemptId.toString()));
        std::erase_if(toCancel, [&](const auto& c) { return c.second == attemptId; });
        setTerminal(job, e, ExecutionState::kFailed);
      } else if (status.isOk() && job.status != JobStatus::kRunning && !isTerminal(e.state) &&
                 !e.lost) {
        toCancel.emplace_back(targets[i], attemptId);
      }
    }
    jobChanged_.notify_all();
    cancelAll(toCancel);
  }
  {
    std::lock_guard lock(mu_);
    if (Job* job = findJob(jobId)) job->deploying = false;
  }
  jobChanged_.notify_all();
}

JobManager::Job* JobManager::findJob(const std::string& jobId) {
  auto it = jobs_.find(jobId);
  return it == jobs_.end() ? nullptr : it->second.get();
}

// --- Checkpoints ------------------------------------------------------------------------------

Result<std::vector<std::vector<checkpoint::proto::TaskRestore>>> JobManager::assignRestore(
    const std::string& jobId, const graph::JobGraph& graph, int attempt,
    const std::optional<CheckpointSettings>& checkpointing, const std::string& restorePath,
    bool allowUnclaimedState, const std::set<int64_t>& unrestorable,
    int64_t& restoredCheckpointId) {
  auto logger = moduleLogger("jobmanager");
  restoredCheckpointId = -1;
  std::optional<checkpoint::RestorePoint> point;
  std::string from;
  if (attempt > 0 && checkpointing) {
    std::filesystem::path jobDir = checkpointing->checkpointsDir / jobId;
    auto latest = checkpoint::findLatestCompleted(jobDir, jobId, unrestorable);
    if (latest.isOk()) {
      std::error_code ec;
      from = "checkpoint " + latest->directory.string();
      restoredCheckpointId = latest->checkpointId;
      point = checkpoint::RestorePoint{std::move(latest->metadata),
                                       std::filesystem::absolute(jobDir, ec)};
    } else if (latest.status().code() != StatusCode::kNotFound) {
      return latest.status();
    } else if (!unrestorable.empty()) {
      // Starting from nothing (or the savepoint the job began with) would drop the state
      // the failed checkpoints hold.
      return Status::failedPrecondition(fmt::format(
          "checkpoint {} of job {} cannot be restored (a state file is corrupt or missing) and "
          "no other retained checkpoint is left in '{}'; restore a savepoint with -s, or keep more "
          "checkpoints (state.checkpoints.num-retained)",
          *unrestorable.rbegin(), jobId, jobDir.string()));
    }
  }
  if (!point && !restorePath.empty()) {
    auto read = checkpoint::readRestorePoint(restorePath);
    if (!read.isOk()) {
      return read.status().withContext("cannot restore from execution.savepoint.path '" +
                                       restorePath + "'");
    }
    from = (read->metadata.savepoint() ? "savepoint " : "checkpoint ") + restorePath;
    point = std::move(read).value();
  }
  if (!point) return std::vector<std::vector<checkpoint::proto::TaskRestore>>{};
  std::vector<checkpoint::RestoreVertex> vertices;
  for (const graph::JobVertex& v : graph.vertices()) {
    vertices.push_back(checkpoint::RestoreVertex{v.id, v.parallelism, v.maxParallelism, v.chainUids,
                                                 v.inputs, v.outputs});
  }
  std::vector<checkpoint::RestoreEdge> edges;
  for (const graph::JobEdge& e : graph.edges()) {
    edges.push_back(checkpoint::RestoreEdge{e.id, e.sourceVertex, e.targetVertex, e.pointwise(),
                                            e.kind == PartitionerKind::kBroadcast});
  }
  auto assigned = checkpoint::assignState(*point, vertices, allowUnclaimedState, edges);
  if (!assigned.isOk()) {
    return assigned.status().withContext("cannot restore from " + from);
  }
  logger->info("job {}: attempt {} restores from {} (checkpoint id {})", jobId, attempt, from,
               point->metadata.checkpoint_id());
  return assigned;
}

Result<std::shared_ptr<checkpoint::CheckpointCoordinator>> JobManager::createCoordinator(
    const std::string& jobId, int attempt, const graph::JobGraph& graph,
    const CheckpointSettings& settings) {
  STROM_ASSIGN_OR_RETURN(checkpoint::CheckpointStorage storage,
                         checkpoint::CheckpointStorage::create(settings.checkpointsDir, jobId));
  std::vector<checkpoint::CheckpointVertex> vertices;
  for (const graph::JobVertex& v : graph.vertices()) {
    vertices.push_back(checkpoint::CheckpointVertex{
        v.id, v.chainUids.empty() ? std::string() : v.chainUids.front(), v.parallelism,
        v.maxParallelism});
  }
  checkpoint::CheckpointCoordinatorCallbacks callbacks;
  callbacks.trigger = [this, jobId, attempt](int64_t id, int64_t timestamp,
                                             const checkpoint::proto::CheckpointOptions& options) {
    return triggerTasks(jobId, attempt, id, timestamp, options);
  };
  callbacks.notifyComplete = [this, jobId, attempt](int64_t id) {
    notifyTasks(jobId, attempt, id, /*completed=*/true);
  };
  callbacks.notifyAborted = [this, jobId, attempt](int64_t id, const Status&) {
    notifyTasks(jobId, attempt, id, /*completed=*/false);
  };
  callbacks.failJob = [this, jobId, attempt](const Status& cause) {
    failAttempt(jobId, attempt, cause);
  };
  STROM_ASSIGN_OR_RETURN(std::unique_ptr<checkpoint::CheckpointCoordinator> coordinator,
                         checkpoint::CheckpointCoordinator::create(
                             settings.options, std::move(storage), std::move(vertices),
                             std::move(callbacks), *clock_));
  return std::shared_ptr<checkpoint::CheckpointCoordinator>(std::move(coordinator));
}

Status JobManager::triggerTasks(const std::string& jobId, int attempt, int64_t checkpointId,
                                int64_t timestamp,
                                const checkpoint::proto::CheckpointOptions& options) {
  std::vector<std::pair<TaskManagerGateway*, ExecutionAttemptId>> targets;
  {
    std::lock_guard lock(mu_);
    Job* job = findJob(jobId);
    if (stopping_ || job == nullptr || job->attempt != attempt ||
        job->status != JobStatus::kRunning) {
      return Status::failedPrecondition(
          fmt::format("job {}: attempt {} is not running", jobId, attempt));
    }
    if (!options.final() && job->sourceEnded) {
      return Status::failedPrecondition(
          fmt::format("job {}: a source reached the end of its input", jobId));
    }
    if (job->terminating && !options.terminate()) {
      return Status::failedPrecondition(
          fmt::format("job {}: it is stopping with a savepoint", jobId));
    }
    for (const Execution& e : job->executions) {
      if (!options.final() &&
          !job->graph->vertices()[static_cast<size_t>(e.attemptId.vertexId)].isSource()) {
        continue;
      }
      if (e.state != ExecutionState::kRunning || e.lost) {
        return Status::failedPrecondition(
            fmt::format("task {} is {}", e.attemptId.toString(), executionStateName(e.state)));
      }
      targets.emplace_back(e.taskManager, e.attemptId);
    }
  }
  for (const auto& [gateway, attemptId] : targets) {
    Status status = Status::unavailable("the TaskManager of " + attemptId.toString() + " is lost");
    callGateway(gateway, [&](TaskManagerGateway* tm) {
      status = tm->triggerCheckpoint(attemptId, checkpointId, timestamp, options);
    });
    if (!status.isOk()) return status.withContext("triggering " + attemptId.toString());
  }
  return Status::ok();
}

void JobManager::notifyTasks(const std::string& jobId, int attempt, int64_t checkpointId,
                             bool completed) {
  std::vector<std::pair<TaskManagerGateway*, ExecutionAttemptId>> targets;
  {
    std::lock_guard lock(mu_);
    Job* job = findJob(jobId);
    if (stopping_ || job == nullptr || job->attempt != attempt ||
        job->status != JobStatus::kRunning) {
      return;
    }
    for (const Execution& e : job->executions) {
      if (!isTerminal(e.state) && !e.lost) targets.emplace_back(e.taskManager, e.attemptId);
    }
  }
  for (const auto& [gateway, attemptId] : targets) {
    callGateway(gateway, [&](TaskManagerGateway* tm) {
      if (completed) {
        tm->notifyCheckpointComplete(attemptId, checkpointId);
      } else {
        tm->notifyCheckpointAborted(attemptId, checkpointId);
      }
    });
  }
}

void JobManager::failAttempt(const std::string& jobId, int attempt, const Status& cause) {
  CancelList toCancel;
  {
    std::lock_guard lock(mu_);
    Job* job = findJob(jobId);
    if (stopping_ || job == nullptr || job->attempt != attempt) return;
    toCancel = stopExecutions(*job, JobStatus::kFailing, cause);
  }
  jobChanged_.notify_all();
  cancelAll(toCancel);
}

void JobManager::triggerFinalCheckpoint(
    const std::string& jobId, int attempt,
    const std::shared_ptr<checkpoint::CheckpointCoordinator>& coordinator, int checkpointType) {
  checkpoint::CheckpointRequest request;
  request.options.set_final(true);
  request.options.set_type(checkpointType);
  // An aborted final checkpoint is tried again (tolerable-failed-checkpoints bounds declines
  // and timeouts); the tasks wait for it.
  request.onDone = [this, jobId, attempt](const Result<std::string>& result) {
    if (result.isOk()) return;
    std::lock_guard lock(mu_);
    Job* job = findJob(jobId);
    if (job == nullptr || job->attempt != attempt || job->status != JobStatus::kRunning) return;
    job->finalCheckpointWanted = true;
    job->finalCheckpointAtMs = now() + kFinalCheckpointRetry.count();
    wakeScheduler();
  };
  auto id = coordinator->trigger(std::move(request));
  if (id.isOk()) {
    moduleLogger("jobmanager")
        ->info("job {}: every task reached the end of its input; final checkpoint {}", jobId, *id);
  }
}

void JobManager::acknowledgeCheckpoint(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                                       const checkpoint::proto::SubtaskState& state) {
  std::shared_ptr<checkpoint::CheckpointCoordinator> coordinator = coordinatorFor(attemptId);
  if (!coordinator) return;
  const int64_t before = coordinator->nextTickMillis();
  coordinator->acknowledge({attemptId.vertexId, attemptId.subtaskIndex}, checkpointId, state);
  wakeSchedulerIfSooner(*coordinator, before);
}

std::shared_ptr<checkpoint::CheckpointCoordinator> JobManager::coordinatorFor(
    const ExecutionAttemptId& attemptId) {
  std::lock_guard lock(mu_);
  Job* job = findJob(attemptId.jobId);
  // Another attempt's messages (checkpoint ids continue across attempts) are dropped.
  if (job == nullptr || job->attempt != attemptId.attempt) return nullptr;
  return job->coordinator;
}

void JobManager::wakeSchedulerIfSooner(const checkpoint::CheckpointCoordinator& coordinator,
                                       int64_t before) {
  // A completed or aborted checkpoint may bring the next trigger forward (the scheduler thread
  // otherwise sleeps until the pending checkpoint's timeout).
  if (coordinator.nextTickMillis() >= before) return;
  std::lock_guard lock(mu_);
  wakeScheduler();
}

void JobManager::declineCheckpoint(const ExecutionAttemptId& attemptId, int64_t checkpointId,
                                   const Status& reason) {
  std::shared_ptr<checkpoint::CheckpointCoordinator> coordinator = coordinatorFor(attemptId);
  if (!coordinator) return;
  const int64_t before = coordinator->nextTickMillis();
  coordinator->decline({attemptId.vertexId, attemptId.subtaskIndex}, checkpointId, reason);
  wakeSchedulerIfSooner(*coordinator, before);
}

void JobManager::reportEndOfInput(const ExecutionAttemptId& attemptId) {
  std::lock_guard lock(mu_);
  Job* job = findJob(attemptId.jobId);
  if (job == nullptr || job->attempt != attemptId.attempt || job->status != JobStatus::kRunning) {
    return;
  }
  auto e = std::find_if(job->executions.begin(), job->executions.end(),
                        [&](const Execution& x) { return x.attemptId == attemptId; });
  if (e == job->executions.end() || isTerminal(e->state) || e->lost || e->endOfInput) return;
  e->endOfInput = true;
  ++job->endOfInputs;
  if (job->graph->vertices()[static_cast<size_t>(attemptId.vertexId)].isSource()) {
    job->sourceEnded = true;
  }
  if (job->endOfInputs == job->executions.size() && job->coordinator) {
    job->finalCheckpointWanted = true;
    job->finalCheckpointAtMs = 0;
    wakeScheduler();
  }
}

Result<std::string> JobManager::triggerSavepoint(const std::string& jobId,
                                                 const std::string& targetDirectory, bool terminate,
                                                 std::chrono::milliseconds timeout) {
  std::shared_ptr<checkpoint::CheckpointCoordinator> coordinator;
  std::filesystem::path target;
  int attempt = 0;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(jobId);
    if (it == jobs_.end() || dropped(*it->second, now())) {
      return Status::notFound("job " + jobId + " is unknown");
    }
    Job& job = *it->second;
    std::string label = jobLabel(jobId, job.name);
    if (!job.checkpointing) {
      return Status::failedPrecondition(label + ": config key 'state.checkpoints.dir' is not set");
    }
    std::string dir = targetDirectory.empty() ? job.checkpointing->savepointsDir : targetDirectory;
    if (dir.empty()) {
      return Status::invalidArgument(label +
                                     ": no savepoint directory given, and config key "
                                     "'state.savepoints.dir' is not set");
    }
    if (job.status != JobStatus::kRunning) {
      return Status::failedPrecondition(label + " is " + jobStatusName(job.status) +
                                        ", not RUNNING");
    }
    if (!job.coordinator || !job.coordinatorStarted) {
      return Status::failedPrecondition(label + ": not every task is running yet");
    }
    if (job.sourceEnded) {
      return Status::failedPrecondition(label + ": a source reached the end of its input");
    }
    if (job.terminating) {
      return Status::failedPrecondition(label + " is stopping with a savepoint already");
    }
    std::error_code ec;
    target = std::filesystem::absolute(dir, ec) /
             fmt::format("savepoint-{}-{:06x}", jobId.substr(0, 6), idRandom_() & 0xffffff);
    coordinator = job.coordinator;
    attempt = job.attempt;
    job.terminating = terminate;
  }
  auto promise = std::make_shared<std::promise<Result<std::string>>>();
  std::future<Result<std::string>> done = promise->get_future();
  checkpoint::CheckpointRequest request;
  request.options.set_savepoint(true);
  request.options.set_terminate(terminate);
  request.writeSavepoint =
      [jobDir = coordinator->storage().jobDir(),
       target](const checkpoint::proto::CheckpointMetadata& metadata) -> Result<std::string> {
    STROM_ASSIGN_OR_RETURN(std::filesystem::path dir,
                           checkpoint::writeSavepoint(jobDir, metadata, target));
    return dir.string();
  };
  request.onDone = [this, promise, jobId, attempt, terminate](const Result<std::string>& result) {
    if (!result.isOk() && terminate) {
      // The sources go on (they were told notifyCheckpointAborted).
      std::lock_guard lock(mu_);
      Job* job = findJob(jobId);
      if (job != nullptr && job->attempt == attempt) job->terminating = false;
    }
    promise->set_value(result);
  };
  auto id = coordinator->trigger(std::move(request));
  if (!id.isOk()) {
    std::lock_guard lock(mu_);
    Job* job = findJob(jobId);
    if (job != nullptr && job->attempt == attempt) job->terminating = false;
    return id.status();
  }
  moduleLogger("jobmanager")
      ->info("job {}: savepoint {} triggered{}, into {}", jobId, *id, terminate ? " (stop)" : "",
             target.string());
  if (done.wait_for(timeout) != std::future_status::ready) {
    return Status::deadlineExceeded(fmt::format(
        "job {}: savepoint {} did not complete within {} ms", jobId, *id, timeout.count()));
  }
  Result<std::string> result = done.get();
  if (!result.isOk()) return result.status().withContext(fmt::format("job {}", jobId));
  return result;
}

}  // namespace strom::runtime
