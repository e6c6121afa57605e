#pragma once
// Running a child process with an argv (never a shell string), for the demo and admin commands.

#include <map>
#include <string>
#include <vector>

#include "stepgate/result.h"

namespace stepgate {

struct ProcessResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

struct ProcessOptions {
  std::string cwd;                         // "" = inherit
  std::map<std::string, std::string> env;  // added to (or overriding) the environment
  std::vector<std::string> unset_env;      // removed from the environment
  std::string input;                       // written to the child's stdin, then closed
};

/// Runs argv[0] (searched in PATH) with argv, waits, and captures stdout and stderr.
Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  const ProcessOptions& options = {});

/// Starts argv in the background (stdout/stderr to /dev/null); returns its pid.
Result<int> spawn_background(const std::vector<std::string>& argv,
                             const ProcessOptions& options = {});

/// Path of the running executable (/proc/self/exe).
std::string self_executable();

}  // namespace stepgate
