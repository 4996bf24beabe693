#pragma once

#include <strom/config.h>
#include <strom/operator.h>
#include <strom/record_io.h>
#include <strom/status.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "checkpoint/barrier_handler.h"
#include "common/clock.h"
#include "runtime/network/buffer.h"
#include "runtime/network/connection_manager.h"
#include "runtime/network/input_gate.h"
#include "runtime/network/remote_input_channel.h"
#include "runtime/network/result_partition.h"
#include "runtime/network/wakeup_signal.h"
#include "runtime/task/checkpoint_writer.h"
#include "runtime/task/deployment.h"
#include "runtime/task/keyed_store.h"
#include "runtime/task/mailbox.h"
#include "runtime/task/watermark_valve.h"

namespace strom::state {
class RocksDbResources;
}  // namespace strom::state

namespace strom::runtime {

/// What a TaskManager lends its tasks. All members outlive the tasks.
struct TaskServices {
  network::NetworkBufferPool* bufferPool = nullptr;
  network::ResultPartitionManager* partitionManager = nullptr;
  /// The TaskManager's TCP endpoint for remote channels; null if it has none (all local). It
  /// outlives the task.
  network::ConnectionManager* connections = nullptr;
  /// This TaskManager's data address: channels whose producer has another one are remote.
  std::string dataAddress;
  const Clock* clock = nullptr;
  JobManagerGateway* jobManager = nullptr;
  Configuration configuration;  // the TaskManager's, under the job's
  /// Writes the tasks' checkpoint state files and acknowledges them (owned by the TaskManager).
  /// Null: every checkpoint is declined.
  CheckpointWriter* checkpointWriter = nullptr;
  /// The memory budget the TaskManager's RocksDB stores share; null: the task makes its own.
  std::shared_ptr<state::RocksDbResources> rocksDbResources;
};

/// Tuning read from the job configuration.
struct TaskOptions {
  size_t batchRows = kDefaultBatchRows;        // execution.batch.rows
  std::chrono::milliseconds bufferTimeout{5};  // execution.buffer-timeout
  int buffersPerChannel = 2;                   // taskmanager.network.memory.buffers-per-channel
  int floatingBuffers = 8;  // taskmanager.network.memory.floating-buffers-per-gate
  /// taskmanager.network.request-backoff.initial / .max: retries of partition requests.
  network::RequestBackoff requestBackoff;
  /// execution.checkpointing.mode: how barriers are aligned on the inputs.
  checkpoint::CheckpointingMode checkpointingMode = checkpoint::CheckpointingMode::kExactlyOnce;
  /// execution.checkpointing.aligned-checkpoint-timeout: when an aligned checkpoint that may
  /// time out (CheckpointType::kAlignedTimeout) turns unaligned.
  std::chrono::milliseconds alignedCheckpointTimeout{0};
  /// With unaligned checkpoints (execution.checkpointing.unaligned.enabled), a buffer is read
  /// in slices of this many bytes, and a priority event that arrives meanwhile is handled
  /// between two slices: an unaligned barrier need not wait for a whole buffer of slow
  /// records. 0: whole buffers.
  size_t inputSliceBytes = 0;

  static Result<TaskOptions> fromConfiguration(const Configuration& configuration);
};

/// The network buffers a task reserves from its TaskManager's NetworkBufferPool when it is
/// deployed and started (docs/config.md, "Network memory, worked out").
struct NetworkBufferNeeds {
  size_t partitionBuffers = 0;  // numSubpartitions + 1 per result partition
  size_t exclusiveBuffers = 0;  // buffers-per-channel per remote input channel
  size_t floatingBuffers = 0;   // floating-buffers-per-gate per gate with remote channels
  size_t numPartitions = 0;
  size_t numRemoteChannels = 0;
  size_t numRemoteGates = 0;

