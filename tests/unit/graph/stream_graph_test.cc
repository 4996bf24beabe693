// StreamGraph::create on jobs declared with the public DataStream API: virtual
// transformations folded into edges, partitioner resolution and parallelism validation.

#include "graph/stream_graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom::graph {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

constexpr int kMaxParallelism = 128;

/// Add a sink named `name` that keeps the records (never run in these tests).
template <class T>
void collectInto(const DataStream<T>& stream, std::string name) {
  stream.sinkTo(std::make_shared<CollectSink<T>>(std::make_shared<CollectedRecords<T>>()),
                std::move(name));
}

/// A sink that supports only one subtask.
class SingleWriterSink final : public Sink<int64_t> {
 public:
  int maxParallelism() const override { return 1; }
  std::unique_ptr<SinkWriter<int64_t>> createWriter(int, int) const override { return nullptr; }
};

Result<std::shared_ptr<const StreamGraph>> build(const StreamExecutionEnvironment& env,
                                                 int parallelism,
                                                 int maxParallelism = kMaxParallelism) {
  return StreamGraph::create(env.transformations(), parallelism, maxParallelism);
}

const StreamNode* nodeNamed(const StreamGraph& graph, std::string_view name) {
  for (const StreamNode& node : graph.nodes()) {
    if (node.name() == name) return &node;
  }
  return nullptr;
}

/// Return the edges from the node named `from` to the node named `to`.
std::vector<const StreamEdge*> edgesBetween(const StreamGraph& graph, std::string_view from,
                                            std::string_view to) {
  std::vector<const StreamEdge*> result;
  for (const StreamEdge& edge : graph.edges()) {
    if (graph.node(edge.sourceNode)->name() == from && graph.node(edge.targetNode)->name() == to) {
      result.push_back(&edge);
    }
  }
  return result;
}

/// Return the kind of the single edge from `from` to `to`; fails the test if there is not
/// exactly one.
PartitionerKind edgeKind(const StreamGraph& graph, std::string_view from, std::string_view to) {
  std::vector<const StreamEdge*> edges = edgesBetween(graph, from, to);
  EXPECT_THAT(edges, SizeIs(1)) << from << " -> " << to;
  return edges.empty() ? PartitionerKind::kForward : edges.front()->kind;
}

class JoinSum final : public ProcessJoinFunction<int64_t, int64_t, int64_t> {
 public:
  void processElement(const int64_t& a, const int64_t& b, Context&,
                      Collector<int64_t>& out) override {
    out.collect(a + b);
  }
};

class SplitEvenOdd final : public ProcessFunction<int64_t, int64_t> {
 public:
  static const OutputTag<std::string>& oddTag() {
    static const OutputTag<std::string> tag("odd");
    return tag;
  }
  void processElement(const int64_t& value, Context& ctx, Collector<int64_t>& out) override {
    if (value % 2 == 0) {
      out.collect(value);
    } else {
      ctx.output(oddTag(), std::to_string(value));
    }
  }
};

