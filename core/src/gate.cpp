#include "stepgate/gate.h"

#include "stepgate/gate_failure.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <mutex>
#include <utility>

#include "gate_authority.h"
#include "stepgate/baselines.h"
#include "stepgate/collect.h"
#include "stepgate/crypto.h"

namespace stepgate {
namespace {

int exit_code_for_verdict(Verdict v) {
  switch (v) {
    case Verdict::kAllow:
      return 0;
    case Verdict::kDeny:
      return 1;
    case Verdict::kStepUp:
      return 3;
  }
  return 1;
}

/// A decision that stands in for the engine's when the gate itself failed (fail closed).
Decision failure_decision(const Policy& policy, const std::string& digest, const std::string& why) {
  Decision d;
  d.policy_revision = policy.revision;
  d.action_digest = digest;
  const bool allow = policy.on_error == OnError::kAllow;
  d.verdict = allow ? Verdict::kAllow : Verdict::kDeny;
  Reason r;
  r.rule_id = "stepgate.error";
  r.effect = allow ? std::nullopt : std::optional<Verdict>(Verdict::kDeny);
  r.message = "stepgate could not evaluate this action (" + why +
              "); on_error: " + (allow ? "allow" : "deny");
  d.reasons.push_back(std::move(r));
  return d;
}

Value step_up_summary(const StepUpResult& s) {
  Value v = Map{};
  v["satisfied"] = s.satisfied;
  if (!s.method.empty()) v["method"] = s.method;
  if (!s.identity.empty()) v["identity"] = s.identity;
  if (!s.challenge.id.empty()) v["challenge_id"] = s.challenge.id;
  if (!s.problems.empty()) {
    List problems;
    for (const auto& p : s.problems) problems.emplace_back(p);
    v["problems"] = std::move(problems);
  }
  return v;
}

}  // namespace

UnixTime unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_rfc3339(UnixTime t) {
  const auto tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

/// What the policy files look like from outside: each layer's path, file identity, size and
/// modification time. A change in any (or a layer found or lost) is worth loading them again.
std::string layer_signature(const Result<std::vector<PolicyLayerPath>>& found) {
  if (!found.ok()) return "error: " + found.error().message;
  std::string out;
  for (const PolicyLayerPath& layer : *found) {
    struct stat st {};
    out += layer.path;
    if (::stat(layer.path.c_str(), &st) == 0) {
      out += '|' + std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':' +
             std::to_string(st.st_size) + ':' + std::to_string(st.st_mtim.tv_sec) + '.' +
             std::to_string(st.st_mtim.tv_nsec);
    }
    out += '\n';
  }
  return out;
}

bool same_revisions(const std::vector<PolicyLayer>& a, const std::vector<PolicyLayer>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].policy->revision != b[i].policy->revision) return false;
  }
  return true;
}

}  // namespace

struct Gate::PolicyWatch {
  std::atomic<const LayeredEngine*> current{nullptr};
  std::atomic<int64_t> next_check_ms{0};                // steady clock
  std::mutex mu;                                        // guards what follows
  std::vector<std::unique_ptr<LayeredEngine>> engines;  // every engine handed out, current last
  GateOptions options;                                  // where the layers come from
  std::string signature;                                // the files as last loaded
  std::string failed_signature;  // the files as last found not to load (reported once)

  void install(std::vector<PolicyLayer> layers) {
    engines.push_back(std::make_unique<LayeredEngine>(std::move(layers)));
    current.store(engines.back().get(), std::memory_order_release);
  }
};

Gate::Gate(std::vector<PolicyLayer> layers, std::unique_ptr<StateStore> store,
           std::unique_ptr<AuditLog> audit, Paths paths, std::string front_end)
    : watch_(std::make_unique<PolicyWatch>()),
      store_(std::move(store)),
      audit_(std::move(audit)),
      paths_(std::move(paths)),
      front_end_(std::move(front_end)) {
  watch_->install(std::move(layers));
}

Gate::~Gate() = default;

const LayeredEngine& Gate::engine() const {
  return *watch_->current.load(std::memory_order_acquire);
}

Result<bool> Gate::refresh_policy() {
  PolicyWatch& w = *watch_;
  const int interval = w.options.policy_check_ms;
  if (interval <= 0 || source_) return false;
  const int64_t now = steady_ms();
  int64_t due = w.next_check_ms.load(std::memory_order_relaxed);
  // One caller per interval looks; the others go on with the engine in force.
  if (now < due || !w.next_check_ms.compare_exchange_strong(due, now + interval)) return false;
  std::lock_guard lock(w.mu);
  const GateOptions& o = w.options;
  const std::string signature =
      layer_signature(find_policy_layers(o.policy_path, o.cwd, o.system_policy_path, o.env));
  if (signature == w.signature || signature == w.failed_signature) return false;
  auto layers = load_policy_layers(o.policy_path, o.cwd, o.system_policy_path,
                                   o.paths.state_dir + "/policy-cache", o.env);
  if (!layers.ok()) {
    w.failed_signature = signature;
    return layers.error();
  }
  w.signature = signature;
  w.failed_signature.clear();
  if (same_revisions(engine().layers(), *layers)) return false;  // touched, same bytes
  w.install(std::move(layers).value());
  return true;
}

