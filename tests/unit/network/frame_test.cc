#include "runtime/network/frame.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom::network {
namespace {

constexpr size_t kMaxBody = 1 << 16;

std::vector<std::byte> bytesOf(std::string_view text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  return {p, p + text.size()};
}

/// A comparable copy of a frame (a BufferMessage's payload becomes owned bytes).
struct Decoded {
  Frame frame;
  std::vector<std::byte> payload;
};

bool sameFrame(const Frame& a, const Frame& b) {
  if (a.index() != b.index()) return false;
  if (const auto* x = std::get_if<BufferMessage>(&a)) {
    const auto& y = std::get<BufferMessage>(b);
    return x->channel == y.channel && x->sequence == y.sequence && x->backlog == y.backlog &&
           x->isEvent == y.isEvent && x->isPriority == y.isPriority &&
           x->payload.size() == y.payload.size() &&
           (x->payload.empty() ||
            std::memcmp(x->payload.data(), y.payload.data(), x->payload.size()) == 0);
  }
  return std::visit(
      [&b](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, BufferMessage>) {
          return false;
        } else {
          return x == std::get<T>(b);
        }
      },
      a);
}

class FrameTest : public ::testing::Test {
 protected:
  FrameTest() : payload_(bytesOf("hello, remote channel")) {
    encodeEventPayload(2, -42, 0, 0, eventPayload_);
    encodeEventPayload(3, 17, 1700000000123, 1, barrierPayload_);
    frames_.push_back(PartitionRequest{7, 3, 2, {"job-1", 4, 5, 6}});
    frames_.push_back(BufferMessage{7, 0, 12, false, false, payload_});
    frames_.push_back(BufferMessage{8, 1, 0, false, false, {}});
    frames_.push_back(BufferMessage{7, 99, 1, true, false, eventPayload_});
    frames_.push_back(BufferMessage{7, 100, 0, true, false, barrierPayload_});
    frames_.push_back(BufferMessage{7, 101, 0, true, true, barrierPayload_});  // priority
    frames_.push_back(AddCredit{7, 5});
    frames_.push_back(CancelRequest{7});
    frames_.push_back(CloseRequest{});
    frames_.push_back(ErrorResponse{7, "partition p not found"});
    frames_.push_back(ErrorResponse{kConnectionWide, ""});
    frames_.push_back(PartitionNotFound{7});
  }

  std::vector<std::byte> encodeAll() {
    std::vector<std::byte> out;
    for (const Frame& frame : frames_) EXPECT_OK(encodeFrame(frame, out));
    return out;
  }

  /// Drain `decoder`, checking each frame against frames_[next]; return the status.
  Status drain(FrameDecoder& decoder, size_t& next) {
    for (;;) {
      auto frame = decoder.next();
      if (!frame.isOk()) return frame.status();
      if (!frame->has_value()) return Status::ok();
      EXPECT_LT(next, frames_.size());
      if (next >= frames_.size()) return Status::internal("too many frames");
      EXPECT_TRUE(sameFrame(**frame, frames_[next])) << "frame " << next;
      ++next;
    }
  }

  std::vector<std::byte> payload_;
  std::array<std::byte, kEventPayloadSize> eventPayload_{};
  std::array<std::byte, kEventPayloadSize> barrierPayload_{};
  std::vector<Frame> frames_;
};

TEST_F(FrameTest, roundTripsEveryMessage) {
  auto bytes = encodeAll();
  FrameDecoder decoder(kMaxBody);
  decoder.append(bytes);
  size_t next = 0;
  ASSERT_OK(drain(decoder, next));
  EXPECT_EQ(next, frames_.size());
  EXPECT_EQ(decoder.bufferedBytes(), 0u);

  uint8_t type = 0;
  int64_t value = 0;
  int64_t timestamp = -1;
  uint8_t options = 9;
  ASSERT_OK(decodeEventPayload(eventPayload_, type, value, timestamp, options));
  EXPECT_EQ(type, 2);
  EXPECT_EQ(value, -42);
  EXPECT_EQ(timestamp, 0);
  EXPECT_EQ(options, 0);
  // A checkpoint barrier: id, trigger time and options.
  ASSERT_OK(decodeEventPayload(barrierPayload_, type, value, timestamp, options));
  EXPECT_EQ(type, 3);
  EXPECT_EQ(value, 17);
  EXPECT_EQ(timestamp, 1700000000123);
  EXPECT_EQ(options, 1);
  // The 9-byte payload of format version 1 is rejected.
  EXPECT_FALSE(
      decodeEventPayload(std::span(barrierPayload_).first(9), type, value, timestamp, options)
          .isOk());
}

