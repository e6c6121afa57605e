// The settings sections of a policy file: business_hours, approvers, git, ci, agents, audit.
#include "policy_yaml.h"
#include "stepgate/crypto.h"

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

Status read_secret_rule(const Reader& r, const Node& item, SecretRuleSpec& rule) {
  if (Status s = r.check_map(item, "git.secrets.rules",
                             {"id", "description", "regex", "keywords", "entropy", "allow"});
      !s.ok())
    return s;
  if (Status s = r.read_string(item, "id", rule.id); !s.ok()) return s;
  if (Status s = r.read_string(item, "description", rule.description); !s.ok()) return s;
  if (Status s = r.read_string(item, "regex", rule.regex); !s.ok()) return s;
  if (Status s = r.read_string_list(item, "keywords", rule.keywords); !s.ok()) return s;
  if (Status s = read_entropy(r, item, rule.entropy); !s.ok()) return s;
  if (Status s = r.read_string_list(item, "allow", rule.allow); !s.ok()) return s;
  const auto errors = SecretScanner::check_rule(rule);
  if (errors.empty()) return {};
  const SecretScanner::RuleError& e = errors.front();
  const Node& at = item[e.key];
  const Node& where = at.is_sequence() ? at[e.index] : at;
  return r.error_at(where ? where : item,
                    "secret rule `" + rule.id + "`: key `" + e.key + "`: " + e.message);
}

// git.secrets.rules: checked one by one (so an error points at its key), then compiled once
// with the built-in rules into the scanner every push of this policy shares.
Status read_secret_rules(const Reader& r, const Node& node, GitSettings& out) {
  if (!node) return {};
  if (!node.is_sequence()) return r.error_at(node, "key `rules`: must be a list of rules");
  std::vector<SecretRuleSpec> rules;
  for (const Node& item : node.items()) {
    SecretRuleSpec rule;
    if (Status s = read_secret_rule(r, item, rule); !s.ok()) return s;
    for (const SecretRuleSpec& other : rules) {
      if (other.id == rule.id) {
        return r.error_at(item["id"], "secret rule `" + rule.id + "`: key `id`: repeated");
      }
    }
    rules.push_back(std::move(rule));
  }
  if (rules.empty()) return {};
  auto scanner = SecretScanner::compile(rules);
  if (!scanner.ok()) return r.error_at(node, "key `rules`: " + scanner.error().message);
  out.secret_scanner = std::move(scanner).value();
  return {};
}

}  // namespace

Status read_business_hours(const Reader& r, const Node& node, BusinessHours& out) {
  if (Status s = r.check_map(node, "business_hours", {"start", "end", "days"}); !s.ok()) return s;
  if (Status s = read_hour(r, node, "start", out.start_hour); !s.ok()) return s;
  if (Status s = read_hour(r, node, "end", out.end_hour); !s.ok()) return s;
  if (out.start_hour >= out.end_hour) {
    return r.error_at(node, "business_hours: start must be before end");
  }
  std::vector<std::string> days;
  if (Status s = r.read_string_list(node, "days", days); !s.ok()) return s;
  if (!node["days"]) return {};
  out.weekdays.clear();
  for (std::size_t i = 0; i < days.size(); ++i) {
    int found = -1;
    for (int d = 0; d < 7; ++d) found = days[i] == kDays[d] ? d : found;
    if (found < 0) {
      return r.error_at(node["days"][i],
                        "key `days`: unknown day `" + days[i] +
                            "` (expected one of: mon, tue, wed, thu, fri, sat, sun)");
    }
    out.weekdays.push_back(found);
  }
  return {};
}

Status read_approvers(const Reader& r, const Node& node, std::vector<Approver>& out) {
  if (!node.is_sequence()) return r.error_at(node, "`approvers` must be a list");
  for (const Node& item : node.items()) {
    if (Status s = r.check_map(item, "approvers", {"id", "public_key", "require_totp"}); !s.ok())
      return s;
    Approver a;
    if (Status s = r.read_string(item, "id", a.id); !s.ok()) return s;
    if (Status s = r.read_string(item, "public_key", a.public_key); !s.ok()) return s;
    if (Status s = r.read_bool(item, "require_totp", a.require_totp); !s.ok()) return s;
    if (a.id.empty()) return r.error_at(item, "approver: `id` is required");
    // A key that cannot verify anything would only fail later, at the first approval.
    const Result<Bytes> raw = a.public_key.rfind("ed25519:", 0) == 0
                                  ? base64url_decode(std::string_view(a.public_key).substr(8))
                                  : Result<Bytes>(invalid_argument("no ed25519: prefix"));
    if (!raw.ok() || raw->size() != 32) {
      return r.error_at(
          item["public_key"].is_defined() ? item["public_key"] : item,
          "approver `" + a.id + "`: `public_key` must be \"ed25519:\" + the base64url of 32 bytes");
    }
    for (const Approver& other : out) {
      if (other.id == a.id) return r.error_at(item, "duplicate approver id `" + a.id + "`");
    }
    out.push_back(std::move(a));
  }
  return {};
}