Result<std::unique_ptr<Gate>> Gate::open(const GateOptions& options) {
  auto authority = find_authority(options.paths, options.env);
  if (!authority.ok()) return authority.error();
  if (authority->has_value()) return open_authority_gate(options, **authority);
  // Seen before loading: an edit that lands between the two is found by the next refresh.
  const std::string signature =
      options.policy_check_ms > 0
          ? layer_signature(find_policy_layers(options.policy_path, options.cwd,
                                               options.system_policy_path, options.env))
          : std::string();
  auto layers = load_policy_layers(options.policy_path, options.cwd, options.system_policy_path,
                                   options.paths.state_dir + "/policy-cache", options.env);
  if (!layers.ok()) return layers.error();
  const std::shared_ptr<const Policy> policy = layers->front().policy;  // the settings layer
  if (Status s = ensure_private_dir(options.paths.state_dir); !s.ok()) return s.error();
  auto store = StateStore::open(options.paths.state_db, options.store_options);
  if (!store.ok()) return store.error();
  const std::string audit_path =
      policy->audit.path.empty() ? options.paths.audit_log : policy->audit.path;
  AuditOptions audit_options = options.audit_options;
  audit_options.durable = audit_options.durable || policy->audit.durable;
  if (!audit_options.checkpoints) {  // local mode: sign the head with the local key, in the store
    auto key = load_local_checkpoint_key(options.paths.secrets_dir, /*create=*/true);
    if (!key.ok()) return key.error();
    audit_options.checkpoints =
        make_store_checkpoint_sink(**store, std::move(key).value(), audit_options.fsync_batch_ms);
  }
  auto audit = AuditLog::open(audit_path, audit_options);
  if (!audit.ok()) return audit.error();
  auto gate = std::make_unique<Gate>(std::move(layers).value(), std::move(store).value(),
                                     std::move(audit).value(), options.paths, options.front_end);
  if (options.policy_check_ms > 0) {
    gate->watch_->options = options;
    gate->watch_->signature = signature;
    gate->watch_->next_check_ms = steady_ms() + options.policy_check_ms;
  }
  return gate;
}

GateFailure gate_open_failure(const Error& error, const GateOptions& options,
                              const std::string& what) {
  GateFailure failure;
  // Under an authority, only its own (signed) policy may say on_error: allow, never a local file
  // the gated party can write; a configuration that cannot be read counts as one.
  auto authority = find_authority(options.paths, options.env);
  const bool local = authority.ok() && !authority->has_value();
  auto path = find_policy_path(options.policy_path, options.cwd, options.env);
  if (local && path.ok()) {
    // The policy may have loaded and something after it failed (state store, audit log); a
    // policy that does not load cannot say on_error: allow.
    auto policy = load_policy_file(*path);
    failure.allow = policy.ok() && (*policy)->on_error == OnError::kAllow;
  }
  failure.message =
      error.message + (failure.allow ? "; " + what + " allowed (policy on_error: allow)"
                                     : "; " + what + " blocked (fail closed)");
  return failure;
}

std::string describe_exception(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return std::string("internal error: ") + e.what();
  } catch (...) {
    return "internal error: unknown exception";
  }
}

Result<std::optional<ChallengeRecord>> Gate::find_challenge(const std::string& id) {
  if (source_) return source_->find_challenge(id);
  return store_->get_challenge(id);
}

GateOutcome Gate::run(const GateRequest& request, StepUpIo& io) {
  return run(request, nullptr, io);
}

GateOutcome Gate::run(GateRequest&& request, StepUpIo& io) {
  return run(request, &request, io);
}