TEST(StreamGraphTest, virtualTransformationsBecomeEdgesNotNodes) {
  StreamExecutionEnvironment env;
  auto source = env.fromSequence(0, 9).name("Numbers");
  auto rebalanced = source.rebalance();
  auto map = rebalanced.map([](int64_t x) { return x + 1; }).name("Inc");
  collectInto(map, "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));

  ASSERT_THAT(graph->nodes(), SizeIs(3));
  EXPECT_EQ(graph->node(rebalanced.id()), nullptr);
  ASSERT_NE(graph->node(source.id()), nullptr);
  EXPECT_EQ(graph->node(source.id())->name(), "Numbers");
  EXPECT_EQ(graph->node(-1), nullptr);
  EXPECT_EQ(graph->node(1000), nullptr);
  ASSERT_THAT(graph->edges(), SizeIs(2));
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Inc"), PartitionerKind::kRebalance);
  EXPECT_EQ(edgeKind(*graph, "Inc", "Out"), PartitionerKind::kForward);
}

TEST(StreamGraphTest, nodesAndEdgesReferToEachOther) {
  StreamExecutionEnvironment env;
  collectInto(env.fromSequence(0, 9).name("Numbers").map([](int64_t x) { return x; }).name("Id"),
              "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 1));
  for (const StreamEdge& edge : graph->edges()) {
    EXPECT_EQ(&graph->edges()[static_cast<size_t>(edge.index)], &edge);
    const StreamNode* source = graph->node(edge.sourceNode);
    const StreamNode* target = graph->node(edge.targetNode);
    ASSERT_NE(source, nullptr);
    ASSERT_NE(target, nullptr);
    EXPECT_THAT(source->outEdges, ::testing::Contains(edge.index));
    EXPECT_THAT(target->inEdges, ::testing::Contains(edge.index));
    EXPECT_NE(edge.partitioner, nullptr);
    ASSERT_NE(edge.recordType, nullptr);
    EXPECT_EQ(edge.partitioner->kind(), edge.kind);
  }
  EXPECT_THAT(nodeNamed(*graph, "Numbers")->inEdges, IsEmpty());
  EXPECT_THAT(nodeNamed(*graph, "Out")->outEdges, IsEmpty());
}

TEST(StreamGraphTest, defaultPartitionerIsForwardForEqualParallelism) {
  StreamExecutionEnvironment env;
  collectInto(env.fromSequence(0, 9).name("Numbers").map([](int64_t x) { return x; }).name("Id"),
              "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 3));
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Id"), PartitionerKind::kForward);
  EXPECT_EQ(edgeKind(*graph, "Id", "Out"), PartitionerKind::kForward);
  for (const StreamNode& node : graph->nodes()) EXPECT_EQ(node.parallelism, 3) << node.name();
}

TEST(StreamGraphTest, defaultPartitionerIsRebalanceWhenParallelismChanges) {
  StreamExecutionEnvironment env;
  auto map = env.fromSequence(0, 9).name("Numbers").map([](int64_t x) { return x; }).name("Id");
  map.setParallelism(3);
  collectInto(map, "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));
  EXPECT_EQ(nodeNamed(*graph, "Numbers")->parallelism, 2);
  EXPECT_EQ(nodeNamed(*graph, "Id")->parallelism, 3);
  EXPECT_EQ(nodeNamed(*graph, "Out")->parallelism, 2);
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Id"), PartitionerKind::kRebalance);
  EXPECT_EQ(edgeKind(*graph, "Id", "Out"), PartitionerKind::kRebalance);
}

TEST(StreamGraphTest, keyByGivesHashEdgeIntoKeyedOperator) {
  StreamExecutionEnvironment env;
  collectInto(env.fromSequence(0, 9)
                  .name("Numbers")
                  .keyBy([](int64_t x) { return x % 3; })
                  .reduce([](int64_t a, int64_t b) { return a + b; })
                  .name("Sum"),
              "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Sum"), PartitionerKind::kHash);
  EXPECT_TRUE(nodeNamed(*graph, "Sum")->transformation->keyedInput);
  EXPECT_EQ(edgeKind(*graph, "Sum", "Out"), PartitionerKind::kForward);
}

TEST(StreamGraphTest, connectedInputsKeepTheirInputIndexThroughUnions) {
  StreamExecutionEnvironment env;
  auto a = env.fromSequence(0, 9).name("A");
  auto b = env.fromSequence(0, 9).name("B");
  auto c = env.fromCollection(std::vector<std::string>{"x"}).name("C");
  collectInto(a.unionWith(b)
                  .connect(c)
                  .map([](int64_t x) { return x; },
                       [](const std::string& s) { return static_cast<int64_t>(s.size()); })
                  .name("Both"),
              "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));
  const StreamNode* both = nodeNamed(*graph, "Both");
  ASSERT_NE(both, nullptr);
  EXPECT_EQ(both->kind(), TransformationKind::kTwoInput);
  EXPECT_THAT(both->inEdges, SizeIs(3));
  EXPECT_EQ(edgesBetween(*graph, "A", "Both").front()->inputIndex, 0);
  EXPECT_EQ(edgesBetween(*graph, "B", "Both").front()->inputIndex, 0);
  EXPECT_EQ(edgesBetween(*graph, "C", "Both").front()->inputIndex, 1);
  EXPECT_EQ(edgeKind(*graph, "C", "Both"), PartitionerKind::kRebalance);  // C is not parallel
}

TEST(StreamGraphTest, keyedConnectHashesBothInputsAndBroadcastOnlyTheKeyedOne) {
  StreamExecutionEnvironment env;
  auto keyOf = [](int64_t x) { return x % 3; };
  auto a = env.fromSequence(0, 9).name("A").keyBy(keyOf);
  auto b = env.fromSequence(0, 9).name("B");
  collectInto(a.connect(b.keyBy(keyOf))
                  .map([](int64_t x) { return x; }, [](int64_t x) { return x; })
                  .name("Keyed"),
              "Out1");
  collectInto(a.intervalJoin(b.keyBy(keyOf))
                  .between(std::chrono::milliseconds(-1), std::chrono::milliseconds(1))
                  .process(JoinSum())
                  .name("Join"),
              "Out2");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));
  EXPECT_EQ(edgeKind(*graph, "A", "Keyed"), PartitionerKind::kHash);
  EXPECT_EQ(edgeKind(*graph, "B", "Keyed"), PartitionerKind::kHash);
  EXPECT_EQ(edgeKind(*graph, "B", "Join"), PartitionerKind::kHash);
  EXPECT_TRUE(nodeNamed(*graph, "Join")->transformation->keyedSecondInput);
}

TEST(StreamGraphTest, explicitPartitionersAreKeptAtEqualParallelism) {
  StreamExecutionEnvironment env;
  auto source = env.fromSequence(0, 9).name("Numbers");
  collectInto(source.rebalance(), "Rebalanced");
  collectInto(source.rescale(), "Rescaled");
  collectInto(source.broadcast(), "Broadcast");
  collectInto(source.forward(), "Forwarded");
  collectInto(source, "Plain");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Rebalanced"), PartitionerKind::kRebalance);
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Rescaled"), PartitionerKind::kRescale);
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Broadcast"), PartitionerKind::kBroadcast);
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Forwarded"), PartitionerKind::kForward);
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Plain"), PartitionerKind::kForward);
  EXPECT_THAT(nodeNamed(*graph, "Numbers")->outEdges, SizeIs(5));
}

TEST(StreamGraphTest, partitionerClosestToConsumerWins) {
  StreamExecutionEnvironment env;
  auto keyed = env.fromSequence(0, 9).name("Numbers").keyBy([](int64_t x) { return x % 2; });
  collectInto(keyed.rebalance().map([](int64_t x) { return x; }).name("AfterRebalance"), "Out1");
  collectInto(env.fromSequence(0, 9).name("Other").broadcast().rescale(), "Out2");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));
  EXPECT_EQ(edgeKind(*graph, "Numbers", "AfterRebalance"), PartitionerKind::kRebalance);
  EXPECT_EQ(edgeKind(*graph, "Other", "Out2"), PartitionerKind::kRescale);
}

