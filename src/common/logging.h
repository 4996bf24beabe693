#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace strom {

/// Return the logger of `module` ("jobmanager", "task", ...): one per module, writing to
/// standard error (standard output belongs to the job: print sinks write there). Thread-safe.
std::shared_ptr<spdlog::logger> moduleLogger(const std::string& module);

}  // namespace strom
