// JobGraph::create on jobs declared with the public DataStream API: which operators chain
// into one vertex, the edges between vertices, and the JSON plan.

#include "graph/job_graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "graph/stream_graph.h"
#include "testutil/status_matchers.h"

namespace strom::graph {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

template <class T>
void collectInto(const DataStream<T>& stream, std::string name) {
  stream.sinkTo(std::make_shared<CollectSink<T>>(std::make_shared<CollectedRecords<T>>()),
                std::move(name));
}

Result<std::shared_ptr<const JobGraph>> build(const StreamExecutionEnvironment& env,
                                              int parallelism, std::string jobName = "job",
                                              Configuration configuration = {}) {
  STROM_ASSIGN_OR_RETURN(auto streamGraph,
                         StreamGraph::create(env.transformations(), parallelism, 128));
  return JobGraph::create(std::move(streamGraph), std::move(jobName), std::move(configuration));
}

std::vector<std::string> vertexNames(const JobGraph& job) {
  std::vector<std::string> names;
  for (const JobVertex& v : job.vertices()) names.push_back(v.name);
  return names;
}

const JobVertex* vertexNamed(const JobGraph& job, std::string_view name) {
  for (const JobVertex& v : job.vertices()) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

/// Return "source -> target: KIND" for every job edge, by vertex name.
std::vector<std::string> edgeDescriptions(const JobGraph& job) {
  std::vector<std::string> result;
  for (const JobEdge& e : job.edges()) {
    result.push_back(job.vertices()[static_cast<size_t>(e.sourceVertex)].name + " => " +
                     job.vertices()[static_cast<size_t>(e.targetVertex)].name + ": " +
                     partitionerName(e.kind));
  }
  return result;
}

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

/// A minimal JSON parser, enough to check that toJson() is well-formed and to read it back.
struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  const Json& operator[](const std::string& key) const { return object.at(key); }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  /// Return the document, or nullopt (with error() set) if `text` is not one JSON value.
  std::optional<Json> parse() {
    std::optional<Json> value = parseValue(0);
    skipSpace();
    if (value && pos_ != text_.size()) return fail("trailing characters");
    return value;
  }
  const std::string& error() const { return error_; }

 private:
  std::optional<Json> fail(std::string what) {
    if (error_.empty()) error_ = what + " at offset " + std::to_string(pos_);
    return std::nullopt;
  }
  void skipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool consume(char c) {
    skipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool consumeWord(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  std::optional<Json> parseValue(int depth) {
    if (depth > 64) return fail("nesting too deep");
    skipSpace();
    if (pos_ >= text_.size()) return fail("unexpected end");
    Json value;
    char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      value.kind = Json::Kind::kObject;
      if (consume('}')) return value;
      do {
        skipSpace();
        std::optional<std::string> key = parseString();
        if (!key) return std::nullopt;
        if (!consume(':')) return fail("expected ':'");
        std::optional<Json> member = parseValue(depth + 1);
        if (!member) return std::nullopt;
        if (!value.object.emplace(*key, std::move(*member)).second) return fail("duplicate key");
      } while (consume(','));
      if (!consume('}')) return fail("expected '}'");
      return value;
    }
    if (c == '[') {
      ++pos_;
      value.kind = Json::Kind::kArray;
      if (consume(']')) return value;
      do {
        std::optional<Json> element = parseValue(depth + 1);
        if (!element) return std::nullopt;
        value.array.push_back(std::move(*element));
      } while (consume(','));
      if (!consume(']')) return fail("expected ']'");
      return value;
    }
    if (c == '"') {
      std::optional<std::string> s = parseString();
      if (!s) return std::nullopt;
      value.kind = Json::Kind::kString;
      value.string = std::move(*s);
      return value;
    }
    if (consumeWord("true") || consumeWord("false")) {
      value.kind = Json::Kind::kBool;
      value.boolean = text_[pos_ - 1] == 'e' && text_[pos_ - 2] == 'u';
      return value;
    }
    if (consumeWord("null")) return value;
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = pos_;
      if (text_[pos_] == '-') ++pos_;
      if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        return fail("bad number");
      }
      if (text_[pos_] == '0' && pos_ + 1 < text_.size() &&
          std::isdigit(static_cast<unsigned char>(text_[pos_ + 1]))) {
        return fail("leading zero");
      }
      while (pos_ < text_.size() &&
             (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
              text_[pos_] == 'e' || text_[pos_] == 'E' || text_[pos_] == '+' ||
              text_[pos_] == '-')) {
        ++pos_;
      }
      value.kind = Json::Kind::kNumber;
      value.number = std::stod(std::string(text_.substr(start, pos_ - start)));
      return value;
    }
    return fail(std::string("unexpected character '") + c + "'");
  }

