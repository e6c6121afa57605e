#include "stepgate/audit.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "stepgate/crypto.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

const std::string kZeros(64, '0');

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/stepgate-audit-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

Value decision_fields(int i) {
  Map action{{"kind", "git.push"}, {"actor", "alice"}, {"resource", "repo"}};
  return Map{{"action", action}, {"verdict", i % 3 == 0 ? "deny" : "allow"}, {"i", i}};
}

void write_log(const std::string& path, int n) {
  auto log = AuditLog::open(path, {.fsync = false});
  REQUIRE(log.ok());
  for (int i = 1; i <= n; ++i) REQUIRE((*log)->append("decision", decision_fields(i)).ok());
}

/// A record built independently of the writer, from the format audit.h documents: canonical JSON
/// of the record without "hash", then the hash as the last key.
std::string forge_line(int64_t seq, const std::string& prev) {
  Value rec = Map{{"seq", seq},         {"prev", prev},
                  {"type", "decision"}, {"time", "2024-01-01T00:00:00.000Z"},
                  {"verdict", "allow"}, {"forged", true}};
  std::string canonical = to_json(rec);
  std::string hash = sha256_hex(prev + canonical);
  canonical.pop_back();
  return canonical + R"(,"hash":")" + hash + "\"}";
}

std::string field(const std::string& line, const std::string& key) {
  auto v = parse_json(line);
  REQUIRE(v.ok());
  return v->get_string(key);
}

AuditVerifyReport verify(const std::string& path) {
  auto r = verify_audit_log(path);
  REQUIRE(r.ok());
  return *r;
}

TEST_CASE("audit: records carry seq, time, type, prev and a hash over the documented form") {
  TempDir dir;
  std::string path = dir.path + "/sub/audit.jsonl";
  write_log(path, 3);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((dir.path + "/sub").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  auto lines = split_lines(read_all(path));
  REQUIRE(lines.size() == 3);
  std::string prev = kZeros;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto rec = parse_json(lines[i]);
    REQUIRE(rec.ok());
    CHECK(rec->get_int("seq") == static_cast<int64_t>(i + 1));
    CHECK(rec->get_string("type") == "decision");
    CHECK(rec->get_string("prev") == prev);
    std::string time = rec->get_string("time");
    CHECK(time.size() == 24);
    CHECK(time[10] == 'T');
    CHECK(time.back() == 'Z');
    // hash = SHA-256(prev + canonical JSON of the record without "hash"), computed independently.
    Value without = *rec;
    std::string hash = rec->get_string("hash");
    without.as_map().erase("hash");
    CHECK(sha256_hex(prev + to_json(without)) == hash);
    CHECK(lines[i].substr(lines[i].size() - 75) == ",\"hash\":\"" + hash + "\"}");
    prev = hash;
  }
  auto report = verify(path);
  CHECK(report.ok);
  CHECK(report.records == 3);
  CHECK(report.first_bad_line == 0);
}

TEST_CASE(
    "audit: a record's line is its canonical JSON whatever keys sort around prev, seq and "
    "time") {
  TempDir dir;
  const std::string path = dir.path + "/audit.jsonl";
  const std::vector<Value> fields = {
      Map{},
      Map{{"a", 1}},
      Map{{"zz", "last"}},
      Map{{"a", List{1, "two", nullptr}},
          {"pa", true},
          {"pz", "between \"prev\" and seq"},
          {"s", 1.5},
          {"sz", Map{{"k", "v\n"}}},
          {"ta", -3},
          {"u", "after type"},
          {"\xc3\xa9", "non-ASCII key"}},
      // Fields the log sets itself are replaced, wherever the caller put them.
      Map{{"prev", "forged"}, {"seq", 99}, {"time", "yesterday"}, {"hash", "x"}, {"b", false}},
  };
  {
    auto log = AuditLog::open(path, {.fsync = false});
    REQUIRE(log.ok());
    for (const Value& f : fields) REQUIRE((*log)->append("decision", f).ok());
  }
  const auto lines = split_lines(read_all(path));
  REQUIRE(lines.size() == fields.size());
  std::string prev = kZeros;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(lines[i]);
    auto rec = parse_json(lines[i]);
    REQUIRE(rec.ok());
    CHECK(rec->get_int("seq") == static_cast<int64_t>(i + 1));
    CHECK(rec->get_string("prev") == prev);
    Value expected = fields[i];
    expected.as_map().erase("hash");
    expected["prev"] = prev;
    expected["seq"] = static_cast<int64_t>(i + 1);
    expected["time"] = rec->get_string("time");
    expected["type"] = "decision";
    const std::string hash = rec->get_string("hash");
    CHECK(lines[i] == to_json(expected).substr(0, to_json(expected).size() - 1) + ",\"hash\":\"" +
                          hash + "\"}");
    CHECK(sha256_hex(prev + to_json(expected)) == hash);
    prev = hash;
  }
  CHECK(verify(path).ok);
}

