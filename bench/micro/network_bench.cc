// The network path between two tasks, for 100-byte records (a STROM_FIELDS struct whose
// serialized value is 100 bytes; on the wire each record is 102 bytes with its length prefix and
// flags byte, see <strom/record_io.h>). All in one run:
//
//   BM_Memcpy         memcpy of the same payload bytes into a segment-sized buffer: the floor.
//   BM_Serializer     RecordWriter into network-buffer-sized chunks, each read back at once by a
//                     RecordReader on the same thread: serialization alone, no queues.
//   BM_LocalChannel   a producer thread writes through a ResultPartition; the consumer reads its
//                     subpartition through a LocalInputChannel and an InputGate, and decodes.
//   BM_RemoteChannel  the same through a RemoteInputChannel: two ConnectionManagers (one io
//                     thread each) over loopback TCP, credit-based. Its third and fourth
//                     arguments are `taskmanager.network.memory.buffers-per-channel` and
//                     `...floating-buffers-per-gate` (defaults 2 and 8), used as a task uses
//                     them on both sides.
//
// Each reports "per_core" (records per second of process CPU time, so every thread involved,
// io threads included, is charged) and "payload_GBps_per_core" (100 bytes per record over the
// same CPU time). The target for the remote channel is >= 1 GB/s of payload per core.
// Arguments: records per iteration and the segment (network buffer) size. Run a Release build
// with --benchmark_repetitions=5 and report the medians.

#include <benchmark/benchmark.h>
#include <strom/strom.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "runtime/network/buffer.h"
#include "runtime/network/connection_manager.h"
#include "runtime/network/input_gate.h"
#include "runtime/network/remote_input_channel.h"
#include "runtime/network/result_partition.h"
#include "runtime/network/wakeup_signal.h"

namespace {

using bench::processCpuSeconds;
using strom::Input;
using strom::PartitionerKind;
using strom::PartitionWriter;
using strom::RecordBatch;
using strom::RecordReaderBase;
using strom::Result;
using strom::Status;
using strom::TypedRecordOps;
using strom::WriterContext;
using strom::network::BufferOrEvent;
using strom::network::ConnectionManager;
using strom::network::ConnectionManagerOptions;
using strom::network::FloatingBufferPool;
using strom::network::InputChannel;
using strom::network::InputGate;
using strom::network::LocalInputChannel;
using strom::network::NetworkBufferPool;
using strom::network::RemoteInputChannel;
using strom::network::ResultPartition;
using strom::network::ResultPartitionId;
using strom::network::ResultPartitionManager;
using strom::network::WakeupSignal;

/// A record whose serialized value is exactly kPayloadBytes.
struct Rec {
  int64_t id = 0;
  std::array<char, 92> bytes{};
  STROM_FIELDS(id, bytes)
};
constexpr int64_t kPayloadBytes = 100;
constexpr size_t kBatchRows = 1024;

/// A batch of kBatchRows distinct records, written over and over (the writer does not consume it).
RecordBatch<Rec> makeBatch() {
  RecordBatch<Rec> batch(kBatchRows);
  for (size_t i = 0; i < kBatchRows; ++i) {
    Rec rec;
    rec.id = static_cast<int64_t>(i);
    for (size_t j = 0; j < rec.bytes.size(); ++j) rec.bytes[j] = static_cast<char>(i + j);
    batch.push(rec);
  }
  return batch;
}

/// Sums the ids of the records it receives, so that decoding is not optimized away.
class ChecksumInput final : public Input<Rec> {
 public:
  void processBatch(RecordBatch<Rec>& batch) override {
    for (const Rec& rec : batch) sum += rec.id + rec.bytes[rec.bytes.size() - 1];
    records += static_cast<int64_t>(batch.size());
  }
  int64_t sum = 0;
  int64_t records = 0;
};

void report(benchmark::State& state, int64_t records, double cpuSeconds) {
  bench::reportPerCore(state, records, cpuSeconds);
  state.SetBytesProcessed(records * kPayloadBytes);
  state.counters["payload_GBps_per_core"] =
      benchmark::Counter(static_cast<double>(records * kPayloadBytes) / cpuSeconds / 1e9,
                         benchmark::Counter::kDefaults);
}

void BM_Memcpy(benchmark::State& state) {
  int64_t n = state.range(0);
  auto segment = static_cast<size_t>(state.range(1));
  // The source cycles through 4 MiB, larger than L2, like records arriving from operators.
  std::vector<std::byte> source(4 << 20, std::byte{0x5a});
  std::vector<std::byte> target(segment);
  int64_t records = 0;
  double cpu = 0;
  for (auto _ : state) {
    double start = processCpuSeconds();
    size_t total = static_cast<size_t>(n * kPayloadBytes);
    size_t from = 0;
    for (size_t done = 0; done < total; done += segment) {
      size_t chunk = std::min(segment, total - done);
      if (from + chunk > source.size()) from = 0;
      std::memcpy(target.data(), source.data() + from, chunk);
      benchmark::ClobberMemory();
      from += chunk;
    }
    cpu += processCpuSeconds() - start;
    records += n;
  }
  report(state, records, cpu);
}

/// A BufferSink over one segment-sized buffer: a full buffer is handed to a RecordReader at
/// once, like a network buffer arriving at the consumer.
class LoopbackSink final : public strom::BufferSink, public PartitionWriter {
 public:
  LoopbackSink(size_t segment, RecordReaderBase& reader) : buffer_(segment), reader_(reader) {
    reset();
  }
  int numChannels() const override { return 1; }
  strom::BufferSink& channel(int) override { return *this; }
  void emitWatermark(int64_t) override {}

