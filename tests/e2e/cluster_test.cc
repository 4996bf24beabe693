// End-to-end tests of a Strom cluster: real strom-jobmanager and strom-taskmanager processes on
// loopback with ephemeral ports, jobs submitted as job libraries with the real `strom` CLI, a
// TaskManager killed with SIGKILL mid-job, cancel and list, savepoint and stop, and bad input.
// Outputs are checked exactly against an oracle computed here. Every wait has a deadline; nothing
// sleeps.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e/cluster_fixture.h"
#include "testutil/daemon_process.h"
#include "testutil/subprocess.h"

namespace {

namespace fs = std::filesystem;
using namespace strom::testutil;  // NOLINT: the fixture and its helpers
using Clock = std::chrono::steady_clock;

constexpr const char* kWordCountLibrary = STROM_WORD_COUNT_LIBRARY;
constexpr const char* kNondeterministicLibrary = STROM_NONDETERMINISTIC_LIBRARY;

/// Every "word,count" line word_count writes for `text`, sorted (the running count of each
/// occurrence; words are maximal runs of ASCII letters and digits, lower-cased).
std::vector<std::string> expectedCounts(const std::string& text) {
  std::map<std::string, int64_t> counts;
  std::vector<std::string> lines;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    lines.push_back(word + "," + std::to_string(++counts[word]));
    word.clear();
  };
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80 && std::isalnum(u)) {
      word.push_back(static_cast<char>(std::tolower(u)));
    } else {
      flush();
    }
  }
  flush();
  std::sort(lines.begin(), lines.end());
  return lines;
}

/// Deterministic text: `lines` lines of words drawn from a small vocabulary.
std::string makeText(int lines, uint32_t seed) {
  static const char* kWords[] = {"stream", "state", "Barrier", "window", "key", "Flink",
                                 "strom",  "task",  "slot",    "event",  "time"};
  std::mt19937 random(seed);
  std::string text;
  for (int i = 0; i < lines; ++i) {
    int n = 1 + static_cast<int>(random() % 8);
    for (int w = 0; w < n; ++w) {
      if (w > 0) text += ' ';
      text += kWords[random() % std::size(kWords)];
    }
    text += '\n';
  }
  return text;
}

/// An input that holds a job mid-input, deterministically: a named pipe whose first (and only)
/// reader gets the first half of `text` and then waits, the pipe held open, until release();
/// then that reader sees end of input. replaceWithFile() first puts a regular file with the
/// whole text at the same path (rename over the pipe: the held reader keeps the pipe), so the
/// next opener, the restarted job's source, reads the whole text from a plain file. Opens are
/// seen through inotify, so the test can time them without polling.
class HeldInput {
 public:
  HeldInput(std::string path, std::string text) : path_(std::move(path)), text_(std::move(text)) {
    ::signal(SIGPIPE, SIG_IGN);  // a reader that goes away must not kill the test
    inotify_ = ::inotify_init1(IN_CLOEXEC);
    ok_ = inotify_ >= 0 && ::mkfifo(path_.c_str(), 0600) == 0;
    if (ok_) thread_ = std::thread([this] { serve(); });
  }
  ~HeldInput() {
    release();
    // Unblock an open() still waiting for a reader.
    int fd = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (thread_.joinable()) thread_.join();
    if (fd >= 0) ::close(fd);
    if (inotify_ >= 0) ::close(inotify_);
  }
  bool ok() const { return ok_; }

