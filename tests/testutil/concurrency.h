#pragma once

#include <chrono>
#include <functional>
#include <thread>
#include <utility>

namespace strom::testing {

/// Spin (yielding) until `condition` holds; false if it does not within `timeout` (10 s by
/// default). Used to observe that another thread (or a server's state) reached a point that
/// offers no event to wait on, never to order events by time.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

/// A thread that is joined on scope exit; if the test bails out early (a failed ASSERT), it is
/// first unblocked with `unblock` (closing the pool or partition it may wait on).
class ScopedThread {
 public:
  template <class Fn>
  ScopedThread(std::function<void()> unblock, Fn fn)
      : unblock_(std::move(unblock)), thread_(std::move(fn)) {}
  ~ScopedThread() {
    if (!thread_.joinable()) return;
    unblock_();
    thread_.join();
  }
  void join() { thread_.join(); }

 private:
  std::function<void()> unblock_;
  std::thread thread_;
};

}  // namespace strom::testing
