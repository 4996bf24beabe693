#include "connectors/nexmark/nexmark_json.h"

#include <charconv>
#include <cstdint>
#include <string_view>

namespace strom::nexmark {

namespace {

void appendInt(std::string& out, int64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

// Append a JSON string the way Python's json.dumps(ensure_ascii=True) writes it.
void appendString(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        // The generator produces ASCII only; other bytes are escaped like control characters
        // so the output stays ASCII.
        if (u < 0x20 || u >= 0x80) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void appendField(std::string& out, std::string_view key, int64_t value) {
  out.push_back(',');
  out.push_back('"');
  out += key;
  out += "\":";
  appendInt(out, value);
}

void appendField(std::string& out, std::string_view key, std::string_view value) {
  out.push_back(',');
  out.push_back('"');
  out += key;
  out += "\":";
  appendString(out, value);
}

}  // namespace

void appendJsonLine(std::string& out, int split, const NexmarkEvent& event) {
  out += "{\"split\":";
  appendInt(out, split);
  appendField(out, "ts", event.timestamp);
  appendField(out, "wm", event.watermark);
  appendField(out, "type", static_cast<int64_t>(event.type));
  switch (event.type) {
    case EventType::kPerson: {
      const Person& p = event.person;
      appendField(out, "id", p.id);
      appendField(out, "name", p.name);
      appendField(out, "emailAddress", p.emailAddress);
      appendField(out, "creditCard", p.creditCard);
      appendField(out, "city", p.city);
      appendField(out, "state", p.state);
      appendField(out, "dateTime", p.dateTime);
      appendField(out, "extra", p.extra);
      break;
    }
    case EventType::kAuction: {
      const Auction& a = event.auction;
      appendField(out, "id", a.id);
      appendField(out, "itemName", a.itemName);
      appendField(out, "description", a.description);
      appendField(out, "initialBid", a.initialBid);
      appendField(out, "reserve", a.reserve);
      appendField(out, "dateTime", a.dateTime);
      appendField(out, "expires", a.expires);
      appendField(out, "seller", a.seller);
      appendField(out, "category", a.category);
      appendField(out, "extra", a.extra);
      break;
    }
    case EventType::kBid: {
      const Bid& b = event.bid;
      appendField(out, "auction", b.auction);
      appendField(out, "bidder", b.bidder);
      appendField(out, "price", b.price);
      appendField(out, "channel", b.channel);
      appendField(out, "url", b.url);
      appendField(out, "dateTime", b.dateTime);
      appendField(out, "extra", b.extra);
      break;
    }
  }
  out += "}\n";
}

}  // namespace strom::nexmark
