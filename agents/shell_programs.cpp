// What individual programs do with their arguments, for the shell analysis: the destructive forms
// (flags normalised: `-rf`, `-r -f`, `--recursive --force`, `rm -r DIR -f`, `git push +main`),
// the paths they read and write, and the programs they run in turn (`find -exec`).
#include <algorithm>
#include <set>

#include "shell_analyser.h"
#include "shell_args.h"

namespace stepgate {
namespace {

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

bool is_shell(std::string_view name) {
  return is_one_of(
      name, {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "posh", "fish", "rbash"});
}

bool is_interpreter(std::string_view name) {
  for (std::string_view p : {"python", "perl", "ruby", "node", "php", "deno", "bun", "lua"}) {
    if (name.starts_with(p)) return true;
  }
  return false;
}

// Programs that change or remove every operand they are given.
bool writes_operands(std::string_view name) {
  static const std::set<std::string_view> kWriters = {
      "rm",      "rmdir", "unlink", "shred",   "srm", "truncate", "touch",
      "mkdir",   "chmod", "chown",  "chgrp",   "ln",  "mv",       "tee",
      "install", "patch", "chattr", "setfacl", "wipe"};
  return kWriters.contains(name);
}

bool is_block_device(std::string_view path) {
  static constexpr std::string_view kDisks[] = {"sd", "nvme", "hd", "disk", "mmcblk", "vd", "xvd"};
  if (!path.starts_with("/dev/")) return false;
  path.remove_prefix(5);
  return std::any_of(std::begin(kDisks), std::end(kDisks),
                     [&](std::string_view d) { return path.starts_with(d); });
}

}  // namespace

namespace {

struct Classifier {
  ShellAnalyser& a;
  const std::string& name;
  std::span<const ShellWord> rest;
  const ShellCommand& cmd;
  const std::string& cwd;
  int depth;

  void operands_as_paths(const ShellArgs& args, bool write, bool recursive) const {
    for (const ShellWord* w : args.operands) a.add_path(*w, cwd, write, recursive);
    for (const auto& [option, value] : args.values) {
      if (option.starts_with("--")) a.add_path_text(value, cwd, false, false);
    }
  }

  void rm() const {
    const ShellArgs args = parse_shell_args(rest, "");
    if (args.dynamic_option) a.add_unresolved("dynamic-option");
    const bool recursive = args.has('r', "recursive") || args.has('R');
    if (recursive && args.has('f', "force")) a.add_pattern("rm-recursive-force");
    operands_as_paths(args, true, recursive);
  }

  void git() const {
    // git [-C DIR] [-c NAME=VALUE] [--git-dir=...] ... SUBCOMMAND ARGS
    std::string here = cwd;
    std::size_t i = 0;
    for (; i < rest.size(); ++i) {
      const std::string& t = rest[i].text;
      if (t.empty() || t[0] != '-') break;
      if ((t == "-C" || t == "-c" || t == "--git-dir" || t == "--work-tree" || t == "--namespace" ||
           t == "--exec-path" || t == "--config-env") &&
          i + 1 < rest.size()) {
        const std::string& value = rest[++i].text;
        if (t == "-C") {
          a.add_path(rest[i], here, false, false);
          here = shell_normalize_path(value, here);
        }
        if (t == "-c") config(value);
        continue;
      }
      if (t.starts_with("--config-env=")) config(t.substr(13));
    }
    if (i >= rest.size()) return;
    if (rest[i].unknown) a.add_unresolved("variable-program");
    const std::string& sub = rest[i].text;
    const std::span<const ShellWord> args_words = rest.subspan(i + 1);
    if (sub == "push") return push(args_words);
    const ShellArgs args = parse_shell_args(args_words, "");
    if (sub == "reset" && args.has_long("hard")) a.add_pattern("git-reset-hard");
    if (sub == "clean" && args.has('f', "force")) a.add_pattern("git-clean-force");
  }

