// Operators' state in checkpoints, at the operator level: every keyed operator family snapshots
// mid-stream and restores into fresh instances at another parallelism (2 -> 3 -> 1, keyed
// snapshots split by key group), and its continued output must equal an uninterrupted run's;
// operator state of user functions (CheckpointedFunction: list state split round-robin, union
// list state given to all), broadcast state, CheckpointListener, and the errors for a state of
// another type, mode or serializer.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "testutil/operator_harness.h"

namespace strom {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr int kMaxParallelism = 128;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// ---- Recording and assigning contexts ---------------------------------------------------------

/// What one subtask wrote into a checkpoint.
struct SubtaskSnapshot {
  std::vector<std::string> keyed;  // at most one
  std::vector<detail::OperatorStateEntry> operatorStates;
};

class RecordingSnapshotContext final : public StateSnapshotContext {
 public:
  explicit RecordingSnapshotContext(int64_t checkpointId) : checkpointId_(checkpointId) {}
  int64_t checkpointId() const override { return checkpointId_; }
  int64_t checkpointTimestamp() const override { return 1000 + checkpointId_; }
  bool isSavepoint() const override { return false; }
  void addKeyedState(std::string bytes) override { snapshot.keyed.push_back(std::move(bytes)); }
  void addOperatorState(std::string name, OperatorStateMode mode,
                        std::vector<std::string> elements) override {
    snapshot.operatorStates.push_back({std::move(name), mode, std::move(elements)});
  }
  SubtaskSnapshot snapshot;

 private:
  int64_t checkpointId_;
};

/// Deals the state of a checkpoint taken at one parallelism out to subtask `index` of
/// `parallelism`, as the JobManager does (keyed snapshots whose key groups overlap; split state:
/// the subtask's own at the same parallelism, else every `parallelism`-th element of the
/// concatenation; union: all; broadcast: subtask 0's).
class AssignedStateContext final : public StateInitializationContext {
 public:
  AssignedStateContext() = default;
  AssignedStateContext(const std::vector<SubtaskSnapshot>& old, int64_t checkpointId,
                       int parallelism, int index)
      : restored_(true), checkpointId_(checkpointId) {
    const int oldParallelism = static_cast<int>(old.size());
    const KeyGroupRange mine = KeyGroupRange::forOperator(kMaxParallelism, parallelism, index);
    for (int i = 0; i < oldParallelism; ++i) {
      const KeyGroupRange theirs = KeyGroupRange::forOperator(kMaxParallelism, oldParallelism, i);
      const bool overlaps = std::max(mine.startKeyGroup, theirs.startKeyGroup) <=
                            std::min(mine.endKeyGroup, theirs.endKeyGroup);
      for (const std::string& bytes : old[static_cast<size_t>(i)].keyed) {
        if (overlaps) keyed_.push_back({"subtask " + std::to_string(i), bytes});
      }
    }
    for (int i = 0; i < oldParallelism; ++i) {
      for (const auto& entry : old[static_cast<size_t>(i)].operatorStates) {
        if (states_.count(entry.name) != 0) continue;
        std::vector<std::string> all;
        for (const SubtaskSnapshot& subtask : old) {
          for (const auto& other : subtask.operatorStates) {
            if (other.name == entry.name)
              all.insert(all.end(), other.elements.begin(), other.elements.end());
          }
        }
        std::vector<std::string>& assigned = states_[entry.name];
        names_.push_back(entry.name);
        switch (entry.mode) {
          case OperatorStateMode::kSplit:
            if (oldParallelism == parallelism) {
              for (const auto& own : old[static_cast<size_t>(index)].operatorStates) {
                if (own.name == entry.name) assigned = own.elements;
              }
            } else {
              for (size_t e = 0; e < all.size(); ++e) {
                if (static_cast<int>(e % static_cast<size_t>(parallelism)) == index)
                  assigned.push_back(all[e]);
              }
            }
            break;
          case OperatorStateMode::kUnion:
            assigned = all;
            break;
          case OperatorStateMode::kBroadcast:
            for (const auto& first : old[0].operatorStates) {
              if (first.name == entry.name) assigned = first.elements;
            }
            break;
        }
      }
    }
  }
  bool isRestored() const override { return restored_; }
  int64_t restoredCheckpointId() const override { return checkpointId_; }
  std::span<const KeyedStateSnapshotInput> keyedState() const override { return keyed_; }
  const std::vector<std::string>& operatorState(std::string_view name) const override {
    auto it = states_.find(std::string(name));
    return it == states_.end() ? empty_ : it->second;
  }
  std::vector<std::string> operatorStateNames() const override { return names_; }

 private:
  bool restored_ = false;
  int64_t checkpointId_ = -1;
  std::vector<KeyedStateSnapshotInput> keyed_;
  std::map<std::string, std::vector<std::string>> states_;
  std::vector<std::string> names_;
  std::vector<std::string> empty_;
};

// ---- A parallel run of one operator -----------------------------------------------------------

using MakeOperator = std::function<std::unique_ptr<StreamOperator>()>;

/// `parallelism` instances of one operator, each with its fake context, fed as a task would:
/// records to the subtask owning their key group (or a given subtask), watermarks and the
/// processing time to all. Output of all subtasks is collected together.
template <class Out>
class Subtasks {
 public:
  /// Create and open the instances, and initialize their state (from `from` if given).
  Subtasks(const MakeOperator& make, int parallelism,
           const std::vector<SubtaskSnapshot>* from = nullptr, int64_t checkpointId = -1) {
    for (int i = 0; i < parallelism; ++i) {
      auto subtask = std::make_unique<Subtask>(i, parallelism);
      subtask->op = make();
      Status connected = subtask->op->mainOutput()->connect(subtask->output, "output");
      EXPECT_TRUE(connected.isOk()) << connected.toString();
      subtask->op->open(subtask->context);
      AssignedStateContext context = from != nullptr
                                         ? AssignedStateContext(*from, checkpointId, parallelism, i)
                                         : AssignedStateContext();
      Status status = subtask->op->initializeState(context);
      if (!status.isOk() && initStatus_.isOk()) initStatus_ = status;
      subtasks_.push_back(std::move(subtask));
    }
  }
  const Status& initStatus() const { return initStatus_; }
  int parallelism() const { return static_cast<int>(subtasks_.size()); }
  StreamOperator& op(int index) { return *subtasks_[static_cast<size_t>(index)]->op; }

