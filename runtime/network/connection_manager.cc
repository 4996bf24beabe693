#include "runtime/network/connection_manager.h"

#include <asio.hpp>
#include <atomic>
#include <deque>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/logging.h"
#include "runtime/network/frame.h"
#include "runtime/network/remote_input_channel.h"

namespace strom::network {
namespace {

using asio::ip::tcp;

/// Bytes asked of the socket per read.
constexpr size_t kReadChunk = 64 * 1024;
/// Error messages sent to a peer are cut to this length.
constexpr size_t kMaxErrorMessage = 4096;

const std::shared_ptr<spdlog::logger>& logger() {
  static const std::shared_ptr<spdlog::logger> kLogger = moduleLogger("network");
  return kLogger;
}

Status fromAsio(const asio::error_code& error, const std::string& context) {
  return Status::ioError(context + ": " + error.message());
}

size_t maxBodySize(const ConnectionManagerOptions& options) {
  // A buffer frame's body, or a partition request with the longest job id.
  return std::max<size_t>(options.segmentSize + 13, 26 + 65535);
}

std::string endpointName(const tcp::socket& socket) {
  asio::error_code error;
  auto endpoint = socket.remote_endpoint(error);
  if (error) return "unknown peer";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

}  // namespace

// --- ConnectionManagerOptions ----------------------------------------------------------------

Result<ConnectionManagerOptions> ConnectionManagerOptions::fromConfiguration(
    const Configuration& configuration) {
  ConnectionManagerOptions options;
  STROM_ASSIGN_OR_RETURN(int64_t port, configuration.getInt("taskmanager.data.port", 0));
  if (port < 0 || port > 65535) {
    return Status::invalidArgument("config key 'taskmanager.data.port': " + std::to_string(port) +
                                   " is outside 0..65535");
  }
  options.port = static_cast<uint16_t>(port);
  // The data server listens where the TaskManager's RPC server does: the address other
  // TaskManagers reach this host at.
  options.bindHost = configuration.getString("taskmanager.host", "127.0.0.1");
  STROM_ASSIGN_OR_RETURN(uint64_t segment,
                         configuration.getMemorySize("taskmanager.memory.segment-size", 32 * 1024));
  options.segmentSize = segment;
  return options;
}

// --- IoPoster --------------------------------------------------------------------------------

bool IoPoster::post(std::function<void()> work) {
  std::lock_guard lock(mu_);
  if (!post_) return false;
  post_(std::move(work));
  return true;
}

void IoPoster::disable() {
  std::lock_guard lock(mu_);
  post_ = nullptr;
}

// --- Implementation state --------------------------------------------------------------------

struct ConnectionManagerImpl {
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor{io};

  // io thread only.
  bool closing = false;
  std::unordered_map<std::string, std::shared_ptr<ClientConnection>> clients;
  std::unordered_set<std::shared_ptr<ServerConnection>> servers;

  // Written by the io thread, read by any thread for tests and metrics; relaxed: counters only.
  std::atomic<size_t> numClients{0};
  std::atomic<size_t> numServers{0};

  static void install(IoPoster& poster, asio::io_context& io) {
    std::lock_guard lock(poster.mu_);
    poster.post_ = [&io](std::function<void()> work) { asio::post(io, std::move(work)); };
  }
};

// --- ServerConnection: the producer side of one connection -----------------------------------

/// Serves the partition requests of one remote consumer TaskManager: one Reader per requested
/// subpartition, each sending only against its credit. Readers with data and credit wait in a
/// round-robin queue; one gather write takes at most one item per reader per round, so a reader
/// without credit never holds up the others.
///
/// Thread contract: io thread only, except Reader::notifyDataAvailable (producer threads).
class ServerConnection : public std::enable_shared_from_this<ServerConnection> {
 public:
  ServerConnection(ConnectionManager& manager, tcp::socket socket)
      : manager_(manager),
        socket_(std::move(socket)),
        peer_(endpointName(*socket_)),
        decoder_(maxBodySize(manager.options())) {}

  void start() { read(); }

