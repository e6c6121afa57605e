// Deciding a held challenge: only with a TOTP code from an authenticator the authority holds the
// seed of, by someone the policy lets decide it (core's Approvals::decide says who).
#include "service.h"
#include "stepgate/approvals.h"
#include "stepgate/gate.h"
#include "stepgate/json.h"
#include "stepgate/stepup.h"

namespace stepgate::authority {

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
  const UnixTime now = this->now();
  // A blank approver is the challenge's actor (the solo TOTP path): the inbox page and
  // `stepgate authority approve` leave it blank for "my own code".
  std::string who = proof.approver;
  if (who.empty()) {
    auto found = store_->get_challenge(id);
    if (found.ok() && found->has_value()) {
      auto summary = parse_json((*found)->summary_json);
      if (summary.ok()) who = summary->get_string("actor");
    }
  }
  // Core's one rule set decides who may decide (approvals.h). The authority holds every seed out
  // of the actor's reach, so a listed approver's code is proof enough for an `approval`
  // challenge. Codes arriving here are remote to the authority: wrong ones are counted per
  // source, so a guesser at the inbox cannot lock the actor out of the socket.
  ApprovalsOptions options;
  options.front_end = "authority";
  options.approver_code_approves = true;
  Approvals approvals(*policy_, *store_, nullptr, paths(), options);
  ApprovalRequest request;
  request.id = id;
  request.approve = approve;
  request.comment = proof.comment;
  request.proof.approver = who;
  request.proof.code = proof.code;
  request.proof.grant = proof.grant;
  request.proof.source = ProofSource{true, peer.via != "inbox" ? "uid:" + std::to_string(peer.uid)
                                           : peer.session.empty() ? std::string("inbox")
                                                                  : "inbox:" + peer.session};
  // A grant works once: its jti goes into the authority's ledger (the one `decide` spends grants
  // from) before it decides anything. It is checked against the challenge first, so a grant for
  // another action, or a challenge that is no longer pending, does not spend it.
  if (!proof.grant.empty()) {
    auto found = store_->get_challenge(id);
    auto held = found.ok() && found->has_value() && (*found)->state == ChallengeState::kPending
                    ? decode_challenge((*found)->token)
                    : Result<Challenge>(make_error(ErrorCode::kNotFound, "not pending"));
    auto claims = held.ok() ? verify_grant_claims(proof.grant, *policy_, held->action_digest,
                                                  held->actor, now)
                            : Result<Grant>(held.error());
    if (claims.ok()) {
      auto fresh = store_->consume_jti(claims->jti, claims->exp);
      if (!fresh.ok()) return fail(fresh.error());
      if (!*fresh) {
        return fail(make_error(ErrorCode::kPermissionDenied,
                               "grant refused: it was already used (each grant works once)"));
      }
    }
  }
  ApprovalOutcome out = approvals.decide(request, now);
  if (!out.ok()) {
    // A decision with no proof is refused like one with a wrong proof.
    const ErrorCode code = out.status == ApprovalStatus::kMissingProof
                               ? ErrorCode::kPermissionDenied
                               : approval_error_code(out.status).value_or(ErrorCode::kInternal);
    return fail(make_error(code, out.message));
  }
  ChallengeRecord record = out.record.value_or(ChallengeRecord{});
  (void)audit("approval", Map{{"challenge", id},
                              {"decision", approve ? "approve" : "deny"},
                              {"identity", out.decided_by},
                              {"method", proof.grant.empty() ? "totp" : "grant"},
                              {"via", peer.via},
                              {"action_digest", record.action_digest},
                              {"comment", proof.comment}});
  record.id = id;
  record.state = approve ? ChallengeState::kApproved : ChallengeState::kDenied;
  record.decided_by = out.decided_by;
  return record;
}

Value Authority::approve_op(const Value& request, const Peer& peer, bool approve) {
  ChallengeProof proof{request.get_string("approver"), request.get_string("code"),
                       request.get_string("grant"), request.get_string("comment")};
  auto decided = decide_challenge(request.get_string("id"), proof, approve, peer);
  if (!decided.ok()) {
    // Already audited by decide_challenge.
    return Value(Map{{"ok", false},
                     {"error", Map{{"code", error_code_name(decided.error().code)},
                                   {"message", decided.error().message}}}});
  }
  return Value(Map{{"ok", true},
                   {"id", decided->id},
                   {"state", challenge_state_name(decided->state)},
                   {"decided_by", decided->decided_by}});
}

Value Authority::challenge_op(const Value& request, const Peer& peer) {
  auto found = find_challenge(request.get_string("id"));
  if (!found.ok()) return refuse("challenge", peer, found.error());
  if (!found->has_value()) {
    return refuse("challenge", peer, make_error(ErrorCode::kNotFound, "no such challenge"));
  }
  const ChallengeRecord& c = **found;
  auto summary = parse_json(c.summary_json);
  return Value(Map{{"ok", true},
                   {"id", c.id},
                   {"state", challenge_state_name(c.state)},
                   {"decided_by", c.decided_by},
                   {"summary", summary.ok() ? *summary : Value(Map{})},
                   {"expires_at", c.expires_at}});
}

}  // namespace stepgate::authority