  /// Return the subtask owning `key`'s key group.
  template <class K>
  int ownerOf(const K& key) const {
    const int keyGroup = keyGroupForHash(keyHash(key), kMaxParallelism);
    for (int i = 0; i < parallelism(); ++i) {
      if (KeyGroupRange::forOperator(kMaxParallelism, parallelism(), i).contains(keyGroup))
        return i;
    }
    return -1;
  }
  template <class In>
  void push1(int subtask, In value, int64_t timestamp) {
    push<In>(op(subtask).input(), subtask, std::move(value), timestamp);
  }
  template <class In>
  void push2(int subtask, In value, int64_t timestamp) {
    push<In>(op(subtask).secondInput(), subtask, std::move(value), timestamp);
  }
  void watermark(int64_t watermark) {
    for (auto& subtask : subtasks_) {
      subtask->op->processWatermark(watermark);
      subtask->op->flushOutputs();
    }
  }
  void processingTime(int64_t now) {
    for (auto& subtask : subtasks_) {
      subtask->context.setNow(now);
      for (int i = 0; i < 100'000 && subtask->context.requested() <= now; ++i) {
        subtask->context.takeRequested();
        subtask->op->onProcessingTime(now);
      }
      subtask->op->flushOutputs();
    }
  }
  void endInput() {
    watermark(kMax);
    for (auto& subtask : subtasks_) {
      subtask->op->endInput();
      subtask->op->flushOutputs();
    }
  }
  /// Snapshot every subtask (each must succeed).
  std::vector<SubtaskSnapshot> snapshot(int64_t checkpointId) {
    std::vector<SubtaskSnapshot> result;
    for (auto& subtask : subtasks_) {
      RecordingSnapshotContext context(checkpointId);
      Status status = subtask->op->snapshotState(context);
      EXPECT_TRUE(status.isOk()) << status.toString();
      result.push_back(std::move(context.snapshot));
    }
    return result;
  }
  std::vector<std::pair<Out, int64_t>> takeOutput() {
    std::vector<std::pair<Out, int64_t>> all;
    for (auto& subtask : subtasks_) {
      all.insert(all.end(), subtask->output.records.begin(), subtask->output.records.end());
      subtask->output.records.clear();
    }
    return all;
  }

 private:
  struct Subtask {
    Subtask(int index, int parallelism) : context(index, parallelism, kMaxParallelism) {}
    testing::FakeOperatorContext context;
    testing::CollectingInput<Out> output;
    std::unique_ptr<StreamOperator> op;
  };
  template <class In>
  void push(InputBase* input, int subtask, In value, int64_t timestamp) {
    RecordBatch<In> batch;
    batch.push(std::move(value), timestamp);
    static_cast<Input<In>*>(input)->processBatch(batch);
    op(subtask).flushOutputs();
  }

  std::vector<std::unique_ptr<Subtask>> subtasks_;
  Status initStatus_;
};

// ---- Scenarios --------------------------------------------------------------------------------

/// One step of an input: a record for input 1 or 2 with its key (routed to the key's owner;
/// key < 0: to subtask (-key - 1) modulo the parallelism), a watermark, or a processing time.
struct Step {
  enum Kind { kRecord1, kRecord2, kWatermark, kTime, kBroadcast2 } kind;
  int64_t key = 0;
  int64_t value = 0;
  int64_t time = 0;
};

/// A deterministic, slightly out-of-order stream over `keys` keys: records on input 1 (and on
/// input 2 if `twoInputs`), a watermark every 8 records, the processing time every 5.
std::vector<Step> makeSteps(size_t records, int64_t keys, bool twoInputs, uint32_t seed = 7) {
  std::mt19937 random(seed);
  std::vector<Step> steps;
  int64_t maxTime = 0;
  int64_t now = 0;
  for (size_t i = 0; i < records; ++i) {
    const int64_t time = static_cast<int64_t>(i) * 3 + static_cast<int64_t>(random() % 9);
    maxTime = std::max(maxTime, time);
    const bool second = twoInputs && random() % 2 == 0;
    steps.push_back({second ? Step::kRecord2 : Step::kRecord1,
                     static_cast<int64_t>(random() % static_cast<uint32_t>(keys)),
                     static_cast<int64_t>(random() % 100), time});
    if (i % 8 == 7) steps.push_back({Step::kWatermark, 0, 0, maxTime - 6});
    if (i % 5 == 4) {
      now += 7 + static_cast<int64_t>(random() % 5);
      steps.push_back({Step::kTime, 0, 0, now});
    }
  }
  return steps;
}

using Event = std::pair<int64_t, int64_t>;  // key, value

/// Feeds steps to subtasks; records become Event{key, value} (or In1/In2 built by `make1/2`).
template <class Out, class In1 = Event, class In2 = Event>
struct Feeder {
  template <class X>
  static X build(const Step& s) {
    if constexpr (std::is_constructible_v<X, int64_t, int64_t>) {
      return X{s.key, s.value};
    } else {
      return X{};
    }
  }
  std::function<In1(const Step&)> make1 = &build<In1>;
  std::function<In2(const Step&)> make2 = &build<In2>;
  bool keyed = true;