TEST(StreamGraphTest, forwardWithParallelismChangeIsInvalidArgumentNamingBothOperators) {
  StreamExecutionEnvironment env;
  auto map = env.fromSequence(0, 9).name("Numbers").forward().map([](int64_t x) { return x; });
  map.name("Doubler").setParallelism(3);
  collectInto(map, "Out");
  auto graph = build(env, 2);
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
  EXPECT_THAT(graph.status().message(),
              AllOf(HasSubstr("forward"), HasSubstr("'Numbers' (2)"), HasSubstr("'Doubler' (3)")));
}

TEST(StreamGraphTest, zeroParallelismIsInvalidArgumentNamingOperator) {
  StreamExecutionEnvironment env;
  collectInto(
      env.fromSequence(0, 9).map([](int64_t x) { return x; }).name("Doubler").setParallelism(0),
      "Out");
  auto graph = build(env, 1);
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
  EXPECT_THAT(graph.status().message(), AllOf(HasSubstr("'Doubler'"), HasSubstr("parallelism 0")));
}

TEST(StreamGraphTest, negativeParallelismIsInvalidArgumentNamingOperator) {
  for (int parallelism : {-2, -100, INT_MIN}) {
    SCOPED_TRACE(parallelism);
    StreamExecutionEnvironment env;
    collectInto(env.fromSequence(0, 9)
                    .map([](int64_t x) { return x; })
                    .name("Doubler")
                    .setParallelism(parallelism),
                "Out");
    auto graph = build(env, 1);
    ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
    EXPECT_THAT(
        graph.status().message(),
        AllOf(HasSubstr("'Doubler'"), HasSubstr("parallelism " + std::to_string(parallelism))));
  }
}

TEST(StreamGraphTest, sinkParallelismIsValidatedLikeOperators) {
  StreamExecutionEnvironment env;
  env.fromSequence(0, 9)
      .sinkTo(std::make_shared<CollectSink<int64_t>>(std::make_shared<CollectedRecords<int64_t>>()))
      .name("Out")
      .setParallelism(0);
  auto graph = build(env, 1);
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
  EXPECT_THAT(graph.status().message(), HasSubstr("'Out'"));
}

