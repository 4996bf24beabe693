#pragma once

#include <grpcpp/channel.h>
#include <strom/status.h>

#include <chrono>
#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <string_view>

#include "proto/strom.grpc.pb.h"

namespace strom::runtime {

/// A client of the JobManager's Blob service: the CLI uploads job libraries, TaskManagers
/// download them. Every call has a deadline of `timeout` (Flink's blob.client.socket.timeout).
/// Thread-safe (gRPC stubs are).
class BlobClient {
 public:
  /// `address` ("host:port") only names the JobManager in errors.
  BlobClient(std::shared_ptr<grpc::Channel> channel, std::string address,
             std::chrono::milliseconds timeout);

  /// Upload the file at `path` under its sha256; return the key. IOError naming the file if it
  /// cannot be read; the service's error (Corruption if the bytes changed while uploading).
  Result<std::string> uploadFile(const std::string& path);
  /// Upload the bytes of `data` declared as blob `key` of `size` bytes, in chunks. The JobManager
  /// stores them only if they match both.
  Status upload(std::string_view key, int64_t size, std::istream& data);
  /// Download blob `key` into the file `destination` (through a temporary file beside it, moved
  /// into place only once its size and sha256 match the key): NotFound if the JobManager has no
  /// such blob, Corruption naming both hashes if the bytes do not match.
  Status download(const std::string& key, const std::string& destination);

 private:
  std::unique_ptr<rpc::Blob::Stub> stub_;
  std::string address_;
  std::chrono::milliseconds timeout_;
};

}  // namespace strom::runtime
