#include "stepgate/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "stepgate/paths.h"
#include "store_db.h"

// Threading: one SQLite connection per StateStore, guarded by a mutex. The shim's threads share
// one store; every operation is short (one or two statements), so serialising them in-process costs
// little, while cross-process safety comes from SQLite's own locking (WAL + busy_timeout +
// BEGIN IMMEDIATE for every check-and-set). Elevations, velocity, devices and seen keys, and the
// in-memory cache in front of them, are in store_activity.cpp.

namespace stepgate {

const char* challenge_state_name(ChallengeState s) {
  switch (s) {
    case ChallengeState::kPending:
      return "pending";
    case ChallengeState::kApproved:
      return "approved";
    case ChallengeState::kDenied:
      return "denied";
    case ChallengeState::kExpired:
      return "expired";
  }
  return "pending";
}

namespace {

using store_detail::Db;
using store_detail::kPurgeEvery;
using store_detail::Stmt;
using store_detail::Transaction;
using store_detail::wall_clock_now;

constexpr int kSchemaVersion = 3;
constexpr int kBusyTimeoutMs = 5000;
constexpr int kWalFramesMax = 200;            // see keep_wal_short
constexpr int64_t kFailureRetention = 86400;  // longest TOTP failure window we keep
constexpr int64_t kJtiPurgeGrace = 3600;      // clock skew allowance before purging

// Version 1 of the schema. Later versions append to kMigrations; never edit a shipped entry.
constexpr const char* kMigrationV1 = R"sql(
CREATE TABLE used_jti (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX used_jti_expiry ON used_jti(expires_at);
CREATE TABLE totp_steps (actor TEXT PRIMARY KEY, last_step INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE totp_failures (actor TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX totp_failures_actor ON totp_failures(actor, at);
CREATE TABLE lockouts (actor TEXT PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE elevations (actor TEXT NOT NULL, device TEXT NOT NULL, granted_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL, method TEXT NOT NULL, PRIMARY KEY (actor, device)) WITHOUT ROWID;
CREATE TABLE challenges (id TEXT PRIMARY KEY, token TEXT NOT NULL, action_digest TEXT NOT NULL,
  summary_json TEXT NOT NULL, state TEXT NOT NULL, decided_by TEXT NOT NULL, comment TEXT NOT NULL,
  grant_token TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  consumed INTEGER NOT NULL DEFAULT 0);
CREATE INDEX challenges_digest ON challenges(action_digest, created_at);
CREATE INDEX challenges_state ON challenges(state, expires_at);
CREATE TABLE action_log (kind TEXT NOT NULL, actor TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX action_log_key ON action_log(kind, actor, at);
CREATE INDEX action_log_at ON action_log(at);
CREATE TABLE known_devices (actor TEXT NOT NULL, device TEXT NOT NULL, first_seen INTEGER NOT NULL,
  PRIMARY KEY (actor, device)) WITHOUT ROWID;
CREATE TABLE seen (ns TEXT NOT NULL, key TEXT NOT NULL, first_seen INTEGER NOT NULL,
  PRIMARY KEY (ns, key)) WITHOUT ROWID;
)sql";

// Version 2: the signed checkpoint of each audit log's head (audit.h).
constexpr const char* kMigrationV2 = R"sql(
CREATE TABLE audit_checkpoints (log TEXT PRIMARY KEY, size INTEGER NOT NULL, note TEXT NOT NULL)
  WITHOUT ROWID;
)sql";

// Version 3: a velocity row counts `n` actions of one second (a busy shim records thousands a
// second; one row per action cost two B-tree inserts each). Old rows count one each.
constexpr const char* kMigrationV3 = R"sql(
ALTER TABLE action_log ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
)sql";

constexpr const char* kMigrations[] = {kMigrationV1, kMigrationV2, kMigrationV3};
static_assert(std::size(kMigrations) == kSchemaVersion);

constexpr const char* kChallengeColumns =
    "id, token, action_digest, summary_json, state, decided_by, comment, grant_token, created_at, "
    "expires_at";

ChallengeState parse_state(std::string_view s) {
  if (s == "approved") return ChallengeState::kApproved;
  if (s == "denied") return ChallengeState::kDenied;
  if (s == "expired") return ChallengeState::kExpired;
  return ChallengeState::kPending;
}

ChallengeRecord read_challenge(const Stmt& s) {
  ChallengeRecord c;
  c.id = s.text_at(0);
  c.token = s.text_at(1);
  c.action_digest = s.text_at(2);
  c.summary_json = s.text_at(3);
  c.state = parse_state(s.text_at(4));
  c.decided_by = s.text_at(5);
  c.comment = s.text_at(6);
  c.grant = s.text_at(7);
  c.created_at = s.int_at(8);
  c.expires_at = s.int_at(9);
  return c;
}

/// Replaces SQLite's auto-checkpoint (a PASSIVE checkpoint every 1,000 pages). The first process
/// to open the database after the last one closed rebuilds the WAL index by reading every valid
/// frame, and every hook run is such a process; a passive checkpoint copies frames back but leaves
/// them valid. So once the WAL holds kWalFramesMax frames, checkpoint and truncate it: hooks then
/// read at most that many frames at open, for the price of a checkpoint every few dozen runs.
int keep_wal_short(void* /*unused*/, sqlite3* db, const char* schema, int frames) {
  if (frames >= kWalFramesMax) {
    (void)sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }
  return SQLITE_OK;
}

Status create_private_file(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    if (Status s = ensure_private_dir(parent.string()); !s.ok()) return s;
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return make_error(ErrorCode::kUnavailable, "state store " + path + ": " + std::strerror(errno));
  }
  ::close(fd);
  return {};
}

Status migrate(Db& impl) {
  Transaction tx(impl);
  if (Status s = tx.begin(); !s.ok()) return s;
  auto v = impl.prepare("PRAGMA user_version");
  if (!v.ok()) return v.error();
  {
    Stmt s(*v);
    if (s.step() != SQLITE_ROW) return impl.error("read schema version");
    impl.version = static_cast<int>(s.int_at(0));
  }
  if (impl.version > kSchemaVersion) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "state store " + impl.path + ": schema version " +
                          std::to_string(impl.version) + " is newer than this stepgate (" +
                          std::to_string(kSchemaVersion) + ")");
  }
  for (int next = impl.version; next < kSchemaVersion; ++next) {
    if (Status s = impl.exec(kMigrations[next]); !s.ok()) return s;
  }
  if (impl.version < kSchemaVersion) {
    std::string pragma = "PRAGMA user_version = " + std::to_string(kSchemaVersion);
    if (Status s = impl.exec(pragma.c_str()); !s.ok()) return s;
  }
  if (Status s = tx.commit(); !s.ok()) return s;
  impl.version = kSchemaVersion;
  return {};
}

}  // namespace