GateOutcome Gate::run(const GateRequest& request, GateRequest* owned, StepUpIo& io) {
  // The digest of the action as it came, for the failure record below (the attributes may have
  // been moved into the audit record by then).
  std::string digest;
  // Nothing on the request path may throw past here: an exception is a failed evaluation, which
  // fails closed unless the policy says on_error: allow (a front-end must never see an abort).
  try {
    if (source_) return source_->decide(request, io);
    GateOutcome out;
    const LayeredEngine& engine = this->engine();  // one engine for the whole request
    const Policy& policy = engine.policy();
    const Action& action = request.action;
    const UnixTime now = request.now;
    digest = action_digest(action);
    const std::string device = request.device.empty() ? device_fingerprint() : request.device;

    if (!request.signals.is_map()) {
      out.signals = Value(Map{});
    } else if (owned != nullptr) {
      out.signals = std::move(owned->signals);
    } else {
      out.signals = request.signals;
    }
    CollectContext context{now, device, store_.get()};
    const SignalDemand demand = signals_read(engine, action.kind);
    Status collected = collect_common_signals(action, policy, context, out.signals);
    if (collected.ok()) {
      collected = collect_baseline_signals(action, policy, context, demand, out.signals);
    }
    if (!collected.ok()) {
      out.decision = failure_decision(policy, digest, collected.error().message);
    } else {
      fill_signal_defaults(action.kind, out.signals);
      out.decision = engine.evaluate(action, out.signals, digest);
    }
    out.final_verdict = out.decision.verdict;

    if (out.decision.verdict == Verdict::kStepUp) {
      StepUp step_up(policy, *store_, audit_.get(), paths_);
      StepUpRequest sr;
      sr.action = action;
      sr.decision = out.decision;
      sr.signals = out.signals;
      sr.device = device;
      sr.grants = request.grants;
      sr.allow_interactive = request.allow_interactive;
      sr.server_url = request.server_url;
      sr.retry_command = request.retry_command;
      sr.grant_retry = request.grant_retry;
      sr.approvals_only = request.approvals_only;
      sr.now = now;
      out.step_up = step_up.satisfy(sr, io);
      if (out.step_up.satisfied) out.final_verdict = Verdict::kAllow;
    }

    if (request.record_velocity) {
      (void)store_->record_action(action.kind, action.actor, now);  // best effort: a signal only
    }
    if (out.final_verdict == Verdict::kAllow && !out.signals.get_bool("device_known")) {
      (void)store_->mark_device_known(action.actor, device);
    }
    if (out.final_verdict == Verdict::kAllow) {
      (void)remember_baseline(action, context, demand);  // best effort: a signal only
    }

    Value record = Map{};
    record["front_end"] = front_end_;
    Value summary = Map{};
    summary["kind"] = action.kind;
    summary["actor"] = action.actor;
    summary["resource"] = action.resource;
    summary["digest"] = digest;
    // The action's last use: what the caller gave up is moved, not copied (a conditional
    // expression of the two would copy both ways: its type is a const Value).
    if (owned != nullptr) {
      summary["attributes"] = std::move(owned->action.attributes);
    } else {
      summary["attributes"] = action.attributes;
    }
    record["action"] = std::move(summary);
    record["decision"] = decision_to_value(out.decision);
    record["final_verdict"] = verdict_name(out.final_verdict);
    if (out.decision.verdict == Verdict::kStepUp) record["step_up"] = step_up_summary(out.step_up);
    if (Status s = audit_->append("decision", std::move(record)); !s.ok()) {
      // A decision that cannot be recorded is not taken (fail closed) unless the policy says so.
      if (policy.on_error == OnError::kDeny && out.final_verdict == Verdict::kAllow) {
        out.final_verdict = Verdict::kDeny;
        Reason r;
        r.rule_id = "stepgate.audit";
        r.effect = Verdict::kDeny;
        r.message = "the audit log could not be written: " + s.error().message;
        out.decision.reasons.push_back(std::move(r));
      }
    }
    out.exit_code = exit_code_for_verdict(out.final_verdict);
    return out;
  } catch (...) {
    const std::string why = describe_exception(std::current_exception());
    GateOutcome out;
    if (digest.empty()) {
      try {
        digest = action_digest(request.action);  // it failed before the digest was taken
      } catch (...) {
        digest.clear();
      }
    }
    out.decision = failure_decision(this->engine().policy(), digest, why);
    out.final_verdict = out.decision.verdict;
    out.exit_code = exit_code_for_verdict(out.final_verdict);
    Value record = Map{};
    record["front_end"] = front_end_;
    record["decision"] = decision_to_value(out.decision);
    record["final_verdict"] = verdict_name(out.final_verdict);
    try {
      (void)audit_->append("decision", record);
    } catch (...) {
      // Already failing closed; the record is best effort here.
    }
    return out;
  }
}

// ---- GatePool -----------------------------------------------------------------------------------

namespace {

constexpr std::size_t kMaxPooledGates = 8;
constexpr std::size_t kMaxPooledPolicyBytes = std::size_t{8} * 1024 * 1024;
constexpr int kPooledFsyncBatchMs = 50;

struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};

/// The file's identity, or a zero id when it does not exist (then nothing matches it).
FileId file_id(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino};
}