  void feed(Subtasks<Out>& subtasks, const Step& step) const {
    auto target = [&](int64_t key) {
      return keyed ? subtasks.ownerOf(key) : static_cast<int>(key % subtasks.parallelism());
    };
    switch (step.kind) {
      case Step::kRecord1:
        subtasks.push1(target(step.key), make1(step), step.time);
        break;
      case Step::kRecord2:
        subtasks.push2(target(step.key), make2(step), step.time);
        break;
      case Step::kBroadcast2:
        for (int i = 0; i < subtasks.parallelism(); ++i) subtasks.push2(i, make2(step), step.time);
        break;
      case Step::kWatermark:
        subtasks.watermark(step.time);
        break;
      case Step::kTime:
        subtasks.processingTime(step.time);
        break;
    }
  }
};

template <class Out>
std::vector<std::pair<Out, int64_t>> sorted(std::vector<std::pair<Out, int64_t>> records) {
  std::sort(records.begin(), records.end());
  return records;
}

/// Run `steps` without interruption at parallelism 1, and in three parts at parallelism 2, 3
/// and 1, each restored from the previous part's snapshot; expect the same output records.
template <class Out, class In1 = Event, class In2 = Event>
void expectRescaledRunEqualsUninterrupted(const MakeOperator& make, const std::vector<Step>& steps,
                                          const Feeder<Out, In1, In2>& feeder = {}) {
  std::vector<std::pair<Out, int64_t>> expected;
  {
    Subtasks<Out> whole(make, 1);
    ASSERT_TRUE(whole.initStatus().isOk()) << whole.initStatus().toString();
    for (const Step& step : steps) feeder.feed(whole, step);
    whole.endInput();
    expected = whole.takeOutput();
  }
  ASSERT_FALSE(expected.empty());

  std::vector<std::pair<Out, int64_t>> actual;
  const size_t cut1 = steps.size() / 3;
  const size_t cut2 = steps.size() * 2 / 3;
  const int parallelisms[] = {2, 3, 1};
  std::vector<SubtaskSnapshot> snapshot;
  int64_t lastWatermark = std::numeric_limits<int64_t>::min();
  int64_t lastTime = 0;
  size_t position = 0;
  for (int part = 0; part < 3; ++part) {
    Subtasks<Out> subtasks(make, parallelisms[part], part == 0 ? nullptr : &snapshot, part);
    ASSERT_TRUE(subtasks.initStatus().isOk()) << subtasks.initStatus().toString();
    // Watermarks and the clock are not part of the state: the task's inputs bring them again.
    if (part > 0) {
      subtasks.processingTime(lastTime);
      if (lastWatermark != std::numeric_limits<int64_t>::min()) subtasks.watermark(lastWatermark);
    }
    const size_t end = part == 0 ? cut1 : part == 1 ? cut2 : steps.size();
    for (; position < end; ++position) {
      const Step& step = steps[position];
      if (step.kind == Step::kWatermark) lastWatermark = step.time;
      if (step.kind == Step::kTime) lastTime = step.time;
      feeder.feed(subtasks, step);
    }
    if (part < 2) {
      snapshot = subtasks.snapshot(part + 1);
    } else {
      subtasks.endInput();
    }
    auto output = subtasks.takeOutput();
    actual.insert(actual.end(), output.begin(), output.end());
  }
  EXPECT_EQ(sorted(actual), sorted(expected));
}

// ---- Keyed one-input operators ----------------------------------------------------------------

struct KeyOf {
  int64_t operator()(const Event& e) const { return e.first; }
};
struct SumValues {
  Event operator()(const Event& a, const Event& b) const { return {a.first, a.second + b.second}; }
};

TEST(OperatorStateTest, keyedReduceContinuesAfterRescaling) {
  MakeOperator make = [] {
    return std::make_unique<detail::KeyedReduceOperator<int64_t, Event, KeyOf, SumValues>>(
        16, KeyOf{}, SumValues{});
  };
  expectRescaledRunEqualsUninterrupted<Event>(make, makeSteps(240, 17, false));
}

struct AverageAggregate {
  std::pair<int64_t, int64_t> createAccumulator() { return {0, 0}; }
  std::pair<int64_t, int64_t> add(const Event& e, std::pair<int64_t, int64_t> acc) {
    return {acc.first + e.second, acc.second + 1};
  }
  int64_t getResult(const std::pair<int64_t, int64_t>& acc) { return acc.first / acc.second; }
  std::pair<int64_t, int64_t> merge(std::pair<int64_t, int64_t> a, std::pair<int64_t, int64_t> b) {
    return {a.first + b.first, a.second + b.second};
  }
};

TEST(OperatorStateTest, keyedAggregateContinuesAfterRescaling) {
  MakeOperator make = [] {
    return std::make_unique<detail::KeyedAggregateOperator<int64_t, Event, KeyOf, AverageAggregate,
                                                           std::pair<int64_t, int64_t>, int64_t>>(
        16, KeyOf{}, AverageAggregate{});
  };
  expectRescaledRunEqualsUninterrupted<int64_t>(make, makeSteps(240, 13, false));
}

/// A keyed map with user keyed state (value and list) that emits (key, count, last values).
class CountingMap final : public RichMapFunction<Event, std::tuple<int64_t, int64_t, int64_t>> {
 public:
  void open() override {
    count_ = &getRuntimeContext().getState(ValueStateDescriptor<int64_t>("count"));
    recent_ = &getRuntimeContext().getListState(ListStateDescriptor<int64_t>("recent"));
  }
  std::tuple<int64_t, int64_t, int64_t> map(const Event& e) override {
    const int64_t count = count_->value().value_or(0) + 1;
    count_->update(count);
    recent_->add(e.second);
    int64_t sum = 0;
    for (int64_t v : recent_->get()) sum += v;
    return {e.first, count, sum};
  }

 private:
  ValueState<int64_t>* count_ = nullptr;
  ListState<int64_t>* recent_ = nullptr;
};

TEST(OperatorStateTest, keyedMapFlatMapAndFilterStateContinuesAfterRescaling) {
  using Out = std::tuple<int64_t, int64_t, int64_t>;
  MakeOperator map = [] {
    return std::make_unique<
        detail::MapOperator<Event, Out, CountingMap, detail::Keying<int64_t, KeyOf>>>(
        16, CountingMap{}, detail::Keying<int64_t, KeyOf>(KeyOf{}));
  };
  expectRescaledRunEqualsUninterrupted<Out>(map, makeSteps(200, 11, false));
}

using Fired = std::tuple<int64_t, int64_t, int64_t, int>;  // key, count, time, domain

/// Counts records per key; each record sets an event-time timer 10 after it and a
/// processing-time timer 15 after now; timers emit the key's count.
class TimerProcess final : public KeyedProcessFunction<int64_t, Event, Fired> {
 public:
  void open() override {
    count_ = &getRuntimeContext().getState(ValueStateDescriptor<int64_t>("count"));
  }
  void processElement(const Event&, Context& ctx, Collector<Fired>& out) override {
    const int64_t count = count_->value().value_or(0) + 1;
    count_->update(count);
    ctx.timerService().registerEventTimeTimer(ctx.timestamp() + 10);
    ctx.timerService().registerProcessingTimeTimer(ctx.timerService().currentProcessingTime() + 15);
    if (count % 4 == 0) out.collect({ctx.getCurrentKey(), count, ctx.timestamp(), -1});
  }
  void onTimer(int64_t time, OnTimerContext& ctx, Collector<Fired>& out) override {
    out.collect({ctx.getCurrentKey(), count_->value().value_or(0), time,
                 ctx.timeDomain() == TimeDomain::kEventTime ? 0 : 1});
  }

