#include "runtime/taskmanager/blob_client.h"

#include <grpcpp/client_context.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <utility>
#include <vector>

#include "common/grpc_status.h"
#include "common/sha256.h"

namespace strom::runtime {
namespace {

constexpr size_t kChunkSize = 1 << 20;

}  // namespace

BlobClient::BlobClient(std::shared_ptr<grpc::Channel> channel, std::string address,
                       std::chrono::milliseconds timeout)
    : stub_(rpc::Blob::NewStub(std::move(channel))),
      address_(std::move(address)),
      timeout_(timeout) {}

Result<std::string> BlobClient::uploadFile(const std::string& path) {
  STROM_ASSIGN_OR_RETURN(std::string key, Sha256::hexOfFile(path));
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Status::ioError(path + ": cannot open: " + std::strerror(errno));
  int64_t size = static_cast<int64_t>(in.tellg());
  in.seekg(0);
  STROM_RETURN_IF_ERROR(upload(key, size, in).withContext("uploading " + path));
  return key;
}

Status BlobClient::upload(std::string_view key, int64_t size, std::istream& data) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_);
  rpc::UploadBlobResponse response;
  std::unique_ptr<grpc::ClientWriter<rpc::BlobChunk>> writer =
      stub_->UploadBlob(&context, &response);
  rpc::BlobChunk chunk;
  chunk.set_key(std::string(key));
  chunk.set_size(size);
  std::vector<char> buffer(kChunkSize);
  bool first = true;
  while (true) {
    data.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    size_t n = static_cast<size_t>(data.gcount());
    if (n == 0 && !first) break;
    chunk.set_data(buffer.data(), n);
    // A failed write means the server ended the call (it rejected the upload): Finish says why.
    if (!writer->Write(chunk)) break;
    first = false;
    chunk.clear_key();
    chunk.clear_size();
    if (!data) break;
  }
  writer->WritesDone();
  return fromGrpcStatus(writer->Finish(),
                        "JobManager " + address_ + ": uploading blob " + std::string(key));
}

Status BlobClient::download(const std::string& key, const std::string& destination) {
  std::string context = "JobManager " + address_ + ": downloading blob " + key;
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() + timeout_);
  rpc::DownloadBlobRequest request;
  request.set_key(key);
  std::unique_ptr<grpc::ClientReader<rpc::BlobChunk>> reader = stub_->DownloadBlob(&call, request);
  std::string temp = destination + ".part";
  std::FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) {
    call.TryCancel();
    (void)reader->Finish();
    return Status::ioError(context + ": cannot create " + temp + ": " + std::strerror(errno));
  }
  Sha256 sha;
  int64_t declared = -1;
  int64_t received = 0;
  bool writeFailed = false;
  rpc::BlobChunk chunk;
  while (reader->Read(&chunk)) {
    if (declared < 0) declared = chunk.size();
    sha.update(chunk.data());
    received += static_cast<int64_t>(chunk.data().size());
    if (std::fwrite(chunk.data().data(), 1, chunk.data().size(), file) != chunk.data().size()) {
      writeFailed = true;
      call.TryCancel();
      break;
    }
  }
  Status status = fromGrpcStatus(reader->Finish(), context);
  bool closed = std::fclose(file) == 0;
  if (status.isOk() && (writeFailed || !closed)) {
    status = Status::ioError(context + ": writing " + temp + ": " + std::strerror(errno));
  }
  if (status.isOk() && received != declared) {
    status = Status::corruption(context + ": received " + std::to_string(received) +
                                " bytes, the JobManager declared " + std::to_string(declared));
  }
  if (status.isOk()) {
    std::string actual = sha.finishHex();
    if (actual != key) {
      status = Status::corruption(context + ": the bytes have sha256 " + actual);
    }
  }
  if (status.isOk() && std::rename(temp.c_str(), destination.c_str()) != 0) {
    status = Status::ioError(context + ": moving " + temp + " to " + destination + ": " +
                             std::strerror(errno));
  }
  if (!status.isOk()) std::remove(temp.c_str());
  return status;
}

}  // namespace strom::runtime
