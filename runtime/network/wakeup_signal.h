#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace strom::network {

/// A sticky, auto-resetting wake-up flag for one waiting thread (the task thread): the input
/// gate signals it when a channel gets data, the mailbox when an action is posted. A signal sent
/// while nobody waits is kept until the next wait, so it is never lost; several signals before a
/// wait collapse into one.
///
/// Thread contract: thread-safe. signal() may be called from any thread; waits are meant for
/// one thread at a time (with several waiters, one signal wakes one of them).
class WakeupSignal {
 public:
  WakeupSignal() = default;
  WakeupSignal(const WakeupSignal&) = delete;
  WakeupSignal& operator=(const WakeupSignal&) = delete;

  /// Set the flag and wake the waiter, if any.
  void signal();
  /// Block until signalled or until `deadline`. Return true, and reset the flag, if signalled
  /// (also when the signal came before the call); false on timeout.
  bool waitUntil(std::chrono::steady_clock::time_point deadline);
  /// Block until signalled, then reset the flag.
  void wait();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool signalled_ = false;  // guarded by mu_
};

}  // namespace strom::network
