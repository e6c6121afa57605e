// `stepgate hooks install|uninstall` on real repositories made with the git CLI: what is written,
// what is kept and restored byte for byte, and what is refused without touching anything. (The
// e2e test pushes through the installed hooks; this one covers the file handling's edge cases.)
#include "install.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "../core/test_util.h"
#include "git_cli.h"
#include "stepgate/paths.h"
#include "subprocess.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void git(const std::string& dir, const std::vector<std::string>& args) {
  (void)testing::git_in(dir, args);
}

std::string read(const std::string& path) {
  auto text = read_file(path, 1 << 20);
  REQUIRE(text.ok());
  return *text;
}

void write(const std::string& path, const std::string& text, fs::perms mode) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
  fs::permissions(path, mode);
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777U;
}

/// Runs install or uninstall in `dir`; returns the exit code, with what it printed.
struct Run {
  int code = 0;
  std::string out;
  std::string err;
};
Run run(bool install, const std::string& dir, const InstallOptions& options = {}) {
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  CommandContext context;
  context.io.in = &in;
  context.io.out = &out;
  context.io.err = &err;
  context.io.cwd = dir;
  Run r;
  r.code = install ? run_hooks_install(options, context) : run_hooks_uninstall(options, context);
  r.out = out.str();
  r.err = err.str();
  return r;
}

const std::string kUserHook = "#!/bin/sh\necho 'my own checks'\nexit 0\n";

TEST_CASE("hooks install: a fresh repository gets an executable stepgate pre-push script") {
  TempDir dir;
  git(dir.path(), {"init", "-q"});
  const std::string hook = dir.path() + "/.git/hooks/pre-push";
  REQUIRE(run(true, dir.path()).code == 0);
  const std::string script = read(hook);
  CHECK(is_stepgate_script(script));
  CHECK(script.rfind("#!/bin/sh\n", 0) == 0);
  CHECK(script.find(" pre-push --chained \"$0.stepgate-chained\" -- \"$@\"") != std::string::npos);
  CHECK(mode_of(hook) == 0755);
  CHECK_FALSE(fs::exists(hook + ".stepgate-chained"));

  SUBCASE("a second install changes nothing and chains nothing") {
    const Run again = run(true, dir.path());
    CHECK(again.code == 0);
    CHECK(again.out.find("already installed") != std::string::npos);
    CHECK(read(hook) == script);
    CHECK_FALSE(fs::exists(hook + ".stepgate-chained"));
  }
  SUBCASE("uninstall removes it and leaves no trace") {
    REQUIRE(run(false, dir.path()).code == 0);
    CHECK_FALSE(fs::exists(hook));
    CHECK_FALSE(fs::exists(hook + ".stepgate-chained"));
  }
}