  /// Close the socket and drop every reader. `why` is logged unless OK.
  void close(const Status& why) {
    if (closed_) return;
    closed_ = true;
    if (!why.isOk()) {
      logger()->error("data connection from {}: {}; disconnecting", peer_, why.toString());
    }
    for (auto& [channel, reader] : readers_) reader->release();
    readers_.clear();
    available_.clear();
    asio::error_code ignored;
    socket_->close(ignored);
    socket_.reset();  // a closed connection holds no io_context resource
    manager_.impl_->servers.erase(shared_from_this());
    manager_.impl_->numServers.store(manager_.impl_->servers.size(), std::memory_order_relaxed);
  }

  /// Return whether a reader still serves a subpartition (not finished, not cancelled).
  bool serving() const {
    for (const auto& [channel, reader] : readers_) {
      if (reader->subpartition != nullptr) return true;
    }
    return false;
  }

  /// A reader's subpartition got data (io thread, posted by notifyDataAvailable).
  void onReaderAvailable(uint32_t channel) {
    if (closed_) return;
    auto it = readers_.find(channel);
    if (it == readers_.end()) return;
    it->second->notifyPosted.store(false, std::memory_order_release);
    enqueueIfAvailable(*it->second);
    writeMore();
  }

 private:
  struct Reader final : DataAvailabilityListener {
    uint32_t channel = 0;
    std::shared_ptr<ResultSubpartition> subpartition;  // null once finished
    uint32_t credit = 0;
    uint32_t nextSequence = 0;
    bool queued = false;
    std::weak_ptr<ServerConnection> connection;
    std::shared_ptr<IoPoster> poster;
    // Set by the producer thread when it posted a notification, cleared by the io thread when it
    // ran: acq_rel so that the producer's enqueue is visible to the io thread's poll.
    std::atomic<bool> notifyPosted{false};

    void notifyDataAvailable(int /*channelIndex*/) override {
      if (notifyPosted.exchange(true, std::memory_order_acq_rel)) return;
      poster->post([weak = connection, channel = channel] {
        if (auto self = weak.lock()) self->onReaderAvailable(channel);
      });
    }
    bool isAvailable() const {
      // A priority event (an unaligned barrier) goes without credit.
      return subpartition != nullptr && subpartition->hasData() &&
             (credit > 0 || subpartition->hasPriorityEvent());
    }
    void release() {
      if (subpartition == nullptr) return;
      subpartition->setListener(nullptr, 0);  // no notification after this returns
      subpartition.reset();
    }
  };

  /// One frame of the write in flight: its prefix, and the buffer it sends (kept alive until
  /// the write completes) or the encoded event.
  struct Pending {
    std::array<std::byte, kBufferFramePrefixSize> prefix{};
    std::array<std::byte, kEventPayloadSize> event{};
    Buffer buffer;
  };

  void read() {
    auto space = decoder_.prepare(kReadChunk);
    socket_->async_read_some(
        asio::buffer(space.data(), space.size()),
        [self = shared_from_this()](const asio::error_code& error, size_t bytes) {
          self->onRead(error, bytes);
        });
  }

  void onRead(const asio::error_code& error, size_t bytes) {
    if (closed_) return;
    if (error) {
      // The end of the stream, or an error while no reader sends anything: nothing was lost.
      close(error == asio::error::eof || !serving() ? Status::ok() : fromAsio(error, "read"));
      return;
    }
    decoder_.commit(bytes);
    for (;;) {
      auto frame = decoder_.next();
      if (!frame.isOk()) {
        close(frame.status());
        return;
      }
      if (!frame->has_value()) break;
      handle(**frame);
      if (closed_) return;
    }
    writeMore();
    read();
  }

  void handle(const Frame& frame) {
    if (const auto* request = std::get_if<PartitionRequest>(&frame)) {
      onPartitionRequest(*request);
    } else if (const auto* credit = std::get_if<AddCredit>(&frame)) {
      auto it = readers_.find(credit->channel);
      if (it == readers_.end()) {
        close(Status::corruption("add-credit for unknown channel " +
                                 std::to_string(credit->channel)));
        return;
      }
      Reader& reader = *it->second;
      if (reader.credit > UINT32_MAX - credit->credit) {
        close(Status::corruption("credit overflow on channel " + std::to_string(reader.channel)));
        return;
      }
      reader.credit += credit->credit;
      enqueueIfAvailable(reader);
    } else if (const auto* cancel = std::get_if<CancelRequest>(&frame)) {
      auto it = readers_.find(cancel->channel);
      if (it != readers_.end()) {
        it->second->release();
        readers_.erase(it);
      }
    } else if (std::holds_alternative<CloseRequest>(frame)) {
      close(Status::ok());
    } else if (const auto* error = std::get_if<ErrorResponse>(&frame)) {
      close(Status::unavailable("peer reported an error: " + error->message));
    } else {
      close(Status::corruption("unexpected frame from a consumer"));
    }
  }

