#pragma once

#include "proto/strom.grpc.pb.h"
#include "runtime/jobmanager/blob_store.h"

namespace strom::runtime {

/// The gRPC Blob service (proto/strom.proto) over a BlobStore: uploads are checked against their
/// declared sha256 and size before they are stored; downloads stream a stored blob in chunks.
/// Thread-safe (gRPC calls it from its threads). The store must outlive the service.
class BlobService final : public rpc::Blob::Service {
 public:
  /// The size of the data of one downloaded chunk: well below gRPC's 4 MiB message limit.
  static constexpr size_t kChunkSize = 1 << 20;

  explicit BlobService(BlobStore& store) : store_(store) {}

  grpc::Status UploadBlob(grpc::ServerContext* context, grpc::ServerReader<rpc::BlobChunk>* reader,
                          rpc::UploadBlobResponse* response) override;
  grpc::Status DownloadBlob(grpc::ServerContext* context, const rpc::DownloadBlobRequest* request,
                            grpc::ServerWriter<rpc::BlobChunk>* writer) override;

 private:
  BlobStore& store_;
};

}  // namespace strom::runtime
