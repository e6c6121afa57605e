// build_audit_report: one pass over the audit records, in log order (see audit_report.h).
#include "stepgate/audit_report.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "audit_internal.h"

namespace stepgate {
namespace {

struct DecisionFacts {
  std::string actor;
  std::string front_end;
  std::string day;
  std::vector<std::string> rules;         // matched in force
  std::vector<std::string> shadow_rules;  // matched in shadow mode
  bool step_up = false;
  bool satisfied = false;
  bool denied = false;
  bool shadow_would = false;  // a shadow rule matched, or a shadow policy would have held it
};

DecisionFacts decision_facts(const Value& r) {
  DecisionFacts f;
  const Value* action = r.find("action");
  f.actor = action != nullptr ? action->get_string("actor") : "";
  f.front_end = r.get_string("front_end");
  const std::string time = r.get_string("time");
  f.day = time.size() >= 10 ? time.substr(0, 10) : "";
  const Value* decision = r.find("decision");
  static const Value kEmpty = Map{};
  const Value& d = decision != nullptr && decision->is_map() ? *decision : kEmpty;
  if (const Value* reasons = d.find("reasons"); reasons != nullptr && reasons->is_list()) {
    for (const Value& reason : reasons->as_list()) {
      std::string rule = reason.get_string("rule");
      if (rule.empty()) continue;
      (reason.get_bool("shadow") ? f.shadow_rules : f.rules).push_back(std::move(rule));
    }
  }
  f.step_up = d.get_string("verdict") == "step_up";
  const Value* step_up = r.find("step_up");
  f.satisfied = f.step_up && step_up != nullptr && step_up->get_bool("satisfied");
  f.denied = r.get_string("final_verdict", d.get_string("verdict")) == "deny";
  const bool shadow_policy = d.get_bool("shadow") && d.get_string("would_be", "allow") != "allow";
  f.shadow_would = shadow_policy || !f.shadow_rules.empty();
  return f;
}

void count(ReportCounts& c, const DecisionFacts& f, bool matched, bool shadow) {
  ++c.decisions;
  if (matched) ++c.matched;
  if (f.step_up) ++c.step_up;
  if (f.satisfied) ++c.satisfied;
  if (f.denied) ++c.denied;
  if (shadow) ++c.shadow;
}

int64_t record_time(const Value& r) {
  int64_t t = 0;
  return audit_detail::parse_time(r.get_string("time"), t) ? t : -1;
}

class ReportBuilder {
 public:
  void add(const Value& r) {
    ++report_.records;
    const std::string type = r.get_string("type");
    if (type == "decision") return add_decision(r);
    if (type == "stepup") return add_step_up(r);
    if (type == "approval") return add_approval(r);
  }

  AuditReport take() { return std::move(report_); }

 private:
  void add_decision(const Value& r) {
    const DecisionFacts f = decision_facts(r);
    const bool any = !f.rules.empty();
    count(report_.total, f, any, f.shadow_would);
    count(report_.by_actor[f.actor], f, any, f.shadow_would);
    count(report_.by_front_end[f.front_end], f, any, f.shadow_would);
    if (!f.day.empty()) count(report_.by_day[f.day], f, any, f.shadow_would);
    for (const std::string& rule : f.rules) count(report_.by_rule[rule], f, true, false);
    for (const std::string& rule : f.shadow_rules) count(report_.by_rule[rule], f, false, true);
    track_hold(r, f);
  }

  // A held action waits from its first step_up decision until it is approved in the inbox or
  // let through by a satisfied step-up, whichever the log shows first.
  void track_hold(const Value& r, const DecisionFacts& f) {
    if (!f.step_up) return;
    const Value* action = r.find("action");
    const std::string digest = action != nullptr ? action->get_string("digest") : "";
    if (digest.empty()) return;
    if (f.satisfied) return release(digest, record_time(r));
    const int64_t t = record_time(r);
    if (t >= 0) held_.emplace(digest, t);  // keeps the first hold
  }

  void release(const std::string& digest, int64_t t) {
    auto it = held_.find(digest);
    if (it == held_.end() || t < 0) return;
    report_.step_up_seconds.push_back(std::max<int64_t>(0, t - it->second));
    held_.erase(it);
  }

