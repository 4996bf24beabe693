#pragma once

// The Nexmark source (issue 5): the reference generator as a Strom source. The configuration is
// split into numEventGenerators splits (NexmarkConfig::split); source subtask s of p reads the
// splits i with i % p == s, round robin, one batch per poll. Events carry their timestamp
// (dateTime) and split; the strings the generator reuses are copied into the batch being filled
// (the rest view the generator's immutable tables), so a batch allocates nothing per event once
// warm. With fromSource(source, nexmarkWatermarks(), name)
// each split has the reference DDL's watermark, dateTime - 4 s.

#include <strom/source.h>
#include <strom/status.h>
#include <strom/watermark.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "connectors/nexmark/nexmark_config.h"
#include "connectors/nexmark/nexmark_events.h"
#include "connectors/nexmark/nexmark_generator.h"

namespace strom::nexmark {

/// The reference DDL's watermark, `dateTime - INTERVAL '4' SECOND`: the largest timestamp seen
/// minus 4000 ms, emitted periodically (a WatermarkStrategy generator).
struct NexmarkWatermarkGenerator {
  static constexpr int64_t kDelayMillis = 4000;
  int64_t maxTimestamp = std::numeric_limits<int64_t>::min();
  void onEvent(const NexmarkEvent&, int64_t timestamp, WatermarkOutput&) {
    maxTimestamp = std::max(maxTimestamp, timestamp);
  }
  void onPeriodicEmit(WatermarkOutput& output) const {
    if (maxTimestamp != std::numeric_limits<int64_t>::min()) {
      output.emitWatermark(maxTimestamp - kDelayMillis);
    }
  }
};

/// The watermark strategy of Nexmark sources: the record timestamps the source sets, and
/// NexmarkWatermarkGenerator per split.
inline auto nexmarkWatermarks() {
  return WatermarkStrategy<NexmarkEvent>::forGenerator([] { return NexmarkWatermarkGenerator{}; });
}

class NexmarkSource final : public Source<NexmarkEvent> {
 public:
  /// A source of the events of `config`, split into config.numEventGenerators splits. Errors:
  /// an invalid configuration.
  static Result<std::shared_ptr<const NexmarkSource>> create(const NexmarkConfig& config) {
    STROM_ASSIGN_OR_RETURN(std::vector<NexmarkConfig> splits,
                           config.split(config.numEventGenerators));
    return std::shared_ptr<const NexmarkSource>(new NexmarkSource(std::move(splits)));
  }

  /// At most one subtask per split.
  int maxParallelism() const override { return static_cast<int>(splits_.size()); }

  std::unique_ptr<SourceReader<NexmarkEvent>> createReader(int subtaskIndex,
                                                           int parallelism) const override {
    std::vector<NexmarkConfig> mine;
    for (size_t i = static_cast<size_t>(subtaskIndex); i < splits_.size();
         i += static_cast<size_t>(parallelism)) {
      mine.push_back(splits_[i]);
    }
    return std::make_unique<Reader>(std::move(mine));
  }

 private:
  explicit NexmarkSource(std::vector<NexmarkConfig> splits) : splits_(std::move(splits)) {}

  class Reader final : public SourceReader<NexmarkEvent> {
   public:
    explicit Reader(std::vector<NexmarkConfig> configs) : configs_(std::move(configs)) {}

    Status open(OperatorContext&) override {
      for (const NexmarkConfig& config : configs_) {
        STROM_ASSIGN_OR_RETURN(NexmarkGenerator generator, NexmarkGenerator::create(config));
        splits_.push_back(
            Split{std::move(generator), std::to_string(config.splitIndex), config.splitIndex});
      }
      return Status::ok();
    }

    /// Emit one batch from the next split that has events, round robin over the splits.
    Result<InputStatus> pollNext(ReaderOutput<NexmarkEvent>& output) override {
      for (size_t tries = 0; tries < splits_.size(); ++tries) {
        Split& split = splits_[next_];
        next_ = (next_ + 1) % splits_.size();
        if (split.done) continue;
        SourceOutput<NexmarkEvent>& out = output.createOutputForSplit(split.id);
        for (size_t i = 0; i < kEventsPerPoll && split.generator.hasNext(); ++i) {
          const NexmarkEvent& event = split.generator.next();
          out.collectInPlace(event.timestamp, [&](NexmarkEvent& slot) {
            copyInto(slot, output.arena(), event, split.index);
          });
        }
        if (!split.generator.hasNext()) {
          split.done = true;
          ++finished_;
          output.releaseOutputForSplit(split.id);
        }
        break;
      }
      return finished_ == splits_.size() ? InputStatus::kEndOfInput : InputStatus::kMoreAvailable;
    }

   private:
    static constexpr size_t kEventsPerPoll = 1024;

    struct Split {
      NexmarkGenerator generator;
      std::string id;
      int32_t index;
      bool done = false;
    };

    /// Write `event` into `copy` (a default-constructed slot of the batch), with the strings
    /// that live in the generator's buffers copied into `arena`; the others view the
    /// generator's immutable tables, which live as long as this reader (see NexmarkGenerator),
    /// so a bid is emitted without copying a string.
    static void copyInto(NexmarkEvent& copy, strom::detail::ByteArena& arena,
                         const NexmarkEvent& event, int32_t split) {
      copy.type = event.type;
      copy.timestamp = event.timestamp;
      copy.watermark = event.watermark;
      copy.split = split;
      switch (event.type) {
        case EventType::kPerson:
          copy.person = event.person;
          copy.person.name = arena.copy(event.person.name);
          copy.person.emailAddress = arena.copy(event.person.emailAddress);
          copy.person.creditCard = arena.copy(event.person.creditCard);
          break;
        case EventType::kAuction:
          copy.auction = event.auction;
          copy.auction.itemName = arena.copy(event.auction.itemName);
          copy.auction.description = arena.copy(event.auction.description);
          break;
        case EventType::kBid:
          copy.bid = event.bid;
          break;
      }
    }

    std::vector<NexmarkConfig> configs_;
    std::vector<Split> splits_;
    size_t next_ = 0;
    size_t finished_ = 0;
  };

  std::vector<NexmarkConfig> splits_;
};

}  // namespace strom::nexmark
