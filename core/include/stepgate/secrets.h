#pragma once
/// Secret detection shared by the git scanner, the tool-call signals, CI masking and audit
/// redaction: a built-in RE2 rule set (AWS keys, GitHub/GitLab/Slack tokens, private key blocks,
/// Google API keys, OpenAI/Anthropic keys, JWTs, generic password/secret/token assignments with
/// an entropy check), compiled once.

#include <string>
#include <string_view>
#include <vector>

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

/// The ids of the built-in rules, with a one-line description each.
struct SecretRuleInfo {
  std::string id;
  std::string description;
};
const std::vector<SecretRuleInfo>& secret_rules();

/// Scans text line by line; returns one finding per match (line numbers relative to `text`).
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

/// Replaces every secret match in `text` with "[REDACTED:rule-id]".
std::string redact_text(std::string_view text);

/// A quick necessary condition for scan_secrets: false means no rule can match anywhere in
/// `text` (it holds none of the literals every rule needs). For many short strings, such as the
/// values of an audit record, this one pass replaces the regular-expression scan.
bool may_contain_secret(std::string_view text);

/// Shannon entropy in bits per character.
double shannon_entropy(std::string_view text);

}  // namespace stepgate