  std::optional<std::string> parseString() {
    if (pos_ >= text_.size() || text_[pos_] != '"') {
      fail("expected a string");
      return std::nullopt;
    }
    ++pos_;
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (static_cast<unsigned char>(c) < 0x20) {
        fail("raw control character in string");
        return std::nullopt;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) break;
      char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          if (pos_ + 4 > text_.size()) {
            fail("short \\u escape");
            return std::nullopt;
          }
          unsigned code =
              static_cast<unsigned>(std::stoul(std::string(text_.substr(pos_, 4)), nullptr, 16));
          pos_ += 4;
          if (code >= 0x80) {
            fail("non-ASCII \\u escape (not needed by these tests)");
            return std::nullopt;
          }
          out += static_cast<char>(code);
          break;
        }
        default:
          fail("bad escape");
          return std::nullopt;
      }
    }
    if (pos_ >= text_.size()) {
      fail("unterminated string");
      return std::nullopt;
    }
    ++pos_;  // closing quote
    return out;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

TEST(JobGraphTest, forwardOperatorsWithEqualParallelismChainIntoOneVertex) {
  StreamExecutionEnvironment env;
  collectInto(env.fromSequence(0, 9)
                  .name("Numbers")
                  .map([](int64_t x) { return 2 * x; })
                  .name("Doubler")
                  .filter([](int64_t x) { return x > 4; })
                  .name("Evens"),
              "Collect");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));

  ASSERT_THAT(job->vertices(), SizeIs(1));
  const JobVertex& vertex = job->vertices()[0];
  EXPECT_EQ(vertex.name, "Numbers -> Doubler -> Evens -> Collect");
  EXPECT_EQ(vertex.parallelism, 2);
  EXPECT_THAT(vertex.chain, ElementsAre(0, 1, 2, 3));
  EXPECT_TRUE(vertex.isSource());
  EXPECT_THAT(vertex.outputs, IsEmpty());
  EXPECT_THAT(job->edges(), IsEmpty());
  for (int node : vertex.chain) EXPECT_EQ(job->vertexOfNode(node), 0);
}

TEST(JobGraphTest, keyByBreaksTheChainWithAHashEdge) {
  StreamExecutionEnvironment env;
  collectInto(env.fromSequence(0, 9)
                  .name("Numbers")
                  .keyBy([](int64_t x) { return x % 3; })
                  .reduce([](int64_t a, int64_t b) { return a + b; })
                  .name("Sum"),
              "Collect");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
  EXPECT_THAT(vertexNames(*job), ElementsAre("Numbers", "Sum -> Collect"));
  EXPECT_THAT(edgeDescriptions(*job), ElementsAre("Numbers => Sum -> Collect: HASH"));
  EXPECT_FALSE(job->edges()[0].pointwise());
  EXPECT_EQ(job->vertexOfNode(1), -1);  // the keyBy partitioning is not a node
}

TEST(JobGraphTest, explicitPartitionersBreakTheChainEvenAtEqualParallelism) {
  struct Case {
    const char* name;
    DataStream<int64_t> (DataStream<int64_t>::*partition)() const;
    const char* kind;
    bool pointwise;
  };
  for (const Case& c : {Case{"rebalance", &DataStream<int64_t>::rebalance, "REBALANCE", false},
                        Case{"rescale", &DataStream<int64_t>::rescale, "RESCALE", true},
                        Case{"broadcast", &DataStream<int64_t>::broadcast, "BROADCAST", false}}) {
    SCOPED_TRACE(c.name);
    StreamExecutionEnvironment env;
    DataStream<int64_t> source = env.fromSequence(0, 9).name("Numbers");
    collectInto((source.*c.partition)().map([](int64_t x) { return x; }).name("Id"), "Collect");
    ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
    EXPECT_THAT(vertexNames(*job), ElementsAre("Numbers", "Id -> Collect"));
    ASSERT_THAT(job->edges(), SizeIs(1));
    EXPECT_STREQ(partitionerName(job->edges()[0].kind), c.kind);
    EXPECT_EQ(job->edges()[0].pointwise(), c.pointwise);
  }
}

