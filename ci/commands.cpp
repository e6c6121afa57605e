// `stepgate ci gate`: the CI front-end. Builds the Action from a deployment manifest (or
// --kind/--resource/--attr for any step) and the CI provider's environment, runs the gate, and
// reports in the provider's formats. Exit codes: 0 allow, 1 deny, 2 bad input, 3 step-up pending.
#include <CLI/CLI.hpp>
#include <memory>
#include <ostream>

#include "ci_commands.h"
#include "gate_input.h"
#include "outputs.h"
#include "report.h"
#include "stepgate/audit.h"
#include "stepgate/collect.h"
#include "stepgate/gate.h"
#include "stepgate/gate_failure.h"
#include "stepgate/signal_demand.h"
#include "stepgate/stepup.h"
#include "wait.h"

namespace stepgate {
namespace {

struct CiGateOptions {
  ci::StepSpec step;
  std::vector<std::string> grants;
  std::string policy;
  std::string format = "text";
  std::string report_dir;
  bool wait = false;
  std::string server;
  std::string timeout = "10m";
  std::string poll = "2s";
};

GateRequest make_request(const ci::GateInput& input, const std::vector<std::string>& grants,
                         const std::string& server, const ProcessContext& process) {
  GateRequest request;
  request.now = process.now();
  request.device = device_fingerprint(process.env);
  request.action = input.action;
  request.signals = input.signals;
  request.grants = grants;
  request.allow_interactive = false;
  request.server_url = server;
  request.retry_command = "re-run this CI job with the grant in STEPGATE_GRANT";
  return request;
}

/// The result of one gate pass, kept with what produced it.
struct Pass {
  GateOutcome outcome;
  std::vector<std::string> grants;
};

/// report_error with the message redacted: an error can quote a --resource or an attribute.
int report_ci_error(CommandContext& context, const Error& error) {
  return report_error(context, Error{error.code, ci::redact_for_output(error.message)});
}

Status check_options(const CiGateOptions& o) {
  if (o.step.manifest.empty() == o.step.kind.empty()) {
    return invalid_argument("ci gate: give either --manifest FILE or --kind KIND");
  }
  if (!o.step.manifest.empty() && !o.step.resource.empty()) {
    return invalid_argument("ci gate: --resource goes with --kind, not --manifest");
  }
  if (o.wait && o.server.empty()) return invalid_argument("ci gate: --wait needs --server URL");
  return {};
}

/// Waits for an approver and re-runs the gate with the returned grant. Returns the exit code
/// when waiting ends the run without a second pass (denied, timed out, no grant, server down).
std::optional<int> wait_and_retry(const CiGateOptions& o, const ci::GateInput& input, Gate& gate,
                                  Pass& pass, CommandContext& context) {
  ci::WaitOptions wo;
  wo.server = o.server;
  auto timeout = ci::parse_wait_duration(o.timeout);
  auto poll = ci::parse_wait_duration(o.poll);
  if (!timeout) return report_ci_error(context, timeout.error());
  if (!poll) return report_ci_error(context, poll.error());
  wo.timeout = *timeout;
  wo.poll = std::max(*poll, std::chrono::milliseconds(100));
  auto& err = *context.io.err;
  const std::string& token = pass.outcome.step_up.challenge_token;
  err << "stepgate: step-up required; challenge " << pass.outcome.step_up.challenge.id
      << ". An approver can also run:\n  stepgate approve --approver APPROVER_ID '" << token
      << "'\n";
  auto waited = ci::wait_for_approval(pass.outcome.step_up.challenge_token, wo, err);
  if (!waited) {
    err << "stepgate: " << ci::redact_for_output(waited.error().message) << "\n";
    return waited.error().code == ErrorCode::kInvalidArgument ? 2 : 3;
  }
  switch (waited->state) {
    case ci::WaitState::kDenied:
      err << "stepgate: challenge " << waited->id << " denied by " << waited->decided_by
          << (waited->comment.empty() ? "" : ": " + ci::redact_for_output(waited->comment)) << "\n";
      return 1;
    case ci::WaitState::kExpired:
      err << "stepgate: challenge " << waited->id << " expired before anyone approved it\n";
      return 3;
    case ci::WaitState::kTimedOut:
      err << "stepgate: no decision on challenge " << waited->id << " before the timeout\n";
      return 3;
    case ci::WaitState::kApproved:
      break;
  }
  if (waited->grant.empty()) {
    err << "stepgate: challenge " << waited->id << " was approved by " << waited->decided_by
        << " but the server returned no grant; stepgate needs a signed grant to let a pipeline "
           "through (ask an approver to run `stepgate approve` and pass --grant)\n";
    return 3;
  }
  err << "stepgate: challenge " << waited->id << " approved by " << waited->decided_by
      << "; verifying the grant\n";
  pass.grants.push_back(waited->grant);
  GateRequest again = make_request(input, pass.grants, o.server, context.io);
  again.record_velocity = false;
  NoTerminalStepUpIo io;
  pass.outcome = gate.run(again, io);
  return std::nullopt;
}

/// Writes every output of the run. All of them take the redacted report and signals (the audit
/// log's redaction); only the GitHub masks see the values in clear, since masking them is their
/// purpose (the runner consumes ::add-mask:: lines and hides the value from the log).
void emit(const CiGateOptions& o, const ci::GateInput& input, const Pass& pass, const ci::Env& env,
          CommandContext& context) {
  ci::GateReport clear = ci::make_report(input.action, pass.outcome, input.source_path);
  clear.metrics = ci::metric_rows(input.metrics);
  const ci::GateReport report = ci::redact_report(clear);
  const Value signals = redact_secrets(pass.outcome.signals);
  auto& out = *context.io.out;
  if (env("GITHUB_ACTIONS") == "true") {
    auto masked = ci::mask_candidates(input.action, clear, pass.outcome.signals);
    if (auto s = ci::write_github(report, masked, pass.grants, env, out); !s) {
      *context.io.err << "stepgate: warning: " << ci::redact_for_output(s.error().message) << "\n";
    }
  }
  if (!o.report_dir.empty()) {
    if (auto s = ci::write_gitlab_reports(o.report_dir, report); !s) {
      *context.io.err << "stepgate: warning: " << ci::redact_for_output(s.error().message) << "\n";
    }
  }
  out << (o.format == "json" ? ci::json_report(report, signals) : ci::text_report(report));
}

void run_ci_gate(const CiGateOptions& o, CommandContext& context) {
  if (auto s = check_options(o); !s) {
    context.exit_code = report_ci_error(context, s.error());
    return;
  }
  // The provider's variables are read from the command's environment, like everything else.
  const Env& process_env = context.io.env;
  const ci::Env env = [&process_env](const char* name) { return process_env.get(name); };
  const ci::CiContext ci_context = ci::detect_ci_context(env);
  GateOptions go;
  go.policy_path = o.policy;
  go.cwd = context.io.cwd;
  go.env = context.io.env;
  go.paths = context.io.paths();
  go.front_end = "ci";
  auto gate = Gate::open(go);
  if (!gate) {
    GateFailure failure = gate_open_failure(gate.error(), go, "step");
    *context.io.err << "stepgate: " << (failure.allow ? "warning: " : "") << failure.message
                    << "\n";
    context.exit_code = failure.allow ? 0 : 2;
    return;
  }
  // The artifact is hashed only when a rule in some layer reads the mismatch.
  const SignalDemand demand =
      signals_read((*gate)->engine(), o.step.manifest.empty() ? o.step.kind : "model.deploy");
  auto input = ci::build_gate_input(o.step, ci_context, (*gate)->policy(), context.io.cwd,
                                    &(*gate)->store(), context.io.now(), env, &demand);
  if (!input) {
    context.exit_code = report_ci_error(context, input.error());
    return;
  }
  Pass pass;
  pass.grants = o.grants;
  for (auto& g : split_grants(env("STEPGATE_GRANT"))) pass.grants.push_back(g);
  NoTerminalStepUpIo io;
  pass.outcome = (*gate)->run(make_request(*input, pass.grants, o.server, context.io), io);
  if (o.wait && pass.outcome.final_verdict == Verdict::kStepUp &&
      !pass.outcome.step_up.challenge_token.empty()) {
    if (auto code = wait_and_retry(o, *input, **gate, pass, context)) {
      emit(o, *input, pass, env, context);
      context.exit_code = *code;
      return;
    }
  }
  if (pass.outcome.final_verdict == Verdict::kAllow && !input->deploy_namespace.empty()) {
    (void)(*gate)->store().mark_seen(input->deploy_namespace, input->deploy_key);
  }
  emit(o, *input, pass, env, context);
  context.exit_code = pass.outcome.exit_code;
}

void setup_ci_gate(CLI::App& ci, CommandContext& context) {
  auto o = std::make_shared<CiGateOptions>();
  auto* sub = ci.add_subcommand("gate", "Gate a pipeline step (a model deployment or any step)");
  sub->add_option("--manifest", o->step.manifest,
                  "Deployment manifest (YAML or JSON): model.deploy");
  sub->add_option("--kind", o->step.kind, "Action kind for any other step (e.g. db.migrate)");
  sub->add_option("--resource", o->step.resource, "What the step touches (with --kind)");
  sub->add_option("--attr", o->step.attrs, "Attribute key=value (repeatable)");
  sub->add_option("--attr-json", o->step.attr_json, "Attribute key=JSON (repeatable)");
  sub->add_option("--environment", o->step.environment, "Target environment (with --kind)");
  sub->add_option("--change-ticket", o->step.change_ticket,
                  "Change ticket id (default: $STEPGATE_CHANGE_TICKET)");
  sub->add_option("--grant", o->grants, "An approver's grant (repeatable; also $STEPGATE_GRANT)");
  sub->add_option("--policy", o->policy, "Policy file (default: found from the directory)");
  sub->add_option("--format", o->format, "Output on stdout")
      ->check(CLI::IsMember({"text", "json"}));
  sub->add_option("--report-dir", o->report_dir,
                  "Write GitLab Code Quality JSON and JUnit XML into this directory");
  sub->add_flag("--wait", o->wait, "On step-up, register the challenge and wait for approval");
  sub->add_option("--server", o->server, "Approvals server for --wait (the shim's URL)")
      ->envname("STEPGATE_SERVER");
  sub->add_option("--timeout", o->timeout, "How long --wait waits (default 10m)");
  sub->add_option("--poll", o->poll, "How often --wait polls (default 2s)");
  sub->callback([o, &context] { run_ci_gate(*o, context); });
}

}  // namespace

void register_ci_commands(CLI::App& app, CommandContext& context) {
  auto* ci = app.add_subcommand("ci", "CI front-end: deployment gates and pipeline steps");
  ci->require_subcommand(1);
  setup_ci_gate(*ci, context);
}

}  // namespace stepgate
