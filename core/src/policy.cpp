#include "stepgate/policy.h"

#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "policy_yaml.h"
#include "stepgate/collect.h"
#include "stepgate/crypto.h"
#include "stepgate/limits.h"
#include "stepgate/paths.h"
#include "stepgate/signals.h"

namespace stepgate {
namespace {

using policy_detail::Errors;
using policy_detail::keep;
using policy_detail::Node;
using policy_detail::Reader;

constexpr std::size_t kMaxPolicyBytes = std::size_t{8} * 1024 * 1024;  // 8 MiB

// Placeholders are {name} or {a.b.c} with lower-case names, digits, '_' and '.'.
Status check_placeholders(const std::string& message) {
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] != '{') continue;
    const std::size_t end = message.find('}', i);
    if (end == std::string::npos) return invalid_argument("unclosed `{` in message");
    for (std::size_t j = i + 1; j < end; ++j) {
      const char c = message[j];
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.';
      if (!ok) return invalid_argument("bad placeholder `" + message.substr(i, end - i + 1) + "`");
    }
    if (end == i + 1) return invalid_argument("empty placeholder `{}` in message");
    i = end;
  }
  return {};
}

Status read_effect(const Reader& r, const Node& node, Rule& rule) {
  std::string effect;
  if (Status s = r.read_string(node, "effect", effect); !s.ok() || effect.empty()) return s;
  if (effect == "step_up")
    rule.effect = Verdict::kStepUp;
  else if (effect == "deny")
    rule.effect = Verdict::kDeny;
  else
    return r.error_at(
        node["effect"],
        "rule `" + rule.id + "`: key `effect`: must be step_up or deny, not \"" + effect + "\"");
  return {};
}

Status read_when(const Reader& r, const Node& node, Rule& rule) {
  const Node& when = node["when"];
  if (!when) return r.error_at(node, "rule `" + rule.id + "`: key `when` is required");
  if (!when.is_scalar()) return r.error_at(when, "rule `" + rule.id + "`: when: must be a string");
  rule.when_location = Reader::location(when);
  Result<Expression> compiled = Expression::compile(when.text());
  if (!compiled.ok()) {
    return r.error_at(when, "rule `" + rule.id + "`: when: " + compiled.error().message);
  }
  rule.when = std::move(compiled).value();
  return {};
}

Status read_score(const Reader& r, const Node& node, Rule& rule) {
  int64_t score = 0;
  if (Status s = r.read_int(node, "score", score); !s.ok()) return s;
  if (score < -1000000 || score > 1000000)
    return r.error_at(node["score"], "rule `" + rule.id + "`: score out of range");
  rule.score = static_cast<int>(score);
  if (!node["score"] && !node["effect"]) {
    return r.error_at(node, "rule `" + rule.id + "`: needs `score`, `effect` or both");
  }
  return {};
}

Status read_message(const Reader& r, const Node& node, Rule& rule) {
  if (Status s = r.read_string(node, "message", rule.message); !s.ok()) return s;
  if (Status s = check_placeholders(rule.message); !s.ok()) {
    return r.error_at(node["message"], "rule `" + rule.id + "`: message: " + s.error().message);
  }
  return {};
}

/// The rule, or nothing when it has errors (each kept: a rule with a bad `when` and a bad
/// `effect` reports both).
std::optional<Rule> read_rule(const Reader& r, const Node& node, const Requirement& defaults,
                              Errors& errors) {
  const std::size_t before = errors.size();
  if (!r.check_map(node, "rules[]",
                   {"id", "on", "when", "score", "effect", "message", "mode", "step_up"}, errors)) {
    return std::nullopt;
  }
  Rule rule;
  rule.location = Reader::location(node);
  if (keep(errors, r.read_string(node, "id", rule.id)) && rule.id.empty()) {
    errors.push_back(r.error_at(node, "rule: key `id` is required"));
  }
  if (keep(errors, r.read_string(node, "on", rule.on)) && rule.on.empty()) {
    errors.push_back(r.error_at(node["on"], "rule `" + rule.id + "`: key `on` must not be empty"));
  }
  keep(errors, read_when(r, node, rule));
  keep(errors, read_score(r, node, rule));
  keep(errors, read_effect(r, node, rule));
  keep(errors, read_message(r, node, rule));
  keep(errors, r.read_mode(node, rule.mode));
  if (node["step_up"]) {
    Requirement req = defaults;
    if (r.read_requirement(node, "step_up", req, errors)) rule.requirement = req;
  }
  if (errors.size() != before) return std::nullopt;
  return rule;
}

