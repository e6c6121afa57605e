// The settings sections of a policy file: business_hours, approvers, git, ci, agents, audit.
#include "policy_yaml.h"
#include "stepgate/crypto.h"

#include <algorithm>
#include <cstdlib>

#include "stepgate/secrets.h"

namespace stepgate::policy_detail {
namespace {

constexpr std::string_view kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// "09:00" -> 9; minutes must be 00 (business hours are whole hours). "24:00" is the end of day.
Result<int> parse_hour(std::string_view text) {
  if (text.size() != 5 || text[2] != ':' || text.substr(3) != "00") {
    return invalid_argument(R"(must be a whole hour "HH:00", not ")" + std::string(text) + "\"");
  }
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!digit(text[0]) || !digit(text[1])) return invalid_argument("must be \"HH:00\"");
  const int hour = (text[0] - '0') * 10 + (text[1] - '0');
  if (hour > 24) return invalid_argument("hour must be 00-24");
  return hour;
}

Status read_hour(const Reader& r, const Node& node, const char* key, int& out) {
  std::string text;
  if (Status s = r.read_string(node, key, text); !s.ok() || text.empty()) return s;
  Result<int> hour = parse_hour(text);
  if (!hour.ok())
    return r.error_at(node[key], std::string("key `") + key + "`: " + hour.error().message);
  out = *hour;
  return {};
}

Status read_entropy(const Reader& r, const Node& item, double& out) {
  const Node& node = item["entropy"];
  if (!node) return {};
  const std::string& text = node.text();
  char* end = nullptr;
  out = node.is_scalar() && !text.empty() ? std::strtod(text.c_str(), &end) : -1.0;
  if (end == nullptr || *end != '\0' || !(out >= 0.0 && out <= 8.0)) {
    return r.error_at(node, "key `entropy`: must be a number from 0 to 8 (bits per byte)");
  }
  return {};
}

/// One `git.secrets.rules` item; false when it has errors (each kept, at its key).
bool read_secret_rule(const Reader& r, const Node& item, SecretRuleSpec& rule, Errors& errors) {
  const std::size_t before = errors.size();
  if (!r.check_map(item, "git.secrets.rules",
                   {"id", "description", "regex", "keywords", "entropy", "allow"}, errors)) {
    return false;
  }
  const std::size_t keys_from = errors.size();
  keep(errors, r.read_string(item, "id", rule.id));
  keep(errors, r.read_string(item, "description", rule.description));
  keep(errors, r.read_string(item, "regex", rule.regex));
  keep(errors, r.read_string_list(item, "keywords", rule.keywords));
  keep(errors, read_entropy(r, item, rule.entropy));
  keep(errors, r.read_string_list(item, "allow", rule.allow));
  // A key that did not read would only repeat its error as "required" or "empty".
  if (errors.size() == keys_from) {
    for (const SecretScanner::RuleError& e : SecretScanner::check_rule(rule)) {
      const Node& at = item[e.key];
      const Node& where = at.is_sequence() ? at[e.index] : at;
      errors.push_back(r.error_at(where ? where : item, "secret rule `" + rule.id + "`: key `" +
                                                            e.key + "`: " + e.message));
    }
  }
  return errors.size() == before;
}

// git.secrets.rules: checked one by one (so an error points at its key), then compiled once
// with the built-in rules into the scanner every push of this policy shares.
void read_secret_rules(const Reader& r, const Node& node, GitSettings& out, Errors& errors) {
  if (!node) return;
  if (!node.is_sequence()) {
    errors.push_back(r.error_at(node, "key `rules`: must be a list of rules"));
    return;
  }
  std::vector<SecretRuleSpec> rules;
  bool all_read = true;
  for (const Node& item : node.items()) {
    SecretRuleSpec rule;
    if (!read_secret_rule(r, item, rule, errors)) {
      all_read = false;
      continue;
    }
    const bool repeated = std::any_of(rules.begin(), rules.end(),
                                      [&](const SecretRuleSpec& o) { return o.id == rule.id; });
    if (repeated) {
      errors.push_back(r.error_at(item["id"], "secret rule `" + rule.id + "`: key `id`: repeated"));
      all_read = false;
      continue;
    }
    rules.push_back(std::move(rule));
  }
  if (!all_read || rules.empty()) return;
  auto scanner = SecretScanner::compile(rules);
  if (!scanner.ok()) {
    errors.push_back(r.error_at(node, "key `rules`: " + scanner.error().message));
    return;
  }
  out.secret_scanner = std::move(scanner).value();
}