TEST_CASE("audit: values with quotes, backslashes, brackets and non-ASCII text verify") {
  TempDir dir;
  std::string path = dir.path + "/audit.jsonl";
  {
    auto log = AuditLog::open(path, {.fsync = false});
    REQUIRE(log.ok());
    const char* tricky[] = {
        "a\"b",           "ends with \\",          "\\\"", "}{][,:", "caf\xc3\xa9 \xe2\x9c\x93",
        "tab\tnew\nline", R"("seq":99,"prev":"x")"};
    for (const char* t : tricky) {
      Value fields =
          Map{{"s", t}, {"nested", List{Value(Map{{"k", t}}), Value(1.5), Value(nullptr)}}};
      REQUIRE((*log)->append("decision", fields).ok());
    }
  }
  auto report = verify(path);
  CHECK(report.ok);
  CHECK(report.records == 7);
  auto records = read_audit_log(path, {});
  REQUIRE(records.ok());
  CHECK((*records)[0].get_string("s") == "a\"b");
  CHECK((*records)[6].get_int("seq") == 7);
}

TEST_CASE("audit: verify of a missing or empty log") {
  TempDir dir;
  auto missing = verify_audit_log(dir.path + "/none.jsonl");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
  write_all(dir.path + "/empty.jsonl", "");
  auto report = verify(dir.path + "/empty.jsonl");
  CHECK(report.ok);
  CHECK(report.records == 0);
}

struct TamperCase {
  const char* name;
  std::function<void(std::vector<std::string>&)> mutate;
  uint64_t first_bad_line;
  const char* problem;
};

