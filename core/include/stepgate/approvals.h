#pragma once
/// Approvals: the challenges of held actions and deciding them with proof. A core service with no
/// HTTP: the shim's inbox and JSON API, `stepgate approve`, `ci gate --wait` and `mcp-wrap` (and
/// the authority) call it and map its typed outcome to an HTTP status, an exit code or a JSON-RPC
/// answer. None of them decides who may approve.
///
/// Who may decide a challenge. Approve and deny need the same proof, so a process that can reach
/// a listener can neither approve its own call nor refuse other calls to deny service:
///  - a TOTP code of an approver listed in the policy (enrolled and activated), or of the
///    challenge's actor when its method is `totp` (the solo path: the actor's own code is exactly
///    what a `totp` step-up asks for);
///  - a challenge whose method is `approval` is approved only with an approver's signed grant
///    (one handed in, or one signed with the configured authority key after a listed approver's
///    code checked out) or, where the approvers' seeds live with the party that verifies them
///    (the authority: ApprovalsOptions::approver_code_approves), a listed approver's own code;
///    the actor never approves their own `approval` challenge unless the policy says
///    allow_self_approval;
///  - a grant that verify_grant accepts for the challenge's digest approves it; a well-signed
///    refusal (decision `deny`) denies it.
/// Wrong TOTP codes are counted per source as well as per prover (the rule is on verify_totp):
/// a stranger's wrong codes lock out the stranger's source, never a code typed on this machine.

#include <optional>
#include <string>
#include <string_view>

#include "stepgate/audit.h"
#include "stepgate/paths.h"
#include "stepgate/policy.h"
#include "stepgate/result.h"
#include "stepgate/stepup.h"
#include "stepgate/store.h"

namespace stepgate {

/// Where a TOTP code came from, for counting wrong codes (see verify_totp below).
struct ProofSource {
  /// False: typed on this machine (a terminal prompt, `stepgate approve --totp`). True: arrived
  /// over the network (the inbox page, the JSON API), where anyone who can connect may send it.
  bool remote = false;
  /// For a remote code: who sent it (an inbox session, else the peer address). Only compared.
  std::string id;
};

/// A source for codes typed on this machine.
inline ProofSource local_proof_source() {
  return {};
}

/// verify_totp (stepup.h) with the code's source. Lockout rule, so that a stranger's wrong codes
/// cannot lock someone else out:
///  - wrong codes are counted per (actor, source): 5 from one source within 10 minutes lock out
///    that source, for this actor, for 10 minutes; every other source still works;
///  - wrong codes from all remote sources together are counted too: 20 within 10 minutes lock
///    out every remote source for this actor for 10 minutes (this bounds online guessing to about
///    25 codes per 10 minutes however many sessions a guesser opens), while codes typed on this
///    machine (local source) are never locked out by remote failures;
///  - a right code clears the failures of the source that sent it.
/// stepup.h's 4-argument verify_totp is this with the local source.
Result<TotpCheck> verify_totp(StateStore& store, const TotpEnrollment& enrollment,
                              std::string_view code, UnixTime now, const ProofSource& source);

/// The checks of verify_grant except the decision: a well-signed refusal (`decision` "deny") is
/// returned as a Grant, so a caller tells approve from deny by the claim, not by message text.
Result<Grant> verify_grant_claims(std::string_view token, const Policy& policy,
                                  const std::string& action_digest, const std::string& actor,
                                  UnixTime now);

/// What became of a request to decide a challenge. Callers branch on this, never on a message.
enum class ApprovalStatus {
  kDecided,        // the challenge is now approved or denied
  kNotFound,       // no challenge with that id
  kNotPending,     // already approved, denied or used (or decided meanwhile)
  kExpired,        // pending but past its expiry
  kMissingProof,   // neither a TOTP code nor a grant
  kBadRequest,     // an approver id that is no id, an unreadable challenge
  kNotAllowed,     // the prover may not decide this challenge
  kSelfApproval,   // the actor approving their own `approval` challenge (allow_self_approval off)
  kNeedsGrant,     // an `approval` challenge, no grant, and no authority key to sign one
  kNotEnrolled,    // no activated TOTP enrollment for the prover
  kWrongCode,      // TOTP code wrong
  kReplayedCode,   // TOTP code already used
  kMalformedCode,  // not 6 or 8 digits
  kLockedOut,      // too many wrong codes from this source (see verify_totp)
  kGrantRefused,   // a grant that does not hold for this challenge
  kUnavailable,    // the state store or a key could not be read; try again
};

/// "decided", "not_found", "locked_out"... (stable: used in JSON answers).
const char* approval_status_name(ApprovalStatus status);

/// The ErrorCode family of a status, for front-ends that map codes to HTTP or exit statuses:
/// kInvalidArgument (bad request, missing proof, needs grant), kNotFound, kFailedPrecondition
/// (not pending, expired), kPermissionDenied (refused proof), kResourceExhausted (locked out),
/// kUnavailable. kDecided has none (nullopt).
std::optional<ErrorCode> approval_error_code(ApprovalStatus status);

/// The proof offered to decide a challenge.
struct ApprovalProof {
  std::string approver;  // whose TOTP code: a listed approver, or the actor of a `totp` challenge
  std::string code;      // TOTP code
  std::string grant;     // compact JWS
  ProofSource source;    // where the code came from (counts wrong codes per source)
};

struct ApprovalRequest {
  std::string id;  // the challenge id
  bool approve = true;
  ApprovalProof proof;
  std::string comment;
};

struct ApprovalOutcome {
  ApprovalStatus status = ApprovalStatus::kDecided;
  std::string message;     // one line for a human ("approved by alice", "wrong code")
  std::string decided_by;  // kDecided: the verified approver or actor
  std::optional<ChallengeRecord> record;  // the challenge afterwards, when there is one
  [[nodiscard]] bool ok() const { return status == ApprovalStatus::kDecided; }
};

struct ApprovalsOptions {
  /// Approver id whose key (secrets_dir/keys/ID.key) signs a grant after a TOTP approval, so
  /// processes with another state store (mcp-wrap, CI) can verify it. "" = none.
  std::string authority_key;
  std::string front_end = "approvals";  // written to the audit log
  /// A listed approver's TOTP code (never the actor's, unless allow_self_approval) approves an
  /// `approval` challenge by itself, no grant needed. Only for a verifier that holds the seeds
  /// out of the actor's reach (the authority): there the code is the approver's proof, as a
  /// grant is elsewhere, and nothing else must verify the approval later.
  bool approver_code_approves = false;
};

/// A state read from a challenge record's JSON ("pending", "approved"...); nullopt if unknown.
std::optional<ChallengeState> parse_challenge_state(std::string_view name);

/// The summary the inbox shows for a challenge (kind, actor, resource, score, reasons, digest,
/// method, arguments), as JSON text.
std::string challenge_summary_json(const Challenge& challenge);

/// A challenge handed in by another process, as the store holds it.
struct RegisteredChallenge {
  ChallengeRecord record;
  bool created = false;  // false: it was already there (decided or not)
};

/// Deciding held actions against one policy and one state store.
class Approvals {
 public:
  Approvals(const Policy& policy, StateStore& store, AuditLog* audit, Paths paths,
            ApprovalsOptions options = {});

