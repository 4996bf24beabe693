// strom-taskmanager: the TaskManager daemon. Offers taskmanager.numberOfTaskSlots slots to the
// JobManager at jobmanager.rpc.address:jobmanager.rpc.port, heartbeats to it, and runs the
// tasks deployed to it: it fetches each job's library from the JobManager's blob store, loads
// it, builds the job with the client's arguments and checks that the topology's fingerprint is
// the one the client submitted.
//
//   strom-taskmanager [--config-dir DIR] [-D key=value]...

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "bin/daemon.h"
#include "common/logging.h"
#include "runtime/taskmanager/task_manager_server.h"

int main(int argc, char** argv) {
  using namespace strom;
  daemon::blockShutdownSignals();
  int exitCode = 0;
  auto config = daemon::loadDaemonConfiguration(
      "strom-taskmanager", "Strom TaskManager: runs the tasks of jobs.", argc, argv, exitCode);
  if (!config) return exitCode;
  auto server = runtime::TaskManagerServer::start(*config, runtime::jobLibraryResolver());
  if (!server.isOk()) {
    std::fprintf(stderr, "strom-taskmanager: error: %s\n", server.status().message().c_str());
    return 1;
  }
  auto log = moduleLogger("taskmanager");
  // The server ends on its own when it cannot register within taskmanager.registration.timeout:
  // then wake the main thread as a signal would.
  Status failure;
  std::thread watcher([&] {
    failure = (*server)->awaitTermination();
    if (!failure.isOk()) ::kill(::getpid(), SIGTERM);
  });
  int signal = daemon::waitForShutdownSignal();
  (*server)->shutdown();
  watcher.join();
  if (!failure.isOk()) {
    std::fprintf(stderr, "strom-taskmanager: error: %s\n", failure.message().c_str());
    return 1;
  }
  log->info("shut down on signal {}", signal);
  return 0;
}
