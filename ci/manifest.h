#pragma once
// The deployment manifest a CI job hands to `stepgate ci gate --manifest`: what model, which
// artifact, where to, and how its evaluation compares with the baseline. Schema:
// ci/manifest.schema.json. Parsing is strict: unknown keys and wrong types are errors that name
// the field path and FILE:LINE:COLUMN.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "stepgate/action.h"
#include "stepgate/result.h"

namespace stepgate::ci {

enum class Direction { kHigher, kLower };

/// How one metric is judged: which way is better and how much worse is tolerated.
struct MetricSpec {
  Direction direction = Direction::kHigher;
  std::optional<double> tolerance_pct;
  std::optional<double> tolerance_abs;
};

struct Manifest {
  std::string source;  // file name used in messages
  std::string model_name;
  std::string model_version;
  std::string artifact_uri;
  std::string artifact_path;
  std::string artifact_sha256;  // lowercase hex
  std::optional<int64_t> artifact_size_bytes;
  std::string environment;
  std::string endpoint;
  bool has_evaluation = false;
  std::map<std::string, double> candidate;
  std::map<std::string, double> baseline;
  std::map<std::string, MetricSpec> metrics;
  std::string previous_version;
  std::optional<int64_t> previous_size_bytes;
  std::string change_ticket;
};

/// Parses manifest text (YAML or JSON). kInvalidArgument errors read
/// "NAME:LINE:COL: field `evaluation.metrics.acc.direction`: what is wrong".
Result<Manifest> parse_manifest(std::string_view text, const std::string& name);

/// Reads and parses a manifest file; `name` (the path as the user gave it) is used in messages.
Result<Manifest> load_manifest(const std::string& path, const std::string& name);

/// "model:NAME@VERSION to ENVIRONMENT"
std::string manifest_resource(const Manifest& manifest);

/// The model.deploy action for a manifest. Attributes are deterministic (the approval digest
/// binds to them): model, version, environment, endpoint, artifact_sha256, artifact_uri,
/// artifact_size_bytes, previous_version, change_ticket, `evaluation` (evaluation_attribute),
/// plus `extra` (repository, commit...).
Action manifest_action(const Manifest& manifest, const std::string& actor, const Value& extra);

/// Each declared metric: {candidate, baseline, change, change_pct, tolerance, better, regressed}
/// (change rounded to 3 decimals). In the action's attributes, so the approvals inbox shows an
/// approver the numbers and the approval binds to them.
Value evaluation_attribute(const Manifest& manifest);

}  // namespace stepgate::ci
