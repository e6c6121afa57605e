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

#include "stepgate/glob.h"
#include "stepgate/json.h"
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

// Patterns for shell commands (matched against the shell command only).
const std::vector<Pattern>& shell_patterns() {
  static const auto* patterns = new std::vector<Pattern>(compile({
      {"rm-recursive-force",
       R"((^|[\s;&|(])rm\s+(-[a-z]*r[a-z]*f[a-z]*|-[a-z]*f[a-z]*r[a-z]*|(-[a-z]+\s+)*(-r|-R|--recursive)\s+(-[a-z]+\s+)*(-f|--force)|(-[a-z]+\s+)*(-f|--force)\s+(-[a-z]+\s+)*(-r|-R|--recursive))(\s|$))"},
      {"git-force-push", R"(\bgit\s+(\S+\s+)*push\s+(\S+\s+)*(--force(-with-lease)?|-f)(\s|=|$))"},
      {"git-reset-hard", R"(\bgit\s+(\S+\s+)*reset\s+(\S+\s+)*--hard\b)"},
      {"git-clean-force", R"(\bgit\s+clean\s+(\S+\s+)*-[a-z]*f)"},
      {"kubectl-delete", R"(\bkubectl\s+(\S+\s+)*delete\b)"},
      {"terraform-destroy", R"(\bterraform\s+(\S+\s+)*(destroy\b|apply\s+(\S+\s+)*-destroy\b))"},
      {"mkfs", R"((^|[\s;&|(])mkfs(\.[a-z0-9]+)?\s)"},
      {"dd-to-device", R"(\bdd\s+(\S+\s+)*of=/dev/)"},
      {"chmod-777-recursive", R"(\bchmod\s+(\S+\s+)*-[a-z]*R[a-z]*\s+(\S+\s+)*0?777\b)"},
      {"pipe-to-shell", R"(\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?(ba|z|da|k)?sh\b)"},
      {"redirect-to-device", R"(>\s*/dev/(sd|nvme|hd|disk)[a-z0-9]*)"},
  }));
  return *patterns;
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

std::string join_words(const List& list) {
  std::string out;
  for (const auto& item : list) {
    if (!item.is_string()) continue;
    if (!out.empty()) out += ' ';
    out += item.as_string();
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

std::vector<std::string> shell_words(const std::string& command) {
  std::vector<std::string> words;
  std::string current;
  for (char c : command) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0 || c == ';' || c == '|' || c == '&' ||
        c == '>' || c == '<' || c == '(' || c == ')') {
      if (!current.empty()) words.push_back(std::move(current));
      current.clear();
      continue;
    }
    current += c;
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
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

void match_patterns(const std::vector<Pattern>& patterns, const std::string& text, List& ids) {
  for (const auto& p : patterns) {
    if (RE2::PartialMatch(text, *p.re)) add_unique(ids, p.id);
  }
}

/// Whether `text` holds one of `words` (ASCII case-insensitive). A cheap test that spares the
/// regex compile and scan for the common harmless call: hooks are fresh processes, and compiling
/// the pattern tables costs more than the rest of the decision.
bool mentions_any(std::string_view text, std::initializer_list<std::string_view> words) {
  const std::string low = lower(text);
  return std::any_of(words.begin(), words.end(),
                     [&](std::string_view w) { return low.find(w) != std::string::npos; });
}

bool may_be_destructive_shell(std::string_view command) {
  return mentions_any(command, {"rm", "git", "kubectl", "terraform", "mkfs", "dd", "chmod", "curl",
                                "wget", "/dev/"});
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

}  // namespace

Value collect_tool_signals(const ToolCall& call, const Policy& policy, StateStore* store,
                           UnixTime now) {
  Value signals = Map{};
  const std::string tool = base_tool_name(call.tool);
  const std::string home = home_dir(call);
  const std::string base =
      call.cwd.empty() ? current_dir() : normalize_path(call.cwd, current_dir(), home);
  signals["tool"] = call.tool;
  signals["server"] = call.server;

  std::vector<const std::string*> strings;
  collect_strings(call.arguments, strings);
  const std::string shell = find_shell_command(call);
  signals["shell_command"] = shell;

  // Paths: by argument key, path-looking strings, and path-looking words of a shell command.
  std::vector<std::string> raw;
  collect_path_strings(call.arguments, false, raw);
  for (const auto& word : shell_words(shell)) {
    if (looks_like_path(word)) raw.push_back(word);
  }
  List paths;
  List outside;
  List sensitive;
  for (const auto& r : raw) add_unique(paths, normalize_path(r, base, home));
  const auto workspaces = workspaces_for(call, policy, base);
  for (const auto& p : paths) {
    const std::string& path = p.as_string();
    bool inside = std::any_of(workspaces.begin(), workspaces.end(),
                              [&](const std::string& w) { return is_under(path, w); });
    if (!inside) add_unique(outside, path);
    for (const auto& glob : policy.agents.sensitive_paths) {
      if (glob_match(expand_tilde(glob, home), path)) {
        add_unique(sensitive, path);
        break;
      }
    }
  }

  List destructive;
  if (!shell.empty() && may_be_destructive_shell(shell)) {
    match_patterns(shell_patterns(), shell, destructive);
  }
  for (const auto* s : strings) match_sql(*s, destructive);
  if (is_delete_tool(tool)) add_unique(destructive, "tool-delete");
  if (is_write_tool(tool) && !outside.empty()) add_unique(destructive, "write-outside-workspace");

  List hosts = find_hosts(strings, call.arguments);
  bool new_host = false;
  for (const auto& h : hosts) {
    if (host_is_known(h.as_string(), policy)) continue;
    auto seen = store != nullptr ? store->has_seen("host", h.as_string()) : Result<bool>(false);
    if (!seen.ok() || !*seen) new_host = true;
  }

  signals["destructive"] = !destructive.empty();
  signals["destructive_patterns"] = std::move(destructive);
  signals["paths"] = std::move(paths);
  signals["outside_workspace"] = std::move(outside);
  signals["sensitive_paths"] = std::move(sensitive);
  signals["network_hosts"] = std::move(hosts);
  signals["new_host"] = new_host;
  signals["secrets_in_args"] = find_secret_rules(strings);
  signals["args_bytes"] = static_cast<int64_t>(to_json(call.arguments).size());
  signals["rate"] = count_rate(call, policy, store, now);
  return signals;
}

}  // namespace stepgate
