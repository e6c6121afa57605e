#include "stepgate/store.h"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "test_util.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

std::unique_ptr<StateStore> open_store(const std::string& path, StoreOptions options = {}) {
  auto s = StateStore::open(path, options);
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
  return std::move(*s);
}

template <class T>
T must(Result<T> r) {
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  return std::move(*r);
}

void must(Status s) {
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
}

TEST_CASE("store: created 0600 in a 0700 directory, schema versioned, reopened") {
  TempDir dir;
  std::string path = dir.path() + "/state/state.db";
  {
    auto store = open_store(path);
    CHECK(store->schema_version() == 3);
    CHECK(must(store->consume_jti("j1", 2000000000)));
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((dir.path() + "/state").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  auto again = open_store(path);  // migration is idempotent; data persists
  CHECK(again->schema_version() == 3);
  CHECK_FALSE(must(again->consume_jti("j1", 2000000000)));
}

TEST_CASE("store: a path that cannot be opened is kUnavailable") {
  TempDir dir;
  std::string file = dir.path() + "/plain";
  REQUIRE(fs::create_directory(file));  // a directory where the database should be
  auto s = StateStore::open(file);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == ErrorCode::kUnavailable);
}

TEST_CASE("store: a jti is consumed once, even an expired one") {
  TempDir dir;
  auto store = open_store(dir.path() + "/state.db");
  CHECK(must(store->consume_jti("a", 2000000000)));
  CHECK_FALSE(must(store->consume_jti("a", 2000000000)));
  CHECK(must(store->consume_jti("b", 2000000000)));
  CHECK(must(store->consume_jti("old", 1000)));
  for (int i = 0; i < 100; ++i) {  // runs the opportunistic purge several times
    CHECK(must(store->consume_jti("fill" + std::to_string(i), 1000)));
    CHECK_FALSE(must(store->consume_jti("old", 1000)));
  }
}

TEST_CASE("store: TOTP steps cannot be replayed, nor older steps used") {
  TempDir dir;
  auto store = open_store(dir.path() + "/state.db");
  CHECK(must(store->use_totp_step("alice", 100)));
  CHECK_FALSE(must(store->use_totp_step("alice", 100)));
  CHECK_FALSE(must(store->use_totp_step("alice", 99)));
  CHECK(must(store->use_totp_step("alice", 101)));
  CHECK(must(store->use_totp_step("bob", 100)));
}

TEST_CASE("store: TOTP failures and lockouts") {
  TempDir dir;
  auto store = open_store(dir.path() + "/state.db");
  CHECK(must(store->totp_failures_since("alice", 0)) == 0);
  must(store->record_totp_failure("alice", 1000));
  must(store->record_totp_failure("alice", 1010));
  must(store->record_totp_failure("alice", 1020));
  must(store->record_totp_failure("bob", 1020));
  CHECK(must(store->totp_failures_since("alice", 0)) == 3);
  CHECK(must(store->totp_failures_since("alice", 1010)) == 2);
  CHECK(must(store->lockout_until("alice")) == 0);
  must(store->set_lockout("alice", 5000));
  CHECK(must(store->lockout_until("alice")) == 5000);
  must(store->set_lockout("alice", 6000));
  CHECK(must(store->lockout_until("alice")) == 6000);
  must(store->clear_totp_failures("alice"));
  CHECK(must(store->totp_failures_since("alice", 0)) == 0);
  CHECK(must(store->lockout_until("alice")) == 0);
  CHECK(must(store->totp_failures_since("bob", 0)) == 1);
  // A fresh step ends bob's failure streak; a replayed one changes nothing.
  CHECK(must(store->use_totp_step("bob", 7)));
  CHECK(must(store->totp_failures_since("bob", 0)) == 0);
  must(store->record_totp_failure("bob", 1030));
  CHECK_FALSE(must(store->use_totp_step("bob", 7)));
  CHECK(must(store->totp_failures_since("bob", 0)) == 1);
}

TEST_CASE("store: elevations expire and can be dropped") {
  TempDir dir;
  auto store = open_store(dir.path() + "/state.db");
  must(store->add_elevation({"alice", "laptop", 1000, 1300, "totp"}));
  must(store->add_elevation({"bob", "ci", 1000, 2000, "approval"}));
  auto found = must(store->find_elevation("alice", "laptop", 1200));
  REQUIRE(found.has_value());
  CHECK(found->method == "totp");
  CHECK(found->expires_at == 1300);
  CHECK_FALSE(must(store->find_elevation("alice", "laptop", 1300)).has_value());
  CHECK_FALSE(must(store->find_elevation("alice", "phone", 1200)).has_value());
  CHECK(must(store->list_elevations(1200)).size() == 2);
  CHECK(must(store->list_elevations(1500)).size() == 1);
  must(store->add_elevation({"alice", "laptop", 1400, 1700, "approval"}));  // renewed
  CHECK(must(store->find_elevation("alice", "laptop", 1500))->method == "approval");
  CHECK(must(store->drop_elevations("alice")) == 1);
  CHECK(must(store->list_elevations(1500)).size() == 1);
  must(store->add_elevation({"carol", "x", 1000, 3000, "totp"}));
  CHECK(must(store->drop_elevations("")) == 2);
  CHECK(must(store->list_elevations(0)).empty());
}

ChallengeRecord challenge(const std::string& id, const std::string& digest, UnixTime created) {
  ChallengeRecord c;
  c.id = id;
  c.token = "tok-" + id;
  c.action_digest = digest;
  c.summary_json = R"({"kind":"git.push"})";
  c.created_at = created;
  c.expires_at = created + 600;
  return c;
}

TEST_CASE("store: challenge lifecycle pending -> approved -> consumed once") {
  TempDir dir;
  auto store = open_store(dir.path() + "/state.db");
  must(store->put_challenge(challenge("c1", "d1", 1000)));
  auto got = must(store->get_challenge("c1"));
  REQUIRE(got.has_value());
  CHECK(got->state == ChallengeState::kPending);
  CHECK(got->token == "tok-c1");
  CHECK(got->summary_json == R"({"kind":"git.push"})");
  CHECK(got->expires_at == 1600);
  CHECK_FALSE(must(store->get_challenge("nope")).has_value());
  CHECK(must(store->list_challenges(ChallengeState::kPending, 1100)).size() == 1);
  CHECK(must(store->list_challenges(ChallengeState::kExpired, 1700)).size() == 1);
  CHECK(must(store->list_challenges(ChallengeState::kPending, 1700)).empty());

  CHECK_FALSE(must(store->consume_challenge("c1")));  // not approved yet
  CHECK(
      must(store->decide_challenge("c1", ChallengeState::kApproved, "approver-1", "ok", "g.r.s")));
  CHECK_FALSE(must(store->decide_challenge("c1", ChallengeState::kDenied, "mallory", "", "")));
  got = must(store->get_challenge("c1"));
  CHECK(got->state == ChallengeState::kApproved);
  CHECK(got->decided_by == "approver-1");
  CHECK(got->comment == "ok");
  CHECK(got->grant == "g.r.s");
  CHECK(must(store->list_challenges(ChallengeState::kApproved, 1100)).size() == 1);
  CHECK(must(store->find_challenge_by_digest("d1", 1100))->id == "c1");
  CHECK(must(store->consume_challenge("c1")));
  CHECK_FALSE(must(store->consume_challenge("c1")));
  CHECK_FALSE(must(store->find_challenge_by_digest("d1", 1100)).has_value());

  must(store->put_challenge(challenge("c2", "d2", 1000)));
  CHECK(must(store->decide_challenge("c2", ChallengeState::kDenied, "approver-1", "no", "")));
  CHECK_FALSE(must(store->consume_challenge("c2")));
  CHECK_FALSE(store->decide_challenge("c2", ChallengeState::kPending, "", "", "").ok());
}

TEST_CASE("store: find_challenge_by_digest returns the newest unexpired one") {
  TempDir dir;
  auto store = open_store(dir.path() + "/state.db");
  must(store->put_challenge(challenge("old", "d", 1000)));
  must(store->put_challenge(challenge("new", "d", 1100)));
  CHECK(must(store->find_challenge_by_digest("d", 1200))->id == "new");
  CHECK_FALSE(must(store->find_challenge_by_digest("d", 1700)).has_value());
  CHECK_FALSE(must(store->find_challenge_by_digest("other", 1200)).has_value());
}

/// Per-action lookups behave alike with and without the long-running processes' cache.
StoreOptions both_modes() {
  StoreOptions options;
  SUBCASE("uncached") {
    options.cache_ms = 0;
  }
  SUBCASE("cached") {
    options.cache_ms = 60000;
  }
  return options;
}

TEST_CASE("store: velocity counts per kind and actor in a window") {
  TempDir dir;
  auto store = open_store(dir.path() + "/state.db", both_modes());
  for (int i = 0; i < 5; ++i) must(store->record_action("git.push", "alice", 1000 + i * 60));
  must(store->record_action("git.push", "bob", 1100));
  must(store->record_action("model.deploy", "alice", 1100));
  CHECK(must(store->count_actions("git.push", "alice", 0)) == 5);
  CHECK(must(store->count_actions("git.push", "alice", 1120)) == 3);
  CHECK(must(store->count_actions("git.push", "bob", 0)) == 1);
  CHECK(must(store->count_actions("model.deploy", "alice", 0)) == 1);
  CHECK(must(store->count_actions("tool.call", "alice", 0)) == 0);
}

TEST_CASE("store: known devices and seen keys report novelty once") {
  TempDir dir;
  auto store = open_store(dir.path() + "/state.db", both_modes());
  CHECK_FALSE(must(store->is_device_known("alice", "laptop")));
  CHECK(must(store->mark_device_known("alice", "laptop")));
  CHECK_FALSE(must(store->mark_device_known("alice", "laptop")));
  CHECK(must(store->is_device_known("alice", "laptop")));
  CHECK_FALSE(must(store->is_device_known("bob", "laptop")));
  CHECK_FALSE(must(store->has_seen("host", "example.com")));
  CHECK(must(store->mark_seen("host", "example.com")));
  CHECK_FALSE(must(store->mark_seen("host", "example.com")));
  CHECK(must(store->has_seen("host", "example.com")));
  CHECK_FALSE(must(store->has_seen("url", "example.com")));
}

TEST_CASE("store: the cache counts its own records at once and other processes' after its TTL") {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  auto shim = open_store(path, StoreOptions{200});
  auto hook = open_store(path);  // another process: no cache
  must(hook->record_action("tool.call", "alice", 1000));
  CHECK(must(shim->count_actions("tool.call", "alice", 900)) == 1);
  for (int i = 0; i < 3; ++i) must(shim->record_action("tool.call", "alice", 1001 + i));
  CHECK(must(shim->count_actions("tool.call", "alice", 900)) == 4);  // own records: at once
  must(hook->record_action("tool.call", "alice", 1005));
  CHECK(must(shim->count_actions("tool.call", "alice", 900)) == 4);  // not yet seen...
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  CHECK(must(shim->count_actions("tool.call", "alice", 900)) == 5);   // ...seen after the TTL
  CHECK(must(hook->count_actions("tool.call", "alice", 900)) == 5);   // and the shim's were written
  CHECK(must(shim->count_actions("tool.call", "alice", 1002)) == 3);  // a window that moved on
}

TEST_CASE("store: the cache's own counts match the database's, records in any order") {
  // Per-second buckets (many records in one second, one out of order, seconds skipped): every
  // window the cache answers from its own records must give what the database counts.
  const std::vector<UnixTime> times = {1000, 1000, 1000, 1001, 1003, 1002, 1003, 1000, 1010, 1010};
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  auto cached = open_store(path, StoreOptions{60000});
  auto plain = open_store(dir.path() + "/plain.db");
  CHECK(must(cached->count_actions("tool.call", "alice", 990)) == 0);  // the cache's window starts
  for (UnixTime t : times) {
    must(cached->record_action("tool.call", "alice", t));
    must(plain->record_action("tool.call", "alice", t));
  }
  for (UnixTime since = 990; since <= 1012; ++since) {
    CAPTURE(since);
    CHECK(must(cached->count_actions("tool.call", "alice", since)) ==
          must(plain->count_actions("tool.call", "alice", since)));
  }
  CHECK(must(cached->count_actions("tool.call", "alice", 1000)) == 10);
  CHECK(must(cached->count_actions("tool.call", "alice", 1003)) == 4);
}

TEST_CASE("store: the cache's action times match the database's, records in any order") {
  // The baselines' history from memory: after the first read, this process's records join it
  // (out of order, many in one second, past twice the limit so it is trimmed); every window and
  // limit must give what the database gives.
  const std::vector<UnixTime> times = {1000, 1000, 1001, 1003, 1002, 1003, 999,  1010, 1010,
                                       1004, 1005, 1006, 1007, 1007, 1008, 1009, 1011, 1011};
  TempDir dir;
  auto cached = open_store(dir.path() + "/state.db", StoreOptions{60000});
  auto plain = open_store(dir.path() + "/plain.db");
  for (auto* s : {cached.get(), plain.get()}) {
    for (UnixTime t : {990, 995, 998}) must(s->record_action("tool.call", "alice", t));
  }
  CHECK(must(cached->action_times("tool.call", "alice", 980, 6)).size() == 3);  // the first read
  for (UnixTime t : times) {
    must(cached->record_action("tool.call", "alice", t));
    must(plain->record_action("tool.call", "alice", t));
  }
  for (int limit : {6, 4, 1}) {
    for (UnixTime since = 980; since <= 1013; ++since) {
      CAPTURE(limit);
      CAPTURE(since);
      CHECK(must(cached->action_times("tool.call", "alice", since, limit)) ==
            must(plain->action_times("tool.call", "alice", since, limit)));
    }
  }
  CHECK(must(cached->action_times("tool.call", "alice", 1000, 6)) ==
        std::vector<UnixTime>{1008, 1009, 1010, 1010, 1011, 1011});
}

TEST_CASE("store: the cache reads other processes' action times after its TTL") {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  auto shim = open_store(path, StoreOptions{200});
  auto hook = open_store(path);  // another process: no cache
  must(hook->record_action("tool.call", "alice", 1000));
  CHECK(must(shim->action_times("tool.call", "alice", 900, 10)).size() == 1);
  must(shim->record_action("tool.call", "alice", 1001));
  must(hook->record_action("tool.call", "alice", 1002));
  CHECK(must(shim->action_times("tool.call", "alice", 900, 10)) ==
        std::vector<UnixTime>{1000, 1001});  // own record at once, the other's not yet
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  CHECK(must(shim->action_times("tool.call", "alice", 900, 10)) ==
        std::vector<UnixTime>{1000, 1001, 1002});
  CHECK(must(shim->action_times("tool.call", "alice", 900, 20)).size() == 3);  // a larger limit
}

/// Rows in a store's action_log, read with SQLite directly.
int64_t action_rows(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM action_log", -1, &q, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  const int64_t rows = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return rows;
}

TEST_CASE("store: per-second velocity rows count as one row per action did") {
  // A caching process writes one row per (kind, actor, second) with its count; a one-shot one a
  // row per action, as every version did. Read back by a third process, both give the same
  // counts and times for every window and limit, the cap included.
  std::vector<UnixTime> times = {1000, 1000, 1000, 1001, 1003, 1002, 1003, 1000, 1010, 1010};
  for (int i = 0; i < 1200; ++i) times.push_back(2000 + i / 100);  // 100 a second: past the cap
  TempDir dir;
  const std::string cached_path = dir.path() + "/cached.db";
  const std::string plain_path = dir.path() + "/plain.db";
  {
    auto cached = open_store(cached_path, StoreOptions{60000});
    auto plain = open_store(plain_path);
    for (UnixTime t : times) {
      must(cached->record_action("tool.call", "alice", t));
      must(plain->record_action("tool.call", "alice", t));
    }
    must(cached->record_action("tool.call", "bob", 1000));
    must(plain->record_action("tool.call", "bob", 1000));
  }
  CHECK(action_rows(plain_path) == static_cast<int64_t>(times.size()) + 1);
  CHECK(action_rows(cached_path) == 5 + 12 + 1);  // seconds, not actions
  auto a = open_store(cached_path);
  auto b = open_store(plain_path);
  for (UnixTime since : {0, 999, 1000, 1001, 1003, 1004, 1010, 1011, 2000, 2005, 2011, 2012}) {
    CAPTURE(since);
    CHECK(must(a->count_actions("tool.call", "alice", since)) ==
          must(b->count_actions("tool.call", "alice", since)));
    for (int limit : {0, 1, 3, 150, 2000}) {
      CAPTURE(limit);
      CHECK(must(a->action_times("tool.call", "alice", since, limit)) ==
            must(b->action_times("tool.call", "alice", since, limit)));
    }
  }
  CHECK(must(a->count_actions("tool.call", "alice", 0)) == 1000);  // the cap
  CHECK(must(a->count_actions("tool.call", "alice", 1001)) == 1000);
  CHECK(must(a->count_actions("tool.call", "alice", 1003)) == 1000);
  CHECK(must(a->count_actions("tool.call", "alice", 2010)) == 200);
  CHECK(must(a->count_actions("tool.call", "bob", 0)) == 1);
  CHECK(must(a->action_times("tool.call", "alice", 1000, 5)) ==
        std::vector<UnixTime>{2011, 2011, 2011, 2011, 2011});
}

TEST_CASE("store: a version 2 store's velocity rows count one each after the migration") {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    const char* v2 =
        "CREATE TABLE action_log (kind TEXT NOT NULL, actor TEXT NOT NULL, at INTEGER NOT NULL);"
        "INSERT INTO action_log VALUES('git.push', 'alice', 100), ('git.push', 'alice', 100),"
        "('git.push', 'alice', 160); PRAGMA user_version = 2;";
    REQUIRE(sqlite3_exec(db, v2, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = open_store(path, StoreOptions{60000});
  CHECK(store->schema_version() == 3);
  CHECK(must(store->count_actions("git.push", "alice", 0)) == 3);
  must(store->record_action("git.push", "alice", 160));
  CHECK(must(store->count_actions("git.push", "alice", 150)) == 2);
  CHECK(must(store->action_times("git.push", "alice", 0, 10)) ==
        std::vector<UnixTime>{100, 100, 160, 160});
}

TEST_CASE("store: buffered records reach the database on flush and on close") {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  auto other = open_store(path);
  {
    auto shim = open_store(path, StoreOptions{60000});
    CHECK(must(shim->count_actions("tool.call", "bob", 0)) == 0);
    must(shim->record_action("tool.call", "bob", 10));
    CHECK(must(other->count_actions("tool.call", "bob", 0)) == 0);  // buffered
    must(shim->flush());
    CHECK(must(other->count_actions("tool.call", "bob", 0)) == 1);
    must(shim->record_action("tool.call", "bob", 11));
  }
  CHECK(must(other->count_actions("tool.call", "bob", 0)) == 2);
}

TEST_CASE("store: cached elevations: own changes at once, another process's after the TTL") {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  auto shim = open_store(path, StoreOptions{200});
  auto cli = open_store(path);
  CHECK_FALSE(must(shim->find_elevation("alice", "laptop", 1000)).has_value());
  must(shim->add_elevation(Elevation{"alice", "laptop", 1000, 1900, "totp"}));
  CHECK(must(shim->find_elevation("alice", "laptop", 1000)).has_value());
  CHECK_FALSE(must(shim->find_elevation("alice", "laptop", 1900)).has_value());  // expired
  CHECK(must(cli->drop_elevations("alice")) == 1);
  CHECK(must(shim->find_elevation("alice", "laptop", 1000)).has_value());  // within the TTL
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  CHECK_FALSE(must(shim->find_elevation("alice", "laptop", 1000)).has_value());
  must(cli->add_elevation(Elevation{"alice", "laptop", 1000, 1900, "totp"}));
  must(shim->drop_elevations(""));
  CHECK_FALSE(must(shim->find_elevation("alice", "laptop", 1000)).has_value());
}

TEST_CASE("store: threads sharing one store consume each jti once") {
  TempDir dir;
  auto store = open_store(dir.path() + "/state.db");
  std::atomic<int> won{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        auto r = store->consume_jti("t" + std::to_string(i), 2000000000);
        if (!r.ok()) ++errors;
        if (r.ok() && *r) ++won;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(errors == 0);
  CHECK(won == 100);
}

TEST_CASE("store: 4 processes racing on 200 jtis consume each exactly once") {
  TempDir dir;
  std::string path = dir.path() + "/state.db";
  open_store(path);  // create and migrate before the race
  constexpr int kProcs = 4;
  constexpr int kJtis = 200;
  std::vector<std::pair<pid_t, int>> children;  // pid, read end of its pipe
  for (int p = 0; p < kProcs; ++p) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      auto store = StateStore::open(path);
      if (!store.ok()) _exit(10);
      for (int i = 0; i < kJtis; ++i) {
        int j = (i + p * 50) % kJtis;  // each child starts elsewhere so they collide often
        auto r = (*store)->consume_jti("jti-" + std::to_string(j), 2000000000);
        if (!r.ok()) _exit(11);
        if (*r && write(fds[1], &j, sizeof j) != sizeof j) _exit(12);
      }
      _exit(0);
    }
    close(fds[1]);
    children.emplace_back(pid, fds[0]);
  }
  std::multiset<int> won;
  for (auto [pid, fd] : children) {
    int i = 0;
    while (read(fd, &i, sizeof i) == sizeof i) won.insert(i);
    close(fd);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(won.size() == kJtis);                                    // no jti won twice...
  CHECK(std::set<int>(won.begin(), won.end()).size() == kJtis);  // ...and none lost
  auto store = open_store(path);
  for (int i = 0; i < kJtis; ++i)
    CHECK_FALSE(must(store->consume_jti("jti-" + std::to_string(i), 2000000000)));
}

}  // namespace
}  // namespace stepgate