  /// Wait until the pipe's reader opened it; return when.
  std::optional<Clock::time_point> waitForPipeOpen(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!changed_.wait_for(lock, timeout, [&] { return pipeOpened_.has_value(); })) return {};
    return pipeOpened_;
  }
  /// Put a regular file with the whole text at the path, watched for opens.
  bool replaceWithFile() {
    std::string temporary = path_ + ".file";
    if (!writeWholeFile(temporary, text_)) return false;
    if (::inotify_add_watch(inotify_, temporary.c_str(), IN_OPEN) < 0) return false;
    return ::rename(temporary.c_str(), path_.c_str()) == 0;
  }
  /// Let the pipe's reader see end of input.
  void release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    changed_.notify_all();
  }
  /// Wait until the file of replaceWithFile() is opened; return when.
  std::optional<Clock::time_point> waitForFileOpen(std::chrono::milliseconds timeout) {
    pollfd entry{inotify_, POLLIN, 0};
    if (::poll(&entry, 1, static_cast<int>(timeout.count())) != 1) return {};
    Clock::time_point at = Clock::now();
    alignas(inotify_event) char buffer[4096];
    if (::read(inotify_, buffer, sizeof buffer) <= 0) return {};
    return at;
  }

 private:
  void serve() {
    // O_CLOEXEC: no child the test spawns meanwhile may hold the pipe open.
    int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    {
      std::lock_guard lock(mu_);
      pipeOpened_ = Clock::now();
      if (released_ || fd < 0) {
        if (fd >= 0) ::close(fd);
        changed_.notify_all();
        return;
      }
    }
    changed_.notify_all();
    size_t half = text_.rfind('\n', text_.size() / 2) + 1;  // whole lines
    for (size_t done = 0; done < half;) {
      ssize_t n = ::write(fd, text_.data() + done, half - done);
      if (n <= 0) break;  // the reader went away
      done += static_cast<size_t>(n);
    }
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return released_; });
    lock.unlock();
    ::close(fd);
  }

  std::string path_;
  std::string text_;
  bool ok_ = false;
  int inotify_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::optional<Clock::time_point> pipeOpened_;  // GUARDED_BY(mu_)
  bool released_ = false;                        // GUARDED_BY(mu_)
};

/// Bind a TCP socket to an ephemeral loopback port without listening; return the port ("" on
/// error) and the socket in `sock` (the caller closes it).
std::string bindLoopbackPort(int& sock) {
  sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  if (sock < 0 || ::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    return "";
  }
  return std::to_string(ntohs(addr.sin_port));
}

TEST_F(ClusterTest, WordCountLibraryGivesExactOutputAndIsListed) {
  ASSERT_TRUE(startJobManager());
  ASSERT_TRUE(startTaskManager(1));
  ASSERT_TRUE(startTaskManager(1));
  std::string text = makeText(20'000, 7);
  std::string input = (dir_ / "words.txt").string();
  std::string output = (dir_ / "counts.txt").string();
  ASSERT_TRUE(writeWholeFile(input, text));

  RunResult run = strom(
      {"run", "-m", address_, "-p", "2", kWordCountLibrary, "--input", input, "--output", output});
  ASSERT_EQ(run.exitCode, 0) << run.out << run.err << logs();
  std::string jobId = jobIdOf(run.out);
  ASSERT_EQ(jobId.size(), 32u) << run.out;
  EXPECT_NE(run.out.find("Job with JobID " + jobId + " has finished."), std::string::npos)
      << run.out;
  EXPECT_EQ(sortedLines(readWholeFile(output)), expectedCounts(text));

  std::string list = listJobs();
  EXPECT_NE(list.find(jobId + " : word_count (FINISHED)"), std::string::npos) << list;
}

// A TaskManager running part of the job is killed with SIGKILL while the job is mid-input (its
// source reads a pipe that holds back the second half). The JobManager notices at once (the
// TaskManager's heartbeat stream breaks), fails the job's tasks and restarts the job, from
// scratch, on the surviving TaskManager and a new one. The output is exactly that of a run
// without failures.
/// A TaskManager killed while word_count's source is held in the middle of its input: the
/// job restarts (from scratch, or with `--checkpoint-interval` from its latest checkpoint,
/// writing committed part files) and its output is exact.
class KilledTaskManagerTest : public ClusterTest {
 protected:
  void runKilledMidJob(bool checkpointing) {
    ASSERT_TRUE(startJobManager());
    ASSERT_TRUE(startTaskManager(1));
    DaemonProcess* victim = startTaskManager(1);
    ASSERT_TRUE(victim);
    std::string text = makeText(20'000, 11);
    std::string input = (dir_ / "words.in").string();
    fs::path output = dir_ / "counts";
    HeldInput held(input, text);
    ASSERT_TRUE(held.ok());

    std::vector<std::string> args = {"run",
                                     "-m",
                                     address_,
                                     "-p",
                                     "2",
                                     "-D",
                                     "restart-strategy.type=fixed-delay",
                                     "-D",
                                     "restart-strategy.fixed-delay.attempts=3",
                                     "-D",
                                     "restart-strategy.fixed-delay.delay=100 ms",
                                     kWordCountLibrary,
                                     "--input",
                                     input,
                                     "--output",
                                     output.string()};
    if (checkpointing) args.insert(args.end(), {"--checkpoint-interval", "50"});
    // The client waits for the job (through its restart) on another thread.
    Clock::time_point submitted = Clock::now();
    std::future<RunResult> run = std::async(std::launch::async, [&] { return strom(args); });
    auto firstOpen = held.waitForPipeOpen(kJobDeadline);
    if (!firstOpen) {
      held.release();
      RunResult failed = run.get();
      FAIL() << "the job's source never opened its input: " << failed.out << failed.err << logs();
    }
    std::printf(
        "[ figures  ] strom run to the source's first read: %lld ms\n",
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(*firstOpen - submitted).count()));

    // The restarted attempt reads the text from a plain file (from the checkpointed offset, with
    // checkpoints); the first attempt, stuck on the pipe, is killed in the middle of its input.
    ASSERT_TRUE(held.replaceWithFile());
    Clock::time_point killed = Clock::now();
    victim->kill(SIGKILL);
    ASSERT_TRUE(victim->waitForExit(std::chrono::seconds(10)));
    held.release();
    ASSERT_TRUE(startTaskManager(1));  // the replacement
    auto secondOpen = held.waitForFileOpen(kJobDeadline);
    ASSERT_TRUE(secondOpen) << logs();
    std::printf(
        "[ figures  ] TaskManager killed to the restarted source's first read: %lld ms\n",
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(*secondOpen - killed).count()));

    RunResult result = run.get();
    ASSERT_EQ(result.exitCode, 0) << result.out << result.err << logs();
    std::string jobId = jobIdOf(result.out);
    EXPECT_NE(result.out.find("Job with JobID " + jobId + " has finished."), std::string::npos);
    std::string written;
    if (checkpointing) {
      // A directory: only committed part files count, and none other may be left.
      for (const fs::directory_entry& entry : fs::directory_iterator(output)) {
        std::string name = entry.path().filename().string();
        EXPECT_TRUE(name[0] != '.' && name[0] != '_') << "left behind: " << name;
        written += readWholeFile(entry.path().string());
      }
    } else {
      written = readWholeFile(output.string());
    }
    EXPECT_EQ(sortedLines(written), expectedCounts(text));
    // The JobManager saw the TaskManager go and restarted the job once.
    EXPECT_TRUE(jobManager_->waitForLine("lost", std::chrono::seconds(1))) << logs();
  }
};

