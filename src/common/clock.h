#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace strom {

/// The source of processing time. Tasks read it at most once per batch; tests replace it
/// with a manual clock so that nothing waits on wall time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Return the time in epoch milliseconds.
  virtual int64_t currentTimeMillis() const = 0;
};

/// The system clock.
class SystemClock final : public Clock {
 public:
  int64_t currentTimeMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  /// Return the process-wide instance.
  static const SystemClock& instance() {
    static const SystemClock clock;
    return clock;
  }
};

/// A clock that moves only when told to (tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t startMillis = 0) : now_(startMillis) {}
  int64_t currentTimeMillis() const override {
    return now_.load(std::memory_order_acquire);  // pairs with the release in advance()
  }
  void advance(int64_t millis) { now_.fetch_add(millis, std::memory_order_release); }
  void set(int64_t millis) { now_.store(millis, std::memory_order_release); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace strom
