#pragma once

// A job as the user declared it: one Transformation per API call. The graph layer turns them
// into a StreamGraph and a JobGraph; the task creates operators from their factories.

#include <strom/operator.h>
#include <strom/record_io.h>

#include <climits>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace strom {

enum class TransformationKind {
  kSource,      // creates records (a physical node without inputs)
  kOneInput,    // an operator with one logical input (a physical node)
  kTwoInput,    // an operator with two logical inputs, inputs[0] and inputs[1] (physical)
  kSink,        // consumes records (a physical node without output)
  kUnion,       // virtual: merges its inputs
  kPartition,   // virtual: sets how records reach the next operator
  kSideOutput,  // virtual: selects a side output of its input
};

/// Adds a side output of a given type to an operator instance (see StreamOperator).
using SideOutputDeclarer = std::function<bool(StreamOperator&, size_t batchRows)>;

struct Transformation {
  int id = 0;
  TransformationKind kind = TransformationKind::kOneInput;
  std::string name;
  std::string uid;
  int parallelism = -1;            // -1: the environment's default
  int maxParallelism = -1;         // -1: the environment's default
  int parallelismLimit = INT_MAX;  // a non-parallel source or sink: 1
  std::vector<int> inputs;         // ids of the input transformations
  bool keyedInput = false;         // the operator uses key groups of a hash-partitioned input
  bool keyedSecondInput = false;   // kTwoInput: the same for inputs[1] (keyedInput: inputs[0])
  bool chainingAllowed = true;

  std::shared_ptr<const OperatorFactory> operatorFactory;  // physical nodes
  std::shared_ptr<const RecordTypeOps> outputType;         // every node with an output
  std::shared_ptr<const PartitionerFactory> partitioner;   // kPartition
  std::string sideOutputTag;                               // kSideOutput
  /// Side outputs consumed downstream: tag id and how to add it to an operator instance.
  std::vector<std::pair<std::string, SideOutputDeclarer>> sideOutputs;
};

}  // namespace strom
