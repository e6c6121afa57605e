#pragma once
// What a shell command line would do, for the tool-call signals: the programs it runs (resolved
// to base names, through `sh -c`, `env`, `sudo`, `xargs`, `nice`, `timeout`, `find -exec`...),
// the destructive forms among them (flags normalised), the paths it reads and writes (resolved
// against the call's directory, `cd` and $HOME), and what it could not resolve.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace stepgate {

/// Where the command runs.
struct ShellContext {
  std::string cwd;   // absolute; the tool call's directory
  std::string home;  // $HOME ("" when unknown)
  /// Variables the command may use whose value is known (HOME, XDG_CONFIG_HOME...).
  std::map<std::string, std::string> vars;
};

/// A path an argument or redirection names.
struct ShellPath {
  std::string path;            // absolute and lexically normal, or as written when `uncertain`
  bool write = false;          // the command writes, removes or changes it
  bool recursive = false;      // the command acts on the whole tree under it (rm -r, tar, grep -r)
  bool explicit_path = false;  // written as a path (has a '/', or starts with '.' or '~')
  bool glob = false;           // holds an unquoted glob the shell would expand
  bool uncertain = false;      // an unknown variable or directory is part of it
};

struct ShellAnalysis {
  std::vector<std::string> programs;    // base names, wrappers included, in first-run order
  std::vector<std::string> patterns;    // destructive pattern ids (rm-recursive-force...)
  std::vector<std::string> unresolved;  // why some part cannot be known (variable-program...)
  std::vector<ShellPath> paths;
};

/// Analyses `command` (never runs anything). Bounded by the limits in shell_lexer.h; a limit
/// hit is one of the `unresolved` ids (limit-size, limit-depth, limit-commands).
ShellAnalysis analyse_shell(std::string_view command, const ShellContext& context);

}  // namespace stepgate
