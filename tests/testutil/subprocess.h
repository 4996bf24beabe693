#pragma once

// Running a program of the build as a child process, for tests of example jobs and daemons:
// no shell, stdin from /dev/null, stdout and stderr captured in files, and a bounded wait.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace strom::testutil {

struct RunResult {
  int exitCode = -1;  // the child's exit status, or -1 if it did not exit normally
  int signal = 0;     // the signal that ended the child, if any
  bool timedOut = false;
  std::string spawnError;  // set if the child could not be started
  std::string out;         // everything the child wrote to stdout
  std::string err;         // everything the child wrote to stderr
};

inline std::string readWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool writeWholeFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

/// Wait up to `timeout` for child `pid` to exit, without reaping it; return false on timeout.
/// Uses a pidfd so the wait is an event wait with a bound, not a sleep-and-poll loop. Without
/// pidfd support it returns true at once (the caller's waitpid then blocks; ctest's TIMEOUT stops
/// a hung run).
inline bool waitForExitEvent(pid_t pid, std::chrono::milliseconds timeout) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return true;
  pollfd entry{pidfd, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&entry, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  ::close(pidfd);
  return ready != 0;
}

/// Wait for `pid` to exit, killing it if it outlives `deadline`.
inline void waitForChild(pid_t pid, std::chrono::milliseconds deadline, RunResult& result) {
  if (!waitForExitEvent(pid, deadline)) {
    result.timedOut = true;
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exitCode = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
}

/// Run `binary` with `args` (passed as they are), stdout and stderr captured through the files
/// `scratchDir`/child.stdout and child.stderr, killed after `deadline`.
inline RunResult runProcess(const std::string& binary, const std::vector<std::string>& args,
                            const std::string& scratchDir, std::chrono::milliseconds deadline) {
  RunResult result;
  std::string outPath = scratchDir + "/child.stdout";
  std::string errPath = scratchDir + "/child.stderr";
  std::vector<std::string> argvStrings;
  argvStrings.push_back(binary);
  argvStrings.insert(argvStrings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argvStrings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, outPath.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, errPath.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  int spawnError = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawnError != 0) {
    result.spawnError = "posix_spawn " + binary + ": " + std::strerror(spawnError);
    return result;
  }
  waitForChild(pid, deadline, result);
  result.out = readWholeFile(outPath);
  result.err = readWholeFile(errPath);
  return result;
}

}  // namespace strom::testutil
