#include "stepgate/secrets.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <memory>
#include <tuple>

namespace stepgate {
namespace {

constexpr std::string_view kAllowMarker = "stepgate:allow";

/// A value check run on the captured secret (group 1) after the pattern matched.
using ValueCheck = bool (*)(std::string_view value);

struct RuleSpec {
  const char* id;
  const char* description;
  const char* pattern;  // group 1 captures the secret itself
  ValueCheck check;     // nullptr: every match counts
};

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

/// Words that mark a value as a placeholder rather than a credential.
constexpr std::array<std::string_view, 18> kPlaceholderWords = {
    "changeme", "change_me", "placeholder", "example", "dummy",  "redacted",
    "your_",    "your-",     "<",           "xxxx",    "****",   "${",
    "{{",       "%(",        "todo",        "fixme",   "sample", "replace"};

bool is_placeholder(std::string_view value) {
  if (value.front() == '$' || value.front() == '%') return true;  // variable reference
  return std::any_of(kPlaceholderWords.begin(), kPlaceholderWords.end(),
                     [&](std::string_view word) { return contains_ci(value, word); });
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

#define SG_KEYWORDS                                                              \
  "password|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|" \
  "private[_-]?key|credentials?"

const std::array<RuleSpec, 14> kRules = {{
    {"aws-access-key-id", "AWS access key id (AKIA/ASIA...)", R"(\b((?:AKIA|ASIA)[0-9A-Z]{16})\b)",
     not_aws_example},
    {"aws-secret-access-key", "AWS secret access key in an assignment",
     R"((?i:aws)[A-Za-z0-9_.\-]{0,20}(?i:secret|sk)[A-Za-z0-9_.\-]{0,20}["']?\s*(?::=|=>|=|:)\s*["']?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$))",
     aws_secret_value},
    {"github-token", "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_)",
     R"(\b(gh[pousr]_[A-Za-z0-9]{36,255})\b)", nullptr},
    {"github-token", "GitHub fine-grained token (github_pat_)",
     R"(\b(github_pat_[A-Za-z0-9_]{22,255}))", nullptr},
    {"gitlab-token", "GitLab personal access token (glpat-)", R"(\b(glpat-[A-Za-z0-9_\-]{20,}))",
     nullptr},
    {"slack-token", "Slack token (xoxb-, xoxa-, xoxp-, xoxr-, xoxs-)",
     R"(\b(xox[baprs]-[A-Za-z0-9\-]{10,}))", nullptr},
    {"slack-webhook", "Slack incoming webhook URL",
     R"((https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_\-]{20,}))",
     nullptr},
    {"private-key", "Private key block (-----BEGIN ... PRIVATE KEY-----)",
     R"((-----BEGIN[ A-Z0-9_\-]{0,100}PRIVATE KEY(?: BLOCK)?-----))", nullptr},
    {"google-api-key", "Google API key (AIza...)", R"(\b(AIza[0-9A-Za-z_\-]{35}))", nullptr},
    {"anthropic-api-key", "Anthropic API key (sk-ant-...)", R"(\b(sk-ant-[A-Za-z0-9_\-]{20,}))",
     nullptr},
    {"openai-api-key", "OpenAI API key (sk-..., sk-proj-...)",
     R"(\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}))", openai_value},
    {"jwt", "JSON Web Token (eyJ...eyJ...)",
     R"(\b(eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*))", nullptr},
    {"generic-secret-assignment", "password/secret/token/api_key assigned a high-entropy literal",
     R"((?i:[A-Za-z0-9_.\-]*(?:)" SG_KEYWORDS
     R"()[A-Za-z0-9_.\-]*)["']?\s*(?::=|=>|==|=|:)\s*["']([^"'\s]{8,200})["'])",
     generic_value},
    // Unquoted (.env, YAML, properties): the whole rest of the line is the value, and it must
    // mix letters and digits so `token = make_token` style code is not taken for a secret.
    {"generic-secret-assignment", "password/secret/token/api_key assigned a high-entropy literal",
     R"(^\s*(?:export\s+)?(?i:[A-Za-z0-9_.\-]*(?:)" SG_KEYWORDS
     R"()[A-Za-z0-9_.\-]*)\s*(?:=|:)\s*([^"'\s$%{}()\[\],;<>]{8,200})\s*$)",
     generic_unquoted_value},
}};

// Every rule needs one of these literals on the line; one DFA pass over the whole buffer finds
// the few lines worth running the rules on.
const char* const kPrefilter = "(?i:" SG_KEYWORDS
                               "|aws)|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox[baprs]-|"
                               "hooks\\.slack\\.com|PRIVATE KEY|AIza|sk-|eyJ";

/// The prefilter's alternatives, each reduced to a lower-case literal it contains (matched here
/// without case, which only widens the AKIA/ASIA/AIza/eyJ ones): `passw` (password, passwd),
/// `key` (api_key, apikey, access-key, auth_key, private_key, PRIVATE KEY), `gh` (gh[pousr]_),
/// `xox` (xox[baprs]-). Listed by first letter for may_contain_secret's one pass.
bool anchor_at(std::string_view rest) {
  auto starts = [&](std::string_view literal) {
    return rest.size() >= literal.size() &&
           std::equal(literal.begin(), literal.end(), rest.begin(), [](char want, char have) {
             return std::tolower(static_cast<unsigned char>(have)) == want;
           });
  };
  switch (std::tolower(static_cast<unsigned char>(rest[0]))) {
    case 'a':
      return starts("aws") || starts("akia") || starts("asia") || starts("aiza");
    case 'c':
      return starts("credential");
    case 'e':
      return starts("eyj");
    case 'g':
      return starts("gh") || starts("github_pat_") || starts("glpat-");
    case 'h':
      return starts("hooks.slack.com");
    case 'k':
      return starts("key");
    case 'p':
      return starts("passw");
    case 's':
      return starts("secret") || starts("sk-");
    case 't':
      return starts("token");
    case 'x':
      return starts("xox");
    default:
      return false;
  }
}

struct CompiledRule {
  const RuleSpec* spec;
  std::unique_ptr<RE2> re;
};

struct RuleSet {
  std::vector<CompiledRule> rules;
  std::unique_ptr<RE2::Set> line_set;  // which rules can match a line, in one pass
};

RE2::Options rule_options() {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(32 << 20);
  return options;
}

// Compiled on first use and kept: the prefilter always, the rules only once a line needs them
// (a one-shot hook process whose push has no candidate line never pays for them).
const RE2& prefilter() {
  static const RE2 compiled = [] {
    RE2::Options options = rule_options();
    options.set_never_capture(true);
    return RE2(kPrefilter, options);
  }();
  return compiled;
}

const RuleSet& rule_set() {
  static const RuleSet set = [] {
    RuleSet built;
    RE2::Options set_options = rule_options();
    set_options.set_never_capture(true);
    built.line_set = std::make_unique<RE2::Set>(set_options, RE2::UNANCHORED);
    for (const RuleSpec& spec : kRules) {
      built.rules.push_back({&spec, std::make_unique<RE2>(spec.pattern, rule_options())});
      built.line_set->Add(spec.pattern, nullptr);
    }
    built.line_set->Compile();
    return built;
  }();
  return set;
}

const std::vector<SecretRuleInfo>& rule_infos() {
  static const std::vector<SecretRuleInfo> infos = [] {
    std::vector<SecretRuleInfo> built;
    for (const RuleSpec& spec : kRules) {
      bool seen = std::any_of(built.begin(), built.end(),
                              [&](const SecretRuleInfo& info) { return info.id == spec.id; });
      if (!seen) built.push_back({spec.id, spec.description});
    }
    return built;
  }();
  return infos;
}

bool rule_allowed(const SecretScanOptions& options, std::string_view id) {
  return std::find(options.allow_rules.begin(), options.allow_rules.end(), id) !=
         options.allow_rules.end();
}

bool overlaps(const SecretFinding& a, int column, std::size_t length) {
  auto a_begin = static_cast<std::size_t>(a.column);
  auto b_begin = static_cast<std::size_t>(column);
  return a_begin < b_begin + length && b_begin < a_begin + a.length;
}

/// Runs every rule on one line; appends findings with columns relative to the line.
void scan_line(std::string_view line, int line_number, const SecretScanOptions& options,
               std::vector<SecretFinding>& out) {
  std::size_t first = out.size();
  const RuleSet& set = rule_set();
  std::vector<int> candidates;
  if (!set.line_set->Match(re2::StringPiece(line.data(), line.size()), &candidates)) return;
  std::sort(candidates.begin(), candidates.end());  // keep rule order: specific before generic
  for (int index : candidates) {
    const CompiledRule& rule = set.rules[static_cast<std::size_t>(index)];
    if (rule_allowed(options, rule.spec->id)) continue;
    std::size_t pos = 0;
    std::array<re2::StringPiece, 2> groups;
    while (pos < line.size() && rule.re->Match(re2::StringPiece(line.data(), line.size()), pos,
                                               line.size(), RE2::UNANCHORED, groups.data(), 2)) {
      re2::StringPiece value = groups[1];
      auto end = static_cast<std::size_t>(groups[0].end() - line.data());
      pos = std::max(end, pos + 1);
      if (value.data() == nullptr || value.empty()) continue;
      std::string_view v(value.data(), value.size());
      if (rule.spec->check != nullptr && !rule.spec->check(v)) continue;
      int column = static_cast<int>(value.data() - line.data()) + 1;
      bool duplicate =
          std::any_of(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                      [&](const SecretFinding& f) { return overlaps(f, column, v.size()); });
      if (duplicate) continue;
      out.push_back({rule.spec->id, line_number, column, v.size()});
    }
  }
}

std::vector<SecretFinding> scan_impl(std::string_view text, const SecretScanOptions& options) {
  std::vector<SecretFinding> findings;
  const RE2& filter = prefilter();
  re2::StringPiece all(text.data(), text.size());
  std::size_t pos = 0;
  std::size_t counted_to = 0;
  int line_number = 1;
  re2::StringPiece hit;
  while (pos < text.size() && filter.Match(all, pos, text.size(), RE2::UNANCHORED, &hit, 1)) {
    auto hit_at = static_cast<std::size_t>(hit.data() - text.data());
    std::size_t begin = text.rfind('\n', hit_at);
    begin = begin == std::string_view::npos ? 0 : begin + 1;
    std::size_t end = text.find('\n', hit_at);
    if (end == std::string_view::npos) end = text.size();
    line_number +=
        static_cast<int>(std::count(text.begin() + static_cast<std::ptrdiff_t>(counted_to),
                                    text.begin() + static_cast<std::ptrdiff_t>(begin), '\n'));
    counted_to = begin;
    std::string_view line = text.substr(begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool allowed = options.honour_allow_marker && line.find(kAllowMarker) != std::string_view::npos;
    if (!allowed) scan_line(line, line_number, options, findings);
    pos = end + 1;
  }
  return findings;
}

}  // namespace

const std::vector<SecretRuleInfo>& secret_rules() {
  return rule_infos();
}

std::vector<SecretFinding> scan_secrets(std::string_view text, const SecretScanOptions& options) {
  return scan_impl(text, options);
}

std::vector<SecretFinding> scan_secrets_windowed(std::string_view text,
                                                 const SecretScanOptions& options,
                                                 std::size_t window, std::size_t overlap) {
  if (overlap >= window) overlap = window / 2;
  if (text.size() <= window) return scan_impl(text, options);
  std::vector<SecretFinding> out;
  // Newlines are counted once, front to back, up to each window's start.
  std::size_t counted_to = 0;
  int lines_before = 0;
  std::size_t line_start = 0;  // where the line holding `counted_to` starts
  for (std::size_t nominal = 0; nominal < text.size(); nominal += window - overlap) {
    std::size_t begin = nominal;
    // Start at the line start just before, when it is within the overlap: line-anchored rules
    // then see the whole line.
    const std::size_t near = nominal - std::min(nominal, overlap / 2);
    if (const std::size_t nl = text.substr(near, nominal - near).rfind('\n');
        nl != std::string_view::npos) {
      begin = near + nl + 1;
    }
    begin = std::max(begin, counted_to);
    for (const char* at = text.data() + counted_to;;) {
      const auto left = static_cast<std::size_t>(text.data() + begin - at);
      const char* nl = static_cast<const char*>(std::memchr(at, '\n', left));
      if (nl == nullptr) break;
      ++lines_before;
      line_start = static_cast<std::size_t>(nl - text.data()) + 1;
      at = nl + 1;
    }
    counted_to = begin;
    const std::size_t end = std::min(text.size(), nominal + window);
    const int column_shift = static_cast<int>(begin - line_start);
    for (SecretFinding f : scan_impl(text.substr(begin, end - begin), options)) {
      if (f.line == 1) f.column += column_shift;
      f.line += lines_before;
      out.push_back(std::move(f));
    }
    if (end == text.size()) break;
  }
  std::sort(out.begin(), out.end(), [](const SecretFinding& a, const SecretFinding& b) {
    return std::tie(a.line, a.column, a.rule_id) < std::tie(b.line, b.column, b.rule_id);
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const SecretFinding& a, const SecretFinding& b) {
                          return a.line == b.line && a.column == b.column && a.rule_id == b.rule_id;
                        }),
            out.end());
  return out;
}

