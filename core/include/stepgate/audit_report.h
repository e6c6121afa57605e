#pragma once
/// `stepgate report`: what the audit log says about a policy in use — how often each rule
/// matched, stepped up, denied or would have (shadow), per rule, actor and front-end; how long
/// held actions waited for their step-up; who approved, and how; which calls hit a lockout.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "stepgate/value.h"

namespace stepgate {

/// Counts over decision records. For a rule, `matched` counts the decisions it matched in force
/// and `shadow` those it matched in shadow mode; for an actor, front-end or day, `matched` counts
/// decisions with any rule matched in force and `shadow` those where shadow mode would have
/// stepped up or denied.
struct ReportCounts {
  int64_t decisions = 0;
  int64_t matched = 0;
  int64_t step_up = 0;    // decision verdict step_up (held or satisfied)
  int64_t satisfied = 0;  // ... and the step-up was satisfied
  int64_t denied = 0;     // final verdict deny
  int64_t shadow = 0;
};

/// One approver's decisions by one method: `signed grant` (`stepgate approve`), `inbox totp` /
/// `inbox grant` (the shim's approvals inbox), `totp via ...` (the authority), or `totp` /
/// `elevation` (the actor's own proof at the gate). A grant is counted where it was signed, so a
/// grant signed on another machine shows in that machine's log.
struct ReportApprovals {
  int64_t approved = 0;
  int64_t denied = 0;
};

/// A call refused because its actor or approver was locked out after wrong codes.
struct ReportLockout {
  std::string time;  // the record's RFC 3339 time
  std::string who;
  std::string kind;   // action kind when known
  std::string where;  // "stepup" (at the gate) or "approval" (in the inbox)
};

struct AuditReport {
  int64_t since = 0;  // unix seconds, 0 = from the start
  int64_t until = 0;  // unix seconds, 0 = to the end
  int64_t records = 0;
  ReportCounts total;
  std::map<std::string, ReportCounts> by_rule;
  std::map<std::string, ReportCounts> by_actor;
  std::map<std::string, ReportCounts> by_front_end;
  std::map<std::string, ReportCounts> by_day;  // "YYYY-MM-DD" (UTC)
  /// Seconds from the first held decision on an action (its digest) to its approval in the inbox
  /// or, failing that, the decision that let it through; in the order they completed.
  std::vector<int64_t> step_up_seconds;
  std::map<std::pair<std::string, std::string>, ReportApprovals> approvals;  // (approver, method)
  std::vector<ReportLockout> lockouts;
};

/// Builds the report from audit records (as read_audit_log returns them, in log order). Records
/// of other types and fields it does not know are ignored, so older logs still report.
AuditReport build_audit_report(const std::vector<Value>& records);

/// The report as a JSON-ready value (counts per group, step-up duration percentiles, approvals,
/// lockouts).
Value audit_report_to_value(const AuditReport& report);

/// The p-th percentile (0..100, nearest rank) of `values`; 0 when empty.
int64_t percentile(std::vector<int64_t> values, int p);

}  // namespace stepgate