  void add_step_up(const Value& r) {
    const std::string method = r.get_string("method");
    if (r.get_bool("lockout")) {
      report_.lockouts.push_back({r.get_string("time"),
                                  r.get_string("identity", r.get_string("actor")),
                                  r.get_string("kind"), "stepup"});
    }
    // A grant or an inbox approval ("challenge") is counted where the approver decided it (an
    // approval record); here only the proofs the actor gives at the gate.
    if (r.get_string("outcome") != "satisfied" || method == "grant" || method == "challenge") {
      return;
    }
    ++report_.approvals[{r.get_string("identity"), method}].approved;
  }

  // Approval records come from the inbox (decided_by, method), `stepgate approve` (approver, a
  // signed grant's jti) and the authority (identity, method, via).
  void add_approval(const Value& r) {
    const std::string who =
        r.get_string("decided_by", r.get_string("approver", r.get_string("identity")));
    if (r.get_string("outcome") == "locked_out") {
      report_.lockouts.push_back({r.get_string("time"), who, r.get_string("kind"), "approval"});
      return;
    }
    std::string method = r.find("jti") != nullptr ? "signed grant" : r.get_string("method");
    if (const std::string via = r.get_string("via"); !via.empty()) method += " via " + via;
    if (r.find("decided_by") != nullptr) method = "inbox " + method;
    ReportApprovals& a = report_.approvals[{who, method}];
    if (r.get_string("decision") != "approve") {
      ++a.denied;
      return;
    }
    ++a.approved;
    const int64_t t = record_time(r);
    const std::string digest = r.get_string("digest", r.get_string("action_digest"));
    // The challenge's own hold time, when the record has it, wins over the first held decision.
    if (const int64_t held_at = r.get_int("held_at"); held_at > 0 && t >= held_at) {
      held_[digest] = held_at;
    }
    release(digest, t);
  }

  AuditReport report_;
  std::unordered_map<std::string, int64_t> held_;  // digest -> first hold (unix seconds)
};

Value counts_value(const ReportCounts& c) {
  return Map{{"decisions", c.decisions}, {"matched", c.matched}, {"step_up", c.step_up},
             {"satisfied", c.satisfied}, {"denied", c.denied},   {"shadow", c.shadow}};
}

Value group_value(const std::map<std::string, ReportCounts>& groups) {
  Map out;
  for (const auto& [name, c] : groups) out.emplace(name, counts_value(c));
  return out;
}

}  // namespace

AuditReport build_audit_report(const std::vector<Value>& records) {
  ReportBuilder builder;
  for (const Value& r : records) {
    if (r.is_map()) builder.add(r);
  }
  return builder.take();
}

int64_t percentile(std::vector<int64_t> values, int p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  const auto n = static_cast<double>(values.size());
  auto rank = static_cast<std::size_t>(std::ceil(std::clamp(p, 0, 100) / 100.0 * n));
  return values[rank == 0 ? 0 : rank - 1];
}

Value audit_report_to_value(const AuditReport& report) {
  Value out = Map{};
  out["records"] = report.records;
  out["total"] = counts_value(report.total);
  out["by_rule"] = group_value(report.by_rule);
  out["by_actor"] = group_value(report.by_actor);
  out["by_front_end"] = group_value(report.by_front_end);
  out["by_day"] = group_value(report.by_day);
  const auto& s = report.step_up_seconds;
  out["step_up_seconds"] = Map{{"count", static_cast<int64_t>(s.size())},
                               {"p50", percentile(s, 50)},
                               {"p90", percentile(s, 90)},
                               {"max", percentile(s, 100)}};
  List approvals;
  for (const auto& [key, a] : report.approvals) {
    approvals.emplace_back(Map{{"approver", key.first},
                               {"method", key.second},
                               {"approved", a.approved},
                               {"denied", a.denied}});
  }
  out["approvals"] = std::move(approvals);
  List lockouts;
  for (const ReportLockout& l : report.lockouts) {
    lockouts.emplace_back(
        Map{{"time", l.time}, {"who", l.who}, {"kind", l.kind}, {"where", l.where}});
  }
  out["lockouts"] = std::move(lockouts);
  return out;
}

}  // namespace stepgate
