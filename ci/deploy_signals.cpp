#include "deploy_signals.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "stepgate/collect.h"
#include "stepgate/crypto.h"
#include "stepgate/glob.h"
#include "stepgate/signal_demand.h"

namespace stepgate::ci {
namespace {

/// How much worse the candidate is than the baseline, in the metric's units (> 0 is worse).
double worsening(const MetricSpec& spec, double candidate, double baseline) {
  return spec.direction == Direction::kHigher ? baseline - candidate : candidate - baseline;
}

bool beyond_tolerance(const MetricSpec& spec, double drop, double drop_pct) {
  if (spec.tolerance_abs) return drop > *spec.tolerance_abs;
  if (spec.tolerance_pct) return drop_pct > *spec.tolerance_pct;
  return drop > 0;
}

/// "2%" or "0.01" (absolute, in the metric's units), or "none" (any worsening regresses).
std::string tolerance_text(const MetricSpec& spec) {
  std::ostringstream out;
  if (spec.tolerance_abs) {
    out << *spec.tolerance_abs;
  } else if (spec.tolerance_pct) {
    out << *spec.tolerance_pct << '%';
  } else {
    out << "none";
  }
  return out.str();
}

std::string resolve(const std::string& cwd, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || cwd.empty()) return path;
  return (std::filesystem::path(cwd) / p).string();
}

const std::array<const char*, 7> kDays = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

Result<int> parse_day(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (int i = 0; i < 7; ++i) {
    if (text.size() >= 3 && text.compare(0, 3, kDays[i]) == 0) return i;
  }
  return invalid_argument("unknown weekday `" + text + "`");
}

/// "Mon-Thu" or "Mon,Wed,Fri" or "Sat-Sun" into a 7-bit set (0 = Sunday).
Result<std::array<bool, 7>> parse_days(const std::string& text) {
  std::array<bool, 7> days{};
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    auto dash = item.find('-');
    auto first = parse_day(item.substr(0, dash));
    if (!first) return first.error();
    auto last = dash == std::string::npos ? first : parse_day(item.substr(dash + 1));
    if (!last) return last.error();
    for (int d = *first;; d = (d + 1) % 7) {
      days[d] = true;
      if (d == *last) break;
    }
  }
  return days;
}

Result<int> parse_clock(const std::string& text) {
  int h = 0;
  int m = 0;
  char colon = 0;
  std::istringstream in(text);
  if (!(in >> h >> colon >> m) || colon != ':' || h < 0 || h > 24 || m < 0 || m > 59 ||
      (h == 24 && m != 0) || !in.eof()) {
    return invalid_argument("bad time `" + text + "` (want HH:MM)");
  }
  return h * 60 + m;
}

struct Window {
  std::array<bool, 7> days{};
  int start = 0;  // minutes after midnight
  int end = 0;
};

Result<Window> parse_window(const std::string& text) {
  std::istringstream in(text);
  std::string days_text;
  std::string times;
  std::string rest;
  if (!(in >> days_text >> times) || (in >> rest)) {
    return invalid_argument("change window `" + text + "`: want \"Mon-Thu 09:00-16:00\"");
  }
  Window w;
  auto days = parse_days(days_text);
  if (!days) return invalid_argument("change window `" + text + "`: " + days.error().message);
  w.days = *days;
  auto dash = times.find('-');
  if (dash == std::string::npos)
    return invalid_argument("change window `" + text + "`: no time range");
  auto start = parse_clock(times.substr(0, dash));
  auto end = parse_clock(times.substr(dash + 1));
  if (!start) return invalid_argument("change window `" + text + "`: " + start.error().message);
  if (!end) return invalid_argument("change window `" + text + "`: " + end.error().message);
  w.start = *start;
  w.end = *end;
  return w;
}

bool window_contains(const Window& w, int weekday, int minute) {
  if (w.start < w.end) return w.days[weekday] && minute >= w.start && minute < w.end;
  // Crosses midnight: the evening belongs to the listed day, the early hours to the next one.
  int yesterday = (weekday + 6) % 7;
  return (w.days[weekday] && minute >= w.start) || (w.days[yesterday] && minute < w.end);
}

}  // namespace

