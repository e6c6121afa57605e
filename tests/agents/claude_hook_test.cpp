#include "claude_hook.h"

#include <doctest/doctest.h>

#include "hook_test_env.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "stepgate/gate.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"
#include "stepgate/store.h"

namespace stepgate {
namespace {

using test::HookRun;
using test::replace_all;
const std::string& kPolicy = test::kAgentToolsPolicy;

/// A scratch environment whose fixtures are Claude Code's.
struct HookEnv : test::HookTestEnv {
  [[nodiscard]] std::string fixture(const std::string& name) const {
    return HookTestEnv::fixture("claude", name);
  }
};

HookRun run_hook(const std::string& input, const std::string& policy = kPolicy) {
  return test::run_in_context(input, [&](CommandContext& context) {
    ClaudeHookOptions options;
    options.policy_path = policy;
    run_claude_hook(options, context);
  });
}

/// The permissionDecision printed, or "" when the hook printed nothing.
std::string decision_of(const HookRun& run) {
  if (run.out.empty()) return "";
  Result<Value> parsed = parse_json(run.out);
  REQUIRE(parsed.ok());
  const Value* output = parsed->find("hookSpecificOutput");
  REQUIRE(output != nullptr);
  CHECK(output->get_string("hookEventName") == "PreToolUse");
  CHECK_FALSE(output->get_string("permissionDecisionReason").empty());
  return output->get_string("permissionDecision");
}

}  // namespace

TEST_CASE("parse_claude_hook_event reads a PreToolUse event and refuses bad input") {
  HookEnv env;
  Result<ClaudeHookEvent> event = parse_claude_hook_event(env.fixture("bash_ls"));
  REQUIRE(event.ok());
  CHECK(event->hook_event_name == "PreToolUse");
  CHECK(event->tool_name == "Bash");
  CHECK(event->cwd == env.cwd);
  CHECK(event->tool_input.get_string("command") == "ls -la");

  struct Case {
    const char* text;
    const char* message_part;
  };
  for (const Case& c :
       {Case{"not json", "hook event"}, Case{"[1,2]", "JSON object"},
        Case{R"({"tool_name":"Bash"})", "hook_event_name"},
        Case{R"({"hook_event_name":"PreToolUse"})", "tool_name"},
        Case{R"({"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":"ls"})",
             "tool_input"},
        Case{R"({"hook_event_name":7})", "hook_event_name"},
        // A command the gate cannot read is refused, not read as "" and allowed.
        Case{R"({"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":7}})",
             "tool_input.command` must be a string"},
        Case{R"({"hook_event_name":"PreToolUse","tool_name":"Bash",
                 "tool_input":{"command":["rm","-rf","/"]}})",
             "tool_input.command` must be a string"},
        Case{R"({"hook_event_name":"PreToolUse","tool_name":"Bash",
                 "tool_input":{"command":{"x":"rm -rf /"}}})",
             "tool_input.command` must be a string"},
        Case{R"({"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{}})",
             "tool_input.command` is missing"},
        Case{R"({"hook_event_name":"PreToolUse","tool_name":"Write",
                 "tool_input":{"file_path":["/etc/passwd"],"content":"x"}})",
             "tool_input.file_path` must be a string"},
        Case{R"({"hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"file_path":1}})",
             "tool_input.file_path` must be a string"}}) {
    CAPTURE(c.text);
    Result<ClaudeHookEvent> bad = parse_claude_hook_event(c.text);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find(c.message_part) != std::string::npos);
  }
  std::string deep = R"({"hook_event_name":"PreToolUse","tool_name":"X","tool_input":{"a":)";
  deep += std::string(100, '[') + std::string(100, ']') + "}}";
  CHECK_FALSE(parse_claude_hook_event(deep).ok());
  CHECK(parse_claude_hook_event(R"({"hook_event_name":"SessionStart"})").ok());
}

TEST_CASE("tool_call_from_claude_event maps Claude's tools to tool calls") {
  HookEnv env;
  ToolCall bash =
      tool_call_from_claude_event(*parse_claude_hook_event(env.fixture("bash_git_push_force")));
  CHECK(bash.server.empty());
  CHECK(bash.tool == "Bash");
  CHECK(bash.client == "claude-code");
  CHECK(bash.session == "4f1c2b7e-9a3d-4e55-8c1f-2d6b0e9a7c31");
  CHECK(bash.cwd == env.cwd);
  CHECK(to_json(bash.arguments) == R"({"command":"git push --force origin main"})");

  ToolCall mcp =
      tool_call_from_claude_event(*parse_claude_hook_event(env.fixture("mcp_github_create_issue")));
  CHECK(mcp.server == "github");
  CHECK(mcp.tool == "create_issue");
  CHECK(mcp.arguments.get_string("repo") == "octo-app");

  ToolCall write =
      tool_call_from_claude_event(*parse_claude_hook_event(env.fixture("write_env_secret")));
  CHECK(write.tool == "Write");
  CHECK(write.arguments.get_string("file_path") == env.cwd + "/.env");

  ClaudeHookEvent odd;
  odd.tool_name = "mcp__broken";
  CHECK(tool_call_from_claude_event(odd).tool == "mcp__broken");
  CHECK(tool_call_from_claude_event(odd).server.empty());
}

