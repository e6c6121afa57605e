#include "deploy_signals.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "stepgate/change_window.h"
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

Result<bool> inside_change_window(const std::vector<ChangeWindow>& windows, UnixTime now,
                                  const std::string& timezone) {
  if (windows.empty()) return true;
  auto local = local_time(now, timezone);
  if (!local) return local.error();
  return inside_change_windows(windows, local->weekday, local->hour * 60 + local->minute);
}

Result<bool> inside_change_window(const std::string& spec, UnixTime now,
                                  const std::string& timezone) {
  auto windows = parse_change_windows(spec);
  if (!windows) return windows.error();
  return inside_change_window(*windows, now, timezone);
}

}  // namespace stepgate::ci
