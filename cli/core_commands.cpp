// Core commands: init, eval, policy lint|test|explain, signals, version.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <istream>
#include <iterator>
#include <memory>
#include <ostream>

#include "command.h"
#include "core_pack_test.h"
#include "embedded_packs.h"
#include "stepgate/action.h"
#include "stepgate/baselines.h"
#include "stepgate/collect.h"
#include "stepgate/engine.h"
#include "stepgate/gate.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"
#include "stepgate/policy.h"
#include "stepgate/policy_layers.h"
#include "stepgate/rule_explain.h"
#include "stepgate/signals.h"
#include "stepgate/store.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxActionBytes = JsonLimits{}.max_bytes;

struct InitOptions {
  std::string pack = "git";
  bool force = false;
};
struct EvalOptions {
  std::string action = "-";
  std::string policy;
  std::string signals;
  std::string format = "text";
  int64_t now = 0;  // --now: evaluate as of this Unix time; 0: the context's clock
};
struct ExplainOptions {
  std::string action;  // empty: list the layers only
  std::string policy;
  std::string signals;
};
struct SignalsOptions {
  std::string kind;
  std::string format = "text";
};

// Reads FILE or stdin ("-") up to the action size limit; the error names the limit.
Result<std::string> read_input(const std::string& path, CommandContext& context) {
  if (path != "-") return read_file(path, kMaxActionBytes);
  std::string text;
  char buffer[65536];
  while (context.io.in->read(buffer, sizeof buffer) || context.io.in->gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(context.io.in->gcount()));
    if (text.size() > kMaxActionBytes) {
      return make_error(
          ErrorCode::kResourceExhausted,
          "stdin: larger than the limit of " + std::to_string(kMaxActionBytes) + " bytes");
    }
  }
  return text;
}

void run_init(const InitOptions& o, CommandContext& context) {
  const std::string_view text = embedded_pack(o.pack);
  if (text.empty()) {
    std::string names;
    for (const std::string& n : embedded_pack_names()) names += (names.empty() ? "" : ", ") + n;
    context.exit_code = report_error(
        context,
        invalid_argument("unknown pack `" + o.pack + "` (expected one of: " + names + ")"));
    return;
  }
  const fs::path dir = fs::path(context.io.cwd) / ".stepgate";
  const fs::path file = dir / "policy.yaml";
  std::error_code ec;
  if (fs::exists(file, ec) && !o.force) {
    context.exit_code = report_error(
        context, invalid_argument(file.string() + " already exists (use --force to overwrite)"));
    return;
  }
  fs::create_directories(dir, ec);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) {
    context.exit_code = report_error(
        context, make_error(ErrorCode::kUnavailable, file.string() + ": cannot write"));
    return;
  }
  *context.io.out << "wrote " << file.string() << " from the `" << o.pack << "` pack\n";
  // Starter test cases beside it, so the policy's author has cases to edit with the policy.
  const fs::path tests = dir / "policy.tests.yaml";
  const std::string_view pack_tests = embedded_pack_tests(o.pack);
  if (!pack_tests.empty() && (o.force || !fs::exists(tests, ec))) {
    std::ofstream tests_out(tests, std::ios::binary | std::ios::trunc);
    tests_out << starter_tests(pack_tests);
    if (!tests_out.flush()) {
      context.exit_code = report_error(
          context, make_error(ErrorCode::kUnavailable, tests.string() + ": cannot write"));
      return;
    }
    *context.io.out << "wrote " << tests.string() << " (starter test cases)\n"
                    << "test it with: stepgate policy test " << dir.string() << "\n";
  }
  *context.io.out << "check it with: stepgate policy lint " << file.string() << "\n";
}

// Common signals with the state store when one already exists (eval never creates state).
Status collect_for_eval(const Action& action, const LayeredEngine& engine,
                        const ProcessContext& process, UnixTime now, Value& signals) {
  const Policy& policy = engine.policy();
  const Paths paths = process.paths();
  std::unique_ptr<StateStore> store;
  std::error_code ec;
  if (fs::exists(paths.state_db, ec)) {
    Result<std::unique_ptr<StateStore>> opened = StateStore::open(paths.state_db);
    if (!opened.ok()) return opened.error();
    store = std::move(opened).value();
  }
  const CollectContext collect{now, device_fingerprint(process.env), store.get()};
  Value common = Map{};
  if (Status s = collect_common_signals(action, policy, collect, common); !s.ok()) return s;
  // The baselines the rules read, as the gate computes them (from this user's state store).
  const SignalDemand demand = signals_read(engine, action.kind);
  if (Status s = collect_baseline_signals(action, policy, collect, demand, common); !s.ok()) {
    return s;
  }
  for (auto& [k, v] : common.as_map()) signals.as_map().try_emplace(k, std::move(v));  // given wins
  fill_signal_defaults(action.kind, signals);
  return {};
}

