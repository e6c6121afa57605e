// Analyses arbitrary bytes as a shell command line (the text an agent's Bash call carries). Any
// crash, sanitizer report, hang or unbounded growth is a bug: the analysis must refuse past its
// named limits (shell_lexer.h), never recurse or loop without bound.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shell_analysis.h"
#include "shell_lexer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const stepgate::ShellContext context = [] {
    stepgate::ShellContext c;
    c.cwd = "/work/project";
    c.home = "/home/alice";
    c.vars["XDG_CONFIG_HOME"] = "/home/alice/.config";
    return c;
  }();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const stepgate::ShellAnalysis analysis = stepgate::analyse_shell(text, context);
  // Every path is bounded by the named limit.
  if (analysis.paths.size() > stepgate::kMaxShellPaths) __builtin_trap();
  return 0;
}