  void onPartitionRequest(const PartitionRequest& request) {
    if (readers_.contains(request.channel)) {
      close(Status::corruption("duplicate partition request for channel " +
                               std::to_string(request.channel)));
      return;
    }
    auto subpartition = manager_.partitions_.requestSubpartition(
        request.partition, static_cast<int>(request.subpartition));
    if (!subpartition.isOk()) {
      if (subpartition.status().code() == StatusCode::kNotFound) {
        // Its producer may not be deployed yet: the consumer asks again after a backoff.
        Status encoded = encodeFrame(PartitionNotFound{request.channel}, control_);
        if (!encoded.isOk()) close(encoded);
        return;
      }
      sendError(request.channel, subpartition.status().toString());
      return;
    }
    auto reader = std::make_unique<Reader>();
    reader->channel = request.channel;
    reader->subpartition = std::move(subpartition).value();
    reader->credit = request.credit;
    reader->connection = weak_from_this();
    reader->poster = manager_.poster();
    Reader& ref = *reader;
    readers_.emplace(request.channel, std::move(reader));
    // Notifies at once (through a post) if data is already queued.
    ref.subpartition->setListener(&ref, 0);
  }

  void sendError(uint32_t channel, std::string message) {
    if (message.size() > kMaxErrorMessage) message.resize(kMaxErrorMessage);
    Status encoded = encodeFrame(ErrorResponse{channel, std::move(message)}, control_);
    if (!encoded.isOk()) logger()->error("data connection from {}: {}", peer_, encoded.toString());
  }

  void enqueueIfAvailable(Reader& reader) {
    if (reader.queued || !reader.isAvailable()) return;
    reader.queued = true;
    available_.push_back(reader.channel);
  }

  /// Start a gather write of the pending control frames and of one item from each available
  /// reader in turn, bounded in frames and bytes, unless a write is in flight.
  void writeMore() {
    if (writing_ || closed_) return;
    const auto& options = manager_.options();
    pending_.clear();
    pending_.reserve(options.maxFramesPerWrite);  // stable addresses for the gather list
    gather_.clear();
    writingControl_.clear();
    writingControl_.swap(control_);
    size_t bytes = writingControl_.size();
    if (!writingControl_.empty()) gather_.emplace_back(asio::buffer(writingControl_));
    size_t rounds = available_.size() + options.maxFramesPerWrite;  // bounds the loop
    while (!available_.empty() && pending_.size() < options.maxFramesPerWrite &&
           bytes < options.maxBytesPerWrite && rounds-- > 0) {
      uint32_t channel = available_.front();
      available_.pop_front();
      auto it = readers_.find(channel);
      if (it == readers_.end()) continue;
      Reader& reader = *it->second;
      reader.queued = false;
      if (reader.subpartition == nullptr) continue;
      // Only this thread polls: a priority event seen here is still at the front below.
      if (reader.credit == 0 && !reader.subpartition->hasPriorityEvent()) continue;
      bool priority = false;
      std::optional<BufferOrEvent> item = reader.subpartition->poll(&priority);
      if (!item) continue;
      Pending& frame = pending_.emplace_back();
      BufferMessage message{reader.channel,
                            reader.nextSequence++,
                            static_cast<uint32_t>(reader.subpartition->queueSize()),
                            item->isEvent(),
                            priority,
                            {}};
      if (!priority) --reader.credit;
      bool finished = item->isEndOfPartition();
      if (item->isEvent()) {
        const Event& event = item->event();
        encodeEventPayload(static_cast<uint8_t>(event.type), event.value, event.timestamp,
                           event.options, frame.event);
        encodeBufferFramePrefix(message, kEventPayloadSize, frame.prefix);
        gather_.emplace_back(asio::buffer(frame.prefix));
        gather_.emplace_back(asio::buffer(frame.event));
        bytes += frame.prefix.size() + frame.event.size();
      } else {
        frame.buffer = std::move(item->buffer());
        encodeBufferFramePrefix(message, frame.buffer.size(), frame.prefix);
        gather_.emplace_back(asio::buffer(frame.prefix));
        if (frame.buffer.size() > 0) {
          gather_.emplace_back(asio::buffer(frame.buffer.data(), frame.buffer.size()));
        }
        bytes += frame.prefix.size() + frame.buffer.size();
      }
      if (finished) {
        reader.release();  // keep the entry: the consumer may still send credit for it
      } else {
        enqueueIfAvailable(reader);
      }
    }
    if (gather_.empty()) return;
    writing_ = true;
    asio::async_write(*socket_, gather_,
                      [self = shared_from_this()](const asio::error_code& error, size_t) {
                        self->writing_ = false;
                        self->pending_.clear();  // recycles the sent buffers to the producer
                        if (self->closed_) return;
                        if (error) {
                          self->close(fromAsio(error, "write"));
                          return;
                        }
                        self->writeMore();
                      });
  }