TEST(StreamGraphTest, parallelismAboveMaxParallelismIsInvalidArgumentNamingOperator) {
  StreamExecutionEnvironment env;
  collectInto(
      env.fromSequence(0, 9).map([](int64_t x) { return x; }).name("Doubler").setParallelism(200),
      "Out");
  auto graph = build(env, 1, 128);
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
  EXPECT_THAT(graph.status().message(),
              AllOf(HasSubstr("'Doubler'"), HasSubstr("200"), HasSubstr("max parallelism 128")));
}

TEST(StreamGraphTest, operatorMaxParallelismBoundsItsParallelism) {
  StreamExecutionEnvironment env;
  auto map = env.fromSequence(0, 9).map([](int64_t x) { return x; }).name("Doubler");
  map.setMaxParallelism(4).setParallelism(8);
  collectInto(map, "Out");
  auto graph = build(env, 1);
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
  EXPECT_THAT(graph.status().message(),
              AllOf(HasSubstr("'Doubler'"), HasSubstr("max parallelism 4")));
}

TEST(StreamGraphTest, maxParallelismDefaultsToTheEnvironmentsAndCanBeOverridden) {
  StreamExecutionEnvironment env;
  auto map = env.fromSequence(0, 9).name("Numbers").map([](int64_t x) { return x; }).name("Id");
  map.setMaxParallelism(16);
  collectInto(map, "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2, 64));
  EXPECT_EQ(nodeNamed(*graph, "Numbers")->maxParallelism, 64);
  EXPECT_EQ(nodeNamed(*graph, "Id")->maxParallelism, 16);
  EXPECT_EQ(nodeNamed(*graph, "Out")->maxParallelism, 64);
}

TEST(StreamGraphTest, defaultParallelismAboveMaxParallelismIsInvalidArgument) {
  StreamExecutionEnvironment env;
  collectInto(env.fromSequence(0, 9).name("Numbers"), "Out");
  auto graph = build(env, 200, 128);
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
  EXPECT_THAT(graph.status().message(), AllOf(HasSubstr("'Numbers'"), HasSubstr("200")));
}

TEST(StreamGraphTest, maxParallelismBelowOneIsInvalidArgument) {
  StreamExecutionEnvironment env;
  collectInto(env.fromSequence(0, 9), "Out");
  auto graph = build(env, 1, 0);
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
  EXPECT_THAT(graph.status().message(), HasSubstr("max parallelism 0"));
}

TEST(StreamGraphTest, nonParallelCollectionSourceWithParallelismTwoIsInvalidArgument) {
  StreamExecutionEnvironment env;
  auto source = env.fromCollection(std::vector<int64_t>{1, 2, 3});
  source.setParallelism(2);
  collectInto(source, "Out");
  auto graph = build(env, 1);
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
  EXPECT_THAT(graph.status().message(),
              AllOf(HasSubstr("'Collection Source'"), HasSubstr("not parallel")));
}

TEST(StreamGraphTest, nonParallelTextFileSourceWithParallelismTwoIsInvalidArgument) {
  StreamExecutionEnvironment env;
  auto source = env.readTextFile("/data/input.txt");
  source.setParallelism(2);
  collectInto(source, "Out");
  auto graph = build(env, 1);
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
  EXPECT_THAT(graph.status().message(),
              AllOf(HasSubstr("Text File Source (/data/input.txt)"), HasSubstr("not parallel")));
}

TEST(StreamGraphTest, nonParallelSourceRunsWithOneSubtaskUnderHigherDefault) {
  StreamExecutionEnvironment env;
  collectInto(
      env.fromCollection(std::vector<int64_t>{1, 2, 3}).map([](int64_t x) { return x; }).name("Id"),
      "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 4));
  EXPECT_EQ(nodeNamed(*graph, "Collection Source")->parallelism, 1);
  EXPECT_EQ(nodeNamed(*graph, "Id")->parallelism, 4);
  EXPECT_EQ(edgeKind(*graph, "Collection Source", "Id"), PartitionerKind::kRebalance);
}

TEST(StreamGraphTest, nonParallelSinkRunsWithOneSubtaskAndRejectsMore) {
  {
    StreamExecutionEnvironment env;
    env.fromSequence(0, 9).name("Numbers").sinkTo(std::make_shared<SingleWriterSink>(), "One");
    ASSERT_OK_AND_ASSIGN(auto graph, build(env, 3));
    EXPECT_EQ(nodeNamed(*graph, "One")->parallelism, 1);
    EXPECT_EQ(edgeKind(*graph, "Numbers", "One"), PartitionerKind::kRebalance);
  }
  StreamExecutionEnvironment env;
  env.fromSequence(0, 9).sinkTo(std::make_shared<SingleWriterSink>(), "One").setParallelism(2);
  auto graph = build(env, 1);
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph);
  EXPECT_THAT(graph.status().message(), HasSubstr("'One'"));
}

TEST(StreamGraphTest, sideOutputEdgeCarriesTagAndSideOutputRecordType) {
  StreamExecutionEnvironment env;
  auto split = env.fromSequence(0, 9).process(SplitEvenOdd()).name("Split");
  collectInto(split, "Evens");
  collectInto(split.getSideOutput(SplitEvenOdd::oddTag()), "Odds");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));

  std::vector<const StreamEdge*> toEvens = edgesBetween(*graph, "Split", "Evens");
  std::vector<const StreamEdge*> toOdds = edgesBetween(*graph, "Split", "Odds");
  ASSERT_THAT(toEvens, SizeIs(1));
  ASSERT_THAT(toOdds, SizeIs(1));
  EXPECT_EQ(toEvens[0]->sideOutputTag, "");
  EXPECT_EQ(toEvens[0]->recordType->type(), std::type_index(typeid(int64_t)));
  EXPECT_EQ(toOdds[0]->sideOutputTag, "odd");
  EXPECT_EQ(toOdds[0]->recordType->type(), std::type_index(typeid(std::string)));
  EXPECT_EQ(toOdds[0]->kind, PartitionerKind::kForward);
  // The producer declares the side output once, however often it is selected.
  const StreamNode* producer = nodeNamed(*graph, "Split");
  ASSERT_THAT(producer->transformation->sideOutputs, SizeIs(1));
  EXPECT_EQ(producer->transformation->sideOutputs[0].first, "odd");
}

