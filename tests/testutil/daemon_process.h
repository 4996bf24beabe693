#pragma once

// A long-running child process for end-to-end tests (a strom-jobmanager or strom-taskmanager):
// its standard error is read through a pipe by a thread, kept in memory and copied to a log
// file, so that a test can wait for a line (such as the first log line naming the bound port)
// with a deadline instead of sleeping. Killed with SIGKILL when destroyed.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "testutil/subprocess.h"

extern char** environ;

namespace strom::testutil {

class DaemonProcess {
 public:
  /// Start `binary` with `args`; stdout goes to `logPath` + ".out", stderr to memory and
  /// `logPath`. Check running() or spawnError() afterwards.
  DaemonProcess(const std::string& binary, const std::vector<std::string>& args,
                const std::string& logPath)
      : log_(logPath, std::ios::trunc) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      spawnError_ = std::string("pipe: ") + std::strerror(errno);
      return;
    }
    std::vector<std::string> argvStrings{binary};
    argvStrings.insert(argvStrings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : argvStrings) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::string outPath = logPath + ".out";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, outPath.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    int error = ::posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (error != 0) {
      ::close(fds[0]);
      pid_ = -1;
      spawnError_ = "posix_spawn " + binary + ": " + std::strerror(error);
      return;
    }
    readFd_ = fds[0];
    reader_ = std::thread([this] { readLoop(); });
  }

  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  ~DaemonProcess() {
    kill(SIGKILL);
    waitForExit(std::chrono::seconds(10));
    if (reader_.joinable()) reader_.join();
    if (readFd_ >= 0) ::close(readFd_);
  }

  const std::string& spawnError() const { return spawnError_; }
  pid_t pid() const { return pid_; }

  void kill(int signal) {
    std::lock_guard lock(mu_);
    if (pid_ > 0 && !exited_) ::kill(pid_, signal);
  }

  /// Wait until the process exits or `timeout` passes; return its exit code (128 + signal when a
  /// signal ended it), or nullopt on timeout.
  std::optional<int> waitForExit(std::chrono::milliseconds timeout) {
    {
      std::lock_guard lock(mu_);
      if (pid_ <= 0) return std::nullopt;
      if (exited_) return exitCode_;
    }
    if (!waitForExitEvent(pid_, timeout)) return std::nullopt;
    // Reap under the lock, so that kill() never signals a reused pid.
    std::lock_guard lock(mu_);
    if (exited_) return exitCode_;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    exited_ = true;
    exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exitCode_;
  }

  /// Wait until a line of standard error matches `pattern` (std::regex_search); return the
  /// match's first group (or the whole match), or nullopt when `timeout` passes or the stream
  /// ends first.
  std::optional<std::string> waitForLine(const std::string& pattern,
                                         std::chrono::milliseconds timeout) {
    size_t from = 0;
    return waitForLine(pattern, timeout, from);
  }
  /// As above, from line `from` on (0 is the first); on a match `from` becomes the line after
  /// it, so that successive calls find successive matches.
  std::optional<std::string> waitForLine(const std::string& pattern,
                                         std::chrono::milliseconds timeout, size_t& from) {
    std::regex re(pattern);
    std::unique_lock lock(mu_);
    size_t scanned = from;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      for (; scanned < lines_.size(); ++scanned) {
        std::smatch match;
        if (std::regex_search(lines_[scanned], match, re)) {
          from = scanned + 1;
          return match.size() > 1 ? match[1].str() : match[0].str();
        }
      }
      if (eof_) return std::nullopt;
      if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
        if (scanned == lines_.size()) return std::nullopt;
      }
    }
  }

  /// Everything the process wrote to standard error so far.
  std::string stderrText() const {
    std::lock_guard lock(mu_);
    std::string text;
    for (const std::string& line : lines_) text += line + "\n";
    return text;
  }

 private:
  void readLoop() {
    std::string pending;
    char buffer[4096];
    while (true) {
      ssize_t n = ::read(readFd_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buffer, static_cast<size_t>(n));
      size_t newline;
      std::lock_guard lock(mu_);
      while ((newline = pending.find('\n')) != std::string::npos) {
        lines_.push_back(pending.substr(0, newline));
        log_ << lines_.back() << '\n';
        pending.erase(0, newline + 1);
      }
      log_.flush();
      changed_.notify_all();
    }
    std::lock_guard lock(mu_);
    if (!pending.empty()) lines_.push_back(pending);
    eof_ = true;
    changed_.notify_all();
  }

  std::ofstream log_;
  std::string spawnError_;
  pid_t pid_ = -1;
  int readFd_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;  // GUARDED_BY(mu_)
  bool eof_ = false;                // GUARDED_BY(mu_)
  bool exited_ = false;             // GUARDED_BY(mu_)
  int exitCode_ = -1;               // GUARDED_BY(mu_)
};

}  // namespace strom::testutil
