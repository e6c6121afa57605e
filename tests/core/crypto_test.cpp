#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "stepgate/crypto.h"

namespace stepgate {
namespace {

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Bytes to_bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

TEST_CASE("crypto: SHA-256 and HMAC known answers") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  CHECK(hex_encode(hmac(HashAlg::kSha256, to_bytes("Jefe"), "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmac(HashAlg::kSha1, to_bytes("k"), "x").size() == 20);
  CHECK(hmac(HashAlg::kSha512, to_bytes("k"), "x").size() == 64);
}

TEST_CASE("crypto: base64url round trip and strict decoding") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"}) {
    auto decoded = base64url_decode(base64url_encode(s));
    REQUIRE(decoded.ok());
    CHECK(std::string(decoded->begin(), decoded->end()) == s);
  }
  CHECK(base64url_encode(std::string_view("\xfb\xff")) == "-_8");
  CHECK_FALSE(base64url_decode("Zm9v=").ok());    // padding
  CHECK_FALSE(base64url_decode("Zm+v").ok());     // standard alphabet
  CHECK_FALSE(base64url_decode("Zm9vY").ok());    // impossible length
  CHECK_FALSE(base64url_decode("Zm9vYg!").ok());  // junk
  CHECK_FALSE(base64url_decode("Zh").ok());       // non-zero trailing bits
}

TEST_CASE("crypto: base32 RFC 4648 vectors") {
  CHECK(base32_encode(to_bytes("foobar")) == "MZXW6YTBOI");
  CHECK(base32_encode(to_bytes("f")) == "MY");
  auto decoded = base32_decode("mzxw 6ytb oi======");
  REQUIRE(decoded.ok());
  CHECK(*decoded == to_bytes("foobar"));
  CHECK_FALSE(base32_decode("MZXW1").ok());  // 1 is not base32
  CHECK_FALSE(base32_decode("MZ=XW").ok());  // data after padding
}

TEST_CASE("crypto: random ids and constant-time compare") {
  auto a = random_id();
  auto b = random_id();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->size() == 16);
  CHECK(*a != *b);
  CHECK(constant_time_equal("123456", "123456"));
  CHECK_FALSE(constant_time_equal("123456", "123457"));
  CHECK_FALSE(constant_time_equal("123456", "1234567"));
}

TEST_CASE("crypto: Ed25519 RFC 8032 test 1 and tampering") {
  Bytes secret = from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  auto pub = ed25519_public_from_private(secret);
  REQUIRE(pub.ok());
  CHECK(hex_encode(*pub) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  auto sig = ed25519_sign(secret, "");
  REQUIRE(sig.ok());
  CHECK(hex_encode(*sig) ==
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701"
        "cf9b46bd25bf5f0595bbe24655141438e7a100b");
  CHECK(ed25519_verify(*pub, "", *sig));
  CHECK_FALSE(ed25519_verify(*pub, "x", *sig));
  auto keys = ed25519_generate();
  REQUIRE(keys.ok());
  auto sig2 = ed25519_sign(keys->private_key, "message");
  REQUIRE(sig2.ok());
  CHECK(ed25519_verify(keys->public_key, "message", *sig2));
  (*sig2)[5] ^= 1;
  CHECK_FALSE(ed25519_verify(keys->public_key, "message", *sig2));
  CHECK_FALSE(ed25519_verify(*pub, "message", Bytes(10)));
}

TEST_CASE("crypto: a loaded Ed25519Signer signs as ed25519_sign does, many times, from threads") {
  const Bytes secret = from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  auto signer = Ed25519Signer::load(secret);
  REQUIRE(signer.ok());
  auto pub = ed25519_public_from_private(secret);
  REQUIRE(pub.ok());
  for (const char* message : {"", "message", "a longer message that spans a few blocks........"}) {
    CAPTURE(message);
    auto once = ed25519_sign(secret, message);
    auto loaded = signer->sign(message);
    REQUIRE(once.ok());
    REQUIRE(loaded.ok());
    CHECK(*loaded == *once);  // Ed25519 is deterministic
    CHECK(ed25519_verify(*pub, message, *loaded));
  }
  const Ed25519Signer shared = *signer;  // copies share the one key object
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto sig = shared.sign("head " + std::to_string(i));
        if (sig.ok() && ed25519_verify(*pub, "head " + std::to_string(i), *sig)) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(good == 100);
  for (std::size_t size : {0, 31, 33}) {
    auto bad = Ed25519Signer::load(Bytes(size, 1));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace stepgate