/// One `approvers` item into `out`; every error of the item kept.
void read_approver(const Reader& r, const Node& item, std::vector<Approver>& out, Errors& errors) {
  if (!r.check_map(item, "approvers", {"id", "public_key", "require_totp"}, errors)) return;
  const std::size_t before = errors.size();
  Approver a;
  const bool id_read = keep(errors, r.read_string(item, "id", a.id));
  const bool key_read = keep(errors, r.read_string(item, "public_key", a.public_key));
  keep(errors, r.read_bool(item, "require_totp", a.require_totp));
  if (id_read && a.id.empty()) errors.push_back(r.error_at(item, "approver: `id` is required"));
  // A key that cannot verify anything would only fail later, at the first approval.
  const Result<Bytes> raw = a.public_key.rfind("ed25519:", 0) == 0
                                ? base64url_decode(std::string_view(a.public_key).substr(8))
                                : Result<Bytes>(invalid_argument("no ed25519: prefix"));
  if (key_read && (!raw.ok() || raw->size() != 32)) {
    errors.push_back(r.error_at(
        item["public_key"].is_defined() ? item["public_key"] : item,
        "approver `" + a.id + "`: `public_key` must be \"ed25519:\" + the base64url of 32 bytes"));
  }
  for (const Approver& other : out) {
    if (!a.id.empty() && other.id == a.id) {
      errors.push_back(r.error_at(item, "duplicate approver id `" + a.id + "`"));
    }
  }
  if (errors.size() == before) out.push_back(std::move(a));
}

/// `ci.change_window`, parsed here so that a malformed window is a load (and lint) error at its
/// position rather than a failed deployment at the first run.
void read_change_window(const Reader& r, const Node& node, CiSettings& out, Errors& errors) {
  if (!keep(errors, r.read_string(node, "change_window", out.change_window))) return;
  auto windows = parse_change_windows(out.change_window);
  if (!windows.ok()) {
    errors.push_back(
        r.error_at(node["change_window"], "key `change_window`: " + windows.error().message));
    return;
  }
  out.change_windows = std::move(windows).value();
}

}  // namespace

void read_business_hours(const Reader& r, const Node& node, BusinessHours& out, Errors& errors) {
  if (!r.check_map(node, "business_hours", {"start", "end", "days"}, errors)) return;
  const bool start = keep(errors, read_hour(r, node, "start", out.start_hour));
  const bool end = keep(errors, read_hour(r, node, "end", out.end_hour));
  if (start && end && out.start_hour >= out.end_hour) {
    errors.push_back(r.error_at(node, "business_hours: start must be before end"));
  }
  std::vector<std::string> days;
  if (!keep(errors, r.read_string_list(node, "days", days)) || !node["days"]) return;
  out.weekdays.clear();
  for (std::size_t i = 0; i < days.size(); ++i) {
    int found = -1;
    for (int d = 0; d < 7; ++d) found = days[i] == kDays[d] ? d : found;
    if (found < 0) {
      errors.push_back(r.error_at(node["days"][i],
                                  "key `days`: unknown day `" + days[i] +
                                      "` (expected one of: mon, tue, wed, thu, fri, sat, sun)"));
      continue;
    }
    out.weekdays.push_back(found);
  }
}

void read_approvers(const Reader& r, const Node& node, std::vector<Approver>& out, Errors& errors) {
  if (!node.is_sequence()) {
    errors.push_back(r.error_at(node, "`approvers` must be a list"));
    return;
  }
  for (const Node& item : node.items()) read_approver(r, item, out, errors);
}

