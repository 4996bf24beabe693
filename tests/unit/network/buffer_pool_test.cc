#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "runtime/network/buffer.h"
#include "testutil/concurrency.h"
#include "testutil/status_matchers.h"

namespace strom::network {
namespace {

using ::testing::HasSubstr;

using ::strom::testing::eventually;
using ::strom::testing::ScopedThread;

class BufferPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(global_, NetworkBufferPool::create(kNumSegments, kSegmentSize));
  }

  static constexpr size_t kNumSegments = 16;
  static constexpr size_t kSegmentSize = 128;
  std::unique_ptr<NetworkBufferPool> global_;
};

TEST_F(BufferPoolTest, reservesMinimumBuffersAtCreation) {
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*global_, 4, 6, "p1"));
  EXPECT_EQ(global_->numAvailableSegments(), kNumSegments - 4);
  EXPECT_EQ(pool->numSegmentsHeld(), 4u);
  EXPECT_EQ(pool->buffersInUse(), 0u);
}

TEST_F(BufferPoolTest, creationFailsWithClearErrorWhenTooFewSegmentsAreFree) {
  ASSERT_OK_AND_ASSIGN(auto first, LocalBufferPool::create(*global_, 13, 13, "first"));
  auto second = LocalBufferPool::create(*global_, 5, 8, "job/edge1/subtask0/attempt0");
  ASSERT_STATUS(StatusCode::kResourceExhausted, second);
  EXPECT_THAT(second.status().message(), HasSubstr("job/edge1/subtask0/attempt0"));
  EXPECT_THAT(second.status().message(), HasSubstr("5 network buffers needed"));
  EXPECT_THAT(second.status().message(), HasSubstr("only 3 of 16 are free"));
  // A failed creation reserves nothing.
  EXPECT_EQ(global_->numAvailableSegments(), 3u);
}

TEST_F(BufferPoolTest, rejectsInvalidSizes) {
  ASSERT_STATUS(StatusCode::kInvalidArgument, LocalBufferPool::create(*global_, 0, 4, "p"));
  ASSERT_STATUS(StatusCode::kInvalidArgument, LocalBufferPool::create(*global_, 5, 4, "p"));
  ASSERT_STATUS(StatusCode::kInvalidArgument, NetworkBufferPool::create(0, 128));
  ASSERT_STATUS(StatusCode::kInvalidArgument, NetworkBufferPool::create(4, 0));
}

TEST_F(BufferPoolTest, bufferIsMoveOnlyHandleOfOneSegment) {
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*global_, 1, 1, "p"));
  ASSERT_OK_AND_ASSIGN(Buffer buffer, pool->requestBuffer());
  ASSERT_TRUE(buffer.isValid());
  EXPECT_EQ(buffer.capacity(), kSegmentSize);
  EXPECT_EQ(buffer.size(), 0u);
  std::memcpy(buffer.data(), "abc", 3);
  buffer.setSize(3);
  EXPECT_EQ(buffer.bytes().size(), 3u);

  Buffer moved = std::move(buffer);
  EXPECT_FALSE(buffer.isValid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(moved.size(), 3u);
  EXPECT_EQ(std::memcmp(moved.data(), "abc", 3), 0);
  EXPECT_EQ(pool->buffersInUse(), 1u);

  moved.release();
  EXPECT_FALSE(moved.isValid());
  EXPECT_EQ(pool->buffersInUse(), 0u);
}

TEST_F(BufferPoolTest, blockingRequestWakesWhenAnotherThreadReleasesBuffer) {
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*global_, 2, 2, "p"));
  ASSERT_OK_AND_ASSIGN(Buffer first, pool->requestBuffer());
  ASSERT_OK_AND_ASSIGN(Buffer second, pool->requestBuffer());

  std::atomic<bool> returned{false};
  Status requestStatus;
  ScopedThread requester([&] { pool->close(); },
                         [&] {
                           Result<Buffer> buffer = pool->requestBuffer();
                           requestStatus = buffer.status();
                           returned.store(true);
                         });
  ASSERT_TRUE(eventually([&] { return pool->numBlockedRequesters() == 1; }));
  EXPECT_FALSE(returned.load());

  std::thread releaser([buffer = std::move(first)]() mutable { buffer.release(); });
  releaser.join();
  requester.join();
  EXPECT_TRUE(returned.load());
  EXPECT_OK(requestStatus);
  EXPECT_EQ(pool->maxBuffersEverInUse(), 2u);
}

