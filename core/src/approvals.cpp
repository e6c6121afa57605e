// Approvals: holding challenges and deciding them with proof (see approvals.h for who may decide).
#include "stepgate/approvals.h"

#include <utility>

#include "stepgate/crypto.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

ApprovalOutcome refuse(ApprovalStatus status, std::string message) {
  ApprovalOutcome out;
  out.status = status;
  out.message = std::move(message);
  return out;
}

ApprovalOutcome proven(std::string who) {
  ApprovalOutcome out;
  out.decided_by = std::move(who);
  return out;
}

ApprovalStatus status_for(TotpCheck check) {
  switch (check) {
    case TotpCheck::kOk:
      return ApprovalStatus::kDecided;
    case TotpCheck::kWrong:
      return ApprovalStatus::kWrongCode;
    case TotpCheck::kReplayed:
      return ApprovalStatus::kReplayedCode;
    case TotpCheck::kLockedOut:
      return ApprovalStatus::kLockedOut;
    case TotpCheck::kMalformed:
      return ApprovalStatus::kMalformedCode;
  }
  return ApprovalStatus::kWrongCode;
}

Value reasons_value(const Challenge& c) {
  List out;
  for (const auto& r : c.reasons) out.emplace_back(r);
  return out;
}

}  // namespace

const char* approval_status_name(ApprovalStatus status) {
  switch (status) {
    case ApprovalStatus::kDecided:
      return "decided";
    case ApprovalStatus::kNotFound:
      return "not_found";
    case ApprovalStatus::kNotPending:
      return "not_pending";
    case ApprovalStatus::kExpired:
      return "expired";
    case ApprovalStatus::kMissingProof:
      return "missing_proof";
    case ApprovalStatus::kBadRequest:
      return "bad_request";
    case ApprovalStatus::kNotAllowed:
      return "not_allowed";
    case ApprovalStatus::kSelfApproval:
      return "self_approval";
    case ApprovalStatus::kNeedsGrant:
      return "needs_grant";
    case ApprovalStatus::kNotEnrolled:
      return "not_enrolled";
    case ApprovalStatus::kWrongCode:
      return "wrong_code";
    case ApprovalStatus::kReplayedCode:
      return "replayed_code";
    case ApprovalStatus::kMalformedCode:
      return "malformed_code";
    case ApprovalStatus::kLockedOut:
      return "locked_out";
    case ApprovalStatus::kGrantRefused:
      return "grant_refused";
    case ApprovalStatus::kUnavailable:
      return "unavailable";
  }
  return "unavailable";
}

std::optional<ErrorCode> approval_error_code(ApprovalStatus status) {
  switch (status) {
    case ApprovalStatus::kDecided:
      return std::nullopt;
    case ApprovalStatus::kNotFound:
      return ErrorCode::kNotFound;
    case ApprovalStatus::kNotPending:
    case ApprovalStatus::kExpired:
      return ErrorCode::kFailedPrecondition;
    case ApprovalStatus::kMissingProof:
    case ApprovalStatus::kBadRequest:
    case ApprovalStatus::kNeedsGrant:
      return ErrorCode::kInvalidArgument;
    case ApprovalStatus::kLockedOut:
      return ErrorCode::kResourceExhausted;
    case ApprovalStatus::kUnavailable:
      return ErrorCode::kUnavailable;
    case ApprovalStatus::kNotAllowed:
    case ApprovalStatus::kSelfApproval:
    case ApprovalStatus::kNotEnrolled:
    case ApprovalStatus::kWrongCode:
    case ApprovalStatus::kReplayedCode:
    case ApprovalStatus::kMalformedCode:  // a refused proof, like a wrong one
    case ApprovalStatus::kGrantRefused:
      return ErrorCode::kPermissionDenied;
  }
  return ErrorCode::kInternal;
}

std::optional<ChallengeState> parse_challenge_state(std::string_view name) {
  for (auto s : {ChallengeState::kPending, ChallengeState::kApproved, ChallengeState::kDenied,
                 ChallengeState::kExpired}) {
    if (name == challenge_state_name(s)) return s;
  }
  return std::nullopt;
}

