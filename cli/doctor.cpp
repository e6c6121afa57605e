// `stepgate doctor`: where stepgate is installed, what each place runs, and proof that each gate
// blocks. Every hook is run exactly as its host runs it, with a probe the policy must stop (a
// deletion of a protected branch; a `rm -rf /` tool call); its state and audit writes go to a
// scratch directory, so a probe leaves no trace in the user's state. A gate that lets its probe
// through is a failure: exit 1.

#include <sys/stat.h>
#include <unistd.h>

#include <re2/re2.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "claude_hook_http.h"
#include "command.h"
#include "daemon.h"
#include "doctor_hosts.h"
#include "protocol.h"
#include "stepgate/authority.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"
#include "stepgate/policy.h"
#include "stepgate/policy_layers.h"
#include "stepgate/value.h"
#include "subprocess.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

enum class Status { kOk, kInfo, kWarn, kFail };

struct Check {
  std::string area;  // "program", "policy", "git", "claude", "daemon"
  std::string name;
  Status status = Status::kOk;
  std::string detail;
};

const char* status_name(Status s) {
  switch (s) {
    case Status::kOk:
      return "ok";
    case Status::kInfo:
      return "info";
    case Status::kWarn:
      return "warn";
    case Status::kFail:
      return "FAIL";
  }
  return "?";
}

constexpr int kAuthorityTimeoutSeconds = 5;

