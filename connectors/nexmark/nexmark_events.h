#pragma once

#include <strom/fields.h>

#include <cstdint>
#include <string_view>

namespace strom::nexmark {

// The Nexmark event model, field for field as the reference generator's `model/` classes.
// String fields are views into buffers owned by the generator that produced the event (see
// NexmarkGenerator::next for how long they stay valid). Times are milliseconds since the epoch.

/// A new person registering (the reference's `Person`).
struct Person {
  int64_t id = 0;
  std::string_view name;
  std::string_view emailAddress;
  std::string_view creditCard;
  std::string_view city;
  std::string_view state;
  int64_t dateTime = 0;
  std::string_view extra;
  STROM_FIELDS(id, name, emailAddress, creditCard, city, state, dateTime, extra)
};

/// A new auction (the reference's `Auction`).
struct Auction {
  int64_t id = 0;
  std::string_view itemName;
  std::string_view description;
  int64_t initialBid = 0;
  int64_t reserve = 0;
  int64_t dateTime = 0;
  int64_t expires = 0;
  int64_t seller = 0;
  int64_t category = 0;
  std::string_view extra;
  STROM_FIELDS(id, itemName, description, initialBid, reserve, dateTime, expires, seller, category,
               extra)
};

/// A bid on an auction (the reference's `Bid`).
struct Bid {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  std::string_view channel;
  std::string_view url;
  int64_t dateTime = 0;
  std::string_view extra;
  STROM_FIELDS(auction, bidder, price, channel, url, dateTime, extra)
};

/// The kind of a NexmarkEvent; the values are the `type` of the JSON line format.
enum class EventType : uint8_t { kPerson = 0, kAuction = 1, kBid = 2 };

/// One generated event: exactly one of `person`, `auction`, `bid` is meaningful, chosen by
/// `type`. `timestamp` equals the event's dateTime; `watermark` is the generator's own watermark
/// (the smallest timestamp of this and all later events of the split).
struct NexmarkEvent {
  EventType type = EventType::kPerson;
  int64_t timestamp = 0;
  int64_t watermark = 0;
  Person person;
  Auction auction;
  Bid bid;
  /// The generator split that made the event (set by the Nexmark source).
  int32_t split = 0;
  STROM_FIELDS(type, timestamp, watermark, person, auction, bid, split)
};

}  // namespace strom::nexmark
