#include "runtime/network/wakeup_signal.h"

namespace strom::network {

void WakeupSignal::signal() {
  std::lock_guard lock(mu_);
  signalled_ = true;
  // Notify under the lock: a waiter that returns may destroy this object right away.
  cv_.notify_one();
}

bool WakeupSignal::waitUntil(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_until(lock, deadline, [this] { return signalled_; })) return false;
  signalled_ = false;
  return true;
}

void WakeupSignal::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return signalled_; });
  signalled_ = false;
}

}  // namespace strom::network
