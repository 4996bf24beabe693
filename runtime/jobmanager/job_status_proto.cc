#include "runtime/jobmanager/job_status_proto.h"

#include <string>

#include "runtime/task/deployment_proto.h"

namespace strom::runtime {

rpc::JobStatus jobStatusToProto(JobStatus status) {
  switch (status) {
    case JobStatus::kCreated:
      return rpc::JOB_STATUS_CREATED;
    case JobStatus::kRunning:
      return rpc::JOB_STATUS_RUNNING;
    case JobStatus::kFailing:
      return rpc::JOB_STATUS_FAILING;
    case JobStatus::kFailed:
      return rpc::JOB_STATUS_FAILED;
    case JobStatus::kCancelling:
      return rpc::JOB_STATUS_CANCELLING;
    case JobStatus::kCanceled:
      return rpc::JOB_STATUS_CANCELED;
    case JobStatus::kFinished:
      return rpc::JOB_STATUS_FINISHED;
    case JobStatus::kRestarting:
      return rpc::JOB_STATUS_RESTARTING;
  }
  return rpc::JOB_STATUS_UNKNOWN;
}

Result<JobStatus> jobStatusFromProto(int status) {
  switch (status) {
    case rpc::JOB_STATUS_CREATED:
      return JobStatus::kCreated;
    case rpc::JOB_STATUS_RUNNING:
      return JobStatus::kRunning;
    case rpc::JOB_STATUS_FAILING:
      return JobStatus::kFailing;
    case rpc::JOB_STATUS_FAILED:
      return JobStatus::kFailed;
    case rpc::JOB_STATUS_CANCELLING:
      return JobStatus::kCancelling;
    case rpc::JOB_STATUS_CANCELED:
      return JobStatus::kCanceled;
    case rpc::JOB_STATUS_FINISHED:
      return JobStatus::kFinished;
    case rpc::JOB_STATUS_RESTARTING:
      return JobStatus::kRestarting;
    default:
      return Status::invalidArgument("unknown job status " + std::to_string(status));
  }
}

void jobStatusInfoToProto(const JobStatusInfo& info, rpc::JobStatusInfo* out) {
  out->set_job_id(info.jobId);
  out->set_job_name(info.jobName);
  out->set_status(jobStatusToProto(info.status));
  if (!info.failure.isOk()) statusToProto(info.failure, out->mutable_error());
  out->set_start_time_ms(info.startTimeMs);
  out->set_duration_ms(info.durationMs);
  out->set_restarts(info.restarts);
  for (const auto& [name, value] : info.counters) {
    rpc::Counter* counter = out->add_counters();
    counter->set_name(name);
    counter->set_value(value);
  }
}

Result<JobStatusInfo> jobStatusInfoFromProto(const rpc::JobStatusInfo& proto) {
  JobStatusInfo info;
  info.jobId = proto.job_id();
  info.jobName = proto.job_name();
  auto status = jobStatusFromProto(proto.status());
  if (!status.isOk()) return status.status().withContext("job " + proto.job_id());
  info.status = *status;
  info.failure = statusFromProto(proto.error());
  info.startTimeMs = proto.start_time_ms();
  info.durationMs = proto.duration_ms();
  info.restarts = proto.restarts();
  for (const rpc::Counter& counter : proto.counters())
    info.counters[counter.name()] = counter.value();
  return info;
}

}  // namespace strom::runtime