TEST_F(FrameTest, bufferPrefixMatchesFullEncoding) {
  BufferMessage message{1, 2, 3, false, false, payload_};
  std::vector<std::byte> full;
  ASSERT_OK(encodeFrame(message, full));
  std::array<std::byte, kBufferFramePrefixSize> prefix{};
  encodeBufferFramePrefix(message, payload_.size(), prefix);
  ASSERT_EQ(full.size(), prefix.size() + payload_.size());
  EXPECT_EQ(std::memcmp(full.data(), prefix.data(), prefix.size()), 0);
}

TEST_F(FrameTest, decodesStreamSplitAtEveryPosition) {
  auto bytes = encodeAll();
  for (size_t split = 0; split <= bytes.size(); ++split) {
    FrameDecoder decoder(kMaxBody);
    size_t next = 0;
    decoder.append(std::span(bytes).first(split));
    ASSERT_OK(drain(decoder, next));
    decoder.append(std::span(bytes).subspan(split));
    ASSERT_OK(drain(decoder, next));
    EXPECT_EQ(next, frames_.size()) << "split at " << split;
  }
}

TEST_F(FrameTest, decodesStreamFedOneByteAtATime) {
  auto bytes = encodeAll();
  FrameDecoder decoder(kMaxBody);
  size_t next = 0;
  for (std::byte b : bytes) {
    auto space = decoder.prepare(1);
    space[0] = b;
    decoder.commit(1);
    ASSERT_OK(drain(decoder, next));
  }
  EXPECT_EQ(next, frames_.size());
}

TEST_F(FrameTest, rejectsOversizedFrame) {
  std::vector<std::byte> bytes;
  std::vector<std::byte> big(100);
  ASSERT_OK(encodeFrame(BufferMessage{1, 0, 0, false, false, big}, bytes));
  FrameDecoder decoder(50);
  decoder.append(std::span(bytes).first(kFrameHeaderSize));  // the header alone is enough
  ASSERT_STATUS(StatusCode::kCorruption, decoder.next());
  // The decoder stays failed.
  ASSERT_STATUS(StatusCode::kCorruption, decoder.next());
}

TEST_F(FrameTest, rejectsBadHeaderFields) {
  std::vector<std::byte> good;
  ASSERT_OK(encodeFrame(AddCredit{1, 1}, good));
  for (size_t index : {0, 1, 2, 3}) {
    auto bytes = good;
    bytes[index] = std::byte{0x7f};
    FrameDecoder decoder(kMaxBody);
    decoder.append(bytes);
    SCOPED_TRACE("byte " + std::to_string(index));
    ASSERT_STATUS(StatusCode::kCorruption, decoder.next());
  }
}