std::string challenge_summary_json(const Challenge& challenge) {
  Value s = Map{};
  s["kind"] = challenge.kind;
  s["actor"] = challenge.actor;
  s["resource"] = challenge.resource;
  s["score"] = challenge.score;
  s["reasons"] = reasons_value(challenge);
  s["digest"] = challenge.action_digest;
  s["method"] = method_name(challenge.requirement.method);
  // Redacted as the audit record is: a pending challenge is shown on a loopback page that other
  // local users can reach too, and the approver needs what the action does, not its secrets.
  s["arguments"] = to_pretty_json(redact_secrets(challenge.attributes));
  return to_json(s);
}

Approvals::Approvals(const Policy& policy, StateStore& store, AuditLog* audit, Paths paths,
                     ApprovalsOptions options)
    : policy_(policy),
      store_(store),
      audit_(audit),
      paths_(std::move(paths)),
      options_(std::move(options)) {}

Result<ChallengeRecord> Approvals::hold(const Challenge& challenge, const std::string& token,
                                        const std::string& summary_json, UnixTime now) {
  auto existing = store_.find_challenge_by_digest(challenge.action_digest, now);
  if (!existing) return existing.error();
  if (existing->has_value()) {
    const ChallengeRecord& r = **existing;
    if (r.state == ChallengeState::kPending || r.state == ChallengeState::kDenied) return r;
  }
  ChallengeRecord record;
  record.id = challenge.id;
  record.token = token;
  record.action_digest = challenge.action_digest;
  record.summary_json = summary_json.empty() ? challenge_summary_json(challenge) : summary_json;
  record.state = ChallengeState::kPending;
  record.created_at = challenge.created_at != 0 ? challenge.created_at : now;
  record.expires_at =
      challenge.expires_at != 0 ? challenge.expires_at : now + policy_.challenge_ttl.count();
  if (Status s = store_.put_challenge(record); !s) return s.error();
  return record;
}

Result<RegisteredChallenge> Approvals::register_token(std::string_view token, UnixTime now) {
  auto challenge = decode_challenge(token);
  if (!challenge) return invalid_argument(challenge.error().message);
  auto existing = store_.get_challenge(challenge->id);
  if (!existing) return existing.error();
  if (existing->has_value()) return RegisteredChallenge{**existing, false};
  if (challenge->expires_at <= now) {
    return make_error(ErrorCode::kFailedPrecondition, "the challenge has expired");
  }
  ChallengeRecord record;
  record.id = challenge->id;
  record.token = std::string(token);
  record.action_digest = challenge->action_digest;
  record.summary_json = challenge_summary_json(*challenge);
  record.created_at = challenge->created_at;
  record.expires_at = challenge->expires_at;
  if (Status s = store_.put_challenge(record); !s) return s.error();
  return RegisteredChallenge{record, true};
}

Result<std::optional<ChallengeRecord>> Approvals::find(const std::string& id, UnixTime now) {
  auto record = store_.get_challenge(id);
  if (!record) return record.error();
  if (record->has_value() && (*record)->state == ChallengeState::kPending &&
      (*record)->expires_at <= now) {
    (*record)->state = ChallengeState::kExpired;
  }
  return record;
}

