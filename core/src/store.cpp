#include "stepgate/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>

#include "stepgate/paths.h"

// Threading: one SQLite connection per StateStore, guarded by a mutex. The shim's threads share
// one store; every operation is short (one or two statements), so serialising them in-process costs
// little, while cross-process safety comes from SQLite's own locking (WAL + busy_timeout +
// BEGIN IMMEDIATE for every check-and-set).

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

constexpr int kSchemaVersion = 1;
constexpr int kBusyTimeoutMs = 5000;
constexpr int64_t kActionLogRetention = 31 * 86400;  // longest velocity window we keep
constexpr int64_t kFailureRetention = 86400;         // longest TOTP failure window we keep
constexpr int64_t kJtiPurgeGrace = 3600;             // clock skew allowance before purging
constexpr unsigned kPurgeEvery = 32;                 // opportunistic purge frequency

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

constexpr const char* kMigrations[] = {kMigrationV1};
static_assert(std::size(kMigrations) == kSchemaVersion);

constexpr const char* kChallengeColumns =
    "id, token, action_digest, summary_json, state, decided_by, comment, grant_token, created_at, "
    "expires_at";

UnixTime wall_clock_now() {
  return static_cast<UnixTime>(std::time(nullptr));
}

ChallengeState parse_state(std::string_view s) {
  if (s == "approved") return ChallengeState::kApproved;
  if (s == "denied") return ChallengeState::kDenied;
  if (s == "expired") return ChallengeState::kExpired;
  return ChallengeState::kPending;
}

/// A prepared statement borrowed from the cache: reset and unbound when the borrow ends.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(s_); }
  [[nodiscard]] int64_t int_at(int i) const { return sqlite3_column_int64(s_, i); }
  [[nodiscard]] std::string text_at(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))) : "";
  }

 private:
  sqlite3_stmt* s_;
};

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

}  // namespace

namespace {

/// The connection and its statement cache (StateStore::Impl is this, named for the helpers).
struct Db {
  sqlite3* db = nullptr;
  std::string path;
  int version = 0;
  unsigned writes = 0;  // drives the opportunistic purges
  std::mutex mu;        // guards db and the statement cache
  std::map<std::string, sqlite3_stmt*, std::less<>> cache;

  ~Db() {
    for (auto& [sql, s] : cache) sqlite3_finalize(s);
    if (db) sqlite3_close_v2(db);
  }

  [[nodiscard]] Error error(std::string_view what) const {
    return make_error(ErrorCode::kUnavailable, "state store " + path + ": " + std::string(what) +
                                                   ": " +
                                                   (db ? sqlite3_errmsg(db) : "no database"));
  }

  Result<sqlite3_stmt*> prepare(std::string_view sql) {
    if (auto it = cache.find(sql); it != cache.end()) return it->second;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &s, nullptr) != SQLITE_OK) {
      return error("prepare");
    }
    cache.emplace(std::string(sql), s);
    return s;
  }

  Status exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) == SQLITE_OK) return {};
    std::string text = msg ? msg : sqlite3_errmsg(db);
    sqlite3_free(msg);
    return make_error(ErrorCode::kUnavailable, "state store " + path + ": " + text);
  }

  /// Runs a statement that returns no rows; the number of rows it changed.
  Result<int> run(Stmt& s) {
    if (s.step() != SQLITE_DONE) return error("write");
    return sqlite3_changes(db);
  }
};

