#pragma once
// What a CI gate tells the pipeline: text/JSON on stdout, GitHub Actions workflow commands,
// the job summary and step outputs, GitLab Code Quality JSON and JUnit XML. Pure functions over a
// GateReport so each format has golden-file tests.

#include <string>
#include <string_view>
#include <vector>

#include "deploy_signals.h"
#include "stepgate/engine.h"
#include "stepgate/gate.h"
#include "stepgate/policy.h"

namespace stepgate::ci {

/// One deployment metric as the reports show it (already formatted, so every format agrees).
struct MetricRow {
  std::string name;
  std::string candidate;  // "-" when missing
  std::string baseline;   // "-" when missing
  std::string change;     // "+0.012 (+1.3%)", "-" without both values
  std::string tolerance;  // "2%", "0.01" or "none"
  std::string better;     // "higher" or "lower"
  bool regressed = false;
};

/// Everything the report formats show about one gate run.
struct GateReport {
  std::string kind;
  std::string actor;
  std::string resource;
  std::string action_digest;
  std::string policy_revision;
  Verdict decided = Verdict::kAllow;  // what the engine decided
  Verdict verdict = Verdict::kAllow;  // after step-up and shadow mode
  int score = 0;
  bool shadow = false;
  std::vector<Reason> reasons;
  std::string step_up_method;         // how a step-up was satisfied ("grant"...), else empty
  std::vector<std::string> problems;  // why offered proofs failed
  std::string challenge_id;
  std::string challenge_token;
  std::string approve_command;     // what an approver runs
  std::string source_path;         // the manifest (or CI config) the report points at
  std::vector<MetricRow> metrics;  // model.deploy: each declared metric against the baseline
};

/// The rows the reports show for a deployment's metrics: numbers as the manifest gave them
/// (shortest round-trip form), change with sign and percent.
std::vector<MetricRow> metric_rows(const std::vector<MetricComparison>& metrics);

/// Builds the report from a gate outcome.
GateReport make_report(const Action& action, const GateOutcome& outcome,
                       const std::string& source_path);

/// The report with every free-text field (kind, actor, resource, reason messages, problems, the
/// source path) through the audit log's redaction, so no output format shows a secret that a
/// --resource, an attribute or a rule message carried. Digests, revision, challenge id and token
/// are left as they are: they are ours, and an approver needs the token.
GateReport redact_report(GateReport report);

/// `text` through the audit log's redaction (what every line ci gate prints passes through).
std::string redact_for_output(std::string_view text);

// ---- GitHub Actions workflow commands ---------------------------------------------------------

/// Escapes a workflow command's message: % → %25, \r → %0D, \n → %0A.
std::string escape_command_data(std::string_view text);
/// Escapes a workflow command property: as data, plus : → %3A and , → %2C.
std::string escape_command_property(std::string_view text);
/// "::LEVEL title=TITLE::MESSAGE\n" with both parts escaped. LEVEL: error, warning, notice.
std::string workflow_annotation(std::string_view level, std::string_view title,
                                std::string_view message);
/// The annotation for a gate result: error for deny, warning for step_up, notice for allow.
std::string gate_annotation(const GateReport& report);
/// The secret-looking substrings of `values` (stepgate/secrets.h rules), each once.
std::vector<std::string> secrets_to_mask(const std::vector<std::string>& values);
/// "::add-mask::VALUE\n" for each value.
std::string mask_commands(const std::vector<std::string>& secrets);
/// One $GITHUB_OUTPUT entry in the multi-line form "NAME<<DELIM\nVALUE\nDELIM\n".
std::string github_output_entry(std::string_view name, std::string_view value,
                                std::string_view delimiter);
/// The Markdown job summary: verdict, score, reasons table, challenge and approve command.
std::string step_summary_markdown(const GateReport& report);
/// Escapes text for a Markdown table cell.
std::string escape_markdown_cell(std::string_view text);

// ---- GitLab ----------------------------------------------------------------------------------

/// GitLab Code Quality report (a JSON array of issues), pretty-printed.
std::string code_quality_json(const GateReport& report);
/// JUnit XML: one testcase per reason and one for the decision; failures for deny/step_up.
std::string junit_xml(const GateReport& report);

// ---- stdout ----------------------------------------------------------------------------------

/// Human-readable result lines.
std::string text_report(const GateReport& report);
/// The result as one JSON object.
std::string json_report(const GateReport& report, const Value& signals);

}  // namespace stepgate::ci
