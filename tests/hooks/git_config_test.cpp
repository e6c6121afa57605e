// git's configuration is read for the caller (the hook daemon's client), not for this process:
// libgit2's own global search path is process-wide, so this test points it at a "daemon" home
// whose ~/.gitconfig says something else, and checks that the caller's files win.
#include <doctest/doctest.h>
#include <git2.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../core/test_util.h"
#include "git_signals.h"

namespace stepgate {
namespace {

void write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

std::string email_config(const std::string& email) {
  return "[user]\n\temail = " + email + "\n";
}

TEST_CASE("git config: the caller's HOME, XDG and GIT_CONFIG_* files, never the process's") {
  testing::TempDir dir;
  const std::string repo = dir.path() + "/repo";
  REQUIRE(std::system(("git init -q '" + repo + "'").c_str()) == 0);
  const std::string daemon_home = dir.path() + "/daemon-home";
  const std::string client_home = dir.path() + "/client-home";
  write(daemon_home + "/.gitconfig", email_config("daemon@example.com"));
  write(client_home + "/.gitconfig", email_config("client@example.com"));
  write(dir.path() + "/xdg/git/config", email_config("xdg@example.com"));
  write(dir.path() + "/global.cfg", email_config("global@example.com"));
  write(dir.path() + "/system.cfg", email_config("system@example.com"));
  write(dir.path() + "/empty-home/.keep", "");

  init_libgit2();
  // This process (the daemon) finds its own ~/.gitconfig through libgit2's search path.
  REQUIRE(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, daemon_home.c_str()) ==
          0);
  REQUIRE(git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG,
                           (daemon_home + "/.config/git").c_str()) == 0);

  struct Row {
    const char* what;
    std::vector<std::string> env;
    std::string email;
  };
  const std::string none = dir.path() + "/empty-home";
  const Row rows[] = {
      {"the client's ~/.gitconfig", {"HOME=" + client_home}, "client@example.com"},
      {"the client's XDG file",
       {"HOME=" + none, "XDG_CONFIG_HOME=" + dir.path() + "/xdg"},
       "xdg@example.com"},
      {"~/.gitconfig over the XDG file",
       {"HOME=" + client_home, "XDG_CONFIG_HOME=" + dir.path() + "/xdg"},
       "client@example.com"},
      {"GIT_CONFIG_GLOBAL replaces both",
       {"HOME=" + client_home, "GIT_CONFIG_GLOBAL=" + dir.path() + "/global.cfg"},
       "global@example.com"},
      {"GIT_CONFIG_SYSTEM under a home with nothing",
       {"HOME=" + none, "GIT_CONFIG_SYSTEM=" + dir.path() + "/system.cfg"},
       "system@example.com"},
      {"GIT_CONFIG_NOSYSTEM",
       {"HOME=" + none, "GIT_CONFIG_SYSTEM=" + dir.path() + "/system.cfg",
        "GIT_CONFIG_NOSYSTEM=true"},
       ""},
      {"a client with no HOME gets no global file, not the daemon's", {}, ""},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    auto opened = GitRepo::open(repo, Env(row.env));
    REQUIRE(opened.ok());
    CHECK((*opened)->config_string("user.email") == row.email);
  }

  // The repository's own file still comes first, and is where local writes go.
  auto opened = GitRepo::open(repo, Env(std::vector<std::string>{"HOME=" + client_home}));
  REQUIRE(opened.ok());
  REQUIRE((*opened)->set_local_config("user.email", "local@example.com").ok());
  auto again = GitRepo::open(repo, Env(std::vector<std::string>{"HOME=" + client_home}));
  REQUIRE(again.ok());
  CHECK((*again)->config_string("user.email") == "local@example.com");
  auto at = GitRepo::open_at(repo, Env(std::vector<std::string>{"HOME=" + client_home}));
  REQUIRE(at.ok());
  CHECK((*at)->config_string("user.email") == "local@example.com");

  // Back to libgit2's defaults for the tests after this one.
  git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, nullptr);
  git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, nullptr);
}

}  // namespace
}  // namespace stepgate
