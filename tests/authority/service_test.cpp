// The authority in-process: who may ask, what a client layer can and cannot do, how a claimed
// actor is treated, and that every refusal lands in its audit log.
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
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
#include "stepgate/audit.h"
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
  // The authority's clock: stopped at the fixture's start, moved on only by a test.
  std::shared_ptr<std::atomic<int64_t>> ahead = std::make_shared<std::atomic<int64_t>>(0);
  explicit Fixture(const std::function<void(AuthorityConfig&)>& tweak = {},
                   const std::string& policy = kPolicy) {
    std::ofstream(dir.path() + "/policy.yaml") << policy;
    AuthorityConfig c;
    c.source = "test.yaml";
    c.state_dir = dir.path() + "/state";
    c.policy = dir.path() + "/policy.yaml";
    c.actors = {{1000, "alice"}, {1001, "bob"}};
    if (tweak) tweak(c);
    auto opened =
        Authority::open(c, [ahead = ahead, start = unix_now()] { return start + ahead->load(); });
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

/// The id of the challenge a decide reply was held under ("" when it was not held).
std::string challenge_of(const Value& reply) {
  const Value* outcome = reply.find("outcome");
  const Value* step_up = outcome != nullptr ? outcome->find("step_up") : nullptr;
  return step_up != nullptr ? step_up->get_string("challenge_id") : "";
}

/// A request that came in at the inbox.
Peer inbox_peer() {
  Peer p;
  p.via = "inbox";
  return p;
}

/// Enrols and activates `actor` as the administrator; returns the TOTP key.
Bytes enrol(Authority& authority, const std::string& actor) {
  const Peer admin = authority.peer_for(0, 1);
  const Value enrolled = authority.handle(Map{{"v", 1}, {"op", "enroll"}, {"actor", actor}}, admin);
  REQUIRE(enrolled.get_bool("ok"));
  Bytes key = *base32_decode(enrolled.get_string("secret"));
  const Value active =
      authority.handle(Map{{"v", 1},
                           {"op", "activate"},
                           {"actor", actor},
                           {"code", totp_code(key, authority.now(), TotpParams{})}},
                       admin);
  REQUIRE(active.get_bool("ok"));
  return key;
}

ChallengeProof by_code(const std::string& approver, const std::string& code) {
  ChallengeProof p;
  p.approver = approver;
  p.code = code;
  return p;
}

ChallengeProof by_grant(const std::string& grant) {
  ChallengeProof p;
  p.grant = grant;
  return p;
}

/// A code for the next time step (the activation used this one).
std::string next_code(const Authority& authority, const Bytes& key) {
  return totp_code(key, authority.now() + 30, TotpParams{});
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
  const Peer inbox = inbox_peer();
  CHECK(f.authority->decide_challenge(id, by_code("", ""), true, inbox).error().code ==
        ErrorCode::kPermissionDenied);
  CHECK(f.authority->decide_challenge(id, by_code("mallory", "123456"), true, inbox).error().code ==
        ErrorCode::kPermissionDenied);
}

TEST_CASE("authority: enrolment codes expire by the authority's clock; refusals are audited") {
  struct Case {
    const char* name;
    int64_t later;  // seconds on the authority's clock between issue and use
    bool ok;
  };
  const Case cases[] = {
      {"at once", 0, true},
      {"a second before the 15 minutes are up", 15 * 60 - 1, true},
      {"at 15 minutes", 15 * 60, false},
      {"a day later", 24 * 3600, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Fixture f;
    const Value issued = f.authority->handle(
        Map{{"v", 1}, {"op", "enroll_code"}, {"actor", "alice"}}, f.authority->peer_for(0, 1));
    REQUIRE(issued.get_bool("ok"));
    *f.ahead += c.later;
    const Value enrolled = f.authority->handle(
        Map{{"v", 1}, {"op", "enroll"}, {"enrollment_code", issued.get_string("code")}},
        f.authority->peer_for(1000, 1));
    CHECK(enrolled.get_bool("ok") == c.ok);
    const std::string log = f.audit_text();
    CHECK((log.find("has expired") != std::string::npos) == !c.ok);
    // The code file keeps a hash and the issue time, never the code.
    const std::string codes = *read_file(f.authority->config().enroll_codes_file());
    CHECK(codes.find(issued.get_string("code")) == std::string::npos);
  }
}

TEST_CASE("authority: the held challenge and its expiry follow the authority's clock") {
  Fixture f;
  const Value held = f.decide(1000, "db.migrate", "prod-db");
  const Value* step_up = held.find("outcome")->find("step_up");
  CHECK(step_up->get_int("created_at") == f.authority->now());
  REQUIRE(f.authority->pending_challenges()->size() == 1);
  *f.ahead += 24 * 3600;  // past any challenge's life
  CHECK(f.authority->pending_challenges()->empty());
  const Value later = f.decide(1000, "db.migrate", "prod-db");
  CHECK(later.find("outcome")->find("step_up")->get_int("created_at") ==
        step_up->get_int("created_at") + 24 * 3600);
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
  const std::string id = challenge_of(f.decide(1000, "db.migrate", "prod-db"));
  const Peer inbox = inbox_peer();
  // Bob is neither an approver nor the actor; alice's wrong code is refused; her code approves.
  CHECK(f.authority->decide_challenge(id, by_code("bob", "123456"), true, inbox).error().code ==
        ErrorCode::kPermissionDenied);
  const std::string code = next_code(*f.authority, alice);
  const std::string wrong = code == "000000" ? "111111" : "000000";
  CHECK(f.authority->decide_challenge(id, by_code("", wrong), true, inbox).error().code ==
        ErrorCode::kPermissionDenied);
  auto approved = f.authority->decide_challenge(id, by_code("", code), true, inbox);
  REQUIRE(approved.ok());
  CHECK(approved->decided_by == "alice");
  CHECK(final_verdict(f.decide(1000, "db.migrate", "prod-db")) == "allow");
  CHECK(final_verdict(f.decide(1000, "db.migrate", "prod-db")) == "step_up");
}

TEST_CASE("authority: an approval held for a weaker requirement does not satisfy a stricter one") {
  Fixture f;
  const Bytes alice = enrol(*f.authority, "alice");
  // Held for alice's own code (the system policy), and approved with it.
  const std::string id = challenge_of(f.decide(1000, "db.migrate", "prod-db"));
  const Peer inbox = inbox_peer();
  REQUIRE(
      f.authority->decide_challenge(id, by_code("", next_code(*f.authority, alice)), true, inbox)
          .ok());
  // The same action now needs an approver (here a client layer adds that; the authority's own
  // signals, such as velocity, can do the same): alice's approval must not stand in for one.
  const Value needs_approver =
      Map{{"layers", List{Map{{"name", "repository"},
                              {"text",
                               "version: 1\nrules:\n  - id: second-pair-of-eyes\n"
                               "    on: db.migrate\n    when: \"true\"\n    effect: step_up\n"
                               "    step_up: { method: approval }\n    message: an approver\n"}}}}};
  const Value stricter = f.decide(1000, "db.migrate", "prod-db", needs_approver);
  CHECK(final_verdict(stricter) == "step_up");
  const Value* step_up = stricter.find("outcome")->find("step_up");
  REQUIRE(step_up != nullptr);
  CHECK(step_up->get_string("challenge_id") != id);  // held anew, for an approver
  // The weaker approval was spent without effect: the plain action is held again too.
  CHECK(final_verdict(f.decide(1000, "db.migrate", "prod-db")) == "step_up");
  CHECK(f.audit_text().find("\"outcome\":\"superseded\"") != std::string::npos);
}

/// `authority serve` on a thread for the test's length, its socket there once constructed.
struct Serving {
  std::atomic<bool> stop{false};
  std::ostringstream log;
  std::thread thread;
  explicit Serving(Authority& authority)
      : thread([this, &authority] { (void)serve(authority, stop, log); }) {
    for (int i = 0; i < 200 && !std::filesystem::exists(authority.config().socket); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~Serving() { end(); }
  Serving(const Serving&) = delete;
  Serving& operator=(const Serving&) = delete;
  void end() {
    if (!thread.joinable()) return;
    stop = true;
    thread.join();
  }
};

/// An authority serving its socket, with this process's uid as the actor "alice".
struct Served {
  testing::TempDir sockets;
  Fixture f{[this](AuthorityConfig& c) {
    c.socket = sockets.path() + "/a.sock";
    c.actors[::getuid()] = "alice";
  }};
  Serving server{*f.authority};
  [[nodiscard]] const std::string& socket() const { return f.authority->config().socket; }
  /// The final verdict on a tool call decided over a new connection that waits at most
  /// `timeout_seconds` for the answer to start ("" when none came).
  std::string decide_anew(int timeout_seconds) {
    auto connection = AuthorityConnection::connect(socket(), timeout_seconds);
    if (!connection.ok()) return "";
    auto reply = call_authority(
        **connection,
        Map{{"op", "decide"}, {"action", Map{{"kind", "tool.call"}, {"resource", "x/ls"}}}},
        f.authority->public_key());
    return reply.ok() ? final_verdict(*reply) : "";
  }
};

/// A connection to `path` for a peer that speaks the wire by hand.
int raw_connect(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

/// A peer that sends half a frame's header, then nothing.
int half_frame_peer(const std::string& path) {
  const int fd = raw_connect(path);
  const char start[3] = {0, 0, 1};
  REQUIRE(::write(fd, start, sizeof start) == 3);
  return fd;
}

/// True when the authority closes `fd` within `timeout_ms`: the peer reads the end of the stream.
bool closed_by_authority(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return false;
  char byte = 0;
  return ::read(fd, &byte, 1) == 0;
}

/// The fixture's setting for an authority on a socket in `sockets`, this process's uid alice.
std::function<void(AuthorityConfig&)> on_socket_in(const testing::TempDir& sockets) {
  return [path = sockets.path()](AuthorityConfig& c) {
    c.socket = path + "/a.sock";
    c.actors[::getuid()] = "alice";
  };
}

/// A front-end's options with no policy of its own and a user config naming `f`'s authority
/// (socket and pinned key), in a fresh home under the fixture's directory.
GateOptions front_end_of(const Fixture& f) {
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
  return o;
}

TEST_CASE("authority: a pooled front-end Gate with no local policy asks the authority") {
  testing::TempDir sockets;
  Fixture f(on_socket_in(sockets));
  Serving server(*f.authority);
  const GateOptions o = front_end_of(f);
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
  const Peer inbox = inbox_peer();
  REQUIRE(
      f.authority->decide_challenge(id, by_code("", next_code(*f.authority, alice)), true, inbox)
          .ok());
  auto approved = (*gate)->find_challenge(id);
  REQUIRE(approved.ok());
  REQUIRE(approved->has_value());
  CHECK((*approved)->state == ChallengeState::kApproved);
  CHECK((*gate)->run(request, io).final_verdict == Verdict::kAllow);
  auto none = (*gate)->find_challenge("zzzz-zzzz");
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
}

TEST_CASE(
    "authority: a front-end takes on_error from its kept copy of the policy only while fresh") {
  testing::TempDir sockets;
  const std::string lenient = std::string(kPolicy) + "on_error: allow\n";
  Fixture f(on_socket_in(sockets), lenient);
  const GateOptions o = front_end_of(f);
  GateRequest request;
  request.action = Action{"db.migrate", "alice", "dev-db", Map{}};
  NoTerminalStepUpIo io;
  // The verdict of a Gate opened now, with the authority down: its kept copy decides on_error.
  const auto offline_verdict = [&] {
    auto gate = Gate::open(o);
    REQUIRE_MESSAGE(gate.ok(), gate.error().message);
    return (*gate)->run(request, io).final_verdict;
  };
  // A copy signed two hours ago (the authority's clock then), kept, put back by the user: the
  // authority is down, and the old copy's on_error: allow is not taken.
  f.ahead->store(-7200);
  {
    Serving server(*f.authority);
    auto gate = Gate::open(o);  // fetches the policy and keeps the signed copy
    REQUIRE(gate.ok());
    CHECK((*gate)->run(request, io).final_verdict == Verdict::kAllow);
  }
  CHECK(offline_verdict() == Verdict::kDeny);
  // A copy from just now is: on_error: allow, as the authority's policy says.
  f.ahead->store(0);
  {
    Serving server(*f.authority);
    REQUIRE(Gate::open(o).ok());
  }
  CHECK(offline_verdict() == Verdict::kAllow);
}

constexpr const char* kBaselinePolicy = R"(version: 1
name: baselines
thresholds: { step_up: 50, deny: 100 }
rules:
  - id: first-time-on-a-resource
    on: deploy
    when: signals.new_resource
    effect: step_up
    message: "first deploy here"
  - id: burst
    on: deploy
    when: signals.volume_z > 3.0
    effect: deny
    message: "a burst"
  - id: odd-hour
    on: deploy
    when: signals.unusual_hour
    effect: deny
    message: "odd hour"
)";

TEST_CASE(
    "authority: the behavioural baselines come from its store; a client's values are not "
    "believed") {
  struct Case {
    const char* name;
    Value signals;  // what the client sends
    std::string verdict;
  };
  const Case cases[] = {
      {"nothing sent: a first deploy on prod is new", Map{}, "step_up"},
      {"a client saying it is not new", Map{{"new_resource", false}}, "step_up"},
      {"a client sending a reason too",
       Map{{"new_resource", false}, {"new_resource_reason", "seen before"}}, "step_up"},
      {"a client claiming a burst", Map{{"volume_z", 50.0}}, "step_up"},
      {"a client claiming an odd hour", Map{{"unusual_hour", true}}, "step_up"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Fixture f({}, kBaselinePolicy);
    const Value reply = f.decide(1000, "deploy", "prod", Map{{"signals", c.signals}});
    CHECK(final_verdict(reply) == c.verdict);
    const Value* signals = reply.find("outcome")->find("signals");
    CHECK(signals->get_bool("new_resource"));
    CHECK(signals->get_string("new_resource_reason") == "first deploy by alice on prod");
    CHECK_FALSE(signals->get_bool("unusual_hour"));
  }
}

TEST_CASE("authority: an allowed action is remembered for new_resource in its own store") {
  Fixture f({}, kBaselinePolicy);
  const Bytes alice = enrol(*f.authority, "alice");
  const Value held = f.decide(1000, "deploy", "prod");
  REQUIRE(final_verdict(held) == "step_up");
  const std::string id = held.find("outcome")->find("step_up")->get_string("challenge_id");
  const Peer inbox = inbox_peer();
  REQUIRE(
      f.authority->decide_challenge(id, by_code("", next_code(*f.authority, alice)), true, inbox)
          .ok());
  CHECK(final_verdict(f.decide(1000, "deploy", "prod")) == "allow");
  // Now prod is known to alice (the authority's store): no step-up, whatever she sends.
  const Value again =
      f.decide(1000, "deploy", "prod", Map{{"signals", Map{{"new_resource", true}}}});
  CHECK(final_verdict(again) == "allow");
  CHECK_FALSE(again.find("outcome")->find("signals")->get_bool("new_resource"));
}

std::string grant_policy(const std::string& bob_public_key) {
  return std::string(R"(version: 1
name: grants
thresholds: { step_up: 50, deny: 100 }
approvers:
  - id: bob
    public_key: )") +
         bob_public_key + R"(
rules:
  - id: releases-need-an-approver
    on: release.publish
    when: "true"
    effect: step_up
    step_up: { method: approval, approvers: 1 }
    message: "a release needs an approver"
)";
}

/// A grant bob signs offline with his own key for the action with `digest`.
std::string bob_grant(const Authority& authority, const Ed25519KeyPair& bob,
                      const std::string& digest, const std::string& jti = "jti-1",
                      const std::string& decision = "approve") {
  const UnixTime now = authority.now();
  Grant g{digest, "bob", "alice", now, now + 600, jti, "", decision};
  return *sign_grant(g, bob.private_key);
}

TEST_CASE("authority: the inbox takes an approver's signed grant; a grant works once") {
  const Ed25519KeyPair bob = *ed25519_generate();
  Fixture f({}, grant_policy(format_public_key(bob.public_key)));
  const Peer inbox = inbox_peer();
  auto hold = [&](const std::string& resource) {
    const Value reply = f.decide(1000, "release.publish", resource);
    REQUIRE(final_verdict(reply) == "step_up");
    const Value* step_up = reply.find("outcome")->find("step_up");
    return std::pair{step_up->get_string("challenge_id"),
                     reply.find("outcome")->find("decision")->get_string("action_digest")};
  };
  const auto [id, digest] = hold("v1");
  const std::string grant = bob_grant(*f.authority, bob, digest);
  const auto [other_id, other_digest] = hold("v2");

  // A grant for another action is refused, and is not spent by the refusal.
  auto wrong = f.authority->decide_challenge(other_id, by_grant(grant), true, inbox);
  CHECK(wrong.error().code == ErrorCode::kPermissionDenied);
  // A grant from a key that is not bob's is refused.
  const Ed25519KeyPair mallory = *ed25519_generate();
  auto forged = f.authority->decide_challenge(
      id, by_grant(bob_grant(*f.authority, mallory, digest, "jti-2")), true, inbox);
  CHECK(forged.error().code == ErrorCode::kPermissionDenied);

  auto approved = f.authority->decide_challenge(id, by_grant(grant), true, inbox);
  REQUIRE_MESSAGE(approved.ok(), approved.error().message);
  CHECK(approved->decided_by == "bob");
  CHECK(final_verdict(f.decide(1000, "release.publish", "v1")) == "allow");

  // The same action again is held again; the same grant is refused, in the inbox and on the socket.
  const auto [again_id, again_digest] = hold("v1");
  CHECK(again_digest == digest);
  auto replayed = f.authority->decide_challenge(again_id, by_grant(grant), true, inbox);
  REQUIRE_FALSE(replayed.ok());
  CHECK(replayed.error().code == ErrorCode::kPermissionDenied);
  CHECK(replayed.error().message.find("already used") != std::string::npos);
  const Value socket_replay =
      f.authority->handle(Map{{"v", 1}, {"op", "approve"}, {"id", again_id}, {"grant", grant}},
                          f.authority->peer_for(1001, 1));
  CHECK(socket_replay.find("error")->get_string("code") == "permission_denied");
  CHECK(final_verdict(f.decide(1000, "release.publish", "v1", Map{{"grants", List{grant}}})) ==
        "step_up");
  const std::string log = f.audit_text();
  CHECK(log.find("\"method\":\"grant\"") != std::string::npos);
  CHECK(log.find("already used") != std::string::npos);
}

TEST_CASE("authority: a grant handed to `decide` cannot then approve in the inbox") {
  const Ed25519KeyPair bob = *ed25519_generate();
  Fixture f({}, grant_policy(format_public_key(bob.public_key)));
  const Peer inbox = inbox_peer();
  const Value held = f.decide(1000, "release.publish", "v1");
  const std::string digest = held.find("outcome")->find("decision")->get_string("action_digest");
  const std::string grant = bob_grant(*f.authority, bob, digest);
  CHECK(final_verdict(f.decide(1000, "release.publish", "v1", Map{{"grants", List{grant}}})) ==
        "allow");
  const Value again = f.decide(1000, "release.publish", "v1");
  const std::string id = again.find("outcome")->find("step_up")->get_string("challenge_id");
  CHECK_FALSE(f.authority->decide_challenge(id, by_grant(grant), true, inbox).ok());
}

TEST_CASE("authority: a reply is signed over the client's nonce unless it asks for none") {
  Fixture f;
  struct Case {
    const char* name;
    Value extra;
    bool signed_reply;
    std::string nonce;
  };
  const Case cases[] = {
      {"by default", Map{}, true, ""},
      {"with a nonce: echoed under the signature", Map{{"nonce", "n-123"}}, true, "n-123"},
      {"sign: false (a proven connection)", Map{{"sign", false}}, false, ""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const Value reply = f.decide(1000, "db.migrate", "dev-db", c.extra);
    CHECK(final_verdict(reply) == "allow");
    CHECK((reply.find("signature") != nullptr) == c.signed_reply);
    CHECK(reply.get_string("nonce") == c.nonce);
    if (c.signed_reply) CHECK(verify_authority_signature(reply, f.authority->public_key()));
  }
}

/// A socket that answers every frame with `reply`, as something squatting the authority's
/// socket with a recorded answer would.
struct FakeAuthority {
  std::string socket;
  int fd = -1;
  std::atomic<bool> stop{false};
  std::thread thread;
  FakeAuthority(const std::string& path, Value reply) : socket(path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    thread = std::thread([this, reply = std::move(reply)] {
      while (!stop) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) != 1) continue;
        const int c = ::accept(fd, nullptr, nullptr);
        while (c >= 0 && read_authority_frame(c, kAuthorityMaxFrameBytes, 2000).ok()) {
          (void)write_authority_frame(c, to_json(reply));
        }
        if (c >= 0) ::close(c);
      }
    });
  }
  ~FakeAuthority() {
    stop = true;
    thread.join();
    ::close(fd);
  }
};

TEST_CASE("authority client: only an answer signed over this connection's nonce proves the key") {
  Fixture f;
  testing::TempDir sockets;
  const std::string key = f.authority->public_key();
  const Value recorded = f.decide(1000, "db.migrate", "dev-db", Map{{"nonce", "old-nonce"}});
  REQUIRE(verify_authority_signature(recorded, key));
  Value unsigned_reply = recorded;
  unsigned_reply.as_map().erase("signature");
  const Ed25519KeyPair other = *ed25519_generate();
  struct Case {
    const char* name;
    Value reply;
    std::string pinned;
    bool forged;
  };
  const Case cases[] = {
      {"a recorded, well-signed answer (another nonce)", recorded, key, true},
      {"an unsigned answer", unsigned_reply, key, true},
      {"signed, but the pin is another key", recorded, format_public_key(other.public_key), true},
      {"no key pinned: nothing to check", unsigned_reply, "", false},
  };
  int n = 0;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    FakeAuthority fake(sockets.path() + "/fake" + std::to_string(n++) + ".sock", c.reply);
    auto connection = AuthorityConnection::connect(fake.socket);
    REQUIRE(connection.ok());
    bool forged = false;
    auto reply = call_authority(**connection, Map{{"op", "decide"}}, c.pinned, &forged);
    CHECK(forged == c.forged);
    CHECK(reply.ok() == !c.forged);
    CHECK((*connection)->proven() == (!c.forged && !c.pinned.empty()));
  }
}

TEST_CASE("authority client: a proven connection asks for unsigned answers, and gets them") {
  testing::TempDir sockets;
  Fixture f(on_socket_in(sockets));
  Serving server(*f.authority);
  auto connection = AuthorityConnection::connect(f.authority->config().socket);
  REQUIRE(connection.ok());
  const Value request =
      Map{{"op", "decide"}, {"action", Map{{"kind", "db.migrate"}, {"resource", "dev-db"}}}};
  auto first = call_authority(**connection, request, f.authority->public_key());
  REQUIRE(first.ok());
  CHECK(first->find("signature") != nullptr);
  CHECK_FALSE(first->get_string("nonce").empty());
  CHECK((*connection)->proven());
  auto second = call_authority(**connection, request, f.authority->public_key());
  REQUIRE(second.ok());
  CHECK(second->find("signature") == nullptr);
  CHECK(second->find("outcome")->get_string("final_verdict") == "allow");
}

TEST_CASE("authority: concurrent proven connections are each answered, in order, and audited") {
  // Durable: the answers go out from the audit log's thread after each group's fsync (a
  // worker hands them over); batch: from the worker.
  for (const bool durable : {true, false}) {
    CAPTURE(durable);
    const uid_t me = ::getuid();
    testing::TempDir sockets;
    Fixture f([&](AuthorityConfig& c) {
      c.socket = sockets.path() + "/a.sock";
      c.actors[me] = "alice";
      c.audit_durable = durable;
    });
    Serving server(*f.authority);
    constexpr int kClients = 8;
    constexpr int kEach = 50;
    std::atomic<int> answered{0};
    std::atomic<int> wrong{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        auto connection = AuthorityConnection::connect(f.authority->config().socket);
        if (!connection.ok()) return;
        for (int i = 0; i < kEach; ++i) {
          // Each answer must be for this request: the resource comes back in the digest's action.
          const std::string resource = "db-" + std::to_string(c) + "-" + std::to_string(i);
          const Value request = Map{
              {"op", "decide"}, {"action", Map{{"kind", "db.migrate"}, {"resource", resource}}}};
          auto reply = call_authority(**connection, request, f.authority->public_key());
          const Action action{"db.migrate", "alice", resource, Map{}};
          if (reply.ok() && reply->find("outcome")->find("decision")->get_string("action_digest") ==
                                action_digest(action)) {
            ++answered;
          } else {
            ++wrong;
          }
        }
      });
    }
    for (auto& t : clients) t.join();
    server.end();  // the audit log is read below
    CHECK(answered == kClients * kEach);
    CHECK(wrong == 0);
    const std::string audit = f.audit_text();
    std::size_t decisions = 0;
    for (std::size_t at = audit.find("\"type\":\"decision\""); at != std::string::npos;
         at = audit.find("\"type\":\"decision\"", at + 1)) {
      ++decisions;
    }
    CHECK(decisions == std::size_t{kClients * kEach});
  }
}

