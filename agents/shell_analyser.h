#pragma once
// The walker behind analyse_shell (private to agents/shell_*.cpp): shell_analysis.cpp follows
// the parse, `cd`, wrappers and nested scripts; shell_programs.cpp knows what individual programs
// (rm, git, find, dd...) do with their arguments.

#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "shell_analysis.h"
#include "shell_lexer.h"

namespace stepgate {

/// `base` joined with `path` (unless absolute), lexically normal, no trailing slash.
std::string shell_normalize_path(const std::string& path, const std::string& base);

class ShellAnalyser {
 public:
  ShellAnalyser(const ShellContext& context, ShellAnalysis& out);

  /// Parses and analyses a script run in `cwd` at nesting `depth`.
  void script(std::string_view text, const std::string& cwd, int depth);

  /// Analyses one command's words (program first). `shell_cwd` is the running shell's directory
  /// when the program is not wrapped (so `cd` can change it), else null.
  void run(std::span<const ShellWord> words, const ShellCommand& cmd, std::string cwd,
           std::string* shell_cwd, int depth);

  // Used by the program classifiers.
  void add_program(const std::string& name);
  void add_pattern(std::string_view id);
  void add_unresolved(std::string_view id);
  void add_path(const ShellWord& word, const std::string& cwd, bool write, bool recursive);
  void add_path_text(const std::string& text, const std::string& cwd, bool write, bool recursive);
  [[nodiscard]] bool pipeline_has_download() const;
  /// What a shell or interpreter does with a script on its stdin.
  void stdin_script(const ShellCommand& cmd, const std::string& cwd, int depth, bool shell);

  /// Classifies a program that is no wrapper (shell_programs.cpp).
  void classify(const std::string& name, std::span<const ShellWord> rest, const ShellCommand& cmd,
                const std::string& cwd, std::string* shell_cwd, int depth);

 private:
  void simple(const ShellCommand& cmd, std::string& cwd, int depth);
  /// For a wrapper program (env, sudo, xargs...): the index in `rest` of the program it runs
  /// (rest.size() when none or when it handled the rest itself); -1 when `name` is no wrapper.
  long unwrap(const std::string& name, std::span<const ShellWord> rest, std::string& cwd,
              int depth);
  long unwrap_command(std::span<const ShellWord> rest);
  long unwrap_env(std::span<const ShellWord> rest, std::string& cwd, int depth);
  long unwrap_sudo(const std::string& name, std::span<const ShellWord> rest, std::string& cwd);
  long unwrap_script_runner(const std::string& name, std::span<const ShellWord> rest,
                            const std::string& cwd, int depth);
  void run_shell(std::span<const ShellWord> rest, const ShellCommand& cmd, const std::string& cwd,
                 int depth);

  const ShellContext& context_;
  ShellAnalysis& out_;
  ShellEnv env_;
  std::size_t commands_ = 0;
  int scripts_ = 0;
  std::pair<int, int> pipeline_{-1, -1};
  std::map<std::pair<int, int>, std::vector<std::string>> pipelines_;
};

}  // namespace stepgate