void print_decision(const Decision& d, std::ostream& out) {
  out << "verdict: " << verdict_name(d.verdict) << " (score " << d.score << ")";
  if (d.shadow) out << " [shadow policy: would be " << verdict_name(d.would_be) << "]";
  out << "\n";
  for (const Reason& r : d.reasons) {
    out << "  " << (r.shadow ? "~ " : "+ ") << r.rule_id;
    if (r.effect) out << " [" << verdict_name(*r.effect) << "]";
    if (r.score != 0) out << " (" << (r.score > 0 ? "+" : "") << r.score << ")";
    if (!r.message.empty()) out << ": " << r.message;
    out << (r.shadow ? " (shadow rule, not enforced)" : "") << "\n";
  }
  for (const RuleError& e : d.errors) out << "  ! " << e.rule_id << ": " << e.message << "\n";
  if (d.requirement) {
    out << "requirement: " << method_name(d.requirement->method) << ", " << d.requirement->approvers
        << " approver(s), max_age " << d.requirement->max_age.count() << "s\n";
  }
  if (d.layers.size() > 1) out << "decided by: " << d.layer << " layer\n";
  out << "action_digest: " << d.action_digest << "\npolicy_revision: " << d.policy_revision << "\n";
}

/// --signals: inline JSON (`{"force": true}`), `@FILE`, or a file name.
Result<Value> load_signals_option(const std::string& option) {
  if (option.empty()) return Value(Map{});
  const bool inline_json = option.front() == '{';
  const std::string path = option.front() == '@' ? option.substr(1) : option;
  const std::string where = inline_json ? std::string("--signals") : path;
  std::string text = option;
  if (!inline_json) {
    Result<std::string> file = read_file(path, kMaxActionBytes);
    if (!file.ok()) return file.error();
    text = std::move(*file);
  }
  Result<Value> v = parse_json(text);
  if (!v.ok()) return invalid_argument(where + ": " + v.error().message);
  if (!v->is_map()) return invalid_argument(where + ": signals must be a JSON object");
  // A typo or a wrong type would evaluate a different action than the author meant (#23).
  if (Status s = SignalRegistry::builtin().check_values(*v); !s.ok()) {
    return invalid_argument(where + ": " + s.error().message);
  }
  return v;
}

// The cache dir of parsed policies the gate keeps, when stepgate already has a state directory
// here (eval itself creates no state): it skips the YAML parse, ~2 ms of a 12 ms run.
// The parsed-policy cache the gate keeps, when stepgate already has a state directory here
// (eval itself creates no state): it skips the YAML parse, ~2 ms of a 12 ms run.
std::string policy_cache_dir(const ProcessContext& process) {
  const std::string state_dir = process.paths().state_dir;
  std::error_code ec;
  return fs::is_directory(state_dir, ec) ? state_dir + "/policy-cache" : "";
}

Status do_eval(const EvalOptions& o, CommandContext& context) {
  Result<std::string> text = read_input(o.action, context);
  if (!text.ok()) return text.error();
  Result<Action> action = parse_action(*text);
  if (!action.ok()) return action.error();
  auto layers = load_policy_layers(o.policy, context.io.cwd, kSystemPolicyPath,
                                   policy_cache_dir(context.io), context.io.env);
  if (!layers.ok()) return layers.error();
  const LayeredEngine engine(std::move(layers).value());
  Result<Value> signals = load_signals_option(o.signals);
  if (!signals.ok()) return signals.error();
  const UnixTime now = o.now != 0 ? o.now : context.io.now();
  if (Status s = collect_for_eval(*action, engine, context.io, now, *signals); !s.ok()) {
    return s;
  }
  const Decision d = engine.evaluate(*action, *signals);
  if (o.format == "json")
    *context.io.out << to_pretty_json(decision_to_value(d)) << "\n";
  else
    print_decision(d, *context.io.out);
  context.exit_code = d.verdict == Verdict::kDeny ? 1 : d.verdict == Verdict::kStepUp ? 3 : 0;
  return {};
}

void print_condition(const ConditionTrace& t, int indent, std::ostream& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  out << pad << t.result << (t.result.size() < 5 ? std::string(6 - t.result.size(), ' ') : " ")
      << t.source << "\n";
  if (!t.parts.empty()) {
    for (const ConditionTrace& p : t.parts) print_condition(p, indent + 2, out);
    return;
  }
  for (const std::string& r : t.reads) out << pad << "      reads " << r << "\n";
}

bool decision_names(const Decision& d, const std::string& rule) {
  return std::any_of(d.reasons.begin(), d.reasons.end(),
                     [&](const Reason& r) { return r.rule_id == rule; });
}