TEST_CASE("authority: a second authority on the same state directory is refused at open") {
  Fixture fx;
  CHECK(final_verdict(fx.decide(1000, "tool.call", "x/ls")) == "allow");
  const AuthorityConfig config = fx.authority->config();
  auto second = Authority::open(config);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().message.find("held by another process") != std::string::npos);
  fx.authority.reset();  // stopped: its successor continues the same log
  auto next = Authority::open(config);
  REQUIRE(next.ok());
  CHECK(final_verdict((*next)->handle(
            Map{{"v", 1},
                {"op", "decide"},
                {"action", Map{{"kind", "tool.call"}, {"actor", "whoever"}, {"resource", "x/ls"}}}},
            (*next)->peer_for(1000, 1))) == "allow");
  REQUIRE((*next)->close().ok());
  next->reset();
  auto report = verify_audit_log(config.audit_log());
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->records == 2);
}

TEST_CASE("authority: peers that send part of a frame and stall hold no worker, and are closed") {
  Served s;
  // More stalled peers than the authority has workers on any machine this runs on.
  const std::size_t stalled_count = 4 * std::max(8U, std::thread::hardware_concurrency());
  std::vector<int> stalled;
  for (std::size_t i = 0; i < stalled_count; ++i) {
    stalled.push_back(half_frame_peer(s.socket()));
  }
  // Another peer is answered while they stall: it gives up after 2 s, well before the 5 s a
  // stalled frame is given.
  CHECK(s.decide_anew(2) == "allow");
  // A frame that never ends is closed by the authority (5 s after its first bytes, at the next
  // sweep): the peer reads the end of the stream.
  CHECK(closed_by_authority(stalled.front(), 15000));
  for (const int fd : stalled) ::close(fd);
}

