#include "stepgate/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cctype>
#include <memory>

namespace stepgate {

namespace {

/// Starts OpenSSL, once, on the first use of its EVP or RAND layers (SHA-256 above does not need
/// it), without the error-string tables OpenSSL would otherwise load: stepgate's messages are its
/// own, and the tables cost about 0.3 ms in every hook process that verifies a grant or a code.
void ensure_openssl() {
  static const bool started =
      OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, nullptr) == 1;
  (void)started;
}

const EVP_MD* evp_md(HashAlg alg) {
  ensure_openssl();
  switch (alg) {
    case HashAlg::kSha1:
      return EVP_sha1();
    case HashAlg::kSha256:
      return EVP_sha256();
    case HashAlg::kSha512:
      return EVP_sha512();
  }
  return EVP_sha256();
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

int base32_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

}  // namespace

Bytes sha256(std::string_view data) {
  // OpenSSL's own SHA-256, called directly: the EVP route first fetches the algorithm from the
  // provider machinery, which costs ~6 million instructions (about 2 ms) in every short-lived
  // process (hooks, `eval`), while the digest itself takes microseconds.
  Bytes out(SHA256_DIGEST_LENGTH);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(out.data(), &ctx);
  OPENSSL_cleanse(&ctx, sizeof ctx);
#pragma GCC diagnostic pop
  return out;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static_assert(sizeof(SHA256_CTX) <= 128, "Sha256Stream::state_ too small");

Sha256Stream::Sha256Stream() {
  SHA256_Init(reinterpret_cast<SHA256_CTX*>(state_));
}

Sha256Stream::~Sha256Stream() {
  OPENSSL_cleanse(state_, sizeof state_);
}

void Sha256Stream::update(std::string_view data) {
  SHA256_Update(reinterpret_cast<SHA256_CTX*>(state_), data.data(), data.size());
}

std::string Sha256Stream::hex_final() {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256_Final(out.data(), reinterpret_cast<SHA256_CTX*>(state_));
  return hex_encode(out);
}
#pragma GCC diagnostic pop

std::string sha256_hex(std::string_view data) {
  return hex_encode(sha256(data));
}

Result<Bytes> pbkdf2_sha256(std::string_view password, const Bytes& salt, int iterations,
                            std::size_t length) {
  if (iterations < 1) return invalid_argument("PBKDF2 needs at least one iteration");
  Bytes out(length);
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    return make_error(ErrorCode::kInternal, "PBKDF2 failed");
  }
  return out;
}

Bytes hmac(HashAlg alg, const Bytes& key, std::string_view data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  // An empty key must still be a valid pointer for HMAC().
  static const uint8_t kEmpty = 0;
  const uint8_t* key_ptr = key.empty() ? &kEmpty : key.data();
  HMAC(evp_md(alg), key_ptr, static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  out.resize(len);
  return out;
}

Result<Bytes> random_bytes(std::size_t n) {
  Bytes out(n);
  if (n == 0) return out;
  ensure_openssl();
  if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    return make_error(ErrorCode::kUnavailable, "the system random generator failed");
  }
  return out;
}

Result<std::string> random_id(std::size_t n_bytes) {
  auto bytes = random_bytes(n_bytes);
  if (!bytes) return bytes.error();
  std::string id = base32_encode(*bytes);
  for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return id;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string hex_encode(const Bytes& data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

std::string base64url_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
    out.push_back(kBase64Url[(v >> 6) & 63]);
    out.push_back(kBase64Url[v & 63]);
  }
  std::size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
  } else if (rest == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
    out.push_back(kBase64Url[(v >> 6) & 63]);
  }
  return out;
}

std::string base64url_encode(const Bytes& data) {
  return base64url_encode(
      std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
}

Result<Bytes> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return invalid_argument("invalid base64url: truncated");
  Bytes out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = base64url_value(c);
    if (v < 0) return invalid_argument("invalid base64url: unexpected character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero, so each byte string has exactly one encoding.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return invalid_argument("invalid base64url: non-canonical trailing bits");
  }
  return out;
}

std::string base32_encode(const Bytes& data) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : data) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kBase32[(acc >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(kBase32[(acc << (5 - bits)) & 31]);
  return out;
}

Result<Bytes> base32_decode(std::string_view text) {
  Bytes out;
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : text) {
    if (c == ' ' || c == '-') continue;  // authenticator apps show the secret grouped
    if (c == '=') {
      padding = true;
      continue;
    }
    int v = base32_value(c);
    if (v < 0 || padding) return invalid_argument("invalid base32: unexpected character");
    acc = (acc << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

Result<Ed25519KeyPair> ed25519_generate() {
  auto priv = random_bytes(32);
  if (!priv) return priv.error();
  auto pub = ed25519_public_from_private(*priv);
  if (!pub) return pub.error();
  return Ed25519KeyPair{std::move(*priv), std::move(*pub)};
}

Result<Bytes> ed25519_public_from_private(const Bytes& private_key) {
  if (private_key.size() != 32) return invalid_argument("an Ed25519 private key is 32 bytes");
  ensure_openssl();
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, private_key.data(),
                                           private_key.size()));
  if (!key) return make_error(ErrorCode::kInternal, "OpenSSL refused the Ed25519 private key");
  Bytes pub(32);
  std::size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 || len != 32) {
    return make_error(ErrorCode::kInternal, "could not derive the Ed25519 public key");
  }
  return pub;
}

Result<Bytes> ed25519_sign(const Bytes& private_key, std::string_view message) {
  auto signer = Ed25519Signer::load(private_key);
  if (!signer.ok()) return signer.error();
  return signer->sign(message);
}

void Ed25519Signer::KeyFree::operator()(EVP_PKEY* key) const {
  EVP_PKEY_free(key);
}

Result<Ed25519Signer> Ed25519Signer::load(const Bytes& private_key) {
  if (private_key.size() != 32) return invalid_argument("an Ed25519 private key is 32 bytes");
  ensure_openssl();
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, private_key.data(),
                                               private_key.size());
  if (key == nullptr) return make_error(ErrorCode::kInternal, "OpenSSL could not load the key");
  Ed25519Signer signer;
  signer.key_ = std::shared_ptr<EVP_PKEY>(key, KeyFree{});
  return signer;
}

Result<Bytes> Ed25519Signer::sign(std::string_view message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!key_ || !ctx) return make_error(ErrorCode::kInternal, "OpenSSL could not load the key");
  Bytes sig(64);
  std::size_t len = sig.size();
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return make_error(ErrorCode::kInternal, "Ed25519 signing failed");
  }
  sig.resize(len);
  return sig;
}

bool ed25519_verify(const Bytes& public_key, std::string_view message, const Bytes& signature) {
  if (public_key.size() != 32 || signature.size() != 64) return false;
  ensure_openssl();
  PkeyPtr key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!key || !ctx) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

}  // namespace stepgate