TEST_F(BufferPoolTest, closeUnblocksBlockedRequesterWithCancelled) {
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*global_, 1, 1, "job/edge2/subtask3"));
  ASSERT_OK_AND_ASSIGN(Buffer held, pool->requestBuffer());

  Status requestStatus;
  ScopedThread requester([&] { pool->close(); },
                         [&] { requestStatus = pool->requestBuffer().status(); });
  ASSERT_TRUE(eventually([&] { return pool->numBlockedRequesters() == 1; }));
  pool->close();
  requester.join();
  ASSERT_STATUS(StatusCode::kCancelled, requestStatus);
  EXPECT_THAT(requestStatus.message(), HasSubstr("job/edge2/subtask3"));

  // Later requests fail at once, even with a free buffer; held buffers stay valid.
  held.release();
  ASSERT_STATUS(StatusCode::kCancelled, pool->requestBuffer());
}

TEST_F(BufferPoolTest, neverExceedsMaxBuffersUnderLoadFromSeveralThreads) {
  constexpr size_t kMax = 5;
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*global_, 2, kMax, "p"));
  constexpr int kThreads = 4;
  constexpr int kIterations = 2000;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        // Holding two at once with four threads wants 8 > kMax buffers: requests must block.
        Result<Buffer> a = pool->requestBuffer();
        Result<Buffer> b = pool->requestBuffer();
        if (!a.isOk() || !b.isOk()) {
          failures.fetch_add(1);
          return;
        }
        a->data()[0] = static_cast<std::byte>(t);
        b->data()[0] = static_cast<std::byte>(i);
        a->setSize(1);
        b->setSize(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(pool->maxBuffersEverInUse(), kMax);
  EXPECT_GE(pool->maxBuffersEverInUse(), 2u);
  EXPECT_EQ(pool->buffersInUse(), 0u);
  EXPECT_EQ(pool->numBlockedRequesters(), 0u);
}

TEST_F(BufferPoolTest, floatingSegmentsReturnToGlobalPoolWhenReleased) {
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*global_, 2, 6, "p"));
  std::vector<Buffer> buffers;
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(Buffer buffer, pool->requestBuffer());
    buffers.push_back(std::move(buffer));
  }
  EXPECT_EQ(pool->numSegmentsHeld(), 5u);
  EXPECT_EQ(global_->numAvailableSegments(), kNumSegments - 5);

  buffers.clear();
  // The reserved minimum stays with the local pool, the floating segments go back.
  EXPECT_EQ(pool->numSegmentsHeld(), 2u);
  EXPECT_EQ(global_->numAvailableSegments(), kNumSegments - 2);
}

TEST_F(BufferPoolTest, segmentsReturnToGlobalPoolAfterPoolAndAllBuffersAreGone) {
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*global_, 3, 3, "p"));
  ASSERT_OK_AND_ASSIGN(Buffer outstanding, pool->requestBuffer());
  EXPECT_EQ(global_->numAvailableSegments(), kNumSegments - 3);

  pool.reset();  // the outstanding buffer keeps the pool alive
  EXPECT_EQ(global_->numAvailableSegments(), kNumSegments - 3);

  // Released on another thread, as a consumer would.
  std::thread consumer([buffer = std::move(outstanding)]() mutable { buffer.release(); });
  consumer.join();
  EXPECT_EQ(global_->numAvailableSegments(), kNumSegments);
}

TEST_F(BufferPoolTest, blockedRequesterTakesFloatingSegmentAfterGlobalPoolRefills) {
  ASSERT_OK_AND_ASSIGN(auto hog, LocalBufferPool::create(*global_, 14, 14, "hog"));
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*global_, 1, 3, "p"));
  ASSERT_OK_AND_ASSIGN(Buffer first, pool->requestBuffer());
  ASSERT_OK_AND_ASSIGN(Buffer second, pool->requestBuffer());  // the last free global segment
  EXPECT_EQ(global_->numAvailableSegments(), 0u);

  hog.reset();
  // Below its maximum, the pool draws a floating segment from the refilled global pool.
  ASSERT_OK_AND_ASSIGN(Buffer third, pool->requestBuffer());
  EXPECT_EQ(pool->buffersInUse(), 3u);
}

TEST_F(BufferPoolTest, tryRequestNeverBlocksAndRecycleListenerSeesEveryReturn) {
  ASSERT_OK_AND_ASSIGN(auto pool, LocalBufferPool::create(*global_, 2, 2, "try"));
  int recycled = 0;
  pool->setRecycleListener([&recycled] { ++recycled; });
  Buffer first = pool->tryRequestBuffer();
  Buffer second = pool->tryRequestBuffer();
  ASSERT_TRUE(first.isValid());
  ASSERT_TRUE(second.isValid());
  EXPECT_FALSE(pool->tryRequestBuffer().isValid());  // exhausted: no block
  first.release();
  EXPECT_EQ(recycled, 1);
  EXPECT_TRUE(pool->tryRequestBuffer().isValid());  // destroyed at once: a second return
  EXPECT_EQ(recycled, 2);
  pool->close();
  EXPECT_FALSE(pool->tryRequestBuffer().isValid());
}

}  // namespace
}  // namespace strom::network
