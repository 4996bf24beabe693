#pragma once

// What the two daemons' mains share: their command line (--config-dir, -D key=value), loading
// and checking the configuration, and waiting for SIGINT or SIGTERM on the main thread.

#include <signal.h>
#include <strom/config.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "common/config_options.h"

namespace strom::daemon {

/// Block SIGINT and SIGTERM in this thread and every thread it starts later, so that only
/// waitForShutdownSignal() receives them. Call first in main.
inline void blockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

/// Wait for SIGINT or SIGTERM; return its number.
inline int waitForShutdownSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  int signal = 0;
  while (sigwait(&signals, &signal) != 0) {
  }
  return signal;
}

/// Parse the daemon's arguments and load its configuration. On --help, print it and return
/// exit code 0 in `exitCode`; on an error, print one line "<program>: error: ..." and set
/// `exitCode` to 2. Returns the configuration when the daemon should start.
inline std::optional<Configuration> loadDaemonConfiguration(const std::string& program,
                                                            const std::string& description,
                                                            int argc, char** argv, int& exitCode) {
  CLI::App app{description, program};
  std::string configDir;
  std::vector<std::string> options;
  app.add_option("--config-dir", configDir,
                 "directory of strom.yaml (default: $STROM_CONF_DIR, else conf/ next to bin/)");
  app.add_option("-D", options, "configuration key=value over the file (repeatable)")
      ->allow_extra_args(false);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exitCode = e.get_exit_code();
    if (exitCode == 0) {
      app.exit(e);
    } else {
      std::fprintf(stderr, "%s: error: %s\n", program.c_str(), e.what());
      exitCode = 2;
    }
    return std::nullopt;
  }
  auto config = loadProcessConfiguration(configDir, options);
  if (!config.isOk()) {
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), config.status().message().c_str());
    exitCode = 2;
    return std::nullopt;
  }
  return std::move(*config);
}

}  // namespace strom::daemon
