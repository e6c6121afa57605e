#include "stepgate/approvals.h"

#include <doctest/doctest.h>

#include "stepgate/audit.h"
#include "test_util.h"

namespace stepgate {
namespace {

constexpr UnixTime kNow = 1700000000;

/// A policy with approvers carol (key, enrolled) and dave (key, not enrolled); alice is the actor
/// and is enrolled too.
struct ApprovalsFixture {
  testing::TempDir dir;
  std::unique_ptr<StateStore> store = testing::open_test_store(dir);
  Paths paths;
  Policy policy;
  Ed25519KeyPair carol = *ed25519_generate();
  Ed25519KeyPair dave = *ed25519_generate();
  TotpEnrollment alice_totp{"alice", *random_bytes(20), {}, true};
  TotpEnrollment carol_totp{"carol", *random_bytes(20), {}, true};
  Action action{"git.push", "alice", "refs/heads/main", Map{{"remote", "origin"}}};

  ApprovalsFixture() {
    paths = Paths{dir.path(), dir.path(), dir.path(), dir.path() + "/state.db",
                  dir.path() + "/audit.jsonl"};
    policy.approvers = {{"carol", format_public_key(carol.public_key), false},
                        {"dave", format_public_key(dave.public_key), false}};
    REQUIRE(save_totp_enrollment(paths.secrets_dir, alice_totp).ok());
    REQUIRE(save_totp_enrollment(paths.secrets_dir, carol_totp).ok());
    REQUIRE(save_approver_key(paths.secrets_dir, "carol", carol).ok());
  }

  Approvals approvals(const std::string& authority_key = "", bool approver_code_approves = false) {
    return Approvals(policy, *store, nullptr, paths,
                     ApprovalsOptions{authority_key, "test", approver_code_approves});
  }

  /// Holds the action with a challenge of `method`; returns its id.
  std::string held(StepUpMethod method) {
    Decision decision;
    decision.verdict = Verdict::kStepUp;
    decision.action_digest = action_digest(action);
    decision.requirement = Requirement{method, 1, std::chrono::seconds(0)};
    auto challenge = make_challenge(action, decision, policy, Map{}, kNow);
    REQUIRE(challenge.ok());
    auto record = approvals().hold(*challenge, encode_challenge(*challenge), "", kNow);
    REQUIRE(record.ok());
    return record->id;
  }

  [[nodiscard]] std::string code(const TotpEnrollment& e, int64_t steps = 0) const {
    return totp_code(e.key, kNow + steps * 30, e.params);
  }
  [[nodiscard]] std::string wrong(const TotpEnrollment& e) const {
    // Not any of the three codes verify_totp accepts now.
    for (std::string candidate : {"000000", "111111", "222222", "333333"}) {
      if (candidate != code(e, -1) && candidate != code(e) && candidate != code(e, 1)) {
        return candidate;
      }
    }
    return "444444";
  }
  [[nodiscard]] std::string grant(const Ed25519KeyPair& keys, const std::string& approver,
                                  const std::string& decision) const {
    Grant g{action_digest(action), approver, "alice", kNow, kNow + 600, *random_id(), "", decision};
    return *sign_grant(g, keys.private_key);
  }