 private:
  ValueState<int64_t>* count_ = nullptr;
};

TEST(OperatorStateTest, keyedProcessStateAndTimersContinueAfterRescaling) {
  MakeOperator make = [] {
    return std::make_unique<
        detail::KeyedProcessOperator<int64_t, Event, Fired, KeyOf, TimerProcess>>(16, KeyOf{},
                                                                                  TimerProcess{});
  };
  expectRescaledRunEqualsUninterrupted<Fired>(make, makeSteps(240, 9, false));
}

// ---- Window operators -------------------------------------------------------------------------

template <class Out, class Assigner, class Trig = typename Assigner::DefaultTrigger,
          class Evict = NoEvictor, class Agg, class Proc>
MakeOperator windowOperator(Assigner assigner, Agg agg, Proc proc, detail::WindowConfig config = {},
                            Trig trigger = {}, Evict evictor = {}) {
  return [=] {
    return detail::makeWindowOperator<int64_t, Event, Out>(16, KeyOf{}, assigner, trigger, evictor,
                                                           config, agg, proc);
  };
}

using Summary = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>;  // key, start, end, n, sum
class Summarize final : public ProcessWindowFunction<Event, Summary, int64_t> {
 public:
  void process(const int64_t& key, Context& ctx, std::span<const Event> elements,
               Collector<Summary>& out) override {
    int64_t sum = 0;
    for (const Event& e : elements) sum += e.second;
    out.collect(
        {key, ctx.window().start, ctx.window().end, static_cast<int64_t>(elements.size()), sum});
  }
};
class SummarizeGlobal final : public ProcessWindowFunction<Event, Summary, int64_t, GlobalWindow> {
 public:
  void process(const int64_t& key, Context&, std::span<const Event> elements,
               Collector<Summary>& out) override {
    int64_t sum = 0;
    for (const Event& e : elements) sum += e.second;
    out.collect({key, 0, 0, static_cast<int64_t>(elements.size()), sum});
  }
};
struct CountAgg {
  int64_t createAccumulator() { return 0; }
  int64_t add(const Event& e, int64_t acc) { return acc + 1 + e.second; }
  int64_t getResult(const int64_t& acc) { return acc; }
  int64_t merge(int64_t a, int64_t b) { return a + b; }
};

TEST(OperatorStateTest, tumblingEventTimeWindowContinuesAfterRescaling) {
  auto make = windowOperator<Event>(TumblingEventTimeWindows::of(milliseconds(20)),
                                    detail::ReduceAggregation<Event, SumValues>{},
                                    detail::NoProcess{}, detail::WindowConfig{15, ""});
  expectRescaledRunEqualsUninterrupted<Event>(make, makeSteps(300, 7, false));
}

TEST(OperatorStateTest, slidingWindowPanesContinueAfterRescaling) {
  auto make =
      windowOperator<int64_t>(SlidingEventTimeWindows::of(milliseconds(30), milliseconds(10)),
                              detail::AggregateAggregation<Event, CountAgg>{}, detail::NoProcess{});
  // The pane path is in use.
  {
    testing::OperatorHarness<Event, int64_t> h(make());
    h.open();
    using Op =
        detail::WindowOperator<int64_t, Event, int64_t, KeyOf, SlidingEventTimeWindows,
                               EventTimeTrigger, NoEvictor,
                               detail::AggregateAggregation<Event, CountAgg>, detail::NoProcess>;
    EXPECT_TRUE(static_cast<Op&>(h.op()).usesPanes());
  }
  expectRescaledRunEqualsUninterrupted<int64_t>(make, makeSteps(300, 7, false));
}

TEST(OperatorStateTest, mergingSessionWindowsContinueAfterRescaling) {
  auto make = windowOperator<Summary>(EventTimeSessionWindows::withGap(milliseconds(8)),
                                      detail::NoAggregation{}, detail::ProcessAdapter<Summarize>{},
                                      detail::WindowConfig{10, ""});
  expectRescaledRunEqualsUninterrupted<Summary>(make, makeSteps(300, 23, false));
}

TEST(OperatorStateTest, countTriggerAndEvictorStateContinuesAfterRescaling) {
  auto counted = windowOperator<Summary>(GlobalWindows::create(), detail::NoAggregation{},
                                         detail::ProcessAdapter<SummarizeGlobal>{}, {},
                                         CountTrigger::of(3), CountEvictor::of(2));
  expectRescaledRunEqualsUninterrupted<Summary>(counted, makeSteps(240, 5, false));
}

TEST(OperatorStateTest, processingTimeWindowTimersContinueAfterRescaling) {
  auto make =
      windowOperator<Event>(TumblingProcessingTimeWindows::of(milliseconds(25)),
                            detail::ReduceAggregation<Event, SumValues>{}, detail::NoProcess{});
  expectRescaledRunEqualsUninterrupted<Event>(make, makeSteps(240, 7, false));
}

// ---- Two-input keyed operators ----------------------------------------------------------------

using CoOut = std::tuple<int64_t, int64_t, int64_t, int>;  // key, a, b, which

class CoCounter final : public KeyedCoProcessFunction<int64_t, Event, Event, CoOut> {
 public:
  void open() override {
    left_ = &getRuntimeContext().getState(ValueStateDescriptor<int64_t>("left-sum"));
    right_ = &getRuntimeContext().getMapState(MapStateDescriptor<int64_t, int64_t>("right"));
  }
  void processElement1(const Event& e, Context& ctx, Collector<CoOut>& out) override {
    left_->update(left_->value().value_or(0) + e.second);
    ctx.timerService().registerEventTimeTimer(ctx.timestamp() + 5);
    out.collect({e.first, *left_->value(), static_cast<int64_t>(right_->entries().size()), 1});
  }
  void processElement2(const Event& e, Context& ctx, Collector<CoOut>& out) override {
    right_->put(e.second % 10, e.second);
    ctx.timerService().registerProcessingTimeTimer(ctx.timerService().currentProcessingTime() + 9);
    out.collect(
        {e.first, left_->value().value_or(0), static_cast<int64_t>(right_->entries().size()), 2});
  }
  void onTimer(int64_t time, OnTimerContext& ctx, Collector<CoOut>& out) override {
    out.collect({ctx.getCurrentKey(), left_->value().value_or(0), time, 3});
  }

