// Challenges: what a held action hands to an approver, as a self-checking text token.
#include <algorithm>
#include <set>

#include "stepgate/audit.h"
#include "stepgate/json.h"
#include "stepgate/secrets.h"
#include "stepgate/stepup.h"

namespace stepgate {

namespace {

constexpr std::string_view kPrefix = "sgc1.";
constexpr std::size_t kMaxTokenBytes = std::size_t{64} * 1024;
constexpr std::size_t kChecksumBytes = 12;
// Attributes larger than this are left out of the token (the inbox keeps the full view).
constexpr std::size_t kMaxAttributesJson = std::size_t{4} * 1024;

std::string redact_if_secret(const std::string& text) {
  return looks_like_secret(text) ? redact_text(text) : text;
}

std::string checksum(std::string_view body) {
  Bytes digest = sha256(body);
  digest.resize(kChecksumBytes);
  return base64url_encode(digest);
}

Value requirement_to_value(const Requirement& r) {
  return Map{{"method", method_name(r.method)},
             {"approvers", r.approvers},
             {"max_age", static_cast<int64_t>(r.max_age.count())}};
}

Result<Requirement> requirement_from_value(const Value* v) {
  if (v == nullptr || !v->is_map()) return invalid_argument("challenge: missing `requirement`");
  Requirement r;
  std::string method = v->get_string("method");
  if (method == "totp") {
    r.method = StepUpMethod::kTotp;
  } else if (method == "approval") {
    r.method = StepUpMethod::kApproval;
  } else {
    return invalid_argument("challenge: unknown step-up method `" + method + "`");
  }
  r.approvers = static_cast<int>(v->get_int("approvers", 1));
  r.max_age = std::chrono::seconds(v->get_int("max_age", 0));
  return r;
}

Value challenge_to_value(const Challenge& c) {
  List reasons(c.reasons.begin(), c.reasons.end());
  Value attributes = c.attributes;
  std::string attributes_json = to_json(attributes);
  if (attributes_json.size() > kMaxAttributesJson) {
    attributes = Map{{"_omitted", "attributes too large for the challenge (" +
                                      std::to_string(attributes_json.size()) + " bytes)"}};
  }
  return Map{{"v", 1},
             {"id", c.id},
             {"kind", c.kind},
             {"resource", c.resource},
             {"actor", c.actor},
             {"digest", c.action_digest},
             {"rev", c.policy_revision},
             {"score", c.score},
             {"reasons", std::move(reasons)},
             {"signals", c.signals},
             {"attributes", std::move(attributes)},
             {"requirement", requirement_to_value(c.requirement)},
             {"created_at", c.created_at},
             {"expires_at", c.expires_at}};
}

Status require_fields(const Value& v) {
  for (const char* key : {"id", "kind", "resource", "actor", "digest"}) {
    const Value* f = v.find(key);
    if (f == nullptr || !f->is_string()) {
      return invalid_argument(std::string("challenge: missing field `") + key + "`");
    }
  }
  for (const char* key : {"created_at", "expires_at"}) {
    const Value* f = v.find(key);
    if (f == nullptr || !f->is_int()) {
      return invalid_argument(std::string("challenge: missing field `") + key + "`");
    }
  }
  if (v.get_string("digest").size() != 64) return invalid_argument("challenge: bad digest");
  return {};
}

Result<Challenge> challenge_from_value(const Value& v) {
  if (!v.is_map() || v.get_int("v") != 1) return invalid_argument("challenge: unknown version");
  Status fields = require_fields(v);
  if (!fields) return fields.error();
  auto requirement = requirement_from_value(v.find("requirement"));
  if (!requirement) return requirement.error();
  Challenge c;
  c.id = v.get_string("id");
  c.kind = v.get_string("kind");
  c.resource = v.get_string("resource");
  c.actor = v.get_string("actor");
  c.action_digest = v.get_string("digest");
  c.policy_revision = v.get_string("rev");
  c.score = static_cast<int>(v.get_int("score"));
  if (const Value* reasons = v.find("reasons"); reasons != nullptr && reasons->is_list()) {
    for (const Value& r : reasons->as_list()) {
      if (r.is_string()) c.reasons.push_back(r.as_string());
    }
  }
  if (const Value* s = v.find("signals"); s != nullptr && s->is_map()) c.signals = *s;
  if (const Value* a = v.find("attributes"); a != nullptr && a->is_map()) c.attributes = *a;
  c.requirement = *requirement;
  c.created_at = v.get_int("created_at");
  c.expires_at = v.get_int("expires_at");
  return c;
}

}  // namespace

std::string encode_challenge(const Challenge& challenge) {
  std::string body = to_json(challenge_to_value(challenge));
  return std::string(kPrefix) + base64url_encode(body) + "." + checksum(body);
}

Result<Challenge> decode_challenge(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  if (text.size() > kMaxTokenBytes) {
    return make_error(ErrorCode::kResourceExhausted, "challenge is larger than 64 KiB");
  }
  if (text.substr(0, kPrefix.size()) != kPrefix) {
    return invalid_argument("not a stepgate challenge (it should start with `sgc1.`)");
  }
  text.remove_prefix(kPrefix.size());
  auto dot = text.find('.');
  if (dot == std::string_view::npos) {
    return invalid_argument("challenge is truncated (no checksum); copy the whole line");
  }
  auto body = base64url_decode(text.substr(0, dot));
  if (!body) return invalid_argument("challenge is damaged (not base64url); copy the whole line");
  std::string body_text(body->begin(), body->end());
  if (!constant_time_equal(checksum(body_text), text.substr(dot + 1))) {
    return invalid_argument("challenge checksum does not match: it was truncated or altered");
  }
  auto value = parse_json(body_text);
  if (!value) return invalid_argument("challenge: " + value.error().message);
  return challenge_from_value(*value);
}

Result<Challenge> make_challenge(const Action& action, const Decision& decision,
                                 const Policy& policy, const Value& signals, UnixTime now) {
  auto id = random_id(5);
  if (!id) return id.error();
  Challenge c;
  c.id = std::move(*id);
  // A challenge travels in the clear (CI logs and summaries, terminals, the inbox): its text goes
  // through the audit log's redaction. The digest binds the real action.
  c.kind = redact_if_secret(action.kind);
  c.resource = redact_if_secret(action.resource);
  c.actor = redact_if_secret(action.actor);
  c.action_digest = decision.action_digest.empty() ? action_digest(action) : decision.action_digest;
  c.policy_revision = decision.policy_revision;
  c.score = decision.score;
  c.attributes = redact_secrets(action.attributes);
  c.requirement = decision.requirement.value_or(policy.step_up);
  std::set<std::string> salient;
  for (const Reason& reason : decision.reasons) {
    c.reasons.push_back(redact_if_secret(reason.rule_id + ": " + reason.message));
    auto rule = std::find_if(policy.rules.begin(), policy.rules.end(),
                             [&](const Rule& r) { return r.id == reason.rule_id; });
    if (rule == policy.rules.end()) continue;
    const auto& names = rule->when.referenced_signals();
    salient.insert(names.begin(), names.end());
  }
  Map picked;
  for (const std::string& name : salient) {
    if (const Value* v = signals.find(name); v != nullptr) picked[name] = *v;
  }
  c.signals = redact_secrets(Value(std::move(picked)));
  c.created_at = now;
  c.expires_at = now + policy.challenge_ttl.count();
  return c;
}

}  // namespace stepgate
