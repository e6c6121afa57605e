#pragma once
/// Secret detection shared by the git scanner, `stepgate scan`, the tool-call signals, CI masking
/// and audit redaction: built-in RE2 rules (cloud keys, service tokens, private keys, database
/// URLs with passwords, generic password/secret/token assignments with an entropy check) plus the
/// policy's own (`git.secrets.rules`), compiled once into a SecretScanner that any number of
/// threads may share read-only.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stepgate/result.h"

namespace stepgate {

struct SecretFinding {
  std::string rule_id;     // e.g. "aws-access-key-id"
  int line = 0;            // 1-based line within the scanned text (0 when scanning a single value)
  int column = 0;          // 1-based byte column of the match start
  std::size_t length = 0;  // match length (so callers can redact; never log the match itself)
};

struct SecretScanOptions {
  std::vector<std::string> allow_rules;  // rule ids to ignore
  bool honour_allow_marker = true;       // a line containing "stepgate:allow" is skipped
};

/// A rule as the policy writes it under `git.secrets.rules`.
struct SecretRuleSpec {
  std::string id;
  std::string description;
  /// RE2, matched within one line; capture group 1, when the pattern has one, is the secret
  /// (else the whole match is).
  std::string regex;
  /// Literals (any case, 3 bytes or more): the rule runs only on lines holding one of them. A
  /// rule without keywords runs on every line, which is much slower.
  std::vector<std::string> keywords;
  double entropy = 0.0;            // the secret's minimum Shannon entropy, bits per byte
  std::vector<std::string> allow;  // RE2: a secret matching any of these is not a finding
};

/// A rule of a scanner, with a one-line description each (an id may have several patterns).
struct SecretRuleInfo {
  std::string id;
  std::string description;
  std::string regex;                  // the pattern as written (for listings and peer tools)
  std::vector<std::string> keywords;  // lower case
  bool builtin = true;
};

/// Built-in rules plus any extra ones, compiled once. Every method is const and safe to call
/// from many threads at once on one shared instance.
class SecretScanner {
 public:
  /// The built-in rules alone (compiled on first use).
  static const SecretScanner& builtin();
  /// The built-in rules plus `extra` (run after the specific built-ins, before the generic
  /// assignment rules). kInvalidArgument naming the rule and its key (`regex`, `keywords`,
  /// `entropy`, `allow`, `id`) when one does not compile or repeats an id.
  static Result<std::shared_ptr<const SecretScanner>> compile(
      const std::vector<SecretRuleSpec>& extra);
  /// Checks one rule alone, as compile() does; the error names the key at fault.
  struct RuleError {
    std::string key;        // "regex", "keywords", "entropy", "allow", "id"
    std::size_t index = 0;  // the item within a list key
    std::string message;
  };
  static std::vector<RuleError> check_rule(const SecretRuleSpec& spec);

  ~SecretScanner();
  SecretScanner(const SecretScanner&) = delete;
  SecretScanner& operator=(const SecretScanner&) = delete;

  /// Scans text line by line; one finding per match (line numbers relative to `text`).
  [[nodiscard]] std::vector<SecretFinding> scan(std::string_view text,
                                                const SecretScanOptions& options = {}) const;
  /// scan() in windows; see scan_secrets_windowed.
  [[nodiscard]] std::vector<SecretFinding> scan_windowed(std::string_view text,
                                                         const SecretScanOptions& options = {},
                                                         std::size_t window = std::size_t{1} << 20,
                                                         std::size_t overlap = 4096) const;
  /// False means no rule can match anywhere in `text` (it holds no rule's keyword).
  [[nodiscard]] bool may_contain(std::string_view text) const;
  /// Every rule, one entry per pattern, in the order they run on a line.
  [[nodiscard]] const std::vector<SecretRuleInfo>& rules() const;

  struct Compiled;  // private to secrets.cpp

 private:
  explicit SecretScanner(std::unique_ptr<const Compiled> compiled);
  std::unique_ptr<const Compiled> compiled_;
};

/// The built-in rules (SecretScanner::builtin().rules()).
const std::vector<SecretRuleInfo>& secret_rules();

/// SecretScanner::builtin().scan(text, options).
std::vector<SecretFinding> scan_secrets(std::string_view text,
                                        const SecretScanOptions& options = {});

/// scan_secrets for text of any size: windows of `window` bytes, each starting `overlap` bytes
/// before the previous one ended (at a line start when there is one that close), so the memory
/// one call holds stays bounded and a match shorter than `overlap` that crosses a window edge is
/// still found whole. Line numbers and columns are relative to `text`; a finding in an overlap is
/// reported once.
std::vector<SecretFinding> scan_secrets_windowed(std::string_view text,
                                                 const SecretScanOptions& options = {},
                                                 std::size_t window = std::size_t{1} << 20,
                                                 std::size_t overlap = 4096);

/// Replaces every secret match in `text` with "[REDACTED:rule-id]" (built-in rules).
std::string redact_text(std::string_view text);

/// A quick necessary condition for scan_secrets: false means no built-in rule can match
/// anywhere in `text` (it holds none of their keywords). For many short strings, such as the
/// values of an audit record, this one pass replaces the regular-expression scan.
bool may_contain_secret(std::string_view text);

/// Shannon entropy in bits per character.
double shannon_entropy(std::string_view text);

}  // namespace stepgate
