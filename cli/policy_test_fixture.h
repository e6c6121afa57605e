#pragma once
// `stepgate policy test`: signals for a test case collected by the real collectors from a fixture
// (a git repository built for the case), so a case checks what the collector makes of a change
// as well as what the policy makes of the signals.
//
//   fixture:
//     git:
//       base: {README.md: "hello\n"}          # the commit the remote already has
//       rewrite: false                         # true: the remote tip is a commit the push drops
//       ref: refs/heads/main                   # the ref pushed (default refs/heads/main)
//       commits:                               # the commits pushed, oldest first
//         - message: add config
//           author: "Eve <eve@example.com>"    # default: Test <test@example.com>
//           files: {config.py: "KEY = 1\n", old.txt: null}   # null deletes the file
//
// A tool call, through the agent front-ends' collector (collect_tool_signals):
//
//   fixture:
//     claude:                                  # a Claude Code PreToolUse event, as on the hook's
//     stdin
//       tool_name: Bash                        # hook_event_name defaults to PreToolUse,
//       tool_input: {command: "rm -rf /"}      # session_id to "fixture", cwd to /home/test/project
//   fixture:
//     mcp:                                     # an MCP tools/call, as the shim and mcp-wrap read
//     it
//       server: filesystem                     # the upstream's name
//       params: {name: write_file, arguments: {path: /etc/hosts, content: x}}
//       cwd: /home/test/project                # optional, as for claude
//
// Both run with HOME=/home/test (`home:` overrides it); the case's action is the front-ends'
// tool.call action when the case gives none (actor `actor:`, default "agent").
//
// A CI step, through the CI gate's collector (build_gate_input):
//
//   fixture:
//     ci:
//       env: {GITHUB_ACTIONS: "true", GITHUB_ACTOR: alice, GITHUB_REF_NAME: main}
//       manifest: {kind: model.deploy, ...}    # a deployment manifest (as `--manifest FILE`), or
//       kind: db.migrate                       # a step (as `--kind`, `--resource`,
//       `--environment`, resource: orders                       #  `--attr key=value`) environment:
//       prod attrs: {table: orders} files: {model.onnx: "weights"}         # written beside the
//       manifest (its artifact) at: "2024-01-02T11:00:00Z"             # the time of the step
//       (default: this one, a Tuesday)

#include <optional>
#include <string>

#include "stepgate/action.h"
#include "stepgate/policy.h"
#include "stepgate/result.h"
#include "stepgate/value.h"

namespace stepgate {

/// What a fixture's collector gave: its signals and, for tool calls and CI steps, the action the
/// front-end would have gated.
struct FixtureOutput {
  Value signals = Map{};
  std::optional<Action> action;
};

/// Builds the fixture described by `fixture` (the case's `fixture` map; in a scratch directory
/// when it needs files), runs the front-end's own collector over it and returns what it gives.
/// kInvalidArgument naming the key for a fixture it does not understand (or a payload the
/// front-end would refuse); kUnavailable when git cannot be run.
Result<FixtureOutput> collect_fixture(const Value& fixture, const Policy& policy);

}  // namespace stepgate
