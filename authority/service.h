#pragma once
// The authority: one object that holds everything the actor must not control (its policy, the
// TOTP seeds, its signing key, the state store with the single-use ledger, lockouts, elevations
// and challenges, and the audit log of record) and answers requests from identified peers.

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "reply_signer.h"
#include "stepgate/audit.h"
#include "stepgate/crypto.h"
#include "stepgate/engine.h"
#include "stepgate/paths.h"
#include "stepgate/policy_layers.h"
#include "stepgate/store.h"
#include "stepgate/value.h"

namespace stepgate::authority {

/// Who is asking: the kernel's word for a Unix socket peer (SO_PEERCRED), or "inbox" for the
/// loopback HTTP inbox (where the proof, not the caller, establishes who decides).
struct Peer {
  uid_t uid = static_cast<uid_t>(-1);
  pid_t pid = 0;
  std::string actor;  // mapped by the configuration; "" when the uid is not mapped
  bool admin = false;
  std::string via = "socket";  // "socket" or "inbox"
  /// At the inbox: the page load the request came from (a random id its script makes), so that
  /// wrong codes sent from one page (an agent's) do not lock out another (the human's browser).
  /// Only compared; "" when the request named none.
  std::string session;
};

/// A proof offered to decide a challenge.
struct ChallengeProof {
  std::string approver;  // who proves; "" = the challenge's actor
  std::string code;      // a TOTP code from that person's authenticator (held by the authority)
  std::string grant;     // or an approver's grant, signed offline with their own key (compact JWS)
  std::string comment;
};

class Authority {
 public:
  /// Opens the state directory (0700), its store, audit log and signing key (created 0600 on
  /// first start) and loads the administrator's policy. Errors name the file. `clock` (empty: the
  /// system clock) is the authority's time for every decision, code and expiry: the serving
  /// process's ProcessContext clock, so tests drive it.
  static Result<std::unique_ptr<Authority>> open(const AuthorityConfig& config,
                                                 std::function<UnixTime()> clock = {});
  ~Authority();
  Authority(const Authority&) = delete;
  Authority& operator=(const Authority&) = delete;

  /// The identity of a socket peer by uid (actor "" when unmapped; uid 0 and `admins` are admins).
  [[nodiscard]] Peer peer_for(uid_t uid, pid_t pid) const;

  /// Answers one request (ops: hello, decide, approve, deny, challenge, enroll_code, audit_token,
  /// enroll, activate). The reply carries "ok", the request's "nonce" when it had one, and is
  /// signed unless the request says "sign": false; every refusal is also audited.
  Value handle(Value request, const Peer& peer);
  /// The same for a socket listener: `done` gets the reply, serialized as JSON, once the
  /// request's audit records are on disk (audit_sync: durable; at once in batch mode), on this
  /// thread or on the audit log's batch thread, so no worker sleeps on the disk and concurrent
  /// requests share one fsync. The reply is serialized here, on the caller's thread: the batch
  /// thread only sends. `done` must not block.
  void handle(Value request, const Peer& peer, std::function<void(std::string)> done);

  /// Approves or denies a pending challenge with a TOTP proof. Refusals (unknown id, not pending,
  /// not allowed to decide, wrong code, lockout) are typed errors and audited.
  Result<ChallengeRecord> decide_challenge(const std::string& id, const ChallengeProof& proof,
                                           bool approve, const Peer& peer);

  /// Pending challenges (for the inbox).
  Result<std::vector<ChallengeRecord>> pending_challenges();
  Result<std::optional<ChallengeRecord>> find_challenge(const std::string& id);

  /// Whether `token` is one of the access tokens `authority audit-token` issued (hashes kept in
  /// audit_tokens_file; compared in constant time).
  [[nodiscard]] bool audit_token_valid(std::string_view token) const;

  /// Records a refusal of `op` in the audit log and returns the error reply for it (unsigned:
  /// handle() signs what it answers).
  Value refuse(const std::string& op, const Peer& peer, const Error& error);

  [[nodiscard]] const AuthorityConfig& config() const { return config_; }
  [[nodiscard]] std::string public_key() const;
  /// The authority's time (the injected clock).
  [[nodiscard]] UnixTime now() const;
  /// Flushes the audit log (on shutdown).
  Status close();

 private:
  Authority(AuthorityConfig config, std::shared_ptr<const Policy> policy,
            std::unique_ptr<StateStore> store, std::unique_ptr<AuditLog> audit, Ed25519KeyPair key,
            ReplySigner signer, std::function<UnixTime()> clock);

  /// The reply to one request, unsigned. An operation may move what it keeps out of `request`.
  Value dispatch(Value& request, const Peer& peer);
  Value hello(const Peer& peer);
  Value decide(Value& request, const Peer& peer);
  Value approve_op(const Value& request, const Peer& peer, bool approve);
  Value challenge_op(const Value& request, const Peer& peer);
  Value enroll_code(const Value& request, const Peer& peer);
  Value audit_token(const Peer& peer);
  Value enroll(const Value& request, const Peer& peer);
  Value activate(const Value& request, const Peer& peer);
  /// The authority's policy layered with the client's (cached by their hashes); an error names
  /// the client layer that does not load. Thread-safe (engines_mu_).
  Result<std::shared_ptr<const LayeredEngine>> layered_engine(const Value* layers);
  Status audit(const std::string& type, Value fields);
  [[nodiscard]] Paths paths() const;

  AuthorityConfig config_;
  std::shared_ptr<const Policy> policy_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<AuditLog> audit_;
  Ed25519KeyPair key_;
  ReplySigner signer_;  // key_ loaded once: every reply is signed
  std::function<UnixTime()> clock_;
  // Guards the challenge and enrolment bookkeeping (find, then create or consume); the store and
  // the audit log are thread-safe on their own.
  std::mutex mu_;
  // The layer cache: read by every decision, written for a new set of client layers.
  std::shared_mutex engines_mu_;
  std::map<std::string, std::shared_ptr<const LayeredEngine>> engines_;
};

/// A challenge id short enough to read aloud: "xxxx-xxxx" in lowercase base32.
Result<std::string> short_challenge_id();

}  // namespace stepgate::authority
