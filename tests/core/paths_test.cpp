#include "stepgate/paths.h"

#include <doctest/doctest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "test_util.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

// Sets (or unsets, with nullopt) an environment variable for a scope, then restores it.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> saved;
  ScopedEnv(const char* n, std::optional<std::string> value) : name(n) {
    if (const char* old = std::getenv(n)) saved = old;
    if (value)
      setenv(n, value->c_str(), 1);
    else
      unsetenv(n);
  }
  ~ScopedEnv() {
    if (saved)
      setenv(name.c_str(), saved->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

const char* const kPathVars[] = {"HOME",
                                 "STEPGATE_HOME",
                                 "XDG_CONFIG_HOME",
                                 "XDG_STATE_HOME",
                                 "STEPGATE_CONFIG_DIR",
                                 "STEPGATE_STATE_DIR",
                                 "STEPGATE_SECRETS_DIR",
                                 "STEPGATE_AUDIT"};

// Sets every path variable at once: values[i] for kPathVars[i] (nullptr unsets).
struct PathEnv {
  std::vector<std::unique_ptr<ScopedEnv>> vars;
  explicit PathEnv(const std::vector<const char*>& values) {
    for (std::size_t i = 0; i < std::size(kPathVars); ++i) {
      const char* v = i < values.size() ? values[i] : nullptr;
      vars.push_back(std::make_unique<ScopedEnv>(
          kPathVars[i], v != nullptr ? std::optional<std::string>(v) : std::nullopt));
    }
  }
};

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

TEST_CASE("paths: from_environment precedence (overrides, STEPGATE_HOME, XDG, HOME)") {
  struct Row {
    const char* what;
    std::vector<const char*> env;  // values for kPathVars, in order
    const char *config, *state, *secrets, *audit;
  };
  // clang-format off
  const Row rows[] = {
      {"HOME only", {"/h"},
       "/h/.config/stepgate", "/h/.local/state/stepgate", "/h/.config/stepgate", "/h/.local/state/stepgate/audit.jsonl"},
      {"XDG dirs", {"/h", nullptr, "/xc", "/xs"},
       "/xc/stepgate", "/xs/stepgate", "/xc/stepgate", "/xs/stepgate/audit.jsonl"},
      {"STEPGATE_HOME beats XDG", {"/h", "/sg", "/xc", "/xs"},
       "/sg/config", "/sg/state", "/sg/config", "/sg/state/audit.jsonl"},
      {"per-dir overrides beat all", {"/h", "/sg", "/xc", "/xs", "/c", "/s", "/k", "/a.jsonl"},
       "/c", "/s", "/k", "/a.jsonl"},
      {"config override only", {"/h", "/sg", nullptr, nullptr, "/c"},
       "/c", "/sg/state", "/c", "/sg/state/audit.jsonl"},
      {"state override only", {"/h", nullptr, "/xc", nullptr, nullptr, "/s"},
       "/xc/stepgate", "/s", "/xc/stepgate", "/s/audit.jsonl"},
      {"secrets and audit only", {"/h", "/sg", nullptr, nullptr, nullptr, nullptr, "/k", "/a"},
       "/sg/config", "/sg/state", "/k", "/a"},
      {"empty values count as unset", {"/h", "", "", "", "", "", "", ""},
       "/h/.config/stepgate", "/h/.local/state/stepgate", "/h/.config/stepgate", "/h/.local/state/stepgate/audit.jsonl"},
  };
  // clang-format on
  for (const Row& row : rows) {
    CAPTURE(row.what);
    PathEnv env(row.env);
    const Paths p = Paths::from_environment(Env());
    CHECK(p.config_dir == row.config);
    CHECK(p.state_dir == row.state);
    CHECK(p.secrets_dir == row.secrets);
    CHECK(p.state_db == std::string(row.state) + "/state.db");
    CHECK(p.audit_log == row.audit);
  }
}

TEST_CASE("paths: default_actor is $STEPGATE_ACTOR, else the OS user") {
  {
    ScopedEnv actor("STEPGATE_ACTOR", "ci-bot");
    CHECK(default_actor() == "ci-bot");
  }
  ScopedEnv actor("STEPGATE_ACTOR", std::nullopt);
  ScopedEnv user("USER", "not-the-passwd-name");
  const std::string os = os_user_name();
  CHECK(default_actor() == os);
  // The test runs as a user in the password database: its name wins over $USER.
  const passwd* pw = getpwuid(geteuid());
  REQUIRE(pw != nullptr);
  CHECK(os == pw->pw_name);
}

TEST_CASE("paths: shell_quote keeps plain words and quotes the rest as one word") {
  CHECK(shell_quote("/usr/local/bin/stepgate-claude-hook") ==
        "/usr/local/bin/stepgate-claude-hook");
  CHECK(shell_quote("/home/me/my tools/hook") == "'/home/me/my tools/hook'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("$(rm -rf ~)") == "'$(rm -rf ~)'");
  CHECK(shell_quote("") == "''");
  CHECK(shell_quote("/plain", true) == "'/plain'");
}

TEST_CASE("paths: find_policy_path gives the settings layer (the user's before a repository's)") {
  TempDir dir;
  const std::string repo = dir.path() + "/repo";
  const std::string nested = repo + "/a/b/c";
  const std::string elsewhere = dir.path() + "/elsewhere/x";
  const std::string sg_home = dir.path() + "/home";
  const std::string repo_policy = repo + "/.stepgate/policy.yaml";
  const std::string env_policy = dir.path() + "/env-policy.yaml";
  const std::string explicit_policy = dir.path() + "/explicit.yaml";
  const std::string config_policy = sg_home + "/config/policy.yaml";
  fs::create_directories(nested);
  fs::create_directories(elsewhere);
  for (const std::string& p : {repo_policy, env_policy, explicit_policy})
    write_text(p, "version: 1\n");
  const std::string missing = dir.path() + "/missing.yaml";

  struct Row {
    const char* what;
    std::string explicit_path, cwd;
    std::optional<std::string> env_policy;
    bool config_exists;
    std::optional<std::string> expected;  // nullopt: kNotFound
  };
  const Row rows[] = {
      {"explicit wins", explicit_policy, nested, env_policy, true, explicit_policy},
      {"explicit missing is an error", missing, nested, env_policy, true, std::nullopt},
      // A repository's file never replaces the user's: it is a lower layer (policy_layers.h).
      {"STEPGATE_POLICY inside a repo", "", nested, env_policy, true, env_policy},
      {"config dir inside a repo", "", nested, std::nullopt, true, config_policy},
      {"repo found upward when the user has none", "", nested, std::nullopt, false, repo_policy},
      {"repo found from its root", "", repo, std::nullopt, false, repo_policy},
      {"STEPGATE_POLICY outside a repo", "", elsewhere, env_policy, true, env_policy},
      {"STEPGATE_POLICY missing is an error", "", elsewhere, missing, true, std::nullopt},
      {"config dir last", "", elsewhere, std::nullopt, true, config_policy},
      {"nothing found", "", elsewhere, std::nullopt, false, std::nullopt},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    PathEnv env({"/nonexistent-home", sg_home.c_str()});
    ScopedEnv policy_env("STEPGATE_POLICY", row.env_policy);
    std::error_code ec;
    fs::remove(config_policy, ec);
    if (row.config_exists) write_text(config_policy, "version: 1\n");
    Result<std::string> found = find_policy_path(row.explicit_path, row.cwd);
    if (row.expected) {
      REQUIRE_MESSAGE(found.ok(), (found.ok() ? "" : found.error().message));
      CHECK(fs::equivalent(*found, *row.expected));
    } else {
      REQUIRE_FALSE(found.ok());
      CHECK(found.error().code == ErrorCode::kNotFound);
    }
  }
}

TEST_CASE("paths: ensure_private_dir creates 0700 directories, parents included") {
  TempDir dir;
  const std::string leaf = dir.path() + "/a/b/c";
  REQUIRE(ensure_private_dir(leaf).ok());
  for (const std::string& p : {dir.path() + "/a", dir.path() + "/a/b", leaf}) {
    CAPTURE(p);
    CHECK(fs::is_directory(p));
    CHECK(mode_of(p) == 0700);
  }
  CHECK(ensure_private_dir(leaf).ok());  // existing: fine
}

TEST_CASE("paths: write_secret_file is 0600 in a 0700 dir and read_secret_file round-trips") {
  TempDir dir;
  const std::string path = dir.path() + "/secrets/totp.key";
  const std::string contents[] = {"JBSWY3DPEHPK3PXP", std::string("a\0b\nc", 5), "",
                                  std::string(100000, 'x'), "second write replaces"};
  for (const std::string& text : contents) {
    CAPTURE(text.size());
    REQUIRE(write_secret_file(path, text).ok());
    CHECK(mode_of(path) == 0600);
    CHECK(mode_of(dir.path() + "/secrets") == 0700);
    Result<std::string> back = read_secret_file(path);
    REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.error().message));
    CHECK(*back == text);
  }
  std::vector<std::string> leftovers;
  for (const auto& e : fs::directory_iterator(dir.path() + "/secrets"))
    leftovers.push_back(e.path().filename().string());
  CHECK(leftovers == std::vector<std::string>{"totp.key"});  // no temp files left
}

TEST_CASE("paths: read_secret_file refuses group/other access with a chmod hint") {
  TempDir dir;
  const std::string path = dir.path() + "/secret";
  write_text(path, "s3cret");
  struct Row {
    mode_t mode;
    bool accepted;
  };
  const Row rows[] = {{0600, true},  {0400, true},  {0644, false}, {0640, false},
                      {0604, false}, {0660, false}, {0602, false}, {0610, false}};
  for (const Row& row : rows) {
    CAPTURE(row.mode);
    REQUIRE(::chmod(path.c_str(), row.mode) == 0);
    Result<std::string> r = read_secret_file(path);
    CHECK(r.ok() == row.accepted);
    if (row.accepted) {
      CHECK(*r == "s3cret");
    } else {
      CHECK(r.error().code == ErrorCode::kPermissionDenied);
      CHECK(r.error().message.find("chmod 600") != std::string::npos);
      CHECK(r.error().message.find("s3cret") == std::string::npos);
    }
  }
  Result<std::string> missing = read_secret_file(dir.path() + "/none");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
}

TEST_CASE("paths: read_file honours its size limit") {
  TempDir dir;
  struct Row {
    std::size_t size, limit;
    bool ok;
  };
  const Row rows[] = {{0, 0, true},           {100, 100, true},        {100, 99, false},
                      {200000, 200000, true}, {200000, 150000, false}, {200000, 70000, false}};
  for (const Row& row : rows) {
    CAPTURE(row.size);
    CAPTURE(row.limit);
    const std::string path = dir.path() + "/f" + std::to_string(row.size);
    write_text(path, std::string(row.size, 'z'));
    Result<std::string> r = read_file(path, row.limit);
    REQUIRE(r.ok() == row.ok);
    if (row.ok)
      CHECK(r->size() == row.size);
    else
      CHECK(r.error().code == ErrorCode::kResourceExhausted);
  }
  Result<std::string> missing = read_file(dir.path() + "/none");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
}

}  // namespace
}  // namespace stepgate