TEST_F(FrameTest, rejectsMalformedBodies) {
  auto frameWith = [](FrameType type, std::vector<std::byte> body) {
    std::vector<std::byte> bytes = {std::byte{kFrameMagic}, std::byte{kFrameVersion},
                                    std::byte{static_cast<uint8_t>(type)}, std::byte{0}};
    auto length = static_cast<uint32_t>(body.size());
    for (int shift = 0; shift < 32; shift += 8) {
      bytes.push_back(static_cast<std::byte>((length >> shift) & 0xff));
    }
    bytes.insert(bytes.end(), body.begin(), body.end());
    return bytes;
  };
  std::vector<std::vector<std::byte>> cases = {
      frameWith(FrameType::kPartitionRequest, std::vector<std::byte>(25)),  // truncated
      frameWith(FrameType::kPartitionRequest, std::vector<std::byte>(27)),  // trailing byte
      frameWith(FrameType::kBuffer, std::vector<std::byte>(12)),            // truncated
      frameWith(FrameType::kAddCredit, std::vector<std::byte>(8)),          // zero credit
      frameWith(FrameType::kAddCredit, std::vector<std::byte>(9)),          // trailing byte
      frameWith(FrameType::kCancelRequest, std::vector<std::byte>(3)),      // truncated
      frameWith(FrameType::kCloseRequest, std::vector<std::byte>(1)),       // trailing byte
      frameWith(FrameType::kError, std::vector<std::byte>(2)),              // truncated
      frameWith(FrameType::kPartitionNotFound, std::vector<std::byte>(3)),  // truncated
      frameWith(FrameType::kPartitionNotFound, std::vector<std::byte>(5)),  // trailing byte
  };
  // A job id length pointing past the body.
  std::vector<std::byte> request(26);
  request[24] = std::byte{10};
  cases.push_back(frameWith(FrameType::kPartitionRequest, request));
  // Unknown flags, the priority flag on a buffer, and a bad event payload in a buffer frame.
  std::vector<std::byte> buffer(13);
  buffer[12] = std::byte{4};
  cases.push_back(frameWith(FrameType::kBuffer, buffer));
  buffer[12] = std::byte{2};
  cases.push_back(frameWith(FrameType::kBuffer, buffer));
  buffer[12] = std::byte{1};
  buffer.resize(15);
  cases.push_back(frameWith(FrameType::kBuffer, buffer));
  buffer.resize(13 + 9);  // a version-1 event payload
  cases.push_back(frameWith(FrameType::kBuffer, buffer));

  for (size_t i = 0; i < cases.size(); ++i) {
    FrameDecoder decoder(kMaxBody);
    decoder.append(cases[i]);
    SCOPED_TRACE("case " + std::to_string(i));
    ASSERT_STATUS(StatusCode::kCorruption, decoder.next());
  }
}

TEST_F(FrameTest, rejectsTooLongJobId) {
  std::vector<std::byte> out;
  PartitionRequest request;
  request.partition.jobId.assign(70000, 'j');
  ASSERT_STATUS(StatusCode::kInvalidArgument, encodeFrame(request, out));
}

TEST_F(FrameTest, survivesRandomByteFlipsAndGarbage) {
  auto good = encodeAll();
  std::mt19937 random(12345);
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::vector<std::byte> bytes;
    if (iteration % 3 == 0) {
      bytes.resize(random() % 200);
      for (auto& b : bytes) b = static_cast<std::byte>(random());
    } else {
      bytes = good;
      int flips = 1 + static_cast<int>(random() % 4);
      for (int f = 0; f < flips; ++f) {
        bytes[random() % bytes.size()] = static_cast<std::byte>(random());
      }
    }
    FrameDecoder decoder(1024);
    size_t offset = 0;
    // Feed in random pieces; every call must return a frame, "need more" or Corruption.
    for (int step = 0; step < 1000 && offset < bytes.size(); ++step) {
      size_t piece = std::min<size_t>(1 + random() % 40, bytes.size() - offset);
      decoder.append(std::span(bytes).subspan(offset, piece));
      offset += piece;
      bool failed = false;
      for (int frames = 0; frames < 1000; ++frames) {
        auto frame = decoder.next();
        if (!frame.isOk()) {
          EXPECT_EQ(frame.status().code(), StatusCode::kCorruption);
          failed = true;
          break;
        }
        if (!frame->has_value()) break;
        if (auto* message = std::get_if<BufferMessage>(&**frame)) {
          // Touch the payload: ASan catches a view past the decoder's bytes.
          size_t sum = 0;
          for (std::byte b : message->payload) sum += static_cast<size_t>(b);
          EXPECT_GE(sum, 0u);
        }
      }
      if (failed) break;
    }
  }
}

}  // namespace
}  // namespace strom::network
