#pragma once

#include <strom/status.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/nexmark/nexmark_config.h"
#include "connectors/nexmark/nexmark_events.h"
#include "connectors/nexmark/splittable_random.h"

namespace strom::nexmark {

/// The two tables the reference generator draws from static randoms, built once per seed and
/// shared (immutable) by every generator of that seed: the 1 MiB string every `extra` is cut from
/// (seeded with S) and the bid channels: the 4 hot-channel URLs, then the 10,000-entry channel
/// table (seeded with S + 1). Thread-safe: immutable after construction.
class NexmarkTables {
 public:
  static constexpr int32_t kLargeStringLength = 1 << 20;
  static constexpr int32_t kNumChannels = 10'000;
  static constexpr int32_t kNumHotChannels = 4;

  /// Return the tables of `seed`, building them on first use; later calls with the same seed
  /// while a previous result is alive return the same object. Thread-safe.
  static std::shared_ptr<const NexmarkTables> forSeed(int64_t seed);

  /// Build the tables of `seed` (no caching).
  explicit NexmarkTables(int64_t seed);

  std::string_view largeString() const { return largeString_; }
  std::string_view hotChannel(int32_t i) const;
  std::string_view hotUrl(int32_t i) const { return hotUrls_[static_cast<size_t>(i)]; }
  std::string_view channel(int32_t i) const { return channelNames_[static_cast<size_t>(i)]; }
  std::string_view channelUrl(int32_t i) const { return channelUrls_[static_cast<size_t>(i)]; }

 private:
  std::string largeString_;
  std::array<std::string, kNumHotChannels> hotUrls_;
  std::vector<std::string> channelNames_;
  std::vector<std::string> channelUrls_;
};

/// The reference Nexmark generator (nexmark-flink's NexmarkGenerator with its person, auction
/// and bid generators) for one split, reproducing its events field for field for a given seed
/// (../shared/nexmark/README.md). Make the per-split configurations with NexmarkConfig::split.
///
/// next() allocates nothing: string fields of the returned event view buffers owned by this
/// generator or by its shared NexmarkTables. Which is which is part of the contract (the Nexmark
/// source copies only the former):
/// - generator buffers, valid until the next call to next(): a person's name, emailAddress and
///   creditCard; an auction's itemName and description;
/// - the immutable tables (tables()) or static storage, valid while the tables live: every
///   `extra`, a person's city and state, a bid's channel and url.
/// Thread contract: one thread at a time.
class NexmarkGenerator {
 public:
  /// Return a generator for `config` (one split: its splitIndex picks the random's seed
  /// S + 2 + splitIndex). Errors: an invalid configuration.
  static Result<NexmarkGenerator> create(const NexmarkConfig& config);

  NexmarkGenerator(NexmarkGenerator&&) = default;
  NexmarkGenerator& operator=(NexmarkGenerator&&) = default;
  NexmarkGenerator(const NexmarkGenerator&) = delete;
  NexmarkGenerator& operator=(const NexmarkGenerator&) = delete;

  /// Return whether the split has events left.
  bool hasNext() const { return eventsCountSoFar_ < maxEvents_; }

  /// Generate the next event. The reference and its string views stay valid until the next
  /// call to next(), or until this generator is moved or destroyed. REQUIRES: hasNext().
  const NexmarkEvent& next();

  const NexmarkConfig& config() const { return config_; }
  /// The tables that extras, channels and urls of the events view.
  const std::shared_ptr<const NexmarkTables>& tables() const { return tables_; }
  int64_t eventsCountSoFar() const { return eventsCountSoFar_; }

 private:
  NexmarkGenerator(const NexmarkConfig& config, std::shared_ptr<const NexmarkTables> tables);

  int64_t timestampForEvent(int64_t eventNumber) const;
  int64_t lastBase0PersonId(int64_t eventId) const;
  int64_t lastBase0AuctionId(int64_t eventId) const;
  int64_t nextBase0PersonId(int64_t eventId);
  int64_t nextBase0AuctionId(int64_t eventId);
  int64_t nextLong(int64_t bound);
  int64_t nextPrice();
  void appendString(int32_t maxLength, char special, std::string& out);
  std::string_view nextExtra(int32_t currentSize, int32_t desiredAverageSize);

  void nextPerson(int64_t eventId, int64_t timestamp);
  void nextAuction(int64_t eventId, int64_t timestamp);
  void nextBid(int64_t eventId, int64_t timestamp);

  NexmarkConfig config_;
  std::shared_ptr<const NexmarkTables> tables_;
  SplittableRandom random_;
  double interEventDelayUs_;
  int64_t maxEvents_;
  int64_t totalProportion_;
  int64_t eventsCountSoFar_ = 0;

  NexmarkEvent event_;
  // Reused buffers the string fields of event_ view.
  std::string name_;
  std::string email_;
  std::string creditCard_;
  std::string itemName_;
  std::string description_;
};

}  // namespace strom::nexmark
