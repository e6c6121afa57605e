// The authority in-process: who may ask, what a client layer can and cannot do, how a claimed
// actor is treated, and that every refusal lands in its audit log.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "../core/test_util.h"
#include "config.h"
#include "service.h"
#include "stepgate/authority.h"
#include "stepgate/json.h"
#include "stepgate/stepup.h"

namespace stepgate::authority {
namespace {

constexpr const char* kPolicy = R"(version: 1
name: system
thresholds: { step_up: 50, deny: 100 }
step_up: { method: totp, max_age: "0" }
rules:
  - id: migrations
    on: db.migrate
    when: action.resource == "prod-db"
    effect: step_up
    message: "needs a human"
)";

struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<Authority> authority;
  Fixture() {
    std::ofstream(dir.path() + "/policy.yaml") << kPolicy;
    AuthorityConfig c;
    c.source = "test.yaml";
    c.state_dir = dir.path() + "/state";
    c.policy = dir.path() + "/policy.yaml";
    c.actors = {{1000, "alice"}, {1001, "bob"}};
    auto opened = Authority::open(c);
    REQUIRE(opened.ok());
    authority = std::move(*opened);
  }
  Value decide(uid_t uid, const std::string& kind, const std::string& resource,
               Value extra = Map{}) {
    Value r = Map{{"v", 1},
                  {"op", "decide"},
                  {"action", Map{{"kind", kind}, {"actor", "whoever"}, {"resource", resource}}}};
    for (const auto& [k, v] : extra.as_map()) r[k] = v;
    return authority->handle(r, authority->peer_for(uid, 1));
  }
  std::string audit_text() {
    (void)authority->close();
    return *read_file(dir.path() + "/state/audit.jsonl");
  }
};

std::string final_verdict(const Value& reply) {
  const Value* o = reply.find("outcome");
  return o != nullptr ? o->get_string("final_verdict") : "";
}

TEST_CASE("authority: a client layer adds friction but never removes it") {
  Fixture f;
  const Value weaken =
      Map{{"layers",
           List{Map{{"name", "repository"}, {"text", "version: 1\nmode: shadow\nrules: []\n"}}}}};
  CHECK(final_verdict(f.decide(1000, "db.migrate", "prod-db", weaken)) == "step_up");
  const Value stricter =
      Map{{"layers", List{Map{{"name", "repository"},
                              {"text",
                               "version: 1\nrules:\n  - id: no-dev\n    on: db.migrate\n"
                               "    when: \"true\"\n    effect: deny\n    message: no\n"}}}}};
  const Value reply = f.decide(1000, "db.migrate", "dev-db", stricter);
  CHECK(final_verdict(reply) == "deny");
  // The decision names the layer that decided (core's LayeredEngine).
  CHECK(reply.find("outcome")->find("decision")->get_string("layer") == "repository");
  const Value broken = Map{{"layers", List{Map{{"name", "user"}, {"text", "version: [1"}}}}};
  CHECK(final_verdict(f.decide(1000, "db.migrate", "dev-db", broken)) == "deny");
}

TEST_CASE("authority: the kernel's uid decides the actor, and replies are signed") {
  Fixture f;
  const Value reply = f.decide(1000, "db.migrate", "dev-db");
  REQUIRE(reply.get_bool("ok"));
  CHECK(final_verdict(reply) == "allow");
  CHECK(verify_authority_signature(reply, f.authority->public_key()));
  Value tampered = reply;
  tampered["outcome"]["final_verdict"] = "deny";
  CHECK_FALSE(verify_authority_signature(tampered, f.authority->public_key()));
  const std::string log = f.audit_text();
  CHECK(log.find("\"claimed_actor\":\"whoever\"") != std::string::npos);
  CHECK(log.find("\"actor\":\"alice\"") != std::string::npos);
}

TEST_CASE("authority: refusals are typed and audited") {
  Fixture f;
  struct Case {
    uid_t uid;
    Value request;
    std::string code;
  };
  const Case cases[] = {
      {4242, Map{{"v", 1}, {"op", "hello"}}, "permission_denied"},  // unmapped uid
      {1000, Map{{"v", 2}, {"op", "hello"}}, "invalid_argument"},   // other protocol version
      {1000, Map{{"v", 1}, {"op", "nope"}}, "invalid_argument"},
      {1000, Map{{"v", 1}, {"op", "enroll_code"}, {"actor", "alice"}}, "permission_denied"},
      {1000, Map{{"v", 1}, {"op", "enroll"}}, "permission_denied"},  // no enrolment code
      {1000, Map{{"v", 1}, {"op", "enroll"}, {"actor", "bob"}}, "permission_denied"},
      {1000, Map{{"v", 1}, {"op", "approve"}, {"id", "abcd-efgh"}, {"code", "123456"}},
       "not_found"},
  };
  for (const Case& c : cases) {
    CAPTURE(to_json(c.request));
    const Value reply = f.authority->handle(c.request, f.authority->peer_for(c.uid, 1));
    CHECK_FALSE(reply.get_bool("ok"));
    CHECK(reply.find("error")->get_string("code") == c.code);
  }
  const std::string log = f.audit_text();
  std::size_t refusals = 0;
  for (std::size_t at = log.find("\"type\":\"refusal\""); at != std::string::npos;
       at = log.find("\"type\":\"refusal\"", at + 1)) {
    ++refusals;
  }
  CHECK(refusals == std::size(cases));
}

TEST_CASE("authority: a held action gets one short challenge id, reused while pending") {
  Fixture f;
  const Value first = f.decide(1000, "db.migrate", "prod-db");
  const Value second = f.decide(1000, "db.migrate", "prod-db");
  const std::string id = first.find("outcome")->find("step_up")->get_string("challenge_id");
  CHECK(id.size() == 9);
  CHECK(id[4] == '-');
  CHECK(second.find("outcome")->find("step_up")->get_string("challenge_id") == id);
  // Approving without a code, or as someone who may not, is refused.
  Peer inbox;
  inbox.via = "inbox";
  CHECK(f.authority->decide_challenge(id, ChallengeProof{"", "", ""}, true, inbox).error().code ==
        ErrorCode::kPermissionDenied);
  CHECK(f.authority->decide_challenge(id, ChallengeProof{"mallory", "123456", ""}, true, inbox)
            .error()
            .code == ErrorCode::kPermissionDenied);
}

TEST_CASE("authority config: keys, users and limits") {
  struct Case {
    std::string text;
    bool ok;
    std::string needle;  // in the error message
  };
  const Case cases[] = {
      {"socket: /run/x.sock\nstate_dir: /var/lib/x\nactors:\n  - uid: 1000\n    actor: alice\n",
       true, ""},
      {"inbox: 8741\n", true, ""},
      {"inbox: 0.0.0.0:8741\n", false, "loopback only"},
      {"socket: relative.sock\n", false, "absolute path"},
      {"colour: blue\n", false, "test.yaml:1:1: unknown key `colour`"},
      {"actors:\n  - uid: 1000\n    actor: alice\n  - uid: 1000\n    actor: bob\n", false,
       "listed twice"},
      {"actors:\n  - user: no-such-user-here\n", false, "no such user"},
      {"actors: [\n", false, "test.yaml:"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto parsed = parse_authority_config_text(c.text, "test.yaml");
    CHECK(parsed.ok() == c.ok);
    if (!c.ok && !parsed.ok()) CHECK(parsed.error().message.find(c.needle) != std::string::npos);
  }
}

}  // namespace
}  // namespace stepgate::authority
