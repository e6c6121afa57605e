#pragma once
/// Thin wrappers over OpenSSL: hashes, HMAC, Ed25519, CSPRNG, encodings, constant-time compare.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stepgate/result.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace stepgate {

using Bytes = std::vector<uint8_t>;

enum class HashAlg { kSha1, kSha256, kSha512 };

/// SHA-256 of data, as raw bytes / lowercase hex.
Bytes sha256(std::string_view data);
std::string sha256_hex(std::string_view data);

/// Incremental SHA-256 for data read in pieces (artifacts, large files).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void update(std::string_view data);
  /// The digest in lowercase hex; the stream is finished afterwards.
  std::string hex_final();

 private:
  alignas(16) unsigned char state_[128];  // an OpenSSL SHA256_CTX (112 bytes)
};

/// HMAC(key, data) with the given hash.
Bytes hmac(HashAlg alg, const Bytes& key, std::string_view data);

/// PBKDF2-HMAC-SHA256 (RFC 8018): `length` bytes derived from `password` and `salt` in
/// `iterations` rounds, for values that must be slow to guess. kInvalidArgument for iterations < 1.
Result<Bytes> pbkdf2_sha256(std::string_view password, const Bytes& salt, int iterations,
                            std::size_t length);

/// n bytes from the OS CSPRNG (OpenSSL RAND_bytes); kUnavailable if it fails.
Result<Bytes> random_bytes(std::size_t n);
/// A random identifier: n random bytes in base32 without padding, lowercase.
Result<std::string> random_id(std::size_t n_bytes = 10);

/// Constant-time equality (length leaks, contents do not).
bool constant_time_equal(std::string_view a, std::string_view b);

std::string hex_encode(const Bytes& data);
std::string base64url_encode(std::string_view data);  // no padding
std::string base64url_encode(const Bytes& data);
Result<Bytes> base64url_decode(std::string_view text);  // accepts no padding only
std::string base32_encode(const Bytes& data);           // RFC 4648, uppercase, no padding
Result<Bytes> base32_decode(std::string_view text);     // case-insensitive, padding/space allowed

/// Ed25519 key pair as raw 32-byte keys.
struct Ed25519KeyPair {
  Bytes private_key;
  Bytes public_key;
};
Result<Ed25519KeyPair> ed25519_generate();
Result<Bytes> ed25519_public_from_private(const Bytes& private_key);
Result<Bytes> ed25519_sign(const Bytes& private_key, std::string_view message);
bool ed25519_verify(const Bytes& public_key, std::string_view message, const Bytes& signature);

/// An Ed25519 private key loaded into OpenSSL once, for a caller that signs many messages with
/// it: building OpenSSL's key object costs about as much as the signature (the audit checkpoint
/// sink signs up to 40 heads a second with one key). Safe to share across threads.
class Ed25519Signer {
 public:
  /// kInvalidArgument unless 32 bytes; kInternal if OpenSSL refuses the key.
  static Result<Ed25519Signer> load(const Bytes& private_key);
  /// The same signature ed25519_sign(private_key, message) makes.
  [[nodiscard]] Result<Bytes> sign(std::string_view message) const;

 private:
  struct KeyFree {
    void operator()(::evp_pkey_st* key) const;
  };
  std::shared_ptr<::evp_pkey_st> key_;
};

}  // namespace stepgate
