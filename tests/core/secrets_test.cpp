#include "stepgate/secrets.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace stepgate {
namespace {

// Secret-shaped strings are assembled from pieces so this file holds none verbatim (and so push
// protection and scanners do not flag the repository itself).
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out += part;
  return out;
}

std::vector<std::string> rule_ids(const std::vector<SecretFinding>& findings) {
  std::vector<std::string> ids;
  ids.reserve(findings.size());
  for (const SecretFinding& f : findings) ids.push_back(f.rule_id);
  return ids;
}

struct Positive {
  std::string rule;
  std::string line;
};

std::vector<Positive> true_positives() {
  return {
      {"aws-access-key-id", cat({"aws_access_key_id = ", "AKIA", "Q3EGRTY5LWJ7NXZP"})},
      {"aws-access-key-id", cat({"export KEY=", "ASIA", "ZX8Q2MPL4KR7TBNV"})},
      {"aws-secret-access-key",
       cat({"aws_secret_access_key = ", "q8Zr3Lm+Tn7Vx2Kp/", "9WbYc4Hd6Jf1Gs5Ae0Ru3Io"})},
      {"github-token", cat({"GITHUB_TOKEN: ", "ghp_", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"})},
      {"github-token", cat({"t = '", "ghs_", "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8", "'"})},
      {"github-token", cat({"pat=", "github_pat_", "11ABCDEFG0123456789_abcdefghijKLMNOP"})},
      {"gitlab-token", cat({"private-token: ", "glpat-", "x7Kd9Lm2Qp4Rs6Tv8Wz0"})},
      {"slack-token", cat({"SLACK=", "xoxb-", "123456789012-1234567890123-AbCdEfGhIjKl"})},
      {"slack-webhook", cat({"url: https://hooks.slack", ".com/services/",
                             "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"})},
      {"private-key", cat({"-----BEGIN ", "RSA PRIVATE KEY", "-----"})},
      {"private-key", cat({"-----BEGIN ", "OPENSSH PRIVATE KEY", "-----"})},
      {"private-key", cat({"-----BEGIN ", "PRIVATE KEY", "-----"})},
      {"google-api-key", cat({"key: ", "AIza", "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"})},
      {"openai-api-key",
       cat({"OPENAI_API_KEY=", "sk-", "proj-", "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"})},
      {"openai-api-key", cat({"client = OpenAI(api_key=os.getenv('X') or '", "sk-",
                              "T3BlbkFJq8Zr3Lm7Tn2Vx9Kp4Wb6Yc", "')"})},
      {"anthropic-api-key",
       cat({"ANTHROPIC_API_KEY=", "sk-ant-", "api03-Xk9Lm2Qp4Rs6Tv8Wz0Ab3Cd"})},
      {"jwt",
       cat({"Authorization: Bearer ", "eyJhbGciOiJIUzI1NiJ9", ".", "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
            ".", "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"})},
      {"generic-secret-assignment", cat({"db_password = \"", "Tr0ub4dor&3xQ", "\""})},
      {"generic-secret-assignment", cat({"  client_secret: '", "9fK2mQ7zR4tW1xYb", "'"})},
      {"generic-secret-assignment", cat({"API_KEY=", "f9Kq2LmZ8vR4tW1x"})},
      {"generic-secret-assignment", cat({R"("auth_token": ")", "a8F3k9Q2z7L1m4X6", "\","})},
  };
}

TEST_CASE("secrets: every built-in rule finds its true positives") {
  for (const Positive& p : true_positives()) {
    CAPTURE(p.rule);
    auto findings = scan_secrets(p.line);
    auto ids = rule_ids(findings);
    CHECK(std::find(ids.begin(), ids.end(), p.rule) != ids.end());
    CHECK(findings.size() == 1);  // one secret, one finding: no double report by the generic rule
    for (const SecretFinding& f : findings) {
      CHECK(f.line == 1);
      CHECK(f.column >= 1);
      CHECK(f.length > 0);
    }
  }
}

TEST_CASE("secrets: may_contain_secret holds wherever a rule matches") {
  // Every substring of every true positive: the quick check may say yes where no rule matches,
  // never no where one does (it stands in for the scan in audit redaction).
  for (const Positive& p : true_positives()) {
    CAPTURE(p.line);
    REQUIRE(may_contain_secret(p.line));
    for (std::size_t begin = 0; begin < p.line.size(); ++begin) {
      for (std::size_t end = begin + 8; end <= p.line.size(); ++end) {
        const std::string_view piece = std::string_view(p.line).substr(begin, end - begin);
        if (!scan_secrets(piece).empty()) CHECK(may_contain_secret(piece));
      }
    }
  }
  CHECK_FALSE(may_contain_secret("refs/heads/main"));
  CHECK_FALSE(may_contain_secret("sha256:6f6f4aa02764f0aa0484d3e9d598cca2903a776ed5a9445e20e29"));
  CHECK_FALSE(may_contain_secret("src/module_12.py"));
  CHECK(may_contain_secret("My_Api_KEY"));
  CHECK(may_contain_secret("x-TOKEN"));
}

TEST_CASE("secrets: every rule id is listed with a description") {
  for (const Positive& p : true_positives()) {
    const auto& rules = secret_rules();
    CHECK(std::any_of(rules.begin(), rules.end(), [&](const SecretRuleInfo& r) {
      return r.id == p.rule && !r.description.empty();
    }));
  }
}

TEST_CASE("secrets: true negatives") {
  const std::vector<std::string> negatives = {
      "for (int i = 0; i < n; ++i) total += values[i];",
      "password = get_password_from_vault(user)",
      "token = session.refresh_token(user_id)",
      "password = \"changeme123\"",
      "db_password = \"${DB_PASSWORD}\"",
      "secret: \"<your-secret-here>\"",
      "api_key = \"xxxxxxxxxxxxxxxx\"",
      "password = \"aaaaaaaaaaaaaaaa\"",
      "token = \"abababababababab\"",
      "password: \"short\"",
      "API_KEY=your_api_key_here",
      "SECRET=$(cat /run/secrets/app)",
      cat({"aws_access_key_id = ", "AKIA", "IOSFODNN7EXAMPLE"}),  // AWS's documented example
      cat({"aws_secret_access_key = ", "wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY"}),
      "const task-runner = make_task(\"build\");",
      "ghp_short",
      "-----BEGIN PUBLIC KEY-----",
      "-----BEGIN CERTIFICATE-----",
      "sk-aaaaaaaaaaaaaaaaaaaaaaaa",
      "# Refresh the session token before it expires.",
      "",
  };
  for (const std::string& line : negatives) {
    CAPTURE(line);
    CHECK(scan_secrets(line).empty());
  }
}

TEST_CASE("secrets: the stepgate:allow marker and allow_rules") {
  std::string key = cat({"AKIA", "Q3EGRTY5LWJ7NXZP"});
  std::string marked = "fixture = \"" + key + "\"  # stepgate:allow test fixture";
  CHECK(scan_secrets(marked).empty());
  SecretScanOptions no_marker;
  no_marker.honour_allow_marker = false;
  CHECK(scan_secrets(marked, no_marker).size() == 1);
  SecretScanOptions allow;
  allow.allow_rules = {"aws-access-key-id"};
  CHECK(scan_secrets("k = " + key, allow).empty());
}

TEST_CASE("secrets: line and column numbers, CRLF, several findings") {
  std::string key = cat({"AKIA", "Q3EGRTY5LWJ7NXZP"});
  std::string gh = cat({"ghp_", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"});
  std::string text =
      "line one\r\nline two\r\n  id = " + key + "\r\nok\n" + gh + " and " + key + "\n";
  auto findings = scan_secrets(text);
  REQUIRE(findings.size() == 3);
  CHECK(findings[0].rule_id == "aws-access-key-id");
  CHECK(findings[0].line == 3);
  CHECK(findings[0].column == 8);
  CHECK(findings[0].length == key.size());
  std::vector<int> lines;
  lines.reserve(findings.size());
  for (const auto& f : findings) lines.push_back(f.line);
  CHECK(std::count(lines.begin(), lines.end(), 5) == 2);
}

TEST_CASE("secrets: redact_text replaces every secret and nothing else") {
  std::string key = cat({"AKIA", "Q3EGRTY5LWJ7NXZP"});
  std::string jwt =
      cat({"eyJhbGciOiJIUzI1NiJ9", ".", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", ".", "sig_abc"});
  std::string text =
      "a=" + key + "\nplain text\nAuthorization: Bearer " + jwt + " # stepgate:allow\n";
  std::string out = redact_text(text);
  CHECK(out ==
        "a=[REDACTED:aws-access-key-id]\nplain text\nAuthorization: Bearer "
        "[REDACTED:jwt] # stepgate:allow\n");
  CHECK(redact_text("nothing secret here") == "nothing secret here");
  CHECK(redact_text("") == "");
}

TEST_CASE("secrets: shannon_entropy") {
  CHECK(shannon_entropy("") == doctest::Approx(0.0));
  CHECK(shannon_entropy("aaaa") == doctest::Approx(0.0));
  CHECK(shannon_entropy("abab") == doctest::Approx(1.0));
  CHECK(shannon_entropy("abcdefgh") == doctest::Approx(3.0));
  CHECK(shannon_entropy("0123456789abcdef") == doctest::Approx(4.0));
}

}  // namespace
}  // namespace stepgate