TEST(StreamGraphTest, sideOutputSelectedTwiceIsDeclaredOnceAndPartitionedPerConsumer) {
  StreamExecutionEnvironment env;
  auto split = env.fromSequence(0, 9).process(SplitEvenOdd()).name("Split");
  collectInto(split, "Evens");
  collectInto(split.getSideOutput(SplitEvenOdd::oddTag()).rebalance(), "OddsRebalanced");
  auto lengths = split.getSideOutput(SplitEvenOdd::oddTag())
                     .map([](const std::string& s) { return static_cast<int64_t>(s.size()); })
                     .name("Length");
  lengths.setParallelism(3);
  collectInto(lengths, "Lengths");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));

  EXPECT_THAT(nodeNamed(*graph, "Split")->transformation->sideOutputs, SizeIs(1));
  std::vector<const StreamEdge*> rebalanced = edgesBetween(*graph, "Split", "OddsRebalanced");
  std::vector<const StreamEdge*> toLength = edgesBetween(*graph, "Split", "Length");
  ASSERT_THAT(rebalanced, SizeIs(1));
  ASSERT_THAT(toLength, SizeIs(1));
  EXPECT_EQ(rebalanced[0]->kind, PartitionerKind::kRebalance);
  EXPECT_EQ(rebalanced[0]->sideOutputTag, "odd");
  EXPECT_EQ(rebalanced[0]->recordType->type(), std::type_index(typeid(std::string)));
  EXPECT_EQ(toLength[0]->kind, PartitionerKind::kRebalance);  // parallelism 2 -> 3
  EXPECT_EQ(toLength[0]->sideOutputTag, "odd");
  EXPECT_EQ(toLength[0]->recordType->type(), std::type_index(typeid(std::string)));
  // Downstream of the side-output consumer, the record type is the consumer's output again.
  std::vector<const StreamEdge*> fromLength = edgesBetween(*graph, "Length", "Lengths");
  ASSERT_THAT(fromLength, SizeIs(1));
  EXPECT_EQ(fromLength[0]->sideOutputTag, "");
  EXPECT_EQ(fromLength[0]->recordType->type(), std::type_index(typeid(int64_t)));
}