/// The words of a shell command line up to its first `;` or newline, as sh would split them
/// ('…', "…" and \x unquoted; nothing expanded).
std::vector<std::string> shell_words(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (quote == '"' && c == '\\' && i + 1 < line.size()) {
        word += line[++i];
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == ';') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      if (c == '\n' || c == ';') return words;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

/// The program a command line runs: its first word that is not a NAME=value assignment.
std::string first_shell_word(std::string_view line) {
  static const RE2 kAssignment("[A-Za-z_][A-Za-z0-9_]*=.*");
  for (const std::string& word : shell_words(line)) {
    if (!RE2::FullMatch(word, kAssignment)) return word;
  }
  return {};
}

/// The program on a stepgate hook script's `exec` line, or "".
std::string exec_program(const std::string& script) {
  for (std::size_t at = 0; at < script.size();) {
    const std::size_t end = std::min(script.find('\n', at), script.size());
    const std::string_view line(script.data() + at, end - at);
    if (line.rfind("exec ", 0) == 0) return first_shell_word(line.substr(5));
    at = end + 1;
  }
  return {};
}

struct DoctorOptions {
  std::string format = "text";
  std::string repo;  // default: the working directory
};

class Doctor {
 public:
  Doctor(const DoctorOptions& options, CommandContext& context)
      : options_(options), context_(context) {
    char tmpl[] = "/tmp/stepgate-doctor-XXXXXX";
    if (const char* dir = mkdtemp(tmpl)) scratch_ = dir;
  }
  ~Doctor() {
    std::error_code ec;
    if (!scratch_.empty()) fs::remove_all(scratch_, ec);
  }
  Doctor(const Doctor&) = delete;
  Doctor& operator=(const Doctor&) = delete;

  int run() {
    check_program();
    check_policy();
    check_authority();
    check_git_hooks();
    check_claude_settings();
    check_agent_hosts();
    check_daemon();
    return report();
  }

 private:
  void add(std::string area, std::string name, Status status, std::string detail) {
    checks_.push_back({std::move(area), std::move(name), status, std::move(detail)});
  }

  [[nodiscard]] std::string repo_dir() const {
    return options_.repo.empty() ? context_.io.cwd : options_.repo;
  }

  /// The environment a probe runs with: state and audit in the scratch directory, no terminal
  /// to prompt on, no daemon started for it.
  [[nodiscard]] ProcessOptions probe_options(std::string input) const {
    ProcessOptions p;
    p.cwd = repo_dir();
    p.input = std::move(input);
    p.env["STEPGATE_STATE_DIR"] = scratch_ + "/state";
    p.env["STEPGATE_AUDIT"] = scratch_ + "/state/audit.jsonl";
    p.env["STEPGATE_NO_TTY"] = "1";
    p.env["STEPGATE_DAEMON_AUTOSTART"] = "0";
    return p;
  }

  void check_program() {
    const std::string self = self_executable();
    add("program", "stepgate", Status::kOk, self + " (stepgate " STEPGATE_VERSION ")");
    std::error_code ec;
    const fs::path dir = fs::path(self).parent_path();
    if (fs::exists(dir / "CMakeCache.txt", ec)) {
      add("program", "install", Status::kWarn,
          "running from a build tree; hooks installed from here break when it is cleaned "
          "(install the package, or `cmake --install`)");
    }
  }

  /// Configured? Reachable? Does the key it signs with match the one pinned in the
  /// configuration? An authority that fails any of these makes every front-end fail closed.
  void check_authority() {
    auto found = find_authority(context_.io.paths(), context_.io.env);
    if (!found.ok()) {
      add("authority", "configuration", Status::kWarn, found.error().message);
      return;
    }
    if (!found->has_value()) {
      add("authority", "configuration", Status::kInfo,
          "none configured: local mode (seeds, keys and audit log live with this user)");
      return;
    }
    const AuthorityEndpoint& endpoint = **found;
    const std::string where = endpoint.socket + " (named by " + endpoint.source + ")";
    auto connection = AuthorityConnection::connect(endpoint.socket, kAuthorityTimeoutSeconds);
    Result<Value> hello = connection.ok() ? (*connection)->call(Value(Map{{"op", "hello"}}))
                                          : Result<Value>(connection.error());
    if (!hello.ok()) {
      add("authority", where, Status::kWarn,
          "unreachable (" + hello.error().message +
              "): front-ends fail closed unless its policy says on_error: allow");
      return;
    }
    if (endpoint.public_key.empty()) {
      add("authority", where, Status::kWarn,
          "reachable, but no public_key is pinned: its decisions are not checked");
      return;
    }
    if (hello->get_string("public_key") != endpoint.public_key ||
        !verify_authority_signature(*hello, endpoint.public_key)) {
      add("authority", where, Status::kWarn,
          "its key (" + hello->get_string("public_key") + ") does not match the pinned " +
              endpoint.public_key + ": front-ends refuse its answers (fail closed)");
      return;
    }
    add("authority", where, Status::kOk, "reachable; signs with the pinned key");
  }

  void check_policy() {
    auto found = find_policy_layers("", repo_dir(), kSystemPolicyPath, context_.io.env);
    if (!found.ok()) {
      add("policy", "layers", Status::kWarn,
          "no policy found (front-ends refuse to run without one): " + found.error().message);
      return;
    }
    for (const PolicyLayerPath& layer : *found) {
      auto policy = load_policy_file(layer.path);
      if (!policy.ok()) {
        // Every front-end fails closed on it: nothing passes, which users then switch off.
        add("policy", layer.name + " layer", Status::kFail,
            layer.path + " does not load: " + policy.error().message);
        continue;
      }
      if (!policy_) policy_ = *policy;  // the settings layer comes first
      add("policy", layer.name + " layer", Status::kOk,
          layer.path + " (" + std::to_string((*policy)->rules.size()) + " rules)");
    }
  }

  /// The branch a probe deletes: the first protected ref the policy names without a wildcard.
  [[nodiscard]] std::string probe_ref() const {
    if (policy_) {
      for (const auto& ref : policy_->git.protected_refs) {
        if (ref.find_first_of("*?[") == std::string::npos) return ref;
      }
    }
    return "refs/heads/main";
  }

  Result<std::string> git(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"git", "-C", repo_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_process(argv);
    if (!r.ok()) return r.error();
    if (r->exit_code != 0) return make_error(ErrorCode::kNotFound, r->err);
    std::string out = r->out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  void check_git_hooks() {
    auto hooks_dir = git({"rev-parse", "--path-format=absolute", "--git-path", "hooks"});
    if (!hooks_dir.ok()) {
      add("git", "hooks", Status::kInfo, "not in a git repository: no git hooks to check");
      return;
    }
    auto head = git({"rev-parse", "--verify", "-q", "HEAD"});
    const std::string zero(40, '0');
    const std::string tip = head.ok() && !head->empty() ? *head : zero;
    const std::string ref = probe_ref();
    probe_git_hook(*hooks_dir, "pre-push", {"origin", "stepgate-doctor-probe"},
                   "(delete) " + zero + " " + ref + " " + tip + "\n", ref);
    probe_git_hook(*hooks_dir, "pre-receive", {}, tip + " " + zero + " " + ref + "\n", ref);
  }

  void probe_git_hook(const std::string& dir, const std::string& hook,
                      const std::vector<std::string>& args, const std::string& input,
                      const std::string& ref) {
    const std::string path = dir + "/" + hook;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      add("git", hook, Status::kInfo, "not installed (" + path + ")");
      return;
    }
    auto text = read_file(path, 1 << 20);
    if (!text.ok() || text->find("stepgate") == std::string::npos) {
      add("git", hook, Status::kInfo, path + " is not stepgate's hook");
      return;
    }
    if ((st.st_mode & S_IXUSR) == 0) {
      add("git", hook, Status::kFail, path + " is not executable: git skips it (chmod +x)");
      return;
    }
    std::vector<std::string> argv = {path};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_process(argv, probe_options(input));
    if (!r.ok()) {
      add("git", hook, Status::kFail, "could not run " + path + ": " + r.error().message);
      return;
    }
    if (r->exit_code == 0) {
      add("git", hook, Status::kFail,
          "let a deletion of " + ref + " through: this gate would fail open (" + path + ")");
      return;
    }
    add("git", hook, Status::kOk,
        "blocks a deletion of " + ref + " (exit " + std::to_string(r->exit_code) + ")");
    check_version("git", hook, exec_program(*text));
  }

  /// A hook that runs another stepgate than this one (an old install, another prefix) gates
  /// with that one's rules and bugs: say so, and how to fix it.
  void check_version(const std::string& area, const std::string& name, const std::string& program) {
    if (program.empty()) return;
    auto r = run_process({program, "--version"});
    std::string version;
    if (r.ok() && r->exit_code == 0) {
      std::string out = r->out;
      while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
      version = out.substr(out.rfind(' ') + 1);
    }
    if (version == STEPGATE_VERSION) return;
    add(area, name, Status::kWarn,
        program +
            (version.empty() ? " reports no version (an older stepgate?)"
                             : " is stepgate " + version) +
            "; this stepgate is " STEPGATE_VERSION ": reinstall the hook with this stepgate");
  }

  /// Claude Code's settings files, most specific last: user, project, local, managed.
  [[nodiscard]] std::vector<std::string> claude_settings_files() const {
    std::vector<std::string> files;
    if (const std::string home = context_.io.env.get("HOME"); !home.empty()) {
      files.push_back(home + "/.claude/settings.json");
    }
    files.push_back(repo_dir() + "/.claude/settings.json");
    files.push_back(repo_dir() + "/.claude/settings.local.json");
    files.emplace_back("/etc/claude-code/managed-settings.json");
    return files;
  }

  void check_claude_settings() {
    bool any = false;
    for (const std::string& file : claude_settings_files()) {
      auto text = read_file(file, std::size_t{1} << 20);
      if (!text.ok()) continue;
      auto settings = parse_json(*text);
      if (!settings.ok()) {
        add("claude", file, Status::kWarn, "not valid JSON: " + settings.error().message);
        continue;
      }
      const Value* hooks = settings->find("hooks");
      const Value* pre = hooks != nullptr ? hooks->find("PreToolUse") : nullptr;
      if (pre == nullptr || !pre->is_list()) continue;
      for (const Value& group : pre->as_list()) {
        const Value* matcher = group.find("matcher");
        const Value* list = group.find("hooks");
        if (list == nullptr || !list->is_list()) continue;
        for (const Value& hook : list->as_list()) {
          const Value* command = hook.find("command");
          const bool http = is_claude_http_hook(hook);
          if (!http && (command == nullptr || !command->is_string() ||
                        command->as_string().find("stepgate") == std::string::npos)) {
            continue;
          }
          any = true;
          for (HostCheck& c :
               check_claude_hook_entry(file, hook, claude_http_token_path(context_.io.paths()))) {
            add_host_check(std::move(c));
          }
          if (http) continue;
          probe_claude_hook(
              file,
              matcher != nullptr && matcher->is_string() ? matcher->as_string() : std::string("*"),
              command->as_string());
        }
      }
    }
    if (!any)
      add("claude", "PreToolUse", Status::kInfo, "no stepgate hook in Claude Code's settings");
  }

  void probe_claude_hook(const std::string& file, const std::string& matcher,
                         const std::string& command) {
    if (!matcher.empty() && matcher != "*" && matcher.find("Bash") == std::string::npos) {
      add("claude", file, Status::kWarn,
          "the stepgate hook's matcher `" + matcher + "` does not cover Bash");
    }
    Map input;
    input["command"] = Value("rm -rf /");
    Map event;
    event["session_id"] = Value("stepgate-doctor");
    event["hook_event_name"] = Value("PreToolUse");
    event["tool_name"] = Value("Bash");
    event["tool_input"] = Value(std::move(input));
    event["cwd"] = Value(repo_dir());
    // The command is the user's settings string, run the way Claude Code runs it (sh -c); doctor
    // builds no command of its own from it.
    auto r =
        run_process({"/bin/sh", "-c", command}, probe_options(to_json(Value(std::move(event)))));
    if (!r.ok()) {
      add("claude", file, Status::kFail, "could not run `" + command + "`: " + r.error().message);
      return;
    }
    if (r->exit_code == 2) {
      add("claude", file, Status::kOk, "blocks `rm -rf /` (exit 2)");
      check_version("claude", file, first_shell_word(command));
      return;
    }
    std::string decision;
    if (r->exit_code == 0) {
      if (auto reply = parse_json(r->out); reply.ok()) {
        const Value* out = reply->find("hookSpecificOutput");
        const Value* d = out != nullptr ? out->find("permissionDecision") : nullptr;
        if (d != nullptr && d->is_string()) decision = d->as_string();
      }
    }
    if (decision == "deny" || decision == "ask") {
      add("claude", file, Status::kOk, "answers `" + decision + "` to `rm -rf /`");
      check_version("claude", file, first_shell_word(command));
      return;
    }
    add("claude", file, Status::kFail,
        "let `rm -rf /` through (exit " + std::to_string(r->exit_code) +
            (decision.empty() ? std::string() : ", decision " + decision) +
            "): Claude Code treats this as allowed; command `" + command + "`");
  }

  /// Codex, Cursor, Gemini CLI and Copilot (doctor_hosts.h), each probe run like Claude's.
  void check_agent_hosts() {
    HostCheckContext hosts{repo_dir(), context_.io.env, probe_options(""), first_shell_word};
    for (HostCheck& c : check_agent_host_hooks(hosts)) add_host_check(std::move(c));
  }

  void add_host_check(HostCheck c) {
    static constexpr Status kLevels[] = {Status::kOk, Status::kInfo, Status::kWarn, Status::kFail};
    add(c.area, c.name, kLevels[static_cast<int>(c.level)], std::move(c.detail));
    if (!c.program.empty()) check_version(c.area, c.name, c.program);
  }

  /// The daemon the hook clients ask: this installation's, another one (an older package still
  /// running after an upgrade, another prefix), or none. The clients trust only a daemon running
  /// the very `stepgate` beside them and decide in-process otherwise, so a foreign one is not a
  /// gap in the gate, but every call then pays for a whole process: say which and how to fix it.
  void check_daemon() {
    const std::string path = hookd::socket_path(context_.io.env.get("STEPGATE_DAEMON_SOCKET"),
                                                context_.io.env.get("XDG_RUNTIME_DIR"));
    const DaemonPeer peer = find_daemon(path);
    const std::string pid = std::to_string(peer.pid);
    switch (peer.state) {
      case DaemonPeer::State::kOurs:
        add("daemon", "stepgate daemon", Status::kOk,
            "running (pid " + pid + ") on " + path + ": this stepgate (" STEPGATE_VERSION ")");
        return;
      case DaemonPeer::State::kForeign:
        add("daemon", "stepgate daemon", Status::kWarn,
            "pid " + pid + " on " + path +
                " is not this installation's daemon (another stepgate, or one replaced by an "
                "upgrade since it started): the hook clients do not trust it and decide each call "
                "in-process; stop it (kill " +
                pid + ") and the next --daemon hook call starts this one");
        return;
      case DaemonPeer::State::kNone:
        add("daemon", "stepgate daemon", Status::kInfo,
            "not running on " + path + " (a --daemon hook client starts one on first use)");
        return;
    }
  }

  int report() {
    bool failed = false;
    for (const Check& c : checks_) failed = failed || c.status == Status::kFail;
    if (options_.format == "json") {
      List list;
      for (const Check& c : checks_) {
        Map m;
        m["area"] = Value(c.area);
        m["name"] = Value(c.name);
        m["status"] =
            Value(std::string(c.status == Status::kFail ? "fail" : status_name(c.status)));
        m["detail"] = Value(c.detail);
        list.emplace_back(std::move(m));
      }
      Map root;
      root["ok"] = Value(!failed);
      root["checks"] = Value(std::move(list));
      *context_.io.out << to_pretty_json(Value(std::move(root))) << "\n";
    } else {
      for (const Check& c : checks_) {
        *context_.io.out << "[" << status_name(c.status) << "] " << c.area << ": " << c.name
                         << " — " << c.detail << "\n";
      }
      *context_.io.out << (failed ? "stepgate doctor: a gate would fail open (see FAIL above)\n"
                                  : "stepgate doctor: every installed gate blocks its probe\n");
    }
    return failed ? 1 : 0;
  }

  const DoctorOptions& options_;
  CommandContext& context_;
  std::string scratch_;
  std::shared_ptr<const Policy> policy_;
  std::vector<Check> checks_;
};

}  // namespace

void register_doctor_command(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<DoctorOptions>();
  CLI::App* cmd = app.add_subcommand(
      "doctor",
      "Check where stepgate is installed and prove each gate blocks (exit 1 if one would not)");
  cmd->add_option("--format", o->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--repo", o->repo, "Repository to check (default: the working directory)");
  cmd->callback([o, &context] { context.exit_code = Doctor(*o, context).run(); });
}

}  // namespace stepgate
