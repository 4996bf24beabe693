#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace strom {

/// Return the logger of `module` ("jobmanager", "task", ...): one per module, writing to
/// standard error (standard output belongs to the job: print sinks write there). Thread-safe.
std::shared_ptr<spdlog::logger> moduleLogger(const std::string& module);

}  // namespace strom