  ConnectionManager& manager_;
  std::optional<tcp::socket> socket_;
  const std::string peer_;
  FrameDecoder decoder_;
  bool closed_ = false;
  bool writing_ = false;
  std::unordered_map<uint32_t, std::unique_ptr<Reader>> readers_;
  std::deque<uint32_t> available_;  // channels with data and credit, each at most once
  std::vector<std::byte> control_;  // encoded error frames not yet written
  std::vector<std::byte> writingControl_;
  std::vector<Pending> pending_;
  std::vector<asio::const_buffer> gather_;
};

// --- ClientConnection: the consumer side of one connection -----------------------------------

/// The connection to one remote TaskManager, shared by every RemoteInputChannel to it: sends
/// partition requests, credit and cancellations; copies received buffers into the channels.
///
/// Thread contract: io thread only, except announceCredit() (any thread).
class ClientConnection final : public CreditAnnouncer,
                               public std::enable_shared_from_this<ClientConnection> {
 public:
  ClientConnection(ConnectionManager& manager, std::string address)
      : manager_(manager),
        address_(std::move(address)),
        resolver_(manager.impl_->io),
        socket_(std::in_place, manager.impl_->io),
        decoder_(maxBodySize(manager.options())) {}

  void connect() {
    auto colon = address_.rfind(':');
    if (colon == std::string::npos) {
      // Closed from a fresh handler: the caller still holds its map entry.
      asio::post(manager_.impl_->io, [self = shared_from_this()] {
        self->close(Status::invalidArgument("bad data address '" + self->address_ +
                                            "', expected host:port"));
      });
      return;
    }
    resolver_->async_resolve(address_.substr(0, colon), address_.substr(colon + 1),
                             [self = shared_from_this()](const asio::error_code& error,
                                                         tcp::resolver::results_type endpoints) {
                               if (self->closed_) return;
                               if (error) {
                                 self->close(fromAsio(error, "resolve"));
                                 return;
                               }
                               asio::async_connect(
                                   *self->socket_, endpoints,
                                   [self](const asio::error_code& error, const tcp::endpoint&) {
                                     self->onConnected(error);
                                   });
                             });
  }

  void addChannel(std::shared_ptr<RemoteChannelState> channel) {
    if (closed_) {
      channel->fail(Status::unavailable("connection to " + address_ + " is closed"));
      return;
    }
    channel->setAnnouncer(weak_from_this());
    auto& slot = channels_[channel->id()];
    slot = std::move(channel);
    if (connected_) sendRequest(*slot);
  }

  void removeChannel(uint32_t id) {
    auto it = channels_.find(id);
    if (it == channels_.end()) return;
    uint32_t inFlight = it->second->creditInFlight();
    channels_.erase(it);
    if (auto timer = retryTimers_.find(id); timer != retryTimers_.end()) {
      timer->second->cancel();
      retryTimers_.erase(timer);
    }
    if (!connected_ || closed_) return;
    // The producer may still send this many frames before it sees the cancellation.
    if (inFlight > 0) lateFrames_[id] = inFlight;
    queue(CancelRequest{id});
  }

  void announceCredit(std::shared_ptr<RemoteChannelState> channel) override {
    manager_.poster()->post([self = shared_from_this(), channel = std::move(channel)] {
      if (self->closed_ || !self->channels_.contains(channel->id())) return;
      uint32_t credit = channel->takeUnannouncedCredit();
      if (credit > 0) self->queue(AddCredit{channel->id(), credit});
    });
  }

  /// Fail every channel with `why`, close the socket and leave the manager's map (io thread).
  void close(const Status& why) {
    closeFailing(why, why.isOk() ? Status::cancelled("connection to " + address_ + " closed")
                                 : why.withContext("connection to " + address_));
  }

  /// Close because this side's ConnectionManager (data address `ownAddress`) shuts down: the
  /// channels still open fail naming it, since that is the TaskManager whose network went away.
  void shutDown(const std::string& ownAddress) {
    closeFailing(Status::ok(), Status::unavailable("connection to " + address_ +
                                                   " closed: the data connections of " +
                                                   ownAddress + " shut down"));
  }

 private:
  /// Log `why` unless OK, fail every channel with `failure`, close the socket and leave the
  /// manager's map (io thread).
  void closeFailing(const Status& why, const Status& failure) {
    if (closed_) return;
    closed_ = true;
    if (!why.isOk()) {
      logger()->error("data connection to {}: {}; disconnecting", address_, why.toString());
    }
    for (auto& [id, channel] : channels_) channel->fail(failure);
    channels_.clear();
    // Pending retries would keep the io_context running: cancel them.
    for (auto& [id, timer] : retryTimers_) timer->cancel();
    retryTimers_.clear();
    lateFrames_.clear();
    asio::error_code ignored;
    if (socket_) socket_->close(ignored);
    socket_.reset();
    resolver_.reset();
    auto& clients = manager_.impl_->clients;
    auto it = clients.find(address_);
    if (it != clients.end() && it->second.get() == this) clients.erase(it);
    manager_.impl_->numClients.store(clients.size(), std::memory_order_relaxed);
  }

  void onConnected(const asio::error_code& error) {
    if (closed_) return;
    if (error) {
      close(fromAsio(error, "connect"));
      return;
    }
    asio::error_code ignored;
    socket_->set_option(tcp::no_delay(true), ignored);
    connected_ = true;
    for (auto& [id, channel] : channels_) sendRequest(*channel);
    read();
  }

  void sendRequest(RemoteChannelState& channel) { queue(channel.makeRequest()); }

  void queue(const Frame& frame) {
    Status encoded = encodeFrame(frame, out_);
    if (!encoded.isOk()) {
      close(encoded);
      return;
    }
    flush();
  }

  void flush() {
    if (writing_ || closed_ || !connected_ || out_.empty()) return;
    writing_ = true;
    writingOut_.clear();
    writingOut_.swap(out_);
    asio::async_write(*socket_, asio::buffer(writingOut_),
                      [self = shared_from_this()](const asio::error_code& error, size_t) {
                        self->writing_ = false;
                        if (self->closed_) return;
                        if (error) {
                          self->close(fromAsio(error, "write"));
                          return;
                        }
                        self->flush();
                      });
  }

  void read() {
    auto space = decoder_.prepare(kReadChunk);
    socket_->async_read_some(
        asio::buffer(space.data(), space.size()),
        [self = shared_from_this()](const asio::error_code& error, size_t bytes) {
          self->onRead(error, bytes);
        });
  }

  void onRead(const asio::error_code& error, size_t bytes) {
    if (closed_) return;
    if (error) {
      if (channels_.empty()) {
        // An idle connection whose peer shut down (an end of stream, or a reset if our last
        // cancellations were still unread there): nothing was lost.
        close(Status::ok());
        return;
      }
      close(error == asio::error::eof ? Status::unavailable("peer closed the connection")
                                      : fromAsio(error, "read"));
      return;
    }
    decoder_.commit(bytes);
    for (;;) {
      auto frame = decoder_.next();
      if (!frame.isOk()) {
        close(frame.status());
        return;
      }
      if (!frame->has_value()) break;
      handle(**frame);
      if (closed_) return;
    }
    read();
  }

  void handle(const Frame& frame) {
    if (const auto* message = std::get_if<BufferMessage>(&frame)) {
      auto it = channels_.find(message->channel);
      if (it == channels_.end()) {
        // A released channel's late frame, within the credit it had; anything else is a frame
        // for a channel this side never opened (or beyond the credit of a released one).
        // A priority event takes no credit: one may follow the last late frame.
        if (message->isPriority) return;
        auto late = lateFrames_.find(message->channel);
        if (late == lateFrames_.end()) {
          close(
              Status::corruption("buffer for unknown channel " + std::to_string(message->channel)));
          return;
        }
        if (--late->second == 0) lateFrames_.erase(late);
        return;
      }
      uint32_t credit = 0;
      Status received = it->second->onBuffer(*message, credit);
      if (!received.isOk()) {
        close(received);  // a protocol violation: the peer cannot be trusted any more
        return;
      }
      if (credit > 0) queue(AddCredit{message->channel, credit});
    } else if (const auto* error = std::get_if<ErrorResponse>(&frame)) {
      if (error->channel == kConnectionWide) {
        close(Status::unavailable("producer reported: " + error->message));
        return;
      }
      auto it = channels_.find(error->channel);
      if (it == channels_.end()) return;
      it->second->fail(Status::unavailable("remote channel " + std::to_string(error->channel) +
                                           " from " + address_ +
                                           ": producer reported: " + error->message));
      channels_.erase(it);
    } else if (const auto* notFound = std::get_if<PartitionNotFound>(&frame)) {
      auto it = channels_.find(notFound->channel);
      if (it == channels_.end()) return;  // released meanwhile
      Result<std::chrono::milliseconds> backoff = it->second->onPartitionNotFound();
      if (!backoff.isOk()) {
        it->second->fail(backoff.status());
        channels_.erase(it);
        return;
      }
      retryLater(notFound->channel, *backoff);
    } else {
      close(Status::corruption("unexpected frame from a producer"));
    }
  }

  /// Send channel `id`'s partition request again after `delay`, if it is still registered.
  void retryLater(uint32_t id, std::chrono::milliseconds delay) {
    auto& timer = retryTimers_[id];
    if (timer == nullptr) timer = std::make_unique<asio::steady_timer>(manager_.impl_->io);
    timer->expires_after(delay);
    timer->async_wait([self = shared_from_this(), id](const asio::error_code& error) {
      if (error || self->closed_) return;  // cancelled: the channel or connection went away
      self->retryTimers_.erase(id);
      auto it = self->channels_.find(id);
      if (it != self->channels_.end()) self->sendRequest(*it->second);
    });
  }

  ConnectionManager& manager_;
  const std::string address_;
  std::optional<tcp::resolver> resolver_;
  std::optional<tcp::socket> socket_;
  FrameDecoder decoder_;
  bool connected_ = false;
  bool closed_ = false;
  bool writing_ = false;
  std::unordered_map<uint32_t, std::shared_ptr<RemoteChannelState>> channels_;
  // Channels waiting to send their partition request again (producer not registered yet).
  std::unordered_map<uint32_t, std::unique_ptr<asio::steady_timer>> retryTimers_;
  // Released channels and the frames their producer may still send (their unused credit).
  std::unordered_map<uint32_t, uint32_t> lateFrames_;
  std::vector<std::byte> out_;  // encoded frames waiting for the write in flight
  std::vector<std::byte> writingOut_;
};

// --- ConnectionManager -----------------------------------------------------------------------

Result<std::unique_ptr<ConnectionManager>> ConnectionManager::create(
    ResultPartitionManager& partitions, ConnectionManagerOptions options) {
  auto manager = std::make_unique<ConnectionManager>(PrivateTag{}, partitions, std::move(options));
  STROM_RETURN_IF_ERROR(manager->start());
  return manager;
}

ConnectionManager::ConnectionManager(PrivateTag, ResultPartitionManager& partitions,
                                     ConnectionManagerOptions options)
    : partitions_(partitions),
      options_(std::move(options)),
      poster_(std::make_shared<IoPoster>()),
      impl_(std::make_unique<ConnectionManagerImpl>()) {}

ConnectionManager::~ConnectionManager() {
  shutdown();
  impl_.reset();
}

Status ConnectionManager::start() {
  asio::error_code error;
  auto address = asio::ip::make_address(options_.bindHost, error);
  if (error) return fromAsio(error, "data server: bad bind host '" + options_.bindHost + "'");
  tcp::endpoint endpoint(address, options_.port);
  std::string where = options_.bindHost + ":" + std::to_string(options_.port);
  auto& acceptor = impl_->acceptor;
  if (acceptor.open(endpoint.protocol(), error)) return fromAsio(error, "data server " + where);
  if (acceptor.set_option(tcp::acceptor::reuse_address(true), error)) {
    return fromAsio(error, "data server " + where);
  }
  if (acceptor.bind(endpoint, error)) return fromAsio(error, "data server: bind " + where);
  if (acceptor.listen(asio::socket_base::max_listen_connections, error)) {
    return fromAsio(error, "data server: listen " + where);
  }
  port_ = acceptor.local_endpoint(error).port();
  if (error) return fromAsio(error, "data server " + where);
  ConnectionManagerImpl::install(*poster_, impl_->io);
  impl_->work.emplace(impl_->io.get_executor());
  accept();
  thread_ = std::thread([this] { impl_->io.run(); });
  return Status::ok();
}

void ConnectionManager::accept() {
  impl_->acceptor.async_accept([this](const asio::error_code& error, tcp::socket socket) {
    if (impl_->closing) return;
    if (error) {
      logger()->warn("data server {}: accept failed: {}", address(), error.message());
    } else {
      asio::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto connection = std::make_shared<ServerConnection>(*this, std::move(socket));
      impl_->servers.insert(connection);
      impl_->numServers.store(impl_->servers.size(), std::memory_order_relaxed);
      connection->start();
    }
    accept();
  });
}

std::string ConnectionManager::address() const {
  return options_.bindHost + ":" + std::to_string(port_);
}

void ConnectionManager::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (shutDown_) return;
    shutDown_ = true;
  }
  if (!thread_.joinable()) return;
  poster_->post([this] {
    impl_->closing = true;
    asio::error_code ignored;
    impl_->acceptor.close(ignored);
    // close() erases from the maps: iterate over copies.
    auto clients = impl_->clients;
    for (auto& [peer, client] : clients) client->shutDown(address());
    auto servers = impl_->servers;
    for (const auto& server : servers) server->close(Status::ok());
    impl_->work.reset();
  });
  thread_.join();
  poster_->disable();
}