void read_git(const Reader& r, const Node& node, GitSettings& out, Errors& errors) {
  if (!r.check_map(
          node, "git",
          {"protected_refs", "large_file_bytes", "secrets", "model_extensions", "ci_config_paths"},
          errors)) {
    return;
  }
  keep(errors, r.read_string_list(node, "protected_refs", out.protected_refs));
  if (keep(errors, r.read_int(node, "large_file_bytes", out.large_file_bytes)) &&
      out.large_file_bytes <= 0) {
    errors.push_back(
        r.error_at(node["large_file_bytes"], "key `large_file_bytes`: must be positive"));
  }
  keep(errors, r.read_string_list(node, "model_extensions", out.model_extensions));
  keep(errors, r.read_string_list(node, "ci_config_paths", out.ci_config_paths));
  const Node& secrets = node["secrets"];
  if (!secrets) return;
  if (!r.check_map(secrets, "git.secrets", {"allow_paths", "allow_rules", "rules"}, errors)) {
    return;
  }
  keep(errors, r.read_string_list(secrets, "allow_paths", out.secrets_allow_paths));
  const bool allow_read =
      keep(errors, r.read_string_list(secrets, "allow_rules", out.secrets_allow_rules));
  const std::size_t before_rules = errors.size();
  read_secret_rules(r, secrets["rules"], out, errors);
  // A misspelt id would turn nothing off, silently; checked once the policy's own rules compiled.
  const Node& allow = secrets["allow_rules"];
  if (!allow_read || !allow || errors.size() != before_rules) return;
  const auto& known = out.secrets().rules();
  std::size_t i = 0;
  for (const Node& item : allow.items()) {
    if (i >= out.secrets_allow_rules.size()) break;
    const std::string& id = out.secrets_allow_rules[i++];
    const bool found = std::any_of(known.begin(), known.end(),
                                   [&](const SecretRuleInfo& rule) { return rule.id == id; });
    if (!found) {
      errors.push_back(r.error_at(item, "key `allow_rules`: no secret rule `" + id +
                                            "` (`stepgate scan --list-rules` lists them)"));
    }
  }
}

void read_ci(const Reader& r, const Node& node, CiSettings& out, Errors& errors) {
  if (!r.check_map(node, "ci",
                   {"production_environments", "deployers", "default_branches", "change_window"},
                   errors)) {
    return;
  }
  keep(errors, r.read_string_list(node, "production_environments", out.production_environments));
  keep(errors, r.read_string_list(node, "deployers", out.deployers));
  keep(errors, r.read_string_list(node, "default_branches", out.default_branches));
  read_change_window(r, node, out, errors);
}

void read_agents(const Reader& r, const Node& node, AgentSettings& out, Errors& errors) {
  if (!r.check_map(node, "agents",
                   {"workspaces", "sensitive_paths", "known_hosts", "step_up_response", "hold",
                    "max_body_bytes"},
                   errors)) {
    return;
  }
  keep(errors, r.read_string_list(node, "workspaces", out.workspaces));
  keep(errors, r.read_string_list(node, "sensitive_paths", out.sensitive_paths));
  keep(errors, r.read_string_list(node, "known_hosts", out.known_hosts));
  keep(errors, r.read_duration(node, "hold", out.hold));
  if (keep(errors, r.read_int(node, "max_body_bytes", out.max_body_bytes)) &&
      out.max_body_bytes <= 0) {
    errors.push_back(r.error_at(node["max_body_bytes"], "key `max_body_bytes`: must be positive"));
  }
  std::string response;
  if (!keep(errors, r.read_string(node, "step_up_response", response))) return;
  if (response == "hold") {
    out.step_up_response = HoldMode::kHold;
  } else if (response == "instruct") {
    out.step_up_response = HoldMode::kInstruct;
  } else if (response == "ask") {
    out.step_up_response = HoldMode::kAsk;
  } else if (response == "defer") {
    out.step_up_response = HoldMode::kDefer;
  } else if (!response.empty()) {
    errors.push_back(r.error_at(node["step_up_response"],
                                "key `step_up_response`: must be hold, instruct, ask or defer"));
  }
}

void read_audit(const Reader& r, const Node& node, AuditSettings& out, Errors& errors) {
  if (!r.check_map(node, "audit", {"path", "durable"}, errors)) return;
  keep(errors, r.read_string(node, "path", out.path));
  keep(errors, r.read_bool(node, "durable", out.durable));
}

}  // namespace stepgate::policy_detail