/// BEGIN IMMEDIATE ... COMMIT (rolled back unless committed): takes the write lock up front, so a
/// check-and-set cannot interleave with another process's.
class Transaction {
 public:
  explicit Transaction(Db& impl) : impl_(impl) {}
  ~Transaction() {
    if (open_) (void)impl_.exec("ROLLBACK");
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Status begin() {
    Status s = impl_.exec("BEGIN IMMEDIATE");
    open_ = s.ok();
    return s;
  }
  Status commit() {
    Status s = impl_.exec("COMMIT");
    if (s.ok()) open_ = false;
    return s;
  }

 private:
  Db& impl_;
  bool open_ = false;
};

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

struct StateStore::Impl : Db {};

StateStore::StateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StateStore::~StateStore() = default;

Result<std::unique_ptr<StateStore>> StateStore::open(const std::string& path) {
  if (Status s = create_private_file(path); !s.ok()) return s.error();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;  // our mutex guards the connection
  if (sqlite3_open_v2(path.c_str(), &impl->db, flags, nullptr) != SQLITE_OK) {
    return impl->error("open");
  }
  sqlite3_busy_timeout(impl->db, kBusyTimeoutMs);
  // Short-lived processes (hooks) must not pay a checkpoint and its fsyncs on every close; the
  // WAL is checkpointed automatically as it grows.
  sqlite3_db_config(impl->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
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

// The member functions below share one shape: lock, borrow a cached statement, bind, step.
#define STEPGATE_PREPARE(var, sql)           \
  auto var##_p = impl_->prepare(sql);        \
  if (!var##_p.ok()) return var##_p.error(); \
  Stmt var(*var##_p)

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

Status StateStore::add_elevation(const Elevation& e) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(up,
                   "INSERT OR REPLACE INTO elevations(actor, device, granted_at, expires_at, "
                   "method) VALUES(?, ?, ?, ?, ?)");
  up.bind(1, e.actor).bind(2, e.device).bind(3, e.granted_at).bind(4, e.expires_at);
  up.bind(5, e.method);
  if (auto r = impl_->run(up); !r.ok()) return r.error();
  return {};
}

namespace {
Elevation read_elevation(const Stmt& s) {
  return Elevation{s.text_at(0), s.text_at(1), s.int_at(2), s.int_at(3), s.text_at(4)};
}
}  // namespace

Result<std::optional<Elevation>> StateStore::find_elevation(const std::string& actor,
                                                            const std::string& device,
                                                            UnixTime now) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(q,
                   "SELECT actor, device, granted_at, expires_at, method FROM elevations WHERE "
                   "actor = ? AND device = ? AND expires_at > ? AND granted_at <= ?");
  q.bind(1, actor).bind(2, device).bind(3, now).bind(4, now);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<Elevation>{};
  if (rc != SQLITE_ROW) return impl_->error("read elevation");
  return std::optional<Elevation>{read_elevation(q)};
}

Result<std::vector<Elevation>> StateStore::list_elevations(UnixTime now) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(q,
                   "SELECT actor, device, granted_at, expires_at, method FROM elevations WHERE "
                   "expires_at > ? ORDER BY actor, device");
  q.bind(1, now);
  std::vector<Elevation> out;
  int rc = SQLITE_ROW;
  while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_elevation(q));
  if (rc != SQLITE_DONE) return impl_->error("list elevations");
  return out;
}

Result<int> StateStore::drop_elevations(const std::string& actor) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(del, "DELETE FROM elevations WHERE ?1 = '' OR actor = ?1");
  del.bind(1, actor);
  return impl_->run(del);
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

Status StateStore::record_action(const std::string& kind, const std::string& actor, UnixTime at) {
  std::lock_guard lock(impl_->mu);
  if (++impl_->writes % kPurgeEvery == 0) {
    STEPGATE_PREPARE(purge, "DELETE FROM action_log WHERE at < ?");
    purge.bind(1, at - kActionLogRetention);
    if (auto r = impl_->run(purge); !r.ok()) return r.error();
  }
  STEPGATE_PREPARE(ins, "INSERT INTO action_log(kind, actor, at) VALUES(?, ?, ?)");
  ins.bind(1, kind).bind(2, actor).bind(3, at);
  if (auto r = impl_->run(ins); !r.ok()) return r.error();
  return {};
}

Result<int> StateStore::count_actions(const std::string& kind, const std::string& actor,
                                      UnixTime since) {
  std::lock_guard lock(impl_->mu);
  // Capped: a count walks the rows in the window, and past a few thousand actions a burst is a
  // burst; the cap keeps a busy shim's per-call cost flat (documented in store.h).
  STEPGATE_PREPARE(q,
                   "SELECT COUNT(*) FROM (SELECT 1 FROM action_log WHERE kind = ? AND actor = ? "
                   "AND at >= ? LIMIT 1000)");
  q.bind(1, kind).bind(2, actor).bind(3, since);
  if (q.step() != SQLITE_ROW) return impl_->error("count actions");
  return static_cast<int>(q.int_at(0));
}

namespace {
/// SELECT 1 ... → whether a row exists.
Result<bool> exists(Db& impl, Stmt& q) {
  int rc = q.step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return impl.error("read");
}
}  // namespace

Result<bool> StateStore::is_device_known(const std::string& actor, const std::string& device) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(q, "SELECT 1 FROM known_devices WHERE actor = ? AND device = ?");
  q.bind(1, actor).bind(2, device);
  return exists(*impl_, q);
}

Result<bool> StateStore::mark_device_known(const std::string& actor, const std::string& device) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(
      ins, "INSERT OR IGNORE INTO known_devices(actor, device, first_seen) VALUES(?, ?, ?)");
  ins.bind(1, actor).bind(2, device).bind(3, wall_clock_now());
  auto changed = impl_->run(ins);
  if (!changed.ok()) return changed.error();
  return *changed == 1;
}

Result<bool> StateStore::has_seen(const std::string& ns, const std::string& key) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(q, "SELECT 1 FROM seen WHERE ns = ? AND key = ?");
  q.bind(1, ns).bind(2, key);
  return exists(*impl_, q);
}

Result<bool> StateStore::mark_seen(const std::string& ns, const std::string& key) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(ins, "INSERT OR IGNORE INTO seen(ns, key, first_seen) VALUES(?, ?, ?)");
  ins.bind(1, ns).bind(2, key).bind(3, wall_clock_now());
  auto changed = impl_->run(ins);
  if (!changed.ok()) return changed.error();
  return *changed == 1;
}

#undef STEPGATE_PREPARE

}  // namespace stepgate
