#include "graph/stream_graph.h"

#include <algorithm>
#include <functional>
#include <string>

namespace strom::graph {
namespace {

struct ResolvedInput {
  int physicalId;
  std::shared_ptr<const PartitionerFactory> partitioner;
  std::string sideOutputTag;
  std::shared_ptr<const RecordTypeOps> recordType;  // set by a side-output selection
};

bool isVirtual(TransformationKind kind) {
  return kind == TransformationKind::kUnion || kind == TransformationKind::kPartition ||
         kind == TransformationKind::kSideOutput;
}

// Walk from a consumer's input through virtual transformations to physical producers. The
// partitioner closest to the consumer wins, as in Flink.
void resolve(const std::vector<std::shared_ptr<Transformation>>& ts, int id,
             std::shared_ptr<const PartitionerFactory> partitioner, std::string tag,
             std::shared_ptr<const RecordTypeOps> type, std::vector<ResolvedInput>& out) {
  const Transformation& t = *ts.at(static_cast<size_t>(id));
  switch (t.kind) {
    case TransformationKind::kUnion:
      for (int input : t.inputs) resolve(ts, input, partitioner, tag, type, out);
      return;
    case TransformationKind::kPartition:
      resolve(ts, t.inputs.at(0), partitioner ? partitioner : t.partitioner, tag, type, out);
      return;
    case TransformationKind::kSideOutput:
      resolve(ts, t.inputs.at(0), partitioner, t.sideOutputTag, t.outputType, out);
      return;
    default:
      out.push_back(ResolvedInput{id, std::move(partitioner), std::move(tag),
                                  type ? std::move(type) : t.outputType});
  }
}

std::string describe(const Transformation& t) { return "operator '" + t.name + "'"; }

}  // namespace

Result<std::shared_ptr<const StreamGraph>> StreamGraph::create(
    const std::vector<std::shared_ptr<Transformation>>& transformations, int defaultParallelism,
    int defaultMaxParallelism) {
  auto graph = std::make_shared<StreamGraph>();
  graph->nodeIndexById_.assign(transformations.size(), -1);
  if (defaultMaxParallelism < 1) {
    return Status::invalidArgument("max parallelism " + std::to_string(defaultMaxParallelism) +
                                   " must be at least 1");
  }
  for (size_t i = 0; i < transformations.size(); ++i) {
    const auto& t = transformations[i];
    if (t->id != static_cast<int>(i)) return Status::internal("transformation ids out of order");
    if (isVirtual(t->kind)) continue;
    StreamNode node;
    node.id = t->id;
    node.transformation = t;
    node.maxParallelism = t->maxParallelism > 0 ? t->maxParallelism : defaultMaxParallelism;
    if (t->parallelism == 0 || t->parallelism < -1) {
      return Status::invalidArgument(describe(*t) + ": parallelism " +
                                     std::to_string(t->parallelism) + " must be at least 1");
    }
    if (t->parallelism > 0) {
      node.parallelism = t->parallelism;
    } else {
      node.parallelism = std::min(defaultParallelism, t->parallelismLimit);
    }
    if (node.parallelism < 1) {
      return Status::invalidArgument(describe(*t) + ": parallelism " +
                                     std::to_string(node.parallelism) + " must be at least 1");
    }
    if (node.parallelism > t->parallelismLimit) {
      return Status::invalidArgument(describe(*t) + " is not parallel: parallelism " +
                                     std::to_string(node.parallelism) + " exceeds its limit " +
                                     std::to_string(t->parallelismLimit));
    }
    if (node.parallelism > node.maxParallelism) {
      return Status::invalidArgument(
          describe(*t) + ": parallelism " + std::to_string(node.parallelism) +
          " exceeds the max parallelism " + std::to_string(node.maxParallelism));
    }
    graph->nodeIndexById_[i] = static_cast<int>(graph->nodes_.size());
    graph->nodes_.push_back(std::move(node));
  }
  for (StreamNode& consumer : graph->nodes_) {
    const Transformation& t = *consumer.transformation;
    if (t.kind == TransformationKind::kSource && !t.inputs.empty()) {
      return Status::internal(describe(t) + ": a source cannot have inputs");
    }
    if (t.kind == TransformationKind::kTwoInput && t.inputs.size() != 2) {
      return Status::internal(describe(t) + ": a two-input operator needs exactly two inputs");
    }
    std::vector<ResolvedInput> inputs;
    std::vector<int> inputIndexOf;  // by resolved input
    for (size_t i = 0; i < t.inputs.size(); ++i) {
      resolve(transformations, t.inputs[i], nullptr, "", nullptr, inputs);
      int index = t.kind == TransformationKind::kTwoInput ? static_cast<int>(i) : 0;
      inputIndexOf.resize(inputs.size(), index);
    }
    for (size_t r = 0; r < inputs.size(); ++r) {
      ResolvedInput& in = inputs[r];
      StreamNode& producer = graph->nodes_[static_cast<size_t>(
          graph->nodeIndexById_[static_cast<size_t>(in.physicalId)])];
      if (producer.kind() == TransformationKind::kSink) {
        return Status::internal(describe(t) + ": a sink cannot be an input");
      }
      StreamEdge edge;
      edge.index = static_cast<int>(graph->edges_.size());
      edge.sourceNode = producer.id;
      edge.targetNode = consumer.id;
      edge.sideOutputTag = in.sideOutputTag;
      edge.recordType = in.recordType;
      edge.inputIndex = inputIndexOf[r];
      if (in.partitioner) {
        edge.partitioner = in.partitioner;
      } else {
        PartitionerKind kind = producer.parallelism == consumer.parallelism
                                   ? PartitionerKind::kForward
                                   : PartitionerKind::kRebalance;
        edge.partitioner = edge.recordType->partitioner(kind);
      }
      edge.kind = edge.partitioner->kind();
      if (edge.kind == PartitionerKind::kForward && producer.parallelism != consumer.parallelism) {
        return Status::invalidArgument(
            "forward partitioning does not allow a change of parallelism: '" + producer.name() +
            "' (" + std::to_string(producer.parallelism) + ") -> '" + consumer.name() + "' (" +
            std::to_string(consumer.parallelism) + "); use rebalance() or rescale()");
      }
      bool keyed = edge.inputIndex == 0 ? t.keyedInput : t.keyedSecondInput;
      if (keyed && edge.kind != PartitionerKind::kHash) {
        return Status::internal(describe(t) + ": a keyed operator needs a hash-partitioned input");
      }
      producer.outEdges.push_back(edge.index);
      consumer.inEdges.push_back(edge.index);
      graph->edges_.push_back(std::move(edge));
    }
  }
  return std::shared_ptr<const StreamGraph>(std::move(graph));
}

const StreamNode* StreamGraph::node(int id) const {
  if (id < 0 || static_cast<size_t>(id) >= nodeIndexById_.size()) return nullptr;
  int index = nodeIndexById_[static_cast<size_t>(id)];
  return index < 0 ? nullptr : &nodes_[static_cast<size_t>(index)];
}

}  // namespace strom::graph
