#include "connectors/nexmark/nexmark_config.h"

#include <algorithm>
#include <limits>
#include <string>

namespace strom::nexmark {

namespace {

Status requirePositive(const char* name, int64_t value) {
  if (value <= 0) {
    return Status::invalidArgument(std::string("nexmark: ") + name + " must be positive, got " +
                                   std::to_string(value));
  }
  return Status::ok();
}

}  // namespace

Status NexmarkConfig::validate() const {
  if (maxEvents < 0) {
    return Status::invalidArgument("nexmark: maxEvents must not be negative, got " +
                                   std::to_string(maxEvents));
  }
  if (personProportion < 0 || auctionProportion < 0 || bidProportion < 0) {
    return Status::invalidArgument("nexmark: proportions must not be negative");
  }
  STROM_RETURN_IF_ERROR(requirePositive("firstEventRate", firstEventRate));
  STROM_RETURN_IF_ERROR(requirePositive("numEventGenerators", numEventGenerators));
  // The id arithmetic divides by each of the proportions' building blocks.
  STROM_RETURN_IF_ERROR(requirePositive("personProportion", personProportion));
  STROM_RETURN_IF_ERROR(requirePositive("auctionProportion", auctionProportion));
  STROM_RETURN_IF_ERROR(requirePositive("avgPersonByteSize", avgPersonByteSize));
  STROM_RETURN_IF_ERROR(requirePositive("avgAuctionByteSize", avgAuctionByteSize));
  STROM_RETURN_IF_ERROR(requirePositive("avgBidByteSize", avgBidByteSize));
  STROM_RETURN_IF_ERROR(requirePositive("hotAuctionRatio", hotAuctionRatio));
  STROM_RETURN_IF_ERROR(requirePositive("hotSellersRatio", hotSellersRatio));
  STROM_RETURN_IF_ERROR(requirePositive("hotBiddersRatio", hotBiddersRatio));
  STROM_RETURN_IF_ERROR(requirePositive("numInFlightAuctions", numInFlightAuctions));
  STROM_RETURN_IF_ERROR(requirePositive("numActivePeople", numActivePeople));
  STROM_RETURN_IF_ERROR(requirePositive("outOfOrderGroupSize", outOfOrderGroupSize));
  if (splitIndex < 0 || splitIndex >= numEventGenerators) {
    return Status::invalidArgument("nexmark: splitIndex " + std::to_string(splitIndex) +
                                   " out of range for " + std::to_string(numEventGenerators) +
                                   " generators");
  }
  // Extra strings are cut from a 1 MiB string.
  constexpr int32_t kMaxAverageSize = 1 << 19;
  if (avgPersonByteSize > kMaxAverageSize || avgAuctionByteSize > kMaxAverageSize ||
      avgBidByteSize > kMaxAverageSize) {
    return Status::invalidArgument("nexmark: average event sizes must be at most " +
                                   std::to_string(kMaxAverageSize) + " bytes");
  }
  return Status::ok();
}

int64_t NexmarkConfig::effectiveMaxEvents() const {
  if (maxEvents != 0) {
    return maxEvents;
  }
  const int64_t largest = std::max({avgPersonByteSize, avgAuctionByteSize, avgBidByteSize});
  return std::numeric_limits<int64_t>::max() / (totalProportion() * largest);
}

Result<std::vector<NexmarkConfig>> NexmarkConfig::split(int32_t n) const {
  if (n < 1) {
    return Status::invalidArgument("nexmark: cannot split into " + std::to_string(n) +
                                   " generators");
  }
  NexmarkConfig base = *this;
  base.numEventGenerators = n;
  base.splitIndex = 0;
  STROM_RETURN_IF_ERROR(base.validate());
  std::vector<NexmarkConfig> splits;
  splits.reserve(static_cast<size_t>(n));
  // As the reference, split the effective count: an unbounded stream gives every split a
  // (huge) disjoint share of the id space.
  const int64_t total = effectiveMaxEvents();
  const int64_t share = total / n;
  for (int32_t i = 0; i < n; ++i) {
    NexmarkConfig config = base;
    config.splitIndex = i;
    config.firstEventId = firstEventId + i * share;
    config.maxEvents = i == n - 1 ? total - share * (n - 1) : share;
    splits.push_back(config);
  }
  return splits;
}

}  // namespace strom::nexmark