  ApprovalOutcome decide(const std::string& id, bool approve, ApprovalProof proof,
                         const std::string& authority_key = "",
                         bool approver_code_approves = false) {
    return approvals(authority_key, approver_code_approves)
        .decide(ApprovalRequest{id, approve, std::move(proof), ""}, kNow);
  }
};

ProofSource remote(const std::string& id) {
  return ProofSource{true, id};
}

TEST_CASE_FIXTURE(ApprovalsFixture, "approvals: who may decide, with typed refusals") {
  REQUIRE(store != nullptr);
  enum class Proof {
    kActorCode,
    kCarolCode,
    kCarolWrong,
    kDaveCode,
    kMallory,
    kBadId,
    kNone,
    kCarolGrant,
    kCarolRefusal
  };
  struct Case {
    const char* name;
    StepUpMethod method;
    bool approve;
    Proof proof;
    const char* authority_key;
    ApprovalStatus want;
    bool approver_code_approves = false;  // the verifier holds the seeds (the authority)
  };
  const Case cases[] = {
      {"actor's own code satisfies a totp challenge", StepUpMethod::kTotp, true, Proof::kActorCode,
       "", ApprovalStatus::kDecided},
      {"actor's own code may refuse a totp challenge", StepUpMethod::kTotp, false,
       Proof::kActorCode, "", ApprovalStatus::kDecided},
      {"actor's code does not approve an approval challenge", StepUpMethod::kApproval, true,
       Proof::kActorCode, "", ApprovalStatus::kNeedsGrant},
      {"actor's code may not refuse an approval challenge", StepUpMethod::kApproval, false,
       Proof::kActorCode, "", ApprovalStatus::kNotAllowed},
      {"an approver's code approves a totp challenge", StepUpMethod::kTotp, true, Proof::kCarolCode,
       "", ApprovalStatus::kDecided},
      {"an approval challenge needs a grant", StepUpMethod::kApproval, true, Proof::kCarolCode, "",
       ApprovalStatus::kNeedsGrant},
      {"the authority key signs for an approver's code", StepUpMethod::kApproval, true,
       Proof::kCarolCode, "carol", ApprovalStatus::kDecided},
      {"an approver's wrong code", StepUpMethod::kTotp, true, Proof::kCarolWrong, "",
       ApprovalStatus::kWrongCode},
      {"a listed approver with no enrollment", StepUpMethod::kTotp, true, Proof::kDaveCode, "",
       ApprovalStatus::kNotEnrolled},
      {"neither approver nor actor", StepUpMethod::kTotp, true, Proof::kMallory, "",
       ApprovalStatus::kNotAllowed},
      {"an id that is no id", StepUpMethod::kTotp, true, Proof::kBadId, "",
       ApprovalStatus::kBadRequest},
      {"no proof at all", StepUpMethod::kTotp, true, Proof::kNone, "",
       ApprovalStatus::kMissingProof},
      {"a grant approves an approval challenge", StepUpMethod::kApproval, true, Proof::kCarolGrant,
       "", ApprovalStatus::kDecided},
      {"a signed refusal denies", StepUpMethod::kApproval, false, Proof::kCarolRefusal, "",
       ApprovalStatus::kDecided},
      {"a signed refusal does not approve", StepUpMethod::kApproval, true, Proof::kCarolRefusal, "",
       ApprovalStatus::kGrantRefused},
      // Where the seeds live with the verifier (the authority), an approver's code is the proof.
      {"a seed-holding verifier: an approver's code approves an approval challenge",
       StepUpMethod::kApproval, true, Proof::kCarolCode, "", ApprovalStatus::kDecided, true},
      {"a seed-holding verifier: an approver's code denies it", StepUpMethod::kApproval, false,
       Proof::kCarolCode, "", ApprovalStatus::kDecided, true},
      {"a seed-holding verifier: the actor's own code does not approve it", StepUpMethod::kApproval,
       true, Proof::kActorCode, "", ApprovalStatus::kNotAllowed, true},
      {"a seed-holding verifier: an approver's wrong code", StepUpMethod::kApproval, true,
       Proof::kCarolWrong, "", ApprovalStatus::kWrongCode, true},
      {"a seed-holding verifier: neither approver nor actor", StepUpMethod::kApproval, true,
       Proof::kMallory, "", ApprovalStatus::kNotAllowed, true},
      {"a seed-holding verifier: an unenrolled approver", StepUpMethod::kApproval, true,
       Proof::kDaveCode, "", ApprovalStatus::kNotEnrolled, true},
      {"a seed-holding verifier: a grant still approves", StepUpMethod::kApproval, true,
       Proof::kCarolGrant, "", ApprovalStatus::kDecided, true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    std::string id = held(c.method);
    ApprovalProof proof;
    switch (c.proof) {
      case Proof::kActorCode:
        proof = {"alice", code(alice_totp), "", {}};
        break;
      case Proof::kCarolCode:
        proof = {"carol", code(carol_totp), "", {}};
        break;
      case Proof::kCarolWrong:
        proof = {"carol", wrong(carol_totp), "", {}};
        break;
      case Proof::kDaveCode:
        proof = {"dave", "123456", "", {}};
        break;
      case Proof::kMallory:
        proof = {"mallory", "123456", "", {}};
        break;
      case Proof::kBadId:
        proof = {"../carol", "123456", "", {}};
        break;
      case Proof::kNone:
        proof = {"carol", "", "", {}};
        break;
      case Proof::kCarolGrant:
        proof = {"", "", grant(carol, "carol", "approve"), {}};
        break;
      case Proof::kCarolRefusal:
        proof = {"", "", grant(carol, "carol", "deny"), {}};
        break;
    }
    ApprovalOutcome out = decide(id, c.approve, proof, c.authority_key, c.approver_code_approves);
    CHECK_MESSAGE(out.status == c.want, approval_status_name(out.status), ": ", out.message);
    if (out.ok()) {
      REQUIRE(out.record.has_value());
      CHECK(out.record->state == (c.approve ? ChallengeState::kApproved : ChallengeState::kDenied));
      CHECK(decide(id, c.approve, proof).status == ApprovalStatus::kNotPending);
    }
    // Each case gets a fresh challenge and fresh TOTP steps.
    REQUIRE(store->clear_totp_failures("alice").ok());
    REQUIRE(store->clear_totp_failures("carol").ok());
    store = nullptr;
    std::filesystem::remove(paths.state_db);
    store = testing::open_test_store(dir);
    REQUIRE(store != nullptr);
  }
}

TEST_CASE_FIXTURE(ApprovalsFixture,
                  "approvals: self-approval stays off for an approval challenge") {
  REQUIRE(store != nullptr);
  Ed25519KeyPair alice_keys = *ed25519_generate();
  policy.approvers.push_back({"alice", format_public_key(alice_keys.public_key), false});
  std::string id = held(StepUpMethod::kApproval);
  auto out = decide(id, true, {"alice", code(alice_totp), "", {}}, "carol");
  CHECK(out.status == ApprovalStatus::kSelfApproval);
  Decision decision;
  auto challenge = decode_challenge(store->get_challenge(id)->value().token);
  REQUIRE(challenge.ok());
  CHECK(approvals().check_signer(*challenge, "alice", alice_keys.private_key, true).status ==
        ApprovalStatus::kSelfApproval);
  CHECK(approvals().check_signer(*challenge, "alice", alice_keys.private_key, false).ok());
  CHECK(approvals().check_signer(*challenge, "carol", alice_keys.private_key, true).status ==
        ApprovalStatus::kBadRequest);
  CHECK(approvals().check_signer(*challenge, "erin", alice_keys.private_key, true).status ==
        ApprovalStatus::kNotAllowed);
  policy.allow_self_approval = true;
  CHECK(approvals().check_signer(*challenge, "alice", alice_keys.private_key, true).ok());
}

TEST_CASE_FIXTURE(ApprovalsFixture, "approvals: a held action reuses its pending challenge") {
  REQUIRE(store != nullptr);
  std::string first = held(StepUpMethod::kTotp);
  CHECK(held(StepUpMethod::kTotp) == first);
  REQUIRE(decide(first, false, {"carol", code(carol_totp), "", {}}).ok());
  CHECK(held(StepUpMethod::kTotp) == first);  // a refusal stays the answer
  auto found = approvals().find(first, kNow);
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->state == ChallengeState::kDenied);
  auto later = approvals().find(first, kNow + 7200);
  REQUIRE(later.ok());
  CHECK((*later)->state == ChallengeState::kDenied);  // decided: expiry does not change it
}

TEST_CASE_FIXTURE(ApprovalsFixture, "approvals: a token registers once and expires") {
  REQUIRE(store != nullptr);
  Decision decision;
  decision.action_digest = action_digest(action);
  auto challenge = make_challenge(action, decision, policy, Map{}, kNow);
  REQUIRE(challenge.ok());
  const std::string token = encode_challenge(*challenge);
  auto first = approvals().register_token(token, kNow);
  REQUIRE(first.ok());
  CHECK(first->created);
  auto again = approvals().register_token(token, kNow);
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->record.id == first->record.id);
  auto bad = approvals().register_token(token.substr(0, 30), kNow);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == ErrorCode::kInvalidArgument);
  store = nullptr;
  std::filesystem::remove(paths.state_db);
  store = testing::open_test_store(dir);
  auto late = approvals().register_token(token, kNow + 7200);
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().code == ErrorCode::kFailedPrecondition);
  auto pending = approvals().find(challenge->id, kNow + 7200);
  REQUIRE(pending.ok());
  CHECK_FALSE(pending->has_value());
}