void read_rules(const Reader& r, const Node& node, Policy& policy, Errors& errors) {
  if (!node) return;
  if (!node.is_sequence()) {
    errors.push_back(r.error_at(node, "`rules` must be a list"));
    return;
  }
  std::set<std::string, std::less<>> ids;
  for (const Node& item : node.items()) {
    std::optional<Rule> rule = read_rule(r, item, policy.step_up, errors);
    if (!rule) continue;
    if (!ids.insert(rule->id).second) {
      errors.push_back(r.error_at(item["id"], "duplicate rule id `" + rule->id + "`"));
      continue;
    }
    policy.rules.push_back(std::move(*rule));
  }
}

void read_thresholds(const Reader& r, const Node& root, Policy& policy, Errors& errors) {
  const Node& node = root["thresholds"];
  if (!node) return;
  if (!r.check_map(node, "thresholds", {"step_up", "deny"}, errors)) return;
  const bool step_up = keep(errors, r.read_positive_int(node, "step_up", policy.step_up_threshold));
  const bool deny = keep(errors, r.read_positive_int(node, "deny", policy.deny_threshold));
  if (step_up && deny && policy.step_up_threshold >= policy.deny_threshold) {
    errors.push_back(r.error_at(
        node, "thresholds: step_up (" + std::to_string(policy.step_up_threshold) +
                  ") must be below deny (" + std::to_string(policy.deny_threshold) + ")"));
  }
}

/// `timezone` names a zone this machine has: checked at load, so a typo is a lint error at its
/// position rather than every action failing closed when its hour is collected.
void read_timezone(const Reader& r, const Node& root, Policy& policy, Errors& errors) {
  if (!keep(errors, r.read_string(root, "timezone", policy.timezone))) return;
  if (!root["timezone"]) return;
  if (auto local = local_time(0, policy.timezone); !local.ok()) {
    errors.push_back(r.error_at(root["timezone"], "key `timezone`: " + local.error().message));
  }
}

Status read_on_error(const Reader& r, const Node& root, Policy& policy) {
  std::string on_error;
  if (Status s = r.read_string(root, "on_error", on_error); !s.ok()) return s;
  if (on_error == "allow")
    policy.on_error = OnError::kAllow;
  else if (on_error == "deny" || on_error.empty())
    policy.on_error = OnError::kDeny;
  else
    return r.error_at(root["on_error"], "key `on_error`: must be deny or allow");
  return {};
}

void read_header(const Reader& r, const Node& root, Policy& policy, Errors& errors) {
  if (const Node& v = root["version"]; v && !(v.is_scalar() && v.text() == "1")) {
    errors.push_back(r.error_at(v, "key `version`: only version 1 is supported"));
  }
  keep(errors, r.read_string(root, "name", policy.name));
  keep(errors, r.read_mode(root, policy.mode));
  keep(errors, read_on_error(r, root, policy));
  read_thresholds(r, root, policy, errors);
  r.read_requirement(root, "step_up", policy.step_up, errors);
  keep(errors, r.read_bool(root, "allow_self_approval", policy.allow_self_approval));
  keep(errors, r.read_duration(root, "grant_ttl", policy.grant_ttl));
  keep(errors, r.read_duration(root, "challenge_ttl", policy.challenge_ttl));
  keep(errors, r.read_duration(root, "velocity_window", policy.velocity_window));
  read_timezone(r, root, policy, errors);
}

void read_sections(const Reader& r, const Node& root, Policy& policy, Errors& errors) {
  using namespace policy_detail;
  if (const Node& n = root["business_hours"]; n) {
    read_business_hours(r, n, policy.business_hours, errors);
  }
  if (const Node& n = root["approvers"]; n) read_approvers(r, n, policy.approvers, errors);
  if (const Node& n = root["git"]; n) read_git(r, n, policy.git, errors);
  if (const Node& n = root["ci"]; n) read_ci(r, n, policy.ci, errors);
  if (const Node& n = root["agents"]; n) read_agents(r, n, policy.agents, errors);
  if (const Node& n = root["audit"]; n) read_audit(r, n, policy.audit, errors);
}

/// Builds the policy, keeping every error found (a bad rule is left out, the rest still read).
void build_policy(const Reader& r, const Node& root, Policy& policy, Errors& errors) {
  if (!root || root.kind() == Node::Kind::kNull) {
    errors.push_back(r.error_at(root, "the policy is empty"));
    return;
  }
  if (!r.check_map(
          root, "policy",
          {"version", "name", "mode", "on_error", "thresholds", "step_up", "allow_self_approval",
           "grant_ttl", "challenge_ttl", "timezone", "business_hours", "velocity_window",
           "approvers", "git", "ci", "agents", "audit", "rules"},
          errors)) {
    return;
  }
  read_header(r, root, policy, errors);
  read_sections(r, root, policy, errors);
  read_rules(r, root["rules"], policy, errors);
}