  /// Registers the challenge of an action held now, or hands back the challenge already pending
  /// or denied for the same action digest (a retried call waits on one challenge; a refusal
  /// stays the answer until it expires). `summary_json` "" = challenge_summary_json(challenge).
  /// kUnavailable when the store fails.
  Result<ChallengeRecord> hold(const Challenge& challenge, const std::string& token,
                               const std::string& summary_json, UnixTime now);

  /// Registers an encoded challenge handed in by another process (`ci gate --wait`, `stepgate
  /// approve`), or returns the record already held under its id. kInvalidArgument: unreadable or
  /// altered token; kFailedPrecondition: expired; kUnavailable: store.
  Result<RegisteredChallenge> register_token(std::string_view token, UnixTime now);

  /// The record with `id`; a pending one past its expiry is reported as kExpired.
  Result<std::optional<ChallengeRecord>> find(const std::string& id, UnixTime now);

  /// Approves or denies a pending challenge after checking the proof, and audits the decision.
  ApprovalOutcome decide(const ApprovalRequest& request, UnixTime now);

  /// Checks that `approver`, holding `private_key`, may sign a grant deciding `challenge`
  /// (`stepgate approve` with a key): listed in the policy, the key matches the listed public
  /// key, not approving their own action unless allow_self_approval. kNotAllowed, kBadRequest,
  /// kSelfApproval, or kDecided when it may.
  ApprovalOutcome check_signer(const Challenge& challenge, const std::string& approver,
                               const Bytes& private_key, bool approve) const;

  /// Whether `approver` must also give their own TOTP code to sign (require_totp).
  [[nodiscard]] bool signer_needs_code(const std::string& approver) const;

  /// Checks `approver`'s TOTP code (enrolled, activated, right, not replayed, not locked out).
  ApprovalOutcome check_code(const std::string& approver, const std::string& code,
                             const ProofSource& source, UnixTime now);

  /// Tells the store's record of `challenge` (when one is pending for that digest) that a key
  /// holder decided it, with the grant they signed. Returns true when a record was decided.
  bool record_signed(const Challenge& challenge, bool approve, const std::string& approver,
                     const std::string& comment, const std::string& grant);

 private:
  /// Checks the proof of `request`; kDecided with decided_by set (and `grant` to store with an
  /// approval) when it holds.
  ApprovalOutcome prove(const Challenge& challenge, const ApprovalRequest& request,
                        std::string& grant, UnixTime now);
  ApprovalOutcome prove_with_grant(const Challenge& challenge, const ApprovalRequest& request,
                                   std::string& grant, UnixTime now);
  Result<std::string> authority_grant(const Challenge& challenge, UnixTime now);

  const Policy& policy_;
  StateStore& store_;
  AuditLog* audit_;
  Paths paths_;
  ApprovalsOptions options_;
};

}  // namespace stepgate
