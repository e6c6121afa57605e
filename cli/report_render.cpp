// Text and HTML forms of `stepgate report` (see report_render.h).
#include "report_render.h"

#include "stepgate/markup.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <sstream>
#include <vector>

namespace stepgate {
namespace {

using Row = std::vector<std::string>;

/// Columns padded to their widest cell; the first column left-aligned, numbers right-aligned.
void print_table(std::ostream& out, const Row& header, const std::vector<Row>& rows) {
  std::vector<std::size_t> width(header.size(), 0);
  auto widen = [&](const Row& r) {
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  };
  widen(header);
  for (const Row& r : rows) widen(r);
  auto line = [&](const Row& r) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::string pad(width[i] - r[i].size(), ' ');
      out << "  " << (i == 0 ? r[i] + pad : pad + r[i]);
    }
    out << '\n';
  };
  line(header);
  for (const Row& r : rows) line(r);
}

const Row kCountsHeader = {"", "decisions", "matched", "step_up", "satisfied", "denied", "shadow"};

Row counts_row(const std::string& name, const ReportCounts& c) {
  return {name.empty() ? "(none)" : name, std::to_string(c.decisions), std::to_string(c.matched),
          std::to_string(c.step_up),      std::to_string(c.satisfied), std::to_string(c.denied),
          std::to_string(c.shadow)};
}

std::vector<Row> group_rows(const std::map<std::string, ReportCounts>& groups) {
  std::vector<Row> rows;
  for (const auto& [name, c] : groups) rows.push_back(counts_row(name, c));
  return rows;
}

Row header_named(const std::string& first) {
  Row h = kCountsHeader;
  h[0] = first;
  return h;
}

std::vector<Row> approval_rows(const AuditReport& r) {
  std::vector<Row> rows;
  for (const auto& [key, a] : r.approvals) {
    rows.push_back({key.first.empty() ? "(unknown)" : key.first, key.second,
                    std::to_string(a.approved), std::to_string(a.denied)});
  }
  return rows;
}

std::vector<Row> lockout_rows(const AuditReport& r) {
  std::vector<Row> rows;
  for (const ReportLockout& l : r.lockouts) rows.push_back({l.time, l.who, l.kind, l.where});
  return rows;
}

// ---- HTML ---------------------------------------------------------------------------------------


void html_table(std::ostream& out, const std::string& id, const Row& header,
                const std::vector<Row>& rows) {
  out << "<table id=\"" << id << "\"><thead><tr>";
  for (const auto& h : header) out << "<th>" << html_escape(h) << "</th>";
  out << "</tr></thead><tbody>";
  if (rows.empty()) {
    out << "<tr><td colspan=\"" << header.size() << "\" class=\"none\">none</td></tr>";
  }
  for (const Row& r : rows) {
    out << "<tr>";
    for (std::size_t i = 0; i < r.size(); ++i)
      out << (i == 0 ? "<th>" : "<td>") << html_escape(r[i]) << (i == 0 ? "</th>" : "</td>");
    out << "</tr>";
  }
  out << "</tbody></table>\n";
}

struct Series {
  std::string name;
  std::string color;
  std::vector<int64_t> values;  // one per category
};

constexpr int kLabelWidth = 200;
constexpr int kPlotWidth = 460;
constexpr int kBarHeight = 9;

