#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace strom::runtime {

/// The background thread of a TaskManager that writes its tasks' checkpoint state files and
/// acknowledges them (the asynchronous part of a checkpoint; DESIGN §7). Tasks hand it work
/// after their barrier went on; it runs the work in the order posted, one item at a time, so a
/// slow disk delays acknowledgements, never the task threads.
///
/// Thread contract: post() and shutdown() are thread-safe; the work runs on the writer's own
/// thread and must not refer to a task (which may be gone by then), only to what outlives the
/// writer (the JobManager gateway).
class CheckpointWriter {
 public:
  /// Start the thread.
  CheckpointWriter();
  /// shutdown().
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  /// Queue `work`. Return false (dropping it) once shutdown() began.
  bool post(std::function<void()> work);
  /// Run the work still queued, then stop the thread and join it. Idempotent.
  void shutdown();
  /// Return the number of items queued or running (for tests).
  size_t pending() const;

 private:
  void run();

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  size_t running_ = 0;                       // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace strom::runtime
