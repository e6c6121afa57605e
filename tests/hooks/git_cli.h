#pragma once
// The git CLI for the hooks' tests: `git -C DIR ARGS...` with no system configuration and DIR as
// HOME. A failure to run it, or a non-zero exit, fails the test.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "subprocess.h"

namespace stepgate::testing {

inline std::string git_in(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"git", "-C", dir};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.env = {{"GIT_CONFIG_NOSYSTEM", "1"}, {"HOME", dir}};
  auto r = run_process(argv, options);
  REQUIRE(r.ok());
  REQUIRE_MESSAGE(r->exit_code == 0, r->err);
  return r->out;
}

}  // namespace stepgate::testing