std::string redact_text(std::string_view text) {
  SecretScanOptions options;
  options.honour_allow_marker = false;  // redaction protects logs: no opt-out
  std::vector<SecretFinding> findings = scan_impl(text, options);
  if (findings.empty()) return std::string(text);
  // Absolute offsets of each line start, so findings map back into `text`.
  std::vector<std::size_t> line_starts{0};
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') line_starts.push_back(i + 1);
  }
  struct Span {
    std::size_t begin, end;
    const std::string* rule;
  };
  std::vector<Span> spans;
  for (const SecretFinding& f : findings) {
    std::size_t begin =
        line_starts[static_cast<std::size_t>(f.line - 1)] + static_cast<std::size_t>(f.column - 1);
    spans.push_back({begin, begin + f.length, &f.rule_id});
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(text.size());
  std::size_t at = 0;
  for (const Span& span : spans) {
    if (span.begin < at) continue;  // overlapping match already redacted
    out.append(text.substr(at, span.begin - at));
    out.append("[REDACTED:").append(*span.rule).append("]");
    at = span.end;
  }
  out.append(text.substr(at));
  return out;
}

bool may_contain_secret(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (anchor_at(text.substr(i))) return true;
  }
  return false;
}

double shannon_entropy(std::string_view text) {
  if (text.empty()) return 0.0;
  std::array<std::size_t, 256> counts{};
  for (char c : text) ++counts[static_cast<unsigned char>(c)];
  auto total = static_cast<double>(text.size());
  double bits = 0.0;
  for (std::size_t count : counts) {
    if (count == 0) continue;
    double p = static_cast<double>(count) / total;
    bits -= p * std::log2(p);
  }
  return bits;
}

}  // namespace stepgate
