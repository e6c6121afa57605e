#pragma once
// The model.deploy signals a manifest gives: evaluation against the baseline, artifact digest,
// size change, production target; and the change window check every CI kind gets.

#include <optional>
#include <string>
#include <vector>

#include "manifest.h"
#include "stepgate/policy.h"
#include "stepgate/result.h"
#include "stepgate/store.h"
#include "stepgate/value.h"

namespace stepgate {
struct SignalDemand;
}  // namespace stepgate

namespace stepgate::ci {

/// One declared metric, candidate against baseline: what the step summary shows.
struct MetricComparison {
  std::string name;
  Direction direction = Direction::kHigher;
  std::optional<double> candidate;  // missing from the evaluation when unset
  std::optional<double> baseline;   // no baseline value: it cannot regress
  double change = 0;                // candidate - baseline (0 without both)
  double change_pct = 0;            // change relative to |baseline|, in percent
  std::string tolerance;            // "2%", "0.01" (absolute) or "none"
  bool regressed = false;           // worse than the baseline beyond the tolerance
};

/// Result of comparing the candidate's metrics with the baseline.
struct EvaluationResult {
  std::vector<std::string> regressions;   // metrics worse than the baseline beyond tolerance
  double worst_regression_pct = 0;        // largest relative drop across declared metrics
  std::string worst_regression_metric;    // the metric with that drop ("" when none dropped)
  bool eval_missing = false;              // no candidate metrics, or a declared metric missing
  std::vector<MetricComparison> metrics;  // every declared metric, in name order
};

/// Compares every declared metric in its direction. A metric without a baseline value cannot
/// regress; a declared metric missing from the candidate sets eval_missing.
EvaluationResult compare_evaluation(const Manifest& manifest);

/// SHA-256 (lowercase hex) of a file, read in chunks. kNotFound when it cannot be opened.
Result<std::string> sha256_file(const std::string& path);

/// Adds production, environment, metric_regressions, worst_regression_pct,
/// worst_regression_metric, eval_missing,
/// artifact_digest_mismatch (hashing artifact.path, relative to `cwd`, when given: a missing file
/// is an error) and size_change_pct. The artifact (a model can be gigabytes) is hashed only when
/// `demand` (the rules' signals_read; null: all) reads artifact_digest_mismatch; it stays false
/// otherwise.
Status add_manifest_signals(const Manifest& manifest, const CiSettings& settings,
                            const std::string& cwd, Value& signals,
                            const SignalDemand* demand = nullptr);

/// Whether `now` is inside a change window like "Mon-Thu 09:00-16:00" (several separated by ';',
/// days as ranges or comma lists, end exclusive, a window ending before it starts crosses
/// midnight). An empty spec is always inside. kInvalidArgument for a malformed spec.
Result<bool> inside_change_window(const std::string& spec, UnixTime now,
                                  const std::string& timezone);
/// Same for windows the policy loader has already parsed (CiSettings::change_windows).
Result<bool> inside_change_window(const std::vector<ChangeWindow>& windows, UnixTime now,
                                  const std::string& timezone);

}  // namespace stepgate::ci