bool same_paths(const Paths& a, const Paths& b) {
  return a.config_dir == b.config_dir && a.state_dir == b.state_dir &&
         a.secrets_dir == b.secrets_dir && a.state_db == b.state_db && a.audit_log == b.audit_log;
}

std::string audit_path_of(const Gate& gate) {
  const std::string& configured = gate.policy().audit.path;
  return configured.empty() ? gate.paths().audit_log : configured;
}

}  // namespace

struct GatePool::Entry {
  std::vector<std::string> policy_paths;  // absolute, one per layer
  Paths paths;
  std::string front_end;
  AuditOptions audit_options;
  int cache_ms = 0;
  FileId state_db;
  FileId audit_log;
  std::unique_ptr<Gate> gate;

  [[nodiscard]] bool serves(const std::vector<std::string>& paths_in, const GateOptions& o) const {
    return policy_paths == paths_in && same_paths(paths, o.paths) && front_end == o.front_end &&
           cache_ms == o.store_options.cache_ms && audit_options.fsync == o.audit_options.fsync &&
           audit_options.fsync_batch_ms == o.audit_options.fsync_batch_ms;
  }
  /// Still the policy bytes it loaded, and still the store and log files it opened (a deleted
  /// or replaced state directory must not swallow records).
  [[nodiscard]] bool fresh(const std::vector<std::string>& revisions) const {
    if (state_db == FileId{} || audit_log == FileId{}) return false;
    const std::vector<PolicyLayer>& layers = gate->engine().layers();
    // An authority gate's first layer is the authority's policy, not a local file.
    const std::size_t local = gate->remote() ? 1 : 0;
    if (layers.size() != revisions.size() + local) return false;
    for (std::size_t i = 0; i < revisions.size(); ++i) {
      if (revisions[i].empty() || layers[i + local].policy->revision != revisions[i]) return false;
    }
    return file_id(paths.state_db) == state_db && file_id(audit_path_of(*gate)) == audit_log;
  }
};

Result<std::shared_ptr<Gate>> GatePool::get(const GateOptions& options) {
  // The policy files are found and hashed before taking the lock: that is the per-request work,
  // and requests for different gates need not wait for each other's reads.
  auto found =
      find_policy_layers(options.policy_path, options.cwd, options.system_policy_path, options.env);
  if (!found.ok() && found.error().code == ErrorCode::kNotFound) {
    // Under an authority no local policy file is needed: the authority's policy decides, and
    // local files only ride along as client layers.
    auto authority = find_authority(options.paths, options.env);
    if (authority.ok() && authority->has_value()) found = std::vector<PolicyLayerPath>{};
  }
  if (!found.ok()) return found.error();
  std::error_code ec;
  std::vector<std::string> paths;
  std::vector<std::string> revisions;  // "" when unreadable: then the gate is reopened
  for (const PolicyLayerPath& layer : *found) {
    paths.push_back(std::filesystem::absolute(layer.path, ec).string());
    auto text = read_file(paths.back(), kMaxPooledPolicyBytes);
    revisions.push_back(text.ok() ? "sha256:" + sha256_hex(*text) : std::string());
  }
  // A gate is opened under the lock, so two requests for the same policy never open two gates
  // on one audit log; an open costs a policy load and a SQLite open, and happens only when a
  // policy or state file changed.
  std::lock_guard lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (!(*it)->serves(paths, options)) continue;
    std::shared_ptr<Entry> entry = *it;
    entries_.erase(it);
    if (!entry->fresh(revisions)) break;  // reopen below; holders keep the old gate alive
    entries_.push_back(entry);
    return std::shared_ptr<Gate>(entry, entry->gate.get());
  }
  GateOptions exact = options;
  // A pooled gate lives as long as the daemon: its audit fsyncs are batched like the shim's, so
  // no request waits for the disk (a record is written before the answer; only a kernel crash
  // within kPooledFsyncBatchMs could lose it).
  if (exact.audit_options.fsync && exact.audit_options.fsync_batch_ms == 0) {
    exact.audit_options.fsync_batch_ms = kPooledFsyncBatchMs;
  }
  auto gate = Gate::open(exact);
  if (!gate.ok()) return gate.error();
  auto entry = std::make_shared<Entry>();
  entry->policy_paths = paths;
  entry->paths = options.paths;
  entry->front_end = options.front_end;
  entry->audit_options = options.audit_options;
  entry->cache_ms = options.store_options.cache_ms;
  entry->state_db = file_id(options.paths.state_db);
  entry->gate = std::move(gate).value();
  entry->audit_log = file_id(audit_path_of(*entry->gate));
  if (entries_.size() >= kMaxPooledGates) entries_.erase(entries_.begin());
  entries_.push_back(entry);
  return std::shared_ptr<Gate>(entry, entry->gate.get());
}

std::size_t GatePool::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace stepgate
