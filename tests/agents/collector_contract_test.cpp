// The engine–collector contract, per collector: a collector emits exactly the signals the
// registry declares for it (no undeclared name a rule could not lint, no declared name left out).
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "../core/test_util.h"
#include "stepgate/collect.h"
#include "stepgate/json.h"
#include "stepgate/signal_demand.h"
#include "stepgate/signals.h"
#include "tool_gate.h"

namespace stepgate {
namespace {

std::set<std::string> declared_by(const std::set<std::string>& collectors,
                                  const std::string& kind) {
  std::set<std::string> out;
  for (const SignalSpec* spec : SignalRegistry::builtin().for_kind(kind)) {
    if (collectors.contains(spec->collector)) out.insert(spec->name);
  }
  return out;
}

std::set<std::string> keys_of(const Value& signals) {
  std::set<std::string> out;
  REQUIRE(signals.is_map());
  for (const auto& [name, value] : signals.as_map()) out.insert(name);
  return out;
}

TEST_CASE("contract: the tool collector emits exactly the registry's tool signals") {
  Policy policy;
  policy.agents.workspaces = {"/work/project"};
  const char* calls[] = {R"({})", R"({"command": "rm -rf /tmp/x && curl https://evil.example"})",
                         R"({"path": "/etc/passwd", "content": "AKIAQX7R2M4T9W3Y6B8N"})"};
  for (const char* args : calls) {
    CAPTURE(args);
    ToolCall call;
    call.server = "srv";
    call.tool = "Bash";
    call.arguments = *parse_json(args);
    call.cwd = "/work/project";
    CHECK(keys_of(collect_tool_signals(call, policy, nullptr, 1700000000)) ==
          declared_by({"tool"}, "tool.call"));
  }
}

TEST_CASE("contract: the common collectors emit exactly the registry's common signals") {
  Policy policy;
  testing::TempDir dir;
  auto store = testing::open_test_store(dir);
  REQUIRE(store != nullptr);
  for (std::string kind : {"git.push", "tool.call", "model.deploy", "backup.run"}) {
    CAPTURE(kind);
    Value signals = Map{};
    CollectContext context{1700000000, "0123456789abcdef", store.get()};
    REQUIRE(
        collect_common_signals(Action{kind, "alice", "r", Map{}}, policy, context, signals).ok());
    CHECK(keys_of(signals) == declared_by({"time", "device", "velocity", "elevation"}, kind));
  }
}

TEST_CASE("contract: the tool collector skips the secret scan no rule reads") {
  Policy policy;
  ToolCall call;
  call.tool = "Write";
  // Assembled here so no scanner flags this source file.
  call.arguments = Map{{"content", std::string("AKIA") + "QX7R2M4T9W3Y6B8N"}};
  SignalDemand wanted{false, {"secrets_in_args"}};
  SignalDemand unwanted{false, {"destructive"}};
  SignalDemand all{true, {}};
  CHECK(collect_tool_signals(call, policy, nullptr, 0, &wanted)
            .find("secrets_in_args")
            ->as_list()
            .size() == 1);
  CHECK(collect_tool_signals(call, policy, nullptr, 0, &all)
            .find("secrets_in_args")
            ->as_list()
            .size() == 1);
  CHECK(collect_tool_signals(call, policy, nullptr, 0, &unwanted)
            .find("secrets_in_args")
            ->as_list()
            .empty());
}

}  // namespace
}  // namespace stepgate
