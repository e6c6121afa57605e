// `stepgate scan` baselines (#23): a finding written then read back is accepted, and the file
// holds no fast hash of the secret (the old format's truncated SHA-256 let a weak secret be
// guessed offline from a committed baseline).
#include "scan_baseline.h"

#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "../core/test_util.h"
#include "stepgate/crypto.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

const BaselineFinding kWeak{"password-assignment", "app/config.py", "hunter22", 3, 12, ""};
const BaselineFinding kToken{
    "github-token",    "ci/deploy.sh", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", 7, 5,
    "0123456789abcdef"};

TEST_CASE("scan baseline: written, read back, accepts its findings and nothing else") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/baseline.json";
  auto baseline = ScanBaseline::create();
  REQUIRE(baseline.ok());
  REQUIRE(baseline->add(kWeak).ok());
  REQUIRE(baseline->add(kToken).ok());
  std::ofstream(path) << baseline->to_json_text();

  auto read = ScanBaseline::read(path);
  REQUIRE_MESSAGE(read.ok(), read.error().message);
  CHECK(read->size() == 2);
  BaselineFinding moved = kWeak;  // the same secret on another line is the same finding
  moved.line = 40;
  struct Case {
    const char* what;
    BaselineFinding finding;
    bool accepted;
  };
  const Case cases[] = {
      {"the weak secret", kWeak, true},
      {"the token", kToken, true},
      {"the weak secret, moved", moved, true},
      {"another secret in the same place", {kWeak.rule, kWeak.path, "hunter23", 3, 12, ""}, false},
      {"the secret in another file", {kWeak.rule, "app/other.py", kWeak.secret, 3, 12, ""}, false},
      {"the secret under another rule",
       {"generic-api-key", kWeak.path, kWeak.secret, 3, 12, ""},
       false},
  };
  std::vector<BaselineFinding> all;
  std::vector<bool> want;
  for (const Case& c : cases) {
    CAPTURE(c.what);
    CHECK(read->accepts(c.finding) == c.accepted);
    all.push_back(c.finding);
    want.push_back(c.accepted);
  }
  // The same answers with the derivations spread over threads, and from a baseline whose
  // findings were added that way.
  CHECK(read->accepts_each(all) == want);
  auto parallel = ScanBaseline::create();
  REQUIRE(parallel.ok());
  REQUIRE(parallel->add_each({kWeak, kToken, kWeak}).ok());
  std::ofstream(path, std::ios::trunc) << parallel->to_json_text();
  auto reread = ScanBaseline::read(path);
  REQUIRE(reread.ok());
  CHECK(reread->size() == 3);
  CHECK(reread->accepts_each(all) == want);
}

TEST_CASE("scan baseline: the file holds neither the secret nor a plain hash of it") {
  auto baseline = ScanBaseline::create();
  REQUIRE(baseline.ok());
  REQUIRE(baseline->add(kWeak).ok());
  const std::string text = baseline->to_json_text();
  const std::string input = kWeak.rule + '\0' + kWeak.path + '\0' + kWeak.secret;
  const std::string forbidden[] = {
      kWeak.secret,
      sha256_hex(input).substr(0, 32),  // the old fingerprint
      sha256_hex(kWeak.secret).substr(0, 16),
      base64url_encode(sha256(input)).substr(0, 16),
      base64url_encode(sha256(kWeak.secret)).substr(0, 16),
  };
  for (const std::string& f : forbidden) {
    CAPTURE(f);
    CHECK(text.find(f) == std::string::npos);
  }
  auto doc = parse_json(text);
  REQUIRE(doc.ok());
  const Value& kdf = *doc->find("fingerprint");
  CHECK(kdf.get_string("kdf") == "pbkdf2-hmac-sha256");
  CHECK(kdf.find("iterations")->as_int() == kBaselineIterations);
  // Two baselines of the same finding share no fingerprint: the salt is per file.
  auto other = ScanBaseline::create();
  REQUIRE(other.ok());
  REQUIRE(other->add(kWeak).ok());
  auto other_doc = parse_json(other->to_json_text());
  REQUIRE(other_doc.ok());
  const auto print = [](const Value& d) {
    return d.find("findings")->as_list().at(0).get_string("fingerprint");
  };
  CHECK(print(*doc).size() == 43);  // 32 bytes, base64url
  CHECK(print(*doc) != print(*other_doc));
}

struct BadCase {
  const char* text;
  const char* error;
};

TEST_CASE("scan baseline: old and malformed files are refused with what to do") {
  const std::string salt = base64url_encode(Bytes(16, 7));
  const std::string kdf = R"("fingerprint": {"kdf": "pbkdf2-hmac-sha256", "salt": ")" + salt + "\"";
  const BadCase cases[] = {
      {R"({"version": 1, "findings": [{"rule": "r", "path": "p", "fingerprint": "0123"}]})",
       "written by an older stepgate: its fingerprints are plain SHA-256 hashes"},
      {R"({"nope": []})", "an object with a `findings` list"},
      {"[1, 2]", "an object with a `findings` list"},
      {R"({"version": 2, "fingerprint": {"kdf": "md5"}, "findings": []})", "key `fingerprint.kdf`"},
      {R"({"version": 2, "fingerprint": {"kdf": "pbkdf2-hmac-sha256", "iterations": 1000,
           "salt": "AAAA"}, "findings": []})",
       "key `fingerprint.iterations`: must be an integer from 100000"},
      {R"({"version": 2, "fingerprint": {"kdf": "pbkdf2-hmac-sha256", "iterations": 2000000000,
           "salt": "AAAA"}, "findings": []})",
       "key `fingerprint.iterations`"},
      {R"({"version": 2, "fingerprint": {"kdf": "pbkdf2-hmac-sha256", "iterations": 200000,
           "salt": "AAAA"}, "findings": []})",
       "key `fingerprint.salt`"},
  };
  testing::TempDir dir;
  const std::string path = dir.path() + "/b.json";
  for (const BadCase& c : cases) {
    CAPTURE(c.text);
    std::ofstream(path, std::ios::trunc) << c.text;
    auto read = ScanBaseline::read(path);
    REQUIRE_FALSE(read.ok());
    CHECK(read.error().code == ErrorCode::kInvalidArgument);
    CHECK(read.error().message.find(path + ": ") == 0);
    CHECK(read.error().message.find(c.error) != std::string::npos);
  }
  std::ofstream(path, std::ios::trunc)
      << "{\"version\": 2, " << kdf << R"(, "iterations": 200000}, "findings": [{"rule": "r"}]})";
  auto read = ScanBaseline::read(path);
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().message.find("every finding needs `rule`, `path` and `fingerprint`") !=
        std::string::npos);
}

}  // namespace
}  // namespace stepgate
