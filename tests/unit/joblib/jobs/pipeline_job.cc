// A well-formed job library: the pipeline of pipeline_job.h.

#include "pipeline_job.h"

STROM_JOB(buildPipelineJob)