 private:
  ValueState<int64_t>* left_ = nullptr;
  MapState<int64_t, int64_t>* right_ = nullptr;
};

TEST(OperatorStateTest, keyedCoProcessStateAndTimersContinueAfterRescaling) {
  MakeOperator make = [] {
    return std::make_unique<
        detail::KeyedCoProcessOperator<int64_t, Event, Event, CoOut, KeyOf, KeyOf, CoCounter>>(
        16, KeyOf{}, KeyOf{}, CoCounter{});
  };
  expectRescaledRunEqualsUninterrupted<CoOut>(make, makeSteps(240, 7, true));
}

using Joined = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // key, left value, right value, ts
class EmitPair final : public ProcessJoinFunction<Event, Event, Joined> {
 public:
  void processElement(const Event& left, const Event& right, Context& ctx,
                      Collector<Joined>& out) override {
    out.collect({left.first, left.second, right.second, ctx.getTimestamp()});
  }
};

TEST(OperatorStateTest, intervalJoinBuffersContinueAfterRescaling) {
  MakeOperator make = [] {
    return std::make_unique<
        detail::IntervalJoinOperator<int64_t, Event, Event, Joined, KeyOf, KeyOf, EmitPair>>(
        16, KeyOf{}, KeyOf{}, detail::IntervalBounds{-6, 4}, EmitPair{});
  };
  expectRescaledRunEqualsUninterrupted<Joined>(make, makeSteps(240, 5, true));
}

using Tagged = std::variant<Event, Event>;
struct TaggedKey {
  int64_t operator()(const Tagged& t) const {
    return t.index() == 0 ? std::get<0>(t).first : std::get<1>(t).first;
  }
};

TEST(OperatorStateTest, windowJoinContinuesAfterRescaling) {
  using JoinOut = std::tuple<int64_t, int64_t, int64_t>;
  auto joinPair = [](const Event& a, const Event& b) {
    return JoinOut{a.first, a.second, b.second};
  };
  using Apply = detail::JoinPairs<JoinOut, decltype(joinPair)>;
  using Split =
      detail::SplitBySide<Event, Event, JoinOut, int64_t, TimeWindow, Apply, decltype(joinPair)>;
  MakeOperator make = [=] {
    return detail::makeWindowOperator<int64_t, Tagged, JoinOut>(
        16, TaggedKey{}, TumblingEventTimeWindows::of(milliseconds(15)), EventTimeTrigger{},
        NoEvictor{}, detail::WindowConfig{}, detail::NoAggregation{},
        detail::ProcessAdapter<Split>{Split(Apply{joinPair})});
  };
  Feeder<JoinOut, Tagged, Tagged> feeder;
  // Both sides arrive on the operator's one input, tagged.
  feeder.make1 = [](const Step& s) {
    return s.value % 2 == 0 ? Tagged(std::in_place_index<0>, Event{s.key, s.value})
                            : Tagged(std::in_place_index<1>, Event{s.key, s.value});
  };
  expectRescaledRunEqualsUninterrupted<JoinOut, Tagged, Tagged>(make, makeSteps(200, 5, false),
                                                                feeder);
}

// ---- Operator state of user functions ---------------------------------------------------------

/// Keeps every value it saw in list state "seen" (split) and the number of records of its
/// subtask in union list state "counts" (one element per subtask).
class RememberingMap final : public RichMapFunction<int64_t, int64_t>, public CheckpointedFunction {
 public:
  void initializeState(FunctionInitializationContext& context) override {
    restored = context.isRestored();
    seen = &context.getOperatorStateStore().getListState(ListStateDescriptor<int64_t>("seen"));
    counts =
        &context.getOperatorStateStore().getUnionListState(ListStateDescriptor<int64_t>("counts"));
    restoredCounts = counts->get();
    counts->clear();
  }
  void snapshotState(FunctionSnapshotContext& context) override {
    lastSnapshot = context.getCheckpointId();
    counts->update({count});
  }
  int64_t map(const int64_t& value) override {
    seen->add(value);
    ++count;
    return value;
  }

  bool restored = false;
  int64_t count = 0;
  int64_t lastSnapshot = -1;
  std::vector<int64_t> restoredCounts;
  OperatorListState<int64_t>* seen = nullptr;
  OperatorListState<int64_t>* counts = nullptr;
};

TEST(OperatorStateTest, listStateIsSplitRoundRobinAndUnionStateGivenToAll) {
  // Functions report themselves so the test can look at their state.
  static std::vector<RememberingMap*>* created = nullptr;
  std::vector<RememberingMap*> registry;
  created = &registry;
  class Probe final : public RichMapFunction<int64_t, int64_t>, public CheckpointedFunction {
   public:
    void open() override { created->push_back(&inner); }
    void initializeState(FunctionInitializationContext& c) override { inner.initializeState(c); }
    void snapshotState(FunctionSnapshotContext& c) override { inner.snapshotState(c); }
    int64_t map(const int64_t& v) override { return inner.map(v); }
    RememberingMap inner;
  };
  MakeOperator make = [] {
    return std::make_unique<detail::MapOperator<int64_t, int64_t, Probe>>(16, Probe{});
  };

  Subtasks<int64_t> two(make, 2);
  ASSERT_TRUE(two.initStatus().isOk());
  ASSERT_EQ(registry.size(), 2u);
  EXPECT_FALSE(registry[0]->restored);
  for (int64_t v : {10, 11, 12, 13, 14}) two.push1<int64_t>(0, v, 0);
  for (int64_t v : {20, 21, 22}) two.push1<int64_t>(1, v, 0);
  std::vector<SubtaskSnapshot> first = two.snapshot(1);
  EXPECT_EQ(registry[0]->lastSnapshot, 1);

  registry.clear();
  Subtasks<int64_t> three(make, 3, &first, 1);
  ASSERT_TRUE(three.initStatus().isOk()) << three.initStatus().toString();
  ASSERT_EQ(registry.size(), 3u);
  // The concatenation 10 11 12 13 14 20 21 22, dealt out round-robin.
  EXPECT_THAT(registry[0]->seen->get(), ElementsAre(10, 13, 21));
  EXPECT_THAT(registry[1]->seen->get(), ElementsAre(11, 14, 22));
  EXPECT_THAT(registry[2]->seen->get(), ElementsAre(12, 20));
  for (RememberingMap* function : registry) {
    EXPECT_TRUE(function->restored);
    EXPECT_THAT(function->restoredCounts, ElementsAre(5, 3));
  }
  three.push1<int64_t>(2, 30, 0);
  std::vector<SubtaskSnapshot> second = three.snapshot(2);

  registry.clear();
  Subtasks<int64_t> one(make, 1, &second, 2);
  ASSERT_TRUE(one.initStatus().isOk()) << one.initStatus().toString();
  EXPECT_THAT(registry[0]->seen->get(), ElementsAre(10, 13, 21, 11, 14, 22, 12, 20, 30));
  EXPECT_THAT(registry[0]->restoredCounts, ElementsAre(0, 0, 1));

  // At the same parallelism each subtask gets its own list back.
  registry.clear();
  Subtasks<int64_t> sameParallelism(make, 3, &second, 2);
  ASSERT_TRUE(sameParallelism.initStatus().isOk());
  EXPECT_THAT(registry[2]->seen->get(), ElementsAre(12, 20, 30));
  created = nullptr;
}

/// Counts the records of its subtask in list state (one element), keyed or not.
class CountingFilter final : public RichFilterFunction<int64_t>, public CheckpointedFunction {
 public:
  void initializeState(FunctionInitializationContext& context) override {
    counts_ = &context.getOperatorStateStore().getListState(ListStateDescriptor<int64_t>("count"));
    for (int64_t c : counts_->get()) count_ += c;
  }
  void snapshotState(FunctionSnapshotContext&) override { counts_->update({count_}); }
  bool filter(const int64_t& value) override {
    ++count_;
    return value >= 0;
  }
  int64_t count() const { return count_; }

