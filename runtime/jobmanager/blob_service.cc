#include "runtime/jobmanager/blob_service.h"

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/grpc_status.h"
#include "common/logging.h"

namespace strom::runtime {

grpc::Status BlobService::UploadBlob(grpc::ServerContext* context,
                                     grpc::ServerReader<rpc::BlobChunk>* reader,
                                     rpc::UploadBlobResponse* response) {
  rpc::BlobChunk chunk;
  if (!reader->Read(&chunk)) {
    return toGrpcStatus(
        Status::invalidArgument("blob upload: the stream ended before its first chunk"));
  }
  const std::string key = chunk.key();
  auto upload = store_.beginUpload(key, chunk.size());
  if (!upload.isOk()) return toGrpcStatus(upload.status());
  do {
    if (context->IsCancelled()) {
      return toGrpcStatus(Status::cancelled("blob " + key + ": upload cancelled by the client"));
    }
    Status written = (*upload)->write(chunk.data());
    if (!written.isOk()) {
      moduleLogger("blob")->warn("rejected an upload: {}", written.message());
      return toGrpcStatus(written);
    }
  } while (reader->Read(&chunk));
  Status finished = (*upload)->finish();
  if (!finished.isOk()) {
    moduleLogger("blob")->warn("rejected an upload: {}", finished.message());
    return toGrpcStatus(finished);
  }
  response->set_key(key);
  return grpc::Status::OK;
}

grpc::Status BlobService::DownloadBlob(grpc::ServerContext* context,
                                       const rpc::DownloadBlobRequest* request,
                                       grpc::ServerWriter<rpc::BlobChunk>* writer) {
  auto path = store_.path(request->key());
  if (!path.isOk()) return toGrpcStatus(path.status());
  std::ifstream in(*path, std::ios::binary | std::ios::ate);
  if (!in)
    return toGrpcStatus(Status::ioError("blob " + request->key() + ": cannot open " + *path));
  int64_t size = static_cast<int64_t>(in.tellg());
  in.seekg(0);
  std::vector<char> buffer(kChunkSize);
  rpc::BlobChunk chunk;
  chunk.set_key(request->key());
  chunk.set_size(size);
  int64_t sent = 0;
  do {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    size_t n = static_cast<size_t>(in.gcount());
    if (in.bad())
      return toGrpcStatus(Status::ioError("blob " + request->key() + ": reading " + *path));
    chunk.set_data(buffer.data(), n);
    if (context->IsCancelled() || !writer->Write(chunk)) {
      return toGrpcStatus(Status::cancelled("blob " + request->key() + ": download cancelled"));
    }
    sent += static_cast<int64_t>(n);
    chunk.clear_key();
    chunk.clear_size();
  } while (sent < size && in);
  return grpc::Status::OK;
}

}  // namespace strom::runtime