  size_t total() const { return partitionBuffers + exclusiveBuffers + floatingBuffers; }
  NetworkBufferNeeds& operator+=(const NetworkBufferNeeds& other);
};

/// One execution attempt of one subtask: a thread running the operator chain of a vertex in a
/// mailbox loop (DESIGN §4). Its operators, state and timers are touched only by that thread;
/// other threads only cancel() it. The task reports every state change to the JobManager.
class Task {
 public:
  /// Create the task and its result partitions (registered with the partition manager, so
  /// that consumers deployed later find them). Fails if the network buffers do not suffice.
  static Result<std::unique_ptr<Task>> create(TaskDeploymentDescriptor descriptor,
                                              const TaskServices& services);
  /// Return the network buffers the task of `descriptor` reserves on a TaskManager whose data
  /// address is `dataAddress`, with `configuration` (the TaskManager's) under the job's.
  /// InvalidArgument if a network key of the job does not parse.
  static Result<NetworkBufferNeeds> networkBufferNeeds(const TaskDeploymentDescriptor& descriptor,
                                                       const Configuration& configuration,
                                                       const std::string& dataAddress);
  ~Task();
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  /// Start the task thread.
  void start();
  /// Ask the task to stop: wakes it wherever it waits. Thread-safe; returns at once.
  void cancel();
  /// Wait for the task thread to end.
  void join();
  /// Run `action` on the task thread between batches (see Mailbox). Thread-safe. Actions
  /// still queued when the task ends are dropped.
  void post(std::function<void()> action) { mailbox_.post(std::move(action)); }
  /// Start checkpoint `checkpointId` (triggered at `timestamp`, epoch ms) at this task, which
  /// must be a running source: between two batches, its operators take their snapshots in chain
  /// order and the barrier (type, savepoint and terminate from `options`; a savepoint is always
  /// aligned) goes to every output, then the state is written and acknowledged in the
  /// background. With `options.final()` (any task, after it reported the end of its input) the
  /// operators take their snapshots at once, without a barrier. FailedPrecondition when the
  /// task is not running, is not a source (not final), or its input ended (not final).
  /// Thread-safe; returns at once (the work is a mailbox action; what fails there declines the
  /// checkpoint).
  Status triggerCheckpoint(int64_t checkpointId, int64_t timestamp,
                           const checkpoint::proto::CheckpointOptions& options);
  /// Checkpoint `checkpointId` completed: every chain member's notifyCheckpointComplete runs on
  /// the task thread, head first. When it is the task's final checkpoint, or the savepoint it
  /// stops with, the task then ends FINISHED. Thread-safe; returns at once.
  void notifyCheckpointComplete(int64_t checkpointId);
  /// Checkpoint `checkpointId` was aborted: every chain member's notifyCheckpointAborted runs on
  /// the task thread; a source stopping with that savepoint goes on. Thread-safe.
  void notifyCheckpointAborted(int64_t checkpointId);

  const ExecutionAttemptId& attemptId() const { return descriptor_.attemptId; }
  ExecutionState state() const { return state_.load(std::memory_order_acquire); }
  const std::string& name() const { return name_; }
  /// The job's local state directory on this machine with local recovery (the TaskManager
  /// removes it when the job ends), else empty.
  std::filesystem::path localStateDir() const;
  /// Return whether the task's vertex has no inputs (its head operator is a source).
  bool isSource() const { return descriptor_.vertex().isSource(); }

 private:
  class OperatorContextImpl;
  class SnapshotContextImpl;
  class StateInitializationImpl;
  struct ChainMember;
  struct PendingStateEntry;
  struct UnalignedSnapshot;

  Task(TaskDeploymentDescriptor descriptor, const TaskServices& services, TaskOptions options);