 private:
  OperatorListState<int64_t>* counts_ = nullptr;
  int64_t count_ = 0;
};

TEST(OperatorStateTest, splitCountsKeepTheirSumAcrossRescaling) {
  MakeOperator make = [] {
    return std::make_unique<detail::FilterOperator<int64_t, CountingFilter>>(16, CountingFilter{});
  };
  Subtasks<int64_t> two(make, 2);
  for (int64_t v = 0; v < 7; ++v) two.push1<int64_t>(static_cast<int>(v % 2), v, 0);
  auto first = two.snapshot(1);
  Subtasks<int64_t> three(make, 3, &first, 1);
  ASSERT_TRUE(three.initStatus().isOk());
  three.push1<int64_t>(2, 100, 0);
  auto second = three.snapshot(2);
  Subtasks<int64_t> one(make, 1, &second, 2);
  ASSERT_TRUE(one.initStatus().isOk());
  auto snapshot = one.snapshot(3);
  ASSERT_EQ(snapshot[0].operatorStates.size(), 1u);
  const auto& entry = snapshot[0].operatorStates[0];
  EXPECT_EQ(entry.name, "count");
  EXPECT_EQ(entry.mode, OperatorStateMode::kSplit);
  ASSERT_EQ(entry.elements.size(), 1u);
  int64_t total = 0;
  std::memcpy(&total, entry.elements[0].data() + detail::kOperatorStateElementHeaderSize, 8);
  EXPECT_EQ(total, 8);
}

/// Remembers notifications.
class ListeningMap final : public RichMapFunction<int64_t, int64_t>, public CheckpointListener {
 public:
  int64_t map(const int64_t& v) override { return v; }
  void notifyCheckpointComplete(int64_t id) override { (*log)->push_back(id); }
  void notifyCheckpointAborted(int64_t id) override { (*log)->push_back(-id); }
  std::vector<int64_t>** log = nullptr;
};

TEST(OperatorStateTest, checkpointListenersHearCompletionsAndAborts) {
  std::vector<int64_t> heard;
  std::vector<int64_t>* target = &heard;
  ListeningMap function;
  function.log = &target;
  testing::OperatorHarness<int64_t, int64_t> h(
      std::make_unique<detail::MapOperator<int64_t, int64_t, ListeningMap>>(16, function));
  h.open();
  AssignedStateContext fresh;
  ASSERT_TRUE(h.op().initializeState(fresh).isOk());
  h.op().notifyCheckpointComplete(3);
  h.op().notifyCheckpointAborted(4);
  EXPECT_THAT(heard, ElementsAre(3, -4));
}

/// Counts the records of its subtask in union list state "records"; `restoredTotal` is the sum
/// over all subtasks of the checkpoint it restored from.
struct CountingState : CheckpointedFunction {
  void initializeState(FunctionInitializationContext& context) override {
    counts =
        &context.getOperatorStateStore().getUnionListState(ListStateDescriptor<int64_t>("records"));
    for (int64_t c : counts->get()) restoredTotal += c;
    counts->clear();
  }
  void snapshotState(FunctionSnapshotContext&) override { counts->update({count}); }
  OperatorListState<int64_t>* counts = nullptr;
  int64_t count = 0;
  int64_t restoredTotal = 0;
};

std::vector<CountingState*>* countingRegistry = nullptr;

class CountingProcess final : public ProcessFunction<int64_t, int64_t>, public CountingState {
 public:
  void open() override { countingRegistry->push_back(this); }
  void processElement(const int64_t& v, Context&, Collector<int64_t>& out) override {
    ++count;
    out.collect(v);
  }
};

class CountingCoFlatMap final : public CoFlatMapFunction<int64_t, int64_t, int64_t>,
                                public CountingState {
 public:
  void open() override { countingRegistry->push_back(this); }
  void flatMap1(const int64_t& v, Collector<int64_t>& out) override {
    ++count;
    out.collect(v);
  }
  void flatMap2(const int64_t& v, Collector<int64_t>& out) override {
    ++count;
    out.collect(-v);
  }
};

/// Registers its keyed state in initializeState (not in open()) and counts per key.
class KeyedCountingProcess final : public KeyedProcessFunction<int64_t, Event, Event>,
                                   public CountingState {
 public:
  void open() override { countingRegistry->push_back(this); }
  void initializeState(FunctionInitializationContext& context) override {
    CountingState::initializeState(context);
    perKey_ = &context.getKeyedStateStore().getState(ValueStateDescriptor<int64_t>("per-key"));
  }
  void processElement(const Event& e, Context&, Collector<Event>& out) override {
    ++count;
    perKey_->update(perKey_->value().value_or(0) + 1);
    out.collect({e.first, *perKey_->value()});
  }

 private:
  ValueState<int64_t>* perKey_ = nullptr;
};

template <class In>
void countingRoundTrip(const MakeOperator& make, bool secondInput) {
  std::vector<CountingState*> registry;
  countingRegistry = &registry;
  Subtasks<int64_t> two(make, 2);
  ASSERT_TRUE(two.initStatus().isOk());
  for (int64_t v = 0; v < 9; ++v) {
    if (secondInput && v % 3 == 0) {
      two.push2<In>(static_cast<int>(v % 2), v, 0);
    } else {
      two.push1<In>(static_cast<int>(v % 2), v, 0);
    }
  }
  auto snapshot = two.snapshot(1);
  registry.clear();
  Subtasks<int64_t> one(make, 1, &snapshot, 1);
  ASSERT_TRUE(one.initStatus().isOk()) << one.initStatus().toString();
  ASSERT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry[0]->restoredTotal, 9);
  countingRegistry = nullptr;
}

