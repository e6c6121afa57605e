// Claude Code's HTTP hook form: the bearer check, the token file, the answer to each recorded
// and documented PreToolUse payload (the command hook's own JSON), the blocking answers where the
// command hook would exit 2, and the printed settings block. The listener itself is driven with
// curl in tests/e2e/claude_http_test.sh.
#include "claude_hook_http.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "hook_test_env.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

const std::string kToken(64, 'a');

ClaudeHttpReply answer(const std::string& body, const std::string& policy) {
  ClaudeHookOptions options;
  options.policy_path = policy;
  return answer_claude_http(options, body, this_process());
}

std::string command_hook_out(const std::string& body, const std::string& policy) {
  return test::run_in_context(body,
                              [&](CommandContext& context) {
                                ClaudeHookOptions options;
                                options.policy_path = policy;
                                run_claude_hook(options, context);
                              })
      .out;
}

/// The string at a JSON pointer ("/a/b"), or "" when there is none.
std::string at_pointer(const Value& root, const std::string& pointer) {
  const Value* at = &root;
  for (std::size_t from = 1; at != nullptr && from <= pointer.size();) {
    const std::size_t to = std::min(pointer.find('/', from), pointer.size());
    at = at->find(pointer.substr(from, to - from));
    from = to + 1;
  }
  return at != nullptr && at->is_string() ? at->as_string() : std::string();
}

}  // namespace

TEST_CASE("claude_http_authorized wants exactly `Bearer TOKEN`") {
  struct Case {
    std::string header;
    std::string token;
    bool authorized;
  };
  for (const Case& c :
       {Case{"Bearer " + kToken, kToken, true}, Case{"", kToken, false},
        Case{"Bearer ", kToken, false}, Case{"Bearer " + kToken.substr(1), kToken, false},
        Case{"Bearer " + kToken + "a", kToken, false},
        Case{"Bearer " + std::string(63, 'a') + "b", kToken, false},
        Case{"bearer " + kToken, kToken, false}, Case{"Basic " + kToken, kToken, false},
        Case{kToken, kToken, false},
        // No token configured authorizes nobody, not the empty bearer.
        Case{"Bearer ", "", false}}) {
    CAPTURE(c.header);
    CHECK(claude_http_authorized(c.header, c.token) == c.authorized);
  }
}

TEST_CASE("the HTTP hook's token: written 0600 once, refused when others can read it") {
  test::HookTestEnv env;
  const std::string path = env.root + "/secrets/claude-hook.token";
  Result<std::string> missing = read_claude_http_token(path);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK(missing.error().message.find("--print-config --http") != std::string::npos);

  Result<std::string> made = ensure_claude_http_token(path);
  REQUIRE(made.ok());
  CHECK(made->size() == 64);
  CHECK(made->find_first_not_of("0123456789abcdef") == std::string::npos);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(ensure_claude_http_token(path).value() == *made);  // kept, not rotated
  CHECK(read_claude_http_token(path).value() == *made);
  const std::string other = env.root + "/other/claude-hook.token";
  CHECK(ensure_claude_http_token(other).value() != *made);  // OS randomness, not a constant

  ::chmod(path.c_str(), 0640);
  Result<std::string> shared = read_claude_http_token(path);
  REQUIRE_FALSE(shared.ok());
  CHECK(shared.error().code == ErrorCode::kFailedPrecondition);
  CHECK(shared.error().message.find("chmod 600") != std::string::npos);
  // A token file others can read is never silently replaced (ensure would hide the leak).
  CHECK_FALSE(ensure_claude_http_token(path).ok());

  ::chmod(path.c_str(), 0600);
  std::ofstream(path) << "not a token\n";
  Result<std::string> garbage = read_claude_http_token(path);
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("the HTTP hook answers each payload with the command hook's own JSON") {
  test::HookTestEnv env;
  for (const char* fixture :
       {"recorded_bash_ls", "recorded_bash_rm_rf", "recorded_bash_git_push_force",
        "recorded_write_env_secret", "recorded_read_ssh_key", "bash_ls", "edit_source",
        "mcp_github_create_issue", "session_start", "bash_rm_rf", "read_ssh_key"}) {
    CAPTURE(fixture);
    const std::string body = env.fixture("claude", fixture);
    const ClaudeHttpReply reply = answer(body, test::kAgentToolsPolicy);
    CHECK(reply.status == 200);
    // The second call of the same held action names the same pending challenge.
    CHECK(reply.body == command_hook_out(body, test::kAgentToolsPolicy));
  }
}

TEST_CASE("the HTTP hook blocks in the event's own terms where the command hook exits 2") {
  test::HookTestEnv env;
  struct Case {
    std::string body;
    std::string policy;
    const char* pointer;  // the JSON pointer of the blocking answer
    const char* value;
    const char* reason_part;
  };
  const std::string missing_policy = env.root + "/missing.yaml";
  for (const Case& c : {
           Case{"not json", test::kAgentToolsPolicy, "/decision", "block", "invalid JSON"},
           Case{R"({"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":7}})",
                test::kAgentToolsPolicy, "/hookSpecificOutput/permissionDecision", "deny",
                "must be a string"},
           Case{R"({"hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{}})",
                test::kAgentToolsPolicy, "/hookSpecificOutput/decision/behavior", "deny",
                "is missing"},
           // A gate that cannot open (no such policy) blocks too.
           Case{env.fixture("claude", "bash_ls"), missing_policy,
                "/hookSpecificOutput/permissionDecision", "deny", "missing.yaml"},
       }) {
    CAPTURE(c.body);
    const ClaudeHttpReply reply = answer(c.body, c.policy);
    CHECK(reply.status == 200);
    Result<Value> parsed = parse_json(reply.body);
    REQUIRE(parsed.ok());
    CHECK(at_pointer(*parsed, c.pointer) == c.value);
    CHECK(reply.body.find(c.reason_part) != std::string::npos);
    CHECK(reply.body.find("fail closed") != std::string::npos);
  }
}

TEST_CASE("the HTTP hook's settings: loopback URL, token from the environment, onFailure block") {
  Result<Value> settings = parse_json(claude_http_settings_json(47999));
  REQUIRE(settings.ok());
  const Value& hook = (*settings)["hooks"]["PreToolUse"].as_list().at(0)["hooks"].as_list().at(0);
  CHECK(hook.get_string("type") == "http");
  CHECK(hook.get_string("url") == "http://127.0.0.1:47999/v1/claude/hook");
  // Without onFailure: block a refused connection or a 401 lets the tool run.
  CHECK(hook.get_string("onFailure") == "block");
  CHECK(hook.find("headers")->get_string("Authorization") == "Bearer $STEPGATE_HOOK_TOKEN");
  REQUIRE(hook.find("allowedEnvVars")->as_list().size() == 1);
  CHECK(hook.find("allowedEnvVars")->as_list().at(0).as_string() == "STEPGATE_HOOK_TOKEN");
  CHECK(hook.find("timeout")->as_int() == kClaudeHttpTimeoutSeconds);
}

}  // namespace stepgate
