#pragma once
// A POSIX shell lexer and parser for the tool-call signals: it turns a command line into the
// simple commands it would run (in order, command substitutions first), each with its words after
// quote removal, its assignments and redirections, without running or expanding anything but `~`
// and the variables it is told about. Bounded: input size, nesting depth and command count have
// named limits, and hitting one is reported, never recursed past.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace stepgate {

/// Largest command text analysed; longer text is reported as `limit-size`.
inline constexpr std::size_t kMaxShellBytes = std::size_t{256} * 1024;
/// Deepest nesting of subshells, groups, substitutions and unwrapped `sh -c` scripts
/// (`limit-depth`).
inline constexpr int kMaxShellDepth = 16;
/// Most simple commands in one tool call, unwrapped scripts included (`limit-commands`).
inline constexpr std::size_t kMaxShellCommands = 512;
/// Most paths collected from one tool call's command (`limit-paths`).
inline constexpr std::size_t kMaxShellPaths = 4096;

/// One word after quote removal. Expansions of variables the parser knows are substituted; an
/// unknown one is left as `$NAME` and marks the word `unknown`.
struct ShellWord {
  std::string text;
  bool quoted = false;                // some part was quoted or escaped (`\rm`, `"rm"`)
  bool expanded = false;              // holds a parameter, command or arithmetic expansion
  bool unknown = false;               // some expansion's value is not known
  bool script_var = false;            // expands a variable the script itself set (or one not known)
  bool glob = false;                  // holds an unquoted `*`, `?` or `[`
  bool process_substitution = false;  // `<(...)` or `>(...)`
};

struct ShellRedirect {
  std::string op;  // ">", ">>", "<", "<<", "<<<", ">&", "<&", "<>", ">|", "&>", "&>>"
  ShellWord target;
};

/// A simple command: assignments, words (program first) and redirections, as one line of a
/// script would run it.
struct ShellCommand {
  std::vector<std::pair<std::string, ShellWord>> assignments;
  std::vector<ShellWord> words;
  std::vector<ShellRedirect> redirects;
  std::string stdin_text;  // a here-document's or here-string's text (for `sh <<EOF`)
  bool has_stdin_text = false;
  int pipeline = -1;          // id of the pipeline it belongs to
  int pipeline_position = 0;  // 0 = first (reads the shell's own stdin)
  int depth = 0;
};

/// The parse, in execution order. kEnter/kLeave bracket a subshell (parentheses, command
/// substitution, a pipeline member), so a `cd` inside does not leak out of it.
struct ShellStep {
  enum class Kind { kCommand, kEnter, kLeave };
  Kind kind = Kind::kCommand;
  ShellCommand command;
};

struct ShellParse {
  std::vector<ShellStep> steps;
  std::vector<std::string> unresolved;  // ids: unbalanced-quote, limit-size, limit-depth...
  std::size_t commands = 0;
  int pipelines = 0;     // pipeline ids handed out so far
  bool stopped = false;  // a limit or an unbalanced quote ended the parse early
};

/// What the parser may substitute: variables it knows the value of (HOME...). Variables the
/// script sets to a literal are learnt as it goes.
struct ShellEnv {
  std::map<std::string, std::string> vars;
  std::string home;
};

/// Parses `text` at nesting `depth` into `out` (appending; `out.commands` counts against
/// kMaxShellCommands across calls, so unwrapped scripts share one budget).
void parse_shell(std::string_view text, const ShellEnv& env, int depth, ShellParse& out);

}  // namespace stepgate
