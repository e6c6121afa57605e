// `policy test` fixtures beyond git (#23): a tool call and a CI step, each read by its front-end's
// own collector, give the signals (and the action) a case checks.
#include "policy_test_fixture.h"

#include <doctest/doctest.h>

#include <string>

#include "stepgate/json.h"
#include "stepgate/policy.h"

namespace stepgate {
namespace {

std::shared_ptr<const Policy> test_policy() {
  auto policy = load_policy_text(
      "ci: {production_environments: [prod], change_window: \"Mon-Fri 09:00-17:00\"}\n", "p.yaml");
  REQUIRE(policy.ok());
  return *policy;
}

struct FixtureCase {
  const char* fixture;  // JSON
  const char* kind;     // the action's kind
  const char* resource;
  const char* signals;  // JSON: a subset of the collected signals
};

TEST_CASE("policy test fixtures: tool calls and CI steps through the front-ends' collectors") {
  const FixtureCase cases[] = {
      {R"({"claude": {"tool_name": "Bash", "tool_input": {"command": "sudo rm -rf /var/x"}}})",
       "tool.call", "Bash",
       R"({"tool": "Bash", "shell_command": "sudo rm -rf /var/x", "destructive": true,
           "shell_programs": ["sudo", "rm"]})"},
      {R"({"claude": {"tool_name": "mcp__github__create_issue", "tool_input": {"title": "x"}}})",
       "tool.call", "github/create_issue", R"({"server": "github", "tool": "create_issue"})"},
      {R"({"claude": {"tool_name": "Write", "cwd": "/srv/app",
                      "tool_input": {"file_path": "/etc/hosts", "content": "x"}}})",
       "tool.call", "Write",
       R"({"paths": ["/etc/hosts"], "outside_workspace": ["/etc/hosts"],
           "sensitive_paths": ["/etc/hosts"]})"},
      {R"({"mcp": {"server": "fs", "home": "/home/eve",
                   "params": {"name": "read_file", "arguments": {"path": "~/.aws/credentials"}}}})",
       "tool.call", "fs/read_file",
       R"({"sensitive_paths": ["/home/eve/.aws/credentials"], "destructive": false})"},
      {R"({"ci": {"env": {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "alice",
                          "GITHUB_REF_NAME": "dev", "GITHUB_EVENT_NAME": "workflow_dispatch"},
                  "kind": "db.migrate", "resource": "orders", "environment": "prod",
                  "attrs": {"table": "orders"}, "at": "2024-01-06T10:00:00Z"}})",
       "db.migrate", "orders",
       R"({"production": true, "outside_change_window": true, "manual_trigger": true,
           "default_branch": false, "ci_provider": "github"})"},
      {R"({"ci": {"kind": "db.migrate", "resource": "orders", "environment": "staging",
                  "at": 1704362400}})",
       "db.migrate", "orders", R"({"production": false, "outside_change_window": false})"},
      {R"({"ci": {"files": {"m.bin": "abc"},
                  "manifest": {"model": {"name": "r", "version": "1"},
                               "artifact": {"path": "m.bin", "sha256":
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
                               "target": {"environment": "prod"}}}})",
       "model.deploy", "r",
       R"({"artifact_digest_mismatch": false, "production": true, "eval_missing": true})"},
  };
  const auto policy = test_policy();
  for (const FixtureCase& c : cases) {
    CAPTURE(c.fixture);
    auto out = collect_fixture(parse_json(c.fixture).value(), *policy);
    REQUIRE_MESSAGE(out.ok(), out.error().message);
    REQUIRE(out->action.has_value());
    CHECK(out->action->kind == c.kind);
    CHECK(out->action->resource.find(c.resource) != std::string::npos);
    const Value expected = parse_json(c.signals).value();
    for (const auto& [name, want] : expected.as_map()) {
      CAPTURE(name);
      const Value* got = out->signals.find(name);
      REQUIRE(got != nullptr);
      CHECK(to_json(*got) == to_json(want));
    }
  }
}

struct BadFixture {
  const char* fixture;
  const char* error;
};

TEST_CASE("policy test fixtures: what the front-end would refuse is refused, naming the key") {
  const BadFixture cases[] = {
      {R"({"claude": {"tool_input": {"command": "ls"}}})", "fixture.claude: "},
      {R"({"claude": {"tool_name": "Bash", "tool_input": {"command": 3}}})", "fixture.claude: "},
      {R"({"mcp": {"server": "fs", "params": {"arguments": {}}}})", "fixture.mcp.params"},
      {R"({"mcp": {"server": "fs", "parms": {"name": "x"}}})", "fixture.mcp: unknown key `parms`"},
      {R"({"ci": {"kind": "x.y", "manifest": {}}})", "give either `manifest` or `kind`"},
      {R"({"ci": {"resource": "r"}})", "give either `manifest` or `kind`"},
      {R"({"ci": {"kind": "x.y", "at": "Tuesday"}})", "fixture.ci.at"},
      {R"({"ci": {"kind": "x.y", "evn": {}}})", "fixture.ci: unknown key `evn`"},
      {R"({"ci": {"kind": "x.y", "files": {"../out": "x"}}})", "fixture.ci.files"},
      {R"({"ci": {"manifest": {"model": {"name": "r"}, "target": {"environment": "prod"},
                               "artifact": {"path": "missing.bin", "sha256": "00"}}}})",
       "fixture.ci: "},
      {R"({"shell": {}})", "fixture: unknown kind `shell` (expected git, claude, mcp, ci)"},
      {R"({"claude": {}, "mcp": {}})", "fixture: expected one of"},
  };
  const auto policy = test_policy();
  for (const BadFixture& c : cases) {
    CAPTURE(c.fixture);
    auto out = collect_fixture(parse_json(c.fixture).value(), *policy);
    REQUIRE_FALSE(out.ok());
    CHECK(out.error().code == ErrorCode::kInvalidArgument);
    CHECK(out.error().message.find(c.error) != std::string::npos);
  }
}

}  // namespace
}  // namespace stepgate