  /// Hand the written part of the buffer to the reader.
  void flush() {
    size_t size = static_cast<size_t>(pos_ - buffer_.data());
    if (size > 0) status_ = reader_.processBuffer(0, std::span(buffer_.data(), size));
    reset();
  }
  const Status& status() const { return status_; }

 protected:
  void writeSlow(const void* data, size_t size) override {
    const auto* bytes = static_cast<const std::byte*>(data);
    while (size > 0) {
      size_t take = std::min(size, static_cast<size_t>(end_ - pos_));
      std::memcpy(pos_, bytes, take);
      pos_ += take;
      bytes += take;
      size -= take;
      if (pos_ == end_) flush();
    }
  }

 private:
  void reset() {
    pos_ = buffer_.data();
    end_ = buffer_.data() + buffer_.size();
  }
  std::vector<std::byte> buffer_;
  RecordReaderBase& reader_;
  Status status_;
};

void BM_Serializer(benchmark::State& state) {
  int64_t n = state.range(0);
  RecordBatch<Rec> batch = makeBatch();
  int64_t records = 0;
  double cpu = 0;
  for (auto _ : state) {
    ChecksumInput consumer;
    TypedRecordOps<Rec> ops;
    auto reader = ops.createReader(consumer, "checksum", 1, kBatchRows);
    LoopbackSink sink(static_cast<size_t>(state.range(1)), *reader);
    auto writer = ops.partitioner(PartitionerKind::kForward)->createWriter(sink, WriterContext{});
    auto& input = static_cast<Input<Rec>&>(*writer);
    double start = processCpuSeconds();
    for (int64_t done = 0; done < n; done += kBatchRows) input.processBatch(batch);
    sink.flush();
    reader->flush();
    cpu += processCpuSeconds() - start;
    if (!sink.status().isOk()) state.SkipWithError(sink.status().toString().c_str());
    auto rows = static_cast<int64_t>(kBatchRows);
    if (consumer.records != (n + rows - 1) / rows * rows) {
      state.SkipWithError("records lost");
    }
    benchmark::DoNotOptimize(consumer.sum);
    records += consumer.records;
  }
  report(state, records, cpu);
}

/// Write `n` records (rounded up to whole batches) into `partition` and finish it.
void produce(ResultPartition& partition, int64_t n) {
  RecordBatch<Rec> batch = makeBatch();
  TypedRecordOps<Rec> ops;
  auto writer =
      ops.partitioner(PartitionerKind::kForward)->createWriter(partition, WriterContext{});
  auto& input = static_cast<Input<Rec>&>(*writer);
  for (int64_t done = 0; done < n; done += kBatchRows) input.processBatch(batch);
  partition.finish();
}

/// Read `channel` through an InputGate until end of partition, decoding every record as a task
/// does; return the records read, or an error.
Result<int64_t> consume(std::unique_ptr<InputChannel> channel) {
  WakeupSignal wakeup;
  std::vector<std::unique_ptr<InputChannel>> channels;
  channels.push_back(std::move(channel));
  InputGate gate(std::move(channels), wakeup);
  ChecksumInput consumer;
  TypedRecordOps<Rec> ops;
  auto reader = ops.createReader(consumer, "checksum", 1, kBatchRows);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!gate.isFinished()) {
    auto next = gate.pollNext();
    if (!next) {
      STROM_RETURN_IF_ERROR(gate.status());
      if (!wakeup.waitUntil(deadline)) return Status::deadlineExceeded("consumer timed out");
      continue;
    }
    BufferOrEvent& item = next->second;
    if (item.isBuffer()) {
      STROM_RETURN_IF_ERROR(reader->processBuffer(0, item.buffer().bytes()));
    } else if (item.isEndOfPartition()) {
      STROM_RETURN_IF_ERROR(reader->endOfChannel(0));
    }
  }
  reader->flush();
  benchmark::DoNotOptimize(consumer.sum);
  return consumer.records;
}