/// One error for many: their messages, one a line (each already "FILE:LINE:COL: ...").
Status combined(const Errors& errors) {
  if (errors.empty()) return {};
  if (errors.size() == 1) return errors.front();
  std::string message;
  for (const Error& e : errors) message += (message.empty() ? "" : "\n") + e.message;
  return invalid_argument(message);
}

Status build_policy(const Reader& r, const Node& root, Policy& policy) {
  Errors errors;
  build_policy(r, root, policy, errors);
  return combined(errors);
}

// ---- The parsed-policy cache --------------------------------------------------------------------
// yaml-cpp's scanner is most of what loading a policy costs (~6 million instructions for a pack),
// and hooks are fresh processes. The loader reads only scalars, lists and maps, so a valid
// document is kept as JSON (scalars as strings, key order kept) and rebuilt as the loader's own
// tree without yaml-cpp; the policy is then built and its expressions compiled as usual.

using CacheJson = nlohmann::ordered_json;

CacheJson to_cache(const Node& node) {
  switch (node.kind()) {
    case Node::Kind::kScalar:
      return node.text();
    case Node::Kind::kSequence: {
      CacheJson out = CacheJson::array();
      for (const Node& item : node.items()) out.push_back(to_cache(item));
      return out;
    }
    case Node::Kind::kMap: {
      CacheJson out = CacheJson::object();
      for (const Node::Entry& kv : node.entries()) out[kv.first.text()] = to_cache(kv.second);
      return out;
    }
    case Node::Kind::kNull:
    case Node::Kind::kUndefined:
      break;
  }
  return nullptr;
}

/// Builds the loader's tree straight from the cache file's JSON events (nlohmann's SAX
/// interface): no JSON tree is built and torn down first, which was most of a cached load.
/// Numbers, bools and nulls (never written by to_cache) become null nodes.
class CacheTreeBuilder {
 public:
  bool null() { return done(Node(Node::Kind::kNull)); }
  bool boolean(bool /*v*/) { return null(); }
  bool number_integer(int64_t /*v*/) { return null(); }
  bool number_unsigned(uint64_t /*v*/) { return null(); }
  bool number_float(double /*v*/, const std::string& /*s*/) { return null(); }
  bool binary(std::vector<std::uint8_t>& /*v*/) { return null(); }
  bool string(std::string& v) { return done(Node::scalar(std::move(v))); }
  bool start_object(std::size_t /*n*/) { return open(Node::Kind::kMap); }
  bool key(std::string& k) {
    keys_.push_back(Node::scalar(std::move(k)));
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t /*n*/) { return open(Node::Kind::kSequence); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t /*pos*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*e*/) {
    return false;
  }
  /// The document's root: a map, or an undefined node when the file is not one.
  Node take() { return root_.is_map() ? std::move(root_) : Node(); }

 private:
  bool open(Node::Kind kind) {
    open_.emplace_back(kind);
    return true;
  }
  bool close() {
    Node finished = std::move(open_.back());
    open_.pop_back();
    return done(std::move(finished));
  }
  bool done(Node node) {
    if (open_.empty()) {
      root_ = std::move(node);
      return true;
    }
    Node& top = open_.back();
    if (top.is_sequence()) {
      top.push_back(std::move(node));
    } else {
      top.add(std::move(keys_.back()), std::move(node));
      keys_.pop_back();
    }
    return true;
  }

  std::vector<Node> open_;
  std::vector<Node> keys_;  // a map's key waiting for its value, one per open map
  Node root_;
};

/// The cached tree for this revision, or an undefined node when there is none (or it is bad).
Node read_cached_tree(const std::string& cache_path) {
  auto text = read_file(cache_path, kMaxPolicyBytes);
  // A deep cache file (never one we wrote) would overflow the parser's recursion: rebuild instead.
  if (!text.ok() || !check_json_nesting(*text).ok()) return {};
  CacheTreeBuilder builder;
  if (!nlohmann::json::sax_parse(*text, &builder)) return {};
  return builder.take();
}

/// The document's tree, read in one pass under the YAML limits (an alias bomb or a deep document is
/// refused before anything expands it), with FILE:LINE:COL errors.
Result<Node> parse_document(const Reader& reader, std::string_view text) {
  try {
    return Node::from_yaml(text, reader.file());
  } catch (const std::exception& e) {
    return invalid_argument(reader.file() + ": " + e.what());
  }
}

/// The policy a tree describes; `digest` is the SHA-256 (hex) of the file's bytes.
Result<std::shared_ptr<const Policy>> policy_from_tree(const Reader& reader, const Node& root,
                                                       const std::string& digest) {
  auto policy = std::make_shared<Policy>();
  policy->source_path = reader.file();
  policy->revision = "sha256:" + digest;
  if (Status s = build_policy(reader, root, *policy); !s.ok()) return s.error();
  return std::shared_ptr<const Policy>(std::move(policy));
}