// Regression (issue 19): five wrong codes sent anonymously used to lock the approver out
// everywhere for 10 minutes. Failures now count per source.
TEST_CASE_FIXTURE(ApprovalsFixture, "approvals: a stranger's wrong codes do not lock out carol") {
  REQUIRE(store != nullptr);
  std::string id = held(StepUpMethod::kTotp);
  for (int i = 0; i < 5; ++i) {
    CHECK(decide(id, false, {"carol", wrong(carol_totp), "", remote("peer:127.0.0.1")}).status ==
          ApprovalStatus::kWrongCode);
  }
  // The stranger's source is locked out, even with the right code...
  CHECK(decide(id, false, {"carol", code(carol_totp), "", remote("peer:127.0.0.1")}).status ==
        ApprovalStatus::kLockedOut);
  // ...but carol's own code from her inbox session still decides it.
  auto out = decide(id, true, {"carol", code(carol_totp), "", remote("session:carols-browser")});
  CHECK_MESSAGE(out.ok(), out.message);
}

TEST_CASE_FIXTURE(ApprovalsFixture, "approvals: remote failures are capped; a local code is not") {
  REQUIRE(store != nullptr);
  std::string id = held(StepUpMethod::kTotp);
  // 20 wrong codes from 20 fresh sessions (4 each would stay under the per-source limit).
  for (int i = 0; i < 20; ++i) {
    auto out =
        decide(id, true, {"carol", wrong(carol_totp), "", remote("session:s" + std::to_string(i))});
    CHECK(out.status == ApprovalStatus::kWrongCode);
  }
  CHECK(decide(id, true, {"carol", code(carol_totp), "", remote("session:fresh")}).status ==
        ApprovalStatus::kLockedOut);
  // Codes typed on this machine are never locked out by remote failures.
  auto local = decide(id, true, {"carol", code(carol_totp), "", local_proof_source()});
  CHECK_MESSAGE(local.ok(), local.message);
}

