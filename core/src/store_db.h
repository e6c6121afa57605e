#pragma once
// Private to the state store: the SQLite connection, its statement cache and transactions, and
// the in-memory activity cache of long-running processes. Shared by store.cpp (schema, grants,
// TOTP, challenges) and store_activity.cpp (elevations, velocity, devices, seen keys).

#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stepgate/store.h"

namespace stepgate::store_detail {

constexpr unsigned kPurgeEvery = 32;  // opportunistic purge frequency (writes between purges)

inline UnixTime wall_clock_now() {
  return static_cast<UnixTime>(std::time(nullptr));
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
    return p != nullptr ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i)))
                        : "";
  }

 private:
  sqlite3_stmt* s_;
};

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
    if (db != nullptr) sqlite3_close_v2(db);
  }

  [[nodiscard]] Error error(std::string_view what) const {
    return make_error(ErrorCode::kUnavailable,
                      "state store " + path + ": " + std::string(what) + ": " +
                          (db != nullptr ? sqlite3_errmsg(db) : "no database"));
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

  // Writes through the connection: logically non-const, though only the handle is a member.
  Status exec(const char* sql) {  // NOLINT(readability-make-member-function-const)
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) == SQLITE_OK) return {};
    std::string text = msg != nullptr ? msg : sqlite3_errmsg(db);
    sqlite3_free(msg);
    return make_error(ErrorCode::kUnavailable, "state store " + path + ": " + text);
  }

  /// Runs a statement that returns no rows; the number of rows it changed.
  Result<int> run(Stmt& s) {  // NOLINT(readability-make-member-function-const): writes
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

/// What a long-running process keeps in memory between round trips to SQLite (StoreOptions).
struct ActivityCache {
  using Clock = std::chrono::steady_clock;
  /// One (kind, actor) velocity key: the database's count when last refreshed plus the records
  /// this process made since.
  struct Count {
    Clock::time_point refreshed;
    UnixTime since = 0;  // the window start the database count was taken for
    int64_t stored = 0;  // rows in the database then (this process's flushed rows included)
    /// This process's records since the refresh, as (second, records) in ascending seconds: a
    /// busy shim records thousands a second, and counting them one timestamp at a time was a
    /// walk of up to kCountCap entries per call.
    std::vector<std::pair<UnixTime, int64_t>> local;
    int64_t local_total = 0;  // the sum of `local`'s records
  };
  /// One (kind, actor) history for action_times: the database's most recent rows when last
  /// refreshed plus the records this process made since, oldest first. The baselines read 2,000
  /// rows of it per decision; from SQLite that was ~350k instructions a call.
  struct History {
    Clock::time_point refreshed;
    UnixTime since = 0;  // the window start the database rows were read for
    int limit = 0;       // the row limit they were read with
    /// Ascending. Trimmed from the front to its newest `limit` once it holds twice that: what
    /// is dropped is older than any `limit` newest rows a later call can ask for.
    std::vector<UnixTime> times;
  };
  /// Recorded actions of one (kind, actor) in one second, not yet written.
  struct Action {
    std::string kind, actor;
    UnixTime at = 0;
    int64_t n = 0;
  };
  struct CachedElevation {
    Clock::time_point fetched;
    std::optional<Elevation> elevation;
  };
  std::map<std::pair<std::string, std::string>, Count> counts;
  std::map<std::pair<std::string, std::string>, History> histories;
  /// Recorded, not yet written: one entry per (kind, actor, second), so a flush writes a row per
  /// key and second however many calls it covers.
  std::vector<Action> pending;
  Clock::time_point last_flush = Clock::now();
  std::set<std::pair<std::string, std::string>> known_devices;  // (actor, device)
  std::set<std::pair<std::string, std::string>> seen;           // (ns, key)
  std::map<std::pair<std::string, std::string>, CachedElevation> elevations;
};

}  // namespace stepgate::store_detail

namespace stepgate {

struct StateStore::Impl : store_detail::Db {
  StoreOptions options;
  store_detail::ActivityCache cache;
  [[nodiscard]] bool caching() const { return options.cache_ms > 0; }
  [[nodiscard]] std::chrono::milliseconds ttl() const {
    return std::chrono::milliseconds(options.cache_ms);
  }
  /// Writes the buffered action records in one transaction. Caller holds `mu`.
  Status flush_pending_locked();
};

// The member functions share one shape: lock, borrow a cached statement, bind, step.
#define STEPGATE_PREPARE(var, sql)           \
  auto var##_p = impl_->prepare(sql);        \
  if (!var##_p.ok()) return var##_p.error(); \
  Stmt var(*var##_p)

}  // namespace stepgate
