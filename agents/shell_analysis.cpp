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
                          std::initializer_list<std::string_view> long_values,
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
      } else if (is_one_of(name, long_values) && i + 1 < rest.size()) {
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
    const long next = unwrap(name, rest, cmd, cwd, depth);
    if (next < 0) {
      classify(name, rest, cmd, cwd, shell_cwd, depth);
      return;
    }
    i += 1 + static_cast<std::size_t>(next);
    shell_cwd = nullptr;
  }
}

long ShellAnalyser::unwrap(const std::string& name, std::span<const ShellWord> rest,
                           const ShellCommand& cmd, std::string& cwd, int depth) {
  const auto none = static_cast<long>(rest.size());
  std::vector<std::pair<std::string, std::string>> values;
  auto skip_assignments = [&](std::size_t i) {
    while (i < rest.size() && is_assignment_word(rest[i].text)) ++i;
    return static_cast<long>(i);
  };
  if (name == "command") {
    std::size_t i = 0;
    for (; i < rest.size() && rest[i].text.size() > 1 && rest[i].text[0] == '-'; ++i) {
      if (rest[i].text == "--") return static_cast<long>(i + 1);
      if (rest[i].text.find_first_of("vV") != std::string::npos) return none;  // a lookup
    }
    return static_cast<long>(i);
  }
  if (is_one_of(name, {"builtin", "nohup", "setsid", "chronic", "unbuffer", "nocache", "caffeinate",
                       "busybox", "catchsegv"})) {
    return static_cast<long>(first_operand(rest, "", {}));
  }
  if (name == "exec") return static_cast<long>(first_operand(rest, "a", {}));
  if (name == "time") return static_cast<long>(first_operand(rest, "fo", {"format", "output"}));
  if (name == "nice") return static_cast<long>(first_operand(rest, "n", {"adjustment"}));
  if (name == "ionice") return static_cast<long>(first_operand(rest, "cnpPu", {"class"}));
  if (name == "stdbuf") {
    return static_cast<long>(first_operand(rest, "ioe", {"input", "output", "error"}));
  }
  if (name == "doas") return static_cast<long>(first_operand(rest, "uC", {}));
  if (name == "chroot") {
    const std::size_t root = first_operand(rest, "", {"userspec", "groups"});
    return static_cast<long>(std::min(root + 1, rest.size()));
  }
  if (name == "timeout") {
    const std::size_t duration = first_operand(rest, "ks", {"kill-after", "signal"});
    return static_cast<long>(std::min(duration + 1, rest.size()));
  }
  if (name == "env") {
    const std::size_t i = first_operand(rest, "uCS", {"unset", "chdir", "split-string"}, &values);
    const std::string dir = value_of(values, {"-C", "--chdir"});
    if (!dir.empty()) cwd = shell_normalize_path(dir, cwd);
    if (has_option(values, {"-S", "--split-string"})) {
      script(value_of(values, {"-S", "--split-string"}) + " " + join_words(rest.subspan(i)), cwd,
             depth + 1);
      return none;
    }
    return skip_assignments(i);
  }
  if (name == "sudo" || name == "sudoedit") {
    const std::size_t i = first_operand(rest, "ugCDhprtUTR",
                                        {"user", "group", "close-from", "chdir", "host", "prompt",
                                         "role", "type", "other-user", "command-timeout", "chroot"},
                                        &values);
    const std::string dir = value_of(values, {"-D", "--chdir"});
    if (!dir.empty()) cwd = shell_normalize_path(dir, cwd);
    const bool edit =
        name == "sudoedit" ||
        std::any_of(rest.begin(), rest.begin() + static_cast<long>(i), [](const ShellWord& w) {
          return w.text == "--edit" || (w.text.size() > 1 && w.text[0] == '-' && w.text[1] != '-' &&
                                        w.text.find('e') != std::string::npos);
        });
    if (edit) {
      for (std::size_t k = i; k < rest.size(); ++k) add_path(rest[k], cwd, true, false);
      return none;
    }
    return skip_assignments(i);
  }
  if (name == "su") {
    for (std::size_t k = 0; k + 1 < rest.size(); ++k) {
      if (rest[k].text == "-c" || rest[k].text == "--command") {
        if (rest[k + 1].unknown) {
          add_unresolved("dynamic-script");
        } else {
          script(rest[k + 1].text, cwd, depth + 1);
        }
      }
    }
    return none;
  }
  if (name == "xargs") {
    return static_cast<long>(
        first_operand(rest, "ILnPdEsa",
                      {"arg-file", "delimiter", "max-args", "max-procs", "max-lines", "replace",
                       "eof", "max-chars", "process-slot-var"}));
  }
  if (name == "watch") {
    const std::size_t i = first_operand(rest, "nq", {"interval", "equexit"});
    const bool exec =
        std::any_of(rest.begin(), rest.begin() + static_cast<long>(i), [](const ShellWord& w) {
          return w.text == "--exec" || (w.text.size() > 1 && w.text[0] == '-' && w.text[1] != '-' &&
                                        w.text.find('x') != std::string::npos);
        });
    if (exec) return static_cast<long>(i);
    // watch hands its words, joined, to `sh -c`.
    if (any_unknown(rest.subspan(i))) {
      add_unresolved("dynamic-script");
    } else {
      script(join_words(rest.subspan(i)), cwd, depth + 1);
    }
    return none;
  }
  if (name == "flock") {
    for (std::size_t k = 0; k + 1 < rest.size(); ++k) {
      if (rest[k].text == "-c" || rest[k].text == "--command") {
        script(rest[k + 1].text, cwd, depth + 1);
        return none;
      }
    }
    const std::size_t file = first_operand(rest, "wE", {"timeout", "conflict-exit-code"});
    return static_cast<long>(std::min(file + 1, rest.size()));
  }
  (void)cmd;
  return -1;
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