  // `-c alias.x=...` defines a subcommand the text does not show; `-c core.hooksPath=...`
  // turns stepgate's own pre-push hook off.
  void config(const std::string& setting) const {
    std::string key = setting.substr(0, setting.find('='));
    std::transform(key.begin(), key.end(), key.begin(), ::tolower);
    if (key.starts_with("alias.")) a.add_unresolved("git-alias");
    if (key == "core.hookspath") a.add_pattern("git-skip-hooks");
  }

  void push(std::span<const ShellWord> words) const {
    const ShellArgs args =
        parse_shell_args(words, "o", {"repo", "receive-pack", "exec", "push-option"});
    if (args.dynamic_option) a.add_unresolved("dynamic-option");
    bool force = args.has('f', "force") || args.has_long("force-with-lease") ||
                 args.has_long("force-if-includes") || args.has_long("mirror");
    bool remove = args.has('d', "delete") || args.has_long("prune") || args.has_long("mirror");
    for (std::size_t k = 0; k < args.operands.size(); ++k) {
      const std::string& spec = args.operands[k]->text;
      if (spec.starts_with('+')) force = true;            // +REF: force this one ref
      if (k > 0 && spec.starts_with(':')) remove = true;  // :REF deletes REF
    }
    if (force) a.add_pattern("git-force-push");
    if (remove) a.add_pattern("git-push-delete");
    if (args.has_long("no-verify")) a.add_pattern("git-skip-hooks");
  }

  void find() const {
    std::size_t i = 0;
    while (i < rest.size() && rest[i].text.starts_with("-") &&
           is_one_of(rest[i].text, {"-H", "-L", "-P", "-O0", "-O1", "-O2", "-O3", "-D"})) {
      i += rest[i].text == "-D" ? 2 : 1;
    }
    std::vector<const ShellWord*> roots;
    for (; i < rest.size(); ++i) {
      const std::string& t = rest[i].text;
      if (t.starts_with("-") || t == "(" || t == "!" || t == ",") break;
      roots.push_back(&rest[i]);
    }
    bool removes = false;
    for (; i < rest.size(); ++i) {
      const std::string& t = rest[i].text;
      if (t == "-delete") removes = true;
      if (!is_one_of(t, {"-exec", "-execdir", "-ok", "-okdir"})) continue;
      std::size_t end = i + 1;
      while (end < rest.size() && rest[end].text != ";" && rest[end].text != "+") ++end;
      const std::span<const ShellWord> sub = rest.subspan(i + 1, end - i - 1);
      if (!sub.empty() && !sub[0].unknown) {
        const std::string program = sub[0].text.substr(sub[0].text.rfind('/') + 1);
        if (is_one_of(program, {"rm", "shred", "unlink", "rmdir", "srm"})) removes = true;
      }
      a.run(sub, cmd, cwd, nullptr, depth + 1);
      i = end;
    }
    if (removes) a.add_pattern("find-delete");
    if (roots.empty()) a.add_path_text(".", cwd, removes, true);
    for (const ShellWord* w : roots) a.add_path(*w, cwd, removes, true);
  }

  void dd() const {
    for (const ShellWord& w : rest) {
      const std::string& t = w.text;
      if (t.starts_with("of=")) {
        if (is_block_device(t.substr(3))) a.add_pattern("dd-to-device");
        a.add_path_text(t.substr(3), cwd, true, false);
      } else if (t.starts_with("if=")) {
        a.add_path_text(t.substr(3), cwd, false, false);
      }
    }
  }

  void chmod() const {
    const ShellArgs args = parse_shell_args(rest, "", {"reference"});
    const bool recursive = args.has('R', "recursive");
    if (args.operands.empty()) return;
    const std::string& mode = args.operands[0]->text;
    if (recursive && is_one_of(mode, {"777", "0777", "a+rwx", "ugo+rwx", "a=rwx", "ugo=rwx"})) {
      a.add_pattern("chmod-777-recursive");
    }
    for (std::size_t k = 1; k < args.operands.size(); ++k) {
      a.add_path(*args.operands[k], cwd, true, recursive);
    }
  }