TEST(JobGraphTest, explicitForwardAtEqualParallelismChains) {
  StreamExecutionEnvironment env;
  collectInto(
      env.fromSequence(0, 9).name("Numbers").forward().map([](int64_t x) { return x; }).name("Id"),
      "Collect");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
  EXPECT_THAT(vertexNames(*job), ElementsAre("Numbers -> Id -> Collect"));
}

TEST(JobGraphTest, parallelismChangeBreaksTheChainWithARebalanceEdge) {
  StreamExecutionEnvironment env;
  auto map = env.fromSequence(0, 9).name("Numbers").map([](int64_t x) { return x; }).name("Id");
  map.setParallelism(3);
  collectInto(map.filter([](int64_t) { return true; }).name("All"), "Collect");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
  EXPECT_THAT(vertexNames(*job), ElementsAre("Numbers", "Id", "All -> Collect"));
  EXPECT_THAT(edgeDescriptions(*job),
              ElementsAre("Numbers => Id: REBALANCE", "Id => All -> Collect: REBALANCE"));
  EXPECT_EQ(vertexNamed(*job, "Numbers")->parallelism, 2);
  EXPECT_EQ(vertexNamed(*job, "Id")->parallelism, 3);
  EXPECT_EQ(vertexNamed(*job, "All -> Collect")->parallelism, 2);
}

TEST(JobGraphTest, disableChainingIsolatesTheOperatorFromBothNeighbours) {
  StreamExecutionEnvironment env;
  auto map = env.fromSequence(0, 9).name("Numbers").map([](int64_t x) { return x; }).name("Id");
  map.disableChaining();
  collectInto(map.filter([](int64_t) { return true; }).name("All"), "Collect");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
  EXPECT_THAT(vertexNames(*job), ElementsAre("Numbers", "Id", "All -> Collect"));
  EXPECT_THAT(edgeDescriptions(*job),
              ElementsAre("Numbers => Id: FORWARD", "Id => All -> Collect: FORWARD"));
  for (const JobEdge& edge : job->edges()) EXPECT_TRUE(edge.pointwise());
}

TEST(JobGraphTest, twoInputNodeOfAUnionStartsANewVertex) {
  StreamExecutionEnvironment env;
  auto a = env.fromSequence(0, 9).name("A");
  auto b = env.fromSequence(10, 19).name("B");
  collectInto(a.unionWith(b).map([](int64_t x) { return x; }).name("Merged"), "Collect");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
  EXPECT_THAT(vertexNames(*job), ElementsAre("A", "B", "Merged -> Collect"));
  EXPECT_THAT(edgeDescriptions(*job), UnorderedElementsAre("A => Merged -> Collect: FORWARD",
                                                           "B => Merged -> Collect: FORWARD"));
  const JobVertex* merged = vertexNamed(*job, "Merged -> Collect");
  ASSERT_NE(merged, nullptr);
  EXPECT_THAT(merged->inputs, SizeIs(2));
  EXPECT_FALSE(merged->isSource());
}

TEST(JobGraphTest, diamondOfChainedBranchesMeetsInANewVertex) {
  // Both branches chain to the source; the union's consumer has two inputs from one vertex.
  StreamExecutionEnvironment env;
  auto source = env.fromSequence(0, 9).name("Numbers");
  auto left = source.map([](int64_t x) { return x; }).name("Left");
  auto right = source.map([](int64_t x) { return -x; }).name("Right");
  collectInto(left.unionWith(right), "Collect");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
  EXPECT_THAT(vertexNames(*job), ElementsAre("Numbers -> Left -> Right", "Collect"));
  EXPECT_THAT(edgeDescriptions(*job), ElementsAre("Numbers -> Left -> Right => Collect: FORWARD",
                                                  "Numbers -> Left -> Right => Collect: FORWARD"));
  EXPECT_THAT(job->vertices()[0].outputs, SizeIs(2));
  EXPECT_THAT(job->vertices()[1].inputs, SizeIs(2));
}

