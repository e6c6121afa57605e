#pragma once
/// Step-up: TOTP (RFC 6238), approver grants (compact JWS, EdDSA), challenges and elevations,
/// and the one interface every front-end uses to try to satisfy a step-up requirement.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stepgate/action.h"
#include "stepgate/audit.h"
#include "stepgate/crypto.h"
#include "stepgate/engine.h"
#include "stepgate/paths.h"
#include "stepgate/policy.h"
#include "stepgate/store.h"

namespace stepgate {

/// True when `id` is a safe actor/approver id (used as a file name): 1-128 characters of
/// [A-Za-z0-9._@-], not starting with '.'.
bool is_valid_principal_id(std::string_view id);

/// Splits a STEPGATE_GRANT-style value holding one or more grants (whitespace or comma separated).
std::vector<std::string> split_grants(std::string_view text);

// ---- TOTP -------------------------------------------------------------------------------------

struct TotpParams {
  HashAlg alg = HashAlg::kSha1;
  int digits = 6;
  int period = 30;
};

/// RFC 4226 HOTP value for `counter`, zero-padded to `digits`.
std::string hotp_code(const Bytes& key, uint64_t counter, int digits, HashAlg alg);
/// RFC 6238 TOTP value at unix time `t`.
std::string totp_code(const Bytes& key, UnixTime t, const TotpParams& params);

/// An actor's enrolled authenticator (stored 0600 as JSON in secrets_dir/totp/<actor>.json).
struct TotpEnrollment {
  std::string actor;
  Bytes key;
  TotpParams params;
  bool active = false;  // becomes true after one valid code
};

/// otpauth://totp/stepgate:ACTOR?secret=...&issuer=stepgate&algorithm=...&digits=...&period=...
std::string otpauth_uri(const TotpEnrollment& enrollment);

/// The QR code for `text`, drawn with UTF-8 half blocks (libqrencode), quiet zone included.
Result<std::string> render_qr_utf8(const std::string& text);

Result<TotpEnrollment> load_totp_enrollment(const std::string& secrets_dir,
                                            const std::string& actor);
Status save_totp_enrollment(const std::string& secrets_dir, const TotpEnrollment& enrollment);

enum class TotpCheck { kOk, kWrong, kReplayed, kLockedOut, kMalformed };
const char* totp_check_message(TotpCheck check);

/// Verifies a code: ±1 time-step, constant-time compare, a step already used by the actor is
/// refused, 5 failures in 10 minutes lock the actor out for 10 minutes.
Result<TotpCheck> verify_totp(StateStore& store, const TotpEnrollment& enrollment,
                              std::string_view code, UnixTime now);

// ---- Grants -----------------------------------------------------------------------------------

/// Claims of a grant (JWS payload): what one approver approved (or refused).
struct Grant {
  std::string action_digest;  // "dig"
  std::string approver;       // "sub"
  std::string actor;          // "act"
  int64_t iat = 0;
  int64_t exp = 0;
  std::string jti;
  std::string policy_revision;       // "rev"
  std::string decision = "approve";  // or "deny"
};

/// Signs the claims as a compact JWS with alg EdDSA (header
/// {"alg":"EdDSA","typ":"stepgate-grant+jwt","kid":approver}).
Result<std::string> sign_grant(const Grant& grant, const Bytes& private_key);

/// Checks a grant against the policy and the action now being evaluated: well-formed, signed by
/// a listed approver, digest matches, not expired, not self-approved (unless allowed). Does not
/// consume the jti. Each failure has its own message (kPermissionDenied / kInvalidArgument).
Result<Grant> verify_grant(std::string_view token, const Policy& policy,
                           const std::string& action_digest, const std::string& actor,
                           UnixTime now);

/// Approver key files: secrets_dir/keys/<id>.key (0600, base64url private key).
Status save_approver_key(const std::string& secrets_dir, const std::string& approver,
                         const Ed25519KeyPair& keys);
Result<Bytes> load_approver_key(const std::string& secrets_dir, const std::string& approver);
/// "ed25519:<base64url raw public key>"
std::string format_public_key(const Bytes& public_key);
Result<Bytes> parse_public_key(std::string_view text);

// ---- Challenges -------------------------------------------------------------------------------

/// What a held action hands out: everything an approver needs to see what they approve.
struct Challenge {
  std::string id;
  std::string kind;
  std::string resource;
  std::string actor;
  std::string action_digest;
  std::string policy_revision;
  int score = 0;
  std::vector<std::string> reasons;  // rendered messages, "rule-id: message"
  Value signals = Map{};             // the salient signals (those the matching rules read)
  Value attributes = Map{};          // the action's attributes (for the inbox's full view)
  Requirement requirement;
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

/// "sgc1.<base64url(canonical JSON)>.<base64url(first 12 bytes of SHA-256 of it)>"
std::string encode_challenge(const Challenge& challenge);
/// Decodes and checks the checksum; truncated or altered strings are kInvalidArgument.
Result<Challenge> decode_challenge(std::string_view text);

/// Builds the challenge for a decision that needs step-up.
Result<Challenge> make_challenge(const Action& action, const Decision& decision,
                                 const Policy& policy, const Value& signals, UnixTime now);

// ---- Satisfying a requirement -----------------------------------------------------------------

/// The terminal side of step-up, injected so tests drive it without a process.
class StepUpIo {
 public:
  virtual ~StepUpIo() = default;
  /// Whether a terminal can be reached for prompting (/dev/tty).
  virtual bool has_terminal() = 0;
  /// Prompts with echo off; kUnavailable on timeout or no terminal.
  virtual Result<std::string> prompt_secret(const std::string& prompt,
                                            std::chrono::seconds timeout) = 0;
  /// A line for the person at the terminal (stderr).
  virtual void notice(const std::string& text) = 0;
};

/// StepUpIo on the process's /dev/tty.
class TerminalStepUpIo : public StepUpIo {
 public:
  bool has_terminal() override;
  Result<std::string> prompt_secret(const std::string& prompt,
                                    std::chrono::seconds timeout) override;
  void notice(const std::string& text) override;
};

/// StepUpIo with no terminal (CI, servers, the shim).
class NoTerminalStepUpIo : public StepUpIo {
 public:
  bool has_terminal() override { return false; }
  Result<std::string> prompt_secret(const std::string&, std::chrono::seconds) override;
  void notice(const std::string&) override {}
};

struct StepUpRequest {
  Action action;
  Decision decision;
  Value signals = Map{};
  std::string device;
  std::vector<std::string> grants;  // from STEPGATE_GRANT, --grant, a file, an HTTP header
  bool allow_interactive = true;
  std::string server_url;     // where an inbox runs, for the instructions
  std::string retry_command;  // how to re-run the held action ("git push"), for instructions
  /// How to re-run it with a grant, `<grant>` standing for it; "" = STEPGATE_GRANT=<grant> before
  /// retry_command. Server-side hooks read grants from push options, not the environment.
  std::string grant_retry;
  /// Server side (pre-receive): only approvals satisfy a step-up (grants offered, or a challenge
  /// approved in this store), never an elevation or a prompt, and the instructions name only
  /// approvers (no later run can ask for a code either).
  bool approvals_only = false;
  UnixTime now = 0;
};

struct StepUpResult {
  bool satisfied = false;
  std::string method;    // "grant", "elevation", "totp", "challenge" (approved in the inbox)
  std::string identity;  // the verified approver(s) or actor
  std::vector<std::string> problems;  // why each offered proof failed
  Challenge challenge;
  std::string challenge_token;
  std::string instructions;     // what an approver or the actor should run
  UnixTime elevation_ends = 0;  // satisfied by (or opening) an elevation: when it stops standing in
};

/// Tries, in order: the caller's grants, an approved challenge in the store for this digest, a
/// valid elevation, an interactive TOTP prompt (3 tries) when allowed and a terminal is there.
/// Records elevations on success, consumes jtis and TOTP steps, and audits every attempt.
class StepUp {
 public:
  StepUp(const Policy& policy, StateStore& store, AuditLog* audit, Paths paths);
  StepUpResult satisfy(const StepUpRequest& request, StepUpIo& io);

 private:
  const Policy& policy_;
  StateStore& store_;
  AuditLog* audit_;
  Paths paths_;
};

}  // namespace stepgate
