#pragma once

// The cluster fixture of the end-to-end tests: a JobManager and TaskManagers as real processes
// on loopback with ephemeral ports, the `strom` CLI, and their logs for failure messages.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "testutil/daemon_process.h"
#include "testutil/subprocess.h"

namespace strom::testutil {

namespace fs = std::filesystem;

inline constexpr const char* kBinDir = STROM_BIN_DIR;
inline constexpr std::chrono::seconds kStartDeadline{20};
inline constexpr std::chrono::seconds kJobDeadline{60};
// The first log line of each daemon names the address it bound.
inline constexpr const char* kJobManagerBound = R"(JobManager listening on 127\.0\.0\.1:(\d+))";
inline constexpr const char* kTaskManagerRegistered = R"(registered with the JobManager)";

inline std::string bin(const std::string& name) { return std::string(kBinDir) + "/" + name; }

inline std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline std::vector<std::string> sortedLines(const std::string& text) {
  std::vector<std::string> lines = splitLines(text);
  std::sort(lines.begin(), lines.end());
  return lines;
}

/// Runs a cluster of real daemons in a scratch directory named after the test; removed unless
/// the test failed.
class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("strom-e2e-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "conf");
    // An empty configuration file: everything comes from -D options below.
    writeWholeFile((dir_ / "conf" / "strom.yaml").string(), "# e2e test\n");
  }
  void TearDown() override {
    taskManagers_.clear();
    jobManager_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::vector<std::string> daemonArgs(std::vector<std::string> extra) const {
    std::vector<std::string> args{
        "--config-dir", (dir_ / "conf").string(),
        "-D",           "heartbeat.interval=200 ms",
        "-D",           "heartbeat.timeout=3 s",
        "-D",           "io.tmp.dirs=" + dir_.string(),
        "-D",           "blob.storage.directory=" + (dir_ / "blobs").string()};
    args.insert(args.end(), extraDaemonArgs_.begin(), extraDaemonArgs_.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  /// Start the JobManager on an ephemeral port; return false if it did not come up.
  bool startJobManager() {
    jobManager_ = std::make_unique<DaemonProcess>(bin("strom-jobmanager"),
                                                  daemonArgs({"-D", "jobmanager.rpc.port=0"}),
                                                  (dir_ / "jobmanager.log").string());
    auto port = jobManager_->waitForLine(kJobManagerBound, kStartDeadline);
    if (!port) {
      ADD_FAILURE() << "JobManager did not start:\n" << jobManager_->stderrText();
      return false;
    }
    address_ = "127.0.0.1:" + *port;
    return true;
  }

  /// Start a TaskManager with `slots` slots and wait until it registered.
  DaemonProcess* startTaskManager(int slots) {
    size_t index = taskManagers_.size();
    taskManagers_.push_back(std::make_unique<DaemonProcess>(
        bin("strom-taskmanager"),
        daemonArgs({"-D", "jobmanager.rpc.port=" + address_.substr(address_.find(':') + 1), "-D",
                    "taskmanager.numberOfTaskSlots=" + std::to_string(slots)}),
        (dir_ / ("taskmanager-" + std::to_string(index) + ".log")).string()));
    DaemonProcess* tm = taskManagers_.back().get();
    if (!tm->waitForLine(kTaskManagerRegistered, kStartDeadline)) {
      ADD_FAILURE() << "TaskManager " << index << " did not register:\n" << tm->stderrText();
      return nullptr;
    }
    return tm;
  }

  RunResult strom(std::vector<std::string> args,
                  std::chrono::milliseconds deadline = kJobDeadline) {
    fs::path scratch = dir_ / ("cli-" + std::to_string(cliRuns_++));
    fs::create_directories(scratch);
    return runProcess(bin("strom"), args, scratch.string(), deadline);
  }

  /// `strom list -a` as text.
  std::string listJobs() {
    RunResult list = strom({"list", "-a", "-m", address_});
    EXPECT_EQ(list.exitCode, 0) << list.err;
    return list.out;
  }

  std::string logs() const {
    std::string text = "--- jobmanager\n" + (jobManager_ ? jobManager_->stderrText() : "");
    for (size_t i = 0; i < taskManagers_.size(); ++i) {
      text += "--- taskmanager " + std::to_string(i) + "\n" + taskManagers_[i]->stderrText();
    }
    return text;
  }

  fs::path dir_;
  std::string address_;
  std::unique_ptr<DaemonProcess> jobManager_;
  std::vector<std::unique_ptr<DaemonProcess>> taskManagers_;
  int cliRuns_ = 0;
  std::vector<std::string> extraDaemonArgs_;  // given to every daemon started afterwards
};

/// Whether process `pid` runs (exists and is not a zombie waiting for its new parent to reap it).
inline bool isAlive(pid_t pid) {
  std::string stat = readWholeFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

inline std::string jobIdOf(const std::string& out) {
  const std::string marker = "submitted with JobID ";
  size_t at = out.find(marker);
  if (at == std::string::npos) return "";
  return out.substr(at + marker.size(), 32);
}

}  // namespace strom::testutil