/// A horizontal grouped bar chart: one row of bars per category, one bar per series, a legend
/// on top. Bars are scaled to the largest value; each carries its number and a <title>.
void svg_bars(std::ostream& out, const std::string& id, const std::string& title,
              const std::vector<std::string>& categories, const std::vector<Series>& series) {
  int64_t max = 1;
  for (const Series& s : series)
    for (int64_t v : s.values) max = std::max(max, v);
  const int group = static_cast<int>(series.size()) * kBarHeight + 10;
  const int top = 28;
  const int height = top + static_cast<int>(categories.size()) * group + 6;
  const int width = kLabelWidth + kPlotWidth + 50;
  out << "<figure class=\"chart\" id=\"" << id << "\"><figcaption>" << html_escape(title)
      << "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"" << width
      << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << ' ' << height << "\">";
  int x = kLabelWidth;
  for (const Series& s : series) {  // legend
    out << "<rect x=\"" << x << "\" y=\"6\" width=\"10\" height=\"10\" fill=\"" << s.color
        << "\"/><text x=\"" << x + 14 << "\" y=\"15\" class=\"legend\">" << html_escape(s.name)
        << "</text>";
    x += 24 + static_cast<int>(s.name.size()) * 7;
  }
  if (categories.empty()) {
    out << "<text x=\"" << kLabelWidth << "\" y=\"" << top + 12 << "\">no data</text>";
  }
  for (std::size_t c = 0; c < categories.size(); ++c) {
    const int y0 = top + static_cast<int>(c) * group;
    std::string label = categories[c].empty() ? "(none)" : categories[c];
    if (label.size() > 28) label = label.substr(0, 27) + "…";
    out << "<text x=\"" << kLabelWidth - 6 << "\" y=\"" << y0 + group / 2 + 3
        << "\" text-anchor=\"end\" class=\"cat\">" << html_escape(label) << "</text>";
    for (std::size_t s = 0; s < series.size(); ++s) {
      const int64_t v = c < series[s].values.size() ? series[s].values[c] : 0;
      const int w = static_cast<int>(v * kPlotWidth / max);
      const int y = y0 + static_cast<int>(s) * kBarHeight;
      out << "<rect class=\"bar\" x=\"" << kLabelWidth << "\" y=\"" << y << "\" width=\"" << w
          << "\" height=\"" << kBarHeight - 1 << "\" fill=\"" << series[s].color << "\"><title>"
          << html_escape(categories[c]) << ": " << v << ' ' << html_escape(series[s].name) << "</title></rect>";
      out << "<text x=\"" << kLabelWidth + w + 4 << "\" y=\"" << y + kBarHeight - 1
          << "\" class=\"num\">" << v << "</text>";
    }
  }
  out << "</svg></figure>\n";
}

const char* const kMatched = "#4c78a8";
const char* const kStepUp = "#f58518";
const char* const kDenied = "#e45756";
const char* const kShadow = "#9d9da1";

std::vector<Series> count_series(const std::map<std::string, ReportCounts>& groups,
                                 std::vector<std::string>& categories, bool decisions) {
  std::vector<Series> series = {{decisions ? "decisions" : "matched", kMatched, {}},
                                {"stepped up", kStepUp, {}},
                                {"denied", kDenied, {}},
                                {"shadow would-have", kShadow, {}}};
  for (const auto& [name, c] : groups) {
    categories.push_back(name);
    series[0].values.push_back(decisions ? c.decisions : c.matched);
    series[1].values.push_back(c.step_up);
    series[2].values.push_back(c.denied);
    series[3].values.push_back(c.shadow);
  }
  return series;
}

/// Step-up durations in buckets a reader can act on.
void duration_chart(std::ostream& out, const std::vector<int64_t>& seconds) {
  const std::array<std::pair<int64_t, const char*>, 6> buckets = {{{10, "under 10s"},
                                                                   {60, "10s to 1m"},
                                                                   {300, "1m to 5m"},
                                                                   {900, "5m to 15m"},
                                                                   {3600, "15m to 1h"},
                                                                   {INT64_MAX, "1h or more"}}};
  std::vector<std::string> categories;
  Series held{"step-ups", kStepUp, {}};
  for (const auto& [limit, name] : buckets) {
    categories.emplace_back(name);
    held.values.push_back(0);
  }
  for (int64_t s : seconds) {
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      if (s < buckets[i].first) {
        ++held.values[i];
        break;
      }
    }
  }
  svg_bars(out, "chart-step-up", "Time from hold to approval", categories, {held});
}

const char* const kStyle =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}"
    "table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;text-align:right;"
    "border-bottom:1px solid #eee}thead th{background:#f4f4f6}thead th:first-child{text-align:left}tbody th{text-align:left;"
    "font-weight:normal;font-family:ui-monospace,monospace}td.none{text-align:left;color:#888}"
    "figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}"
    "svg text{font:11px system-ui,sans-serif;fill:#333}svg text.cat{font-family:ui-monospace,"
    "monospace}.summary span{display:inline-block;margin-right:18px}";

}  // namespace