  void run();
  Status invoke();
  Status buildChain();
  Status runSourceLoop();
  Status runInputLoop();
  Status endOfInput();
  /// Hand one item of gate `gate`'s channel `channel` to its reader or the watermark valve.
  Status processInput(int gate, int channel, network::BufferOrEvent& item);
  /// Read `buffer` of gate `gate`'s channel `channel` from byte `offset` on, in slices of
  /// options_.inputSliceBytes; stop early, keeping the rest in inHand_, when a priority event
  /// waits.
  Status readBuffer(int gate, int channel, network::Buffer buffer, size_t offset);
  /// Poll one item of `gate` (a priority event only with `priorityOnly`) and hand it to the
  /// barrier handler; return whether there was one.
  Result<bool> pollAndProcess(size_t gate, bool priorityOnly);
  /// Take the task's snapshot of `barrier`: hand the read records on, call every operator's
  /// prepareSnapshotPreBarrier (flushing its outputs) then snapshotState, head first, then send
  /// the barrier on every output and hand the state to the writer (an operator's error
  /// declines the checkpoint, after the barrier went on). `final`: no barrier is sent.
  Status performCheckpoint(const checkpoint::CheckpointBarrier& barrier, bool final = false);
  /// Call every operator's snapshotState; the first error (or exception) is returned, naming
  /// the operator.
  Status snapshotOperators(const checkpoint::CheckpointBarrier& barrier,
                           std::vector<PendingStateEntry>& entries);
  /// Send a cancellation marker of `checkpointId` on every output.
  Status emitCancellationMarker(int64_t checkpointId);
  /// The barrier handler's callbacks for cancellation markers and unaligned checkpoints
  /// (channel numbers over all gates).
  checkpoint::BarrierHandler::BarrierHandlerCallbacks handlerCallbacks();
  /// Return the gate of handler channel `channel` and the channel's index in it.
  std::pair<int, int> gateChannel(int channel) const;
  /// Unaligned: the input channel state of the pending snapshot is complete; submit it with
  /// the operators' state.
  Status completeUnalignedSnapshot(int64_t checkpointId);
  /// Add `snapshot`'s channel state (the non-empty channels) to its entries and submit them.
  void submitWithChannelState(std::unique_ptr<UnalignedSnapshot> snapshot);
  /// The snapshot held for its kAlignedTimeout barriers (outputBarrier_): submit it once every
  /// output queue polled its barrier, or at its deadline (epoch ms `now`) turn the barriers
  /// still queued unaligned (finishOutputBarrier).
  Status checkOutputBarrier(int64_t now);
  /// Submit the held snapshot; with `convert`, first let every barrier of it still queued in an
  /// output overtake the data ahead of it, which becomes the snapshot's output channel state.
  void finishOutputBarrier(bool convert);
  /// Replay the restored channel state of an unaligned checkpoint: the output subpartitions'
  /// data first, then each input channel's, before any new input.
  Status restoreChannelState();
  /// Write `entries` as checkpoint `checkpointId`'s state file on the writer, then acknowledge;
  /// or decline with `error`.
  void submitSnapshot(int64_t checkpointId, std::vector<PendingStateEntry> entries, Status error);
  void declineCheckpoint(int64_t checkpointId, Status reason);
  /// Read the state of descriptor_.restore (every handle) into each chain member's
  /// StateInitializationImpl; fresh starts get empty ones.
  Status loadRestoredState();
  /// The RocksDB store of `member` (OperatorContext::keyedStateStore), or nullptr (heap).
  Result<KeyedStateStore*> openKeyedStore(ChainMember& member);
  /// Call every operator's initializeState with its restored state, head first.
  Status initializeOperatorState();
  /// After the end of input with checkpointing on: run the mailbox until the final checkpoint
  /// completed.
  Status awaitFinalCheckpoint();
  /// Fire due processing-time callbacks; return the next requested time (or INT64_MAX).
  int64_t fireProcessingTime(int64_t now);
  void flushPartitionsIfDue(int64_t now, bool idle);
  /// Hand `watermark` to the head operator if it advances the task's watermark, after the
  /// records read before it.
  void forwardWatermark(int64_t watermark);
  /// Hand the pending batches to the head operator, then the watermark status `idle`.
  void forwardWatermarkStatus(bool idle);
  /// Forward what a valve call changed: a change to active, then `watermark`, then a change to
  /// idle (`wasIdle` is the valve's status before the call).
  void forwardValveOutput(bool wasIdle, std::optional<int64_t> watermark);
  void closeOperators();
  Status checkStopped();
  void setState(ExecutionState state);
  void fail(Status status);

