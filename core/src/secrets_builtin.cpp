// The built-in secret rules: each pattern, the literals that let a line skip it, and the checks
// that tell a credential from a placeholder.
#include "secrets_builtin.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>

#include "stepgate/secrets.h"

namespace stepgate::secrets_detail {
namespace {

bool contains_ci(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char a, char b) {
                       return std::tolower(static_cast<unsigned char>(a)) ==
                              std::tolower(static_cast<unsigned char>(b));
                     }) != haystack.end();
}

// AWS documents its example credentials with "EXAMPLE" in them; they are not secrets.
bool not_aws_example(std::string_view value) {
  return !contains_ci(value, "EXAMPLE");
}

bool aws_secret_value(std::string_view value) {
  return not_aws_example(value) && shannon_entropy(value) >= 3.5;
}

bool openai_value(std::string_view value) {
  // RE2 has no look-ahead: Anthropic keys also start with "sk-" and have their own rule.
  return value.substr(0, 7) != "sk-ant-" && shannon_entropy(value) >= 3.0;
}

// Fixed-format tokens: a run of one repeated letter is a placeholder, a real one is random.
bool random_value(std::string_view value) {
  return shannon_entropy(value) >= 3.0 && !is_placeholder(value);
}

// 3.5 bits/char is out of reach for short strings (8 distinct bytes give 3.0), so the bar
// scales with the length: log2(len) - 0.5, capped at 3.5.
bool generic_value(std::string_view value) {
  if (value.size() < 8 || is_placeholder(value)) return false;
  double bar = std::min(3.5, std::log2(static_cast<double>(value.size())) - 0.5);
  return shannon_entropy(value) >= bar;
}