std::string format_seconds(int64_t seconds) {
  char buf[32];
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(seconds));
  } else if (seconds < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(seconds / 60),
                  static_cast<long long>(seconds % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh %02lldm", static_cast<long long>(seconds / 3600),
                  static_cast<long long>(seconds / 60 % 60));
  }
  return buf;
}

std::string render_report_text(const AuditReport& r, const std::string& period) {
  std::ostringstream out;
  const ReportCounts& t = r.total;
  out << "stepgate report: " << period << ", " << r.records << " records, " << t.decisions
      << " decisions: " << t.matched << " matched a rule, " << t.step_up << " stepped up ("
      << t.satisfied << " satisfied), " << t.denied << " denied, " << t.shadow
      << " shadow would-have\n";
  out << "\nper rule\n";
  print_table(out, header_named("rule"), group_rows(r.by_rule));
  out << "\nper actor\n";
  print_table(out, header_named("actor"), group_rows(r.by_actor));
  out << "\nper front-end\n";
  print_table(out, header_named("front-end"), group_rows(r.by_front_end));
  const auto& s = r.step_up_seconds;
  out << "\nstep-ups from hold to approval: " << s.size();
  if (!s.empty()) {
    out << " (p50 " << format_seconds(percentile(s, 50)) << ", p90 "
        << format_seconds(percentile(s, 90)) << ", max " << format_seconds(percentile(s, 100))
        << ")";
  }
  out << "\n\napprovals\n";
  if (r.approvals.empty())
    out << "  none\n";
  else
    print_table(out, {"approver", "method", "approved", "denied"}, approval_rows(r));
  out << "\nlockouts\n";
  if (r.lockouts.empty())
    out << "  none\n";
  else
    print_table(out, {"time", "who", "kind", "where"}, lockout_rows(r));
  return out.str();
}

std::string render_report_html(const AuditReport& r, const std::string& period) {
  std::ostringstream out;
  const ReportCounts& t = r.total;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      << "style-src 'unsafe-inline'\"><title>stepgate report</title><style>" << kStyle
      << "</style></head><body>\n<h1>stepgate report</h1>\n<p class=\"summary\" id=\"summary\">"
      << "<span>" << html_escape(period) << "</span><span>" << r.records << " records</span><span>"
      << t.decisions << " decisions</span><span>" << t.matched << " matched</span><span>"
      << t.step_up << " stepped up (" << t.satisfied << " satisfied)</span><span>" << t.denied
      << " denied</span><span>" << t.shadow << " shadow would-have</span></p>\n";
  std::vector<std::string> days;
  auto by_day = count_series(r.by_day, days, /*decisions=*/true);
  svg_bars(out, "chart-days", "Decisions per day (UTC)", days, by_day);
  std::vector<std::string> rules;
  auto by_rule = count_series(r.by_rule, rules, /*decisions=*/false);
  svg_bars(out, "chart-rules", "Per rule", rules, by_rule);
  out << "<h2>Per rule</h2>\n";
  html_table(out, "table-rules", header_named("rule"), group_rows(r.by_rule));
  out << "<h2>Per actor</h2>\n";
  html_table(out, "table-actors", header_named("actor"), group_rows(r.by_actor));
  out << "<h2>Per front-end</h2>\n";
  html_table(out, "table-front-ends", header_named("front-end"), group_rows(r.by_front_end));
  out << "<h2>Step-ups</h2>\n";
  const auto& s = r.step_up_seconds;
  out << "<p id=\"step-up-summary\">" << s.size() << " step-ups from hold to approval";
  if (!s.empty()) {
    out << ": p50 " << format_seconds(percentile(s, 50)) << ", p90 "
        << format_seconds(percentile(s, 90)) << ", max " << format_seconds(percentile(s, 100));
  }
  out << "</p>\n";
  duration_chart(out, s);
  out << "<h2>Approvals</h2>\n";
  html_table(out, "table-approvals", {"approver", "method", "approved", "denied"},
             approval_rows(r));
  out << "<h2>Lockouts</h2>\n";
  html_table(out, "table-lockouts", {"time", "who", "kind", "where"}, lockout_rows(r));
  out << "</body></html>\n";
  return out.str();
}

}  // namespace stepgate
