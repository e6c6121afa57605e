// The engine–collector contract for the git collector, on a real repository built with the git
// CLI: it emits exactly the registry's git signals; a signal a rule reads is produced; the diff
// and secret scans are skipped when no rule reads what they find (their signals keep the empty
// defaults); a rule reading the whole signals map demands everything.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "../core/test_util.h"
#include "git_signals.h"
#include "push_parser.h"
#include "stepgate/engine.h"
#include "stepgate/signal_demand.h"
#include "stepgate/signals.h"

namespace stepgate {
namespace {

const char* const kScanSignals[] = {
    "files_changed",     "lines_added",      "lines_deleted",  "paths",
    "secrets",           "secret_findings",  "large_files",    "model_artifacts",
    "ci_config_changed", "unsigned_commits", "foreign_authors"};

std::set<std::string> declared_git_signals() {
  std::set<std::string> out;
  for (const SignalSpec* spec : SignalRegistry::builtin().for_kind("git.push")) {
    if (spec->collector == "git") out.insert(spec->name);
  }
  return out;
}

std::set<std::string> keys_of(const Value& signals) {
  std::set<std::string> out;
  for (const auto& [name, value] : signals.as_map()) out.insert(name);
  return out;
}

void run(const std::string& command) {
  REQUIRE_MESSAGE(std::system(command.c_str()) == 0, command);
}

/// A repository whose one pushed commit has something for every scan signal: a secret, a model
/// file, a CI workflow, a large file, an unsigned commit by another author.
struct PushFixture {
  testing::TempDir dir;
  std::string repo = dir.path() + "/repo";
  std::string tip;

  PushFixture() {
    run("git init -q -b main '" + repo + "'");
    const std::string git = "git -C '" + repo +
                            "' -c user.name=Other -c user.email=other@example.com "
                            "-c commit.gpgsign=false ";
    write("README", "hello\n");
    run(git + "add -A && " + git + "commit -q -m base");
    // Assembled here so no scanner flags this source file.
    write("config.py", std::string("KEY = \"AKIA") + "QX7R2M4T9W3Y6B8N\"\nx = 1\n");
    write("model.onnx", "weights");
    write(".github/workflows/ci.yml", "on: push\n");
    write("big.bin", std::string(2048, 'b'));
    write("README", "bye\n");
    run(git + "add -A && " + git + "commit -q -m change");
    tip = rev_parse("HEAD");
  }
  void write(const std::string& path, const std::string& text) const {
    const std::filesystem::path full = std::filesystem::path(repo) / path;
    std::filesystem::create_directories(full.parent_path());
    std::ofstream(full) << text;
  }

  /// The signals of pushing the new commit onto the base (what the remote has).
  Value collect(const SignalDemand* demand) const {
    auto opened = GitRepo::open_at(repo);
    REQUIRE(opened.ok());
    GitSettings settings;
    settings.large_file_bytes = 1024;
    PushScanOptions options;
    options.settings = &settings;
    options.pusher_email = "dev@example.com";
    options.demand = demand;
    RefUpdate update;
    update.local_ref = "refs/heads/main";
    update.local_sha = tip;
    update.remote_ref = "refs/heads/main";
    update.remote_sha = base();
    PushSignals out;
    REQUIRE((*opened)->collect(update, options, out).ok());
    return out.signals;
  }
  std::string base() const { return rev_parse("HEAD~1"); }
  std::string rev_parse(const std::string& rev) const {
    std::string line;
    FILE* p = ::popen(("git -C '" + repo + "' rev-parse " + rev).c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, p) != nullptr) line = buf;
    ::pclose(p);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    return line;
  }
};

bool is_default(const Value& v) {
  if (v.is_list()) return v.as_list().empty();
  if (v.is_bool()) return !v.as_bool();
  if (v.is_int()) return v.as_int() == 0;
  return false;
}

TEST_CASE("contract: the git collector emits exactly the registry's git signals, on demand") {
  PushFixture push;
  const Value full = push.collect(nullptr);
  CHECK(keys_of(full) == declared_git_signals());
  for (const char* name : kScanSignals) {
    CAPTURE(name);
    REQUIRE(full.find(name) != nullptr);
    CHECK_FALSE(is_default(*full.find(name)));  // the fixture gives each scan signal a value
  }

  // Each signal is produced when a rule reads it (alone).
  for (const std::string& name : declared_git_signals()) {
    CAPTURE(name);
    const SignalDemand one{false, {name}};
    const Value got = push.collect(&one);
    CHECK(keys_of(got) == declared_git_signals());
    CHECK(*got.find(name) == *full.find(name));
  }

  // Read by no rule: no diff, no secret scan; the signals keep their empty defaults.
  const SignalDemand cheap{false, {"force", "protected"}};
  const Value skipped = push.collect(&cheap);
  CHECK(keys_of(skipped) == declared_git_signals());
  for (const char* name : kScanSignals) {
    CAPTURE(name);
    CHECK(is_default(*skipped.find(name)));
  }
  CHECK(*skipped.find("commits") == *full.find("commits"));

  // The diff without the secret scan.
  const SignalDemand no_secrets{false, {"lines_added", "paths"}};
  const Value diffed = push.collect(&no_secrets);
  CHECK(*diffed.find("lines_added") == *full.find("lines_added"));
  CHECK(diffed.find("secrets")->as_list().empty());
  CHECK(diffed.find("secret_findings")->as_list().empty());

  // A rule that reads the whole map demands everything.
  auto policy = std::make_shared<Policy>();
  Rule rule;
  rule.id = "all";
  rule.on = "git.push";
  rule.when = *Expression::compile("size(signals) > 100");
  rule.score = 1;
  policy->rules.push_back(rule);
  const SignalDemand all = signals_read(Engine(policy), "git.push");
  CHECK(all.all);
  CHECK(push.collect(&all) == full);
}

}  // namespace
}  // namespace stepgate