bool generic_unquoted_value(std::string_view value) {
  bool digit = std::any_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
  bool alpha = std::any_of(value.begin(), value.end(),
                           [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
  return digit && alpha && generic_value(value);
}

/// Passwords that documentation and local development set-ups use: not worth a finding.
constexpr std::array<std::string_view, 14> kDefaultPasswords = {
    "password", "passwd", "pass", "pwd",  "secret", "postgres", "root",
    "mysql",    "admin",  "test", "user", "guest",  "mongo",    "redis"};

bool database_password(std::string_view value) {
  if (is_placeholder(value)) return false;
  return std::none_of(kDefaultPasswords.begin(), kDefaultPasswords.end(),
                      [&](std::string_view word) {
                        return value.size() == word.size() && contains_ci(value, word);
                      });
}

bool azure_key_value(std::string_view value) {
  return shannon_entropy(value) >= 4.0;
}

#define SG_KEYWORDS                                                              \
  "password|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|" \
  "private[_-]?key|credentials?"
// One literal each of SG_KEYWORDS' alternatives holds ("key" for every *key, "passw" for both
// password spellings).
#define SG_KEYWORD_LITERALS "passw|secret|token|key|credential"

const std::vector<BuiltinRule> kRules = {
    {"aws-access-key-id", "AWS access key id (AKIA/ASIA...)", R"(\b((?:AKIA|ASIA)[0-9A-Z]{16})\b)",
     "akia|asia", not_aws_example, false},
    {"aws-secret-access-key", "AWS secret access key in an assignment",
     R"((?i:aws)[A-Za-z0-9_.\-]{0,20}(?i:secret|sk)[A-Za-z0-9_.\-]{0,20}["']?\s*(?::=|=>|=|:)\s*["']?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$))",
     "aws", aws_secret_value, false},
    {"github-token", "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_)",
     R"(\b(gh[pousr]_[A-Za-z0-9]{36,255})\b)", "ghp_|gho_|ghu_|ghs_|ghr_", nullptr, false},
    {"github-token", "GitHub fine-grained token (github_pat_)",
     R"(\b(github_pat_[A-Za-z0-9_]{22,255}))", "github_pat_", nullptr, false},
    {"gitlab-token", "GitLab personal access token (glpat-)", R"(\b(glpat-[A-Za-z0-9_\-]{20,}))",
     "glpat-", nullptr, false},
    {"slack-token", "Slack token (xoxb-, xoxa-, xoxp-, xoxr-, xoxs-)",
     R"(\b(xox[baprs]-[A-Za-z0-9\-]{10,}))", "xoxb-|xoxa-|xoxp-|xoxr-|xoxs-", nullptr, false},
    {"slack-webhook", "Slack incoming webhook URL",
     R"((https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_\-]{20,}))",
     "hooks.slack.com", nullptr, false},
    {"private-key",
     "Private key block: PKCS#8 (BEGIN PRIVATE KEY, BEGIN ENCRYPTED PRIVATE KEY), PKCS#1 RSA, EC, "
     "DSA, OpenSSH, PGP",
     R"((-----BEGIN[ A-Z0-9_\-]{0,100}PRIVATE KEY(?: BLOCK)?-----))", "private key", nullptr,
     false},
    {"google-api-key", "Google API key (AIza...)", R"(\b(AIza[0-9A-Za-z_\-]{35}))", "aiza", nullptr,
     false},
    {"stripe-secret-key", "Stripe live secret or restricted key (sk_live_, rk_live_)",
     R"(\b((?:sk|rk)_live_[0-9A-Za-z]{24,247})\b)", "sk_live_|rk_live_", random_value, false},
    {"huggingface-token", "Hugging Face access token (hf_..., api_org_...)",
     R"(\b((?:hf_|api_org_)[A-Za-z0-9]{34})\b)", "hf_|api_org_", random_value, false},
    {"npm-access-token", "npm access token (npm_...)", R"(\b(npm_[A-Za-z0-9]{36})\b)", "npm_",
     random_value, false},
    {"npm-access-token", "npm auth token in an .npmrc (:_authToken=)",
     R"(:_(?i:authToken)\s*=\s*["']?([A-Za-z0-9_\-.]{20,}))", "_authtoken", random_value, false},
    {"pypi-token", "PyPI upload token (pypi-AgEIcHlwaS5vcmc...)",
     R"(\b(pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,}))", "pypi-ag",
     nullptr, false},
    {"azure-storage-key", "Azure storage account key (AccountKey=... in a connection string)",
     R"((?i:AccountKey)\s*=\s*([A-Za-z0-9+/]{86}==))", "accountkey", azure_key_value, false},
    {"database-url-password",
     "Database URL with a password (postgres://user:pass@, mysql://, mongodb+srv://, redis://...)",
     R"((?i:\b(?:postgres(?:ql)?|mysql|mariadb|mssql|mongodb(?:\+srv)?|rediss?|amqps?)(?:\+[a-z0-9]+)?://)[^\s:@/'"]{0,100}:([^\s@/'"]{3,200})@[^\s'"@])",
     "postgres|mysql|mariadb|mssql|mongodb|redis|amqp", database_password, false},
    {"anthropic-api-key", "Anthropic API key (sk-ant-...)", R"(\b(sk-ant-[A-Za-z0-9_\-]{20,}))",
     "sk-ant-", nullptr, false},
    {"openai-api-key", "OpenAI API key (sk-..., sk-proj-...)",
     R"(\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}))", "sk-", openai_value, false},
    {"jwt", "JSON Web Token (eyJ...eyJ...)",
     R"(\b(eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*))", "eyj", nullptr, false},
    {"generic-secret-assignment",
     "password/passwd/secret/token/api_key assigned a high-entropy literal",
     R"((?i:[A-Za-z0-9_.\-]*(?:)" SG_KEYWORDS
     R"()[A-Za-z0-9_.\-]*)["']?\s*(?::=|=>|==|=|:)\s*["']([^"'\s]{8,200})["'])",
     SG_KEYWORD_LITERALS, generic_value, true},
    // Unquoted (.env, YAML, properties): the whole rest of the line is the value, and it must
    // mix letters and digits so `token = make_token` style code is not taken for a secret.
    {"generic-secret-assignment",
     "password/passwd/secret/token/api_key assigned a high-entropy literal",
     R"(^\s*(?:export\s+)?(?i:[A-Za-z0-9_.\-]*(?:)" SG_KEYWORDS
     R"()[A-Za-z0-9_.\-]*)\s*(?:=|:)\s*([^"'\s$%{}()\[\],;<>]{8,200})\s*$)",
     SG_KEYWORD_LITERALS, generic_unquoted_value, true},
};

/// Words that mark a value as a placeholder rather than a credential.
constexpr std::array<std::string_view, 18> kPlaceholderWords = {
    "changeme", "change_me", "placeholder", "example", "dummy",  "redacted",
    "your_",    "your-",     "<",           "xxxx",    "****",   "${",
    "{{",       "%(",        "todo",        "fixme",   "sample", "replace"};

}  // namespace

bool is_placeholder(std::string_view value) {
  if (value.empty() || value.front() == '$' || value.front() == '%') return true;  // a variable
  return std::any_of(kPlaceholderWords.begin(), kPlaceholderWords.end(),
                     [&](std::string_view word) { return contains_ci(value, word); });
}

const std::vector<BuiltinRule>& builtin_rules() {
  return kRules;
}

}  // namespace stepgate::secrets_detail
