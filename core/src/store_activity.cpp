// The state store's per-action lookups: elevations, velocity counts, known devices and seen keys,
// and (StoreOptions::cache_ms) the in-memory cache a long-running process answers them from.
#include <algorithm>
#include <utility>

#include "store_db.h"

namespace stepgate {
namespace {

using store_detail::ActivityCache;
using store_detail::Db;
using store_detail::kPurgeEvery;
using store_detail::Stmt;
using store_detail::Transaction;
using store_detail::wall_clock_now;

constexpr int64_t kActionLogRetention = int64_t{31} * 86400;  // longest velocity window we keep
constexpr int64_t kCountCap = 1000;                           // counts saturate here (see store.h)
constexpr std::size_t kMaxPending = 256;  // buffered action records before a flush

Elevation read_elevation(const Stmt& s) {
  return Elevation{s.text_at(0), s.text_at(1), s.int_at(2), s.int_at(3), s.text_at(4)};
}

/// SELECT 1 ... → whether a row exists.
Result<bool> exists(Db& impl, Stmt& q) {
  int rc = q.step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return impl.error("read");
}

#define STEPGATE_PREPARE_IN(impl, var, sql)  \
  auto var##_p = (impl).prepare(sql);        \
  if (!var##_p.ok()) return var##_p.error(); \
  Stmt var(*var##_p)

Result<std::optional<Elevation>> query_elevation(Db& impl, const std::string& actor,
                                                 const std::string& device, UnixTime now) {
  STEPGATE_PREPARE_IN(impl, q,
                      "SELECT actor, device, granted_at, expires_at, method FROM elevations WHERE "
                      "actor = ? AND device = ? AND expires_at > ? AND granted_at <= ?");
  q.bind(1, actor).bind(2, device).bind(3, now).bind(4, now);
  int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<Elevation>{};
  if (rc != SQLITE_ROW) return impl.error("read elevation");
  return std::optional<Elevation>{read_elevation(q)};
}

Status insert_action(Db& impl, const std::string& kind, const std::string& actor, UnixTime at,
                     int64_t n) {
  if (++impl.writes % kPurgeEvery == 0) {
    STEPGATE_PREPARE_IN(impl, purge, "DELETE FROM action_log WHERE at < ?");
    purge.bind(1, at - kActionLogRetention);
    if (auto r = impl.run(purge); !r.ok()) return r.error();
  }
  STEPGATE_PREPARE_IN(impl, ins, "INSERT INTO action_log(kind, actor, at, n) VALUES(?, ?, ?, ?)");
  ins.bind(1, kind).bind(2, actor).bind(3, at).bind(4, n);
  if (auto r = impl.run(ins); !r.ok()) return r.error();
  return {};
}

Result<int> query_count(Db& impl, const std::string& kind, const std::string& actor,
                        UnixTime since) {
  // Capped: a count walks the rows in the window, and past a few thousand actions a burst is a
  // burst; the cap keeps a busy shim's per-call cost flat (documented in store.h).
  // Each row is at least one action, so 1,000 rows hold at least the cap.
  STEPGATE_PREPARE_IN(
      impl, q,
      "SELECT COALESCE(SUM(n), 0) FROM (SELECT n FROM action_log WHERE kind = ? AND actor = ? "
      "AND at >= ? LIMIT 1000)");
  q.bind(1, kind).bind(2, actor).bind(3, since);
  if (q.step() != SQLITE_ROW) return impl.error("count actions");
  return static_cast<int>(std::min<int64_t>(q.int_at(0), kCountCap));
}

Result<bool> insert_or_ignore(Db& impl, const char* sql, const std::string& a,
                              const std::string& b) {
  STEPGATE_PREPARE_IN(impl, ins, sql);
  ins.bind(1, a).bind(2, b).bind(3, wall_clock_now());
  auto changed = impl.run(ins);
  if (!changed.ok()) return changed.error();
  return *changed == 1;
}

Result<std::vector<UnixTime>> query_times(Db& impl, const std::string& kind,
                                          const std::string& actor, UnixTime since, int limit) {
  // Each row is at least one action, so `limit` rows hold the newest `limit` actions.
  STEPGATE_PREPARE_IN(impl, q,
                      "SELECT at, n FROM action_log WHERE kind = ? AND actor = ? AND at >= ? "
                      "ORDER BY at DESC LIMIT ?");
  q.bind(1, kind).bind(2, actor).bind(3, since).bind(4, int64_t{limit});
  std::vector<UnixTime> out;
  int rc = SQLITE_ROW;
  while (std::cmp_less(out.size(), limit) && (rc = q.step()) == SQLITE_ROW) {
    const auto n = std::min<int64_t>(q.int_at(1), limit - static_cast<int64_t>(out.size()));
    out.insert(out.end(), static_cast<std::size_t>(std::max<int64_t>(n, 0)), q.int_at(0));
  }
  if (std::cmp_greater_equal(out.size(), limit)) rc = SQLITE_DONE;
  if (rc != SQLITE_DONE) return impl.error("read action times");
  std::reverse(out.begin(), out.end());
  return out;
}

/// The newest `limit` of ascending `times` at or after `since`, ascending.
std::span<const UnixTime> newest_since(const std::vector<UnixTime>& times, UnixTime since,
                                       int limit) {
  auto from = std::lower_bound(times.begin(), times.end(), since);
  if (times.end() - from > limit) from = times.end() - limit;
  return {from, times.end()};
}

#undef STEPGATE_PREPARE_IN

/// A cached count is stale once the TTL has passed or the caller's window has moved past what a
/// refresh a TTL ago could have seen.
bool is_fresh(const ActivityCache::Count& c, UnixTime since, std::chrono::milliseconds ttl) {
  const auto age = ActivityCache::Clock::now() - c.refreshed;
  const auto ttl_seconds = std::chrono::duration_cast<std::chrono::seconds>(ttl).count() + 1;
  return age < ttl && since >= c.since && since - c.since <= ttl_seconds;
}

}  // namespace

Status StateStore::Impl::flush_pending_locked() {
  cache.last_flush = store_detail::ActivityCache::Clock::now();
  if (cache.pending.empty()) return {};
  Transaction tx(*this);
  if (Status s = tx.begin(); !s.ok()) return s;
  for (const auto& a : cache.pending) {
    if (Status s = insert_action(*this, a.kind, a.actor, a.at, a.n); !s.ok()) return s;
  }
  if (Status s = tx.commit(); !s.ok()) return s;
  cache.pending.clear();
  return {};
}

Status StateStore::flush() {
  std::lock_guard lock(impl_->mu);
  return impl_->flush_pending_locked();
}

Status StateStore::add_elevation(const Elevation& e) {
  std::lock_guard lock(impl_->mu);
  impl_->cache.elevations.erase({e.actor, e.device});
  STEPGATE_PREPARE(up,
                   "INSERT OR REPLACE INTO elevations(actor, device, granted_at, expires_at, "
                   "method) VALUES(?, ?, ?, ?, ?)");
  up.bind(1, e.actor).bind(2, e.device).bind(3, e.granted_at).bind(4, e.expires_at);
  up.bind(5, e.method);
  if (auto r = impl_->run(up); !r.ok()) return r.error();
  return {};
}

Result<std::optional<Elevation>> StateStore::find_elevation(const std::string& actor,
                                                            const std::string& device,
                                                            UnixTime now) {
  std::lock_guard lock(impl_->mu);
  if (!impl_->caching()) return query_elevation(*impl_, actor, device, now);
  auto& cached = impl_->cache.elevations[{actor, device}];
  const auto clock_now = ActivityCache::Clock::now();
  if (cached.fetched.time_since_epoch().count() == 0 ||
      clock_now - cached.fetched >= impl_->ttl()) {
    auto fresh = query_elevation(*impl_, actor, device, now);
    if (!fresh.ok()) return fresh.error();
    cached.elevation = *fresh;
    cached.fetched = clock_now;
  }
  const auto& e = cached.elevation;
  if (e && e->expires_at > now && e->granted_at <= now) return e;
  return std::optional<Elevation>{};
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
  impl_->cache.elevations.clear();
  STEPGATE_PREPARE(del, "DELETE FROM elevations WHERE ?1 = '' OR actor = ?1");
  del.bind(1, actor);
  return impl_->run(del);
}

Status StateStore::record_action(const std::string& kind, const std::string& actor, UnixTime at) {
  std::lock_guard lock(impl_->mu);
  if (!impl_->caching()) return insert_action(*impl_, kind, actor, at, 1);
  ActivityCache& cache = impl_->cache;
  // A busy process records a few keys over and over within a second: look back for the entry.
  auto same = std::find_if(cache.pending.rbegin(), cache.pending.rend(), [&](const auto& a) {
    return a.at == at && a.kind == kind && a.actor == actor;
  });
  if (same != cache.pending.rend()) {
    ++same->n;
  } else {
    cache.pending.push_back({kind, actor, at, 1});
  }
  if (auto it = cache.counts.find({kind, actor}); it != cache.counts.end()) {
    ActivityCache::Count& c = it->second;
    if (c.local_total < kCountCap) {
      // Nearly always now, the last second or a new one; an older time goes in its place.
      auto pos = std::upper_bound(c.local.begin(), c.local.end(), at,
                                  [](UnixTime t, const auto& bucket) { return t < bucket.first; });
      if (pos != c.local.begin() && std::prev(pos)->first == at) {
        ++std::prev(pos)->second;
      } else {
        c.local.insert(pos, {at, 1});
      }
      ++c.local_total;
    }
  }
  if (auto it = cache.histories.find({kind, actor}); it != cache.histories.end()) {
    ActivityCache::History& h = it->second;
    h.times.insert(std::upper_bound(h.times.begin(), h.times.end(), at), at);
    const auto keep = static_cast<std::size_t>(h.limit);
    if (h.times.size() >= 2 * keep) {
      h.times.erase(h.times.begin(), h.times.end() - static_cast<std::ptrdiff_t>(keep));
    }
  }
  if (cache.pending.size() >= kMaxPending ||
      ActivityCache::Clock::now() - cache.last_flush >= impl_->ttl()) {
    return impl_->flush_pending_locked();
  }
  return {};
}

Result<int> StateStore::count_actions(const std::string& kind, const std::string& actor,
                                      UnixTime since) {
  std::lock_guard lock(impl_->mu);
  if (!impl_->caching()) return query_count(*impl_, kind, actor, since);
  ActivityCache& cache = impl_->cache;
  auto [it, added] = cache.counts.try_emplace({kind, actor});
  ActivityCache::Count& c = it->second;
  if (added || !is_fresh(c, since, impl_->ttl())) {
    // The database must hold this process's own records before it is counted again.
    if (Status s = impl_->flush_pending_locked(); !s.ok()) return s.error();
    auto stored = query_count(*impl_, kind, actor, since);
    if (!stored.ok()) return stored.error();
    c.refreshed = ActivityCache::Clock::now();
    c.since = since;
    c.stored = *stored;
    c.local.clear();
    c.local_total = 0;
  }
  int64_t local = 0;
  for (auto it = c.local.rbegin(); it != c.local.rend() && it->first >= since; ++it) {
    local += it->second;
  }
  return static_cast<int>(std::min<int64_t>(c.stored + local, kCountCap));
}

Result<std::vector<UnixTime>> StateStore::action_times(const std::string& kind,
                                                       const std::string& actor, UnixTime since,
                                                       int limit) {
  std::vector<UnixTime> out;
  Status s = visit_action_times(kind, actor, since, limit, [&out](std::span<const UnixTime> times) {
    out.assign(times.begin(), times.end());
  });
  if (!s.ok()) return s.error();
  return out;
}

Status StateStore::visit_action_times(const std::string& kind, const std::string& actor,
                                      UnixTime since, int limit,
                                      const std::function<void(std::span<const UnixTime>)>& visit) {
  std::lock_guard lock(impl_->mu);
  limit = std::max(limit, 0);
  ActivityCache::History* cached = nullptr;
  if (impl_->caching()) {
    auto [it, added] = impl_->cache.histories.try_emplace({kind, actor});
    cached = &it->second;
    const bool fresh = !added && since >= cached->since && limit <= cached->limit &&
                       ActivityCache::Clock::now() - cached->refreshed < impl_->ttl();
    if (fresh) {
      visit(newest_since(cached->times, since, limit));
      return {};
    }
    // The database must hold this process's own records before it is read.
    if (Status s = impl_->flush_pending_locked(); !s.ok()) return s;
  }
  auto stored = query_times(*impl_, kind, actor, since, limit);
  if (!stored.ok()) return stored.error();
  if (cached != nullptr) {
    cached->refreshed = ActivityCache::Clock::now();
    cached->since = since;
    cached->limit = limit;
    cached->times = std::move(stored).value();
    visit(cached->times);
  } else {
    visit(*stored);
  }
  return {};
}

Result<bool> StateStore::is_device_known(const std::string& actor, const std::string& device) {
  std::lock_guard lock(impl_->mu);
  if (impl_->caching() && impl_->cache.known_devices.contains({actor, device})) return true;
  STEPGATE_PREPARE(q, "SELECT 1 FROM known_devices WHERE actor = ? AND device = ?");
  q.bind(1, actor).bind(2, device);
  auto known = exists(*impl_, q);
  if (known.ok() && *known && impl_->caching()) impl_->cache.known_devices.emplace(actor, device);
  return known;
}

Result<bool> StateStore::mark_device_known(const std::string& actor, const std::string& device) {
  std::lock_guard lock(impl_->mu);
  auto added = insert_or_ignore(
      *impl_, "INSERT OR IGNORE INTO known_devices(actor, device, first_seen) VALUES(?, ?, ?)",
      actor, device);
  if (added.ok() && impl_->caching()) impl_->cache.known_devices.emplace(actor, device);
  return added;
}

Result<bool> StateStore::has_seen(const std::string& ns, const std::string& key) {
  std::lock_guard lock(impl_->mu);
  if (impl_->caching() && impl_->cache.seen.contains({ns, key})) return true;
  STEPGATE_PREPARE(q, "SELECT 1 FROM seen WHERE ns = ? AND key = ?");
  q.bind(1, ns).bind(2, key);
  auto seen = exists(*impl_, q);
  if (seen.ok() && *seen && impl_->caching()) impl_->cache.seen.emplace(ns, key);
  return seen;
}

Result<bool> StateStore::mark_seen(const std::string& ns, const std::string& key) {
  std::lock_guard lock(impl_->mu);
  if (impl_->caching() && impl_->cache.seen.contains({ns, key})) return false;
  auto added = insert_or_ignore(
      *impl_, "INSERT OR IGNORE INTO seen(ns, key, first_seen) VALUES(?, ?, ?)", ns, key);
  if (added.ok() && impl_->caching()) impl_->cache.seen.emplace(ns, key);
  return added;
}

Result<std::optional<UnixTime>> StateStore::seen_at(const std::string& ns, const std::string& key) {
  std::lock_guard lock(impl_->mu);
  STEPGATE_PREPARE(q, "SELECT first_seen FROM seen WHERE ns = ? AND key = ?");
  q.bind(1, ns).bind(2, key);
  const int rc = q.step();
  if (rc == SQLITE_ROW) return std::optional<UnixTime>(q.int_at(0));
  if (rc == SQLITE_DONE) return std::optional<UnixTime>{};
  return impl_->error("read");
}

#undef STEPGATE_PREPARE

}  // namespace stepgate
