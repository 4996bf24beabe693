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
#include <strom/type_serializer.h>
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
  int maxParallelism() const override { return static_cast<int>(splits_->size()); }

  std::unique_ptr<SourceReader<NexmarkEvent>> createReader(int subtaskIndex,
                                                           int parallelism) const override {
    std::vector<Assigned> mine;
    for (size_t i = static_cast<size_t>(subtaskIndex); i < splits_->size();
         i += static_cast<size_t>(parallelism)) {
      mine.push_back(Assigned{i, 0});
    }
    return std::make_unique<Reader>(splits_, std::move(mine));
  }

 private:
  explicit NexmarkSource(std::vector<NexmarkConfig> splits)
      : splits_(std::make_shared<const std::vector<NexmarkConfig>>(std::move(splits))) {}

  /// A split a reader reads: its index in the source's splits and the events already emitted.
  struct Assigned {
    size_t index;
    int64_t eventsSoFar;
  };

  /// Reads its assigned splits. A split's id is its splitIndex in decimal, its position the
  /// number of events it emitted (fixed64le); a restored split's generator is advanced past
  /// them in open() (generating and dropping them: the generator's random stream is sequential).
  class Reader final : public SourceReader<NexmarkEvent> {
   public:
    Reader(std::shared_ptr<const std::vector<NexmarkConfig>> configs, std::vector<Assigned> mine)
        : configs_(std::move(configs)), assigned_(std::move(mine)) {}

    Status open(OperatorContext&) override {
      for (const Assigned& assigned : assigned_) {
        const NexmarkConfig& config = (*configs_)[assigned.index];
        STROM_ASSIGN_OR_RETURN(NexmarkGenerator generator, NexmarkGenerator::create(config));
        for (int64_t i = 0; i < assigned.eventsSoFar && generator.hasNext(); ++i) generator.next();
        Split split{std::move(generator), std::to_string(config.splitIndex), config.splitIndex};
        if (assigned.eventsSoFar > 0 && !split.generator.hasNext()) {
          split.done = true;
          ++finished_;
        }
        splits_.push_back(std::move(split));
      }
      return Status::ok();
    }

    Result<std::vector<SourceSplitState>> snapshotState(int64_t) override {
      std::vector<SourceSplitState> states;
      for (const Split& split : splits_) {
        if (split.done) continue;
        std::string position;
        DataOutput out(position);
        out.writeFixed<int64_t>(split.generator.eventsCountSoFar());
        states.push_back(SourceSplitState{split.id, std::move(position)});
      }
      return states;
    }

    Status restoreState(std::vector<SourceSplitState> states) override {
      assigned_.clear();
      for (const SourceSplitState& state : states) {
        DataInput in(state.position);
        int64_t eventsSoFar = 0;
        if (!in.readFixed(eventsSoFar) || in.remaining() != 0 || eventsSoFar < 0) {
          return Status::corruption("nexmark source: split '" + state.splitId +
                                    "' has a malformed position (" +
                                    std::to_string(state.position.size()) + " bytes)");
        }
        size_t index = configs_->size();
        for (size_t i = 0; i < configs_->size(); ++i) {
          if (std::to_string((*configs_)[i].splitIndex) == state.splitId) index = i;
        }
        if (index == configs_->size()) {
          return Status::invalidArgument("nexmark source: restored split '" + state.splitId +
                                         "' is not one of the source's " +
                                         std::to_string(configs_->size()) + " splits");
        }
        assigned_.push_back(Assigned{index, eventsSoFar});
      }
      return Status::ok();
    }

    /// Emit one batch from the next split that has events, round robin over the splits.
    Result<InputStatus> pollNext(ReaderOutput<NexmarkEvent>& output) override {
      if (finished_ == splits_.size()) return InputStatus::kEndOfInput;
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

    std::shared_ptr<const std::vector<NexmarkConfig>> configs_;  // all of the source's
    std::vector<Assigned> assigned_;
    std::vector<Split> splits_;
    size_t next_ = 0;
    size_t finished_ = 0;
  };

  std::shared_ptr<const std::vector<NexmarkConfig>> splits_;
};

}  // namespace strom::nexmark