ApprovalOutcome Approvals::decide(const ApprovalRequest& request, UnixTime now) {
  auto found = store_.get_challenge(request.id);
  if (!found) return refuse(ApprovalStatus::kUnavailable, found.error().message);
  if (!found->has_value()) {
    return refuse(ApprovalStatus::kNotFound, "no such challenge `" + request.id + "`");
  }
  const ChallengeRecord r = **found;
  if (r.state != ChallengeState::kPending) {
    auto out = refuse(ApprovalStatus::kNotPending,
                      std::string("the challenge is already ") + challenge_state_name(r.state));
    out.record = r;
    return out;
  }
  if (r.expires_at <= now) return refuse(ApprovalStatus::kExpired, "the challenge has expired");
  auto challenge = decode_challenge(r.token);
  if (!challenge) {
    return refuse(ApprovalStatus::kUnavailable,
                  "stored challenge is unreadable: " + challenge.error().message);
  }
  if (request.proof.grant.empty() && request.proof.code.empty()) {
    return refuse(ApprovalStatus::kMissingProof,
                  "a TOTP code (with approver) or a signed grant is required");
  }
  std::string grant;
  ApprovalOutcome out = prove(*challenge, request, grant, now);
  if (out.status == ApprovalStatus::kLockedOut && audit_ != nullptr) {
    // Recorded so `stepgate report` can list the calls that hit a lockout.
    Value fields = Map{};
    fields["front_end"] = options_.front_end;
    fields["challenge_id"] = r.id;
    fields["digest"] = r.action_digest;
    fields["kind"] = challenge->kind;
    fields["approver"] = request.proof.approver;
    fields["outcome"] = "locked_out";
    (void)audit_->append("approval", fields);
  }
  if (!out.ok()) return out;
  auto state = request.approve ? ChallengeState::kApproved : ChallengeState::kDenied;
  auto decided = store_.decide_challenge(r.id, state, out.decided_by, request.comment, grant);
  if (!decided) return refuse(ApprovalStatus::kUnavailable, decided.error().message);
  if (!*decided) return refuse(ApprovalStatus::kNotPending, "the challenge was decided meanwhile");
  if (audit_ != nullptr) {
    Value fields = Map{};
    fields["front_end"] = options_.front_end;
    fields["challenge_id"] = r.id;
    fields["digest"] = r.action_digest;
    fields["decision"] = request.approve ? "approve" : "deny";
    fields["decided_by"] = out.decided_by;
    fields["kind"] = challenge->kind;
    fields["actor"] = challenge->actor;
    fields["held_at"] = r.created_at;  // unix seconds: `stepgate report` times the hold
    fields["method"] = request.proof.grant.empty() ? "totp" : "grant";
    if (!request.comment.empty()) fields["comment"] = request.comment;
    (void)audit_->append("approval", fields);
  }
  out.message = std::string(request.approve ? "approved" : "denied") + " by " + out.decided_by;
  auto after = store_.get_challenge(r.id);
  if (after && after->has_value()) out.record = **after;
  return out;
}

ApprovalOutcome Approvals::prove(const Challenge& challenge, const ApprovalRequest& request,
                                 std::string& grant, UnixTime now) {
  if (!request.proof.grant.empty()) return prove_with_grant(challenge, request, grant, now);
  const bool needs_grant =
      request.approve && challenge.requirement.method == StepUpMethod::kApproval;
  if (needs_grant && options_.authority_key.empty() && !options_.approver_code_approves) {
    return refuse(ApprovalStatus::kNeedsGrant,
                  "this action needs an approver's signed grant: paste one from `stepgate "
                  "approve`, or start the shim with --authority-key");
  }
  const ApprovalProof& proof = request.proof;
  if (!is_valid_principal_id(proof.approver)) {
    return refuse(ApprovalStatus::kBadRequest, "approver id is missing or invalid");
  }
  const bool listed = policy_.find_approver(proof.approver) != nullptr;
  const bool actor =
      proof.approver == challenge.actor && challenge.requirement.method == StepUpMethod::kTotp;
  if (!listed && !actor) {
    return refuse(ApprovalStatus::kNotAllowed,
                  "`" + proof.approver +
                      "` may not decide this challenge (not an approver in the policy, nor its "
                      "actor for a TOTP step-up)");
  }
  // Checked before the code, so a refused approver does not spend a TOTP step.
  if (needs_grant && proof.approver == challenge.actor && !policy_.allow_self_approval) {
    return refuse(ApprovalStatus::kSelfApproval,
                  "`" + proof.approver +
                      "` cannot approve their own action (allow_self_approval is off); ask "
                      "another approver");
  }
  ApprovalOutcome out = check_code(proof.approver, proof.code, proof.source, now);
  if (!out.ok() || !request.approve || options_.authority_key.empty()) return out;
  auto signed_grant = authority_grant(challenge, now);
  if (!signed_grant) return refuse(ApprovalStatus::kUnavailable, signed_grant.error().message);
  grant = *signed_grant;
  return out;
}

