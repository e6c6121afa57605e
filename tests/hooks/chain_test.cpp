// The chained hook: its arguments and stdin replayed, its exit status returned, and a hook that
// leaves a large stdin unread neither kills the caller (SIGPIPE) nor changes its signal handling.
#include "chain.h"

#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

#include "../core/test_util.h"
#include "stepgate/paths.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

std::string make_hook(const std::string& path, const std::string& body) {
  std::ofstream(path) << "#!/bin/sh\n" << body;
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

TEST_CASE("chained hook: arguments and stdin replayed, status returned, unread stdin survived") {
  testing::TempDir dir;
  const std::string seen = dir.path() + "/seen.txt";
  const std::string reader =
      make_hook(dir.path() + "/reads", "{ echo \"$*\"; cat; } > '" + seen + "'\nexit 3\n");
  auto status =
      run_chained_hook(reader, {"origin", "url"}, "refs/heads/main a refs/heads/main b\n");
  REQUIRE(status.ok());
  CHECK(*status == 3);
  auto text = read_file(seen);
  REQUIRE(text.ok());
  CHECK(*text == "origin url\nrefs/heads/main a refs/heads/main b\n");

  // More than a pipe holds, to a hook that exits without reading it.
  const std::string ignorer = make_hook(dir.path() + "/ignores", "exit 4\n");
  status = run_chained_hook(ignorer, {}, std::string(std::size_t{4} << 20, 'x'));
  REQUIRE(status.ok());
  CHECK(*status == 4);
  struct sigaction now = {};
  REQUIRE(::sigaction(SIGPIPE, nullptr, &now) == 0);
  CHECK((now.sa_handler == SIG_DFL));  // left as it was

  CHECK_FALSE(run_chained_hook(dir.path() + "/missing", {}, "").ok());
}

}  // namespace
}  // namespace stepgate