  void copy() const {
    const ShellArgs args = parse_shell_args(
        rest, name == "rsync" ? "efT" : "tS",
        {"target-directory", "suffix", "rsh", "exclude", "include", "filter", "temp-dir"});
    const bool recursive = args.has('r', "recursive") || args.has('R') || args.has('a', "archive");
    std::string target;
    for (const auto& [option, value] : args.values) {
      if (option == "-t" || option == "--target-directory") target = value;
    }
    for (std::size_t k = 0; k < args.operands.size(); ++k) {
      const bool last = k + 1 == args.operands.size() && target.empty();
      a.add_path(*args.operands[k], cwd, last, recursive);
    }
    if (!target.empty()) a.add_path_text(target, cwd, true, recursive);
  }

  void grep() const {
    const ShellArgs args = parse_shell_args(
        rest, "efABCmd", {"regexp", "file", "include", "exclude", "exclude-dir", "glob", "type"});
    const bool recursive = name != "grep" && name != "egrep" && name != "fgrep"
                               ? true
                               : args.has('r', "recursive") || args.has('R');
    const bool pattern_given = args.has('e', "regexp") || args.has('f', "file");
    for (std::size_t k = pattern_given ? 0 : 1; k < args.operands.size(); ++k) {
      a.add_path(*args.operands[k], cwd, false, recursive);
    }
  }

  void sed_or_perl() const {
    const ShellArgs args = parse_shell_args(rest, name == "sed" ? "ef" : "eElI", {"expression"});
    const bool in_place = args.has('i', "in-place") ||
                          std::any_of(args.longs.begin(), args.longs.end(),
                                      [](const auto& l) { return l.starts_with("in-place"); });
    const bool script_given = args.has('e', "expression") || args.has('E') || args.has('f');
    for (std::size_t k = script_given ? 0 : 1; k < args.operands.size(); ++k) {
      a.add_path(*args.operands[k], cwd, in_place, false);
    }
  }

  void download() const {
    const ShellArgs args = parse_shell_args(
        rest, name == "curl" ? "oTdFHuXAeEKxrwmbcCyYzQ" : "OoaiPUeTtwQ",
        {"output",      "upload-file",   "data",  "data-binary",     "data-raw",   "data-urlencode",
         "form",        "header",        "user",  "request",         "user-agent", "referer",
         "cert",        "config",        "proxy", "output-document", "post-file",  "body-file",
         "output-file", "append-output", "url"});
    for (const auto& [option, value] : args.values) {
      if (is_one_of(option, {"-o", "--output", "-O", "--output-document"})) {
        a.add_path_text(value, cwd, true, false);
      } else if (is_one_of(option, {"-T", "--upload-file", "--post-file", "--body-file"})) {
        a.add_path_text(value, cwd, false, false);
      } else if (const std::size_t at = value.find('@');
                 at != std::string::npos && (at == 0 || value[at - 1] == '=')) {
        // -d @FILE, -F field=@FILE: the file's contents are sent.
        a.add_path_text(value.substr(at + 1), cwd, false, false);
      }
    }
  }

