#include "checkpoint/channel_state.h"

#include <cstdint>
#include <cstring>

namespace strom::checkpoint {
namespace {

constexpr char kBytesTag = 0x00;
constexpr char kEventTag = 0x01;

template <class T>
void putLittleEndian(std::string& out, T value) {
  using U = std::make_unsigned_t<T>;
  auto bits = static_cast<U>(value);
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

template <class T>
T getLittleEndian(const char* p) {
  using U = std::make_unsigned_t<T>;
  U bits = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    bits |= static_cast<U>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return static_cast<T>(bits);
}

}  // namespace

void appendChannelStateBytes(std::string& out, std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  out.push_back(kBytesTag);
  putLittleEndian<uint32_t>(out, static_cast<uint32_t>(bytes.size()));
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void appendChannelStateItem(std::string& out, const network::BufferOrEvent& item) {
  if (item.isBuffer()) {
    appendChannelStateBytes(out, item.buffer().bytes());
    return;
  }
  const network::Event& event = item.event();
  // Only watermarks and statuses: barriers, cancellation markers and the end are never kept.
  if (event.type != network::EventType::kWatermark &&
      event.type != network::EventType::kWatermarkStatus) {
    return;
  }
  out.push_back(kEventTag);
  out.push_back(static_cast<char>(event.type));
  putLittleEndian<int64_t>(out, event.value);
}

Status forEachChannelStateItem(std::string_view state, std::string_view what,
                               const std::function<Status(std::span<const std::byte>)>& onBytes,
                               const std::function<Status(const network::Event&)>& onEvent) {
  size_t pos = 0;
  auto corrupt = [&](const std::string& detail) {
    return Status::corruption(std::string(what) + ": channel state " + detail + " at byte " +
                              std::to_string(pos));
  };
  while (pos < state.size()) {
    char tag = state[pos];
    if (tag == kBytesTag) {
      if (state.size() - pos < 5) return corrupt("truncated");
      auto length = getLittleEndian<uint32_t>(state.data() + pos + 1);
      if (length == 0 || state.size() - pos - 5 < length) return corrupt("truncated");
      const auto* bytes = reinterpret_cast<const std::byte*>(state.data() + pos + 5);
      pos += 5 + length;
      STROM_RETURN_IF_ERROR(onBytes(std::span<const std::byte>(bytes, length)));
    } else if (tag == kEventTag) {
      if (state.size() - pos < 10) return corrupt("truncated");
      auto type = static_cast<uint8_t>(state[pos + 1]);
      if (type != static_cast<uint8_t>(network::EventType::kWatermark) &&
          type != static_cast<uint8_t>(network::EventType::kWatermarkStatus)) {
        return corrupt("holds an event of unknown type " + std::to_string(type));
      }
      network::Event event{static_cast<network::EventType>(type),
                           getLittleEndian<int64_t>(state.data() + pos + 2)};
      pos += 10;
      STROM_RETURN_IF_ERROR(onEvent(event));
    } else {
      return corrupt("holds an item of unknown tag " +
                     std::to_string(static_cast<unsigned char>(tag)));
    }
  }
  return Status::ok();
}

}  // namespace strom::checkpoint