/// Parses `text` once and builds its policy; the parsed tree goes to `tree` when asked (the cache
/// keeps it).
Result<std::shared_ptr<const Policy>> load_parsed(const Reader& reader, std::string_view text,
                                                  const std::string& digest, Node* tree) {
  Result<Node> root = parse_document(reader, text);
  if (!root.ok()) return root.error();
  try {
    auto policy = policy_from_tree(reader, *root, digest);
    if (tree != nullptr) *tree = std::move(root).value();
    return policy;
  } catch (const std::exception& e) {
    return invalid_argument(reader.file() + ": " + e.what());
  }
}

}  // namespace

Result<std::shared_ptr<const Policy>> load_policy_file_cached(const std::string& path,
                                                              const std::string& cache_dir) {
  auto text = read_file(path, kMaxPolicyBytes);
  if (!text.ok()) {
    if (text.error().code == ErrorCode::kNotFound) {
      return make_error(ErrorCode::kNotFound, path + ": cannot read the policy file");
    }
    return text.error();
  }
  if (cache_dir.empty() || !env_or_empty("STEPGATE_NO_POLICY_CACHE").empty()) {
    return load_policy_text(*text, path);
  }
  const std::string digest = sha256_hex(*text);
  const std::string cache_path = cache_dir + "/" + digest + ".json";
  const Reader reader(path);
  try {
    if (const Node root = read_cached_tree(cache_path); root.is_defined()) {
      if (auto policy = policy_from_tree(reader, root, digest); policy.ok()) return policy;
    }
  } catch (const std::exception&) {
    // A damaged cache entry: parse the file itself below.
  }
  Node tree;
  auto loaded = load_parsed(reader, *text, digest, &tree);
  if (!loaded.ok()) return loaded;
  try {
    // Only a document that built a valid policy is cached; a failed write costs the next run time.
    const std::string cached = to_cache(tree).dump();
    if (ensure_private_dir(cache_dir).ok()) (void)write_secret_file(cache_path, cached);
  } catch (const std::exception&) {
  }
  return loaded;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kAllow:
      return "allow";
    case Verdict::kStepUp:
      return "step_up";
    case Verdict::kDeny:
      return "deny";
  }
  return "deny";
}

const char* method_name(StepUpMethod m) {
  return m == StepUpMethod::kApproval ? "approval" : "totp";
}

const Approver* Policy::find_approver(std::string_view id) const {
  for (const Approver& a : approvers) {
    if (a.id == id) return &a;
  }
  return nullptr;
}

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::seconds(0);
  const auto bad = [&] {
    return invalid_argument("bad duration \"" + std::string(text) +
                            "\" (use e.g. 30s, 15m, 1h, 2d or 0)");
  };
  if (text.size() < 2 || text.size() > 12) return bad();
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return bad();
    n = n * 10 + (c - '0');
  }
  switch (text.back()) {
    case 's':
      return std::chrono::seconds(n);
    case 'm':
      return std::chrono::seconds(n * 60);
    case 'h':
      return std::chrono::seconds(n * 3600);
    case 'd':
      return std::chrono::seconds(n * 86400);
    default:
      return bad();
  }
}

Result<std::shared_ptr<const Policy>> load_policy_text(std::string_view text,
                                                       const std::string& name) {
  return load_parsed(Reader(name), text, sha256_hex(text), nullptr);
}

Result<std::shared_ptr<const Policy>> load_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, path + ": cannot read the policy file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  if (text.size() > kMaxPolicyBytes) {
    return make_error(ErrorCode::kResourceExhausted, path + ": policy file larger than 8 MiB");
  }
  return load_policy_text(text, path);
}

PolicyLint lint_policy_file(const std::string& path) {
  PolicyLint out;
  auto text = read_file(path, kMaxPolicyBytes);
  if (!text.ok()) {
    out.problems.push_back(path + ": " + text.error().message);
    return out;
  }
  const Reader reader(path);
  Result<Node> root = parse_document(reader, *text);
  if (!root.ok()) {
    out.problems.push_back(root.error().message);
    return out;
  }
  auto policy = std::make_shared<Policy>();
  policy->source_path = path;
  policy->revision = "sha256:" + sha256_hex(*text);
  Errors errors;
  try {
    build_policy(reader, *root, *policy, errors);
  } catch (const std::exception& e) {
    errors.push_back(invalid_argument(path + ": " + e.what()));
  }
  for (const Error& e : errors) out.problems.push_back(e.message);
  // The rules that loaded are linted even when others did not: one run reports everything.
  for (const LintFinding& f : lint_policy(*policy)) {
    out.problems.push_back(path + ":" + std::to_string(f.location.line) + ":" +
                           std::to_string(f.location.column) + ": " + f.message);
  }
  if (out.problems.empty()) out.policy = std::move(policy);
  return out;
}

}  // namespace stepgate
