#pragma once

// The TCP side of the network stack (DESIGN §5): per TaskManager one ConnectionManager with one
// Asio io thread, a server that answers partition requests from the ResultPartitionManager, and
// a client that keeps one connection per remote TaskManager, shared by every remote input
// channel to that TaskManager. Flow control is credit-based; frames are in frame.h.
//
// Lock order (see also buffer.h and result_partition.h): ResultSubpartition::mu_ before
// IoPoster::mu_; RemoteChannelState::mu_ before FloatingBufferPool::mu_ before
// LocalBufferPool::mu_ before NetworkBufferPool::mu_; RemoteChannelState::mu_ before the
// listener's locks (InputGate::mu_, WakeupSignal). ConnectionManager::mu_ is a leaf.

#include <strom/config.h>
#include <strom/status.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "runtime/network/result_partition.h"

namespace strom::network {

class RemoteChannelState;
class ClientConnection;
class ServerConnection;
struct ConnectionManagerImpl;

/// The part of a client connection a remote channel sees: it announces the channel's
/// unannounced credit on the io thread (RemoteChannelState::takeUnannouncedCredit()).
///
/// Thread contract: announceCredit() may be called from any thread.
class CreditAnnouncer {
 public:
  virtual ~CreditAnnouncer() = default;
  virtual void announceCredit(std::shared_ptr<RemoteChannelState> channel) = 0;
};

/// Posts work to the io thread while it exists, and drops it afterwards, so that threads that
/// outlive the ConnectionManager's io_context (a Buffer recycled late, a producer notifying a
/// reader) never touch a destroyed io_context.
///
/// Thread contract: thread-safe.
class IoPoster {
 public:
  /// Run `work` on the io thread; return false (and drop it) once the io thread is gone.
  bool post(std::function<void()> work);
  /// Drop all later posts. Called by the ConnectionManager before it destroys its io_context.
  void disable();

 private:
  friend struct ConnectionManagerImpl;
  std::mutex mu_;
  std::function<void(std::function<void()>)> post_;  // guarded by mu_; empty once disabled
};

/// Options of one ConnectionManager.
struct ConnectionManagerOptions {
  /// The address the server binds to and announces.
  std::string bindHost = "127.0.0.1";
  /// The server port (`taskmanager.data.port`); 0 picks a free ephemeral port.
  uint16_t port = 0;
  /// The size of a network buffer: buffer frames carry at most this many payload bytes.
  size_t segmentSize = 32 * 1024;
  /// The most frames (and bytes) written to a socket in one gather write.
  size_t maxFramesPerWrite = 64;
  size_t maxBytesPerWrite = 1 << 20;

  /// Read `taskmanager.data.port` (0..65535, default 0) and `taskmanager.memory.segment-size`
  /// (default 32 KiB) from `configuration`; InvalidArgument naming the key if out of range.
  static Result<ConnectionManagerOptions> fromConfiguration(const Configuration& configuration);
};

/// One TaskManager's TCP endpoint for remote channels: a server on `bindHost:port` that serves
/// the subpartitions of `partitions` to remote consumers, each sent only against the credit its
/// consumer announced, and a client that multiplexes every RemoteInputChannel to one remote
/// TaskManager over a single connection, keyed by that TaskManager's "host:port".
///
/// Thread contract: thread-safe. All socket work runs on the one io thread it starts; that
/// thread never blocks and never runs per-record code. shutdown() (or the destructor) closes
/// every socket and joins the thread. `partitions` must outlive it. RemoteInputChannels built
/// on it should be destroyed before it; ones that are not only stop receiving.
class ConnectionManager {
 public:
  /// Bind the server and start the io thread. IOError naming the address if binding fails.
  static Result<std::unique_ptr<ConnectionManager>> create(ResultPartitionManager& partitions,
                                                           ConnectionManagerOptions options);
  ~ConnectionManager();
  ConnectionManager(const ConnectionManager&) = delete;
  ConnectionManager& operator=(const ConnectionManager&) = delete;

  /// Return the bound port (the ephemeral one if options.port was 0).
  uint16_t port() const { return port_; }
  /// Return "host:port", the data address other TaskManagers connect to.
  std::string address() const;
  const ConnectionManagerOptions& options() const { return options_; }

  /// Close every connection and the server, and join the io thread. Idempotent.
  void shutdown();

  /// Return how many client connections (to remote TaskManagers) are open or opening.
  size_t numClientConnections() const;
  /// Return how many server-side connections (from remote consumers) are open.
  size_t numServerConnections() const;

  // --- For RemoteInputChannel. ----------------------------------------------------------------

  /// Register `channel` on the connection to `address` ("host:port"), opening it if needed,
  /// and send its partition request. A connection failure fails the channel.
  void registerChannel(const std::string& address, std::shared_ptr<RemoteChannelState> channel);
  /// Forget channel `id` on the connection to `address` and cancel its partition request.
  void unregisterChannel(const std::string& address, uint32_t id);
  /// Return a channel id unique among this manager's channels.
  uint32_t nextChannelId();
  const std::shared_ptr<IoPoster>& poster() const { return poster_; }

 private:
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  ConnectionManager(PrivateTag, ResultPartitionManager& partitions,
                    ConnectionManagerOptions options);

 private:
  friend class ServerConnection;
  friend class ClientConnection;

  Status start();
  void accept();

  ResultPartitionManager& partitions_;
  const ConnectionManagerOptions options_;
  uint16_t port_ = 0;
  std::shared_ptr<IoPoster> poster_;
  std::unique_ptr<ConnectionManagerImpl> impl_;  // io_context, acceptor, connections
  std::thread thread_;

  mutable std::mutex mu_;
  uint32_t nextChannelId_ = 0;  // guarded by mu_
  bool shutDown_ = false;       // guarded by mu_
};

}  // namespace strom::network
