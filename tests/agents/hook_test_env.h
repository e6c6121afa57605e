#pragma once
// What the agent-hook tests share: a scratch STEPGATE_HOME, workspace and HOME per case, the
// recorded and documented host payloads (tests/agents/fixtures/HOST/) with their placeholders
// filled, and a hook run in an injected context.

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "stepgate/process_context.h"

namespace stepgate::test {

inline const std::string kHookFixtures =
    std::string(STEPGATE_SOURCE_DIR) + "/tests/agents/fixtures/";
inline const std::string kAgentToolsPolicy =
    std::string(STEPGATE_SOURCE_DIR) + "/policies/agent-tools.yaml";

inline std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

/// A temporary STEPGATE_HOME, workspace (`cwd`, with src/) and HOME for one test case.
struct HookTestEnv {
  std::string root;
  std::string cwd;
  HookTestEnv() {
    char tmpl[] = "/tmp/sg-hook-test-XXXXXX";
    root = mkdtemp(tmpl);
    cwd = root + "/project";
    std::filesystem::create_directories(cwd + "/src");
    setenv("STEPGATE_HOME", (root + "/sg").c_str(), 1);
    setenv("HOME", root.c_str(), 1);
    setenv("STEPGATE_ACTOR", "dev", 1);
    setenv("STEPGATE_DEVICE", "test-device", 1);
    unsetenv("STEPGATE_GRANT");
    unsetenv("STEPGATE_SERVER");
  }
  ~HookTestEnv() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
    unsetenv("STEPGATE_DEVICE");
  }
  HookTestEnv(const HookTestEnv&) = delete;
  HookTestEnv& operator=(const HookTestEnv&) = delete;

  /// fixtures/HOST/NAME.json with __CWD__ and __HOME__ filled in and the fake AWS key built here
  /// (never committed whole, so secret scanners stay quiet).
  [[nodiscard]] std::string fixture(const std::string& host, const std::string& name) const {
    std::ifstream in(kHookFixtures + host + "/" + name + ".json");
    REQUIRE_MESSAGE(in.good(), std::string(host + "/" + name + ".json"));
    std::stringstream text;
    text << in.rdbuf();
    std::string out = replace_all(text.str(), "__CWD__", cwd);
    out = replace_all(out, "__HOME__", root);
    return replace_all(out, "__FAKE_AWS_KEY__", std::string("AKIA") + "QX7R2M4T9W3Y6B8N");
  }

  /// The agent-tools pack with `agents.step_up_response: RESPONSE`, written into this case's
  /// scratch directory; its path.
  [[nodiscard]] std::string step_up_response_policy(const std::string& response) const {
    std::ifstream in(kAgentToolsPolicy);
    std::stringstream text;
    text << in.rdbuf();
    const std::string path = root + "/" + response + ".yaml";
    std::ofstream(path) << replace_all(text.str(), "step_up_response: instruct",
                                       "step_up_response: " + response);
    return path;
  }
};

/// What a hook run printed and its exit code.
struct HookRun {
  int exit_code;
  std::string out;
  std::string err;
};

/// Runs `hook` with `input` on stdin, in this process's environment.
inline HookRun run_in_context(const std::string& input,
                              const std::function<void(CommandContext&)>& hook) {
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  CommandContext context;
  context.io.in = &in;
  context.io.out = &out;
  context.io.err = &err;
  hook(context);
  return {context.exit_code, out.str(), err.str()};
}

}  // namespace stepgate::test
