#include "stepgate/secrets.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <thread>
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
      {"generic-secret-assignment", cat({"passwd=", "Hq7vT2mW9xK4"})},
      {"generic-secret-assignment", cat({"  password: ", "zR8#kW2!pL5q"})},
      {"stripe-secret-key", cat({"STRIPE_KEY=", "sk_", "live_", "4eC39HqLyjWDarjtT1zdp7dc"})},
      {"stripe-secret-key",
       cat({"stripe.api_key = '", "rk_", "live_", "51H8aBcDeFgHiJkLmNoPqRsTu", "'"})},
      {"huggingface-token", cat({"HF_TOKEN=", "hf_", "jKqRvWxYzAbCdEfGhIjKlMnOpQrStUvWxY"})},
      {"huggingface-token", cat({"token = \"", "hf_", "Tq9mZ2xL7kP4wR8vN3bC6yH1jF5dS0gAeU", "\""})},
      {"database-url-password",
       cat({"DATABASE_URL=postgres://app:", "Zk93mQp7Lx", "@db.internal:5432/app"})},
      {"database-url-password", cat({"url = \"mysql://root:", "s3cr3tP4ss9", "@127.0.0.1/shop\""})},
      {"database-url-password",
       cat({"MONGO=mongodb+srv://svc:", "Wq8nR2vX5t", "@cluster0.ab1cd.mongodb.net/x"})},
      {"database-url-password",
       cat({"engine = create_engine('postgresql+psycopg2://u:", "G7hJ2kL9mN", "@h/db')"})},
      {"npm-access-token", cat({"NPM_TOKEN=", "npm_", "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"})},
      {"npm-access-token",
       cat({"//registry.npmjs.org/:_authToken=", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"})},
      {"pypi-token", cat({"password = ", "pypi-", "AgEIcHlwaS5vcmc",
                          "CJDg3ZDVmNTRlLWI2NzctNGMyNS05ZjQ0LTg0ZDU2YjA0NmE1NAACKlsz"})},
      {"google-api-key",
       cat({"const key = \"", "AIza", "SyB3x9QmZ7kL2pR8vN4wT6yH1jF5dS0gAeU", "\";"})},
      {"azure-storage-key",
       cat({"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=",
            "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0hJSktMTU5P",
            "UV==;EndpointSuffix=core.windows.net"})},
      {"private-key", cat({"-----BEGIN ", "ENCRYPTED PRIVATE KEY", "-----"})},
      {"private-key", cat({"-----BEGIN ", "EC PRIVATE KEY", "-----"})},
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
      // Stripe: publishable and test keys are not secrets.
      cat({"pk_", "live_", "4eC39HqLyjWDarjtT1zdp7dc"}),
      cat({"sk_", "test_", "4eC39HqLyjWDarjtT1zdp7dc"}),
      cat({"sk_", "live_", "short"}),
      // Hugging Face: code names, a repeated letter, the wrong length.
      "from huggingface_hub import hf_hub_download",
      cat({"hf_", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}),
      cat({"hf_", "abc123"}),
      // Database URLs without a real password.
      "DATABASE_URL=postgres://localhost:5432/app",
      "DATABASE_URL=postgres://app@db.internal/app",
      "postgres://postgres:postgres@localhost/test",
      "mysql://user:password@localhost/db",
      "mongodb+srv://user:${MONGO_PASSWORD}@cluster0.example.net",
      "redis://:<password>@cache:6379",
      "see https://www.postgresql.org/docs/current/libpq-connect.html",
      // npm / PyPI shapes that are not tokens.
      "npm_config_registry=https://registry.npmjs.org/",
      "//registry.npmjs.org/:_authToken=${NPM_TOKEN}",
      "pip install pypi-simple",
      // Azure: the account name alone, a short key, a placeholder.
      "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<key>",
      "AccountKey=abc==",
      // Password assignments under the entropy floor or from a variable.
      "passwd=aaaaaaaa1",
      "password: ${{ secrets.DB_PASSWORD }}",
      "password = os.environ['DB_PASSWORD']",
      // Google: the prefix in prose.
      "AIza keys are restricted by referrer",
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

namespace stepgate {
namespace {

TEST_CASE("secrets: a compiled scanner with policy rules") {
  SecretRuleSpec acme;
  acme.id = "acme-token";
  acme.regex = R"(\b(acme_[A-Za-z0-9]{20})\b)";
  acme.keywords = {"ACME_"};  // any case: lower-cased when compiled
  acme.entropy = 3.0;
  acme.allow = {"^acme_test"};
  auto scanner = SecretScanner::compile({acme});
  REQUIRE(scanner.ok());
  const SecretScanner& s = **scanner;
  struct Case {
    std::string line;
    std::vector<std::string> rules;
  };
  const std::vector<Case> cases = {
      {cat({"t = ", "acme_", "Zq8Lm2Xv7Kp4Wr9Tn3Bc"}), {"acme-token"}},
      {cat({"t = ", "acme_", "aaaaaaaaaaaaaaaaaaaa"}), {}},  // under the entropy floor
      {cat({"t = ", "acme_", "testZq8Lm2Xv7Kp4Wr9T"}), {}},  // allowed by `allow`
      {cat({"t = ", "acme_", "Zq8Lm2Xv7Kp4Wr9Tn3Bc  # stepgate:allow"}), {}},  // the marker
      {cat({"api_token = \"", "acme_", "Zq8Lm2Xv7Kp4Wr9Tn3Bc", "\""}),
       {"acme-token"}},                                                    // not generic too
      {cat({"k = ", "AKIA", "Q3EGRTY5LWJ7NXZP"}), {"aws-access-key-id"}},  // built-ins still run
  };
  for (const Case& c : cases) {
    CAPTURE(c.line);
    CHECK(rule_ids(s.scan(c.line)) == c.rules);
  }
  SecretScanOptions off;
  off.allow_rules = {"acme-token"};
  CHECK(s.scan(cases[0].line, off).empty());
  CHECK(s.may_contain("xx ACME_ yy"));
  CHECK_FALSE(s.may_contain("nothing here"));
  CHECK(scan_secrets(cases[0].line).empty());  // the built-in scanner does not know the rule
  const auto& rules = s.rules();
  CHECK(std::any_of(rules.begin(), rules.end(), [](const SecretRuleInfo& r) {
    return r.id == "acme-token" && !r.builtin && r.keywords == std::vector<std::string>{"acme_"};
  }));
}

TEST_CASE("secrets: a policy rule without keywords runs on every line; no group: whole match") {
  SecretRuleSpec rule;
  rule.id = "internal-host";
  rule.regex = R"(secret-host-[0-9]{4}\.corp)";
  auto scanner = SecretScanner::compile({rule});
  REQUIRE(scanner.ok());
  auto found = (*scanner)->scan("a\nb secret-host-1234.corp c\n");
  REQUIRE(found.size() == 1);
  CHECK(found[0].line == 2);
  CHECK(found[0].column == 3);
  CHECK(found[0].length == std::string("secret-host-1234.corp").size());
}

TEST_CASE("secrets: check_rule names the key at fault") {
  struct Case {
    SecretRuleSpec spec;
    std::string key;
  };
  const std::vector<Case> cases = {
      {{"x", "", "(unclosed", {"abc"}, 0, {}}, "regex"},
      {{"x", "", "", {"abc"}, 0, {}}, "regex"},
      {{"x", "", "(a)(b)", {"abc"}, 0, {}}, "regex"},
      {{"x", "", "a", {"ab"}, 0, {}}, "keywords"},
      {{"x", "", "a", {"abc"}, 9, {}}, "entropy"},
      {{"x", "", "a", {"abc"}, 0, {"[z-a]"}}, "allow"},
      {{"", "", "a", {"abc"}, 0, {}}, "id"},
      {{"Bad Id", "", "a", {"abc"}, 0, {}}, "id"},
      {{"jwt", "", "a", {"abc"}, 0, {}}, "id"},  // a built-in's id
  };
  for (const Case& c : cases) {
    CAPTURE(c.spec.regex);
    auto errors = SecretScanner::check_rule(c.spec);
    REQUIRE_FALSE(errors.empty());
    CHECK(errors.front().key == c.key);
    CHECK_FALSE(SecretScanner::compile({c.spec}).ok());
  }
  CHECK(SecretScanner::check_rule({"ok", "", "(a)", {"abc"}, 3.5, {"^x"}}).empty());
}

TEST_CASE("secrets: one scanner shared by threads finds the same as one thread") {
  std::string text;
  for (int i = 0; i < 2000; ++i) {
    text += "line " + std::to_string(i) + " token = make_token()\n";
    if (i % 97 == 0) text += cat({"k = ", "AKIA", "Q3EGRTY5LWJ7NXZP"}) + "\n";
  }
  const auto expected = scan_secrets(text);
  REQUIRE_FALSE(expected.empty());
  std::vector<std::size_t> counts(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < counts.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) counts[t] += scan_secrets(text).size();
    });
  }
  for (auto& thread : threads) thread.join();
  for (std::size_t c : counts) CHECK(c == expected.size() * 5);
}

}  // namespace
}  // namespace stepgate