StateStore::StateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StateStore::~StateStore() {
  std::lock_guard lock(impl_->mu);
  (void)impl_->flush_pending_locked();  // best effort: velocity records are a signal only
}

Result<std::unique_ptr<StateStore>> StateStore::open(const std::string& path,
                                                     StoreOptions options) {
  if (Status s = create_private_file(path); !s.ok()) return s.error();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;  // our mutex guards the connection
  if (sqlite3_open_v2(path.c_str(), &impl->db, flags, nullptr) != SQLITE_OK) {
    return impl->error("open");
  }
  sqlite3_busy_timeout(impl->db, kBusyTimeoutMs);
  // Short-lived processes (hooks) must not pay a checkpoint and its fsyncs on every close; the
  // WAL is checkpointed automatically as it grows.
  sqlite3_db_config(impl->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_wal_hook(impl->db, keep_wal_short, nullptr);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                             "PRAGMA foreign_keys=ON", "PRAGMA trusted_schema=OFF"}) {
    if (Status s = impl->exec(pragma); !s.ok()) return s.error();
  }
  if (Status s = migrate(*impl); !s.ok()) return s.error();
  return std::unique_ptr<StateStore>(new StateStore(std::move(impl)));
}

int StateStore::schema_version() const {
  return impl_->version;
}

Result<bool> StateStore::consume_jti(const std::string& jti, UnixTime expires_at) {
  std::lock_guard lock(impl_->mu);
  Transaction tx(*impl_);
  if (Status s = tx.begin(); !s.ok()) return s.error();
  if (++impl_->writes % kPurgeEvery == 0) {
    // Never purge the jti being consumed, whatever its expiry: a replay is always caught.
    STEPGATE_PREPARE(purge, "DELETE FROM used_jti WHERE expires_at < ? AND jti <> ?");
    purge.bind(1, wall_clock_now() - kJtiPurgeGrace).bind(2, jti);
    if (auto r = impl_->run(purge); !r.ok()) return r.error();
  }
  STEPGATE_PREPARE(ins, "INSERT OR IGNORE INTO used_jti(jti, expires_at) VALUES(?, ?)");
  ins.bind(1, jti).bind(2, expires_at);
  auto changed = impl_->run(ins);
  if (!changed.ok()) return changed.error();
  if (Status s = tx.commit(); !s.ok()) return s.error();
  return *changed == 1;
}