  void generic() const {
    const bool write = writes_operands(name);
    const ShellArgs args = parse_shell_args(rest, "");
    const bool recursive =
        (write && (args.has('r') || args.has('R') || args.has_long("recursive"))) || name == "mv" ||
        name == "tar" || name == "zip" || name == "7z";
    if (name == "shred" || name == "srm" || name == "wipe") a.add_pattern("shred");
    if (name.starts_with("mkfs") || is_one_of(name, {"mke2fs", "mkswap", "wipefs"})) {
      a.add_pattern("mkfs");
    }
    if (is_one_of(name, {"chown", "chgrp"}) && !args.operands.empty()) {
      for (std::size_t k = 1; k < args.operands.size(); ++k) {
        a.add_path(*args.operands[k], cwd, true, recursive);
      }
      return;
    }
    operands_as_paths(args, write, recursive);
    // dd-style KEY=VALUE operands name files too.
    for (const ShellWord* w : args.operands) {
      const std::size_t eq = w->text.find('=');
      if (eq != std::string::npos && eq + 1 < w->text.size()) {
        a.add_path_text(w->text.substr(eq + 1), cwd, false, false);
      }
    }
  }
};

}  // namespace

void ShellAnalyser::classify(const std::string& name, std::span<const ShellWord> rest,
                             const ShellCommand& cmd, const std::string& cwd,
                             std::string* shell_cwd, int depth) {
  const Classifier c{*this, name, rest, cmd, cwd, depth};
  if (is_shell(name)) return run_shell(rest, cmd, cwd, depth);
  if (is_interpreter(name)) {
    const ShellArgs args = parse_shell_args(rest, "");
    if (name == "perl" && args.has('i')) return c.sed_or_perl();
    if (args.has('c') || args.has('e') || args.has('E') || args.has_long("eval")) return;
    if (args.operands.empty() || args.operands[0]->text == "-") {
      stdin_script(cmd, cwd, depth, false);
    } else {
      add_path(*args.operands[0], cwd, false, false);
    }
    return;
  }
  if (name == "eval") {
    add_unresolved("eval");
    if (!rest.empty() &&
        std::none_of(rest.begin(), rest.end(), [](const ShellWord& w) { return w.unknown; })) {
      std::string text;
      for (const ShellWord& w : rest) text += w.text + " ";
      script(text, cwd, depth + 1);
    }
    return;
  }
  // `alias x='rm -rf'` and `hash -p /bin/rm ls` rename programs for the calls that follow in the
  // same (persistent) shell, where the text no longer shows them.
  if (name == "alias" || (name == "hash" && parse_shell_args(rest, "p").has('p'))) {
    add_unresolved("program-alias");
    for (const ShellWord& w : rest) {
      const std::size_t eq = w.text.find('=');
      if (name == "alias" && eq != std::string::npos) script(w.text.substr(eq + 1), cwd, depth + 1);
    }
    return;
  }
  if (name == "source" || name == ".") {
    if (!rest.empty() && rest[0].process_substitution) {
      if (pipeline_has_download()) add_pattern("pipe-to-shell");
      add_unresolved("dynamic-script");
    } else if (!rest.empty()) {
      add_path(rest[0], cwd, false, false);
    }
    return;
  }
  if (name == "cd" || name == "pushd" || name == "popd") {
    if (shell_cwd == nullptr) return;  // only the shell's own builtin changes its directory
    const ShellArgs args = parse_shell_args(rest, "");
    if (name == "popd" ||
        (!args.operands.empty() && (args.operands[0]->unknown || args.operands[0]->text == "-"))) {
      *shell_cwd = "";  // somewhere this text does not say
      return;
    }
    if (args.operands.empty()) {
      *shell_cwd = context_.home;
      return;
    }
    add_path(*args.operands[0], cwd, false, false);
    const std::string& dir = args.operands[0]->text;
    *shell_cwd = cwd.empty() && !dir.starts_with('/') ? "" : shell_normalize_path(dir, cwd);
    return;
  }
  if (name == "rm") return c.rm();
  if (name == "git") return c.git();
  if (name == "find") return c.find();
  if (name == "dd") return c.dd();
  if (name == "chmod") return c.chmod();
  if (is_one_of(name, {"cp", "rsync", "scp"})) return c.copy();
  if (is_one_of(name, {"grep", "egrep", "fgrep", "rg", "ag", "ack"})) return c.grep();
  if (name == "sed") return c.sed_or_perl();
  if (name == "curl" || name == "wget") return c.download();
  if (is_one_of(name, {"kubectl", "oc"}) &&
      std::any_of(rest.begin(), rest.end(),
                  [](const ShellWord& w) { return w.text == "delete"; })) {
    add_pattern("kubectl-delete");
  }
  if (is_one_of(name, {"terraform", "tofu", "terragrunt"})) {
    const auto has = [&](std::string_view word) {
      return std::any_of(rest.begin(), rest.end(),
                         [&](const ShellWord& w) { return w.text == word; });
    };
    if (has("destroy") || (has("apply") && (has("-destroy") || has("--destroy")))) {
      add_pattern("terraform-destroy");
    }
    return;
  }
  c.generic();
}

}  // namespace stepgate