TEST_F(KilledTaskManagerTest, JobRestartsAndFinishesWithExactOutput) { runKilledMidJob(false); }

TEST_F(KilledTaskManagerTest, CheckpointedJobRestoresAndCommitsExactlyOnce) {
  runKilledMidJob(true);
}

TEST_F(ClusterTest, CancelStopsARunningJobAndUnknownIdsAreErrors) {
  ASSERT_TRUE(startJobManager());
  ASSERT_TRUE(startTaskManager(1));
  std::string input = (dir_ / "words.in").string();
  HeldInput held(input, makeText(100, 3));
  ASSERT_TRUE(held.ok());
  RunResult detached = strom({"run", "-m", address_, "-d", kWordCountLibrary, "--input", input,
                              "--output", (dir_ / "out.txt").string()});
  ASSERT_EQ(detached.exitCode, 0) << detached.err;
  std::string jobId = jobIdOf(detached.out);
  ASSERT_TRUE(held.waitForPipeOpen(kJobDeadline)) << logs();
  EXPECT_NE(listJobs().find(jobId + " : word_count (RUNNING)"), std::string::npos);

  RunResult cancel = strom({"cancel", "-m", address_, jobId});
  EXPECT_EQ(cancel.exitCode, 0) << cancel.err;
  EXPECT_NE(cancel.out.find("Cancelled job " + jobId), std::string::npos);
  held.release();  // the source's read returns; the task sees it was cancelled
  ASSERT_TRUE(jobManager_->waitForLine(jobId + ".*CANCELED", kJobDeadline)) << logs();
  EXPECT_NE(listJobs().find(jobId + " : word_count (CANCELED)"), std::string::npos);

  RunResult unknown = strom({"cancel", "-m", address_, "0123456789abcdef0123456789abcdef"});
  EXPECT_EQ(unknown.exitCode, 1);
  EXPECT_NE(unknown.err.find("0123456789abcdef0123456789abcdef"), std::string::npos) << unknown.err;
  // The cluster still runs jobs.
  std::string in = (dir_ / "small.txt").string();
  ASSERT_TRUE(writeWholeFile(in, "a b a\n"));
  RunResult run = strom({"run", "-m", address_, kWordCountLibrary, "--input", in, "--output",
                         (dir_ / "small.out").string()});
  EXPECT_EQ(run.exitCode, 0) << run.err << logs();
  EXPECT_EQ(sortedLines(readWholeFile((dir_ / "small.out").string())),
            (std::vector<std::string>{"a,1", "a,2", "b,1"}));
}