Status read_git(const Reader& r, const Node& node, GitSettings& out) {
  if (Status s = r.check_map(
          node, "git",
          {"protected_refs", "large_file_bytes", "secrets", "model_extensions", "ci_config_paths"});
      !s.ok()) {
    return s;
  }
  if (Status s = r.read_string_list(node, "protected_refs", out.protected_refs); !s.ok()) return s;
  if (Status s = r.read_int(node, "large_file_bytes", out.large_file_bytes); !s.ok()) return s;
  if (out.large_file_bytes <= 0)
    return r.error_at(node["large_file_bytes"], "key `large_file_bytes`: must be positive");
  if (Status s = r.read_string_list(node, "model_extensions", out.model_extensions); !s.ok())
    return s;
  if (Status s = r.read_string_list(node, "ci_config_paths", out.ci_config_paths); !s.ok())
    return s;
  const Node& secrets = node["secrets"];
  if (!secrets) return {};
  if (Status s = r.check_map(secrets, "git.secrets", {"allow_paths", "allow_rules", "rules"});
      !s.ok())
    return s;
  if (Status s = r.read_string_list(secrets, "allow_paths", out.secrets_allow_paths); !s.ok())
    return s;
  if (Status s = r.read_string_list(secrets, "allow_rules", out.secrets_allow_rules); !s.ok())
    return s;
  return read_secret_rules(r, secrets["rules"], out);
}

Status read_ci(const Reader& r, const Node& node, CiSettings& out) {
  if (Status s = r.check_map(
          node, "ci",
          {"production_environments", "deployers", "default_branches", "change_window"});
      !s.ok()) {
    return s;
  }
  if (Status s = r.read_string_list(node, "production_environments", out.production_environments);
      !s.ok())
    return s;
  if (Status s = r.read_string_list(node, "deployers", out.deployers); !s.ok()) return s;
  if (Status s = r.read_string_list(node, "default_branches", out.default_branches); !s.ok())
    return s;
  return r.read_string(node, "change_window", out.change_window);
}

Status read_agents(const Reader& r, const Node& node, AgentSettings& out) {
  if (Status s = r.check_map(node, "agents",
                             {"workspaces", "sensitive_paths", "known_hosts", "step_up_response",
                              "hold", "max_body_bytes"});
      !s.ok()) {
    return s;
  }
  if (Status s = r.read_string_list(node, "workspaces", out.workspaces); !s.ok()) return s;
  if (Status s = r.read_string_list(node, "sensitive_paths", out.sensitive_paths); !s.ok())
    return s;
  if (Status s = r.read_string_list(node, "known_hosts", out.known_hosts); !s.ok()) return s;
  if (Status s = r.read_duration(node, "hold", out.hold); !s.ok()) return s;
  if (Status s = r.read_int(node, "max_body_bytes", out.max_body_bytes); !s.ok()) return s;
  if (out.max_body_bytes <= 0)
    return r.error_at(node["max_body_bytes"], "key `max_body_bytes`: must be positive");
  std::string response;
  if (Status s = r.read_string(node, "step_up_response", response); !s.ok()) return s;
  if (response == "hold")
    out.step_up_response = HoldMode::kHold;
  else if (response == "instruct")
    out.step_up_response = HoldMode::kInstruct;
  else if (response == "ask")
    out.step_up_response = HoldMode::kAsk;
  else if (response == "defer")
    out.step_up_response = HoldMode::kDefer;
  else if (!response.empty()) {
    return r.error_at(node["step_up_response"],
                      "key `step_up_response`: must be hold, instruct, ask or defer");
  }
  return {};
}

Status read_audit(const Reader& r, const Node& node, AuditSettings& out) {
  if (Status s = r.check_map(node, "audit", {"path", "durable"}); !s.ok()) return s;
  if (Status s = r.read_string(node, "path", out.path); !s.ok()) return s;
  return r.read_bool(node, "durable", out.durable);
}

}  // namespace stepgate::policy_detail
