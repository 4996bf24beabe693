#pragma once

#include <strom/status.h>

#include "proto/strom.pb.h"
#include "runtime/jobmanager/job_manager.h"

namespace strom::runtime {

// Conversions between a job's status and its protobuf form, for the JobManager service and its
// clients (the CLI).

rpc::JobStatus jobStatusToProto(JobStatus status);
/// InvalidArgument for a value this JobManager does not know (JOB_STATUS_UNKNOWN included).
Result<JobStatus> jobStatusFromProto(int status);

void jobStatusInfoToProto(const JobStatusInfo& info, rpc::JobStatusInfo* out);
Result<JobStatusInfo> jobStatusInfoFromProto(const rpc::JobStatusInfo& proto);

}  // namespace strom::runtime
