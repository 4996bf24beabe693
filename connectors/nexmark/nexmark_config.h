#pragma once

#include <strom/status.h>

#include <cstdint>
#include <vector>

namespace strom::nexmark {

/// The options of the reference Nexmark generator (nexmark-flink's NexmarkConfiguration as read
/// by GeneratorConfig), with the reference defaults, plus the seed and split index of this port.
/// Options the reference generator ignores (rate shape, window sizes, delayed-event
/// probabilities, ...) are left out: they change no event.
struct NexmarkConfig {
  /// Seed S of ../shared/nexmark/README.md: the 1 MiB string uses S, the channel table S + 1
  /// and split i's generator S + 2 + i (all wrapping in 64 bits).
  int64_t seed = 0;
  /// Total number of events; 0 means unbounded (the reference's maxEvents of 0).
  int64_t maxEvents = 0;
  /// Events per second of the whole stream (all generators); sets the timestamps only. The
  /// reference's nextEventRate has no effect on events and so does not appear here.
  int64_t firstEventRate = 10'000;
  /// Timestamp of event number 0, in milliseconds since the epoch. The reference's Flink source
  /// uses the current time; this port needs it set for reproducible output, and defaults to 0.
  int64_t baseTime = 0;
  int64_t firstEventId = 1;
  int64_t firstEventNumber = 1;
  /// How many generators (splits) share the stream; the inter-event delay of each is
  /// multiplied by it.
  int32_t numEventGenerators = 1;
  /// Which split this configuration generates (0-based); set by split().
  int32_t splitIndex = 0;

  int32_t personProportion = 1;
  int32_t auctionProportion = 3;
  int32_t bidProportion = 46;
  int32_t avgPersonByteSize = 200;
  int32_t avgAuctionByteSize = 500;
  int32_t avgBidByteSize = 100;
  int32_t hotAuctionRatio = 2;
  int32_t hotSellersRatio = 4;
  int32_t hotBiddersRatio = 4;
  int32_t numInFlightAuctions = 100;
  int32_t numActivePeople = 1000;
  int32_t outOfOrderGroupSize = 1;

  /// Return an error naming the first option out of range.
  Status validate() const;

  /// Return the number of events this configuration generates: maxEvents, or for 0 the
  /// reference's "unbounded" value.
  int64_t effectiveMaxEvents() const;

  int64_t totalProportion() const {
    return int64_t{personProportion} + auctionProportion + bidProportion;
  }

  /// Return the inter-event delay of one generator in microseconds, as the reference computes it.
  double interEventDelayUs() const {
    return 1'000'000.0 / static_cast<double>(firstEventRate) * numEventGenerators;
  }

  /// Return the timestamp (ms) of the event with event number `eventNumber`.
  int64_t timestampForEvent(int64_t eventNumber) const {
    return baseTime +
           static_cast<int64_t>(static_cast<double>(eventNumber) * interEventDelayUs()) / 1000;
  }

  /// Split into `n` configurations the way the reference's GeneratorConfig.split and the Flink
  /// source reader do: split i gets floor(M/n) events (the last one the rest), first event id
  /// firstEventId + i * floor(M/n), the same base time and first event number, numEventGenerators
  /// n and splitIndex i. Every split emits its whole share. With maxEvents 0 the reference's
  /// "unbounded" count is split. Errors: n < 1, or an invalid configuration.
  Result<std::vector<NexmarkConfig>> split(int32_t n) const;
};

}  // namespace strom::nexmark