TEST(JobGraphTest, fanOutChainsBothConsumers) {
  StreamExecutionEnvironment env;
  auto source = env.fromSequence(0, 9).name("Numbers");
  collectInto(source.map([](int64_t x) { return x; }).name("Left"), "OutLeft");
  collectInto(source.filter([](int64_t x) { return x > 3; }).name("Right"), "OutRight");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
  ASSERT_THAT(job->vertices(), SizeIs(1));
  EXPECT_EQ(job->vertices()[0].name, "Numbers -> Left -> OutLeft -> Right -> OutRight");
  EXPECT_THAT(job->vertices()[0].chain, SizeIs(5));
  EXPECT_THAT(job->edges(), IsEmpty());
}

TEST(JobGraphTest, fanOutChainsOnlyTheForwardConsumer) {
  StreamExecutionEnvironment env;
  auto source = env.fromSequence(0, 9).name("Numbers");
  collectInto(source.map([](int64_t x) { return x; }).name("Left"), "OutLeft");
  collectInto(source.rebalance().filter([](int64_t x) { return x > 3; }).name("Right"), "OutRight");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
  EXPECT_THAT(vertexNames(*job), ElementsAre("Numbers -> Left -> OutLeft", "Right -> OutRight"));
  EXPECT_THAT(edgeDescriptions(*job),
              ElementsAre("Numbers -> Left -> OutLeft => Right -> OutRight: REBALANCE"));
}

TEST(JobGraphTest, sourcesNeverChainToEachOther) {
  StreamExecutionEnvironment env;
  collectInto(env.fromSequence(0, 9).name("A"), "OutA");
  collectInto(env.fromSequence(0, 9).name("B"), "OutB");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 1));
  EXPECT_THAT(vertexNames(*job), ElementsAre("A -> OutA", "B -> OutB"));
  for (const JobVertex& v : job->vertices()) EXPECT_TRUE(v.isSource());
}

TEST(JobGraphTest, sideOutputConsumerChainsToItsProducer) {
  StreamExecutionEnvironment env;
  auto split = env.fromSequence(0, 9).name("Numbers").process(SplitEvenOdd()).name("Split");
  collectInto(split, "Evens");
  collectInto(split.getSideOutput(SplitEvenOdd::oddTag()).rebalance(), "Odds");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
  EXPECT_THAT(vertexNames(*job), ElementsAre("Numbers -> Split -> Evens", "Odds"));
  ASSERT_THAT(job->edges(), SizeIs(1));
  const StreamEdge& streamEdge =
      job->streamGraph().edges()[static_cast<size_t>(job->edges()[0].streamEdge)];
  EXPECT_EQ(streamEdge.sideOutputTag, "odd");
  EXPECT_EQ(job->edges()[0].kind, PartitionerKind::kRebalance);
}

TEST(JobGraphTest, verticesAndChainsAreInTopologicalOrder) {
  StreamExecutionEnvironment env;
  auto a = env.fromSequence(0, 99).name("A");
  auto b = env.fromCollection(std::vector<int64_t>{1, 2}).name("B");
  auto split = a.process(SplitEvenOdd()).name("Split");
  auto summed = split.unionWith(b)
                    .keyBy([](int64_t x) { return x % 5; })
                    .reduce([](int64_t x, int64_t y) { return x + y; })
                    .name("Sum");
  collectInto(summed.map([](int64_t x) { return x; }).name("Id").rebalance(), "SumOut");
  collectInto(split.getSideOutput(SplitEvenOdd::oddTag()), "OddOut");
  auto neg = a.broadcast().map([](int64_t x) { return -x; }).name("Neg");
  neg.disableChaining();
  collectInto(neg, "NegOut");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 3));

  ASSERT_THAT(vertexNames(*job),
              ElementsAre("A -> Split -> OddOut", "B", "Sum -> Id", "SumOut", "Neg", "NegOut"));
  for (const JobEdge& edge : job->edges()) {
    EXPECT_LT(edge.sourceVertex, edge.targetVertex)
        << edgeDescriptions(*job)[static_cast<size_t>(edge.id)];
  }
  std::vector<int> seenNodes;
  for (const JobVertex& v : job->vertices()) {
    EXPECT_EQ(&job->vertices()[static_cast<size_t>(v.id)], &v);
    EXPECT_TRUE(std::is_sorted(v.chain.begin(), v.chain.end())) << v.name;
    for (int node : v.chain) {
      EXPECT_EQ(job->vertexOfNode(node), v.id);
      seenNodes.push_back(node);
    }
    for (int e : v.inputs) EXPECT_EQ(job->edges()[static_cast<size_t>(e)].targetVertex, v.id);
    for (int e : v.outputs) EXPECT_EQ(job->edges()[static_cast<size_t>(e)].sourceVertex, v.id);
  }
  EXPECT_EQ(seenNodes.size(), job->streamGraph().nodes().size());
  // Every job edge is the stream edge it names.
  for (const JobEdge& edge : job->edges()) {
    const StreamEdge& s = job->streamGraph().edges()[static_cast<size_t>(edge.streamEdge)];
    EXPECT_EQ(job->vertexOfNode(s.sourceNode), edge.sourceVertex);
    EXPECT_EQ(job->vertexOfNode(s.targetNode), edge.targetVertex);
    EXPECT_EQ(s.kind, edge.kind);
  }
}

