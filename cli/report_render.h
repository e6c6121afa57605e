#pragma once
// `stepgate report`'s output forms: text for a terminal, one self-contained HTML page (inline CSS
// and SVG charts, no script, no network) for a browser. JSON is audit_report_to_value.

#include <string>

#include "stepgate/audit_report.h"

namespace stepgate {

/// Aligned tables: totals, per rule, per actor, per front-end, step-up durations, approvals,
/// lockouts. `period` says which records were read ("last 7d", "all records").
std::string render_report_text(const AuditReport& report, const std::string& period);

/// A whole HTML document: the same tables plus SVG charts (per day, per rule, step-up
/// durations). Every string from the log is escaped.
std::string render_report_html(const AuditReport& report, const std::string& period);

/// "42s", "3m 05s", "2h 10m".
std::string format_seconds(int64_t seconds);

}  // namespace stepgate
