#include "runtime/jobmanager/job_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <utility>

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
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  schedulerCv_.notify_all();
  scheduler_.join();
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
  // The job's configuration wins over the JobManager's.
  Configuration config = configuration_;
  config.addAll(info ? info->configuration : jobGraph->configuration());
  auto job = std::make_unique<Job>();
  job->name = jobGraph->jobName();
  STROM_ASSIGN_OR_RETURN(job->restartStrategy, RestartStrategy::create(config));
  STROM_ASSIGN_OR_RETURN(job->slotRequestTimeout, slotRequestTimeout(config));
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
      return;
    }
    if (update.state == ExecutionState::kFailed) {
      Status cause = update.error.isOk() ? Status::internal(update.attemptId.toString() + " failed")
                                         : update.error;
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

void JobManager::onAllTerminal(Job& job) {
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
  if (job.restarts > 0) {
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
    std::vector<std::string> toRelease;
    std::vector<std::string> toDeploy;
    toRelease.swap(pendingReleases_);
    std::vector<Job*> ordered;
    for (auto& [id, job] : jobs_) ordered.push_back(job.get());
    std::sort(ordered.begin(), ordered.end(),
              [](const Job* a, const Job* b) { return a->sequence < b->sequence; });
    int64_t nextTimer = std::numeric_limits<int64_t>::max();
    for (Job* job : ordered) {
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
        toRelease.push_back(job->id);
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
    if (toRelease.empty() && toDeploy.empty()) {
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
    for (const std::string& id : toRelease) {
      for (TaskManagerGateway* gateway : gateways) {
        callGateway(gateway, [&](TaskManagerGateway* tm) { tm->releaseJob(id); });
      }
    }
    lock.lock();
    for (const std::string& id : toRelease) {
      auto it = jobs_.find(id);
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
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(jobId);
    if (it == jobs_.end()) return;
    Job& job = *it->second;
    if (job.status != JobStatus::kRunning) {
      job.deploying = false;
      return;
    }
    // TODO: issue 8 plugs in here: restore the job from its latest completed checkpoint
    // (set each descriptor's task state from the checkpoint's metadata) when job.attempt > 0
    // or when the job was submitted with a savepoint. Until then every attempt starts from
    // scratch.
    deployments = buildDeployments(job);
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

}  // namespace strom::runtime

namespace strom::runtime {

// Issue 8 in progress: the JobManager's checkpoint coordination lands next.
Result<std::string> JobManager::triggerSavepoint(const std::string& jobId,
                                                 const std::string& /*targetDirectory*/,
                                                 bool /*terminate*/,
                                                 std::chrono::milliseconds /*timeout*/) {
  return Status::failedPrecondition("job " + jobId + ": savepoints are not connected yet");
}
void JobManager::acknowledgeCheckpoint(const ExecutionAttemptId&, int64_t,
                                       const checkpoint::proto::SubtaskState&) {}
void JobManager::declineCheckpoint(const ExecutionAttemptId&, int64_t, const Status&) {}
void JobManager::reportEndOfInput(const ExecutionAttemptId&) {}

}  // namespace strom::runtime
