#include "runtime/task/checkpoint_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace strom::runtime {
namespace {

using ::testing::ElementsAre;

TEST(CheckpointWriterTest, runsWorkInOrderOnItsOwnThread) {
  CheckpointWriter writer;
  std::mutex mu;
  std::vector<int> done;
  std::thread::id caller = std::this_thread::get_id();
  bool otherThread = true;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(writer.post([&, i] {
      std::lock_guard lock(mu);
      otherThread = otherThread && std::this_thread::get_id() != caller;
      done.push_back(i);
    }));
  }
  writer.shutdown();  // runs what is queued first
  std::lock_guard lock(mu);
  ASSERT_EQ(done.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(done[static_cast<size_t>(i)], i);
  EXPECT_TRUE(otherThread);
}

TEST(CheckpointWriterTest, shutdownDrainsTheQueueThenRefusesWork) {
  CheckpointWriter writer;
  std::mutex mu;
  std::condition_variable changed;
  bool release = false;
  std::vector<int> done;
  // The first item blocks until released, so the second is still queued at shutdown.
  ASSERT_TRUE(writer.post([&] {
    std::unique_lock lock(mu);
    changed.wait(lock, [&] { return release; });
    done.push_back(1);
  }));
  ASSERT_TRUE(writer.post([&] {
    std::lock_guard lock(mu);
    done.push_back(2);
  }));
  EXPECT_EQ(writer.pending(), 2u);
  std::thread stopper([&] { writer.shutdown(); });
  {
    std::lock_guard lock(mu);
    release = true;
  }
  changed.notify_all();
  stopper.join();
  EXPECT_EQ(writer.pending(), 0u);
  EXPECT_FALSE(writer.post([] {}));
  writer.shutdown();  // idempotent
  std::lock_guard lock(mu);
  EXPECT_THAT(done, ElementsAre(1, 2));
}

}  // namespace
}  // namespace strom::runtime