// Generous: a remote channel's state, and with it its buffers, goes back to the pool only once
// the io thread has processed its unregistration, after the iteration that used it.
constexpr size_t kPoolSegments = 256;

void BM_LocalChannel(benchmark::State& state) {
  int64_t n = state.range(0);
  auto segment = static_cast<size_t>(state.range(1));
  auto pool = NetworkBufferPool::create(kPoolSegments, segment);
  if (!pool.isOk()) return state.SkipWithError(pool.status().toString().c_str());
  int64_t records = 0;
  double cpu = 0;
  for (auto _ : state) {
    auto partition = ResultPartition::create({"bench", 0, 0, 0}, 1, **pool);
    if (!partition.isOk()) return state.SkipWithError(partition.status().toString().c_str());
    double start = processCpuSeconds();
    std::thread producer([&] { produce(**partition, n); });
    auto read = consume(std::make_unique<LocalInputChannel>((*partition)->subpartition(0)));
    producer.join();
    cpu += processCpuSeconds() - start;
    if (!read.isOk()) return state.SkipWithError(read.status().toString().c_str());
    records += *read;
  }
  report(state, records, cpu);
}

void BM_RemoteChannel(benchmark::State& state) {
  int64_t n = state.range(0);
  auto segment = static_cast<size_t>(state.range(1));
  auto perChannel = static_cast<int>(state.range(2));
  auto floatingPerGate = static_cast<int>(state.range(3));
  auto producerPool = NetworkBufferPool::create(kPoolSegments, segment);
  auto consumerPool = NetworkBufferPool::create(kPoolSegments, segment);
  if (!producerPool.isOk() || !consumerPool.isOk()) return state.SkipWithError("no buffer pool");
  ResultPartitionManager producerPartitions;
  ResultPartitionManager consumerPartitions;
  ConnectionManagerOptions options;
  options.segmentSize = segment;
  auto producerConnections = ConnectionManager::create(producerPartitions, options);
  auto consumerConnections = ConnectionManager::create(consumerPartitions, options);
  if (!producerConnections.isOk() || !consumerConnections.isOk()) {
    return state.SkipWithError("no connection manager");
  }
  int64_t records = 0;
  double cpu = 0;
  int attempt = 0;
  for (auto _ : state) {
    ResultPartitionId id{"bench", 0, 0, attempt++};
    auto created = ResultPartition::create(id, 1, **producerPool, perChannel, floatingPerGate);
    if (!created.isOk()) return state.SkipWithError(created.status().toString().c_str());
    std::shared_ptr<ResultPartition> partition = std::move(created).value();
    if (!producerPartitions.registerPartition(partition).isOk()) {
      return state.SkipWithError("register partition");
    }
    auto floating =
        FloatingBufferPool::create(**consumerPool, static_cast<size_t>(floatingPerGate), "gate");
    if (!floating.isOk()) return state.SkipWithError(floating.status().toString().c_str());
    auto channel =
        RemoteInputChannel::create(**consumerConnections, (*producerConnections)->address(), id, 0,
                                   **consumerPool, perChannel, *floating);
    if (!channel.isOk()) return state.SkipWithError(channel.status().toString().c_str());
    double start = processCpuSeconds();
    std::thread producer([&] { produce(*partition, n); });
    auto read = consume(std::move(channel).value());
    producer.join();
    cpu += processCpuSeconds() - start;
    (void)producerPartitions.unregisterPartition(id);
    if (!read.isOk()) return state.SkipWithError(read.status().toString().c_str());
    records += *read;
  }
  report(state, records, cpu);
}

constexpr int64_t kRecords = 2'000'000;  // 200 MB of payload per iteration

// The default segment (32 KiB, `taskmanager.memory.segment-size`) for all; the remote channel
// also with 8 and 128 KiB, and with 4x the default credit, which shows what is paid per buffer
// rather than per byte.
#define NETWORK_BENCH(name) BENCHMARK(name)->UseRealTime()->Unit(benchmark::kMillisecond)

NETWORK_BENCH(BM_Memcpy)->Args({kRecords, 32 * 1024})->ArgNames({"records", "segment"});
NETWORK_BENCH(BM_Serializer)->Args({kRecords, 32 * 1024})->ArgNames({"records", "segment"});
NETWORK_BENCH(BM_LocalChannel)->Args({kRecords, 32 * 1024})->ArgNames({"records", "segment"});
NETWORK_BENCH(BM_RemoteChannel)
    ->Args({kRecords, 8 * 1024, 2, 8})
    ->Args({kRecords, 32 * 1024, 2, 8})
    ->Args({kRecords, 128 * 1024, 2, 8})
    ->Args({kRecords, 8 * 1024, 8, 32})
    ->Args({kRecords, 32 * 1024, 8, 32})
    ->ArgNames({"records", "segment", "per_channel", "floating"});

}  // namespace

BENCHMARK_MAIN();
