// The secret scanner: one pass over the text for every rule's keywords (a hashed trigram filter
// with a lower-casing table, then an exact check), and the rules' regular expressions run only on
// the lines holding one of their keywords.
#include "stepgate/secrets.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <tuple>

#include "secret_keywords.h"
#include "secrets_builtin.h"

namespace stepgate {

namespace {

using secrets_detail::builtin_rules;
using secrets_detail::BuiltinRule;
using secrets_detail::KeywordIndex;
using secrets_detail::ValueCheck;

constexpr std::string_view kAllowMarker = "stepgate:allow";

RE2::Options rule_options() {
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(32 << 20);
  return options;
}

std::vector<std::string> split_keywords(const char* list) {
  std::vector<std::string> out;
  std::string_view rest(list);
  while (!rest.empty()) {
    const std::size_t bar = std::min(rest.find('|'), rest.size());
    out.emplace_back(rest.substr(0, bar));
    rest.remove_prefix(std::min(bar + 1, rest.size()));
  }
  return out;
}

/// A rule's regular expression, compiled on first use (thread-safe: the scanner is shared across
/// scan threads). A rule runs only on lines holding one of its keywords, and most texts hold
/// none of most rules' keywords: compiling every built-in pattern up front was about a quarter
/// of the hook's CPU on a 100-commit push. Every pattern is known to compile (built-ins by
/// secrets_test, policy rules by check_rule before they get here).
class LazyRegex {
 public:
  explicit LazyRegex(std::string pattern) : pattern_(std::move(pattern)) {}
  [[nodiscard]] const RE2& get() const {
    std::call_once(once_, [this] {
      re_ = std::make_unique<RE2>(pattern_, rule_options());
      groups_ = re_->NumberOfCapturingGroups();
    });
    return *re_;
  }
  /// Its capturing groups (compiles it).
  [[nodiscard]] int groups() const {
    (void)get();
    return groups_;
  }

 private:
  std::string pattern_;
  mutable std::once_flag once_;
  mutable std::unique_ptr<RE2> re_;
  mutable int groups_ = 0;
};

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

struct SecretScanner::Compiled {
  struct Rule {
    SecretRuleInfo info;
    std::unique_ptr<LazyRegex> re;
    ValueCheck check = nullptr;     // built-in rules
    double entropy = 0.0;           // policy rules
    bool needs_assignment = false;  // the generic rules: no '=' or ':' on the line, no match
    std::vector<std::unique_ptr<RE2>> allow;
  };
  std::vector<Rule> rules;                           // in the order they run on a line
  std::vector<std::vector<uint32_t>> keyword_rules;  // keyword index -> rules needing it
  std::vector<uint32_t> always;                      // rules without keywords: every line
  KeywordIndex index;
  std::vector<SecretRuleInfo> infos;  // one per rule, in run order

  [[nodiscard]] bool accepts(const Rule& rule, std::string_view value) const {
    if (rule.check != nullptr && !rule.check(value)) return false;
    if (rule.entropy > 0.0 && shannon_entropy(value) < rule.entropy) return false;
    const re2::StringPiece piece(value.data(), value.size());
    return std::none_of(rule.allow.begin(), rule.allow.end(),
                        [&](const auto& re) { return RE2::PartialMatch(piece, *re); });
  }
  void scan_line(std::string_view line, int line_number, const std::vector<uint32_t>& candidates,
                 const SecretScanOptions& options, std::vector<SecretFinding>& out) const;
  std::vector<SecretFinding> scan(std::string_view text, const SecretScanOptions& options) const;
};

namespace {

bool rule_allowed(const SecretScanOptions& options, std::string_view id) {
  return std::find(options.allow_rules.begin(), options.allow_rules.end(), id) !=
         options.allow_rules.end();
}

bool overlaps(const SecretFinding& a, int column, std::size_t length) {
  auto a_begin = static_cast<std::size_t>(a.column);
  auto b_begin = static_cast<std::size_t>(column);
  return a_begin < b_begin + length && b_begin < a_begin + a.length;
}

/// Counts lines lazily: only lines that hold a finding need a number.
class LineCounter {
 public:
  explicit LineCounter(std::string_view text) : text_(text) {}
  int number_at(std::size_t line_begin) {
    for (const char* at = text_.data() + counted_to_;;) {
      const auto left = static_cast<std::size_t>(text_.data() + line_begin - at);
      const auto* nl = static_cast<const char*>(std::memchr(at, '\n', left));
      if (nl == nullptr) break;
      ++line_;
      at = nl + 1;
    }
    counted_to_ = line_begin;
    return line_;
  }