TEST(OperatorStateTest, processAndCoFunctionsKeepOperatorState) {
  countingRoundTrip<int64_t>(
      [] {
        return std::make_unique<detail::ProcessOperator<int64_t, int64_t, CountingProcess>>(
            16, CountingProcess{});
      },
      false);
  countingRoundTrip<int64_t>(
      [] {
        return std::make_unique<
            detail::CoFlatMapOperator<int64_t, int64_t, int64_t, CountingCoFlatMap>>(
            16, CountingCoFlatMap{});
      },
      true);
}

TEST(OperatorStateTest, keyedStateRegisteredInInitializeStateIsRestored) {
  std::vector<CountingState*> registry;
  countingRegistry = &registry;
  MakeOperator make = [] {
    return std::make_unique<
        detail::KeyedProcessOperator<int64_t, Event, Event, KeyOf, KeyedCountingProcess>>(
        16, KeyOf{}, KeyedCountingProcess{});
  };
  expectRescaledRunEqualsUninterrupted<Event>(make, makeSteps(120, 6, false));
  countingRegistry = nullptr;
}

// ---- Broadcast state --------------------------------------------------------------------------

using Rule = std::pair<int64_t, int64_t>;  // key, factor
const MapStateDescriptor<int64_t, int64_t> kRules("rules");

class ApplyRules final : public BroadcastProcessFunction<Event, Rule, Event> {
 public:
  void processElement(const Event& e, ReadOnlyContext& ctx, Collector<Event>& out) override {
    const int64_t* factor = ctx.getBroadcastState(kRules).getPtr(e.first);
    out.collect({e.first, factor ? e.second * *factor : -1});
  }
  void processBroadcastElement(const Rule& rule, Context& ctx, Collector<Event>&) override {
    ctx.getBroadcastState(kRules).put(rule.first, rule.second);
  }
};

TEST(OperatorStateTest, broadcastStateIsRestoredOnEverySubtask) {
  MakeOperator make = [] {
    return std::make_unique<detail::BroadcastProcessOperator<Event, Rule, Event, ApplyRules>>(
        16, ApplyRules{}, std::vector<std::string>{"rules"});
  };
  std::vector<Step> steps = makeSteps(150, 6, false);
  // Rules arrive on every subtask between the records.
  for (size_t i = 0; i < steps.size(); i += 9) {
    steps.insert(steps.begin() + static_cast<std::ptrdiff_t>(i),
                 Step{Step::kBroadcast2, static_cast<int64_t>(i % 6), static_cast<int64_t>(i), 0});
  }
  Feeder<Event, Event, Rule> feeder;
  feeder.keyed = false;
  feeder.make2 = [](const Step& s) { return Rule{s.key, s.value}; };
  expectRescaledRunEqualsUninterrupted<Event, Event, Rule>(make, steps, feeder);

  // A subtask that never touches the state keeps it for the next checkpoint.
  Subtasks<Event> two(make, 2);
  two.push2<Rule>(0, Rule{1, 5}, 0);
  two.push2<Rule>(1, Rule{1, 5}, 0);
  auto first = two.snapshot(1);
  ASSERT_EQ(first[0].operatorStates.size(), 1u);
  EXPECT_EQ(first[0].operatorStates[0].mode, OperatorStateMode::kBroadcast);
  Subtasks<Event> three(make, 3, &first, 1);
  ASSERT_TRUE(three.initStatus().isOk());
  auto second = three.snapshot(2);
  Subtasks<Event> one(make, 1, &second, 2);
  one.push1<Event>(0, Event{1, 3}, 0);
  EXPECT_THAT(one.takeOutput(), ElementsAre(std::pair<Event, int64_t>(Event{1, 15}, 0)));
}

/// Keyed side: sums per key (keyed state), scaled by the broadcast rule of the key, and an
/// event-time timer that reports the sum.
class KeyedRules final : public KeyedBroadcastProcessFunction<int64_t, Event, Rule, Event> {
 public:
  void open() override {
    sum_ = &getRuntimeContext().getState(ValueStateDescriptor<int64_t>("sum"));
  }
  void processElement(const Event& e, ReadOnlyContext& ctx, Collector<Event>& out) override {
    const int64_t* factor = ctx.getBroadcastState(kRules).getPtr(e.first);
    sum_->update(sum_->value().value_or(0) + e.second * (factor ? *factor : 1));
    ctx.timerService().registerEventTimeTimer(ctx.timestamp() + 7);
    out.collect({e.first, *sum_->value()});
  }
  void processBroadcastElement(const Rule& rule, Context& ctx, Collector<Event>&) override {
    ctx.getBroadcastState(kRules).put(rule.first, rule.second);
  }
  void onTimer(int64_t time, OnTimerContext& ctx, Collector<Event>& out) override {
    out.collect({ctx.getCurrentKey(), sum_->value().value_or(0) * 1000 + time});
  }

 private:
  ValueState<int64_t>* sum_ = nullptr;
};

TEST(OperatorStateTest, keyedBroadcastStateAndTimersContinueAfterRescaling) {
  MakeOperator make = [] {
    return std::make_unique<
        detail::KeyedBroadcastProcessOperator<int64_t, Event, Rule, Event, KeyOf, KeyedRules>>(
        16, KeyOf{}, KeyedRules{}, std::vector<std::string>{"rules"});
  };
  std::vector<Step> steps = makeSteps(200, 8, false);
  for (size_t i = 0; i < steps.size(); i += 11) {
    steps.insert(
        steps.begin() + static_cast<std::ptrdiff_t>(i),
        Step{Step::kBroadcast2, static_cast<int64_t>(i % 8), static_cast<int64_t>(i % 5), 0});
  }
  Feeder<Event, Event, Rule> feeder;
  feeder.make2 = [](const Step& s) { return Rule{s.key, s.value}; };
  expectRescaledRunEqualsUninterrupted<Event, Event, Rule>(make, steps, feeder);
}

// ---- Errors -----------------------------------------------------------------------------------

class StringCount final : public KeyedProcessFunction<int64_t, Event, Fired> {
 public:
  void open() override {
    count_ = &getRuntimeContext().getState(ValueStateDescriptor<std::string>("count"));
  }
  void processElement(const Event&, Context&, Collector<Fired>&) override {}

 private:
  ValueState<std::string>* count_ = nullptr;
};