TEST(StreamGraphTest, unionFoldsIntoOneInputEdgePerProducer) {
  StreamExecutionEnvironment env;
  auto a = env.fromSequence(0, 9).name("A");
  auto b = env.fromSequence(10, 19).name("B");
  auto c = env.fromCollection(std::vector<int64_t>{42}).name("C");
  auto merged = a.unionWith(b, c);
  auto map = merged.map([](int64_t x) { return x; }).name("Merged");
  collectInto(map, "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));

  EXPECT_EQ(graph->node(merged.id()), nullptr);
  EXPECT_EQ(nodeNamed(*graph, "Union"), nullptr);
  ASSERT_THAT(graph->nodes(), SizeIs(5));
  const StreamNode* consumer = nodeNamed(*graph, "Merged");
  ASSERT_THAT(consumer->inEdges, SizeIs(3));
  std::vector<std::string> producers;
  for (int e : consumer->inEdges) {
    producers.push_back(graph->node(graph->edges()[static_cast<size_t>(e)].sourceNode)->name());
  }
  EXPECT_THAT(producers, UnorderedElementsAre("A", "B", "C"));
  EXPECT_EQ(edgeKind(*graph, "A", "Merged"), PartitionerKind::kForward);
  EXPECT_EQ(edgeKind(*graph, "B", "Merged"), PartitionerKind::kForward);
  EXPECT_EQ(edgeKind(*graph, "C", "Merged"), PartitionerKind::kRebalance);  // parallelism 1 -> 2
}

TEST(StreamGraphTest, partitionerAfterUnionAppliesToEveryBranch) {
  StreamExecutionEnvironment env;
  auto a = env.fromSequence(0, 9).name("A");
  auto b = env.fromSequence(10, 19).name("B");
  collectInto(a.unionWith(b).broadcast(), "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));
  EXPECT_EQ(edgeKind(*graph, "A", "Out"), PartitionerKind::kBroadcast);
  EXPECT_EQ(edgeKind(*graph, "B", "Out"), PartitionerKind::kBroadcast);
}

TEST(StreamGraphTest, partitionerBeforeUnionAppliesOnlyToItsBranch) {
  StreamExecutionEnvironment env;
  auto a = env.fromSequence(0, 9).name("A");
  auto b = env.fromSequence(10, 19).name("B");
  collectInto(a.rescale().unionWith(b), "Out");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));
  EXPECT_EQ(edgeKind(*graph, "A", "Out"), PartitionerKind::kRescale);
  EXPECT_EQ(edgeKind(*graph, "B", "Out"), PartitionerKind::kForward);
}

TEST(StreamGraphTest, fanOutGivesOneEdgePerConsumer) {
  StreamExecutionEnvironment env;
  auto source = env.fromSequence(0, 9).name("Numbers");
  collectInto(source.map([](int64_t x) { return x; }).name("Left"), "OutLeft");
  collectInto(source.filter([](int64_t x) { return x > 3; }).name("Right"), "OutRight");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 2));
  EXPECT_THAT(nodeNamed(*graph, "Numbers")->outEdges, SizeIs(2));
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Left"), PartitionerKind::kForward);
  EXPECT_EQ(edgeKind(*graph, "Numbers", "Right"), PartitionerKind::kForward);
}

TEST(StreamGraphTest, nodesAreInTopologicalOrder) {
  StreamExecutionEnvironment env;
  auto a = env.fromSequence(0, 99).name("A");
  auto b = env.fromCollection(std::vector<int64_t>{1, 2}).name("B");
  auto split = a.process(SplitEvenOdd()).name("Split");
  auto keyed = split.unionWith(b).keyBy([](int64_t x) { return x % 5; });
  auto summed = keyed.reduce([](int64_t x, int64_t y) { return x + y; }).name("Sum");
  collectInto(summed.rebalance(), "SumOut");
  collectInto(split.getSideOutput(SplitEvenOdd::oddTag()), "OddOut");
  collectInto(a.broadcast().map([](int64_t x) { return -x; }).name("Neg"), "NegOut");
  ASSERT_OK_AND_ASSIGN(auto graph, build(env, 3));

  std::vector<int> position(env.transformations().size(), -1);
  for (size_t i = 0; i < graph->nodes().size(); ++i) {
    position[static_cast<size_t>(graph->nodes()[i].id)] = static_cast<int>(i);
  }
  ASSERT_THAT(graph->edges(), SizeIs(7));
  for (const StreamEdge& edge : graph->edges()) {
    EXPECT_LT(position[static_cast<size_t>(edge.sourceNode)],
              position[static_cast<size_t>(edge.targetNode)])
        << graph->node(edge.sourceNode)->name() << " -> " << graph->node(edge.targetNode)->name();
  }
}

}  // namespace
}  // namespace strom::graph
