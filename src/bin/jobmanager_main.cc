// strom-jobmanager: the JobManager daemon. Serves the JobManager and Blob gRPC services on
// jobmanager.rpc.address:jobmanager.rpc.port (127.0.0.1:6123 by default; port 0 picks a free
// one), schedules jobs onto the TaskManagers that register, and restarts failed jobs. It never
// loads job libraries: user code runs only in the client and on TaskManagers.
//
//   strom-jobmanager [--config-dir DIR] [-D key=value]...

#include <cstdio>

#include "bin/daemon.h"
#include "common/logging.h"
#include "runtime/jobmanager/job_manager.h"
#include "runtime/jobmanager/job_manager_server.h"

int main(int argc, char** argv) {
  using namespace strom;
  daemon::blockShutdownSignals();
  int exitCode = 0;
  auto config = daemon::loadDaemonConfiguration(
      "strom-jobmanager", "Strom JobManager: schedules jobs onto TaskManagers.", argc, argv,
      exitCode);
  if (!config) return exitCode;
  runtime::JobManager jobManager(*config);
  // Its first log line names the address it bound ("JobManager listening on 127.0.0.1:6123").
  auto server = runtime::JobManagerServer::start(*config, jobManager);
  if (!server.isOk()) {
    std::fprintf(stderr, "strom-jobmanager: error: %s\n", server.status().message().c_str());
    return 1;
  }
  auto log = moduleLogger("jobmanager");
  int signal = daemon::waitForShutdownSignal();
  log->info("shutting down on signal {}", signal);
  (*server)->shutdown();
  return 0;
}