TEST(OperatorStateTest, keyedStateOfAnotherTypeFailsNamingIt) {
  Subtasks<Fired> writer(
      [] {
        return std::make_unique<
            detail::KeyedProcessOperator<int64_t, Event, Fired, KeyOf, TimerProcess>>(
            16, KeyOf{}, TimerProcess{});
      },
      2);
  writer.push1<Event>(writer.ownerOf(int64_t{4}), Event{4, 1}, 5);
  auto snapshot = writer.snapshot(1);
  Subtasks<Fired> reader(
      [] {
        return std::make_unique<
            detail::KeyedProcessOperator<int64_t, Event, Fired, KeyOf, StringCount>>(16, KeyOf{},
                                                                                     StringCount{});
      },
      3, &snapshot, 1);
  EXPECT_EQ(reader.initStatus().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.initStatus().message(), HasSubstr("state 'count'"));
  EXPECT_THAT(reader.initStatus().message(), HasSubstr("serializer mismatch"));
}

class StringList final : public RichMapFunction<int64_t, int64_t>, public CheckpointedFunction {
 public:
  explicit StringList(bool asUnion = false) : asUnion_(asUnion) {}
  void initializeState(FunctionInitializationContext& context) override {
    if (asUnion_) {
      context.getOperatorStateStore().getUnionListState(ListStateDescriptor<int64_t>("seen"));
    } else {
      context.getOperatorStateStore().getListState(ListStateDescriptor<std::string>("seen"));
    }
  }
  void snapshotState(FunctionSnapshotContext&) override {}
  int64_t map(const int64_t& v) override { return v; }

 private:
  bool asUnion_;
};

TEST(OperatorStateTest, operatorStateOfAnotherTypeOrModeFailsNamingIt) {
  class Writer final : public RichMapFunction<int64_t, int64_t>, public CheckpointedFunction {
   public:
    void initializeState(FunctionInitializationContext& context) override {
      seen_ = &context.getOperatorStateStore().getListState(ListStateDescriptor<int64_t>("seen"));
    }
    void snapshotState(FunctionSnapshotContext&) override {}
    int64_t map(const int64_t& v) override {
      seen_->add(v);
      return v;
    }

   private:
    OperatorListState<int64_t>* seen_ = nullptr;
  };
  Subtasks<int64_t> writer(
      [] { return std::make_unique<detail::MapOperator<int64_t, int64_t, Writer>>(16, Writer{}); },
      1);
  writer.push1<int64_t>(0, 7, 0);
  auto snapshot = writer.snapshot(1);

  Subtasks<int64_t> otherType(
      [] {
        return std::make_unique<detail::MapOperator<int64_t, int64_t, StringList>>(16,
                                                                                   StringList{});
      },
      1, &snapshot, 1);
  EXPECT_EQ(otherType.initStatus().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(otherType.initStatus().message(), HasSubstr("operator state 'seen'"));
  EXPECT_THAT(otherType.initStatus().message(), HasSubstr("serializer mismatch"));

  Subtasks<int64_t> otherMode(
      [] {
        return std::make_unique<detail::MapOperator<int64_t, int64_t, StringList>>(
            16, StringList(true));
      },
      1, &snapshot, 1);
  EXPECT_EQ(otherMode.initStatus().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(otherMode.initStatus().message(),
              HasSubstr("operator state 'seen' was written as list state and is read as union "
                        "list state"));

  // A corrupt element names the state and the element.
  auto corrupt = snapshot;
  corrupt[0].operatorStates[0].elements[0].resize(5);
  Subtasks<int64_t> truncated(
      [] { return std::make_unique<detail::MapOperator<int64_t, int64_t, Writer>>(16, Writer{}); },
      1, &corrupt, 1);
  EXPECT_EQ(truncated.initStatus().code(), StatusCode::kCorruption);
  EXPECT_THAT(truncated.initStatus().message(),
              HasSubstr("operator state 'seen': element 0 is truncated"));
}

struct Opaque {
  int64_t value = 0;
};

class OpaqueState final : public RichMapFunction<Event, Event>, public CheckpointedFunction {
 public:
  explicit OpaqueState(bool keyed) : keyed_(keyed) {}
  void open() override {
    if (keyed_) getRuntimeContext().getState(ValueStateDescriptor<Opaque>("opaque-keyed"));
  }
  void initializeState(FunctionInitializationContext& context) override {
    if (!keyed_)
      context.getOperatorStateStore().getListState(ListStateDescriptor<Opaque>("opaque"));
  }
  void snapshotState(FunctionSnapshotContext&) override {}
  Event map(const Event& e) override { return e; }

 private:
  bool keyed_;
};

TEST(OperatorStateTest, stateWithoutSerializerFailsTheSnapshotNamingIt) {
  detail::MapOperator<Event, Event, OpaqueState, detail::Keying<int64_t, KeyOf>> keyed(
      16, OpaqueState(true), detail::Keying<int64_t, KeyOf>(KeyOf{}));
  detail::MapOperator<Event, Event, OpaqueState> nonKeyed(16, OpaqueState(false));
  testing::FakeOperatorContext context(0, 1, kMaxParallelism);
  AssignedStateContext fresh;
  for (StreamOperator* op :
       {static_cast<StreamOperator*>(&keyed), static_cast<StreamOperator*>(&nonKeyed)}) {
    op->open(context);
    ASSERT_TRUE(op->initializeState(fresh).isOk());
  }
  RecordingSnapshotContext snapshot(1);
  Status keyedStatus = keyed.snapshotState(snapshot);
  EXPECT_EQ(keyedStatus.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(keyedStatus.message(), HasSubstr("state 'opaque-keyed'"));
  EXPECT_THAT(keyedStatus.message(), HasSubstr("no TypeSerializer"));
  Status operatorStatus = nonKeyed.snapshotState(snapshot);
  EXPECT_EQ(operatorStatus.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(operatorStatus.message(), HasSubstr("operator state 'opaque'"));
}

TEST(OperatorStateTest, keyedStateForANonKeyedOperatorIsRefused) {
  Subtasks<Event> keyed(
      [] {
        return std::make_unique<detail::KeyedReduceOperator<int64_t, Event, KeyOf, SumValues>>(
            16, KeyOf{}, SumValues{});
      },
      1);
  keyed.push1<Event>(0, Event{1, 1}, 0);
  auto snapshot = keyed.snapshot(1);
  Subtasks<Event> nonKeyed(
      [] {
        return std::make_unique<detail::MapOperator<Event, Event, std::function<Event(Event)>>>(
            16, [](Event e) { return e; });
      },
      1, &snapshot, 1);
  EXPECT_EQ(nonKeyed.initStatus().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(nonKeyed.initStatus().message(), HasSubstr("not keyed"));
}

}  // namespace
}  // namespace strom
