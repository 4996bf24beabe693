// The job of the exactly-once end-to-end tests: a deterministic, throttled event source with
// checkpointed positions → keyBy → tumbling event-time windows (count and sum per key and
// window) → the exactly-once file sink. Its committed output is the same after any number of
// TaskManager kills, restores and rescalings as in a run without failures.
//
//   exactly_once_job --events N --keys K --rate R --output DIR [-p N] [-D key=value ...]
//
// Event e (0 ≤ e < N) has key e % K, timestamp e (milliseconds) and value e; it belongs to split
// e % kSplits. Each reader emits at most R events per second over its splits, so that the job
// runs long enough to be killed. Output lines: "key,windowStart,count,sum" for 1 s windows.

#include <strom/file_sink.h>
#include <strom/strom.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace {

using Event = std::pair<int64_t, int64_t>;  // key, value (the timestamp is the value)

constexpr int kSplits = 8;

/// The events of every split s < kSplits: e = s, s + kSplits, s + 2·kSplits, … below `count`.
class EventSource final : public strom::Source<Event> {
 public:
  EventSource(int64_t count, int64_t keys, int64_t perSecond)
      : count_(count), keys_(keys), perSecond_(perSecond) {}

  std::unique_ptr<strom::SourceReader<Event>> createReader(int subtaskIndex,
                                                           int parallelism) const override {
    std::vector<Split> splits;
    for (int s = subtaskIndex; s < kSplits; s += parallelism) splits.push_back(Split{s, s});
    return std::make_unique<Reader>(*this, std::move(splits));
  }

 private:
  struct Split {
    int id = 0;
    int64_t next = 0;  // the next event
  };

  class Reader final : public strom::SourceReader<Event> {
   public:
    Reader(const EventSource& source, std::vector<Split> splits)
        : source_(source), splits_(std::move(splits)) {}

    strom::Status open(strom::OperatorContext& context) override {
      context_ = &context;
      openedAt_ = context.currentProcessingTime();
      return strom::Status::ok();
    }

    strom::Result<strom::InputStatus> pollNext(strom::ReaderOutput<Event>& output) override {
      const int64_t now = context_->currentProcessingTime();
      int64_t budget = (now - openedAt_ + 1) * source_.perSecond_ / 1000 - emitted_;
      budget = std::min<int64_t>(budget, 256);
      bool more = false;
      for (Split& split : splits_) {
        if (split.next >= source_.count_) continue;
        strom::SourceOutput<Event>& out = output.createOutputForSplit(std::to_string(split.id));
        for (int64_t n = 0; n < budget && split.next < source_.count_; ++n) {
          out.collect(Event{split.next % source_.keys_, split.next}, split.next);
          split.next += kSplits;
          ++emitted_;
        }
        if (split.next < source_.count_) {
          more = true;
        } else {
          output.releaseOutputForSplit(std::to_string(split.id));
        }
      }
      if (!more) return strom::InputStatus::kEndOfInput;
      return budget > 0 ? strom::InputStatus::kMoreAvailable
                        : strom::InputStatus::kNothingAvailable;
    }

    strom::Result<std::vector<strom::SourceSplitState>> snapshotState(int64_t) override {
      std::vector<strom::SourceSplitState> states;
      for (const Split& split : splits_) {
        if (split.next < source_.count_) {
          states.push_back({std::to_string(split.id), std::to_string(split.next)});
        }
      }
      return states;
    }

    strom::Status restoreState(std::vector<strom::SourceSplitState> states) override {
      splits_.clear();
      for (const strom::SourceSplitState& state : states) {
        Split split;
        try {
          split.id = std::stoi(state.splitId);
          split.next = std::stoll(state.position);
        } catch (const std::exception&) {
          return strom::Status::corruption("event source: split '" + state.splitId +
                                           "' has the bad position '" + state.position + "'");
        }
        if (split.id < 0 || split.id >= kSplits || split.next % kSplits != split.id) {
          return strom::Status::corruption("event source: split '" + state.splitId +
                                           "' cannot be at event " + state.position);
        }
        splits_.push_back(split);
      }
      return strom::Status::ok();
    }

