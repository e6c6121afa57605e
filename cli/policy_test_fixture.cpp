#include "policy_test_fixture.h"

#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "claude_hook.h"
#include "gate_input.h"
#include "git_signals.h"
#include "stepgate/json.h"
#include "subprocess.h"
#include "tool_gate.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxFixtureCommits = 100;

/// A scratch directory removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "stepgate-fixture-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Runs git in the fixture repository, isolated from the user's and the system's configuration.
class FixtureGit {
 public:
  explicit FixtureGit(const std::string& root) : root_(root) {
    options_.cwd = root + "/repo";
    options_.env = {{"HOME", root},
                    {"GIT_CONFIG_NOSYSTEM", "1"},
                    {"GIT_CONFIG_GLOBAL", "/dev/null"},
                    {"GIT_AUTHOR_DATE", "2024-01-02T10:00:00Z"},
                    {"GIT_COMMITTER_DATE", "2024-01-02T10:00:00Z"},
                    {"GIT_COMMITTER_NAME", "Test"},
                    {"GIT_COMMITTER_EMAIL", "test@example.com"}};
    options_.unset_env = {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"};
  }

  Result<std::string> run(std::vector<std::string> args) {
    args.insert(args.begin(), "git");
    auto r = run_process(args, options_);
    if (!r.ok()) return make_error(ErrorCode::kUnavailable, "fixture: " + r.error().message);
    if (r->exit_code != 0) {
      return make_error(ErrorCode::kUnavailable, "fixture: git " + args[1] + ": " + r->err);
    }
    std::string out = r->out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  /// Writes (or, for null, deletes) the files of `files`, then commits; returns the new sha.
  Result<std::string> commit(const Value& files, const std::string& message,
                             const std::string& author, const std::string& where) {
    if (!files.is_map()) return invalid_argument(where + ".files: expected a map of path: text");
    for (const auto& [name, text] : files.as_map()) {
      const fs::path rel = fs::path(name).lexically_normal();
      if (rel.is_absolute() || rel.empty() || *rel.begin() == ".." || *rel.begin() == ".git") {
        return invalid_argument(where + ".files: `" + name + "` is not a path inside the repo");
      }
      const fs::path file = fs::path(options_.cwd) / rel;
      std::error_code ec;
      if (text.is_null()) {
        fs::remove(file, ec);
        continue;
      }
      if (!text.is_string()) return invalid_argument(where + ".files." + name + ": expected text");
      fs::create_directories(file.parent_path(), ec);
      std::ofstream(file, std::ios::binary) << text.as_string();
    }
    if (auto r = run({"add", "-A"}); !r.ok()) return r.error();
    std::vector<std::string> args = {"commit",      "-q", "--allow-empty",
                                     "--no-verify", "-m", message.empty() ? "commit" : message};
    args.push_back("--author=" + (author.empty() ? "Test <test@example.com>" : author));
    if (auto r = run(args); !r.ok()) return r.error();
    return run({"rev-parse", "HEAD"});
  }

 private:
  std::string root_;
  ProcessOptions options_;
};

Result<Value> collect_git(const Value& git, const Policy& policy) {
  if (!git.is_map()) return invalid_argument("fixture.git: expected a map");
  for (const auto& [key, v] : git.as_map()) {
    if (key != "base" && key != "commits" && key != "ref" && key != "rewrite") {
      return invalid_argument("fixture.git: unknown key `" + key +
                              "` (expected base, commits, ref, rewrite)");
    }
  }
  const Value* commits = git.find("commits");
  if (commits != nullptr &&
      (!commits->is_list() || commits->as_list().size() > kMaxFixtureCommits)) {
    return invalid_argument("fixture.git.commits: expected a list of at most " +
                            std::to_string(kMaxFixtureCommits) + " commits");
  }
  ScratchDir dir;
  if (dir.path().empty()) return make_error(ErrorCode::kUnavailable, "fixture: no scratch dir");
  fs::create_directories(dir.path() + "/repo");
  FixtureGit g(dir.path());
  if (auto r = g.run({"init", "-q", "-b", "main"}); !r.ok()) return r.error();
  const Value* base_files = git.find("base");
  auto base =
      g.commit(base_files != nullptr ? *base_files : Value(Map{}), "base", "", "fixture.git.base");
  if (!base.ok()) return base.error();
  std::string remote_tip = *base;
  if (git.get_bool("rewrite")) {  // the remote has a commit the pushed history leaves out
    auto dropped =
        g.commit(Map{{"dropped.txt", Value("dropped\n")}}, "dropped", "", "fixture.git.rewrite");
    if (!dropped.ok()) return dropped.error();
    remote_tip = *dropped;
    if (auto r = g.run({"reset", "-q", "--hard", *base}); !r.ok()) return r.error();
  }
  std::string tip = *base;
  if (commits != nullptr) {
    for (std::size_t i = 0; i < commits->as_list().size(); ++i) {
      const Value& c = commits->as_list()[i];
      const std::string where = "fixture.git.commits[" + std::to_string(i) + "]";
      if (!c.is_map()) return invalid_argument(where + ": expected a map");
      const Value* files = c.find("files");
      auto sha = g.commit(files != nullptr ? *files : Value(Map{}), c.get_string("message"),
                          c.get_string("author"), where);
      if (!sha.ok()) return sha.error();
      tip = *sha;
    }
  }
  auto repo = GitRepo::open_at(dir.path() + "/repo");
  if (!repo.ok()) return repo.error();
  const std::string ref = git.get_string("ref", "refs/heads/main");
  RefUpdate update{ref, tip, ref, remote_tip, 1};
  PushScanOptions scan;
  scan.settings = &policy.git;
  scan.pusher_email = "test@example.com";
  scan.remote = "origin";
  PushSignals out;
  if (Status s = (*repo)->collect(update, scan, out); !s.ok()) return s.error();
  return out.signals;
}

constexpr const char* kFixtureHome = "/home/test";
constexpr const char* kFixtureCwd = "/home/test/project";
constexpr UnixTime kFixtureTime = 1704193200;  // 2024-01-02T11:00:00Z, a Tuesday (the defaults)

/// Refuses keys outside `allowed`, naming them (a typo must not pass as an empty fixture).
Status check_keys(const Value& map, const std::string& where,
                  std::initializer_list<std::string_view> allowed) {
  if (!map.is_map()) return invalid_argument(where + ": expected a map");
  for (const auto& [key, v] : map.as_map()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string names;
    for (std::string_view a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
    return invalid_argument(where + ": unknown key `" + key + "` (expected " + names + ")");
  }
  return {};
}

/// A tool call as the agent front-ends finish it before collecting: the caller's home and
/// environment (here a fixed test home, so `~` paths do not depend on who runs the tests).
FixtureOutput collect_tool_call(ToolCall call, const Value& fixture, const Policy& policy) {
  call.home = fixture.get_string("home", kFixtureHome);
  call.env = Env({"HOME=" + call.home});
  if (call.cwd.empty()) call.cwd = kFixtureCwd;
  FixtureOutput out;
  out.signals = collect_tool_signals(call, policy, nullptr, kFixtureTime);
  out.action = make_tool_action(call, fixture.get_string("actor", "agent"));
  return out;
}

/// A Claude Code hook event, parsed by the hook's own parser (so a payload the hook refuses is
/// refused here too) and turned into a tool call as the hook does.
Result<FixtureOutput> collect_claude(const Value& fixture, const Policy& policy) {
  if (!fixture.is_map()) return invalid_argument("fixture.claude: expected a hook event (a map)");
  Value event = fixture;
  Map& m = event.as_map();
  for (const char* key : {"home", "actor"}) m.erase(key);
  m.try_emplace("hook_event_name", Value("PreToolUse"));
  m.try_emplace("session_id", Value("fixture"));
  m.try_emplace("cwd", Value(kFixtureCwd));
  auto parsed = parse_claude_hook_event(to_json(event));
  if (!parsed.ok()) return invalid_argument("fixture.claude: " + parsed.error().message);
  return collect_tool_call(tool_call_from_claude_event(*parsed), fixture, policy);
}

/// An MCP tools/call's params, read as the shim reads them: the tool's name and its arguments.
Result<FixtureOutput> collect_mcp(const Value& fixture, const Policy& policy) {
  if (Status s = check_keys(fixture, "fixture.mcp", {"server", "params", "cwd", "home", "actor"});
      !s.ok()) {
    return s.error();
  }
  const Value* params = fixture.find("params");
  if (params == nullptr || !params->is_map() || !params->get_string("name").size()) {
    return invalid_argument("fixture.mcp.params: expected {name: TOOL, arguments: {...}}");
  }
  ToolCall call;
  call.server = fixture.get_string("server");
  call.tool = params->get_string("name");
  if (const Value* args = params->find("arguments"); args != nullptr) call.arguments = *args;
  if (!call.arguments.is_map()) call.arguments = Map{};
  call.client = "fixture";
  call.cwd = fixture.get_string("cwd");
  return collect_tool_call(std::move(call), fixture, policy);
}

/// "2024-01-02T11:00:00Z" or seconds since the epoch.
Result<UnixTime> fixture_time(const Value* at) {
  if (at == nullptr) return kFixtureTime;
  if (at->is_int()) return at->as_int();
  struct tm tm {};
  const std::string text = at->is_string() ? at->as_string() : "";
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') {
    return invalid_argument("fixture.ci.at: expected a UTC time like 2024-01-02T11:00:00Z");
  }
  return static_cast<UnixTime>(timegm(&tm));
}

/// Writes `files` (path: text) under `root`, refusing paths that leave it.
Status write_files(const Value* files, const std::string& root, const std::string& where) {
  if (files == nullptr) return {};
  if (!files->is_map()) return invalid_argument(where + ": expected a map of path: text");
  for (const auto& [name, text] : files->as_map()) {
    const fs::path rel = fs::path(name).lexically_normal();
    if (rel.is_absolute() || rel.empty() || *rel.begin() == ".." || !text.is_string()) {
      return invalid_argument(where + ": `" + name + "` must be a relative path with text");
    }
    std::error_code ec;
    fs::create_directories((fs::path(root) / rel).parent_path(), ec);
    std::ofstream(fs::path(root) / rel, std::ios::binary) << text.as_string();
  }
  return {};
}

/// A CI step through the CI gate's own input builder: the provider's context from `env`, the
/// manifest (or --kind step) and the policy's CI settings. No state store: a first deployment.
Result<FixtureOutput> collect_ci(const Value& fixture, const Policy& policy) {
  if (Status s = check_keys(fixture, "fixture.ci",
                            {"env", "manifest", "kind", "resource", "environment", "attrs", "files",
                             "at", "change_ticket"});
      !s.ok()) {
    return s.error();
  }
  std::map<std::string, std::string, std::less<>> vars;
  if (const Value* env = fixture.find("env"); env != nullptr) {
    if (!env->is_map()) return invalid_argument("fixture.ci.env: expected a map of NAME: value");
    for (const auto& [name, v] : env->as_map()) {
      vars[name] = v.is_string() ? v.as_string() : to_json(v);
    }
  }
  const ci::Env env = [&vars](const char* name) {
    auto it = vars.find(name);
    return it == vars.end() ? std::string() : it->second;
  };
  auto now = fixture_time(fixture.find("at"));
  if (!now.ok()) return now.error();
  ScratchDir dir;
  if (dir.path().empty()) return make_error(ErrorCode::kUnavailable, "fixture: no scratch dir");
  if (Status s = write_files(fixture.find("files"), dir.path(), "fixture.ci.files"); !s.ok()) {
    return s.error();
  }
  ci::StepSpec spec;
  if (const Value* manifest = fixture.find("manifest"); manifest != nullptr) {
    spec.manifest = dir.path() + "/stepgate-manifest.json";
    std::ofstream(spec.manifest, std::ios::binary) << to_json(*manifest);
  }
  spec.kind = fixture.get_string("kind");
  spec.resource = fixture.get_string("resource");
  spec.environment = fixture.get_string("environment");
  spec.change_ticket = fixture.get_string("change_ticket");
  if (spec.manifest.empty() == spec.kind.empty()) {
    return invalid_argument("fixture.ci: give either `manifest` or `kind`");
  }
  if (const Value* attrs = fixture.find("attrs"); attrs != nullptr) {
    if (!attrs->is_map()) return invalid_argument("fixture.ci.attrs: expected a map");
    for (const auto& [k, v] : attrs->as_map()) {
      spec.attr_json.push_back(k + "=" + to_json(v));
    }
  }
  auto input = ci::build_gate_input(spec, ci::detect_ci_context(env), policy, dir.path(), nullptr,
                                    *now, env);
  if (!input.ok()) return invalid_argument("fixture.ci: " + input.error().message);
  FixtureOutput out;
  out.signals = std::move(input->signals);
  out.action = std::move(input->action);
  return out;
}

}  // namespace

Result<FixtureOutput> collect_fixture(const Value& fixture, const Policy& policy) {
  if (!fixture.is_map() || fixture.as_map().size() != 1) {
    return invalid_argument(
        "fixture: expected one of {git: ...}, {claude: ...}, {mcp: ...}, "
        "{ci: ...}");
  }
  const auto& [kind, body] = *fixture.as_map().begin();
  if (kind == "git") {
    auto signals = collect_git(body, policy);
    if (!signals.ok()) return signals.error();
    FixtureOutput out;
    out.signals = std::move(signals).value();
    return out;
  }
  if (kind == "claude") return collect_claude(body, policy);
  if (kind == "mcp") return collect_mcp(body, policy);
  if (kind == "ci") return collect_ci(body, policy);
  return invalid_argument("fixture: unknown kind `" + kind + "` (expected git, claude, mcp, ci)");
}

}  // namespace stepgate
