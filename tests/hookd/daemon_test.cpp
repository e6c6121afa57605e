#include "daemon.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "../core/test_util.h"
#include "protocol.h"
#include "stepgate/audit.h"
#include "stepgate/gate.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

const std::string kPolicy = std::string(STEPGATE_SOURCE_DIR) + "/policies/agent-tools.yaml";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string bash_event(const std::string& cwd, const std::string& command) {
  return R"({"session_id":"s1","cwd":")" + cwd +
         R"(","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":")" +
         command + R"("},"tool_use_id":"t1","permission_mode":"default"})";
}

std::string read_event(const std::string& cwd, const std::string& path) {
  return R"({"session_id":"s1","cwd":")" + cwd +
         R"(","hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"file_path":")" +
         path + R"("},"tool_use_id":"t2","permission_mode":"default"})";
}

/// A request as the client would send it, from an environment of its own (not this process's).
hookd::Request request_in(const testing::TempDir& dir, const std::string& policy,
                          std::string input) {
  hookd::Request r;
  r.args = {"claude", "--policy", policy};
  r.env = {"STEPGATE_HOME=" + dir.path() + "/sg", "HOME=" + dir.path(), "STEPGATE_ACTOR=dev"};
  r.cwd = dir.path();
  r.input = std::move(input);
  return r;
}

TEST_CASE("hookd protocol: requests and responses round-trip; bad frames are refused") {
  hookd::Request r;
  r.args = {"claude", "--policy", "p.yaml"};
  r.env = {"A=1", "EMPTY=", std::string("NUL=a\0b", 7)};
  r.flags = hookd::kStderrIsTerminal;
  r.cwd = "/work dir";
  r.input = std::string(70000, 'x');
  const std::string frame = hookd::encode(r);
  hookd::Request back;
  REQUIRE(hookd::decode(std::string_view(frame).substr(4), back));
  CHECK(back.flags == hookd::kStderrIsTerminal);
  CHECK(back.args == r.args);
  CHECK(back.env == r.env);
  CHECK(back.cwd == r.cwd);
  CHECK(back.input == r.input);

  hookd::Response resp{3, "out", "err"};
  const std::string rframe = hookd::encode(resp);
  hookd::Response rback;
  REQUIRE(hookd::decode(std::string_view(rframe).substr(4), rback));
  CHECK(rback.exit_code == 3);
  CHECK(rback.out == "out");
  CHECK(rback.err == "err");

  const std::string body = frame.substr(4);
  hookd::Request bad;
  CHECK_FALSE(hookd::decode(body.substr(0, body.size() - 1), bad));     // truncated
  CHECK_FALSE(hookd::decode(body + "x", bad));                          // trailing bytes
  CHECK_FALSE(hookd::decode("SGR1" + body.substr(4), bad));             // wrong magic
  CHECK_FALSE(hookd::decode(std::string_view(rframe).substr(4), bad));  // a response
  hookd::Request none;
  none.args = {};
  CHECK_FALSE(hookd::decode(std::string_view(hookd::encode(none)).substr(4), bad));  // no kind
  hookd::Request many;
  many.args.assign(hookd::kMaxArgs + 1, "a");
  CHECK_FALSE(hookd::decode(std::string_view(hookd::encode(many)).substr(4), bad));
  hookd::Response code;
  CHECK_FALSE(hookd::decode("SGR1\x00\x01\x00\x00" + std::string(8, '\0'), code));  // exit 256
}

TEST_CASE("hookd: a request is decided in its own environment, which does not stay behind") {
  testing::TempDir dir;
  setenv("STEPGATE_HOOKD_TEST_MARK", "kept", 1);
  unsetenv("STEPGATE_NO_TTY");
  const fs::path cwd_before = fs::current_path();
  GatePool pool;

  hookd::Response allowed =
      serve_hook_request(request_in(dir, kPolicy, bash_event(dir.path(), "ls -la")), pool);
  CHECK(allowed.exit_code == 0);
  CHECK(allowed.out.empty());
  const std::string audit = dir.path() + "/sg/state/audit.jsonl";
  REQUIRE(fs::exists(audit));
  CHECK(slurp(audit).find(R"("actor":"dev")") != std::string::npos);

  hookd::Response denied = serve_hook_request(
      request_in(dir, kPolicy, read_event(dir.path(), dir.path() + "/.ssh/id_ed25519")), pool);
  CHECK(denied.exit_code == 0);
  CHECK(denied.out.find(R"("permissionDecision":"deny")") != std::string::npos);
  CHECK(pool.size() == 1);

  // Served as a function of the request: this process's environment and directory never moved.
  CHECK(std::string(std::getenv("STEPGATE_HOOKD_TEST_MARK")) == "kept");
  CHECK(std::getenv("STEPGATE_NO_TTY") == nullptr);
  CHECK(fs::current_path() == cwd_before);
  unsetenv("STEPGATE_HOOKD_TEST_MARK");
}