Result<bool> StateStore::use_totp_step(const std::string& actor, int64_t step) {
  std::lock_guard lock(impl_->mu);
  Transaction tx(*impl_);
  if (Status s = tx.begin(); !s.ok()) return s.error();
  STEPGATE_PREPARE(
      up,
      "INSERT INTO totp_steps(actor, last_step) VALUES(?, ?) ON CONFLICT(actor) DO "
      "UPDATE SET last_step = excluded.last_step WHERE excluded.last_step > totp_steps.last_step");
  up.bind(1, actor).bind(2, step);
  auto changed = impl_->run(up);
  if (!changed.ok()) return changed.error();
  if (*changed == 1) {
    // A good code ends the failure streak, in the same transaction as the step it used.
    STEPGATE_PREPARE(del, "DELETE FROM totp_failures WHERE actor = ?");
    del.bind(1, actor);
    if (auto r = impl_->run(del); !r.ok()) return r.error();
  }
  if (Status s = tx.commit(); !s.ok()) return s.error();
  return *changed == 1;
}

Status StateStore::record_totp_failure(const std::string& actor, UnixTime now) {
  std::lock_guard lock(impl_->mu);
  // Failures older than a day cannot matter to a lockout window; drop them as we go.
  STEPGATE_PREPARE(purge, "DELETE FROM totp_failures WHERE actor = ? AND at < ?");
  purge.bind(1, actor).bind(2, now - kFailureRetention);
  if (auto r = impl_->run(purge); !r.ok()) return r.error();
  STEPGATE_PREPARE(ins, "INSERT INTO totp_failures(actor, at) VALUES(?, ?)");
  ins.bind(1, actor).bind(2, now);
  if (auto r = impl_->run(ins); !r.ok()) return r.error();
  return {};
}

Result<int> StateStore::totp_failures_since(const std::string& actor, UnixTime since) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(q, "SELECT COUNT(*) FROM totp_failures WHERE actor = ? AND at >= ?");
  q.bind(1, actor).bind(2, since);
  if (q.step() != SQLITE_ROW) return impl_->error("count failures");
  return static_cast<int>(q.int_at(0));
}

Status StateStore::set_lockout(const std::string& actor, UnixTime until) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(up, "INSERT OR REPLACE INTO lockouts(actor, until) VALUES(?, ?)");
  up.bind(1, actor).bind(2, until);
  if (auto r = impl_->run(up); !r.ok()) return r.error();
  return {};
}

Result<UnixTime> StateStore::lockout_until(const std::string& actor) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(q, "SELECT until FROM lockouts WHERE actor = ?");
  q.bind(1, actor);
  int rc = q.step();
  if (rc == SQLITE_DONE) return UnixTime{0};
  if (rc != SQLITE_ROW) return impl_->error("read lockout");
  return q.int_at(0);
}

Status StateStore::clear_totp_failures(const std::string& actor) {
  std::lock_guard lock(impl_->mu);
  Transaction tx(*impl_);
  if (Status s = tx.begin(); !s.ok()) return s;
  STEPGATE_PREPARE(del, "DELETE FROM totp_failures WHERE actor = ?");
  del.bind(1, actor);
  if (auto r = impl_->run(del); !r.ok()) return r.error();
  STEPGATE_PREPARE(unlock, "DELETE FROM lockouts WHERE actor = ?");
  unlock.bind(1, actor);
  if (auto r = impl_->run(unlock); !r.ok()) return r.error();
  return tx.commit();
}

Status StateStore::put_challenge(const ChallengeRecord& c) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(up,
                   "INSERT OR REPLACE INTO challenges(id, token, action_digest, summary_json, "
                   "state, decided_by, comment, grant_token, created_at, expires_at, "
                   "consumed) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)");
  up.bind(1, c.id).bind(2, c.token).bind(3, c.action_digest).bind(4, c.summary_json);
  up.bind(5, std::string(challenge_state_name(c.state))).bind(6, c.decided_by).bind(7, c.comment);
  up.bind(8, c.grant).bind(9, c.created_at).bind(10, c.expires_at);
  if (auto r = impl_->run(up); !r.ok()) return r.error();
  return {};
}

Result<std::optional<ChallengeRecord>> StateStore::get_challenge(const std::string& id) {
  std::lock_guard lock(impl_->mu);
  static const std::string sql =
      std::string("SELECT ") + kChallengeColumns + " FROM challenges WHERE id = ?";
  STEPGATE_PREPARE(q, sql);
  q.bind(1, id);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<ChallengeRecord>{};
  if (rc != SQLITE_ROW) return impl_->error("read challenge");
  return std::optional<ChallengeRecord>{read_challenge(q)};
}

