#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace strom {

std::shared_ptr<spdlog::logger> moduleLogger(const std::string& module) {
  if (auto existing = spdlog::get(module)) return existing;
  try {
    return spdlog::stderr_color_mt(module);
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get(module);  // another thread created it first
  }
}

}  // namespace strom