size_t ConnectionManager::numClientConnections() const {
  return impl_->numClients.load(std::memory_order_relaxed);
}

size_t ConnectionManager::numServerConnections() const {
  return impl_->numServers.load(std::memory_order_relaxed);
}

void ConnectionManager::registerChannel(const std::string& address,
                                        std::shared_ptr<RemoteChannelState> channel) {
  bool posted = poster_->post([this, address, channel] {
    if (impl_->closing) {
      channel->fail(
          Status::unavailable("the data connections of " + this->address() + " shut down"));
      return;
    }
    auto& client = impl_->clients[address];
    if (client == nullptr) {
      client = std::make_shared<ClientConnection>(*this, address);
      impl_->numClients.store(impl_->clients.size(), std::memory_order_relaxed);
      client->connect();  // async: never closes synchronously, so `client` stays valid
    }
    client->addChannel(channel);
  });
  if (!posted) {
    channel->fail(Status::unavailable("the data connections of " + this->address() + " shut down"));
  }
}

void ConnectionManager::unregisterChannel(const std::string& address, uint32_t id) {
  poster_->post([this, address, id] {
    auto it = impl_->clients.find(address);
    if (it != impl_->clients.end()) it->second->removeChannel(id);
  });
}

uint32_t ConnectionManager::nextChannelId() {
  std::lock_guard lock(mu_);
  // kConnectionWide is reserved.
  if (nextChannelId_ == kConnectionWide) nextChannelId_ = 0;
  return nextChannelId_++;
}

}  // namespace strom::network
