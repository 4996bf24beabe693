#pragma once

#include <deque>
#include <functional>
#include <mutex>

#include "runtime/network/wakeup_signal.h"

namespace strom::runtime {

/// Actions other threads hand to a task thread (DESIGN §4): checkpoint triggers, timer and RPC
/// notifications. post() is thread-safe and wakes the task; the task thread runs the actions
/// between batches with runAll(), in the order they were posted. Actions run only on the task
/// thread, so they may touch its operators and state.
class Mailbox {
 public:
  explicit Mailbox(network::WakeupSignal& wakeup) : wakeup_(wakeup) {}

  /// Queue `action` and wake the task thread. Any thread.
  void post(std::function<void()> action) {
    {
      std::lock_guard lock(mu_);
      actions_.push_back(std::move(action));
    }
    wakeup_.signal();
  }

  /// Run every queued action, including those posted while running. Task thread only.
  /// Returns the number run.
  size_t runAll() {
    size_t count = 0;
    while (true) {
      std::deque<std::function<void()>> batch;
      {
        std::lock_guard lock(mu_);
        if (actions_.empty()) return count;
        batch.swap(actions_);
      }
      for (auto& action : batch) {
        action();
        ++count;
      }
    }
  }

 private:
  network::WakeupSignal& wakeup_;  // outlives the mailbox (owned by the task)
  std::mutex mu_;
  std::deque<std::function<void()>> actions_;  // GUARDED_BY(mu_)
};

}  // namespace strom::runtime