 private:
  std::string_view text_;
  std::size_t counted_to_ = 0;
  int line_ = 1;
};

}  // namespace

void SecretScanner::Compiled::scan_line(std::string_view line, int line_number,
                                        const std::vector<uint32_t>& candidates,
                                        const SecretScanOptions& options,
                                        std::vector<SecretFinding>& out) const {
  const std::size_t first = out.size();
  const re2::StringPiece text(line.data(), line.size());
  // Most lines that name a token or a password only use it (`refresh_token(user)`): one look
  // for an assignment spares them the generic rules' regular expressions.
  const bool assigns = line.find_first_of("=:") != std::string_view::npos;
  for (uint32_t index : candidates) {
    const Rule& rule = rules[index];
    if (rule.needs_assignment && !assigns) continue;
    if (rule_allowed(options, rule.info.id)) continue;
    std::size_t pos = 0;
    std::array<re2::StringPiece, 2> groups;
    const RE2& re = rule.re->get();
    const int wanted = rule.re->groups() > 0 ? 2 : 1;
    while (pos < line.size() &&
           re.Match(text, pos, line.size(), RE2::UNANCHORED, groups.data(), wanted)) {
      const re2::StringPiece value = groups[static_cast<std::size_t>(wanted - 1)];
      const auto end = static_cast<std::size_t>(groups[0].end() - line.data());
      pos = std::max(end, pos + 1);
      if (value.data() == nullptr || value.empty()) continue;
      const std::string_view v(value.data(), value.size());
      if (!accepts(rule, v)) continue;
      const int column = static_cast<int>(value.data() - line.data()) + 1;
      const bool duplicate =
          std::any_of(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                      [&](const SecretFinding& f) { return overlaps(f, column, v.size()); });
      if (duplicate) continue;
      out.push_back({rule.info.id, line_number, column, v.size()});
    }
  }
}

std::vector<SecretFinding> SecretScanner::Compiled::scan(std::string_view text,
                                                         const SecretScanOptions& options) const {
  std::vector<SecretFinding> findings;
  LineCounter counter(text);
  std::vector<uint8_t> marked(rules.size(), 0);
  std::vector<uint32_t> candidates;
  std::size_t line_begin = 0;
  std::size_t line_end = 0;  // the current line is [line_begin, line_end); none yet
  bool have_line = false;
  const auto flush = [&] {
    if (!have_line) return;
    have_line = false;
    std::string_view line = text.substr(line_begin, line_end - line_begin);
    std::sort(candidates.begin(), candidates.end());  // rule order: specific before generic
    for (uint32_t r : candidates) marked[r] = 0;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool allowed =
        options.honour_allow_marker && line.find(kAllowMarker) != std::string_view::npos;
    if (!allowed) {
      const std::size_t before = findings.size();
      // The number is only needed once the line holds a finding; count up to it then.
      scan_line(line, 0, candidates, options, findings);
      if (findings.size() != before) {
        const int number = counter.number_at(line_begin);
        for (std::size_t i = before; i < findings.size(); ++i) findings[i].line = number;
      }
    }
    candidates.clear();
  };
  const auto mark = [&](uint32_t rule) {
    if (marked[rule] != 0) return;
    marked[rule] = 1;
    candidates.push_back(rule);
  };
  const auto open_line = [&](std::size_t at) {
    const std::size_t floor = line_end;  // the previous line ended at or before `at`
    std::size_t begin = at;
    while (begin > floor && text[begin - 1] != '\n') --begin;
    line_begin = begin;
    const auto* nl =
        static_cast<const char*>(std::memchr(text.data() + at, '\n', text.size() - at));
    line_end = nl == nullptr ? text.size() : static_cast<std::size_t>(nl - text.data());
    have_line = true;
  };
  if (!always.empty()) {
    // Rules without keywords see every line, with the keyword hits of that line added.
    for (std::size_t at = 0; at <= text.size();) {
      open_line(at);
      for (uint32_t r : always) mark(r);
      index.for_each_hit(text.substr(line_begin, line_end - line_begin),
                         [&](uint32_t keyword, std::size_t) {
                           for (uint32_t r : keyword_rules[keyword]) mark(r);
                         });
      flush();
      if (line_end >= text.size()) break;
      at = line_end + 1;
    }
    return findings;
  }
  index.for_each_hit(text, [&](uint32_t keyword, std::size_t at) {
    if (!have_line || at >= line_end) {
      flush();
      open_line(at);
    }
    for (uint32_t r : keyword_rules[keyword]) mark(r);
  });
  flush();
  return findings;
}

namespace {

std::vector<SecretFinding> windowed(std::string_view text, const SecretScanOptions& options,
                                    std::size_t window, std::size_t overlap,
                                    const SecretScanner::Compiled& compiled) {
  if (overlap >= window) overlap = window / 2;
  if (text.size() <= window) return compiled.scan(text, options);
  std::vector<SecretFinding> out;
  // Newlines before a window are counted only when it holds a finding (most windows hold none),
  // once, front to back.
  std::size_t counted_to = 0;
  int lines_before = 0;
  std::size_t previous_begin = 0;
  for (std::size_t nominal = 0; nominal < text.size(); nominal += window - overlap) {
    std::size_t begin = nominal;
    // Start at the line start just before, when it is within the overlap: line-anchored rules
    // then see the whole line.
    const std::size_t near = nominal - std::min(nominal, overlap / 2);
    if (const std::size_t nl = text.substr(near, nominal - near).rfind('\n');
        nl != std::string_view::npos) {
      begin = near + nl + 1;
    }
    begin = std::max(begin, previous_begin);
    previous_begin = begin;
    const std::size_t end = std::min(text.size(), nominal + window);
    auto found = compiled.scan(text.substr(begin, end - begin), options);
    if (!found.empty()) {
      lines_before +=
          static_cast<int>(std::count(text.begin() + static_cast<std::ptrdiff_t>(counted_to),
                                      text.begin() + static_cast<std::ptrdiff_t>(begin), '\n'));
      counted_to = begin;
      const std::size_t nl = begin == 0 ? std::string_view::npos : text.rfind('\n', begin - 1);
      const std::size_t line_start = nl == std::string_view::npos ? 0 : nl + 1;
      const int column_shift = static_cast<int>(begin - line_start);
      for (SecretFinding& f : found) {
        if (f.line == 1) f.column += column_shift;
        f.line += lines_before;
        out.push_back(std::move(f));
      }
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

/// Adds one compiled rule and indexes its keywords.
void add_rule(SecretScanner::Compiled& c, SecretScanner::Compiled::Rule rule,
              std::vector<std::string>& all_keywords) {
  const auto index = static_cast<uint32_t>(c.rules.size());
  if (rule.info.keywords.empty()) c.always.push_back(index);
  for (const std::string& keyword : rule.info.keywords) {
    auto found = std::find(all_keywords.begin(), all_keywords.end(), keyword);
    if (found == all_keywords.end()) {
      all_keywords.push_back(keyword);
      c.keyword_rules.emplace_back();
      found = all_keywords.end() - 1;
    }
    c.keyword_rules[static_cast<std::size_t>(found - all_keywords.begin())].push_back(index);
  }
  c.infos.push_back(rule.info);
  c.rules.push_back(std::move(rule));
}

SecretScanner::Compiled::Rule builtin_rule(const BuiltinRule& spec) {
  SecretScanner::Compiled::Rule rule;
  rule.info = {spec.id, spec.description, spec.pattern, split_keywords(spec.keywords), true};
  rule.re = std::make_unique<LazyRegex>(spec.pattern);
  rule.check = spec.check;
  rule.needs_assignment = spec.generic;
  return rule;
}

}  // namespace

SecretScanner::SecretScanner(std::unique_ptr<const Compiled> compiled)
    : compiled_(std::move(compiled)) {}

SecretScanner::~SecretScanner() = default;

std::vector<SecretScanner::RuleError> SecretScanner::check_rule(const SecretRuleSpec& spec) {
  std::vector<RuleError> errors;
  if (spec.id.empty()) errors.push_back({"id", 0, "must not be empty"});
  const bool id_chars = std::all_of(spec.id.begin(), spec.id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
  if (!id_chars) errors.push_back({"id", 0, "use lower-case letters, digits, '-', '_' and '.'"});
  const auto& built = builtin_rules();
  if (std::any_of(built.begin(), built.end(),
                  [&](const BuiltinRule& b) { return spec.id == b.id; })) {
    errors.push_back(
        {"id", 0, "`" + spec.id + "` is a built-in rule's id (allow_rules turns it off)"});
  }
  RE2 re(spec.regex, rule_options());
  if (spec.regex.empty()) {
    errors.push_back({"regex", 0, "must not be empty"});
  } else if (!re.ok()) {
    errors.push_back({"regex", 0, "does not compile (RE2): " + re.error()});
  } else if (re.NumberOfCapturingGroups() > 1) {
    // Only group 1 is read; more groups would cost a slower matcher for nothing.
    errors.push_back({"regex", 0, "has more than one capture group (use (?:...) for the others)"});
  }
  for (std::size_t i = 0; i < spec.keywords.size(); ++i) {
    const std::string& k = spec.keywords[i];
    if (k.size() < KeywordIndex::kMinKeyword || k.find('\n') != std::string::npos) {
      errors.push_back({"keywords", i, "`" + k + "` must be at least 3 bytes on one line"});
    }
  }
  if (!(spec.entropy >= 0.0 && spec.entropy <= 8.0)) {
    errors.push_back({"entropy", 0, "must be between 0 and 8 (bits per byte)"});
  }
  for (std::size_t i = 0; i < spec.allow.size(); ++i) {
    RE2 allow(spec.allow[i], rule_options());
    if (!allow.ok()) errors.push_back({"allow", i, "does not compile (RE2): " + allow.error()});
  }
  return errors;
}

namespace {

Result<std::unique_ptr<const SecretScanner::Compiled>> build(
    const std::vector<SecretRuleSpec>& extra) {
  auto c = std::make_unique<SecretScanner::Compiled>();
  std::vector<std::string> keywords;
  for (const BuiltinRule& spec : builtin_rules()) {
    if (!spec.generic) add_rule(*c, builtin_rule(spec), keywords);
  }
  for (const SecretRuleSpec& spec : extra) {
    if (auto errors = SecretScanner::check_rule(spec); !errors.empty()) {
      return invalid_argument("secret rule `" + spec.id + "`: key `" + errors[0].key +
                              "`: " + errors[0].message);
    }
    const bool repeated = std::any_of(c->rules.begin(), c->rules.end(), [&](const auto& r) {
      return !r.info.builtin && r.info.id == spec.id;
    });
    if (repeated) return invalid_argument("secret rule `" + spec.id + "`: key `id`: repeated");
    SecretScanner::Compiled::Rule rule;
    std::vector<std::string> lowered;
    lowered.reserve(spec.keywords.size());
    for (const std::string& k : spec.keywords) lowered.push_back(lower_ascii(k));
    rule.info = {spec.id, spec.description.empty() ? "policy rule" : spec.description, spec.regex,
                 std::move(lowered), false};
    rule.re = std::make_unique<LazyRegex>(spec.regex);
    rule.entropy = spec.entropy;
    for (const std::string& allow : spec.allow) {
      rule.allow.push_back(std::make_unique<RE2>(allow, rule_options()));
    }
    add_rule(*c, std::move(rule), keywords);
  }
  for (const BuiltinRule& spec : builtin_rules()) {
    if (spec.generic) add_rule(*c, builtin_rule(spec), keywords);
  }
  c->index = KeywordIndex(keywords);
  return std::unique_ptr<const SecretScanner::Compiled>(std::move(c));
}

}  // namespace

Result<std::shared_ptr<const SecretScanner>> SecretScanner::compile(
    const std::vector<SecretRuleSpec>& extra) {
  auto compiled = build(extra);
  if (!compiled.ok()) return compiled.error();
  return std::shared_ptr<const SecretScanner>(new SecretScanner(std::move(*compiled)));
}

const SecretScanner& SecretScanner::builtin() {
  // The built-in patterns are fixed and compile (secrets_test runs every one).
  static const SecretScanner scanner(std::move(build({}).value()));
  return scanner;
}

std::vector<SecretFinding> SecretScanner::scan(std::string_view text,
                                               const SecretScanOptions& options) const {
  return compiled_->scan(text, options);
}

std::vector<SecretFinding> SecretScanner::scan_windowed(std::string_view text,
                                                        const SecretScanOptions& options,
                                                        std::size_t window,
                                                        std::size_t overlap) const {
  return windowed(text, options, window, overlap, *compiled_);
}

bool SecretScanner::may_contain(std::string_view text) const {
  return !compiled_->always.empty() || compiled_->index.any(text);
}

const std::vector<SecretRuleInfo>& SecretScanner::rules() const {
  return compiled_->infos;
}

const std::vector<SecretRuleInfo>& secret_rules() {
  return SecretScanner::builtin().rules();
}

std::vector<SecretFinding> scan_secrets(std::string_view text, const SecretScanOptions& options) {
  return SecretScanner::builtin().scan(text, options);
}

std::vector<SecretFinding> scan_secrets_windowed(std::string_view text,
                                                 const SecretScanOptions& options,
                                                 std::size_t window, std::size_t overlap) {
  return SecretScanner::builtin().scan_windowed(text, options, window, overlap);
}

std::string redact_text(std::string_view text) {
  SecretScanOptions options;
  options.honour_allow_marker = false;  // redaction protects logs: no opt-out
  std::vector<SecretFinding> findings = scan_secrets(text, options);
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
  return SecretScanner::builtin().may_contain(text);
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
