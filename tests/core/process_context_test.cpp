// The injected process context: an Env that is not the process's, the one STEPGATE_NO_TTY rule,
// paths and policy search read from an Env and a directory, and the context's clock.
#include "stepgate/process_context.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "stepgate/env.h"
#include "stepgate/paths.h"
#include "test_util.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

TEST_CASE("Env: handed-in entries, never the process's") {
  const Env env({"A=1", "EMPTY=", "A=2", "=nameless", "no-equals", "B=x=y"});
  CHECK_FALSE(env.is_process());
  CHECK(env.get("A") == "2");  // a later entry wins
  CHECK(env.get("EMPTY").empty());
  CHECK(env.get("B") == "x=y");
  CHECK(env.get("no-equals").empty());
  CHECK(env.get("PATH").empty());  // set in this process, not in this Env
  CHECK(Env().is_process());
  CHECK_FALSE(Env().get("PATH").empty());
}

TEST_CASE("STEPGATE_NO_TTY: one rule") {
  struct Row {
    const char* value;
    bool no_tty;
  };
  const Row rows[] = {{"", false}, {"0", false}, {"1", true}, {"yes", true}, {"true", true}};
  for (const Row& row : rows) {
    CAPTURE(row.value);
    CHECK(no_tty_value(row.value) == row.no_tty);
    CHECK(no_tty_requested(Env({std::string("STEPGATE_NO_TTY=") + row.value})) == row.no_tty);
  }
  CHECK_FALSE(no_tty_requested(Env(std::vector<std::string>{})));
}

TEST_CASE("paths and the policy search read the Env and the directory they are given") {
  testing::TempDir dir;
  const Env env({"STEPGATE_HOME=" + dir.path() + "/sg", "HOME=" + dir.path()});
  const Paths paths = Paths::from_environment(env);
  CHECK(paths.state_dir == dir.path() + "/sg/state");
  CHECK(paths.audit_log == dir.path() + "/sg/state/audit.jsonl");

  fs::create_directories(dir.path() + "/work/sub");
  std::ofstream(dir.path() + "/work/p.yaml") << "rules: []\n";
  // A relative --policy is the caller's, whatever this process's directory is.
  auto found = find_policy_path("p.yaml", dir.path() + "/work", env);
  REQUIRE(found.ok());
  CHECK(*found == dir.path() + "/work/p.yaml");
  // $STEPGATE_POLICY from the Env, not from this process.
  const Env named({"STEPGATE_POLICY=../p.yaml", "HOME=" + dir.path()});
  found = find_policy_path("", dir.path() + "/work/sub", named);
  REQUIRE(found.ok());
  CHECK(fs::equivalent(*found, dir.path() + "/work/p.yaml"));
  CHECK_FALSE(find_policy_path("", dir.path() + "/work/sub", env).ok());
}

TEST_CASE("ProcessContext: now() is the injected clock, else the system's") {
  ProcessContext context;
  const UnixTime system = context.now();
  CHECK(system > 1700000000);
  context.clock = [] { return UnixTime{1717491600}; };
  CHECK(context.now() == 1717491600);
}

}  // namespace
}  // namespace stepgate