TEST_CASE("claude_permission_json and claude_settings_json follow Claude Code's contract") {
  Result<Value> deny = parse_json(claude_permission_json("deny", "because \"x\""));
  REQUIRE(deny.ok());
  const Value* output = deny->find("hookSpecificOutput");
  REQUIRE(output != nullptr);
  CHECK(output->get_string("hookEventName") == "PreToolUse");
  CHECK(output->get_string("permissionDecision") == "deny");
  CHECK(output->get_string("permissionDecisionReason") == "because \"x\"");

  Result<Value> settings = parse_json(claude_settings_json("/opt/stepgate agent-hook claude"));
  REQUIRE(settings.ok());
  const Value& entry = (*settings)["hooks"]["PreToolUse"].as_list().at(0);
  CHECK(entry.get_string("matcher") == "*");
  CHECK(entry.find("hooks")->as_list().at(0).get_string("command") ==
        "/opt/stepgate agent-hook claude");
  CHECK(entry.find("hooks")->as_list().at(0).get_string("onFailure") == "block");
}

TEST_CASE("run_claude_hook answers each fixture per the agent-tools pack") {
  HookEnv env;
  struct Case {
    const char* fixture;
    const char* decision;  // "" = no decision printed (allowed)
    const char* reason_part;
  };
  for (const Case& c :
       {Case{"bash_ls", "", ""}, Case{"edit_source", "", ""},
        Case{"mcp_github_create_issue", "", ""}, Case{"unknown_tool", "", ""},
        Case{"session_start", "", ""},
        Case{"bash_rm_rf", "deny", "Ask the user to approve it: stepgate approve "},
        Case{"bash_git_push_force", "deny", "git-force-push"},
        Case{"write_env_secret", "deny", "secrets-in-args"},
        Case{"read_ssh_key", "deny", "ssh-private-key"},
        // Recorded from Claude Code 2.1.332 itself (a stand-in model asked for
        // the call; tests/e2e/claude_real_test.sh), not written from the docs.
        Case{"recorded_bash_ls", "", ""}, Case{"recorded_bash_rm_rf", "deny", "stepgate approve "},
        Case{"recorded_bash_git_push_force", "deny", "git-force-push"},
        Case{"recorded_write_env_secret", "deny", "secrets-in-args"},
        Case{"recorded_read_ssh_key", "deny", "ssh-private-key"}}) {
    CAPTURE(c.fixture);
    HookRun run = run_hook(env.fixture(c.fixture));
    CHECK(run.exit_code == 0);
    CHECK(run.err.empty());
    CHECK(decision_of(run) == c.decision);
    CHECK(run.out.find(c.reason_part) != std::string::npos);
    // The model's context gets the short challenge id, not the 1.3 KB token.
    CHECK(run.out.find("sgc1.") == std::string::npos);
  }
}

TEST_CASE("run_claude_hook fails closed with exit 2") {
  HookEnv env;
  HookRun garbage = run_hook(R"({"hook_event_name": "PreToolUse", )");
  CHECK(garbage.exit_code == 2);
  CHECK(garbage.out.empty());
  CHECK(garbage.err.rfind("stepgate: ", 0) == 0);

  for (const std::string command : {"7", "[\"rm\",\"-rf\",\"/\"]", "true", "null"}) {
    CAPTURE(command);
    HookRun odd = run_hook(
        std::string(
            R"({"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":)") +
        command + "}}");
    CHECK(odd.exit_code == 2);
    CHECK(odd.out.empty());
    CHECK(odd.err.find("tool_input.command") != std::string::npos);
  }

  HookRun no_policy = run_hook(env.fixture("bash_ls"), env.root + "/missing.yaml");
  CHECK(no_policy.exit_code == 2);
  CHECK(no_policy.out.empty());

  std::ofstream(env.root + "/bad.yaml") << "version: 1\nrules:\n  - id: x\n    bogus: 1\n";
  HookRun bad_policy = run_hook(env.fixture("bash_ls"), env.root + "/bad.yaml");
  CHECK(bad_policy.exit_code == 2);
}

