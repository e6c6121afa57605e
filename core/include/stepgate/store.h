#pragma once
/// The state store: SQLite (WAL, busy timeout), safe under concurrent hooks, CI jobs and shim
/// threads. Holds used grant ids, TOTP counters, failures and lockouts, elevations, pending
/// challenges, velocity counters, known devices and seen hosts. Schema is versioned.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stepgate/result.h"

namespace stepgate {

/// Unix time in seconds.
using UnixTime = int64_t;

struct Elevation {
  std::string actor;
  std::string device;
  UnixTime granted_at = 0;
  UnixTime expires_at = 0;
  std::string method;  // "totp", "approval"
};

enum class ChallengeState { kPending, kApproved, kDenied, kExpired };
const char* challenge_state_name(ChallengeState s);

/// A pending action waiting for approval, as registered with the store (shim, CI --wait).
struct ChallengeRecord {
  std::string id;
  std::string token;  // the encoded challenge string
  std::string action_digest;
  std::string summary_json;  // what the inbox shows (kind, resource, args, reasons, score)
  ChallengeState state = ChallengeState::kPending;
  std::string decided_by;  // approver id or actor who proved with TOTP
  std::string comment;
  std::string grant;  // the grant issued on approval (may be empty for TOTP approvals)
  UnixTime created_at = 0;
  UnixTime expires_at = 0;
};

/// How a store trades freshness for speed.
struct StoreOptions {
  /// 0 (one-shot processes: hooks, CLI): every call is a round trip to SQLite. > 0 (long-running
  /// processes: the shim, mcp-wrap): the per-action lookups are answered from memory, so an
  /// allowed call costs no SQLite statement in the steady state:
  /// - known devices and seen keys: a "yes" is remembered (they are never forgotten);
  /// - elevations: an answer is reused for cache_ms (this store's own add/drop clear it), so an
  ///   elevation granted or dropped by another process is seen within cache_ms;
  /// - velocity: record_action buffers rows and writes them in one transaction every cache_ms
  ///   (or 256 rows, or on flush/destruction); count_actions is the database's count at most
  ///   cache_ms old plus this process's records since, so other processes' actions are counted
  ///   within cache_ms; action_times likewise (the database's rows at most cache_ms old plus
  ///   this process's records since).
  int cache_ms = 0;
};

class StateStore {
 public:
  /// Opens (creating with mode 0600 and migrating) the database. kUnavailable on failure.
  static Result<std::unique_ptr<StateStore>> open(const std::string& path,
                                                  StoreOptions options = {});
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  [[nodiscard]] int schema_version() const;

  /// Writes buffered velocity records (StoreOptions::cache_ms); a no-op when nothing is buffered.
  Status flush();

  // Grants: a jti can be consumed once. Returns false when it was already used.
  Result<bool> consume_jti(const std::string& jti, UnixTime expires_at);

  // TOTP: records that `actor` used time-step `step` and clears their failures; false (and
  // nothing changed) if that step or a later one was already used (replay).
  Result<bool> use_totp_step(const std::string& actor, int64_t step);
  Status record_totp_failure(const std::string& actor, UnixTime now);
  Result<int> totp_failures_since(const std::string& actor, UnixTime since);
  Status set_lockout(const std::string& actor, UnixTime until);
  Result<UnixTime> lockout_until(const std::string& actor);  // 0 when none
  Status clear_totp_failures(const std::string& actor);
  /// Forgets the time-steps `actor` used: for a replaced seed, whose codes share nothing with the
  /// old one's (call it only after the new seed has replaced the old).
  Status forget_totp_steps(const std::string& actor);

  // Elevations.
  Status add_elevation(const Elevation& e);
  Result<std::optional<Elevation>> find_elevation(const std::string& actor,
                                                  const std::string& device, UnixTime now);
  Result<std::vector<Elevation>> list_elevations(UnixTime now);
  Result<int> drop_elevations(const std::string& actor);  // "" drops all; returns count

  // Challenges (pending approvals).
  Status put_challenge(const ChallengeRecord& c);
  Result<std::optional<ChallengeRecord>> get_challenge(const std::string& id);
  Result<std::optional<ChallengeRecord>> find_challenge_by_digest(const std::string& digest,
                                                                  UnixTime now);
  Result<std::vector<ChallengeRecord>> list_challenges(ChallengeState state, UnixTime now);
  /// Moves a pending challenge to approved/denied; false if it was no longer pending.
  Result<bool> decide_challenge(const std::string& id, ChallengeState state,
                                const std::string& decided_by, const std::string& comment,
                                const std::string& grant);
  /// Marks an approved challenge as used (single use); false if it was already used.
  Result<bool> consume_challenge(const std::string& id);

  // Velocity: record an action, count those of a kind by an actor since a time. Counts saturate
  // at 1,000 so the cost of a count stays bounded under a flood.
  Status record_action(const std::string& kind, const std::string& actor, UnixTime at);
  Result<int> count_actions(const std::string& kind, const std::string& actor, UnixTime since);
  /// The times of the most recent `limit` actions of a kind by an actor since a time, oldest
  /// first (this process's buffered records included): one indexed read for callers that need
  /// many windows of one history (the behavioural baselines) instead of a count per window.
  Result<std::vector<UnixTime>> action_times(const std::string& kind, const std::string& actor,
                                             UnixTime since, int limit);
  /// action_times without the copy (a long-running process keeps the history in memory): `visit`
  /// sees the times, oldest first, under the store's lock, so it must not call the store.
  Status visit_action_times(const std::string& kind, const std::string& actor, UnixTime since,
                            int limit, const std::function<void(std::span<const UnixTime>)>& visit);

  // Known devices and seen keys (hosts...). mark_* returns true when it was new.
  Result<bool> is_device_known(const std::string& actor, const std::string& device);
  Result<bool> mark_device_known(const std::string& actor, const std::string& device);
  Result<bool> has_seen(const std::string& ns, const std::string& key);
  Result<bool> mark_seen(const std::string& ns, const std::string& key);
  /// When `key` was first marked seen in `ns` (unix seconds); nullopt when never.
  Result<std::optional<UnixTime>> seen_at(const std::string& ns, const std::string& key);

  // Audit checkpoints: the latest signed checkpoint (audit.h) of each audit log, by its path.
  /// Keeps `note` as the checkpoint of `log` unless the one kept is for a size >= `size`: a
  /// head never moves back (an emptied log's new records do not replace the old anchor).
  /// Returns whether it was kept.
  Result<bool> put_audit_checkpoint(const std::string& log, uint64_t size, const std::string& note);
  /// The latest checkpoint note of `log`, if any.
  Result<std::optional<std::string>> get_audit_checkpoint(const std::string& log);

 private:
  struct Impl;
  explicit StateStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepgate
