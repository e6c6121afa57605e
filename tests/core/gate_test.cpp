// The gate's fail-closed paths, one table: what each failure of stepgate itself does to an
// action, with and without `on_error: allow`.
#include "stepgate/gate.h"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "stepgate/gate_failure.h"
#include "stepgate/json.h"
#include "test_util.h"

namespace stepgate {
namespace {

enum class Fault {
  kNone,
  kPolicyMissing,      // no policy file at all
  kPolicyBroken,       // a policy that does not load (though its text says on_error: allow)
  kStoreUnopenable,    // the state database cannot be opened
  kAuditUnopenable,    // the audit log cannot be opened
  kCollectorFailure,   // a common-signal collector fails (its store table is gone)
  kAuditWriteFailure,  // the decision cannot be written to the audit log
};

enum class Expect { kAllow, kBlock };

struct Case {
  const char* name;
  const char* on_error;  // "deny", "allow" or "" (not set: deny)
  Fault fault;
  Expect expect;
};

std::string policy_text(const std::string& on_error) {
  std::string text = "version: 1\nname: gate-test\n";
  if (!on_error.empty()) text += "on_error: " + on_error + "\n";
  text +=
      "rules:\n"
      "  - id: danger\n"
      "    on: git.push\n"
      "    when: action.resource == \"refs/heads/danger\"\n"
      "    effect: deny\n"
      "    message: never\n";
  return text;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

void drop_table(const std::string& db, const char* table) {
  sqlite3* handle = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &handle) == SQLITE_OK);
  const std::string sql = std::string("DROP TABLE ") + table;
  CHECK(sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(handle);
}

/// Runs one case: opens the gate (applying the open-time fault), runs a harmless push (applying
/// the run-time fault) and says whether the push went through.
/// A gate's options with every file under `dir`.
GateOptions options_in(const testing::TempDir& dir) {
  GateOptions options;
  options.paths = Paths{dir.path(), dir.path() + "/state", dir.path() + "/secrets",
                        dir.path() + "/state/state.db", dir.path() + "/state/audit.jsonl"};
  options.policy_path = dir.path() + "/policy.yaml";
  options.cwd = dir.path();
  options.front_end = "test";
  options.audit_options.fsync = false;
  return options;
}

Expect run_case(const Case& c) {
  testing::TempDir dir;
  GateOptions options = options_in(dir);
  switch (c.fault) {
    case Fault::kPolicyMissing:
      break;
    case Fault::kPolicyBroken:
      write_file(options.policy_path, policy_text(c.on_error) + "  - id: [unclosed\n");
      break;
    default:
      write_file(options.policy_path, policy_text(c.on_error));
  }
  std::filesystem::create_directories(options.paths.state_dir);
  if (c.fault == Fault::kStoreUnopenable) {
    std::filesystem::create_directories(options.paths.state_db);  // a directory, not a database
  }
  if (c.fault == Fault::kAuditUnopenable) {
    std::filesystem::create_directories(options.paths.audit_log);
  }
  auto gate = Gate::open(options);
  if (!gate.ok()) {
    GateFailure failure = gate_open_failure(gate.error(), options, "push");
    CHECK(failure.message.find(gate.error().message) != std::string::npos);
    return failure.allow ? Expect::kAllow : Expect::kBlock;
  }
  if (c.fault == Fault::kCollectorFailure) drop_table(options.paths.state_db, "known_devices");
  if (c.fault == Fault::kAuditWriteFailure) {
    std::filesystem::remove(options.paths.audit_log);
    std::filesystem::create_directories(options.paths.audit_log);
  }
  GateRequest request;
  request.action = Action{"git.push", "alice", "refs/heads/feature", Map{}};
  request.now = unix_now();
  NoTerminalStepUpIo io;
  GateOutcome out = (*gate)->run(request, io);
  CHECK(out.exit_code == (out.final_verdict == Verdict::kAllow ? 0 : 1));
  return out.final_verdict == Verdict::kAllow ? Expect::kAllow : Expect::kBlock;
}

TEST_CASE("gate: every failure of stepgate fails closed unless the policy says on_error: allow") {
  const Case cases[] = {
      {"no fault: the harmless push passes", "", Fault::kNone, Expect::kAllow},
      {"no policy", "", Fault::kPolicyMissing, Expect::kBlock},
      {"a broken policy, even one that says allow", "allow", Fault::kPolicyBroken, Expect::kBlock},
      {"store cannot be opened", "", Fault::kStoreUnopenable, Expect::kBlock},
      {"store cannot be opened, on_error: deny", "deny", Fault::kStoreUnopenable, Expect::kBlock},
      {"store cannot be opened, on_error: allow", "allow", Fault::kStoreUnopenable, Expect::kAllow},
      {"audit log cannot be opened", "", Fault::kAuditUnopenable, Expect::kBlock},
      {"audit log cannot be opened, on_error: allow", "allow", Fault::kAuditUnopenable,
       Expect::kAllow},
      {"collector fails", "", Fault::kCollectorFailure, Expect::kBlock},
      {"collector fails, on_error: deny", "deny", Fault::kCollectorFailure, Expect::kBlock},
      {"collector fails, on_error: allow", "allow", Fault::kCollectorFailure, Expect::kAllow},
      {"audit write fails", "", Fault::kAuditWriteFailure, Expect::kBlock},
      {"audit write fails, on_error: allow", "allow", Fault::kAuditWriteFailure, Expect::kAllow},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CHECK(run_case(c) == c.expect);
  }
}

TEST_CASE("gate: a request given up to run() decides and records as one that is copied") {
  // run(GateRequest&&) moves the signals and the attributes instead of copying them: the
  // outcome and the audit record must be those of run(const GateRequest&).
  testing::TempDir dir;
  const GateOptions options = options_in(dir);
  write_file(options.policy_path, policy_text(""));
  std::filesystem::create_directories(options.paths.state_dir);
  auto gate = Gate::open(options);
  REQUIRE(gate.ok());
  auto request = [] {
    GateRequest r;
    r.action = Action{"git.push", "alice", "refs/heads/danger",
                      Map{{"commits", List{Value("a1"), Value("b2")}}, {"force", true}}};
    r.signals = Map{{"secrets", Value(false)}, {"commit_count", Value(2)}};
    r.now = 1'800'000'000;
    r.device = "test-device";
    r.record_velocity = false;
    return r;
  };
  NoTerminalStepUpIo io;
  const GateRequest kept = request();
  const GateOutcome copied = (*gate)->run(kept, io);
  const GateOutcome moved = (*gate)->run(request(), io);
  CHECK(copied.final_verdict == Verdict::kDeny);
  CHECK(moved.final_verdict == copied.final_verdict);
  CHECK(moved.decision.action_digest == copied.decision.action_digest);
  CHECK(moved.decision.action_digest == action_digest(kept.action));
  CHECK(moved.signals == copied.signals);
  CHECK(moved.signals.get_int("commit_count") == 2);
  // The two records differ only in their place in the chain.
  std::ifstream log(options.paths.audit_log);
  std::vector<Value> records;
  for (std::string line; std::getline(log, line);) {
    auto v = parse_json(line);
    REQUIRE(v.ok());
    if (v->get_string("type") == "decision") records.push_back(*v);
  }
  REQUIRE(records.size() == 2);
  CHECK(*records[0].find("action") == *records[1].find("action"));
  CHECK(records[1].find("action")->find("attributes")->find("commits") != nullptr);
  CHECK(*records[0].find("decision") == *records[1].find("decision"));
}

TEST_CASE("gate: an exception is described, never rethrown") {
  auto error = std::make_exception_ptr(std::runtime_error("boom"));
  CHECK(describe_exception(error) == "internal error: boom");
  CHECK(describe_exception(std::make_exception_ptr(42)) == "internal error: unknown exception");
}

}  // namespace
}  // namespace stepgate
