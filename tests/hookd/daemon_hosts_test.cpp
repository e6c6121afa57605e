// The hook daemon serves every agent host's hook (`stepgate-hook codex|cursor|gemini|copilot`)
// with the answers the lean in-process hook gives: one table, each host's payloads on both paths.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../agents/hook_test_env.h"
#include "daemon.h"
#include "host_hook.h"
#include "protocol.h"
#include "stepgate/gate.h"

namespace stepgate {

TEST_CASE("hookd: each agent host's payloads get the in-process hook's answer") {
  test::HookTestEnv env;
  GatePool pool;
  // Every fixture of every host (documented and recorded alike), so a new one is covered too.
  int cases = 0;
  for (std::string_view name : host_adapter_names()) {
    const std::string host(name);
    const HostAdapter* adapter = find_host_adapter(host);
    REQUIRE(adapter != nullptr);
    for (const auto& entry : std::filesystem::directory_iterator(test::kHookFixtures + host)) {
      const std::string fixture = entry.path().stem().string();
      CAPTURE(host);
      CAPTURE(fixture);
      const std::string input = env.fixture(host, fixture);
      const test::HookRun local = test::run_in_context(input, [&](CommandContext& context) {
        ClaudeHookOptions options;
        options.policy_path = test::kAgentToolsPolicy;
        run_host_hook(*adapter, options, context);
      });
      hookd::Request request;
      request.args = {host, "--policy", test::kAgentToolsPolicy};
      // The client's environment: the same the in-process run had (HookTestEnv set it).
      request.env = {"STEPGATE_HOME=" + env.root + "/sg", "HOME=" + env.root, "STEPGATE_ACTOR=dev",
                     "STEPGATE_DEVICE=test-device"};
      request.cwd = env.cwd;
      request.input = input;
      const hookd::Response served = serve_hook_request(request, pool);
      CHECK(served.exit_code == local.exit_code);
      // A held call names the same pending challenge on the second ask.
      CHECK(served.out == local.out);
      ++cases;
    }
  }
  CHECK(cases >= 25);
}

TEST_CASE("hookd: an agent host's hook with arguments it does not take fails closed") {
  test::HookTestEnv env;
  GatePool pool;
  hookd::Request request;
  request.args = {"gemini", "--print-config"};
  request.env = {"STEPGATE_HOME=" + env.root + "/sg", "HOME=" + env.root};
  request.cwd = env.cwd;
  const hookd::Response served = serve_hook_request(request, pool);
  CHECK(served.exit_code == 2);
  CHECK(served.err.find("stepgate-hook gemini") != std::string::npos);
  request.args = {"windsurf"};
  CHECK(serve_hook_request(request, pool).err.find("copilot") != std::string::npos);
}

}  // namespace stepgate
