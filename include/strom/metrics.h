#pragma once

// Operator metrics (Flink's MetricGroup and Counter): counters an operator or a rich function
// registers by name. A finished job reports each counter summed over the subtasks of its
// operator in JobExecutionResult::counters, as "<operator name>.<counter name>".

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace strom {

/// A count kept by one operator instance on its task's thread (no atomics on the hot path).
class Counter {
 public:
  void inc(int64_t n = 1) { count_ += n; }
  void dec(int64_t n = 1) { count_ -= n; }
  int64_t getCount() const { return count_; }

 private:
  int64_t count_ = 0;
};

/// The metrics of one operator instance. Registering a name twice returns the same counter.
class MetricGroup {
 public:
  /// Return the counter `name`, creating it at 0. The reference stays valid as long as the
  /// group does (the operator's lifetime).
  Counter& counter(const std::string& name) {
    std::unique_ptr<Counter>& slot = counters_[name];
    if (!slot) slot = std::make_unique<Counter>();
    return *slot;
  }
  /// Call `fn(name, count)` for every counter, in name order.
  template <class Fn>
  void forEachCounter(Fn&& fn) const {
    for (const auto& [name, counter] : counters_) fn(name, counter->getCount());
  }

 private:
  std::map<std::string, std::unique_ptr<Counter>> counters_;
};

}  // namespace strom
