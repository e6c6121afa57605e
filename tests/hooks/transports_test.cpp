// libgit2's network transports as linked into stepgate (hooks/libgit2_transports.cpp): with
// libgit2 linked statically, HTTPS and SSH are neither started nor usable, and a use fails with
// stepgate's own error instead of reaching the network.
#include <doctest/doctest.h>
#include <git2.h>

#include <string>

#include "../core/test_util.h"
#include "git_signals.h"

namespace stepgate {
namespace {

#ifdef STEPGATE_WRAP_LIBGIT2_TRANSPORTS
/// Connects an anonymous remote at `url` for fetching; the error message, "" on success.
std::string connect_error(const std::string& dir, const std::string& url) {
  init_libgit2();
  git_repository* repo = nullptr;
  REQUIRE(git_repository_init(&repo, dir.c_str(), 1) == 0);
  git_remote* remote = nullptr;
  REQUIRE(git_remote_create_anonymous(&remote, repo, url.c_str()) == 0);
  const int rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, nullptr, nullptr, nullptr);
  std::string message = rc == 0 ? "" : last_git_error("connect");
  git_remote_free(remote);
  git_repository_free(repo);
  return message;
}
#endif

TEST_CASE("libgit2 transports: HTTPS and SSH fail closed with stepgate's error") {
#ifdef STEPGATE_WRAP_LIBGIT2_TRANSPORTS
  testing::TempDir dir;
  CHECK(connect_error(dir.path() + "/a.git", "https://example.invalid/org/repo.git")
            .find("HTTPS transport is disabled") != std::string::npos);
  CHECK(connect_error(dir.path() + "/b.git", "ssh://git@example.invalid/org/repo.git")
            .find("SSH transport is disabled") != std::string::npos);
  CHECK(connect_error(dir.path() + "/c.git", "git@example.invalid:org/repo.git")
            .find("SSH transport is disabled") != std::string::npos);
#else
  MESSAGE("libgit2 is linked as a shared library here: its transports are its own");
#endif
}

}  // namespace
}  // namespace stepgate