TEST(JobGraphTest, maxVertexParallelismIsTheLargestVertex) {
  StreamExecutionEnvironment env;
  auto map = env.fromCollection(std::vector<int64_t>{1, 2, 3}).map([](int64_t x) { return x; });
  map.setParallelism(5);
  collectInto(map.rebalance(), "Collect");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2));
  ASSERT_THAT(job->vertices(), SizeIs(3));
  EXPECT_EQ(job->vertices()[0].parallelism, 1);
  EXPECT_EQ(job->vertices()[1].parallelism, 5);
  EXPECT_EQ(job->vertices()[2].parallelism, 2);
  EXPECT_EQ(job->maxVertexParallelism(), 5);
}

TEST(JobGraphTest, keepsJobNameAndConfiguration) {
  StreamExecutionEnvironment env;
  collectInto(env.fromSequence(0, 9), "Collect");
  Configuration config;
  config.set("execution.batch.rows", "7");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 1, "my job", config));
  EXPECT_EQ(job->jobName(), "my job");
  EXPECT_EQ(job->configuration().getString("execution.batch.rows"), "7");
  EXPECT_EQ(job->streamGraph().nodes().size(), 2u);
}

TEST(JobGraphTest, toJsonIsValidJsonWithVerticesAndEdges) {
  StreamExecutionEnvironment env;
  collectInto(env.fromSequence(0, 9)
                  .name("Numbers")
                  .keyBy([](int64_t x) { return x % 3; })
                  .reduce([](int64_t a, int64_t b) { return a + b; })
                  .name("Sum")
                  .setParallelism(3),
              "Collect");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 2, "word count"));
  std::string json = job->toJson();
  JsonParser parser(json);
  std::optional<Json> doc = parser.parse();
  ASSERT_TRUE(doc.has_value()) << parser.error() << " in " << json;
  ASSERT_EQ(doc->kind, Json::Kind::kObject) << json;
  EXPECT_EQ((*doc)["job"].string, "word count");

  const Json& vertices = (*doc)["vertices"];
  ASSERT_EQ(vertices.kind, Json::Kind::kArray);
  ASSERT_THAT(vertices.array, SizeIs(job->vertices().size()));
  for (size_t i = 0; i < vertices.array.size(); ++i) {
    const JobVertex& v = job->vertices()[i];
    EXPECT_EQ(vertices.array[i]["id"].number, v.id);
    EXPECT_EQ(vertices.array[i]["name"].string, v.name);
    EXPECT_EQ(vertices.array[i]["parallelism"].number, v.parallelism);
    EXPECT_EQ(vertices.array[i]["maxParallelism"].number, v.maxParallelism);
  }
  EXPECT_EQ(vertices.array[1]["name"].string, "Sum");

  const Json& edges = (*doc)["edges"];
  ASSERT_EQ(edges.kind, Json::Kind::kArray);
  ASSERT_THAT(edges.array, SizeIs(2));
  EXPECT_EQ(edges.array[0]["source"].number, 0);
  EXPECT_EQ(edges.array[0]["target"].number, 1);
  EXPECT_EQ(edges.array[0]["partitioner"].string, "HASH");
  EXPECT_EQ(edges.array[1]["source"].number, 1);
  EXPECT_EQ(edges.array[1]["target"].number, 2);
  EXPECT_EQ(edges.array[1]["partitioner"].string, "REBALANCE");
}

