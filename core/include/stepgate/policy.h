#pragma once
/// A policy: settings, thresholds and rules, loaded strictly and compiled once into const data.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stepgate/change_window.h"
#include "stepgate/expr.h"
#include "stepgate/result.h"
#include "stepgate/secrets.h"

namespace stepgate {

enum class Verdict { kAllow, kStepUp, kDeny };
enum class Mode { kEnforce, kShadow };
enum class OnError { kDeny, kAllow };
enum class StepUpMethod { kTotp, kApproval };
/// How the agent shim answers a tools/call that needs step-up. kAsk (`ask`): the Claude Code
/// hook answers permissionDecision "ask" so the human at Claude Code's prompt decides; the MCP
/// front-ends treat it as kInstruct.
enum class HoldMode { kHold, kInstruct, kAsk, kDefer };

const char* verdict_name(Verdict v);      // "allow", "step_up", "deny"
const char* method_name(StepUpMethod m);  // "totp", "approval"

/// What a held action needs: how to prove it, how many approvers, how long the proof lasts.
struct Requirement {
  StepUpMethod method = StepUpMethod::kTotp;
  int approvers = 1;
  std::chrono::seconds max_age{900};  // elevation lifetime; 0 asks every time
};

/// Where a key sat in the source file (1-based; 0 when unknown).
struct SourceLocation {
  int line = 0;
  int column = 0;
};

struct Rule {
  std::string id;
  std::string on = "*";  // kind glob
  Expression when;
  int score = 0;
  std::optional<Verdict> effect;  // kStepUp or kDeny: a floor
  std::string message;            // with {placeholders}
  Mode mode = Mode::kEnforce;
  std::optional<Requirement> requirement;  // overrides the policy's step_up defaults
  SourceLocation location;
  SourceLocation when_location;  // of the `when` value, for lint's type errors
};

struct Approver {
  std::string id;
  std::string public_key;     // "ed25519:" + base64url of the raw 32-byte key
  bool require_totp = false;  // `stepgate approve` also asks for this approver's own TOTP
};

struct BusinessHours {
  int start_hour = 9;                           // inclusive, local time
  int end_hour = 18;                            // exclusive
  std::vector<int> weekdays = {1, 2, 3, 4, 5};  // 0 = Sunday
};

/// Settings for the git front-end.
struct GitSettings {
  std::vector<std::string> protected_refs = {"refs/heads/main", "refs/heads/master",
                                             "refs/heads/release/**", "refs/tags/**"};
  int64_t large_file_bytes = int64_t{5} * 1024 * 1024;
  std::vector<std::string> secrets_allow_paths;  // globs
  std::vector<std::string> secrets_allow_rules;  // rule ids
  /// The built-in secret rules plus `git.secrets.rules`, compiled once at load (shared read-only
  /// by every scan thread); null when the policy adds none.
  std::shared_ptr<const SecretScanner> secret_scanner;
  /// The scanner a push (or `stepgate scan`) runs: secret_scanner, else the built-in rules.
  [[nodiscard]] const SecretScanner& secrets() const {
    return secret_scanner ? *secret_scanner : SecretScanner::builtin();
  }
  std::vector<std::string> model_extensions = {".safetensors", ".onnx", ".pt",  ".pth",
                                               ".ckpt",        ".gguf", ".pkl", ".h5"};
  std::vector<std::string> ci_config_paths = {".github/workflows/**", ".gitlab-ci.yml",
                                              ".gitlab/**", "Jenkinsfile", ".circleci/**"};
};

/// Settings for the CI front-end.
struct CiSettings {
  std::vector<std::string> production_environments = {"prod", "production"};
  std::vector<std::string> deployers;
  std::vector<std::string> default_branches = {"main", "master"};
  std::string change_window;                 // e.g. "Mon-Thu 09:00-16:00"; empty: always inside
  std::vector<ChangeWindow> change_windows;  // change_window, parsed at load
};

/// Settings for the agent front-ends.
struct AgentSettings {
  std::vector<std::string> workspaces;  // paths; empty: the shim's working directory
  std::vector<std::string> sensitive_paths = {
      "**/.env",    "**/.env.*",      "~/.ssh/**", "**/*.pem",  "**/*.key",
      "**/id_rsa*", "**/id_ed25519*", "/etc/**",   "~/.aws/**", "~/.config/stepgate/**"};
  std::vector<std::string> known_hosts;
  HoldMode step_up_response = HoldMode::kInstruct;
  std::chrono::seconds hold{120};
  int64_t max_body_bytes = int64_t{4} * 1024 * 1024;
};

struct AuditSettings {
  std::string path;  // empty: $XDG_STATE_HOME/stepgate/audit.jsonl
  /// Long-running front-ends (shim, mcp-wrap, daemon) report a decision only once its record is
  /// on disk; otherwise they fsync in batches (up to 50 ms of records at risk on a power loss).
  bool durable = false;
};

struct Policy {
  std::string source_path;
  std::string revision;  // "sha256:" + hex of the file's bytes
  std::string name;
  Mode mode = Mode::kEnforce;
  OnError on_error = OnError::kDeny;
  int step_up_threshold = 50;
  int deny_threshold = 100;
  Requirement step_up;  // defaults for every rule
  bool allow_self_approval = false;
  std::chrono::seconds grant_ttl{3600};      // how long a grant from `approve` is valid
  std::chrono::seconds challenge_ttl{3600};  // how long a challenge can be approved
  std::string timezone = "UTC";              // IANA name
  BusinessHours business_hours;
  std::chrono::seconds velocity_window{600};
  std::vector<Approver> approvers;
  GitSettings git;
  CiSettings ci;
  AgentSettings agents;
  AuditSettings audit;
  std::vector<Rule> rules;