ApprovalOutcome Approvals::prove_with_grant(const Challenge& challenge,
                                            const ApprovalRequest& request, std::string& grant,
                                            UnixTime now) {
  auto claims = verify_grant_claims(request.proof.grant, policy_, challenge.action_digest,
                                    challenge.actor, now);
  if (!claims) {
    return refuse(ApprovalStatus::kGrantRefused, "grant refused: " + claims.error().message);
  }
  const bool refusal = claims->decision == "deny";
  if (request.approve && refusal) {
    return refuse(ApprovalStatus::kGrantRefused,
                  "grant refused: approver `" + claims->approver + "` refused this action");
  }
  if (!request.approve && !refusal) {
    // An approving grant proves a listed approver looked at it; it may stop the action too.
    return proven(claims->approver);
  }
  if (request.approve) grant = request.proof.grant;
  return proven(refusal ? claims->approver + " (signed refusal)" : claims->approver);
}

ApprovalOutcome Approvals::check_code(const std::string& approver, const std::string& code,
                                      const ProofSource& source, UnixTime now) {
  auto enrollment = load_totp_enrollment(paths_.secrets_dir, approver);
  if (!enrollment) {
    if (enrollment.error().code == ErrorCode::kNotFound) {
      return refuse(ApprovalStatus::kNotEnrolled, "no TOTP enrollment for `" + approver + "`");
    }
    return refuse(ApprovalStatus::kUnavailable, enrollment.error().message);
  }
  if (!enrollment->active) {
    return refuse(ApprovalStatus::kNotEnrolled,
                  "the TOTP enrollment of `" + approver + "` is not activated");
  }
  auto check = verify_totp(store_, *enrollment, code, now, source);
  if (!check) return refuse(ApprovalStatus::kUnavailable, check.error().message);
  if (*check != TotpCheck::kOk) return refuse(status_for(*check), totp_check_message(*check));
  return proven(approver);
}

ApprovalOutcome Approvals::check_signer(const Challenge& challenge, const std::string& approver,
                                        const Bytes& private_key, bool approve) const {
  const Approver* listed = policy_.find_approver(approver);
  if (listed == nullptr) {
    return refuse(ApprovalStatus::kNotAllowed,
                  "`" + approver + "` is not an approver in " + policy_.source_path +
                      " (run `stepgate keygen` and add the printed snippet)");
  }
  auto public_key = parse_public_key(listed->public_key);
  auto mine = ed25519_public_from_private(private_key);
  if (!public_key || !mine || *public_key != *mine) {
    return refuse(
        ApprovalStatus::kBadRequest,
        "the key of `" + approver + "` does not match its public_key in " + policy_.source_path);
  }
  if (approve && approver == challenge.actor && !policy_.allow_self_approval) {
    return refuse(ApprovalStatus::kSelfApproval,
                  "`" + approver +
                      "` cannot approve their own action (allow_self_approval is off); ask "
                      "another approver");
  }
  return proven(approver);
}

bool Approvals::signer_needs_code(const std::string& approver) const {
  const Approver* listed = policy_.find_approver(approver);
  return listed != nullptr && listed->require_totp;
}

bool Approvals::record_signed(const Challenge& challenge, bool approve, const std::string& approver,
                              const std::string& comment, const std::string& grant) {
  auto record = store_.get_challenge(challenge.id);
  if (!record || !record->has_value()) return false;
  if ((*record)->state != ChallengeState::kPending) return false;
  if ((*record)->action_digest != challenge.action_digest) return false;
  auto decided = store_.decide_challenge(
      challenge.id, approve ? ChallengeState::kApproved : ChallengeState::kDenied, approver,
      comment, grant);
  return decided && *decided;
}

Result<std::string> Approvals::authority_grant(const Challenge& challenge, UnixTime now) {
  const std::string& id = options_.authority_key;
  if (policy_.find_approver(id) == nullptr) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "the authority key `" + id + "` is not an approver in the policy");
  }
  auto key = load_approver_key(paths_.secrets_dir, id);
  if (!key) return key.error();
  auto jti = random_id(16);
  if (!jti) return jti.error();
  Grant grant;
  grant.action_digest = challenge.action_digest;
  grant.approver = id;
  grant.actor = challenge.actor;
  grant.iat = now;
  grant.exp = now + policy_.grant_ttl.count();
  grant.jti = *jti;
  grant.policy_revision = policy_.revision;
  return sign_grant(grant, *key);
}

}  // namespace stepgate
