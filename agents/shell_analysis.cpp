// The shell walker: follows the parse in execution order, keeps the directory `cd` leaves (per
// subshell), unwraps the programs that only run another program, and hands the rest to the
// program classifiers in shell_programs.cpp.
#include "shell_analysis.h"

#include <algorithm>
#include <filesystem>

#include "shell_analyser.h"
#include "shell_args.h"

namespace stepgate {
namespace {

constexpr int kMaxUnwrap = 64;  // wrappers in front of one program (`nice nice nice ... rm`)

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

template <typename T>
void add_unique(std::vector<std::string>& list, const T& value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.emplace_back(value);
}

/// `/bin/rm` -> `rm` (a quoted or escaped name is the same program: `\rm`, `"rm"`).
std::string base_name(const std::string& program) {
  std::string p = program;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const std::size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

bool is_assignment_word(const std::string& text) {
  const std::size_t eq = text.find('=');
  if (eq == 0 || eq == std::string::npos) return false;
  return std::all_of(text.begin(), text.begin() + static_cast<long>(eq), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

/// The index of the first operand after a wrapper's options (POSIX: options end at the first
/// operand, so `sudo rm -rf` stops at `rm`). Values of the options named are collected.
std::size_t first_operand(std::span<const ShellWord> rest, std::string_view short_values,
                          std::span<const std::string_view> long_values,
                          std::vector<std::pair<std::string, std::string>>* values = nullptr) {
  std::size_t i = 0;
  while (i < rest.size()) {
    const std::string& t = rest[i].text;
    if (t == "--") return i + 1;
    if (t.size() < 2 || t[0] != '-') return i;
    if (t[1] == '-') {
      const std::size_t eq = t.find('=');
      const std::string name = t.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq != std::string::npos) {
        if (values != nullptr) values->emplace_back("--" + name, t.substr(eq + 1));
      } else if (std::find(long_values.begin(), long_values.end(), name) != long_values.end() &&
                 i + 1 < rest.size()) {
        if (values != nullptr) values->emplace_back("--" + name, rest[i + 1].text);
        ++i;
      }
      ++i;
      continue;
    }
    for (std::size_t k = 1; k < t.size(); ++k) {
      if (short_values.find(t[k]) == std::string_view::npos) continue;
      std::string value;
      if (k + 1 < t.size()) {
        value = t.substr(k + 1);
      } else if (i + 1 < rest.size()) {
        value = rest[++i].text;
      }
      if (values != nullptr) values->emplace_back(std::string("-") + t[k], value);
      break;
    }
    ++i;
  }
  return i;
}

/// A program that only runs another: its options (those taking a value named), then
/// `operands_before` operands of its own (timeout's duration), then the program it runs.
struct Wrapper {
  std::string_view name;
  std::string_view short_values;
  std::span<const std::string_view> long_values;
  std::size_t operands_before;
};

constexpr std::string_view kTimeLongValues[] = {"format", "output"};
constexpr std::string_view kNiceLongValues[] = {"adjustment"};
constexpr std::string_view kIoniceLongValues[] = {"class", "classdata"};
constexpr std::string_view kStdbufLongValues[] = {"input", "output", "error"};
constexpr std::string_view kChrootLongValues[] = {"userspec", "groups"};
constexpr std::string_view kTimeoutLongValues[] = {"kill-after", "signal"};
constexpr std::string_view kXargsLongValues[] = {"arg-file",  "delimiter", "max-args",
                                                 "max-procs", "max-lines", "replace",
                                                 "eof",       "max-chars", "process-slot-var"};
constexpr std::string_view kEnvLongValues[] = {"unset", "chdir", "split-string"};
constexpr std::string_view kSudoLongValues[] = {
    "user", "group", "close-from", "chdir",           "host",  "prompt",
    "role", "type",  "other-user", "command-timeout", "chroot"};
constexpr std::string_view kWatchLongValues[] = {"interval", "equexit"};
constexpr std::string_view kFlockLongValues[] = {"timeout", "conflict-exit-code"};

constexpr Wrapper kWrappers[] = {
    {"builtin", "", {}, 0},
    {"nohup", "", {}, 0},
    {"setsid", "", {}, 0},
    {"chronic", "", {}, 0},
    {"unbuffer", "", {}, 0},
    {"nocache", "", {}, 0},
    {"busybox", "", {}, 0},
    {"catchsegv", "", {}, 0},
    {"exec", "a", {}, 0},
    {"doas", "uC", {}, 0},
    {"time", "fo", kTimeLongValues, 0},
    {"nice", "n", kNiceLongValues, 0},
    {"ionice", "cnpPu", kIoniceLongValues, 0},
    {"stdbuf", "ioe", kStdbufLongValues, 0},
    {"chroot", "", kChrootLongValues, 1},
    {"timeout", "ks", kTimeoutLongValues, 1},
    {"xargs", "ILnPdEsa", kXargsLongValues, 0},
};

long skip_assignments(std::span<const ShellWord> rest, std::size_t i) {
  while (i < rest.size() && is_assignment_word(rest[i].text)) ++i;
  return static_cast<long>(i);
}

/// Whether one of `options` is `long_name` or a short cluster holding `letter` (`-e`, `-Ee`).
bool has_short_option(std::span<const ShellWord> options, char letter, std::string_view long_name) {
  return std::any_of(options.begin(), options.end(), [&](const ShellWord& w) {
    return w.text == long_name || (w.text.size() > 1 && w.text[0] == '-' && w.text[1] != '-' &&
                                   w.text.find(letter) != std::string::npos);
  });
}

std::string value_of(const std::vector<std::pair<std::string, std::string>>& values,
                     std::initializer_list<std::string_view> names) {
  for (const auto& [name, value] : values) {
    if (is_one_of(name, names)) return value;
  }
  return {};
}

bool has_option(const std::vector<std::pair<std::string, std::string>>& values,
                std::initializer_list<std::string_view> names) {
  return std::any_of(values.begin(), values.end(),
                     [&](const auto& v) { return is_one_of(v.first, names); });
}

std::string join_words(std::span<const ShellWord> words) {
  std::string out;
  for (const ShellWord& w : words) {
    if (!out.empty()) out += ' ';
    out += w.text;
  }
  return out;
}

bool any_unknown(std::span<const ShellWord> words) {
  return std::any_of(words.begin(), words.end(), [](const ShellWord& w) { return w.unknown; });
}

}  // namespace

std::string shell_normalize_path(const std::string& path, const std::string& base) {
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(base) / p;
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

ShellAnalyser::ShellAnalyser(const ShellContext& context, ShellAnalysis& out)
    : context_(context), out_(out) {
  env_.vars = context.vars;
  env_.home = context.home;
  if (!context.home.empty()) env_.vars["HOME"] = context.home;
}

void ShellAnalyser::add_program(const std::string& name) {
  add_unique(out_.programs, name);
  pipelines_[pipeline_].push_back(name);
}

void ShellAnalyser::add_pattern(std::string_view id) {
  add_unique(out_.patterns, id);
}

void ShellAnalyser::add_unresolved(std::string_view id) {
  add_unique(out_.unresolved, id);
}

void ShellAnalyser::add_path(const ShellWord& word, const std::string& cwd, bool write,
                             bool recursive) {
  const std::string& text = word.text;
  if (text.empty() || text[0] == '-' || text.find("://") != std::string::npos) return;
  if (out_.paths.size() >= kMaxShellPaths) {
    add_unresolved("limit-paths");
    return;
  }
  ShellPath p;
  p.write = write;
  p.recursive = recursive;
  p.glob = word.glob;
  p.explicit_path =
      text[0] == '/' || text[0] == '.' || text[0] == '~' || text.find('/') != std::string::npos;
  p.uncertain = word.unknown || (cwd.empty() && text[0] != '/');
  p.path = p.uncertain && text[0] != '/' ? text : shell_normalize_path(text, cwd);
  out_.paths.push_back(std::move(p));
}

void ShellAnalyser::add_path_text(const std::string& text, const std::string& cwd, bool write,
                                  bool recursive) {
  ShellWord word;
  word.text = text;
  add_path(word, cwd, write, recursive);
}

bool ShellAnalyser::pipeline_has_download() const {
  auto it = pipelines_.find(pipeline_);
  if (it == pipelines_.end()) return false;
  return std::any_of(it->second.begin(), it->second.end(), [](const std::string& p) {
    return is_one_of(p, {"curl", "wget", "fetch", "aria2c", "http", "https", "xh", "lwp-request"});
  });
}

void ShellAnalyser::script(std::string_view text, const std::string& cwd, int depth) {
  ShellParse parse;
  parse.commands = commands_;
  parse_shell(text, env_, depth, parse);
  commands_ = parse.commands;
  for (const std::string& id : parse.unresolved) add_unresolved(id);
  const int script_id = scripts_++;
  std::vector<std::string> cwds{cwd};
  for (const ShellStep& step : parse.steps) {
    switch (step.kind) {
      case ShellStep::Kind::kEnter:
        cwds.push_back(cwds.back());
        break;
      case ShellStep::Kind::kLeave:
        if (cwds.size() > 1) cwds.pop_back();
        break;
      case ShellStep::Kind::kCommand:
        pipeline_ = {script_id, step.command.pipeline};
        simple(step.command, cwds.back(), depth);
        break;
    }
  }
}

void ShellAnalyser::simple(const ShellCommand& cmd, std::string& cwd, int depth) {
  for (const ShellRedirect& r : cmd.redirects) {
    const std::string& op = r.op;
    const bool fd = (op == ">&" || op == "<&") &&
                    (r.target.text == "-" ||
                     std::all_of(r.target.text.begin(), r.target.text.end(), ::isdigit));
    if (fd || op == "<<" || op == "<<-" || op == "<<<") continue;
    const bool write = op != "<";
    if (write && r.target.text.starts_with("/dev/")) {
      static constexpr std::string_view kDisks[] = {"sd",     "nvme", "hd", "disk",
                                                    "mmcblk", "vd",   "xvd"};
      const std::string_view dev = std::string_view(r.target.text).substr(5);
      if (std::any_of(std::begin(kDisks), std::end(kDisks),
                      [&](std::string_view d) { return dev.starts_with(d); })) {
        add_pattern("redirect-to-device");
      }
      continue;
    }
    add_path(r.target, cwd, write, false);
  }
  if (cmd.words.empty()) return;
  run(cmd.words, cmd, cwd, &cwd, depth);
}

void ShellAnalyser::run(std::span<const ShellWord> words, const ShellCommand& cmd, std::string cwd,
                        std::string* shell_cwd, int depth) {
  if (depth > kMaxShellDepth) {
    add_unresolved("limit-depth");
    return;
  }
  std::size_t i = 0;
  for (int hops = 0; i < words.size(); ++hops) {
    if (hops >= kMaxUnwrap) {
      add_unresolved("limit-depth");
      return;
    }
    const ShellWord& program = words[i];
    // A program named by a variable, a substitution or a positional parameter: what runs is not
    // in the text (`X=rm; $X -rf`, `$(echo rm) -rf`, `bash -c '$0 -rf /' rm`).
    if (program.script_var || program.unknown) add_unresolved("variable-program");
    if (program.unknown) return;
    const std::string name = base_name(program.text);
    if (name.empty()) return;
    add_program(name);
    std::span<const ShellWord> rest = words.subspan(i + 1);
    const long next = unwrap(name, rest, cwd, depth);
    if (next < 0) {
      classify(name, rest, cmd, cwd, shell_cwd, depth);
      return;
    }
    i += 1 + static_cast<std::size_t>(next);
    shell_cwd = nullptr;
  }
}

long ShellAnalyser::unwrap(const std::string& name, std::span<const ShellWord> rest,
                           std::string& cwd, int depth) {
  for (const Wrapper& w : kWrappers) {
    if (w.name != name) continue;
    const std::size_t i = first_operand(rest, w.short_values, w.long_values);
    return static_cast<long>(std::min(i + w.operands_before, rest.size()));
  }
  if (name == "command") return unwrap_command(rest);
  if (name == "env") return unwrap_env(rest, cwd, depth);
  if (name == "sudo" || name == "sudoedit") return unwrap_sudo(name, rest, cwd);
  if (name == "su" || name == "watch" || name == "flock") {
    return unwrap_script_runner(name, rest, cwd, depth);
  }
  return -1;
}

long ShellAnalyser::unwrap_command(std::span<const ShellWord> rest) {
  std::size_t i = 0;
  for (; i < rest.size() && rest[i].text.size() > 1 && rest[i].text[0] == '-'; ++i) {
    if (rest[i].text == "--") return static_cast<long>(i + 1);
    if (rest[i].text.find_first_of("vV") != std::string::npos) {
      return static_cast<long>(rest.size());  // `command -v`: a lookup, nothing runs
    }
  }
  return static_cast<long>(i);
}

long ShellAnalyser::unwrap_env(std::span<const ShellWord> rest, std::string& cwd, int depth) {
  std::vector<std::pair<std::string, std::string>> values;
  const std::size_t i = first_operand(rest, "uCS", kEnvLongValues, &values);
  const std::string dir = value_of(values, {"-C", "--chdir"});
  if (!dir.empty()) cwd = shell_normalize_path(dir, cwd);
  if (has_option(values, {"-S", "--split-string"})) {  // env -S 'rm -rf x': split like a shell
    script(value_of(values, {"-S", "--split-string"}) + " " + join_words(rest.subspan(i)), cwd,
           depth + 1);
    return static_cast<long>(rest.size());
  }
  return skip_assignments(rest, i);
}

long ShellAnalyser::unwrap_sudo(const std::string& name, std::span<const ShellWord> rest,
                                std::string& cwd) {
  std::vector<std::pair<std::string, std::string>> values;
  const std::size_t i = first_operand(rest, "ugCDhprtUTR", kSudoLongValues, &values);
  const std::string dir = value_of(values, {"-D", "--chdir"});
  if (!dir.empty()) cwd = shell_normalize_path(dir, cwd);
  const bool edit = name == "sudoedit" || has_short_option(rest.first(i), 'e', "--edit");
  if (!edit) return skip_assignments(rest, i);
  for (std::size_t k = i; k < rest.size(); ++k) add_path(rest[k], cwd, true, false);
  return static_cast<long>(rest.size());
}

// Programs that run a script given as one argument (`su -c`, `flock -c`) or as their words
// joined (`watch`), through `sh -c`.
long ShellAnalyser::unwrap_script_runner(const std::string& name, std::span<const ShellWord> rest,
                                         const std::string& cwd, int depth) {
  const auto none = static_cast<long>(rest.size());
  auto run_script = [&](std::span<const ShellWord> words) {
    if (any_unknown(words)) {
      add_unresolved("dynamic-script");
    } else {
      script(join_words(words), cwd, depth + 1);
    }
  };
  if (name == "watch") {
    const std::size_t i = first_operand(rest, "nq", kWatchLongValues);
    if (has_short_option(rest.first(i), 'x', "--exec")) return static_cast<long>(i);
    run_script(rest.subspan(i));
    return none;
  }
  for (std::size_t k = 0; k + 1 < rest.size(); ++k) {
    if (rest[k].text == "-c" || rest[k].text == "--command") {
      run_script(rest.subspan(k + 1, 1));
      return none;
    }
  }
  if (name == "su") return none;  // a login shell: nothing this text says
  const std::size_t file = first_operand(rest, "wE", kFlockLongValues);
  return static_cast<long>(std::min(file + 1, rest.size()));
}

void ShellAnalyser::stdin_script(const ShellCommand& cmd, const std::string& cwd, int depth,
                                 bool shell) {
  if (cmd.has_stdin_text) {
    if (shell) script(cmd.stdin_text, cwd, depth + 1);
    return;
  }
  if (cmd.pipeline_position == 0) return;  // the terminal, or whatever ran the agent's shell
  if (pipeline_has_download()) {
    add_pattern("pipe-to-shell");
  } else if (shell) {
    add_unresolved("shell-reads-pipe");
  }
}

void ShellAnalyser::run_shell(std::span<const ShellWord> rest, const ShellCommand& cmd,
                              const std::string& cwd, int depth) {
  bool command_string = false;
  std::size_t i = 0;
  for (; i < rest.size(); ++i) {
    const std::string& t = rest[i].text;
    if (t == "--" || t == "-") {
      ++i;
      break;
    }
    if (is_one_of(t, {"-o", "+o", "-O", "+O", "--rcfile", "--init-file"})) {
      ++i;
      continue;
    }
    if (t.starts_with("--")) continue;
    if (t.size() < 2 || (t[0] != '-' && t[0] != '+')) break;
    if (t[0] == '-' && t.find('c') != std::string::npos) command_string = true;
  }
  if (command_string) {
    if (i >= rest.size()) return;
    if (rest[i].unknown) {
      add_unresolved("dynamic-script");
      return;
    }
    script(rest[i].text, cwd, depth + 1);
    return;
  }
  if (i < rest.size()) {
    if (rest[i].process_substitution) {
      if (std::find(out_.programs.begin(), out_.programs.end(), "curl") != out_.programs.end() ||
          std::find(out_.programs.begin(), out_.programs.end(), "wget") != out_.programs.end()) {
        add_pattern("pipe-to-shell");
      } else {
        add_unresolved("dynamic-script");
      }
      return;
    }
    add_path(rest[i], cwd, false, false);  // a script file
    return;
  }
  stdin_script(cmd, cwd, depth, true);
}

ShellAnalysis analyse_shell(std::string_view command, const ShellContext& context) {
  ShellAnalysis out;
  ShellAnalyser analyser(context, out);
  analyser.script(command, context.cwd, 0);
  return out;
}

}  // namespace stepgate
