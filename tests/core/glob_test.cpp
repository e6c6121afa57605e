#include "stepgate/glob.h"

#include <doctest/doctest.h>

#include <string>

namespace stepgate {
namespace {

struct GlobCase {
  const char* pattern;
  const char* text;
  bool match;
};

constexpr GlobCase kGlobCases[] = {
    // literals
    {"git.push", "git.push", true},
    {"git.push", "git.pushx", false},
    {"", "", true},
    {"", "a", false},
    // `*` stays inside one path segment; '.' is ordinary
    {"*", "", true},
    {"*", "anything", true},
    {"*", "a/b", false},
    {"git.*", "git.push", true},
    {"git.*", "git.", true},
    {"git.*", "model.deploy", false},
    {"*.onnx", "m.onnx", true},
    {"*.onnx", "models/m.onnx", false},
    {"src/*.cc", "src/a.cc", true},
    {"src/*.cc", "src/a/b.cc", false},
    {"a*b*c", "axxbyyc", true},
    {"a*b*c", "axxbyy", false},
    {"a*b", "a/b", false},
    {"*/*", "a/b", true},
    {"*/*", "a/b/c", false},
    // `**` crosses segments
    {"**", "a/b/c", true},
    {"**", "", true},
    {"refs/heads/release/**", "refs/heads/release/1.2", true},
    {"refs/heads/release/**", "refs/heads/release/x/y", true},
    {"refs/heads/release/**", "refs/heads/release", false},
    {"refs/tags/**", "refs/heads/main", false},
    {"src/**.cc", "src/a/b/c.cc", true},
    {"src/**/test", "src/a/b/test", true},
    // `**/` also matches no directory at all
    {"**/.env", ".env", true},
    {"**/.env", "app/config/.env", true},
    {"**/.env", "app/x.env", false},
    {"**/*.pem", "certs/server.pem", true},
    {"**/*.pem", "server.pem", true},
    {"/etc/**", "/etc/passwd", true},
    {"~/.ssh/**", "~/.ssh/id_rsa", true},
    {"**/id_rsa*", "/home/u/.ssh/id_rsa.pub", true},
    {".github/workflows/**", ".github/workflows/ci.yml", true},
    {".github/workflows/**", ".github/CODEOWNERS", false},
    // `?`
    {"v?", "v1", true},
    {"v?", "v", false},
    {"v?", "v12", false},
    {"a?b", "a/b", false},
    {"??", "ab", true},
    // mixed
    {"**/m*.onnx", "models/v1/m1.onnx", true},
    {"**/m*.onnx", "models/v1/x/m.onnx", true},
    {"**/m*.onnx", "models/mx/y.onnx", false},
    {"a/**/b/*", "a/x/y/b/z", true},
    {"a/**/b/*", "a/x/y/b/z/w", false},
    // literal runs must appear in order (checked before the NFA), split at `/` for `**/`
    {"**/testdata/**", "testdata/x.json", true},
    {"**/testdata/**", "pkg/testdata/x.json", true},
    {"**/testdata/**", "pkg/test/data/x.json", false},
    {"**/testdata/**", "pkg/testdatax/y", false},
    {"*.example", ".env.example", true},
    {"*.example", "example", false},
    {"**/b*a*c", "x/bac", true},
    {"**/b*a*c", "x/cab", false},
    {"**/ab/ab", "ab/ab", true},
    {"**/ab/ab", "x/abab", false},
};

TEST_CASE("glob table") {
  for (const GlobCase& c : kGlobCases) {
    std::string pattern = c.pattern;
    std::string text = c.text;
    CAPTURE(pattern);
    CAPTURE(text);
    CHECK(glob_match(c.pattern, c.text) == c.match);
  }
}

TEST_CASE("glob does not blow up on pathological patterns") {
  std::string pattern;
  for (int i = 0; i < 30; ++i) pattern += "*a";
  pattern += "b";
  std::string text(5000, 'a');
  CHECK_FALSE(glob_match(pattern, text));  // exponential with naive backtracking

  std::string stars;
  for (int i = 0; i < 30; ++i) stars += "**a";
  CHECK(glob_match(stars, std::string(100, 'a')));
  CHECK_FALSE(glob_match(stars + "c", std::string(5000, 'a')));

  std::string long_pattern(1000, '?');  // wider than the on-stack state buffer
  CHECK(glob_match(long_pattern, std::string(1000, 'x')));
  CHECK_FALSE(glob_match(long_pattern, std::string(999, 'x')));
}

}  // namespace
}  // namespace stepgate
