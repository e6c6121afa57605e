// A long-running gate's policy reload (Gate::refresh_policy) and the durable audit setting.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "stepgate/gate.h"
#include "test_util.h"

namespace stepgate {
namespace {

std::string policy_denying(const std::string& resource, const std::string& audit = "") {
  return "version: 1\nname: reload-test\n" + audit +
         "rules:\n"
         "  - id: danger\n"
         "    on: git.push\n"
         "    when: action.resource == \"" +
         resource +
         "\"\n"
         "    effect: deny\n"
         "    message: never\n";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

GateOptions options_in(const testing::TempDir& dir, int policy_check_ms) {
  GateOptions options;
  options.paths = Paths{dir.path(), dir.path() + "/state", dir.path() + "/secrets",
                        dir.path() + "/state/state.db", dir.path() + "/state/audit.jsonl"};
  options.policy_path = dir.path() + "/policy.yaml";
  options.cwd = dir.path();
  options.front_end = "test";
  options.audit_options.fsync = false;
  options.policy_check_ms = policy_check_ms;
  return options;
}

Verdict push(Gate& gate, const std::string& resource) {
  GateRequest request;
  request.action = Action{"git.push", "alice", resource, Map{}};
  NoTerminalStepUpIo io;
  return gate.run(request, io).final_verdict;
}

/// refresh_policy() until it reports something (each call looks at most once per interval).
Result<bool> refresh_until_news(Gate& gate) {
  for (int i = 0; i < 2000; ++i) {
    Result<bool> r = gate.refresh_policy();
    if (!r.ok() || *r) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

TEST_CASE("gate reload: an edited policy is in force after the next check") {
  testing::TempDir dir;
  GateOptions options = options_in(dir, 1);
  write_file(options.policy_path, policy_denying("refs/heads/old"));
  auto gate = Gate::open(options);
  REQUIRE(gate.ok());
  CHECK(push(**gate, "refs/heads/new") == Verdict::kAllow);
  const Policy& before = (*gate)->policy();  // a request under way keeps its engine

  write_file(options.policy_path, policy_denying("refs/heads/new") + "# edited\n");
  auto reloaded = refresh_until_news(**gate);
  REQUIRE(reloaded.ok());
  CHECK(*reloaded);
  CHECK(push(**gate, "refs/heads/new") == Verdict::kDeny);
  CHECK(push(**gate, "refs/heads/old") == Verdict::kAllow);
  CHECK(before.revision != (*gate)->policy().revision);
  CHECK(before.rules.size() == 1);  // still readable
}

TEST_CASE("gate reload: a policy that no longer loads leaves the one in force, reported once") {
  testing::TempDir dir;
  GateOptions options = options_in(dir, 1);
  write_file(options.policy_path, policy_denying("refs/heads/danger"));
  auto gate = Gate::open(options);
  REQUIRE(gate.ok());

  write_file(options.policy_path, policy_denying("refs/heads/danger") + "  - id: [unclosed\n");
  auto broken = refresh_until_news(**gate);
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().message.find("policy.yaml") != std::string::npos);
  for (int i = 0; i < 20; ++i) {  // the same broken file is not reported again
    auto again = (*gate)->refresh_policy();
    REQUIRE(again.ok());
    CHECK_FALSE(*again);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(push(**gate, "refs/heads/danger") == Verdict::kDeny);
  CHECK(push(**gate, "refs/heads/other") == Verdict::kAllow);
}

TEST_CASE("gate reload: no checks without an interval, and none before the interval is over") {
  for (int interval : {0, 3600 * 1000}) {
    CAPTURE(interval);
    testing::TempDir dir;
    GateOptions options = options_in(dir, interval);
    write_file(options.policy_path, policy_denying("refs/heads/old"));
    auto gate = Gate::open(options);
    REQUIRE(gate.ok());
    write_file(options.policy_path, policy_denying("refs/heads/new") + "# edited\n");
    auto r = (*gate)->refresh_policy();
    REQUIRE(r.ok());
    CHECK_FALSE(*r);
    CHECK(push(**gate, "refs/heads/new") == Verdict::kAllow);
  }
}

/// Holds the newest head it was given, and the newest one the log declared on disk: flush() is
/// called by the batching thread right after its fsync.
class RecordingSink : public AuditHeadSink {
 public:
  Status record_head(const std::string& /*log_path*/, const AuditHead& head) override {
    std::lock_guard lock(mu_);
    written_ = head.size;
    return {};
  }
  Status flush() override {
    std::lock_guard lock(mu_);
    synced_ = written_;
    return {};
  }
  uint64_t synced() {
    std::lock_guard lock(mu_);
    return synced_;
  }

 private:
  std::mutex mu_;
  uint64_t written_ = 0;
  uint64_t synced_ = 0;
};

TEST_CASE("gate: audit.durable makes each decision wait for its record's fsync") {
  struct Case {
    const char* audit;
    bool synced_on_return;
  };
  for (const Case& c : {Case{"audit: {durable: true}\n", true}, Case{"", false},
                        Case{"audit: {durable: false}\n", false}}) {
    CAPTURE(c.audit);
    testing::TempDir dir;
    GateOptions options = options_in(dir, 0);
    write_file(options.policy_path, policy_denying("refs/heads/danger", c.audit));
    // A batch interval no test lasts: only a durable append can cause an fsync here.
    options.audit_options = {.fsync = true, .fsync_batch_ms = 3600 * 1000};
    auto sink = std::make_shared<RecordingSink>();
    options.audit_options.checkpoints = sink;
    auto gate = Gate::open(options);
    REQUIRE(gate.ok());
    for (uint64_t n = 1; n <= 3; ++n) {
      CHECK(push(**gate, n == 2 ? "refs/heads/danger" : "refs/heads/x") ==
            (n == 2 ? Verdict::kDeny : Verdict::kAllow));
      CHECK((sink->synced() == n) == c.synced_on_return);
    }
  }
}

TEST_CASE("audit: a deferral's answer comes only once its record is on disk") {
  testing::TempDir dir;
  auto sink = std::make_shared<RecordingSink>();
  // A batch interval no test lasts: only the deferral's wait can cause the fsync.
  auto log = AuditLog::open(
      dir.path() + "/audit.jsonl",
      {.fsync = true, .fsync_batch_ms = 3600 * 1000, .durable = true, .checkpoints = sink});
  REQUIRE(log.ok());
  std::promise<uint64_t> answered;
  {
    AuditLog::Deferral deferral(**log);
    REQUIRE((*log)->append("decision", Map{{"n", 1}}).ok());
    CHECK(sink->synced() == 0);  // append did not wait for the disk
    deferral.then([&](Status s) { answered.set_value(s.ok() ? sink->synced() : 0); });
  }
  CHECK(answered.get_future().get() == 1);  // the fsync came first
  // With nothing appended under it, the answer is given at once, on this thread.
  bool at_once = false;
  {
    AuditLog::Deferral deferral(**log);
    deferral.then([&](Status s) { at_once = s.ok(); });
  }
  CHECK(at_once);
}

TEST_CASE("audit: durable appends from many threads share fsyncs and keep one chain") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/audit.jsonl";
  {
    auto sink = std::make_shared<RecordingSink>();
    auto log = AuditLog::open(
        path, {.fsync = true, .fsync_batch_ms = 3600 * 1000, .durable = true, .checkpoints = sink});
    REQUIRE(log.ok());
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          if (t % 2 == 0) {  // waits in append
            if (!(*log)->append("decision", Map{{"thread", t}, {"n", i}}).ok()) ++failures;
            continue;
          }
          // As an authority worker does: the wait is handed to the log's thread.
          std::promise<Status> synced;
          {
            AuditLog::Deferral deferral(**log);
            if (!(*log)->append("decision", Map{{"thread", t}, {"n", i}}).ok()) ++failures;
            deferral.then([&](Status s) { synced.set_value(s); });
          }
          if (!synced.get_future().get().ok()) ++failures;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(failures == 0);
    CHECK(sink->synced() == 200);
  }
  auto report = verify_audit_log(path);
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->records == 200);
}

}  // namespace
}  // namespace stepgate