TEST_CASE("a held call's reply is 'ask' when the policy says step_up_response: ask") {
  HookEnv env;
  const std::string ask_policy = env.step_up_response_policy("ask");
  HookRun held = run_hook(env.fixture("bash_rm_rf"), ask_policy);
  REQUIRE(held.exit_code == 0);
  CHECK(decision_of(held) == "ask");
  // A deny stays a deny whatever the step-up response.
  CHECK(decision_of(run_hook(env.fixture("read_ssh_key"), ask_policy)) == "deny");
}

}  // namespace stepgate

namespace stepgate {

TEST_CASE(
    "the PermissionRequest event: deny and held calls refused, allowed ones left to the user") {
  HookEnv env;
  auto permission_request = [&](const char* fixture) {
    return replace_all(env.fixture(fixture), R"("hook_event_name": "PreToolUse")",
                       R"("hook_event_name": "PermissionRequest")");
  };
  struct Case {
    const char* fixture;
    const char* behavior;  // "" = no output: Claude Code's dialog asks the user
    const char* message_part;
  };
  for (const Case& c : {Case{"bash_ls", "", ""}, Case{"mcp_github_create_issue", "", ""},
                        Case{"read_ssh_key", "deny", "ssh-private-key"},
                        Case{"bash_rm_rf", "deny", "stepgate approve "}}) {
    CAPTURE(c.fixture);
    HookRun run = run_hook(permission_request(c.fixture));
    CHECK(run.exit_code == 0);
    if (std::string(c.behavior).empty()) {
      CHECK(run.out.empty());
      continue;
    }
    Result<Value> parsed = parse_json(run.out);
    REQUIRE(parsed.ok());
    const Value* output = parsed->find("hookSpecificOutput");
    REQUIRE(output != nullptr);
    CHECK(output->get_string("hookEventName") == "PermissionRequest");
    CHECK(output->find("decision")->get_string("behavior") == c.behavior);
    CHECK(output->find("decision")->get_string("message").find(c.message_part) !=
          std::string::npos);
  }
  // Input of the wrong shape fails closed for this event too.
  HookRun odd = run_hook(
      R"({"hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":7}})");
  CHECK(odd.exit_code == 2);
}

TEST_CASE("a call an elevation covers is allowed with additionalContext saying when it ends") {
  HookEnv env;
  setenv("STEPGATE_DEVICE", "test-device", 1);
  {
    auto store = StateStore::open(Paths::from_environment(Env()).state_db);
    REQUIRE(store.ok());
    const UnixTime now = unix_now();
    // max_age is 5m; granted a minute ago, it has 4 minutes left.
    REQUIRE((*store)->add_elevation(Elevation{"dev", "test-device", now - 60, now + 240, "totp"}));
  }
  const std::string policy = env.root + "/elevation.yaml";
  std::ofstream(policy) << "version: 1\nstep_up: { method: totp, max_age: 5m }\nrules:\n"
                           "  - id: shell-needs-a-human\n    on: tool.call\n"
                           "    when: signals.tool == \"Bash\"\n    effect: step_up\n";
  HookRun run = run_hook(env.fixture("bash_rm_rf"), policy);
  unsetenv("STEPGATE_DEVICE");
  CHECK(run.exit_code == 0);
  Result<Value> parsed = parse_json(run.out);
  REQUIRE(parsed.ok());
  const Value* output = parsed->find("hookSpecificOutput");
  REQUIRE(output != nullptr);
  CHECK(output->find("permissionDecision") == nullptr);  // Claude Code's own rules still apply
  const std::string context = output->get_string("additionalContext");
  CHECK(context.find("elevation ends in 4 min") != std::string::npos);
  // Without an elevation the same call is held.
  HookRun other_device = run_hook(env.fixture("bash_rm_rf"), policy);
  CHECK(decision_of(other_device) == "deny");
}

}  // namespace stepgate

namespace stepgate {

TEST_CASE("a held call is 'defer' when the policy says step_up_response: defer") {
  HookEnv env;
  const std::string defer_policy = env.step_up_response_policy("defer");
  HookRun held = run_hook(env.fixture("bash_rm_rf"), defer_policy);
  REQUIRE(held.exit_code == 0);
  CHECK(decision_of(held) == "defer");
  CHECK(decision_of(run_hook(env.fixture("read_ssh_key"), defer_policy)) == "deny");
}

}  // namespace stepgate