TEST_F(ClusterTest, BadLibrariesAndNondeterministicBuildsAreRejected) {
  ASSERT_TRUE(startJobManager());
  ASSERT_TRUE(startTaskManager(1));
  std::string notElf = (dir_ / "notajob.so").string();
  ASSERT_TRUE(writeWholeFile(notElf, "this is not a shared object\n"));
  RunResult bad = strom({"run", "-m", address_, notElf});
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_NE(bad.err.find(notElf), std::string::npos) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;

  RunResult missing = strom({"run", "-m", address_, (dir_ / "missing.so").string()});
  EXPECT_EQ(missing.exitCode, 2);
  EXPECT_NE(missing.err.find("missing.so"), std::string::npos) << missing.err;

  RunResult mismatch = strom({"run", "-m", address_, kNondeterministicLibrary});
  EXPECT_EQ(mismatch.exitCode, 1) << mismatch.out << mismatch.err << logs();
  EXPECT_NE(mismatch.err.find("fingerprint"), std::string::npos) << mismatch.err;

  // The daemons are still up and run a good job.
  std::string in = (dir_ / "small.txt").string();
  ASSERT_TRUE(writeWholeFile(in, "x y x\n"));
  RunResult run = strom({"run", "-m", address_, kWordCountLibrary, "--input", in, "--output",
                         (dir_ / "small.out").string()});
  EXPECT_EQ(run.exitCode, 0) << run.err << logs();
}

TEST_F(ClusterTest, UnreachableJobManagerBadConfigAndPortInUseAreOneLineErrors) {
  // A port nobody listens on: bound, kept bound, never listening.
  int sock = -1;
  std::string deadPort = bindLoopbackPort(sock);
  ASSERT_FALSE(deadPort.empty());
  RunResult unreachable = strom({"list", "-m", "127.0.0.1:" + deadPort});
  EXPECT_EQ(unreachable.exitCode, 1);
  EXPECT_NE(unreachable.err.find("cannot reach the JobManager at 127.0.0.1:" + deadPort),
            std::string::npos)
      << unreachable.err;

  RunResult unknownKey =
      runProcess(bin("strom-jobmanager"), daemonArgs({"-D", "jobmanager.rpc.prot=0"}),
                 dir_.string(), kStartDeadline);
  EXPECT_NE(unknownKey.exitCode, 0);
  EXPECT_NE(unknownKey.err.find("unknown config key 'jobmanager.rpc.prot'"), std::string::npos)
      << unknownKey.err;

  RunResult badValue =
      runProcess(bin("strom-taskmanager"), daemonArgs({"-D", "heartbeat.interval=often"}),
                 dir_.string(), kStartDeadline);
  EXPECT_NE(badValue.exitCode, 0);
  EXPECT_NE(badValue.err.find("heartbeat.interval"), std::string::npos) << badValue.err;

  writeWholeFile((dir_ / "conf" / "strom.yaml").string(), "jobmanager.rpc.port: [1, 2]\n");
  RunResult badFile =
      runProcess(bin("strom-jobmanager"), daemonArgs({}), dir_.string(), kStartDeadline);
  EXPECT_NE(badFile.exitCode, 0);
  EXPECT_NE(badFile.err.find("strom.yaml"), std::string::npos) << badFile.err;
  writeWholeFile((dir_ / "conf" / "strom.yaml").string(), "# e2e test\n");

  ASSERT_TRUE(startJobManager());
  std::string port = address_.substr(address_.find(':') + 1);
  RunResult inUse =
      runProcess(bin("strom-jobmanager"), daemonArgs({"-D", "jobmanager.rpc.port=" + port}),
                 dir_.string(), kStartDeadline);
  EXPECT_NE(inUse.exitCode, 0);
  EXPECT_NE(inUse.err.find(port), std::string::npos) << inUse.err;
  ::close(sock);
}

