// The parsed-policy cache: a cached load builds the same policy, a damaged entry falls back to
// the file, and a changed file never meets a stale entry.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "stepgate/engine.h"
#include "stepgate/policy.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

struct CacheDir {
  std::string root;
  CacheDir() {
    std::string t = (fs::temp_directory_path() / "sg-policy-cache-XXXXXX").string();
    root = mkdtemp(t.data());
  }
  ~CacheDir() { fs::remove_all(root); }
  [[nodiscard]] std::string cache() const { return root + "/cache"; }
  [[nodiscard]] int entries() const {
    if (!fs::exists(cache())) return 0;
    return static_cast<int>(std::distance(fs::directory_iterator(cache()), {}));
  }
};

const std::string kPack = std::string(STEPGATE_SOURCE_DIR) + "/policies/git.yaml";

Decision decide(const Policy& policy, bool force) {
  Action a{"git.push", "alice", "origin:refs/heads/main", Map{{"ref", "refs/heads/main"}}};
  Value signals =
      Map{{"force", force}, {"protected", true}, {"delete", false}, {"ref", "refs/heads/main"}};
  return Engine(std::make_shared<Policy>(policy)).evaluate(a, signals);
}

TEST_CASE("a cached load builds the same policy as a parse") {
  CacheDir dir;
  auto parsed = load_policy_file(kPack);
  REQUIRE(parsed.ok());
  auto first = load_policy_file_cached(kPack, dir.cache());  // parses and fills the cache
  REQUIRE(first.ok());
  CHECK(dir.entries() == 1);
  auto second = load_policy_file_cached(kPack, dir.cache());  // from the cache
  REQUIRE(second.ok());
  for (const auto* p : {&**first, &**second}) {
    CHECK(p->revision == (*parsed)->revision);
    CHECK(p->rules.size() == (*parsed)->rules.size());
    CHECK(p->step_up_threshold == (*parsed)->step_up_threshold);
    CHECK(p->git.protected_refs == (*parsed)->git.protected_refs);
    CHECK(p->step_up.max_age == (*parsed)->step_up.max_age);
    for (bool force : {false, true}) {
      Decision want = decide(**parsed, force);
      Decision got = decide(*p, force);
      CHECK(got.verdict == want.verdict);
      CHECK(got.score == want.score);
      CHECK(got.reasons.size() == want.reasons.size());
    }
  }
}

TEST_CASE("a damaged cache entry falls back to the file") {
  CacheDir dir;
  REQUIRE(load_policy_file_cached(kPack, dir.cache()).ok());
  for (const auto& entry : fs::directory_iterator(dir.cache())) {
    std::ofstream(entry.path()) << R"({"rules": [ {"id": )";  // truncated JSON
  }
  auto again = load_policy_file_cached(kPack, dir.cache());
  REQUIRE(again.ok());
  CHECK(decide(**again, true).verdict == Verdict::kStepUp);
}

TEST_CASE("a changed or broken file never meets a stale entry") {
  CacheDir dir;
  const std::string file = dir.root + "/policy.yaml";
  std::ofstream(file) << "version: 1\nrules:\n  - id: a\n    on: \"*\"\n    when: \"true\"\n"
                         "    effect: deny\n    message: no\n";
  auto one = load_policy_file_cached(file, dir.cache());
  REQUIRE(one.ok());
  std::ofstream(file) << "version: 1\nrules:\n  - id: a\n    on: \"*\"\n    when: \"true\"\n"
                         "    score: 1\n    message: fine\n";
  auto two = load_policy_file_cached(file, dir.cache());
  REQUIRE(two.ok());
  CHECK((*two)->revision != (*one)->revision);
  CHECK(decide(**two, false).verdict == Verdict::kAllow);
  std::ofstream(file) << "version: 1\nrulez: []\n";
  auto bad = load_policy_file_cached(file, dir.cache());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("rulez") != std::string::npos);
  CHECK(dir.entries() == 2);  // nothing cached for the broken file
}

}  // namespace
}  // namespace stepgate