  TaskDeploymentDescriptor descriptor_;
  TaskServices services_;
  TaskOptions options_;
  std::string name_;
  Configuration configuration_;

  std::vector<std::shared_ptr<network::ResultPartition>> partitions_;  // by output JobEdge order
  std::vector<std::unique_ptr<network::InputGate>> gates_;
  std::vector<std::unique_ptr<RecordReaderBase>> readers_;  // one per gate
  std::vector<std::unique_ptr<ChainMember>> chain_;         // head first
  std::vector<std::unique_ptr<InputBase>> writers_;         // record writers to partitions
  // The record writer and record type of each partition (by output order), for replaying
  // in-flight records of a rescaled unaligned checkpoint.
  struct PartitionWriterOf {
    InputBase* writer = nullptr;
    const RecordTypeOps* type = nullptr;
  };
  std::vector<PartitionWriterOf> partitionWriters_;
  SourceOperatorBase* source_ = nullptr;  // head, when a source
  bool opened_ = false;
  std::unique_ptr<WatermarkValve> valve_;  // combines the input channels' watermarks
  // Routes the input items through checkpoint alignment; channels numbered over all gates.
  std::unique_ptr<checkpoint::BarrierHandler> barrierHandler_;
  std::vector<int> firstChannelOfGate_;  // gate g's channel c is handler channel first[g] + c
  std::vector<int> endedChannels_;       // per gate: EndOfPartition items processed
  size_t finishedGates_ = 0;
  int64_t watermark_ = INT64_MIN;  // the last one forwarded to the head operator
  // Checkpoints (task thread unless said otherwise).
  bool checkpointingEnabled_ = false;    // execution.checkpointing.interval set in the job
  std::string checkpointBaseDir_;        // state.checkpoints.dir
  KeyedStoreOptions keyedStoreOptions_;  // state.backend.*: heap or RocksDB
  // Set (release) once endOfInput() ran; read (acquire) by triggerCheckpoint on other threads.
  std::atomic<bool> inputEnded_{false};
  int64_t finalCheckpointId_ = -1;      // the final checkpoint whose snapshot was taken
  bool finalCheckpointDone_ = false;    // ... and completed: the task finishes
  int64_t terminateCheckpointId_ = -1;  // the stop-with-savepoint snapshot taken (not aborted)
  bool restoring_ = false;              // invoke() restores the checkpoint's state (task thread)
  bool terminated_ = false;             // ... and completed: the task ends without endInput
  int64_t lastFlushMillis_ = 0;
  // The rest of a buffer whose reading stopped for a priority event (readBuffer).
  struct InHandBuffer {
    int gate = 0;
    int channel = 0;
    network::Buffer buffer;
    size_t offset = 0;
  };
  std::optional<InHandBuffer> inHand_;
  // The unaligned snapshot whose input channel state is still being collected.
  std::unique_ptr<UnalignedSnapshot> unaligned_;
  // An aligned snapshot whose kAlignedTimeout barriers may still be queued in the outputs: the
  // producer side of the alignment timeout (Flink times barriers out in its subpartitions).
  std::unique_ptr<UnalignedSnapshot> outputBarrier_;
  // Restored channel state (name, bytes), replayed by restoreChannelState().
  std::vector<std::pair<std::string, std::string>> restoredChannelState_;
  std::string restoredChannelStateContext_;  // for messages: which restore it is

  network::WakeupSignal wakeup_;
  Mailbox mailbox_{wakeup_};
  std::atomic<bool> cancelled_{false};  // release on cancel(), acquire in the task loop
  std::atomic<ExecutionState> state_{ExecutionState::kCreated};
  Status failure_;  // task thread only: the first failure of an operator or connector
  std::thread thread_;
};

}  // namespace strom::runtime
