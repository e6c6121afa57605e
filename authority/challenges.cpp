// Deciding a held challenge: only with a TOTP code from an authenticator the authority holds the
// seed of, by someone the policy lets decide it.
#include "service.h"
#include "stepgate/approvals.h"
#include "stepgate/gate.h"
#include "stepgate/json.h"
#include "stepgate/stepup.h"

namespace stepgate::authority {
namespace {

Error denied(std::string message) {
  return make_error(ErrorCode::kPermissionDenied, std::move(message));
}

}  // namespace

Result<ChallengeRecord> Authority::decide_challenge(const std::string& id,
                                                    const ChallengeProof& proof, bool approve,
                                                    const Peer& peer) {
  const std::string op = approve ? "approve" : "deny";
  std::unique_lock lock(mu_);
  // refuse() takes the lock itself to write its record.
  auto fail = [&](const Error& e) -> Result<ChallengeRecord> {
    if (lock.owns_lock()) lock.unlock();
    (void)refuse(op, peer, Error{e.code, "challenge " + id + ": " + e.message});
    return e;
  };
  const UnixTime now = unix_now();
  auto found = store_->get_challenge(id);
  if (!found.ok()) return fail(found.error());
  if (!found->has_value()) {
    return fail(make_error(ErrorCode::kNotFound,
                           "no such challenge (challenges are created by the authority only)"));
  }
  ChallengeRecord record = **found;
  if (record.state != ChallengeState::kPending || record.expires_at <= now) {
    return fail(
        make_error(ErrorCode::kFailedPrecondition,
                   std::string("not pending (") + challenge_state_name(record.state) + ")"));
  }
  auto summary = parse_json(record.summary_json);
  const std::string actor = summary.ok() ? summary->get_string("actor") : "";
  const bool approval = summary.ok() && summary->get_string("method") == "approval";
  const std::string who = proof.approver.empty() ? actor : proof.approver;
  const Policy& policy = *policy_;
  const bool listed = policy.find_approver(who) != nullptr;
  const bool self = who == actor;
  // Who may decide: a listed approver; the actor only for a TOTP step-up (or when the policy
  // allows self-approval).
  if (!(listed && (!self || policy.allow_self_approval)) && !(self && !approval)) {
    return fail(denied("`" + who + "` may not decide it (not an approver in the authority's " +
                       "policy, nor its actor for a TOTP step-up)"));
  }
  if (proof.code.empty()) {
    return fail(denied("a TOTP code from " + who + "'s authenticator is required"));
  }
  auto enrollment = load_totp_enrollment(config_.secrets_dir(), who);
  if (!enrollment.ok() || !enrollment->active) {
    return fail(denied("`" + who + "` has no active TOTP enrolled with the authority"));
  }
  // Codes arriving here are remote to the authority: wrong ones are counted per source, so a
  // guesser at the inbox cannot lock the actor out of the socket (see verify_totp).
  const ProofSource source{
      true, peer.via == "inbox" ? std::string("inbox") : "uid:" + std::to_string(peer.uid)};
  auto check = verify_totp(*store_, *enrollment, proof.code, now, source);
  if (!check.ok()) return fail(check.error());
  if (*check != TotpCheck::kOk) {
    return fail(denied(std::string(totp_check_message(*check)) + " (" + who + ")"));
  }
  auto changed = store_->decide_challenge(
      id, approve ? ChallengeState::kApproved : ChallengeState::kDenied, who, proof.comment, "");
  if (!changed.ok()) return fail(changed.error());
  if (!*changed) {
    return fail(make_error(ErrorCode::kFailedPrecondition, "it was decided meanwhile"));
  }
  (void)audit("approval", Map{{"challenge", id},
                              {"decision", approve ? "approve" : "deny"},
                              {"identity", who},
                              {"method", "totp"},
                              {"via", peer.via},
                              {"action_digest", record.action_digest},
                              {"comment", proof.comment}});
  record.state = approve ? ChallengeState::kApproved : ChallengeState::kDenied;
  record.decided_by = who;
  return record;
}

Value Authority::approve_op(const Value& request, const Peer& peer, bool approve) {
  ChallengeProof proof{request.get_string("approver"), request.get_string("code"),
                       request.get_string("comment")};
  auto decided = decide_challenge(request.get_string("id"), proof, approve, peer);
  if (!decided.ok()) {
    // Already audited by decide_challenge.
    return sign(Value(Map{{"ok", false},
                          {"error", Map{{"code", error_code_name(decided.error().code)},
                                        {"message", decided.error().message}}}}));
  }
  return sign(Value(Map{{"ok", true},
                        {"id", decided->id},
                        {"state", challenge_state_name(decided->state)},
                        {"decided_by", decided->decided_by}}));
}

Value Authority::challenge_op(const Value& request, const Peer& peer) {
  auto found = find_challenge(request.get_string("id"));
  if (!found.ok()) return refuse("challenge", peer, found.error());
  if (!found->has_value()) {
    return refuse("challenge", peer, make_error(ErrorCode::kNotFound, "no such challenge"));
  }
  const ChallengeRecord& c = **found;
  auto summary = parse_json(c.summary_json);
  return sign(Value(Map{{"ok", true},
                        {"id", c.id},
                        {"state", challenge_state_name(c.state)},
                        {"decided_by", c.decided_by},
                        {"summary", summary.ok() ? *summary : Value(Map{})},
                        {"expires_at", c.expires_at}}));
}

}  // namespace stepgate::authority
