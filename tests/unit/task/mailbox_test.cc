#include "runtime/task/mailbox.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace strom::runtime {
namespace {

TEST(MailboxTest, runsActionsInPostOrderOnTheCallingThread) {
  network::WakeupSignal wakeup;
  Mailbox mailbox(wakeup);
  std::vector<int> order;
  mailbox.post([&] { order.push_back(1); });
  mailbox.post([&] {
    order.push_back(2);
    mailbox.post([&] { order.push_back(3); });  // posted while running: still run
  });
  EXPECT_EQ(mailbox.runAll(), 3u);
  EXPECT_THAT(order, ::testing::ElementsAre(1, 2, 3));
  EXPECT_EQ(mailbox.runAll(), 0u);
}

TEST(MailboxTest, postFromAnotherThreadWakesTheTaskThread) {
  network::WakeupSignal wakeup;
  Mailbox mailbox(wakeup);
  std::atomic<int> ran{0};  // relaxed is enough: runAll() orders through the mailbox mutex
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i)
      mailbox.post([&] { ran.fetch_add(1, std::memory_order_relaxed); });
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int total = 0;
  while (total < 100 && std::chrono::steady_clock::now() < deadline) {
    wakeup.waitUntil(deadline);
    total += static_cast<int>(mailbox.runAll());
  }
  poster.join();
  total += static_cast<int>(mailbox.runAll());
  EXPECT_EQ(total, 100);
  EXPECT_EQ(ran.load(), 100);
}

}  // namespace
}  // namespace strom::runtime
