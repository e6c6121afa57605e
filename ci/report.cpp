#include "report.h"

#include <cstdio>
#include <sstream>

#include "stepgate/audit.h"
#include "stepgate/json.h"
#include "stepgate/secrets.h"

namespace stepgate::ci {

GateReport make_report(const Action& action, const GateOutcome& outcome,
                       const std::string& source_path) {
  GateReport r;
  r.kind = action.kind;
  r.actor = action.actor;
  r.resource = action.resource;
  r.action_digest = outcome.decision.action_digest;
  r.policy_revision = outcome.decision.policy_revision;
  r.decided = outcome.decision.verdict;
  r.verdict = outcome.final_verdict;
  r.score = outcome.decision.score;
  r.shadow = outcome.decision.shadow;
  r.reasons = outcome.decision.reasons;
  if (outcome.step_up.satisfied) r.step_up_method = outcome.step_up.method;
  r.problems = outcome.step_up.problems;
  if (outcome.final_verdict == Verdict::kStepUp) {
    r.challenge_id = outcome.step_up.challenge.id;
    r.challenge_token = outcome.step_up.challenge_token;
    if (r.challenge_token == r.challenge_id) {
      r.approve_command = outcome.step_up.instructions;  // held by the authority: its words
    } else if (!r.challenge_token.empty()) {
      r.approve_command = "stepgate approve --approver APPROVER_ID '" + r.challenge_token + "'";
    }
  }
  r.source_path = source_path;
  return r;
}

namespace {

/// A number as a person reads it: up to 6 significant digits, no trailing zeros.
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

std::vector<MetricRow> metric_rows(const std::vector<MetricComparison>& metrics) {
  std::vector<MetricRow> rows;
  for (const MetricComparison& m : metrics) {
    MetricRow row;
    row.name = m.name;
    row.candidate = m.candidate ? number(*m.candidate) : "-";
    row.baseline = m.baseline ? number(*m.baseline) : "-";
    row.change = "-";
    if (m.candidate && m.baseline) {
      row.change = (m.change >= 0 ? "+" : "") + number(m.change);
      if (*m.baseline != 0) {
        row.change +=
            std::string(" (") + (m.change_pct >= 0 ? "+" : "") + number(m.change_pct) + "%)";
      }
    }
    row.tolerance = m.tolerance;
    row.better = m.direction == Direction::kHigher ? "higher" : "lower";
    row.regressed = m.regressed;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string redact_for_output(std::string_view text) {
  if (!looks_like_secret(text)) return std::string(text);
  return redact_text(text);
}

GateReport redact_report(GateReport r) {
  for (std::string* field : {&r.kind, &r.actor, &r.resource, &r.source_path}) {
    *field = redact_for_output(*field);
  }
  for (Reason& reason : r.reasons) {
    reason.rule_id = redact_for_output(reason.rule_id);
    reason.message = redact_for_output(reason.message);
  }
  for (std::string& problem : r.problems) problem = redact_for_output(problem);
  for (MetricRow& m : r.metrics) m.name = redact_for_output(m.name);
  return r;
}

std::string text_report(const GateReport& r) {
  std::ostringstream out;
  out << "stepgate: " << verdict_name(r.verdict) << " " << r.kind << " " << r.resource << " (score "
      << r.score;
  if (r.decided != r.verdict) out << ", decided " << verdict_name(r.decided);
  if (!r.step_up_method.empty()) out << ", step-up satisfied by " << r.step_up_method;
  out << ")\n";
  for (const Reason& reason : r.reasons) {
    out << "  - " << reason.rule_id;
    if (reason.effect)
      out << " [" << verdict_name(*reason.effect) << "]";
    else
      out << " [" << (reason.score >= 0 ? "+" : "") << reason.score << "]";
    if (reason.shadow) out << " (shadow)";
    out << ": " << reason.message << "\n";
  }
  for (const std::string& p : r.problems) out << "  ! " << p << "\n";
  for (const MetricRow& m : r.metrics) {
    out << "  metric " << m.name << ": " << m.candidate << " vs baseline " << m.baseline
        << ", change " << m.change << ", tolerance " << m.tolerance << " (" << m.better
        << " is better)" << (m.regressed ? " REGRESSED" : "") << "\n";
  }
  out << "action digest: " << r.action_digest << "\n";
  if (!r.challenge_token.empty() && r.challenge_token == r.challenge_id) {
    out << r.approve_command;
  } else if (!r.challenge_token.empty()) {
    out << "challenge " << r.challenge_id << " needs an approver, who runs:\n  "
        << r.approve_command << "\n";
    out << "then re-run with STEPGATE_GRANT=<grant> or --grant <grant>\n";
  }
  return out.str();
}

std::string json_report(const GateReport& r, const Value& signals) {
  Value v = Map{};
  v["verdict"] = verdict_name(r.verdict);
  v["decided"] = verdict_name(r.decided);
  v["score"] = r.score;
  v["kind"] = r.kind;
  v["actor"] = r.actor;
  v["resource"] = r.resource;
  v["action_digest"] = r.action_digest;
  v["policy_revision"] = r.policy_revision;
  v["shadow"] = r.shadow;
  List reasons;
  for (const Reason& reason : r.reasons) {
    Value item = Map{};
    item["rule_id"] = reason.rule_id;
    item["score"] = reason.score;
    item["message"] = reason.message;
    item["shadow"] = reason.shadow;
    if (reason.effect) item["effect"] = verdict_name(*reason.effect);
    reasons.push_back(std::move(item));
  }
  v["reasons"] = std::move(reasons);
  v["step_up_method"] = r.step_up_method;
  v["problems"] = List(r.problems.begin(), r.problems.end());
  v["challenge_id"] = r.challenge_id;
  v["challenge"] = r.challenge_token;
  v["signals"] = signals;
  return to_json(v) + "\n";
}

}  // namespace stepgate::ci