  /// The approver with this id, or nullptr.
  [[nodiscard]] const Approver* find_approver(std::string_view id) const;
};

/// Loads a policy from a file (.yaml/.yml/.json; YAML is a superset so either parses).
/// Strict: unknown keys, wrong types, duplicate rule ids, bad thresholds or durations, and
/// expressions that do not compile are errors "FILE:LINE:COLUMN: key `k`: what is wrong".
Result<std::shared_ptr<const Policy>> load_policy_file(const std::string& path);

/// Same, keeping the parsed document in `cache_dir` keyed by the file's SHA-256, so later loads of
/// the same bytes skip the YAML scanner (hooks are fresh processes). Errors are always reported
/// from a full parse. $STEPGATE_NO_POLICY_CACHE turns the cache off.
Result<std::shared_ptr<const Policy>> load_policy_file_cached(const std::string& path,
                                                              const std::string& cache_dir);

/// Same, from text; `name` is used in messages in place of a path.
Result<std::shared_ptr<const Policy>> load_policy_text(std::string_view text,
                                                       const std::string& name);

/// Parses "15m", "1h", "30s", "2d", "0" into seconds.
Result<std::chrono::seconds> parse_duration(std::string_view text);

/// A lint finding: location plus message.
struct LintFinding {
  SourceLocation location;
  std::string rule_id;
  std::string message;
};

/// Checks rules against the signal registry: a rule that names a signal no collector provides for
/// its kinds, or whose `when` does not type-check against the signals' declared types, is a
/// finding. Empty when clean.
std::vector<LintFinding> lint_policy(const Policy& policy);

/// What `policy lint FILE` reports: every load error (the loader goes on past a bad rule or
/// section) and every lint_policy finding for the rules that loaded, each "FILE:LINE:COL: what".
struct PolicyLint {
  std::shared_ptr<const Policy> policy;  // set when there are no problems
  std::vector<std::string> problems;
};
PolicyLint lint_policy_file(const std::string& path);

}  // namespace stepgate