TEST_CASE("hooks install: an existing hook is chained and uninstall restores its bytes and mode") {
  TempDir dir;
  git(dir.path(), {"init", "-q"});
  const std::string hook = dir.path() + "/.git/hooks/pre-push";
  write(hook, kUserHook, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  REQUIRE(run(true, dir.path()).code == 0);
  CHECK(read(hook + ".stepgate-chained") == kUserHook);
  CHECK(is_stepgate_script(read(hook)));
  REQUIRE(run(true, dir.path()).code == 0);  // idempotent: our own script is never chained
  CHECK(read(hook + ".stepgate-chained") == kUserHook);

  REQUIRE(run(false, dir.path()).code == 0);
  CHECK(read(hook) == kUserHook);
  CHECK(mode_of(hook) == 0750);
  CHECK_FALSE(fs::exists(hook + ".stepgate-chained"));
}

TEST_CASE("hooks install: refusals leave every file as it was") {
  TempDir dir;
  git(dir.path(), {"init", "-q"});
  const std::string hook = dir.path() + "/.git/hooks/pre-push";
  const fs::perms exec = fs::perms::owner_all;

  SUBCASE("a chained copy already there: install refuses rather than overwrite it") {
    write(hook, kUserHook, exec);
    write(hook + ".stepgate-chained", "#!/bin/sh\nexit 1\n", exec);
    const Run r = run(true, dir.path());
    CHECK(r.code == 2);
    CHECK(r.err.find("already exists") != std::string::npos);
    CHECK(read(hook) == kUserHook);
    CHECK(read(hook + ".stepgate-chained") == "#!/bin/sh\nexit 1\n");
  }
  SUBCASE("uninstall does not delete a hook stepgate did not write") {
    write(hook, kUserHook, exec);
    const Run r = run(false, dir.path());
    CHECK(r.code == 2);
    CHECK(r.err.find("not installed by stepgate") != std::string::npos);
    CHECK(read(hook) == kUserHook);
  }
  SUBCASE("an unknown hook name") {
    InstallOptions options;
    options.hook = "post-commit";
    const Run r = run(true, dir.path(), options);
    CHECK(r.code == 2);
    CHECK(r.err.find("--hook must be pre-push or pre-receive") != std::string::npos);
    CHECK_FALSE(fs::exists(dir.path() + "/.git/hooks/post-commit"));
  }
  SUBCASE("outside a repository") {
    TempDir plain;
    const Run r = run(true, plain.path());
    CHECK(r.code == 2);
    CHECK(r.err.find("not in a git repository") != std::string::npos);
  }
}

TEST_CASE("hooks install: --force rewrites an outdated stepgate script, never chaining it") {
  TempDir dir;
  git(dir.path(), {"init", "-q"});
  const std::string hook = dir.path() + "/.git/hooks/pre-push";
  // What an install from a binary that has since moved looks like.
  const std::string old_script = hook_script("pre-push", "/opt/old/stepgate");
  write(hook, old_script, fs::perms::owner_all);
  REQUIRE(run(true, dir.path()).code == 0);
  CHECK(read(hook) == old_script);  // without --force: kept
  InstallOptions force;
  force.force = true;
  REQUIRE(run(true, dir.path(), force).code == 0);
  const std::string now = read(hook);
  CHECK(is_stepgate_script(now));
  CHECK(now != old_script);
  CHECK(now.find("/opt/old/stepgate") == std::string::npos);
  CHECK_FALSE(fs::exists(hook + ".stepgate-chained"));
}

TEST_CASE("hooks install: core.hooksPath, and pre-receive by default in a bare repository") {
  SUBCASE("a relative core.hooksPath is taken from the work tree") {
    TempDir dir;
    git(dir.path(), {"init", "-q"});
    git(dir.path(), {"config", "core.hooksPath", "tools/githooks"});
    REQUIRE(run(true, dir.path()).code == 0);
    CHECK(is_stepgate_script(read(dir.path() + "/tools/githooks/pre-push")));
    CHECK_FALSE(fs::exists(dir.path() + "/.git/hooks/pre-push"));
    REQUIRE(run(false, dir.path()).code == 0);
    CHECK_FALSE(fs::exists(dir.path() + "/tools/githooks/pre-push"));
  }
  SUBCASE("a bare repository gets pre-receive, relative hooksPath from the git dir") {
    TempDir dir;
    git(dir.path(), {"init", "-q", "--bare"});
    REQUIRE(run(true, dir.path()).code == 0);
    const std::string script = read(dir.path() + "/hooks/pre-receive");
    CHECK(script.find(" pre-receive --chained ") != std::string::npos);
    CHECK_FALSE(fs::exists(dir.path() + "/hooks/pre-push"));
    git(dir.path(), {"config", "core.hooksPath", "server-hooks"});
    REQUIRE(run(true, dir.path()).code == 0);
    CHECK(is_stepgate_script(read(dir.path() + "/server-hooks/pre-receive")));
  }
}

TEST_CASE("hooks install: one /bin/sh script that execs one program with git's arguments") {
  TempDir dir;
  const std::string bin = dir.path() + "/bin";
  fs::create_directories(bin);
  // Stand-ins that show what the hook ran them with: their name, arguments and stdin.
  const std::string show = "#!/bin/sh\necho \"$(basename \"$0\") $*\"; cat\nexit 7\n";
  write(bin + "/stepgate-git-hook", show, fs::perms::owner_all);
  // Runs the written hook as git does (argv[0] its path).
  const auto run_hook = [&](const std::string& contents, const std::string& name) {
    const std::string path = dir.path() + "/hooks/" + name;
    write(path, contents, fs::perms::owner_all);
    ProcessOptions options;
    options.input = "refs/heads/main 1 refs/heads/main 2\n";
    auto r = run_process({path, "origin", "../remote.git"}, options);
    REQUIRE(r.ok());
    return *r;
  };
  const std::string input_seen = "refs/heads/main 1 refs/heads/main 2\n";
  const std::string chained = " --chained " + dir.path() + "/hooks/pre-push.stepgate-chained -- ";

  struct Case {
    const char* name;
    bool client_there;
    bool daemon;
    const char* program;
  };
  const Case cases[] = {
      {"the lean hook by default", true, false, "stepgate-git-hook"},
      {"--daemon: the client", true, true, "stepgate-hook"},
      {"--daemon without the client beside stepgate: the lean hook", false, true,
       "stepgate-git-hook"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    fs::remove(bin + "/stepgate-hook");
    if (c.client_there) write(bin + "/stepgate-hook", show, fs::perms::owner_all);
    const std::string script = hook_script("pre-push", bin + "/stepgate", c.daemon);
    CHECK(script.rfind("#!/bin/sh\n", 0) == 0);
    CHECK(is_stepgate_script(script));
    CHECK(script.find("exec '" + bin + "/" + c.program + "' pre-push --chained") !=
          std::string::npos);
    const ProcessResult r = run_hook(script, "pre-push");
    CHECK(r.exit_code == 7);
    CHECK(r.out ==
          std::string(c.program) + " pre-push" + chained + "origin ../remote.git\n" + input_seen);
  }
  SUBCASE("a path with a space and a quote is one word") {
    const std::string odd = dir.path() + "/my bin's";
    fs::create_directories(odd);
    write(odd + "/stepgate-git-hook", show, fs::perms::owner_all);
    const ProcessResult r = run_hook(hook_script("pre-receive", odd + "/stepgate"), "pre-receive");
    CHECK(r.exit_code == 7);
    CHECK(r.out.rfind("stepgate-git-hook pre-receive --chained ", 0) == 0);
  }
  SUBCASE("no lean binary: the script runs `stepgate hook`") {
    const std::string script = hook_script("pre-push", dir.path() + "/nolean/stepgate");
    CHECK(script.find("exec '" + dir.path() + "/nolean/stepgate' hook pre-push --chained") !=
          std::string::npos);
  }
  SUBCASE("a program that is gone: a non-zero exit that names it, never a pass") {
    const std::string script = hook_script("pre-push", bin + "/stepgate");
    fs::remove(bin + "/stepgate-git-hook");
    const ProcessResult r = run_hook(script, "pre-push");
    CHECK(r.exit_code != 0);
    CHECK(r.err.find(bin + "/stepgate-git-hook") != std::string::npos);
  }
}

TEST_CASE("hooks install: pre-receive turns on push options, which carry grants") {
  TempDir dir;
  git(dir.path(), {"init", "-q", "--bare"});
  const Run r = run(true, dir.path());
  REQUIRE(r.code == 0);
  CHECK(r.out.find("set receive.advertisePushOptions true") != std::string::npos);
  std::string config = read(dir.path() + "/config");
  CHECK(config.find("advertisePushOptions = true") != std::string::npos);

  SUBCASE("a true value in any spelling git accepts is left as it is, without a warning") {
    REQUIRE(run(false, dir.path()).code == 0);
    git(dir.path(), {"config", "receive.advertisePushOptions", "YES"});
    const Run again = run(true, dir.path());
    CHECK(again.code == 0);
    CHECK(again.err.empty());
    CHECK(again.out.find("set receive.advertisePushOptions") == std::string::npos);
  }
  SUBCASE("a value an admin set to false is left alone, with a warning") {
    REQUIRE(run(false, dir.path()).code == 0);
    git(dir.path(), {"config", "receive.advertisePushOptions", "false"});
    const Run again = run(true, dir.path());
    CHECK(again.code == 0);
    CHECK(again.err.find("receive.advertisePushOptions is `false`") != std::string::npos);
    CHECK(read(dir.path() + "/config").find("advertisePushOptions = false") != std::string::npos);
  }
}

}  // namespace
}  // namespace stepgate
