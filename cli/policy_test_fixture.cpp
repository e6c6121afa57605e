#include "policy_test_fixture.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "git_signals.h"
#include "subprocess.h"

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

}  // namespace

Result<Value> collect_fixture_signals(const Value& fixture, const Policy& policy) {
  if (!fixture.is_map() || fixture.as_map().size() != 1) {
    return invalid_argument("fixture: expected one of {git: {...}}");
  }
  if (const Value* git = fixture.find("git")) return collect_git(*git, policy);
  return invalid_argument("fixture: unknown kind `" + fixture.as_map().begin()->first +
                          "` (expected git)");
}

}  // namespace stepgate