// The savepoint commands: bad arguments are exit 2 before any call; a savepoint or stop of a job
// the JobManager does not run is exit 1 with one line naming the job.
TEST_F(ClusterTest, SavepointAndStopArgumentErrorsAndUnknownJobs) {
  ASSERT_TRUE(startJobManager());
  auto expectOneLine = [](const RunResult& result, int exitCode, const std::string& text) {
    EXPECT_EQ(result.exitCode, exitCode) << result.out << result.err;
    EXPECT_NE(result.err.find(text), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  };
  expectOneLine(strom({"savepoint", "-m", address_}), 2, "job-id is required");
  expectOneLine(strom({"savepoint", "-m", address_, "a", "b", "c"}), 2, "c");
  expectOneLine(strom({"stop", "-m", address_}), 2, "missing the job id");
  expectOneLine(strom({"stop", "-m", address_, "/savepoints", "job"}), 2, "too many arguments");
  expectOneLine(strom({"stop", "-m", address_, "-p", "/savepoints", "job", "more"}), 2,
                "too many arguments");
  expectOneLine(strom({"run", "-m", address_, "-n", kWordCountLibrary}), 2,
                "--allow-non-restored-state needs -s");

  const std::string unknown = "0123456789abcdef0123456789abcdef";
  RunResult savepoint =
      strom({"savepoint", "-m", address_, unknown, (dir_ / "savepoints").string()});
  expectOneLine(savepoint, 1, "savepoint of job " + unknown + " failed");
  EXPECT_EQ(savepoint.out.find("Savepoint completed"), std::string::npos) << savepoint.out;
  RunResult stop = strom({"stop", "-m", address_, "--savepoint", unknown});
  expectOneLine(stop, 1, "stopping job " + unknown + " with a savepoint failed");
  RunResult stopTo = strom({"stop", "-m", address_, "-p", (dir_ / "sp").string(), unknown});
  expectOneLine(stopTo, 1, unknown);
}

// bin/start-cluster.sh starts the JobManager and a TaskManager per line of conf/workers (here
// localhost twice), a job runs on them, and bin/stop-cluster.sh stops every daemon it started.
TEST_F(ClusterTest, ScriptsStartAndStopACluster) {
  // A free port for the JobManager: the TaskManagers started by the script must know it.
  int sock = -1;
  std::string port = bindLoopbackPort(sock);
  ASSERT_FALSE(port.empty());
  ::close(sock);
  fs::path conf = dir_ / "conf";
  ASSERT_TRUE(writeWholeFile((conf / "strom.yaml").string(),
                             "jobmanager.rpc.port: " + port +
                                 "\nheartbeat.interval: 200 ms\nio.tmp.dirs: " + dir_.string() +
                                 "\nblob.storage.directory: " + (dir_ / "blobs").string() + "\n"));
  ASSERT_TRUE(writeWholeFile((conf / "workers").string(), "# two here\nlocalhost\nlocalhost\n"));
  ::setenv("STROM_CONF_DIR", conf.c_str(), 1);
  ::setenv("STROM_LOG_DIR", (dir_ / "log").c_str(), 1);
  ::setenv("STROM_PID_DIR", (dir_ / "pids").c_str(), 1);

  RunResult start = runProcess(bin("start-cluster.sh"), {}, dir_.string(), kStartDeadline);
  ASSERT_EQ(start.exitCode, 0) << start.out << start.err;
  // As strom-daemon.sh names its pid files.
  std::string user = ::getenv("USER") ? ::getenv("USER") : ::getpwuid(::getuid())->pw_name;
  std::string input = (dir_ / "words.txt").string();
  std::string text = makeText(1'000, 5);
  ASSERT_TRUE(writeWholeFile(input, text));
  // The job waits for slots until the TaskManagers have registered.
  RunResult run = strom({"run", "-p", "2", kWordCountLibrary, "--input", input, "--output",
                         (dir_ / "counts.txt").string()});
  EXPECT_EQ(run.exitCode, 0) << run.out << run.err;
  EXPECT_EQ(sortedLines(readWholeFile((dir_ / "counts.txt").string())), expectedCounts(text));

  std::vector<pid_t> pids;
  for (const char* daemon : {"jobmanager", "taskmanager"}) {
    std::istringstream in(
        readWholeFile((dir_ / "pids").string() + "/strom-" + user + "-" + daemon + ".pid"));
    for (pid_t pid; in >> pid;) pids.push_back(pid);
  }
  EXPECT_EQ(pids.size(), 3u);
  RunResult stop = runProcess(bin("stop-cluster.sh"), {}, dir_.string(), kStartDeadline);
  EXPECT_EQ(stop.exitCode, 0) << stop.out << stop.err;
  for (pid_t pid : pids) {
    // stop-cluster.sh waits for each daemon to exit.
    EXPECT_FALSE(isAlive(pid)) << "daemon " << pid << " still runs";
  }
  ::unsetenv("STROM_CONF_DIR");
  ::unsetenv("STROM_LOG_DIR");
  ::unsetenv("STROM_PID_DIR");
}

}  // namespace