/// Each rule of one layer: matched or not (as the engine decided), what it is worth, and its
/// `when` part by part with the signal values read.
void print_rules(const Policy& policy, const Decision& d, const Action& action,
                 const Value& signals, std::ostream& out) {
  out << "rules:\n";
  for (const RuleTrace& t : explain_rules(policy, action, signals)) {
    const Rule& rule = *t.rule;
    if (!t.applies) {
      out << "  . " << rule.id << ": not for " << action.kind << " (on: " << rule.on << ")\n";
      continue;
    }
    const bool matched = decision_names(d, rule.id);
    out << "  " << (matched ? "+ " : "- ") << rule.id << " ";
    if (rule.effect)
      out << "[" << verdict_name(*rule.effect) << "]";
    else
      out << "[score " << rule.score << "]";
    if (rule.mode == Mode::kShadow) out << " [shadow]";
    out << ": " << (matched ? "matched" : "not matched") << "\n";
    print_condition(t.when, 6, out);
  }
}

// Shows the layers in force here and, given an action, what each decided and which one stood.
Status do_explain(const ExplainOptions& o, CommandContext& context) {
  auto found = find_policy_layers(o.policy, context.io.cwd, kSystemPolicyPath, context.io.env);
  if (!found.ok()) return found.error();
  std::vector<PolicyLayer> layers;
  std::ostream& out = *context.io.out;
  out << "policy layers (most authoritative first; the strictest verdict wins):\n";
  for (const PolicyLayerPath& p : *found) {
    auto policy = load_policy_file_cached(p.path, policy_cache_dir(context.io));
    if (!policy.ok()) return policy.error();
    out << "  " << p.name << ": " << p.path << " (" << (*policy)->rules.size() << " rules, "
        << (*policy)->revision << ((*policy)->mode == Mode::kShadow ? ", shadow" : "") << ")\n";
    layers.push_back(PolicyLayer{p.name, std::move(policy).value()});
  }
  out << "settings from: " << layers.front().name << " layer\n";
  if (o.action.empty()) return {};
  Result<std::string> text = read_input(o.action, context);
  if (!text.ok()) return text.error();
  Result<Action> action = parse_action(*text);
  if (!action.ok()) return action.error();
  const LayeredEngine engine(std::move(layers));
  Result<Value> signals = load_signals_option(o.signals);
  if (!signals.ok()) return signals.error();
  if (Status s = collect_for_eval(*action, engine, context.io, context.io.now(), *signals);
      !s.ok()) {
    return s;
  }
  const std::string digest = action_digest(*action);
  const std::vector<Decision> each = engine.evaluate_each(*action, *signals, digest);
  for (std::size_t i = 0; i < each.size(); ++i) {
    out << "\n[" << engine.layers()[i].name << " layer] ";
    print_decision(each[i], out);
    print_rules(*engine.layers()[i].policy, each[i], *action, *signals, out);
  }
  const Decision d = engine.evaluate(*action, *signals, digest);
  out << "\nresult: " << verdict_name(d.verdict) << ", decided by the " << d.layer << " layer\n";
  return {};
}

/// Lints one file; returns the exit code it earns (0 clean, 2 errors), printing as it goes.
int lint_file(const std::string& file, CommandContext& context) {
  const PolicyLint lint = lint_policy_file(file);
  for (const std::string& problem : lint.problems)
    *context.io.err << "stepgate: " << problem << "\n";
  if (!lint.problems.empty()) return 2;
  *context.io.out << file << ": ok (" << lint.policy->rules.size() << " rules, revision "
                  << lint.policy->revision << ")\n";
  return 0;
}

/// `policy lint [FILE]`: the file given, else every policy layer in effect here (the files the
/// gate would evaluate), each reported; the worst exit code wins.
void run_lint(const std::string& file, CommandContext& context) {
  if (!file.empty()) {
    context.exit_code = lint_file(file, context);
    return;
  }
  auto layers = find_policy_layers("", context.io.cwd, kSystemPolicyPath, context.io.env);
  if (!layers.ok()) {
    context.exit_code = report_error(context, layers.error());
    return;
  }
  int worst = 0;
  for (const PolicyLayerPath& layer : *layers) {
    *context.io.out << layer.name << " layer: ";
    context.io.out->flush();
    worst = std::max(worst, lint_file(layer.path, context));
  }
  context.exit_code = worst;
}

Value spec_to_value(const SignalSpec& s) {
  List kinds(s.kinds.begin(), s.kinds.end());
  return Value(Map{{"name", Value(s.name)},
                   {"type", Value(signal_type_name(s.type))},
                   {"meaning", Value(s.meaning)},
                   {"collector", Value(s.collector)},
                   {"kinds", Value(std::move(kinds))}});
}