   private:
    const EventSource& source_;
    std::vector<Split> splits_;
    strom::OperatorContext* context_ = nullptr;
    int64_t openedAt_ = 0;
    int64_t emitted_ = 0;
  };

  int64_t count_;
  int64_t keys_;
  int64_t perSecond_;
};

struct CountAndSum {
  using Acc = std::pair<int64_t, int64_t>;
  Acc createAccumulator() const { return {0, 0}; }
  Acc add(const Event& event, Acc acc) const { return {acc.first + 1, acc.second + event.second}; }
  Acc getResult(const Acc& acc) const { return acc; }
  Acc merge(const Acc& a, const Acc& b) const { return {a.first + b.first, a.second + b.second}; }
};

/// Formats one window's count and sum as "key,windowStart,count,sum".
class FormatWindow final
    : public strom::WindowFunction<CountAndSum::Acc, std::string, int64_t, strom::TimeWindow> {
 public:
  void apply(const int64_t& key, const strom::TimeWindow& window,
             std::span<const CountAndSum::Acc> results,
             strom::Collector<std::string>& out) override {
    const CountAndSum::Acc& r = results.front();
    out.collect(std::to_string(key) + "," + std::to_string(window.start) + "," +
                std::to_string(r.first) + "," + std::to_string(r.second));
  }
};

strom::Status build(strom::StreamExecutionEnvironment& env, const strom::JobArgs& args) {
  CLI::App app{"Exactly-once test job: windowed counts and sums per key."};
  int64_t events = 100'000;
  int64_t keys = 16;
  int64_t rate = 20'000;
  std::string output;
  app.add_option("--events", events, "events in all")->check(CLI::PositiveNumber);
  app.add_option("--keys", keys, "distinct keys")->check(CLI::PositiveNumber);
  app.add_option("--rate", rate, "events per second per source subtask")
      ->check(CLI::PositiveNumber);
  app.add_option("--output", output, "directory of committed part files")->required();
  int64_t slowMicros = 0;
  app.add_option("--slow-us", slowMicros,
                 "back-pressure: a map after a rebalance spends this many microseconds per event "
                 "(for measuring checkpoints while the network buffers are full)");
  std::vector<std::string> argv = args.args();
  std::reverse(argv.begin(), argv.end());  // CLI11 takes them in reverse order
  try {
    app.parse(argv);
  } catch (const CLI::ParseError& e) {
    return strom::Status::invalidArgument(std::string("exactly_once_job: ") + e.what());
  }

  auto source = std::make_shared<EventSource>(events, keys, rate);
  strom::DataStream<Event> stream =
      env.fromSource<Event>(source, strom::WatermarkStrategy<Event>::forMonotonousTimestamps(),
                            "Events")
          .uid("events");
  if (slowMicros > 0) {
    stream = stream.rebalance()
                 .map([slowMicros](const Event& event) {
                   // Busy: sleeping has a granularity far above a few microseconds.
                   auto until =
                       std::chrono::steady_clock::now() + std::chrono::microseconds(slowMicros);
                   while (std::chrono::steady_clock::now() < until) {
                   }
                   return event;
                 })
                 .uid("slow")
                 .name("Slow");
  }
  stream.keyBy([](const Event& event) { return event.first; })
      .window(strom::TumblingEventTimeWindows::of(std::chrono::seconds(1)))
      .aggregate(CountAndSum{}, FormatWindow{})
      .uid("windows")
      .name("Count and sum")
      .sinkTo(std::make_shared<strom::FileSink<std::string>>(output), "Part files")
      .uid("sink");
  return strom::Status::ok();
}

}  // namespace

STROM_JOB(build)
