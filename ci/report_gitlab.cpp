// GitLab output: Code Quality JSON and JUnit XML.
#include <sstream>

#include "report.h"
#include "stepgate/crypto.h"
#include "stepgate/json.h"
#include "stepgate/markup.h"

namespace stepgate::ci {
namespace {

bool fails(const GateReport& r) {
  return r.verdict != Verdict::kAllow;
}

/// Code Quality severities: info, minor, major, critical, blocker.
const char* severity(const GateReport& r, const Reason& reason) {
  if (reason.shadow) return "info";
  if (reason.effect == Verdict::kDeny) return "blocker";
  if (reason.effect == Verdict::kStepUp) return "critical";
  if (r.verdict == Verdict::kDeny) return "critical";
  if (r.verdict == Verdict::kStepUp) return "major";
  return "minor";
}

Value issue(const GateReport& r, const std::string& check, const std::string& description,
            const char* sev) {
  Value v = Map{};
  v["description"] = description;
  v["check_name"] = "stepgate/" + check;
  v["fingerprint"] = sha256_hex(check + "\n" + r.action_digest);
  v["severity"] = sev;
  v["location"]["path"] = r.source_path;
  v["location"]["lines"]["begin"] = 1;
  return v;
}

std::string decision_line(const GateReport& r) {
  return std::string(verdict_name(r.verdict)) + ": " + r.kind + " " + r.resource + " (score " +
         std::to_string(r.score) + ")";
}

}  // namespace

std::string code_quality_json(const GateReport& r) {
  List issues;
  if (fails(r)) {
    issues.push_back(issue(r, "decision", "stepgate " + decision_line(r),
                           r.verdict == Verdict::kDeny ? "blocker" : "critical"));
  }
  for (const Reason& reason : r.reasons) {
    issues.push_back(
        issue(r, reason.rule_id, reason.rule_id + ": " + reason.message, severity(r, reason)));
  }
  return to_pretty_json(Value(std::move(issues))) + "\n";
}

std::string junit_xml(const GateReport& r) {
  const bool failing = fails(r);
  int failures = failing ? 1 : 0;
  for (const Reason& reason : r.reasons) failures += failing && !reason.shadow ? 1 : 0;
  for (const MetricRow& m : r.metrics) failures += failing && m.regressed ? 1 : 0;
  const size_t tests = r.reasons.size() + 1 + r.metrics.size();
  const std::string classname = xml_escape("stepgate." + r.kind);
  std::ostringstream x;
  // NOLINTBEGIN(modernize-raw-string-literal): one quoting style for all the XML written here
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x << "<testsuites name=\"stepgate\" tests=\"" << tests << "\" failures=\"" << failures << "\">\n";
  x << "  <testsuite name=\"" << xml_escape("stepgate " + r.kind + " " + r.resource)
    << "\" tests=\"" << tests << "\" failures=\"" << failures << "\">\n";
  x << "    <testcase classname=\"" << classname << "\" name=\"decision\">";
  if (failing) {
    x << "\n      <failure type=\"" << verdict_name(r.verdict) << "\" message=\""
      << xml_escape(decision_line(r)) << "\">";
    std::string body = "action digest " + r.action_digest;
    if (!r.challenge_token.empty())
      body += "\nchallenge " + r.challenge_id + "\n" + r.approve_command;
    x << xml_escape(body) << "</failure>\n    ";
  }
  x << "</testcase>\n";
  for (const Reason& reason : r.reasons) {
    x << "    <testcase classname=\"" << classname << "\" name=\"" << xml_escape(reason.rule_id)
      << "\">";
    if (failing && !reason.shadow) {
      x << "\n      <failure type=\"" << verdict_name(r.verdict) << "\" message=\""
        << xml_escape(reason.message) << "\">" << xml_escape(reason.rule_id + ": " + reason.message)
        << "</failure>\n    ";
    }
    x << "</testcase>\n";
  }
  // A deployment's metrics, one testcase each: the numbers in system-out, a failure when one
  // regressed beyond its tolerance and the gate held or refused the deploy (GitLab's test report
  // then names the metric; an allowed deploy fails no test, as for its rules).
  for (const MetricRow& m : r.metrics) {
    const std::string numbers = m.name + ": candidate " + m.candidate + ", baseline " + m.baseline +
                                ", change " + m.change + ", tolerance " + m.tolerance + " (" +
                                m.better + " is better)";
    x << "    <testcase classname=\"" << classname << ".metrics\" name=\"" << xml_escape(m.name)
      << "\">";
    if (failing && m.regressed) {
      x << "\n      <failure type=\"regression\" message=\"" << xml_escape(numbers) << "\">"
        << xml_escape(numbers) << "</failure>\n    ";
    }
    x << "<system-out>" << xml_escape(numbers) << "</system-out></testcase>\n";
  }
  // NOLINTEND(modernize-raw-string-literal)
  x << "  </testsuite>\n</testsuites>\n";
  return x.str();
}

}  // namespace stepgate::ci
