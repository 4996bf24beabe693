#include "runtime/task/checkpoint_writer.h"

#include <utility>

namespace strom::runtime {

CheckpointWriter::CheckpointWriter() : thread_([this] { run(); }) {}

CheckpointWriter::~CheckpointWriter() { shutdown(); }

bool CheckpointWriter::post(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(work));
  }
  changed_.notify_all();
  return true;
}

void CheckpointWriter::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

size_t CheckpointWriter::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size() + running_;
}

void CheckpointWriter::run() {
  std::unique_lock lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything queued has run
    std::function<void()> work = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    work();
    work = nullptr;  // destroy what it captured outside the lock
    lock.lock();
    --running_;
  }
}

}  // namespace strom::runtime
