#pragma once
// The authority's key loaded once for signing replies: loading a raw Ed25519 private key derives
// its public half, which costs as much as a signature, and the authority signs every reply.

#include <memory>
#include <string_view>

#include "stepgate/crypto.h"
#include "stepgate/result.h"

namespace stepgate::authority {

class ReplySigner {
 public:
  /// Loads `private_key` (32 raw bytes); kInvalidArgument when OpenSSL refuses it.
  static Result<ReplySigner> load(const Bytes& private_key);
  /// The Ed25519 signature of `message` (thread-safe: the key is only read).
  [[nodiscard]] Result<Bytes> sign(std::string_view message) const;

 private:
  struct Key;
  explicit ReplySigner(std::shared_ptr<const Key> key) : key_(std::move(key)) {}
  std::shared_ptr<const Key> key_;
};

}  // namespace stepgate::authority
