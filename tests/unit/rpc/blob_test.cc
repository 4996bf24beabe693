// The Blob service over real gRPC on loopback: uploads checked against their declared sha256 and
// size (a corrupted one is rejected naming both hashes and leaves nothing behind), downloads
// checked again by the client, unknown and malformed keys.

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "runtime/jobmanager/blob_service.h"
#include "runtime/jobmanager/blob_store.h"
#include "runtime/taskmanager/blob_client.h"
#include "testutil/status_matchers.h"

namespace strom::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string randomBytes(size_t size, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// Every file in `directory`.
std::vector<std::string> filesIn(const std::string& directory) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(directory)) {
    files.push_back(entry.path().filename().string());
  }
  return files;
}

class BlobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "strom-blob-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    scratch_ = pattern;
    Configuration configuration;
    configuration.set("blob.storage.directory", scratch_ + "/store");
    ASSERT_OK_AND_ASSIGN(store_, BlobStore::create(configuration));
    service_ = std::make_unique<BlobService>(*store_);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
    std::string address = "127.0.0.1:" + std::to_string(port_);
    client_ = std::make_unique<BlobClient>(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()), address,
        std::chrono::seconds(30));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::error_code error;
    fs::remove_all(scratch_, error);
  }

  std::string writeScratch(const std::string& name, const std::string& bytes) {
    std::string path = scratch_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  std::string scratch_;
  std::unique_ptr<BlobStore> store_;
  std::unique_ptr<BlobService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<BlobClient> client_;
};

TEST_F(BlobTest, uploadAndDownloadAFileOfSeveralChunks) {
  // Three and a half chunks, so that chunk boundaries are crossed both ways.
  std::string bytes = randomBytes(BlobService::kChunkSize * 7 / 2, 1);
  std::string path = writeScratch("library.so", bytes);
  ASSERT_OK_AND_ASSIGN(std::string key, client_->uploadFile(path));
  EXPECT_EQ(key, Sha256::hexOf(bytes));
  EXPECT_TRUE(store_->contains(key));
  ASSERT_OK_AND_ASSIGN(std::string stored, store_->path(key));
  EXPECT_EQ(readFile(stored), bytes);

  std::string downloaded = scratch_ + "/downloaded.so";
  ASSERT_OK(client_->download(key, downloaded));
  EXPECT_EQ(readFile(downloaded), bytes);
  EXPECT_FALSE(fs::exists(downloaded + ".part"));

  // The same bytes again: stored once.
  ASSERT_OK_AND_ASSIGN(std::string again, client_->uploadFile(path));
  EXPECT_EQ(again, key);
  EXPECT_EQ(filesIn(store_->directory()).size(), 1u);
}

TEST_F(BlobTest, emptyBlobRoundTrips) {
  std::string path = writeScratch("empty.so", "");
  ASSERT_OK_AND_ASSIGN(std::string key, client_->uploadFile(path));
  EXPECT_EQ(key, Sha256::hexOf(""));
  std::string downloaded = scratch_ + "/empty-downloaded.so";
  ASSERT_OK(client_->download(key, downloaded));
  EXPECT_EQ(readFile(downloaded), "");
}

TEST_F(BlobTest, corruptedUploadIsRejectedNamingBothHashesAndLeavesNothing) {
  std::string bytes = randomBytes(BlobService::kChunkSize + 10, 2);
  std::string declared = Sha256::hexOf(bytes);
  std::string corrupted = bytes;
  corrupted[BlobService::kChunkSize / 2] ^= 1;  // one bit flipped on the way
  std::istringstream data(corrupted);
  Status status = client_->upload(declared, static_cast<int64_t>(bytes.size()), data);
  ASSERT_EQ(status.code(), StatusCode::kCorruption) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr(declared));
  EXPECT_THAT(status.message(), HasSubstr(Sha256::hexOf(corrupted)));
  EXPECT_FALSE(store_->contains(declared));
  EXPECT_TRUE(filesIn(store_->directory()).empty());
}

