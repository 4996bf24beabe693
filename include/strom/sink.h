#pragma once

// The connector SPI for sinks: a Sink creates one writer per subtask; writers take whole
// batches (one virtual call per batch).

#include <strom/operator.h>
#include <strom/record_batch.h>
#include <strom/status.h>

#include <climits>
#include <memory>

namespace strom {

template <class T>
class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  virtual Status open(OperatorContext& /*context*/) { return Status::ok(); }
  virtual Status write(const RecordBatch<T>& batch) = 0;
  /// Called at end of input: make everything written durable.
  virtual Status finish() { return Status::ok(); }
  virtual void close() {}
};

/// A sink definition: immutable and shareable; createWriter is called once per subtask.
template <class T>
class Sink {
 public:
  using Type = T;
  virtual ~Sink() = default;
  virtual int maxParallelism() const { return INT_MAX; }
  virtual std::unique_ptr<SinkWriter<T>> createWriter(int subtaskIndex, int parallelism) const = 0;
};

}  // namespace strom
