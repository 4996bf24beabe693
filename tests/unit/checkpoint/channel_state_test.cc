// The channel-state encoding of unaligned checkpoints (checkpoint/channel_state.h).

#include "checkpoint/channel_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "runtime/network/buffer.h"
#include "testutil/status_matchers.h"

namespace strom::checkpoint {
namespace {

using network::BufferOrEvent;
using network::Event;
using network::EventType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::span<const std::byte> bytesOf(std::string_view text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

/// Decode `state` into "bytes:<text>" and "event:<type>:<value>" lines.
Result<std::vector<std::string>> decode(std::string_view state) {
  std::vector<std::string> items;
  STROM_RETURN_IF_ERROR(forEachChannelStateItem(
      state, "test",
      [&](std::span<const std::byte> bytes) {
        items.push_back("bytes:" +
                        std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        return Status::ok();
      },
      [&](const Event& event) {
        items.push_back("event:" + std::to_string(static_cast<int>(event.type)) + ":" +
                        std::to_string(event.value));
        return Status::ok();
      }));
  return items;
}

TEST(ChannelStateTest, roundTripsBytesAndEventsAndSkipsBarriersAndEnd) {
  ASSERT_OK_AND_ASSIGN(auto global, network::NetworkBufferPool::create(4, 64));
  ASSERT_OK_AND_ASSIGN(auto pool, network::LocalBufferPool::create(*global, 1, 4, "test"));
  network::Buffer buffer = pool->tryRequestBuffer();
  std::memcpy(buffer.data(), "world", 5);
  buffer.setSize(5);

  std::string state;
  appendChannelStateBytes(state, bytesOf("hel"));
  appendChannelStateBytes(state, bytesOf(""));  // nothing
  appendChannelStateItem(state, BufferOrEvent(std::move(buffer)));
  appendChannelStateItem(state, BufferOrEvent(Event{EventType::kWatermark, -42}));
  appendChannelStateItem(state, BufferOrEvent(Event{EventType::kCheckpointBarrier, 3, 100, 2}));
  appendChannelStateItem(state, BufferOrEvent(Event{EventType::kWatermarkStatus, 1}));
  appendChannelStateItem(state, BufferOrEvent(Event{EventType::kEndOfPartition, 0}));
  ASSERT_OK_AND_ASSIGN(auto items, decode(state));
  EXPECT_THAT(items, ElementsAre("bytes:hel", "bytes:world", "event:1:-42", "event:2:1"));
}

TEST(ChannelStateTest, truncatedOrMalformedStateIsCorruptionNamingWhat) {
  std::string state;
  appendChannelStateBytes(state, bytesOf("abcdef"));
  appendChannelStateItem(state, BufferOrEvent(Event{EventType::kWatermark, 7}));
  for (size_t cut = 1; cut < state.size(); ++cut) {
    if (cut == 11) continue;  // between the two items: a valid prefix
    SCOPED_TRACE("cut at " + std::to_string(cut));
    auto items = decode(state.substr(0, cut));
    ASSERT_STATUS(StatusCode::kCorruption, items);
    EXPECT_THAT(items.status().message(), HasSubstr("test: channel state"));
  }
  std::string unknownTag = state;
  unknownTag[0] = 7;
  ASSERT_STATUS(StatusCode::kCorruption, decode(unknownTag));
  std::string barrierEvent = state;
  barrierEvent[12] = static_cast<char>(EventType::kCheckpointBarrier);
  ASSERT_STATUS(StatusCode::kCorruption, decode(barrierEvent));
}

TEST(ChannelStateTest, namesRoundTripAndBadNamesAreRejected) {
  EXPECT_EQ(inputChannelStateName(1, 12), "in-1-12");
  EXPECT_EQ(outputChannelStateName(0, 3), "out-0-3");
  ASSERT_OK_AND_ASSIGN(ChannelStateName in, parseChannelStateName("in-1-12"));
  EXPECT_EQ(in.kind, ChannelStateName::Kind::kInput);
  EXPECT_EQ(in.first, 1);
  EXPECT_EQ(in.second, 12);
  ASSERT_OK_AND_ASSIGN(ChannelStateName out, parseChannelStateName("out-0-3"));
  EXPECT_EQ(out.kind, ChannelStateName::Kind::kOutput);
  EXPECT_EQ(replayChannelStateName(2), "replay-2");
  ASSERT_OK_AND_ASSIGN(ChannelStateName replay, parseChannelStateName("replay-2"));
  EXPECT_EQ(replay.kind, ChannelStateName::Kind::kReplay);
  EXPECT_EQ(replay.first, 2);
  EXPECT_EQ(out.second, 3);
  for (const char* bad : {"", "in-", "in-1", "in-1-", "in-1-x", "in--1-2", "mid-1-2", "out-1-2-3",
                          "replay-", "replay-1-2", "replay--1"}) {
    SCOPED_TRACE(bad);
    ASSERT_STATUS(StatusCode::kInvalidArgument, parseChannelStateName(bad));
  }
}

}  // namespace
}  // namespace strom::checkpoint