TEST_F(BlobTest, uploadOfAnotherSizeThanDeclaredIsRejected) {
  std::string bytes = randomBytes(1000, 3);
  std::string key = Sha256::hexOf(bytes);
  std::istringstream longer(bytes);
  Status tooLong = client_->upload(key, 999, longer);
  ASSERT_EQ(tooLong.code(), StatusCode::kCorruption) << tooLong.toString();
  EXPECT_THAT(tooLong.message(), HasSubstr("more than the declared 999 bytes"));
  std::istringstream shorter(bytes);
  Status tooShort = client_->upload(key, 1001, shorter);
  ASSERT_EQ(tooShort.code(), StatusCode::kCorruption) << tooShort.toString();
  EXPECT_THAT(tooShort.message(), HasSubstr("1000 bytes, declared 1001"));
  EXPECT_TRUE(filesIn(store_->directory()).empty());
}

TEST_F(BlobTest, malformedKeysAreRejected) {
  std::istringstream data("x");
  Status badUpload = client_->upload("../../etc/passwd", 1, data);
  ASSERT_EQ(badUpload.code(), StatusCode::kInvalidArgument) << badUpload.toString();
  EXPECT_THAT(badUpload.message(), HasSubstr("not a sha256"));
  Status badDownload = client_->download("../store", scratch_ + "/x");
  ASSERT_EQ(badDownload.code(), StatusCode::kInvalidArgument) << badDownload.toString();
  EXPECT_TRUE(filesIn(store_->directory()).empty());
}

TEST_F(BlobTest, unknownKeyIsNotFound) {
  std::string key = Sha256::hexOf("never uploaded");
  std::string destination = scratch_ + "/missing.so";
  Status status = client_->download(key, destination);
  ASSERT_EQ(status.code(), StatusCode::kNotFound) << status.toString();
  EXPECT_THAT(status.message(), HasSubstr(key));
  EXPECT_THAT(status.message(), HasSubstr("127.0.0.1:" + std::to_string(port_)));
  EXPECT_FALSE(fs::exists(destination));
  EXPECT_FALSE(fs::exists(destination + ".part"));
}

TEST_F(BlobTest, unreachableServerGivesUnavailable) {
  server_->Shutdown();
  server_ = nullptr;
  std::string path = writeScratch("library.so", "bytes");
  auto key = client_->uploadFile(path);
  ASSERT_EQ(key.status().code(), StatusCode::kUnavailable) << key.status().toString();
  EXPECT_THAT(key.status().message(), HasSubstr("127.0.0.1:" + std::to_string(port_)));
}

TEST(BlobStoreTest, defaultDirectoryIsFreshAndRemovedWithTheStore) {
  std::string directory;
  {
    ASSERT_OK_AND_ASSIGN(auto store, BlobStore::create(Configuration()));
    directory = store->directory();
    EXPECT_TRUE(fs::is_directory(directory));
    ASSERT_OK_AND_ASSIGN(auto upload, store->beginUpload(Sha256::hexOf("abc"), 3));
    ASSERT_OK(upload->write("abc"));
    ASSERT_OK(upload->finish());
    EXPECT_TRUE(store->contains(Sha256::hexOf("abc")));
  }
  EXPECT_FALSE(fs::exists(directory));
}

TEST(BlobStoreTest, abandonedUploadLeavesNothing) {
  ASSERT_OK_AND_ASSIGN(auto store, BlobStore::create(Configuration()));
  {
    ASSERT_OK_AND_ASSIGN(auto upload, store->beginUpload(Sha256::hexOf("abc"), 3));
    ASSERT_OK(upload->write("ab"));
  }
  EXPECT_TRUE(filesIn(store->directory()).empty());
  ASSERT_STATUS(StatusCode::kInvalidArgument, store->beginUpload(Sha256::hexOf("abc"), -1));
  ASSERT_STATUS(StatusCode::kNotFound, store->path(Sha256::hexOf("abc")));
}

}  // namespace
}  // namespace strom::runtime
