#pragma once
/// The one pipeline every front-end calls: collect common signals, evaluate, try step-up, audit,
/// and map the outcome to an exit code. Front-ends only build the Action and their own signals.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stepgate/audit.h"
#include "stepgate/engine.h"
#include "stepgate/paths.h"
#include "stepgate/policy.h"
#include "stepgate/policy_layers.h"
#include "stepgate/stepup.h"
#include "stepgate/store.h"

namespace stepgate {

struct GateOptions {
  std::string policy_path;  // explicit --policy (the user layer), else found per DESIGN.md
  std::string system_policy_path = kSystemPolicyPath;  // the system layer; tests point it elsewhere
  std::string cwd = ".";
  Env env;      // where the policy search reads $STEPGATE_POLICY (the caller's environment)
  Paths paths;  // the caller's (ProcessContext::paths()), never read here from this process
  AuditOptions audit_options;
  StoreOptions store_options;  // long-running front-ends cache the per-call lookups
  std::string
      front_end;  // "git", "ci", "shim", "claude", "mcp-wrap", "cli": written to the audit log
  /// Long-running front-ends: how often Gate::refresh_policy() looks at the policy files (0:
  /// never; the policy loaded at open stays).
  int policy_check_ms = 0;
};

struct GateRequest {
  Action action;
  Value signals = Map{};  // front-end signals; common ones are added by the gate
  std::vector<std::string> grants;
  bool allow_interactive = false;
  std::string server_url;
  std::string retry_command;  // how the user re-runs the held action ("git push"), for instructions
  std::string grant_retry;    // see StepUpRequest
  bool approvals_only = false;  // see StepUpRequest
  bool record_velocity = true;
  UnixTime now = 0;    // required: the caller's clock (ProcessContext::now)
  std::string device;  // the caller's device_fingerprint(env); "": this process's
};

struct GateOutcome {
  Decision decision;
  Verdict final_verdict = Verdict::kAllow;  // after step-up and shadow mode
  StepUpResult step_up;                     // when decision.verdict == kStepUp
  Value signals = Map{};                    // all signals the engine saw
  int exit_code = 0;                        // 0 allow, 1 deny, 3 step-up not satisfied
};

/// Where a Gate's decisions come from when not from its in-process engine: the authority
/// (core/src/gate_authority.cpp). It evaluates, holds and verifies step-up itself.
class DecisionSource {
 public:
  virtual ~DecisionSource() = default;
  /// Decides `request`; never throws; failures fail closed unless the source's policy allows.
  virtual GateOutcome decide(const GateRequest& request, StepUpIo& io) = 0;
  /// The challenge `id` as the source holds it; nullopt when it has none. kUnavailable when it
  /// cannot be asked.
  virtual Result<std::optional<ChallengeRecord>> find_challenge(const std::string& id) = 0;
};

class Gate {
 public:
  /// Loads the policy and opens the state store and audit log. A bad policy is an error (exit 2);
  /// callers that must fail closed treat it as deny unless the policy said on_error: allow.
  /// When an authority is configured (find_authority), decisions come from it instead: the
  /// policy() is then the authority's (for the front-end's collection settings), the local
  /// policy files travel as client layers, and an unreachable authority is not an open error
  /// but a deny from run() naming the socket.
  static Result<std::unique_ptr<Gate>> open(const GateOptions& options);

  /// Evaluates and, on step-up, tries to satisfy it. Never throws; engine failures fail closed
  /// (deny) unless the policy says on_error: allow.
  GateOutcome run(const GateRequest& request, StepUpIo& io);
  /// The same, moving the request's signals and the action's attributes into the outcome and
  /// the audit record instead of copying them (a long-running front-end's every call).
  GateOutcome run(GateRequest&& request, StepUpIo& io);

  /// At most once per GateOptions::policy_check_ms (long-running front-ends call it per
  /// request): looks whether a policy layer file changed, appeared or went away, and loads the
  /// layers again when one did. Requests under way keep the engine they started with (replaced
  /// engines live as long as the gate). A policy that no longer loads leaves the current one in
  /// force; its error is returned once per change of the files. True when it reloaded.
  /// Thread-safe; `audit.path` and `audit.durable` take effect when the gate is opened again.
  Result<bool> refresh_policy();

  /// The held challenge `id`: the authority's record when the authority decides, else the local
  /// store's. Front-ends that wait for a decision (the shim's hold mode) poll this. Thread-safe.
  Result<std::optional<ChallengeRecord>> find_challenge(const std::string& id);

  /// The settings policy (the most authoritative layer present).
  [[nodiscard]] const Policy& policy() const { return engine().policy(); }
  /// Every policy layer; evaluate() combines them (the strictest verdict wins).
  [[nodiscard]] const LayeredEngine& engine() const;
  StateStore& store() { return *store_; }
  AuditLog& audit() { return *audit_; }
  [[nodiscard]] const Paths& paths() const { return paths_; }
  /// True when the authority decides (run() asks it).
  [[nodiscard]] bool remote() const { return source_ != nullptr; }
  void set_decision_source(std::unique_ptr<DecisionSource> source) { source_ = std::move(source); }

  Gate(std::vector<PolicyLayer> layers, std::unique_ptr<StateStore> store,
       std::unique_ptr<AuditLog> audit, Paths paths, std::string front_end);
  ~Gate();
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

 private:
  /// run(); `owned` is `request` itself when the caller gave it up, nullptr when not.
  GateOutcome run(const GateRequest& request, GateRequest* owned, StepUpIo& io);

  struct PolicyWatch;
  std::unique_ptr<PolicyWatch> watch_;  // the engines, current and replaced; the reload state
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<AuditLog> audit_;
  Paths paths_;
  std::string front_end_;
  std::unique_ptr<DecisionSource> source_;
};

/// Gates kept open between requests by a long-running front-end (the hook daemon), so a request
/// costs no policy load and no SQLite open. get() hands back the gate opened for the same policy
/// file, paths and front-end while the policy file still has the same bytes and the state store
/// and audit log are still the files it opened; otherwise it opens a fresh one. Thread-safe: the
/// daemon's workers share one pool, and a gate handed out stays alive for its holder even when
/// the pool drops it (evicted or stale) meanwhile. Gate::run itself is thread-safe.
class GatePool {
 public:
  Result<std::shared_ptr<Gate>> get(const GateOptions& options);
  [[nodiscard]] std::size_t size() const;

 private:
  struct Entry;
  mutable std::mutex mu_;                        // guards entries_
  std::vector<std::shared_ptr<Entry>> entries_;  // most recently used last
};

/// Unix time now by the system clock: the clock of this_process() (process_context.cpp).
/// Commands take "now" from their ProcessContext, never from here.
UnixTime unix_now();

/// "2026-11-23T18:21:55Z" (UTC, seconds).
std::string format_rfc3339(UnixTime t);

}  // namespace stepgate
