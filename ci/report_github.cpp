// GitHub Actions output: workflow commands (masks, annotations), the job summary, step outputs.
#include <algorithm>
#include <set>
#include <sstream>

#include "report.h"
#include "stepgate/secrets.h"

namespace stepgate::ci {
namespace {

const char* verdict_headline(Verdict v) {
  switch (v) {
    case Verdict::kAllow:
      return "allowed";
    case Verdict::kStepUp:
      return "step-up required";
    case Verdict::kDeny:
      return "denied";
  }
  return "";
}

const char* verdict_icon(Verdict v) {
  switch (v) {
    case Verdict::kAllow:
      return "\xE2\x9C\x85";  // check mark
    case Verdict::kStepUp:
      return "\xE2\x9A\xA0\xEF\xB8\x8F";  // warning sign
    case Verdict::kDeny:
      return "\xE2\x9B\x94";  // no entry
  }
  return "";
}

std::string reason_score(const Reason& r) {
  std::string s = r.effect ? std::string("effect: ") + verdict_name(*r.effect)
                           : (r.score >= 0 ? "+" : "") + std::to_string(r.score);
  if (r.shadow) s += " (shadow)";
  return s;
}

/// A code span inside a table cell: entities are not decoded in code spans, so only the cell
/// delimiter is escaped (GFM honours `\|` there) and line breaks become spaces.
std::string code_span(std::string_view text) {
  std::string body;
  for (char c : text) {
    if (c == '|')
      body += "\\|";
    else if (c == '\n' || c == '\r')
      body += ' ';
    else
      body += c;
  }
  if (text.find('`') == std::string_view::npos) return "`" + body + "`";
  return "`` " + body + " ``";
}

void append_lines(std::string_view text, std::vector<std::string_view>& lines) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

std::string escape_command_data(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '%')
      out += "%25";
    else if (c == '\r')
      out += "%0D";
    else if (c == '\n')
      out += "%0A";
    else
      out += c;
  }
  return out;
}

std::string escape_command_property(std::string_view text) {
  std::string out;
  for (char c : escape_command_data(text)) {
    if (c == ':')
      out += "%3A";
    else if (c == ',')
      out += "%2C";
    else
      out += c;
  }
  return out;
}

std::string workflow_annotation(std::string_view level, std::string_view title,
                                std::string_view message) {
  std::string line = "::" + std::string(level);
  if (!title.empty()) line += " title=" + escape_command_property(title);
  return line + "::" + escape_command_data(message) + "\n";
}

std::string gate_annotation(const GateReport& report) {
  const char* level = report.verdict == Verdict::kDeny     ? "error"
                      : report.verdict == Verdict::kStepUp ? "warning"
                                                           : "notice";
  std::string title = std::string("stepgate: ") + verdict_headline(report.verdict);
  std::string message =
      report.kind + " " + report.resource + " (score " + std::to_string(report.score) + ")";
  for (const Reason& r : report.reasons) message += "\n" + reason_text(r);
  if (report.verdict == Verdict::kStepUp && !report.challenge_id.empty()) {
    message += "\nchallenge " + report.challenge_id + ": see the job summary to approve";
  }
  return workflow_annotation(level, title, message);
}

std::vector<std::string> secrets_to_mask(const std::vector<std::string>& values) {
  std::set<std::string> found;
  for (const std::string& value : values) {
    std::vector<std::string_view> lines;
    append_lines(value, lines);
    for (const SecretFinding& f : scan_secrets(value, {{}, false})) {
      size_t index = f.line > 0 ? static_cast<size_t>(f.line - 1) : 0;
      if (index >= lines.size() || f.column < 1) continue;
      std::string_view line = lines[index];
      auto col = static_cast<size_t>(f.column - 1);
      if (col >= line.size()) continue;
      found.insert(std::string(line.substr(col, f.length)));
    }
  }
  return {found.begin(), found.end()};
}

std::string mask_commands(const std::vector<std::string>& secrets) {
  std::string out;
  for (const std::string& s : secrets) {
    if (!s.empty()) out += "::add-mask::" + escape_command_data(s) + "\n";
  }
  return out;
}

std::string github_output_entry(std::string_view name, std::string_view value,
                                std::string_view delimiter) {
  std::string out(name);
  out += "<<";
  out += delimiter;
  out += "\n";
  out += value;
  out += "\n";
  out += delimiter;
  out += "\n";
  return out;
}

std::string escape_markdown_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '|':
        out += "\\|";
        break;
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\r':
        break;
      case '\n':
        out += "<br>";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string step_summary_markdown(const GateReport& r) {
  std::ostringstream md;
  md << "## " << verdict_icon(r.verdict) << " stepgate: " << verdict_headline(r.verdict) << "\n\n";
  md << "| | |\n|---|---|\n";
  md << "| Action | " << code_span(r.kind) << " |\n";
  md << "| Resource | " << code_span(r.resource) << " |\n";
  md << "| Actor | " << code_span(r.actor) << " |\n";
  md << "| Verdict | **" << verdict_name(r.verdict) << "**";
  if (r.decided != r.verdict) md << " (decided " << verdict_name(r.decided) << ")";
  md << " |\n| Score | " << r.score << " |\n";
  if (!r.step_up_method.empty()) md << "| Step-up | satisfied by " << r.step_up_method << " |\n";
  md << "| Action digest | `" << r.action_digest << "` |\n\n";
  if (r.reasons.empty()) {
    md << "No rule matched.\n";
  } else {
    md << "| Rule | Score | Message |\n|---|---|---|\n";
    for (const Reason& reason : r.reasons) {
      md << "| " << code_span(reason.rule_id) << " | " << reason_score(reason) << " | "
         << escape_markdown_cell(reason.message) << " |\n";
    }
  }
  if (!r.metrics.empty()) {
    md << "\n| Metric | Candidate | Baseline | Change | Tolerance | |\n|---|---|---|---|---|---|\n";
    for (const MetricRow& m : r.metrics) {
      md << "| " << code_span(m.name) << " | " << m.candidate << " | " << m.baseline << " | "
         << m.change << " | " << m.tolerance << " (" << m.better << " is better) | "
         << (m.regressed ? "**regressed**" : "ok") << " |\n";
    }
  }
  for (const std::string& p : r.problems) md << "\n> " << escape_markdown_cell(p) << "\n";
  if (r.verdict == Verdict::kStepUp && !r.challenge_token.empty()) {
    md << "\n### Approve\n\nChallenge `" << r.challenge_id
       << "` is waiting for approval. An approver runs:\n\n```sh\n"
       << r.approve_command << "\n```\n\nthen re-run this job with the printed grant in the "
       << "`STEPGATE_GRANT` secret (or pass `--grant`).\n";
  }
  return md.str();
}

}  // namespace stepgate::ci