TEST(JobGraphTest, toJsonEscapesNames) {
  StreamExecutionEnvironment env;
  const std::string nasty = "say \"hi\" \\ path\ttab\nline";
  collectInto(env.fromSequence(0, 9).name(nasty), "Collect");
  ASSERT_OK_AND_ASSIGN(auto job, build(env, 1, "job \"quoted\""));
  std::string json = job->toJson();
  JsonParser parser(json);
  std::optional<Json> doc = parser.parse();
  ASSERT_TRUE(doc.has_value()) << parser.error() << " in " << json;
  EXPECT_EQ((*doc)["job"].string, "job \"quoted\"");
  ASSERT_THAT((*doc)["vertices"].array, SizeIs(1));
  EXPECT_EQ((*doc)["vertices"].array[0]["name"].string, nasty + " -> Collect");
  EXPECT_THAT((*doc)["edges"].array, IsEmpty());
}

/// Declare a keyed pipeline whose shape the fingerprint tests vary one aspect at a time.
struct PipelineShape {
  int parallelism = 2;
  int sumParallelism = 2;
  std::string mapName = "Doubler";
  std::string mapUid;
  bool rebalanceBeforeSink = false;
  std::string jobName = "job";
};

std::string fingerprintOf(const PipelineShape& shape) {
  StreamExecutionEnvironment env;
  env.setParallelism(shape.parallelism);
  auto sums = env.fromSequence(0, 99)
                  .name("Numbers")
                  .map([](int64_t x) { return 2 * x; })
                  .name(shape.mapName)
                  .uid(shape.mapUid)
                  .keyBy([](int64_t x) { return x % 7; })
                  .reduce([](int64_t a, int64_t b) { return a + b; })
                  .name("Sum")
                  .setParallelism(shape.sumParallelism);
  if (shape.rebalanceBeforeSink) {
    collectInto(sums.rebalance(), "Collect");
  } else {
    collectInto(sums, "Collect");
  }
  auto job = buildJobGraph(env, shape.jobName);
  EXPECT_TRUE(job.isOk()) << job.status().toString();
  return job.isOk() ? (*job)->fingerprint() : std::string();
}

TEST(JobGraphTest, fingerprintIs32LowercaseHexDigits) {
  EXPECT_THAT(fingerprintOf({}), ::testing::MatchesRegex("[0-9a-f]{32}"));
}

TEST(JobGraphTest, fingerprintIsEqualForTwoBuildsOfTheSameProgram) {
  EXPECT_EQ(fingerprintOf({}), fingerprintOf({}));
}

TEST(JobGraphTest, fingerprintChangesWithParallelismOperatorUidEdgeOrJobName) {
  const std::string base = fingerprintOf({});
  PipelineShape shape;
  shape.parallelism = 3;
  EXPECT_NE(fingerprintOf(shape), base) << "default parallelism";
  shape = {};
  shape.sumParallelism = 1;
  EXPECT_NE(fingerprintOf(shape), base) << "one operator's parallelism";
  shape = {};
  shape.mapName = "Tripler";
  EXPECT_NE(fingerprintOf(shape), base) << "operator name";
  shape = {};
  shape.mapUid = "doubler-v2";
  EXPECT_NE(fingerprintOf(shape), base) << "operator uid";
  shape = {};
  shape.rebalanceBeforeSink = true;
  EXPECT_NE(fingerprintOf(shape), base) << "edge";
  shape = {};
  shape.jobName = "other";
  EXPECT_NE(fingerprintOf(shape), base) << "job name";
}

TEST(JobGraphTest, buildJobGraphRejectsAJobWithoutSinkOrWithBadParallelism) {
  StreamExecutionEnvironment noSink;
  noSink.fromSequence(0, 9).map([](int64_t x) { return x; });
  ASSERT_STATUS(StatusCode::kInvalidArgument, buildJobGraph(noSink, "job"));

  StreamExecutionEnvironment tooParallel;
  tooParallel.setParallelism(4).setMaxParallelism(2);
  collectInto(tooParallel.fromSequence(0, 9), "Collect");
  ASSERT_STATUS(StatusCode::kInvalidArgument, buildJobGraph(tooParallel, "job"));

  StreamExecutionEnvironment badConfig(Configuration{});
  badConfig.getConfiguration().set("parallelism.default", "many");
  collectInto(badConfig.fromSequence(0, 9), "Collect");
  ASSERT_STATUS(StatusCode::kInvalidArgument, buildJobGraph(badConfig, "job"));
}

}  // namespace
}  // namespace strom::graph