TEST_CASE("hookd: errors fail closed with exit 2 and a message") {
  testing::TempDir dir;
  GatePool pool;
  hookd::Request r = request_in(dir, kPolicy, "{not json");
  hookd::Response bad_json = serve_hook_request(r, pool);
  CHECK(bad_json.exit_code == 2);
  CHECK(bad_json.out.empty());
  CHECK(bad_json.err.rfind("stepgate: ", 0) == 0);

  r.args = {"claude", "--print-config"};
  CHECK(serve_hook_request(r, pool).exit_code == 2);
  r.args = {"git", "pre-push"};
  CHECK(serve_hook_request(r, pool).err.find("claude") != std::string::npos);
  r = request_in(dir, kPolicy, bash_event(dir.path(), "ls"));
  r.cwd = dir.path() + "/no-such-dir";
  hookd::Response no_dir = serve_hook_request(r, pool);
  CHECK(no_dir.exit_code == 2);
  CHECK(no_dir.err.find("working directory") != std::string::npos);
}

TEST_CASE("hookd: requests served from many threads at once all get their answer and one record") {
  // The daemon's workers share one GatePool: more policy files than the pool keeps (so gates are
  // evicted while other threads use them), one state directory and audit log for all of them.
  testing::TempDir dir;
  constexpr int kPolicies = 11;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 12;
  std::vector<std::string> policies;
  for (int i = 0; i < kPolicies; ++i) {
    policies.push_back(dir.path() + "/policy" + std::to_string(i) + ".yaml");
    // A zone of its own each: local time is computed per request, with no process-wide TZ.
    const char* zones[] = {"Europe/Paris", "Pacific/Chatham", "America/St_Johns"};
    std::ofstream(policies.back()) << slurp(kPolicy) << "timezone: " << zones[i % 3] << "\n";
  }
  GatePool pool;
  std::mutex mu;
  int wrong = 0;
  std::string first_wrong;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const bool deny = (t + i) % 2 == 1;
        const std::string& policy =
            policies[static_cast<std::size_t>(t * kPerThread + i) % kPolicies];
        hookd::Request r = request_in(dir, policy,
                                      deny ? read_event(dir.path(), dir.path() + "/.ssh/id_ed25519")
                                           : bash_event(dir.path(), "ls -la"));
        // A session per thread: the pack holds a burst of more than 30 calls in one session.
        r.input.replace(r.input.find(R"("s1")"), 4, "\"s" + std::to_string(t) + "\"");
        const hookd::Response answer = serve_hook_request(r, pool);
        const bool denied = answer.out.find(R"("permissionDecision":"deny")") != std::string::npos;
        if (answer.exit_code != 0 || denied != deny || (!deny && !answer.out.empty())) {
          std::lock_guard lock(mu);
          if (++wrong == 1)
            first_wrong = std::to_string(answer.exit_code) + answer.out + answer.err;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  INFO(first_wrong);
  CHECK(wrong == 0);
  CHECK(pool.size() <= 8);
  auto records = read_audit_log(dir.path() + "/sg/state/audit.jsonl", AuditFilter{});
  REQUIRE(records.ok());
  CHECK(records->size() == static_cast<std::size_t>(kThreads * kPerThread));
  auto verified = verify_audit_log(dir.path() + "/sg/state/audit.jsonl");
  REQUIRE(verified.ok());
  CHECK(verified->ok);
}

TEST_CASE("GatePool: reuses a gate until the policy bytes or the state files change") {
  testing::TempDir dir;
  const std::string policy = dir.path() + "/policy.yaml";
  fs::copy_file(kPolicy, policy);
  GateOptions options;
  options.policy_path = policy;
  options.cwd = dir.path();
  options.front_end = "claude";
  options.paths.state_dir = dir.path() + "/state";
  options.paths.state_db = options.paths.state_dir + "/state.db";
  options.paths.audit_log = options.paths.state_dir + "/audit.jsonl";
  options.paths.config_dir = options.paths.secrets_dir = dir.path() + "/config";
  GatePool pool;

  auto first = pool.get(options);
  REQUIRE(first.ok());
  auto again = pool.get(options);
  REQUIRE(again.ok());
  CHECK(*again == *first);
  const std::string revision = (*first)->policy().revision;

  std::ofstream(policy, std::ios::app) << "# an edit\n";
  auto edited = pool.get(options);
  REQUIRE(edited.ok());
  CHECK((*edited)->policy().revision != revision);
  CHECK(pool.size() == 1);

  fs::remove_all(options.paths.state_dir);
  auto recreated = pool.get(options);
  REQUIRE(recreated.ok());
  CHECK(fs::exists(options.paths.state_db));
  CHECK(pool.size() == 1);

  GateOptions other = options;
  other.front_end = "mcp-wrap";
  auto second = pool.get(other);
  REQUIRE(second.ok());
  CHECK(*second != *recreated);
  CHECK(pool.size() == 2);

  options.policy_path = dir.path() + "/missing.yaml";
  CHECK_FALSE(pool.get(options).ok());
}

}  // namespace
}  // namespace stepgate
