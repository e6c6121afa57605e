#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <fstream>
#include <sstream>

#include "stepgate/stepup.h"
#include "test_util.h"

namespace stepgate {
namespace {

constexpr UnixTime kNow = 1700000000;

/// Test double for the terminal only: answers prompts from a queue and records notices.
class FakeTerminal : public StepUpIo {
 public:
  bool terminal = true;
  std::deque<std::string> answers;
  int prompts = 0;
  std::vector<std::string> notices;

  bool has_terminal() override { return terminal; }
  Result<std::string> prompt_secret(const std::string&, std::chrono::seconds) override {
    ++prompts;
    if (answers.empty()) return make_error(ErrorCode::kUnavailable, "no code entered in time");
    std::string a = answers.front();
    answers.pop_front();
    return a;
  }
  void notice(const std::string& text) override { notices.push_back(text); }
};

struct StepUpFixture {
  testing::TempDir dir;
  std::unique_ptr<StateStore> store = testing::open_test_store(dir);
  std::unique_ptr<AuditLog> audit;
  Paths paths;
  Policy policy;
  Ed25519KeyPair carol = *ed25519_generate();
  Ed25519KeyPair dave = *ed25519_generate();
  TotpEnrollment totp{"alice", *random_bytes(20), {}, true};
  Action action{"git.push", "alice", "refs/heads/main", Map{{"remote", "origin"}}};
  FakeTerminal io;

  StepUpFixture() {
    paths = Paths{dir.path(), dir.path(), dir.path(), dir.path() + "/state.db",
                  dir.path() + "/audit.jsonl"};
    auto log = AuditLog::open(paths.audit_log);
    if (log) audit = std::move(*log);
    policy.approvers = {{"carol", format_public_key(carol.public_key), false},
                        {"dave", format_public_key(dave.public_key), false}};
    Rule rule;
    rule.id = "force-push";
    rule.when = *Expression::compile("signals.force == true");
    rule.effect = Verdict::kStepUp;
    policy.rules.push_back(rule);
    REQUIRE(save_totp_enrollment(paths.secrets_dir, totp).ok());
  }

  StepUpRequest request(StepUpMethod method, int approvers = 1, int max_age = 900) const {
    StepUpRequest r;
    r.action = action;
    r.decision.verdict = Verdict::kStepUp;
    r.decision.action_digest = action_digest(action);
    r.decision.requirement = Requirement{method, approvers, std::chrono::seconds(max_age)};
    r.decision.reasons.push_back(Reason{"force-push", 0, Verdict::kStepUp, "force push", false});
    r.signals = Map{{"force", true}, {"unrelated", 1}};
    r.device = "laptop";
    r.now = kNow;
    r.retry_command = "git push";
    return r;
  }

  std::string grant(const std::string& approver, const Ed25519KeyPair& keys) const {
    Grant g{action_digest(action), approver, "alice",  kNow, kNow + 600,
            *random_id(),          "",       "approve"};
    return *sign_grant(g, keys.private_key);
  }

  StepUpResult satisfy(const StepUpRequest& r) {
    StepUp stepup(policy, *store, audit.get(), paths);
    return stepup.satisfy(r, io);
  }

