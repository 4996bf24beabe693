#pragma once

// The connector SPI for sources: a Source describes the data and creates one reader per
// subtask; the reader emits bounded batches on the task thread.

#include <strom/operator.h>
#include <strom/status.h>

#include <climits>
#include <memory>

namespace strom {

template <class T>
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  /// Prepare to read (open files, connect). An error fails the task.
  virtual Status open(OperatorContext& /*context*/) { return Status::ok(); }
  /// Emit at most one bounded batch (bounded in rows and in bytes) into `output`.
  virtual Result<InputStatus> pollNext(Output<T>& output) = 0;
  virtual void close() {}
};

/// A source definition: immutable and shareable; createReader is called once per subtask.
template <class T>
class Source {
 public:
  using Type = T;
  virtual ~Source() = default;
  /// Return the highest parallelism the source supports (1 for a non-parallel source).
  virtual int maxParallelism() const { return INT_MAX; }
  virtual std::unique_ptr<SourceReader<T>> createReader(int subtaskIndex,
                                                        int parallelism) const = 0;
};

}  // namespace strom