void run_signals(const SignalsOptions& o, CommandContext& context) {
  const SignalRegistry& registry = SignalRegistry::builtin();
  std::vector<const SignalSpec*> specs;
  if (o.kind.empty()) {
    for (const SignalSpec& s : registry.all()) specs.push_back(&s);
  } else {
    specs = registry.for_kind(o.kind);
  }
  if (o.format == "json") {
    List list;
    for (const SignalSpec* s : specs) list.push_back(spec_to_value(*s));
    *context.io.out << to_pretty_json(Value(std::move(list))) << "\n";
    return;
  }
  for (const SignalSpec* s : specs) {
    std::string kinds;
    for (const std::string& k : s->kinds) kinds += (kinds.empty() ? "" : " ") + k;
    *context.io.out << "signals." << s->name << "  " << signal_type_name(s->type) << "  ["
                    << s->collector << ": " << kinds << "]  " << s->meaning << "\n";
  }
}

void setup_init(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<InitOptions>();
  CLI::App* cmd = app.add_subcommand("init", "Write .stepgate/policy.yaml from a built-in pack");
  cmd->add_option("--pack", o->pack, "git, model-deploy or agent-tools");
  cmd->add_flag("--force", o->force, "Overwrite an existing policy");
  cmd->callback([o, &context] { run_init(*o, context); });
}

void setup_eval(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate an action (JSON) against the policy");
  cmd->add_option("--action", o->action, "Action JSON file, or - for stdin");
  cmd->add_option("--policy", o->policy,
                  "Policy file (default: the layers in effect; see `stepgate policy explain`)");
  cmd->add_option("--signals", o->signals,
                  "Signals to add, as inline JSON ('{\"force\":true}'), @FILE or FILE (they win "
                  "over collected ones)");
  cmd->add_option("--format", o->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  // A what-if for the policy's author (eval gates nothing); the gates take no clock from outside.
  cmd->add_option("--now", o->now, "Evaluate as of this Unix time (default: now)")
      ->check(CLI::PositiveNumber);
  cmd->callback([o, &context] {
    if (Status s = do_eval(*o, context); !s.ok())
      context.exit_code = report_error(context, s.error());
  });
}

void setup_policy(CLI::App& app, CommandContext& context) {
  CLI::App* policy = app.add_subcommand("policy", "Check policies");
  policy->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  CLI::App* lint =
      policy->add_subcommand("lint", "Load a policy strictly and check its rules' signals");
  lint->add_option("FILE", *file, "Policy file (default: every policy layer in effect here)");
  lint->callback([file, &context] { run_lint(*file, context); });
  auto explain = std::make_shared<ExplainOptions>();
  CLI::App* exp = policy->add_subcommand(
      "explain",
      "Show the policy layers in force here and, for an action, each rule with why it matched or "
      "not (each part of its `when`, the signal values read) and which layer decided");
  exp->add_option("--action", explain->action, "Action JSON file, or - for stdin");
  exp->add_option("--policy", explain->policy,
                  "Policy file for the user layer (default: $STEPGATE_POLICY, else "
                  "$XDG_CONFIG_HOME/stepgate/policy.yaml)");
  exp->add_option("--signals", explain->signals, "Signals to add, as inline JSON, @FILE or FILE");
  exp->callback([explain, &context] {
    if (Status s = do_explain(*explain, context); !s.ok())
      context.exit_code = report_error(context, s.error());
  });
  auto target = std::make_shared<std::string>();
  CLI::App* test = policy->add_subcommand(
      "test", "Run a policy's test cases (policy.tests.yaml beside policy.yaml) or the packs'");
  test->add_option("FILE|DIR", *target,
                   "A policy file (its X.tests.yaml beside it), a tests file, a directory with "
                   "policy.tests.yaml, or a packs directory with tests/ (default: .stepgate if "
                   "it has cases, else policies)");
  test->callback([target, &context] {
    context.exit_code = run_policy_tests(*target, context.io.cwd, *context.io.out, *context.io.err);
  });
}

void setup_signals(CLI::App& app, CommandContext& context) {
  auto o = std::make_shared<SignalsOptions>();
  CLI::App* cmd = app.add_subcommand("signals", "List the signals every collector provides");
  cmd->add_option("--kind", o->kind, "Only the signals provided for this action kind");
  cmd->add_option("--format", o->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->callback([o, &context] { run_signals(*o, context); });
}

}  // namespace

void register_core_commands(CLI::App& app, CommandContext& context) {
  setup_init(app, context);
  setup_eval(app, context);
  setup_policy(app, context);
  setup_signals(app, context);
  app.add_subcommand("version", "Print the version")->callback([&context] {
    *context.io.out << "stepgate " << STEPGATE_VERSION << "\n";
  });
}

}  // namespace stepgate
