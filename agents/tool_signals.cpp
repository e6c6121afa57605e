// tool.call signals: what a tool call's arguments say about its risk (shell commands, destructive
// patterns, paths, hosts, secrets, size, rate). Declared in the registry by collector "tool".
#include <re2/re2.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shell_analysis.h"
#include "shell_protected.h"
#include "stepgate/glob.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"
#include "stepgate/secrets.h"
#include "tool_gate.h"

namespace stepgate {
namespace {

constexpr std::size_t kMaxPathLength = 4096;

struct Pattern {
  const char* id;
  std::unique_ptr<RE2> re;
};

RE2::Options case_insensitive() {
  RE2::Options options;
  options.set_case_sensitive(false);
  options.set_log_errors(false);
  return options;
}

std::vector<Pattern> compile(std::initializer_list<std::pair<const char*, const char*>> table) {
  std::vector<Pattern> out;
  for (const auto& [id, re] : table)
    out.push_back({id, std::make_unique<RE2>(re, case_insensitive())});
  return out;
}

// Patterns for SQL (matched against every string argument, the shell command included).
const std::vector<Pattern>& sql_patterns() {
  static const auto* patterns = new std::vector<Pattern>(compile({
      {"sql-drop", R"(\bdrop\s+(table|database|schema)\b)"},
      {"sql-truncate", R"(\btruncate\s+(table\s+)?[a-z_"`\[])"},
      {"sql-delete-without-where", R"(\bdelete\s+from\s+[^;]*?(;|$))"},
  }));
  return *patterns;
}

const RE2& where_clause() {
  static const auto* re = new RE2(R"(\bwhere\b)", case_insensitive());
  return *re;
}

const RE2& url_host() {
  // scheme://[userinfo@]host[:port]...
  static const auto* re =
      new RE2(R"(\b[a-z][a-z0-9+.\-]*://(?:[^/\s@"'<>]+@)?(\[[0-9a-f:.]+\]|[a-z0-9\-._~%]+))",
              case_insensitive());
  return *re;
}

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), s) != names.end();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// The tool's own name without an MCP-style namespace ("mcp__server__bash" -> "bash").
std::string base_tool_name(const std::string& tool) {
  auto pos = tool.rfind("__");
  return lower(pos == std::string::npos ? tool : tool.substr(pos + 2));
}

void collect_strings(const Value& value, std::vector<const std::string*>& out) {
  if (value.is_string()) {
    out.push_back(&value.as_string());
  } else if (value.is_list()) {
    for (const auto& item : value.as_list()) collect_strings(item, out);
  } else if (value.is_map()) {
    for (const auto& [key, item] : value.as_map()) collect_strings(item, out);
  }
}

/// An argv-style command as one shell line, each word quoted, so the analysis reads the same
/// words the tool will run.
std::string join_words(const List& list) {
  std::string out;
  for (const auto& item : list) {
    if (!item.is_string()) continue;
    if (!out.empty()) out += ' ';
    out += shell_quote(item.as_string());
  }
  return out;
}

std::string find_shell_command(const ToolCall& call) {
  const Value& args = call.arguments;
  for (const char* key : {"command", "cmd", "script", "shell"}) {
    const Value* v = args.find(key);
    if (v == nullptr) continue;
    if (v->is_string()) return v->as_string();
    if (v->is_list()) return join_words(v->as_list());
  }
  std::string tool = base_tool_name(call.tool);
  if (!is_one_of(tool, {"bash", "sh", "shell", "exec", "run", "run_command", "execute_command",
                        "run_shell_command", "terminal", "run_terminal_cmd", "shell_exec"})) {
    return {};
  }
  std::vector<const std::string*> strings;
  collect_strings(args, strings);
  return strings.empty() ? std::string() : *strings.front();
}

/// The caller's home directory: the tool call's, else this process's $HOME.
std::string home_dir(const ToolCall& call) {
  if (!call.home.empty()) return call.home;
  const char* home = std::getenv("HOME");
  return home != nullptr ? home : "";
}

std::string expand_tilde(const std::string& path, const std::string& home) {
  if (path == "~") return home;
  if (path.rfind("~/", 0) == 0) return home + path.substr(1);
  return path;
}

std::string current_dir() {
  std::error_code ec;
  auto p = std::filesystem::current_path(ec);
  return ec ? std::string("/") : p.string();
}

/// Absolute, lexically normalised, no trailing slash (except "/").
std::string normalize_path(const std::string& path, const std::string& base,
                           const std::string& home) {
  namespace fs = std::filesystem;
  fs::path p(expand_tilde(path, home));
  if (p.is_relative()) p = fs::path(base) / p;
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool looks_like_path(std::string_view s) {
  if (s.empty() || s.size() > kMaxPathLength) return false;
  if (s.find_first_of(" \t\r\n\"'<>|;&$`*") != std::string_view::npos) return false;
  if (s.find("://") != std::string_view::npos) return false;
  return s[0] == '/' || s == "~" || s.rfind("~/", 0) == 0 || s.rfind("./", 0) == 0 ||
         s.rfind("../", 0) == 0;
}

bool is_path_key(std::string_view key) {
  return is_one_of(key, {"path", "paths", "file", "files", "file_path", "filepath", "filename",
                         "source", "destination", "target", "directory", "dir", "cwd",
                         "notebook_path", "old_path", "new_path"});
}

void add_unique(List& list, const std::string& s) {
  for (const auto& item : list) {
    if (item.as_string() == s) return;
  }
  list.emplace_back(s);
}

void collect_path_strings(const Value& value, bool by_key, std::vector<std::string>& out) {
  if (value.is_string()) {
    if (by_key ? (!value.as_string().empty() && value.as_string().size() <= kMaxPathLength)
               : looks_like_path(value.as_string())) {
      out.push_back(value.as_string());
    }
    return;
  }
  if (value.is_list()) {
    for (const auto& item : value.as_list()) collect_path_strings(item, by_key, out);
    return;
  }
  if (!value.is_map()) return;
  for (const auto& [key, item] : value.as_map()) {
    collect_path_strings(item, by_key || is_path_key(lower(key)), out);
  }
}

std::vector<std::string> workspaces_for(const ToolCall& call, const Policy& policy,
                                        const std::string& base) {
  std::vector<std::string> out;
  for (const auto& w : policy.agents.workspaces) {
    out.push_back(normalize_path(w, current_dir(), home_dir(call)));
  }
  if (out.empty()) out.push_back(base);
  return out;
}

bool is_under(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

bool is_write_tool(const std::string& tool) {
  return tool.rfind("write", 0) == 0 || tool.rfind("edit", 0) == 0 || tool.rfind("move", 0) == 0 ||
         tool.rfind("create", 0) == 0 || tool.rfind("rename", 0) == 0 ||
         is_one_of(tool, {"multiedit", "notebookedit"});
}

bool is_delete_tool(const std::string& tool) {
  for (const char* prefix : {"delete", "remove", "drop", "destroy", "purge", "wipe", "rm_"}) {
    if (tool.rfind(prefix, 0) == 0) return true;
  }
  return tool == "rm";
}

/// Whether `text` holds one of `words` (ASCII case-insensitive). A cheap test that spares the
/// regex compile and scan for the common harmless call: hooks are fresh processes, and compiling
/// the pattern tables costs more than the rest of the decision.
bool mentions_any(std::string_view text, std::initializer_list<std::string_view> words) {
  const std::string low = lower(text);
  return std::any_of(words.begin(), words.end(),
                     [&](std::string_view w) { return low.find(w) != std::string::npos; });
}

void match_sql(const std::string& text, List& ids) {
  if (!mentions_any(text, {"drop", "truncate", "delete"})) return;
  for (const auto& p : sql_patterns()) {
    if (std::string_view(p.id) == "sql-delete-without-where") {
      re2::StringPiece input(text);
      std::string statement;
      static const RE2 kDelete(R"((\bdelete\s+from\s+[^;]*))", case_insensitive());
      while (RE2::FindAndConsume(&input, kDelete, &statement)) {
        if (!RE2::PartialMatch(statement, where_clause())) add_unique(ids, p.id);
      }
      continue;
    }
    if (RE2::PartialMatch(text, *p.re)) add_unique(ids, p.id);
  }
}

bool host_is_known(const std::string& host, const Policy& policy) {
  return std::any_of(policy.agents.known_hosts.begin(), policy.agents.known_hosts.end(),
                     [&](const std::string& pattern) { return glob_match(lower(pattern), host); });
}

List find_hosts(const std::vector<const std::string*>& strings, const Value& args) {
  List hosts;
  for (const auto* s : strings) {
    if (s->find("://") == std::string::npos) continue;
    re2::StringPiece input(*s);
    std::string host;
    while (RE2::FindAndConsume(&input, url_host(), &host)) add_unique(hosts, lower(host));
  }
  for (const char* key : {"host", "hostname", "domain"}) {
    std::string h = args.get_string(key);
    if (!h.empty() && h.find_first_of(" /\t\n") == std::string::npos) add_unique(hosts, lower(h));
  }
  return hosts;
}

List find_secret_rules(const std::vector<const std::string*>& strings) {
  List ids;
  for (const auto* s : strings) {
    for (const auto& finding : scan_secrets(*s)) add_unique(ids, finding.rule_id);
  }
  return ids;
}

int64_t count_rate(const ToolCall& call, const Policy& policy, StateStore* store, UnixTime now) {
  if (store == nullptr) return 1;
  const std::string key =
      "tool.call:" + (call.server.empty() ? call.tool : call.server + "/" + call.tool);
  const std::string who = call.session.empty() ? call.client : call.session;
  if (!store->record_action(key, who, now).ok()) return 1;
  auto count = store->count_actions(key, who, now - policy.velocity_window.count());
  return count.ok() ? *count : 1;
}

List to_list(const std::vector<std::string>& items) {
  List out;
  out.reserve(items.size());
  for (const std::string& item : items) out.emplace_back(item);
  return out;
}

/// What the analysed command may know of the environment: the variables that name places.
ShellContext shell_context(const ToolCall& call, const std::string& base) {
  ShellContext context;
  context.cwd = base;
  context.home = home_dir(call);
  for (const char* name :
       {"XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "STEPGATE_HOME",
        "STEPGATE_CONFIG_DIR", "STEPGATE_STATE_DIR", "TMPDIR", "USER"}) {
    if (std::string value = call.env.get(name); !value.empty()) context.vars[name] = value;
  }
  return context;
}

/// Paths whose symbolic links are followed per call (each costs a few stat calls).
constexpr std::size_t kMaxResolvedPaths = 256;

/// `p` with the symbolic links on the way resolved (`ln -s ~/.config/stepgate x` made earlier
/// makes `x/totp/alice` a spelling of a seed); unchanged when nothing resolves.
ShellPath through_symlinks(const ShellPath& p) {
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::weakly_canonical(p.path, ec);
  ShellPath out = p;
  if (!ec) out.path = real.string();
  return out;
}

struct PathSignals {
  List paths;
  List outside;
  List sensitive;
  List stepgate;
  List stepgate_writes;
};

/// Paths by argument key and path-looking strings (written by a write or delete tool), and the
/// paths the shell analysis found; each held against the workspace, the sensitive globs and
/// stepgate's own directories.
PathSignals classify_paths(const ToolCall& call, const std::string& tool,
                           const ShellAnalysis& analysis, const Policy& policy,
                           const std::string& base) {
  std::vector<ShellPath> candidates = analysis.paths;
  std::vector<std::string> raw;
  collect_path_strings(call.arguments, false, raw);
  const bool writer = is_write_tool(tool) || is_delete_tool(tool);
  // A search tool reads every file under the directory it is given (Claude's Grep on ~/.config
  // prints the seeds' lines).
  const bool recursive =
      tool.find("grep") != std::string::npos || tool.find("search") != std::string::npos;
  const std::string home = home_dir(call);
  for (const std::string& r : raw) {
    ShellPath p;
    p.path = normalize_path(r, base, home);
    p.write = writer;
    p.recursive = recursive || (writer && is_delete_tool(tool));
    p.explicit_path = true;
    candidates.push_back(std::move(p));
  }
  PathSignals out;
  if (candidates.empty()) return out;
  const std::vector<std::string> own = stepgate_dirs(home, call.env);
  const auto workspaces = workspaces_for(call, policy, base);
  std::size_t resolved = 0;
  for (const ShellPath& p : candidates) {
    StepgateReach reach = stepgate_reach(p, own);
    if (reach == StepgateReach::kNone && !p.glob && !p.uncertain &&
        resolved++ < kMaxResolvedPaths) {
      reach = stepgate_reach(through_symlinks(p), own);
    }
    if (reach == StepgateReach::kOwnFiles || (reach == StepgateReach::kAncestor && !p.write)) {
      add_unique(out.stepgate, p.path);
    }
    if (p.write && reach != StepgateReach::kNone) add_unique(out.stepgate_writes, p.path);
    if (p.uncertain || p.path.size() > kMaxPathLength) continue;
    const bool sensitive = std::any_of(
        policy.agents.sensitive_paths.begin(), policy.agents.sensitive_paths.end(),
        [&](const std::string& glob) { return glob_match(expand_tilde(glob, home), p.path); });
    if (!p.explicit_path && !sensitive && reach == StepgateReach::kNone) continue;
    add_unique(out.paths, p.path);
    if (sensitive) add_unique(out.sensitive, p.path);
    const bool inside = std::any_of(workspaces.begin(), workspaces.end(),
                                    [&](const std::string& w) { return is_under(p.path, w); });
    if (!inside) add_unique(out.outside, p.path);
  }
  return out;
}

}  // namespace

Value collect_tool_signals(const ToolCall& call, const Policy& policy, StateStore* store,
                           UnixTime now, const SignalDemand* demand) {
  Value signals = Map{};
  const std::string tool = base_tool_name(call.tool);
  const std::string home = home_dir(call);
  // An absolute cwd needs no getcwd (the shim passes its own, taken at start, on every call).
  const bool relative =
      call.cwd.empty() || std::filesystem::path(expand_tilde(call.cwd, home)).is_relative();
  const std::string base = call.cwd.empty()
                               ? current_dir()
                               : normalize_path(call.cwd, relative ? current_dir() : "/", home);
  signals["tool"] = call.tool;
  signals["server"] = call.server;

  std::vector<const std::string*> strings;
  collect_strings(call.arguments, strings);
  const std::string shell = find_shell_command(call);
  signals["shell_command"] = shell;

  const ShellAnalysis analysis =
      shell.empty() ? ShellAnalysis{} : analyse_shell(shell, shell_context(call, base));
  PathSignals found = classify_paths(call, tool, analysis, policy, base);
  List destructive;
  for (const std::string& id : analysis.patterns) add_unique(destructive, id);
  for (const auto* s : strings) match_sql(*s, destructive);
  if (is_delete_tool(tool)) add_unique(destructive, "tool-delete");
  if (is_write_tool(tool) && !found.outside.empty())
    add_unique(destructive, "write-outside-workspace");

  List hosts = find_hosts(strings, call.arguments);
  bool new_host = false;
  for (const auto& h : hosts) {
    if (host_is_known(h.as_string(), policy)) continue;
    auto seen = store != nullptr ? store->has_seen("host", h.as_string()) : Result<bool>(false);
    if (!seen.ok() || !*seen) new_host = true;
  }

  signals["destructive"] = !destructive.empty();
  signals["destructive_patterns"] = std::move(destructive);
  signals["paths"] = std::move(found.paths);
  signals["outside_workspace"] = std::move(found.outside);
  signals["sensitive_paths"] = std::move(found.sensitive);
  signals["stepgate_paths"] = std::move(found.stepgate);
  signals["stepgate_writes"] = std::move(found.stepgate_writes);
  signals["shell_programs"] = to_list(analysis.programs);
  signals["shell_unresolved"] = to_list(analysis.unresolved);
  signals["network_hosts"] = std::move(hosts);
  signals["new_host"] = new_host;
  const bool scan = demand == nullptr || demand->wants("secrets_in_args");
  signals["secrets_in_args"] = scan ? find_secret_rules(strings) : List{};
  signals["args_bytes"] = static_cast<int64_t>(to_json(call.arguments).size());
  signals["rate"] = count_rate(call, policy, store, now);
  return signals;
}

}  // namespace stepgate