TEST_CASE("authority: one uid holding idle connections turns no one away, itself included") {
  Served s;
  // More idle connections than one uid may hold (64), and more than the authority used to hold
  // for everyone together (128, after which every new connection was closed unanswered).
  std::vector<int> idle(200);
  for (int& fd : idle) fd = raw_connect(s.socket());
  // A request on a new connection is answered: the uid's longest-idle connections were closed to
  // make room for it.
  CHECK(s.decide_anew(10) == "allow");
  CHECK(closed_by_authority(idle.front(), 10000));
  for (const int fd : idle) ::close(fd);
}

TEST_CASE("authority: one uid sending half frames holds no more of its share than idle ones") {
  Served s;
  std::vector<int> stalled(100);
  for (int& fd : stalled) fd = half_frame_peer(s.socket());
  // Time for the authority to read those half frames (the 5 s a frame is given is far off).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(s.decide_anew(10) == "allow");
  for (const int fd : stalled) ::close(fd);
}

/// Sends malformed frames on `fd` one at a time, each once the authority has answered the last,
/// and never reads the answers: until the authority stops answering (its writes to this peer have
/// no more room) or drops the peer. Returns how many were answered.
int flood_unread_refusals(int fd) {
  const std::string bad = "not json";
  const auto n = static_cast<uint32_t>(bad.size());
  std::string frame = {static_cast<char>(n >> 24), static_cast<char>((n >> 16) & 0xff),
                       static_cast<char>((n >> 8) & 0xff), static_cast<char>(n & 0xff)};
  frame += bad;
  int answered = 0;
  int queued = 0;
  for (;;) {
    if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(frame.size())) {
      return answered;  // dropped
    }
    bool grew = false;
    for (int waited_us = 0; waited_us < 500'000 && !grew; waited_us += 100) {
      pollfd closed{fd, POLLRDHUP, 0};
      if (::poll(&closed, 1, 0) == 1) return answered;  // dropped (its answers still unread)
      int now = 0;
      ::ioctl(fd, FIONREAD, &now);
      grew = now > queued;
      if (grew) {
        queued = now;
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
    if (!grew) return answered;
    ++answered;
  }
}

TEST_CASE("authority: a peer that does not read its refusals is dropped, and holds no worker") {
  Served s;
  // One more such peer than the authority has workers: a worker that waited for room to write a
  // refusal (5 s) was held by each, and every other peer waited.
  const std::size_t peers = std::max(2U, std::thread::hardware_concurrency()) + 1;
  std::vector<int> flooders;
  for (std::size_t i = 0; i < peers; ++i) {
    const int fd = raw_connect(s.socket());
    CHECK(flood_unread_refusals(fd) > 0);
    flooders.push_back(fd);
  }
  // Another peer is answered meanwhile, well within those 5 s.
  CHECK(s.decide_anew(3) == "allow");
  for (const int fd : flooders) ::close(fd);
}

TEST_CASE("authority: what incomplete requests hold together is capped") {
  Served s;
  // Ten peers each announce an 8 MB request (the largest a frame may be) and send 7 MiB of it:
  // together past the 64 MiB the authority holds for incomplete requests. Whoever goes over is
  // refused and closed.
  constexpr uint32_t kAnnounced = 8'000'000;
  const std::string chunk(1 << 20, ' ');
  std::vector<int> peers;
  std::vector<std::thread> senders;
  for (int i = 0; i < 10; ++i) {
    const int fd = raw_connect(s.socket());
    peers.push_back(fd);
    senders.emplace_back([&, fd] {
      const char header[4] = {
          static_cast<char>(kAnnounced >> 24), static_cast<char>((kAnnounced >> 16) & 0xff),
          static_cast<char>((kAnnounced >> 8) & 0xff), static_cast<char>(kAnnounced & 0xff)};
      bool ok = ::send(fd, header, 4, MSG_NOSIGNAL) == 4;
      for (int mb = 0; ok && mb < 7; ++mb) {
        std::size_t sent = 0;
        while (ok && sent < chunk.size()) {
          const ssize_t n = ::send(fd, chunk.data() + sent, chunk.size() - sent, MSG_NOSIGNAL);
          ok = n > 0;
          if (ok) sent += static_cast<std::size_t>(n);
        }
      }
    });
  }
  for (auto& t : senders) t.join();
  // Whoever was cut off is told why, in a frame (the authority may still be reading the last
  // bytes sent: wait for the first answer).
  std::vector<pollfd> waiting;
  for (const int fd : peers) waiting.push_back(pollfd{fd, POLLIN, 0});
  REQUIRE(::poll(waiting.data(), waiting.size(), 15000) >= 1);
  int told = 0;
  for (const pollfd& p : waiting) {
    if ((p.revents & POLLIN) == 0) continue;
    auto reply = read_authority_frame(p.fd, kAuthorityMaxFrameBytes, 1000);
    if (reply.ok() && reply->find("holding more than 64 MiB") != std::string::npos) ++told;
  }
  CHECK(told >= 1);
  // The others still wait; a new request is answered meanwhile.
  CHECK(s.decide_anew(5) == "allow");
  for (const int fd : peers) ::close(fd);
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