TEST_CASE("audit: every kind of tampering is found at the first bad line") {
  const std::vector<TamperCase> cases = {
      {"edit a field", [](auto& l) { l[4].replace(l[4].find("\"i\":5"), 5, "\"i\":6"); }, 5,
       "edited (hash mismatch)"},
      {"edit a verdict", [](auto& l) { l[2].replace(l[2].find("deny"), 4, "allo"); }, 3,
       "edited (hash mismatch)"},
      {"delete a middle record", [](auto& l) { l.erase(l.begin() + 4); }, 5,
       "dropped record(s): expected seq 5, found 6"},
      {"delete three records", [](auto& l) { l.erase(l.begin() + 2, l.begin() + 5); }, 3,
       "dropped record(s): expected seq 3, found 6"},
      {"delete the first record", [](auto& l) { l.erase(l.begin()); }, 1,
       "dropped record(s): expected seq 1, found 2"},
      {"insert a forged record with a correct-looking hash and a wrong prev",
       [](auto& l) { l.insert(l.begin() + 4, forge_line(5, std::string(64, 'a'))); }, 5,
       "prev hash does not match"},
      {"insert a perfectly chained forged record",
       [](auto& l) { l.insert(l.begin() + 4, forge_line(5, field(l[3], "hash"))); }, 6,
       "inserted or reordered record: expected seq 6, found 5"},
      {"swap two records", [](auto& l) { std::swap(l[3], l[4]); }, 4,
       "inserted or reordered record: expected seq 4, found 5"},
      {"move a record to the end (seen first where it is missing)",
       [](auto& l) {
         l.push_back(l[1]);
         l.erase(l.begin() + 1);
       },
       2, "dropped record(s): expected seq 2, found 3"},
      {"duplicate a record", [](auto& l) { l.insert(l.begin() + 6, l[5]); }, 7,
       "inserted or reordered record: expected seq 7, found 6"},
      {"edit and re-hash one record",
       [](auto& l) {
         std::string prev = field(l[3], "hash");
         l[4] = forge_line(5, prev);
       },
       6, "prev hash does not match"},
      {"replace the first record's prev",
       [](auto& l) { l[0] = forge_line(1, std::string(64, 'b')); }, 1, "prev hash does not match"},
      {"blank line", [](auto& l) { l.insert(l.begin() + 7, ""); }, 8, "empty line"},
      {"two lines joined",
       [](auto& l) {
         l[2] += l[3];
         l.erase(l.begin() + 3);
       },
       3, "malformed record"},
      {"hash removed", [](auto& l) { l[8] = l[8].substr(0, l[8].size() - 75) + "}"; }, 9,
       "truncated/torn line"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    TempDir dir;
    std::string path = dir.path + "/audit.jsonl";
    write_log(path, 10);
    auto lines = split_lines(read_all(path));
    c.mutate(lines);
    write_all(path, join_lines(lines));
    auto report = verify(path);
    CHECK_FALSE(report.ok);
    CHECK(report.first_bad_line == c.first_bad_line);
    CHECK(report.problem.rfind(c.problem, 0) == 0);
    CHECK(report.records == c.first_bad_line - 1);
  }
}

TEST_CASE("audit: a log cut in the middle of a line reports the torn line") {
  TempDir dir;
  std::string path = dir.path + "/audit.jsonl";
  write_log(path, 10);
  std::string text = read_all(path);
  auto lines = split_lines(text);
  std::size_t cut = 0;
  for (int i = 0; i < 6; ++i) cut += lines[i].size() + 1;
  write_all(path, text.substr(0, cut + lines[6].size() / 2));
  auto report = verify(path);
  CHECK_FALSE(report.ok);
  CHECK(report.first_bad_line == 7);
  CHECK(report.problem.rfind("truncated/torn line", 0) == 0);
  CHECK(report.records == 6);
}

TEST_CASE(
    "audit: after a torn last line, append starts a fresh line chained to the last good one") {
  TempDir dir;
  std::string path = dir.path + "/audit.jsonl";
  write_log(path, 6);
  std::string good = read_all(path);
  auto lines = split_lines(good);
  write_all(path, good + R"({"action":{"kind":"git.pu)");  // a crash mid-write
  write_log(path, 2);
  auto after = split_lines(read_all(path));
  REQUIRE(after.size() == 9);
  CHECK(after[6] == R"({"action":{"kind":"git.pu)");
  auto rec = parse_json(after[7]);
  REQUIRE(rec.ok());
  CHECK(rec->get_int("seq") == 7);
  CHECK(rec->get_string("prev") == field(lines[5], "hash"));
  auto report = verify(path);
  CHECK(report.first_bad_line == 7);
  CHECK(report.problem.rfind("truncated/torn line", 0) == 0);
  // Without the torn line the chain is whole again.
  after.erase(after.begin() + 6);
  write_all(path, join_lines(after));
  CHECK(verify(path).ok);
  CHECK(verify(path).records == 8);
}

TEST_CASE("audit: dropping records at the very end is not detectable without an anchor") {
  TempDir dir;
  std::string path = dir.path + "/audit.jsonl";
  write_log(path, 10);
  auto lines = split_lines(read_all(path));
  lines.pop_back();
  write_all(path, join_lines(lines));
  auto report = verify(path);
  CHECK(report.ok);
  CHECK(report.records == 9);
}

TEST_CASE("audit: a complete last record without its newline is accepted and appended after") {
  TempDir dir;
  std::string path = dir.path + "/audit.jsonl";
  write_log(path, 3);
  std::string text = read_all(path);
  write_all(path, text.substr(0, text.size() - 1));
  CHECK(verify(path).ok);
  write_log(path, 1);
  auto report = verify(path);
  CHECK(report.ok);
  CHECK(report.records == 4);
}

TEST_CASE("audit: secrets are redacted before they are written") {
  const std::string aws = "AKIAZ7Q3XK2M4NPLW5RT";
  const std::string github = "ghp_" + std::string("aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z0A");
  const Value fields = Map{
      {"command", "aws s3 ls --key " + aws},
      {"args", Map{{"password", "hunter2"}, {"note", "token " + github}, {"exit_code", 3}}},
      {"headers", List{Value(Map{{"Authorization", "Bearer abc.def"}})}},
      {"code", 123456},
      {"max_tokens", 1000},
  };
  // Both ways in: a record the caller keeps (copied, then redacted) and one it hands over
  // (redacted in place, the gate's path).
  for (const bool moved : {false, true}) {
    CAPTURE(moved);
    TempDir dir;
    std::string path = dir.path + "/audit.jsonl";
    {
      auto log = AuditLog::open(path, {.fsync = false});
      REQUIRE(log.ok());
      Value handed = fields;
      REQUIRE(
          (moved ? (*log)->append("stepup", std::move(handed)) : (*log)->append("stepup", fields))
              .ok());
    }
    std::string text = read_all(path);
    CHECK(text.find(aws) == std::string::npos);
    CHECK(text.find(github) == std::string::npos);
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(text.find("abc.def") == std::string::npos);
    CHECK(text.find("123456") == std::string::npos);
    auto rec = parse_json(split_lines(text)[0]);
    REQUIRE(rec.ok());
    CHECK(rec->get_string("command").find("[REDACTED:") != std::string::npos);
    CHECK(rec->find("args")->get_string("password") == "[REDACTED:password]");
    CHECK(rec->find("args")->get_string("note").find("[REDACTED:") != std::string::npos);
    CHECK(rec->find("args")->get_int("exit_code") == 3);
    CHECK(rec->get_int("max_tokens") == 1000);
    CHECK(verify(path).ok);
  }
  Value in_place = fields;
  redact_secrets_in_place(in_place);
  CHECK(in_place == redact_secrets(fields));
  CHECK(in_place != fields);

  CHECK(looks_like_secret(aws));
  CHECK(looks_like_secret(github));
  CHECK_FALSE(looks_like_secret("git push origin main"));
  CHECK(redact_secrets(Value("nothing to see")) == Value("nothing to see"));
  CHECK(redact_secrets(Value(Map{{"accessToken", "x"}})).get_string("accessToken") ==
        "[REDACTED:access_token]");
}

AuditFilter filter(std::string kind, std::string verdict, std::string type, int64_t since,
                   int64_t until) {
  AuditFilter f;
  f.kind = std::move(kind);
  f.verdict = std::move(verdict);
  f.type = std::move(type);
  f.since = since;
  f.until = until;
  return f;
}

TEST_CASE("audit: read_audit_log filters by kind, verdict, type and time") {
  TempDir dir;
  std::string path = dir.path + "/audit.jsonl";
  {
    auto log = AuditLog::open(path, {.fsync = false});
    REQUIRE(log.ok());
    Map deploy{{"kind", "model.deploy"}, {"actor", "ci"}};
    REQUIRE((*log)->append("decision", decision_fields(1)).ok());  // allow git.push
    REQUIRE((*log)->append("decision", decision_fields(3)).ok());  // deny git.push
    REQUIRE(
        (*log)
            ->append("decision", Map{{"action", deploy}, {"decision", Map{{"verdict", "step_up"}}}})
            .ok());
    REQUIRE((*log)->append("stepup", Map{{"actor", "alice"}, {"method", "totp"}}).ok());
  }
  auto count = [&](const AuditFilter& f) {
    auto r = read_audit_log(path, f);
    REQUIRE(r.ok());
    return r->size();
  };
  CHECK(count({}) == 4);
  CHECK(count(filter("git.*", "", "", 0, 0)) == 2);
  CHECK(count(filter("model.deploy", "", "", 0, 0)) == 1);
  CHECK(count(filter("", "deny", "", 0, 0)) == 1);
  CHECK(count(filter("", "step_up", "", 0, 0)) == 1);
  CHECK(count(filter("", "", "stepup", 0, 0)) == 1);
  auto now = static_cast<int64_t>(std::time(nullptr));
  CHECK(count(filter("", "", "", now - 60, 0)) == 4);
  CHECK(count(filter("", "", "", now + 3600, 0)) == 0);
  CHECK(count(filter("", "", "", 0, now - 3600)) == 0);
  CHECK_FALSE(read_audit_log(dir.path + "/none", {}).ok());
}

TEST_CASE("audit: read_audit_log filters by actor, rule and front-end (issue 23)") {
  TempDir dir;
  std::string path = dir.path + "/audit.jsonl";
  {
    auto log = AuditLog::open(path, {.fsync = false});
    REQUIRE(log.ok());
    auto decision = [](const char* actor, const char* fe, const char* rule, bool shadow) {
      List reasons;
      if (rule[0] != '\0') reasons.emplace_back(Map{{"rule", rule}, {"shadow", shadow}});
      return Map{{"front_end", fe},
                 {"action", Map{{"kind", "git.push"}, {"actor", actor}}},
                 {"decision", Map{{"verdict", "allow"}, {"reasons", std::move(reasons)}}}};
    };
    REQUIRE((*log)->append("decision", decision("alice", "git", "force-push", false)).ok());
    REQUIRE((*log)->append("decision", decision("bob", "shim", "", false)).ok());
    REQUIRE((*log)->append("decision", decision("alice@corp", "ci", "off-hours", true)).ok());
    REQUIRE((*log)->append("approval", Map{{"decided_by", "bob"}, {"decision", "approve"}}).ok());
  }
  struct Case {
    std::string actor, rule, front_end;
    std::size_t want;
  };
  const std::vector<Case> cases = {
      {"alice", "", "", 1},         {"alice*", "", "", 2}, {"bob", "", "", 2},
      {"", "force-push", "", 1},    {"", "*", "", 2},      {"", "off-hours", "", 1},
      {"", "", "shim", 1},          {"", "", "*", 4},      {"alice*", "", "ci", 1},
      {"bob", "force-push", "", 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.actor);
    CAPTURE(c.rule);
    CAPTURE(c.front_end);
    AuditFilter f;
    f.actor = c.actor;
    f.rule = c.rule;
    f.front_end = c.front_end;
    auto r = read_audit_log(path, f);
    REQUIRE(r.ok());
    CHECK(r->size() == c.want);
  }
}

TEST_CASE("audit: threads of one process and batched fsync keep the chain") {
  TempDir dir;
  std::string path = dir.path + "/audit.jsonl";
  {
    auto log = AuditLog::open(path, {.fsync = true, .fsync_batch_ms = 5});
    REQUIRE(log.ok());
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    threads.reserve(4);
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) {
          if (!(*log)->append("decision", Map{{"thread", t}, {"n", i}}).ok()) ++failures;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(failures == 0);
    CHECK((*log)->flush().ok());
  }
  auto report = verify(path);
  CHECK(report.ok);
  CHECK(report.records == 400);
}

TEST_CASE(
    "audit: an exclusive log refuses a second writer at open, and keeps its lock over a "
    "rotation") {
  TempDir dir;
  const std::string path = dir.path + "/audit.jsonl";
  const AuditOptions exclusive{.fsync = true, .fsync_batch_ms = 5, .exclusive = true};
  {
    auto log = AuditLog::open(path, exclusive);
    REQUIRE(log.ok());
    REQUIRE((*log)->append("decision", Map{{"n", 0}}).ok());
    // Another open file description is another writer, in this process as in any other.
    auto second = AuditLog::open(path, exclusive);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().code == ErrorCode::kFailedPrecondition);
    CHECK(second.error().message.find("held by another process") != std::string::npos);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          if (!(*log)->append("decision", Map{{"thread", t}, {"n", i}}).ok()) ++failures;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(failures == 0);
  }
  // Closed: the lock is gone, and the next writer continues the chain.
  {
    auto log = AuditLog::open(path, exclusive);
    REQUIRE(log.ok());
    REQUIRE((*log)->append("decision", Map{{"n", 201}}).ok());
    // Rotated by hand: the log moves to the new file (at its next check, within a second), and
    // its lock with it.
    fs::rename(path, path + ".1");
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    REQUIRE((*log)->append("decision", Map{{"n", 0}}).ok());
    CHECK_FALSE(AuditLog::open(path, exclusive).ok());
    CHECK(AuditLog::open(path + ".1", exclusive).ok());
  }
  auto old = verify(path + ".1");
  CHECK(old.ok);
  CHECK(old.records == 202);
  auto rotated = verify(path);
  CHECK(rotated.ok);
  CHECK(rotated.records == 1);
}

TEST_CASE("audit: 4 processes x 500 appends lose nothing and keep one chain") {
  TempDir dir;
  std::string path = dir.path + "/audit.jsonl";
  constexpr int kProcs = 4;
  constexpr int kEach = 500;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto log = AuditLog::open(path, {.fsync = false});
      if (!log.ok()) _exit(10);
      for (int i = 0; i < kEach; ++i) {
        if (!(*log)
                 ->append("decision", Map{{"pid", static_cast<int64_t>(getpid())}, {"n", i}})
                 .ok()) {
          _exit(11);
        }
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto report = verify(path);
  CHECK(report.ok);
  CHECK(report.records == kProcs * kEach);
  auto records = read_audit_log(path, {});
  REQUIRE(records.ok());
  std::map<int64_t, int64_t> next_n;  // per pid: records arrive in each process's order
  for (const Value& r : *records) {
    int64_t pid = r.get_int("pid");
    CHECK(r.get_int("n") == next_n[pid]);
    ++next_n[pid];
  }
  CHECK(next_n.size() == kProcs);
  for (auto [pid, n] : next_n) CHECK(n == kEach);
}

}  // namespace
}  // namespace stepgate
