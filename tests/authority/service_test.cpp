// The authority in-process: who may ask, what a client layer can and cannot do, how a claimed
// actor is treated, and that every refusal lands in its audit log.
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "../core/test_util.h"
#include "config.h"
#include "server.h"
#include "service.h"
#include "stepgate/authority.h"
#include "stepgate/crypto.h"
#include "stepgate/gate.h"
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
  explicit Fixture(const std::function<void(AuthorityConfig&)>& tweak = {}) {
    std::ofstream(dir.path() + "/policy.yaml") << kPolicy;
    AuthorityConfig c;
    c.source = "test.yaml";
    c.state_dir = dir.path() + "/state";
    c.policy = dir.path() + "/policy.yaml";
    c.actors = {{1000, "alice"}, {1001, "bob"}};
    if (tweak) tweak(c);
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

/// Enrols and activates `actor` as the administrator; returns the TOTP key.
Bytes enrol(Authority& authority, const std::string& actor) {
  const Peer admin = authority.peer_for(0, 1);
  const Value enrolled = authority.handle(Map{{"v", 1}, {"op", "enroll"}, {"actor", actor}}, admin);
  REQUIRE(enrolled.get_bool("ok"));
  Bytes key = *base32_decode(enrolled.get_string("secret"));
  const Value active = authority.handle(Map{{"v", 1},
                                            {"op", "activate"},
                                            {"actor", actor},
                                            {"code", totp_code(key, unix_now(), TotpParams{})}},
                                        admin);
  REQUIRE(active.get_bool("ok"));
  return key;
}

/// A code for the next time step (the activation used this one).
std::string next_code(const Bytes& key) {
  return totp_code(key, unix_now() + 30, TotpParams{});
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

TEST_CASE("authority: enrolment codes expire; an expired one is refused and audited") {
  struct Case {
    const char* name;
    std::chrono::seconds ttl;
    bool ok;
  };
  const Case cases[] = {
      {"within the default 15 minutes", std::chrono::seconds(15 * 60), true},
      {"past its time to live", std::chrono::seconds(0), false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Fixture f([&](AuthorityConfig& config) { config.enroll_code_ttl = c.ttl; });
    const Value issued = f.authority->handle(
        Map{{"v", 1}, {"op", "enroll_code"}, {"actor", "alice"}}, f.authority->peer_for(0, 1));
    REQUIRE(issued.get_bool("ok"));
    const Value enrolled = f.authority->handle(
        Map{{"v", 1}, {"op", "enroll"}, {"enrollment_code", issued.get_string("code")}},
        f.authority->peer_for(1000, 1));
    CHECK(enrolled.get_bool("ok") == c.ok);
    const std::string log = f.audit_text();
    CHECK((log.find("has expired") != std::string::npos) == !c.ok);
  }
}

TEST_CASE("authority: audit access tokens are issued by the administrator and kept hashed") {
  Fixture f;
  const Value request = Map{{"v", 1}, {"op", "audit_token"}};
  const Value refused = f.authority->handle(request, f.authority->peer_for(1000, 1));
  CHECK(refused.find("error")->get_string("code") == "permission_denied");
  const Value first = f.authority->handle(request, f.authority->peer_for(0, 1));
  const Value second = f.authority->handle(request, f.authority->peer_for(0, 1));
  REQUIRE(first.get_bool("ok"));
  REQUIRE(second.get_bool("ok"));
  const std::string token = first.get_string("token");
  struct Case {
    std::string token;
    bool valid;
  };
  const Case cases[] = {
      {token, true},
      {second.get_string("token"), true},
      {token + "x", false},
      {token.substr(0, token.size() - 1), false},
      {sha256_hex(token), false},  // the stored hash is not a token
      {"", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.token);
    CHECK(f.authority->audit_token_valid(c.token) == c.valid);
  }
  const std::string file = f.dir.path() + "/state/secrets/audit-tokens";
  CHECK(read_file(file)->find(token) == std::string::npos);
  CHECK((std::filesystem::status(file).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
}

TEST_CASE("authority: core's Approvals decides a held challenge; the approval works once") {
  Fixture f;
  const Bytes alice = enrol(*f.authority, "alice");
  const std::string id = f.decide(1000, "db.migrate", "prod-db")
                             .find("outcome")
                             ->find("step_up")
                             ->get_string("challenge_id");
  Peer inbox;
  inbox.via = "inbox";
  // Bob is neither an approver nor the actor; alice's wrong code is refused; her code approves.
  CHECK(f.authority->decide_challenge(id, ChallengeProof{"bob", "123456", ""}, true, inbox)
            .error()
            .code == ErrorCode::kPermissionDenied);
  const std::string code = next_code(alice);
  const std::string wrong = code == "000000" ? "111111" : "000000";
  CHECK(
      f.authority->decide_challenge(id, ChallengeProof{"", wrong, ""}, true, inbox).error().code ==
      ErrorCode::kPermissionDenied);
  auto approved = f.authority->decide_challenge(id, ChallengeProof{"", code, ""}, true, inbox);
  REQUIRE(approved.ok());
  CHECK(approved->decided_by == "alice");
  CHECK(final_verdict(f.decide(1000, "db.migrate", "prod-db")) == "allow");
  CHECK(final_verdict(f.decide(1000, "db.migrate", "prod-db")) == "step_up");
}

TEST_CASE("authority: a pooled front-end Gate with no local policy asks the authority") {
  const uid_t me = ::getuid();
  testing::TempDir sockets;
  Fixture f([&](AuthorityConfig& c) {
    c.socket = sockets.path() + "/a.sock";
    c.actors[me] = "alice";
  });
  std::atomic<bool> stop{false};
  std::ostringstream log;
  std::thread server([&] { (void)serve(*f.authority, stop, log); });
  for (int i = 0; i < 200 && !std::filesystem::exists(f.authority->config().socket); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string home = f.dir.path() + "/front";
  std::filesystem::create_directories(home + "/config");
  std::ofstream(home + "/config/config.yaml")
      << "authority:\n  socket: " << f.authority->config().socket
      << "\n  public_key: " << f.authority->public_key() << "\n";
  GateOptions o;
  o.cwd = home;
  o.env = Env(std::vector<std::string>{"HOME=" + home});
  o.system_policy_path = home + "/no-system-policy.yaml";
  o.paths = Paths{home + "/config", home + "/state", home + "/secrets", home + "/state/state.db",
                  home + "/state/audit.jsonl"};
  o.front_end = "test";
  GatePool pool;
  auto gate = pool.get(o);  // no policy file anywhere here: the authority's policy decides
  REQUIRE_MESSAGE(gate.ok(), gate.error().message);
  CHECK((*gate)->remote());
  CHECK(*pool.get(o) == *gate);  // pooled

  GateRequest request;
  request.action = Action{"db.migrate", "alice", "prod-db", Map{}};
  NoTerminalStepUpIo io;
  const GateOutcome held = (*gate)->run(request, io);
  CHECK(held.final_verdict == Verdict::kStepUp);
  const std::string id = held.step_up.challenge.id;
  auto pending = (*gate)->find_challenge(id);  // what the shim's hold mode polls
  REQUIRE(pending.ok());
  REQUIRE(pending->has_value());
  CHECK((*pending)->state == ChallengeState::kPending);
  CHECK((*pending)->action_digest == held.decision.action_digest);
  const Bytes alice = enrol(*f.authority, "alice");
  Peer inbox;
  inbox.via = "inbox";
  REQUIRE(f.authority->decide_challenge(id, ChallengeProof{"", next_code(alice), ""}, true, inbox)
              .ok());
  auto approved = (*gate)->find_challenge(id);
  REQUIRE(approved.ok());
  REQUIRE(approved->has_value());
  CHECK((*approved)->state == ChallengeState::kApproved);
  CHECK((*gate)->run(request, io).final_verdict == Verdict::kAllow);
  auto none = (*gate)->find_challenge("zzzz-zzzz");
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  stop = true;
  server.join();
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
      {"enroll_code_ttl: 30m\n", true, ""},
      {"enroll_code_ttl: 0s\n", false, "positive duration"},
      {"audit_sync: batch\n", true, ""},
      {"audit_sync: sometimes\n", false, "expected durable or batch"},
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