  std::string audit_text() const {
    std::ifstream in(paths.audit_log);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

bool any_contains(const std::vector<std::string>& items, const std::string& part) {
  return std::ranges::any_of(
      items, [&](const std::string& item) { return item.find(part) != std::string::npos; });
}

TEST_CASE_FIXTURE(StepUpFixture, "stepup: a grant satisfies approval once; a replay is refused") {
  REQUIRE(store != nullptr);
  auto r = request(StepUpMethod::kApproval);
  r.grants = {grant("carol", carol)};
  auto first = satisfy(r);
  CHECK(first.satisfied);
  CHECK(first.method == "grant");
  CHECK(first.identity == "carol");
  auto replay = satisfy(r);
  CHECK_FALSE(replay.satisfied);
  CHECK(any_contains(replay.problems, "grant already used"));
  CHECK(replay.challenge_token.rfind("sgc1.", 0) == 0);
  std::string log = audit_text();
  CHECK(log.find("\"stepup\"") != std::string::npos);
  CHECK(log.find(r.grants[0]) == std::string::npos);  // never the grant itself
}

TEST_CASE_FIXTURE(StepUpFixture, "stepup: N approvers must be distinct; a partial set is kept") {
  REQUIRE(store != nullptr);
  auto r = request(StepUpMethod::kApproval, 2);
  std::string from_carol = grant("carol", carol);
  r.grants = {from_carol, grant("carol", carol)};
  auto twice = satisfy(r);
  CHECK_FALSE(twice.satisfied);
  CHECK(any_contains(twice.problems, "distinct"));
  r.grants = {from_carol};
  CHECK_FALSE(satisfy(r).satisfied);
  r.grants = {from_carol, grant("dave", dave)};  // carol's grant was not used up above
  auto both = satisfy(r);
  CHECK(both.satisfied);
  CHECK(both.identity == "carol,dave");
}

TEST_CASE_FIXTURE(StepUpFixture, "stepup: a grant for another action does not count") {
  REQUIRE(store != nullptr);
  auto r = request(StepUpMethod::kApproval);
  Action other = action;
  other.resource = "refs/heads/release/1.0";
  Grant g{action_digest(other), "carol", "alice", kNow, kNow + 600, *random_id(), "", "approve"};
  r.grants = {*sign_grant(g, carol.private_key)};
  auto result = satisfy(r);
  CHECK_FALSE(result.satisfied);
  CHECK(any_contains(result.problems, "different action"));
}

TEST_CASE_FIXTURE(StepUpFixture, "stepup: TOTP prompt, then an elevation for the same device") {
  REQUIRE(store != nullptr);
  io.answers = {"000000x", totp_code(totp.key, kNow, totp.params)};
  auto first = satisfy(request(StepUpMethod::kTotp));
  CHECK(first.satisfied);
  CHECK(first.method == "totp");
  CHECK(io.prompts == 2);
  auto again = request(StepUpMethod::kTotp);
  again.now = kNow + 60;
  auto second = satisfy(again);
  CHECK(second.satisfied);
  CHECK(second.method == "elevation");
  CHECK(io.prompts == 2);
  again.device = "other-machine";
  io.terminal = false;
  CHECK_FALSE(satisfy(again).satisfied);
  std::string log = audit_text();
  CHECK(log.find(totp_code(totp.key, kNow, totp.params)) == std::string::npos);
}

TEST_CASE_FIXTURE(StepUpFixture, "stepup: max_age 0 asks every time") {
  REQUIRE(store != nullptr);
  io.answers = {totp_code(totp.key, kNow, totp.params)};
  CHECK(satisfy(request(StepUpMethod::kTotp, 1, 0)).satisfied);
  auto later = request(StepUpMethod::kTotp, 1, 0);
  later.now = kNow + 30;
  later.allow_interactive = false;
  CHECK_FALSE(satisfy(later).satisfied);
}

// `stepgate report` lists the calls that hit a lockout from this typed field (issue 23).
TEST_CASE_FIXTURE(StepUpFixture, "stepup: a prompt refused by a lockout is audited as one") {
  REQUIRE(store != nullptr);
  REQUIRE(store->set_lockout("alice", kNow + 600).ok());
  io.answers = {totp_code(totp.key, kNow, totp.params)};
  CHECK_FALSE(satisfy(request(StepUpMethod::kTotp)).satisfied);
  audit = nullptr;  // flush and close
  auto records = read_audit_log(paths.audit_log, AuditFilter{});
  REQUIRE(records.ok());
  int lockouts = 0;
  for (const Value& r : *records) lockouts += r.get_bool("lockout") ? 1 : 0;
  CHECK(lockouts == 1);
}

TEST_CASE_FIXTURE(StepUpFixture, "stepup: a wrong code is not audited as a lockout") {
  REQUIRE(store != nullptr);
  std::string right = totp_code(totp.key, kNow, totp.params);
  io.answers = {right == "000000" ? "111111" : "000000"};
  CHECK_FALSE(satisfy(request(StepUpMethod::kTotp)).satisfied);
  audit = nullptr;
  auto records = read_audit_log(paths.audit_log, AuditFilter{});
  REQUIRE(records.ok());
  REQUIRE_FALSE(records->empty());
  for (const Value& r : *records) CHECK_FALSE(r.get_bool("lockout"));
}

TEST_CASE_FIXTURE(StepUpFixture,
                  "stepup: three wrong codes leave it unsatisfied, with instructions") {
  REQUIRE(store != nullptr);
  std::string right = totp_code(totp.key, kNow, totp.params);
  std::string wrong = right == "000000" ? "111111" : "000000";
  io.answers = {wrong, wrong, wrong, right};
  auto result = satisfy(request(StepUpMethod::kTotp));
  CHECK_FALSE(result.satisfied);
  CHECK(io.prompts == 3);
  CHECK(any_contains(result.problems, "wrong code"));
  CHECK(result.instructions.find("stepgate approve " + result.challenge_token) !=
        std::string::npos);
  CHECK(result.challenge.signals == Value(Map{{"force", true}}));  // only what the rule reads
}

TEST_CASE_FIXTURE(StepUpFixture,
                  "stepup: a server-side front-end names only approvers and its own retry") {
  REQUIRE(store != nullptr);
  io.terminal = false;
  auto r = request(StepUpMethod::kTotp);
  r.grant_retry = "git push -o stepgate-grant=<grant>";
  r.approvals_only = true;
  auto result = satisfy(r);
  CHECK_FALSE(result.satisfied);
  CHECK(result.instructions.find("cannot be asked for here") != std::string::npos);
  CHECK(result.instructions.find("from a terminal") == std::string::npos);
  CHECK(result.instructions.find("  git push -o stepgate-grant=<grant>\n") != std::string::npos);
  CHECK(result.instructions.find("STEPGATE_GRANT") == std::string::npos);

  SUBCASE("neither an elevation nor a terminal satisfies it; a grant does") {
    REQUIRE(store->add_elevation(Elevation{"alice", "laptop", kNow, kNow + 900, "totp"}).ok());
    io.terminal = true;
    io.answers = {totp_code(totp.key, kNow, totp.params)};
    CHECK_FALSE(satisfy(r).satisfied);
    CHECK(io.prompts == 0);
    r.approvals_only = false;
    CHECK(satisfy(r).method == "elevation");  // the same request from a laptop
    r.approvals_only = true;
    r.grants = {grant("carol", carol)};
    auto granted = satisfy(r);
    CHECK(granted.satisfied);
    CHECK(granted.method == "grant");
  }
  SUBCASE("two approvers: the placeholder becomes a list") {
    r.decision.requirement->approvers = 2;
    auto two = satisfy(r);
    CHECK(two.instructions.find("stepgate-grant=<grant1>,<grant2>...") != std::string::npos);
  }
}

TEST_CASE_FIXTURE(StepUpFixture, "stepup: no terminal gives a challenge and the commands to run") {
  REQUIRE(store != nullptr);
  io.terminal = false;
  auto r = request(StepUpMethod::kTotp);
  r.server_url = "http://127.0.0.1:8787";
  auto result = satisfy(r);
  CHECK_FALSE(result.satisfied);
  CHECK(io.prompts == 0);
  CHECK(result.instructions.find("stepgate approve sgc1.") != std::string::npos);
  CHECK(result.instructions.find("STEPGATE_GRANT=<grant> git push") != std::string::npos);
  CHECK(result.instructions.find("http://127.0.0.1:8787/approvals") != std::string::npos);
  auto decoded = decode_challenge(result.challenge_token);
  REQUIRE(decoded.ok());
  CHECK(decoded->action_digest == action_digest(action));
  CHECK(decoded->expires_at == kNow + policy.challenge_ttl.count());
}

TEST_CASE_FIXTURE(StepUpFixture, "stepup: the actor's TOTP does not satisfy an approval") {
  REQUIRE(store != nullptr);
  io.answers = {totp_code(totp.key, kNow, totp.params)};
  REQUIRE(store->add_elevation(Elevation{"alice", "laptop", kNow, kNow + 900, "totp"}).ok());
  auto result = satisfy(request(StepUpMethod::kApproval));
  CHECK_FALSE(result.satisfied);
  CHECK(io.prompts == 0);
  CHECK(result.instructions.find("approval from 1 approver") != std::string::npos);
}

TEST_CASE_FIXTURE(StepUpFixture, "stepup: an approved challenge in the store works once") {
  REQUIRE(store != nullptr);
  ChallengeRecord c;
  c.id = "inbox123";
  c.action_digest = action_digest(action);
  c.created_at = kNow - 10;
  c.expires_at = kNow + 3600;
  REQUIRE(store->put_challenge(c).ok());
  auto decided = store->decide_challenge("inbox123", ChallengeState::kApproved, "carol", "ok",
                                         grant("carol", carol));
  REQUIRE(decided.ok());
  REQUIRE(*decided);
  io.terminal = false;
  auto first = satisfy(request(StepUpMethod::kApproval));
  CHECK(first.satisfied);
  CHECK(first.method == "challenge");
  CHECK(first.identity == "carol");
  CHECK_FALSE(satisfy(request(StepUpMethod::kApproval)).satisfied);
}

TEST_CASE("stepup: grants split from one environment value") {
  CHECK(split_grants(" a.b.c, d.e.f\ng.h.i ") ==
        std::vector<std::string>{"a.b.c", "d.e.f", "g.h.i"});
  CHECK(split_grants("").empty());
}

}  // namespace
}  // namespace stepgate