EvaluationResult compare_evaluation(const Manifest& m) {
  EvaluationResult r;
  r.eval_missing = m.candidate.empty();
  for (const auto& [name, spec] : m.metrics) {
    MetricComparison row;
    row.name = name;
    row.direction = spec.direction;
    row.tolerance = tolerance_text(spec);
    auto cand = m.candidate.find(name);
    auto base = m.baseline.find(name);
    if (base != m.baseline.end()) row.baseline = base->second;
    if (cand == m.candidate.end()) {
      r.eval_missing = true;
      r.metrics.push_back(std::move(row));
      continue;
    }
    row.candidate = cand->second;
    if (base == m.baseline.end()) {
      r.metrics.push_back(std::move(row));
      continue;
    }
    double drop = worsening(spec, cand->second, base->second);
    double drop_pct =
        base->second != 0 ? drop / std::fabs(base->second) * 100.0 : (drop > 0 ? 100.0 : 0.0);
    row.change = cand->second - base->second;
    row.change_pct = base->second != 0 ? row.change / std::fabs(base->second) * 100.0 : 0.0;
    if (drop_pct > r.worst_regression_pct) {
      r.worst_regression_pct = drop_pct;
      r.worst_regression_metric = name;
    }
    row.regressed = beyond_tolerance(spec, drop, drop_pct);
    if (row.regressed) r.regressions.push_back(name);
    r.metrics.push_back(std::move(row));
  }
  // Round so messages and policies see 3.2, not 3.2000000000000028.
  r.worst_regression_pct = std::round(r.worst_regression_pct * 1000.0) / 1000.0;
  return r;
}

Result<std::string> sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open artifact " + path);
  Sha256Stream hash;
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    if (n > 0) hash.update(std::string_view(buffer.data(), static_cast<size_t>(n)));
  }
  if (in.bad()) return make_error(ErrorCode::kUnavailable, "error reading artifact " + path);
  return hash.hex_final();
}

Status add_manifest_signals(const Manifest& m, const CiSettings& settings, const std::string& cwd,
                            Value& signals, const SignalDemand* demand) {
  signals["environment"] = m.environment;
  signals["production"] =
      std::any_of(settings.production_environments.begin(), settings.production_environments.end(),
                  [&](const std::string& p) { return glob_match(p, m.environment); });
  EvaluationResult eval = compare_evaluation(m);
  List regressions(eval.regressions.begin(), eval.regressions.end());
  signals["metric_regressions"] = std::move(regressions);
  signals["worst_regression_pct"] = eval.worst_regression_pct;
  signals["worst_regression_metric"] = eval.worst_regression_metric;
  signals["eval_missing"] = eval.eval_missing;
  std::optional<int64_t> size = m.artifact_size_bytes;
  bool mismatch = false;
  const bool hash = demand == nullptr || demand->wants("artifact_digest_mismatch");
  if (!m.artifact_path.empty()) {
    std::string path = resolve(cwd, m.artifact_path);
    if (hash) {
      auto digest = sha256_file(path);
      if (!digest) {
        return invalid_argument(m.source + ": field `artifact.path`: " + digest.error().message);
      }
      mismatch = !constant_time_equal(*digest, m.artifact_sha256);
    } else if (!std::ifstream(path, std::ios::binary)) {  // named but missing: still an error
      return invalid_argument(m.source + ": field `artifact.path`: cannot open artifact " + path);
    }
    std::error_code ec;
    auto actual = std::filesystem::file_size(path, ec);
    if (!ec) {
      if (hash && size && static_cast<uint64_t>(*size) != actual) mismatch = true;
      size = static_cast<int64_t>(actual);
    }
  }
  signals["artifact_digest_mismatch"] = mismatch;
  double change = 0;
  if (size && m.previous_size_bytes && *m.previous_size_bytes > 0) {
    change = static_cast<double>(*size - *m.previous_size_bytes) /
             static_cast<double>(*m.previous_size_bytes) * 100.0;
    change = std::round(change * 1000.0) / 1000.0;
  }
  signals["size_change_pct"] = change;
  return {};
}

Result<bool> inside_change_window(const std::string& spec, UnixTime now,
                                  const std::string& timezone) {
  if (spec.empty()) return true;
  auto local = local_time(now, timezone);
  if (!local) return local.error();
  int minute = local->hour * 60 + local->minute;
  std::stringstream parts(spec);
  std::string part;
  bool inside = false;
  while (std::getline(parts, part, ';')) {
    auto window = parse_window(part);
    if (!window) return window.error();
    if (window_contains(*window, local->weekday, minute)) inside = true;
  }
  return inside;
}

}  // namespace stepgate::ci
