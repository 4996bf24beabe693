#pragma once

#include <strom/status.h>

#include <memory>
#include <string>
#include <string_view>

namespace strom {

/// An incremental SHA-256 (OpenSSL's EVP): the key of a job library in the blob store.
/// Move-only; not thread-safe.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  /// Add `bytes` to the digest.
  void update(std::string_view bytes);
  /// Return the digest of everything added, as 64 lowercase hex digits. Ends the digest: add
  /// nothing afterwards.
  std::string finishHex();

  /// Return the digest of `bytes` as lowercase hex.
  static std::string hexOf(std::string_view bytes);
  /// Return the digest of the file at `path` as lowercase hex; IOError naming the file if it
  /// cannot be read.
  static Result<std::string> hexOfFile(const std::string& path);
  /// Return whether `key` looks like a digest: 64 lowercase hex digits.
  static bool isHexDigest(std::string_view key);

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace strom
