#include <doctest/doctest.h>
#include <sys/stat.h>

#include "stepgate/json.h"
#include "stepgate/stepup.h"
#include "test_util.h"

namespace stepgate {
namespace {

constexpr UnixTime kNow = 1700000000;
const std::string kDigest(64, 'a');
const std::string kOtherDigest(64, 'b');

struct Signer {
  std::string id;
  Ed25519KeyPair keys = *ed25519_generate();
};

struct GrantFixture {
  Signer carol{"carol"};
  Signer dave{"dave"};
  Signer mallory{"mallory"};  // not in the policy
  Policy policy;

  GrantFixture() {
    policy.approvers = {{"carol", format_public_key(carol.keys.public_key), false},
                        {"dave", format_public_key(dave.keys.public_key), false}};
  }

  static Grant claims(const Signer& s) {
    return Grant{kDigest, s.id, "alice", kNow, kNow + 600, *random_id(), "sha256:rev", "approve"};
  }
  static std::string sign(const Grant& g, const Signer& s) {
    return *sign_grant(g, s.keys.private_key);
  }
  static std::string sign(const Signer& s) { return sign(claims(s), s); }

  Result<Grant> verify(const std::string& token, const std::string& digest = kDigest,
                       UnixTime now = kNow) const {
    return verify_grant(token, policy, digest, "alice", now);
  }
  std::string refusal(const std::string& token, const std::string& digest = kDigest,
                      UnixTime now = kNow) const {
    auto r = verify(token, digest, now);
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  }
};

std::string contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos ? part : text;
}

std::string part(const std::string& token, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) start = token.find('.', start) + 1;
  std::size_t end = token.find('.', start);
  return token.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string b64(const std::string& json) {
  return base64url_encode(json);
}

TEST_CASE_FIXTURE(GrantFixture, "grant: a good grant verifies and carries its claims") {
  auto g = verify(sign(carol));
  REQUIRE(g.ok());
  CHECK(g->approver == "carol");
  CHECK(g->actor == "alice");
  CHECK(g->action_digest == kDigest);
  auto header = base64url_decode(part(sign(carol), 0));
  REQUIRE(header.ok());
  CHECK(std::string(header->begin(), header->end()) ==
        R"({"alg":"EdDSA","kid":"carol","typ":"stepgate-grant+jwt"})");
}

TEST_CASE_FIXTURE(GrantFixture, "grant: attacks are refused, each with its own message") {
  std::string good = sign(carol);
  CHECK(contains(refusal(good, kOtherDigest), "different action") == "different action");
  CHECK(contains(refusal(good, kDigest, kNow + 601), "expired at") == "expired at");
  CHECK(contains(refusal(sign(mallory)), "not an approver") == "not an approver");

  // Tampered payload: same signature, the digest swapped.
  Grant other = claims(carol);
  other.action_digest = kOtherDigest;
  std::string forged_payload =
      part(good, 0) + "." + part(sign(other, carol), 1) + "." + part(good, 2);
  CHECK(contains(refusal(forged_payload, kOtherDigest), "signature does not verify") ==
        "signature does not verify");

  // Tampered signature.
  std::string sig = part(good, 2);
  sig[10] = sig[10] == 'A' ? 'B' : 'A';
  CHECK(contains(refusal(part(good, 0) + "." + part(good, 1) + "." + sig),
                 "signature does not verify") == "signature does not verify");

  // Signed by mallory's key but claiming to be carol.
  Grant as_carol = claims(carol);
  CHECK(contains(refusal(*sign_grant(as_carol, mallory.keys.private_key)),
                 "signature does not verify") == "signature does not verify");

  // alg none, and other algorithms.
  std::string none = b64(R"({"alg":"none","kid":"carol","typ":"stepgate-grant+jwt"})") + "." +
                     part(good, 1) + "." + part(good, 2);
  CHECK(contains(refusal(none), "only EdDSA") == "only EdDSA");
  std::string hs = b64(R"({"alg":"HS256","kid":"carol","typ":"stepgate-grant+jwt"})") + "." +
                   part(good, 1) + "." + part(good, 2);
  CHECK(contains(refusal(hs), "only EdDSA") == "only EdDSA");

  // Truncated / malformed tokens.
  CHECK(contains(refusal(good.substr(0, good.rfind('.'))), "malformed") == "malformed");
  CHECK(contains(refusal(good.substr(0, good.size() - 5)), "signature") == "signature");
  CHECK(contains(refusal(good + ".x"), "malformed") == "malformed");
  CHECK(contains(refusal("a.b.c"), "malformed") == "malformed");
  CHECK(contains(refusal(""), "malformed") == "malformed");
  CHECK(contains(refusal("!!!." + part(good, 1) + "." + part(good, 2)), "malformed") ==
        "malformed");
}

TEST_CASE_FIXTURE(GrantFixture, "grant: future iat, self-approval and refusals") {
  Grant future = claims(carol);
  future.iat = kNow + 3600;
  future.exp = kNow + 7200;
  CHECK(contains(refusal(sign(future, carol)), "in the future") == "in the future");
  Grant skewed = claims(carol);
  skewed.iat = kNow + 30;
  CHECK(verify(sign(skewed, carol)).ok());

  Grant self = claims(carol);
  self.actor = "carol";
  auto own = verify_grant(sign(self, carol), policy, kDigest, "carol", kNow);
  REQUIRE_FALSE(own.ok());
  CHECK(contains(own.error().message, "own action") == "own action");
  policy.allow_self_approval = true;
  CHECK(verify_grant(sign(self, carol), policy, kDigest, "carol", kNow).ok());

  Grant deny = claims(dave);
  deny.decision = "deny";
  CHECK(contains(refusal(sign(deny, dave)), "refused this action") == "refused this action");
}

TEST_CASE("grant: approver keys are stored 0600 and public keys parse strictly") {
  testing::TempDir dir;
  auto keys = ed25519_generate();
  REQUIRE(keys.ok());
  REQUIRE(save_approver_key(dir.path(), "carol", *keys).ok());
  struct stat st {};
  REQUIRE(stat((dir.path() + "/keys/carol.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto loaded = load_approver_key(dir.path(), "carol");
  REQUIRE(loaded.ok());
  CHECK(*loaded == keys->private_key);
  CHECK(load_approver_key(dir.path(), "dave").error().code == ErrorCode::kNotFound);
  CHECK_FALSE(save_approver_key(dir.path(), "../x", *keys).ok());

  auto pub = parse_public_key(format_public_key(keys->public_key));
  REQUIRE(pub.ok());
  CHECK(*pub == keys->public_key);
  CHECK_FALSE(parse_public_key("rsa:AAAA").ok());
  CHECK_FALSE(parse_public_key("ed25519:AAAA").ok());
}

}  // namespace
}  // namespace stepgate