Result<std::optional<ChallengeRecord>> StateStore::find_challenge_by_digest(
    const std::string& digest, UnixTime now) {
  std::lock_guard lock(impl_->mu);
  // The newest unexpired, unconsumed challenge for this action (pending, approved or denied).
  static const std::string sql = std::string("SELECT ") + kChallengeColumns +
                                 " FROM challenges WHERE action_digest = ? AND expires_at > ? "
                                 "AND consumed = 0 ORDER BY created_at DESC, rowid DESC LIMIT 1";
  STEPGATE_PREPARE(q, sql);
  q.bind(1, digest).bind(2, now);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<ChallengeRecord>{};
  if (rc != SQLITE_ROW) return impl_->error("find challenge");
  return std::optional<ChallengeRecord>{read_challenge(q)};
}

Result<std::vector<ChallengeRecord>> StateStore::list_challenges(ChallengeState state,
                                                                 UnixTime now) {
  std::lock_guard lock(impl_->mu);
  // A pending challenge past its expiry is listed as expired, not pending.
  static const std::string sql =
      std::string("SELECT ") + kChallengeColumns +
      " FROM challenges WHERE (?1 = 'pending' AND state = 'pending' AND expires_at > ?2)"
      " OR (?1 = 'expired' AND (state = 'expired' OR (state = 'pending' AND expires_at <= ?2)))"
      " OR (?1 IN ('approved', 'denied') AND state = ?1) ORDER BY created_at, id";
  STEPGATE_PREPARE(q, sql);
  q.bind(1, std::string(challenge_state_name(state))).bind(2, now);
  std::vector<ChallengeRecord> out;
  int rc = SQLITE_ROW;
  while ((rc = q.step()) == SQLITE_ROW) {
    out.push_back(read_challenge(q));
    if (state == ChallengeState::kExpired) out.back().state = ChallengeState::kExpired;
  }
  if (rc != SQLITE_DONE) return impl_->error("list challenges");
  return out;
}

Result<bool> StateStore::decide_challenge(const std::string& id, ChallengeState state,
                                          const std::string& decided_by, const std::string& comment,
                                          const std::string& grant) {
  if (state == ChallengeState::kPending) {
    return invalid_argument("a challenge can only be decided as approved, denied or expired");
  }
  std::lock_guard lock(impl_->mu);
  Transaction tx(*impl_);
  if (Status s = tx.begin(); !s.ok()) return s.error();
  STEPGATE_PREPARE(up,
                   "UPDATE challenges SET state = ?, decided_by = ?, comment = ?, grant_token = ? "
                   "WHERE id = ? AND state = 'pending'");
  up.bind(1, std::string(challenge_state_name(state))).bind(2, decided_by).bind(3, comment);
  up.bind(4, grant).bind(5, id);
  auto changed = impl_->run(up);
  if (!changed.ok()) return changed.error();
  if (Status s = tx.commit(); !s.ok()) return s.error();
  return *changed == 1;
}

Result<bool> StateStore::consume_challenge(const std::string& id) {
  std::lock_guard lock(impl_->mu);
  Transaction tx(*impl_);
  if (Status s = tx.begin(); !s.ok()) return s.error();
  STEPGATE_PREPARE(up,
                   "UPDATE challenges SET consumed = 1 WHERE id = ? AND state = 'approved' AND "
                   "consumed = 0");
  up.bind(1, id);
  auto changed = impl_->run(up);
  if (!changed.ok()) return changed.error();
  if (Status s = tx.commit(); !s.ok()) return s.error();
  return *changed == 1;
}

Status StateStore::forget_totp_steps(const std::string& actor) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(del, "DELETE FROM totp_steps WHERE actor = ?");
  del.bind(1, actor);
  if (auto r = impl_->run(del); !r.ok()) return r.error();
  return {};
}

Result<bool> StateStore::put_audit_checkpoint(const std::string& log, uint64_t size,
                                              const std::string& note) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(
      up,
      "INSERT INTO audit_checkpoints(log, size, note) VALUES(?, ?, ?) ON CONFLICT(log) "
      "DO UPDATE SET size = excluded.size, note = excluded.note "
      "WHERE excluded.size > audit_checkpoints.size");
  up.bind(1, log).bind(2, static_cast<int64_t>(size)).bind(3, note);
  auto changed = impl_->run(up);
  if (!changed.ok()) return changed.error();
  return *changed == 1;
}

Result<std::optional<std::string>> StateStore::get_audit_checkpoint(const std::string& log) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(q, "SELECT note FROM audit_checkpoints WHERE log = ?");
  q.bind(1, log);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return impl_->error("read audit checkpoint");
  return std::optional<std::string>(q.text_at(0));
}

#undef STEPGATE_PREPARE

}  // namespace stepgate
