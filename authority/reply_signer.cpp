#include "reply_signer.h"

#include <openssl/evp.h>

namespace stepgate::authority {

struct ReplySigner::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

Result<ReplySigner> ReplySigner::load(const Bytes& private_key) {
  if (private_key.size() != 32) return invalid_argument("an Ed25519 private key is 32 bytes");
  auto key = std::make_shared<Key>();
  key->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, private_key.data(),
                                           private_key.size());
  if (key->pkey == nullptr) return invalid_argument("OpenSSL could not load the Ed25519 key");
  return ReplySigner(std::move(key));
}

Result<Bytes> ReplySigner::sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  Bytes sig(64);
  std::size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return make_error(ErrorCode::kInternal, "Ed25519 signing failed");
  }
  sig.resize(len);
  return sig;
}

}  // namespace stepgate::authority