TEST_CASE_FIXTURE(ApprovalsFixture, "approvals: a local lockout still holds per actor") {
  REQUIRE(store != nullptr);
  std::string id = held(StepUpMethod::kTotp);
  for (int i = 0; i < 5; ++i) {
    CHECK(decide(id, true, {"carol", wrong(carol_totp), "", local_proof_source()}).status ==
          ApprovalStatus::kWrongCode);
  }
  CHECK(decide(id, true, {"carol", code(carol_totp), "", local_proof_source()}).status ==
        ApprovalStatus::kLockedOut);
}

// `stepgate report` counts lockouts and times holds from these records (issue 23).
TEST_CASE_FIXTURE(ApprovalsFixture, "approvals: a lockout and an approval are audited for report") {
  REQUIRE(store != nullptr);
  auto log = AuditLog::open(paths.audit_log, AuditOptions{false});
  REQUIRE(log.ok());
  Approvals audited(policy, *store, log->get(), paths, ApprovalsOptions{"", "test"});
  std::string id = held(StepUpMethod::kTotp);
  auto decide_with = [&](const std::string& c) {
    return audited.decide(ApprovalRequest{id, true, {"carol", c, "", local_proof_source()}, ""},
                          kNow);
  };
  for (int i = 0; i < 5; ++i)
    CHECK(decide_with(wrong(carol_totp)).status == ApprovalStatus::kWrongCode);
  CHECK(decide_with(code(carol_totp)).status == ApprovalStatus::kLockedOut);
  REQUIRE(store->clear_totp_failures("carol").ok());
  auto out = decide_with(code(carol_totp));
  REQUIRE_MESSAGE(out.ok(), out.message);
  auto records = read_audit_log(paths.audit_log, AuditFilter{});
  REQUIRE(records.ok());
  REQUIRE(records->size() == 2);
  CHECK((*records)[0].get_string("outcome") == "locked_out");
  CHECK((*records)[0].get_string("approver") == "carol");
  CHECK((*records)[0].get_string("kind") == "git.push");
  CHECK((*records)[1].get_string("decision") == "approve");
  CHECK((*records)[1].get_int("held_at") == kNow);
  CHECK((*records)[1].get_string("actor") == "alice");
}

TEST_CASE("approvals: every status has a name and an error family") {
  for (int i = 0; i <= static_cast<int>(ApprovalStatus::kUnavailable); ++i) {
    auto s = static_cast<ApprovalStatus>(i);
    CAPTURE(i);
    CHECK(std::string(approval_status_name(s)) != "");
    CHECK(approval_error_code(s).has_value() == (s != ApprovalStatus::kDecided));
  }
  CHECK(parse_challenge_state("approved") == ChallengeState::kApproved);
  CHECK_FALSE(parse_challenge_state("maybe").has_value());
}

}  // namespace
}  // namespace stepgate
