#include "manifest.h"

#include <cmath>

#include "deploy_signals.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <set>

#include "stepgate/paths.h"
#include "stepgate/yaml_limits.h"

namespace stepgate::ci {
namespace {

bool is_plain(const YAML::Node& node) {
  return node.Tag() != "!";
}

bool is_null_text(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool is_bool_text(const std::string& s) {
  static const std::set<std::string> kBools = {"true", "True", "TRUE", "false", "False", "FALSE"};
  return kBools.contains(s);
}

std::optional<double> number_text(const std::string& s) {
  if (s.empty()) return std::nullopt;
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(begin, &end);
  if (end != begin + s.size() || errno == ERANGE || !std::isfinite(d)) return std::nullopt;
  // strtod accepts hex floats and "inf"/"nan"; manifests only hold decimal numbers.
  if (s.find_first_of("xXnN") != std::string::npos) return std::nullopt;
  return d;
}

/// What a scalar means in YAML's core schema: a quoted scalar is always a string.
const char* scalar_kind(const YAML::Node& node) {
  if (node.IsNull()) return "null";
  if (node.IsMap()) return "map";
  if (node.IsSequence()) return "list";
  if (!is_plain(node)) return "string";
  const std::string& s = node.Scalar();
  if (is_null_text(s)) return "null";
  if (is_bool_text(s)) return "bool";
  if (number_text(s)) return "number";
  return "string";
}

/// Walks the manifest tree; every error names NAME:LINE:COL and the field path.
class Walker {
 public:
  explicit Walker(std::string name) : name_(std::move(name)) {}

  [[nodiscard]] Error error(const YAML::Mark& mark, const std::string& path,
                            const std::string& what) const {
    std::string where = name_;
    if (!mark.is_null()) {
      where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    if (path.empty()) return invalid_argument(where + ": " + what);
    return invalid_argument(where + ": field `" + path + "`: " + what);
  }

  /// Requires a map; unknown or duplicate keys are errors naming `path.key`.
  Status check_map(const YAML::Node& node, const std::string& path,
                   std::initializer_list<std::string_view> allowed) const {
    if (auto s = require_map(node, path); !s) return s;
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      const std::string field = join(path, key);
      if (!seen.insert(key).second) return error(kv.first.Mark(), field, "duplicate key");
      if (allowed.size() > 0 && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return error(kv.first.Mark(), field, "unknown field");
      }
    }
    return {};
  }

  Status require_map(const YAML::Node& node, const std::string& path) const {
    if (node.IsMap()) return {};
    return error(node.Mark(), path, std::string("expected a map, got ") + scalar_kind(node));
  }

  Result<std::string> string_at(const YAML::Node& node, const std::string& path) const {
    const char* kind = scalar_kind(node);
    if (std::string_view(kind) != "string") {
      std::string hint =
          std::string_view(kind) == "number" ? " (quote it: \"" + node.Scalar() + "\")" : "";
      return error(node.Mark(), path, std::string("expected a string, got ") + kind + hint);
    }
    if (node.Scalar().empty()) return error(node.Mark(), path, "must not be empty");
    return node.Scalar();
  }

  Result<double> number_at(const YAML::Node& node, const std::string& path) const {
    if (std::string_view(scalar_kind(node)) != "number") {
      return error(node.Mark(), path, std::string("expected a number, got ") + scalar_kind(node));
    }
    return *number_text(node.Scalar());
  }

  Result<int64_t> size_at(const YAML::Node& node, const std::string& path) const {
    auto d = number_at(node, path);
    if (!d) return d.error();
    if (*d < 0 || std::floor(*d) != *d || *d > 9.0e15) {
      return error(node.Mark(), path, "expected a non-negative integer");
    }
    return static_cast<int64_t>(*d);
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  std::string name_;
};

Status read_model(const Walker& w, const YAML::Node& node, Manifest& m) {
  if (auto s = w.check_map(node, "model", {"name", "version"}); !s) return s;
  for (const char* key : {"name", "version"}) {
    const std::string path = std::string("model.") + key;
    if (!node[key]) return w.error(node.Mark(), path, "required");
    auto v = w.string_at(node[key], path);
    if (!v) return v.error();
    (std::string_view(key) == "name" ? m.model_name : m.model_version) = *v;
  }
  return {};
}

bool is_sha256_hex(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Status read_artifact(const Walker& w, const YAML::Node& node, Manifest& m) {
  if (auto s = w.check_map(node, "artifact", {"uri", "path", "sha256", "size_bytes"}); !s) {
    return s;
  }
  if (node["uri"]) {
    auto v = w.string_at(node["uri"], "artifact.uri");
    if (!v) return v.error();
    m.artifact_uri = *v;
  }
  if (node["path"]) {
    auto v = w.string_at(node["path"], "artifact.path");
    if (!v) return v.error();
    m.artifact_path = *v;
  }
  if (m.artifact_uri.empty() && m.artifact_path.empty()) {
    return w.error(node.Mark(), "artifact.uri", "required (or artifact.path)");
  }
  if (!node["sha256"]) return w.error(node.Mark(), "artifact.sha256", "required");
  // A digest of only decimal digits reads as a number in YAML; the text is what counts.
  const YAML::Node sha_node = node["sha256"];
  auto sha = sha_node.IsScalar() && is_plain(sha_node) ? Result<std::string>(sha_node.Scalar())
                                                       : w.string_at(sha_node, "artifact.sha256");
  if (!sha) return sha.error();
  if (!is_sha256_hex(*sha)) {
    return w.error(node["sha256"].Mark(), "artifact.sha256", "expected 64 lowercase hex digits");
  }
  m.artifact_sha256 = *sha;
  if (node["size_bytes"]) {
    auto v = w.size_at(node["size_bytes"], "artifact.size_bytes");
    if (!v) return v.error();
    m.artifact_size_bytes = *v;
  }
  return {};
}

Status read_target(const Walker& w, const YAML::Node& node, Manifest& m) {
  if (auto s = w.check_map(node, "target", {"environment", "endpoint"}); !s) return s;
  if (!node["environment"]) return w.error(node.Mark(), "target.environment", "required");
  auto env = w.string_at(node["environment"], "target.environment");
  if (!env) return env.error();
  m.environment = *env;
  if (node["endpoint"]) {
    auto v = w.string_at(node["endpoint"], "target.endpoint");
    if (!v) return v.error();
    m.endpoint = *v;
  }
  return {};
}

Status read_numbers(const Walker& w, const YAML::Node& node, const std::string& path,
                    std::map<std::string, double>& out) {
  if (auto s = w.check_map(node, path, {}); !s) return s;
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    auto v = w.number_at(kv.second, Walker::join(path, key));
    if (!v) return v.error();
    out[key] = *v;
  }
  return {};
}

Result<MetricSpec> read_metric(const Walker& w, const YAML::Node& node, const std::string& path) {
  if (auto s = w.check_map(node, path, {"direction", "tolerance_pct", "tolerance_abs"}); !s) {
    return s.error();
  }
  MetricSpec spec;
  if (!node["direction"]) return w.error(node.Mark(), path + ".direction", "required");
  auto dir = w.string_at(node["direction"], path + ".direction");
  if (!dir) return dir.error();
  if (*dir != "higher" && *dir != "lower") {
    return w.error(node["direction"].Mark(), path + ".direction",
                   "expected `higher` or `lower`, got `" + *dir + "`");
  }
  spec.direction = *dir == "higher" ? Direction::kHigher : Direction::kLower;
  for (const char* key : {"tolerance_pct", "tolerance_abs"}) {
    if (!node[key]) continue;
    auto v = w.number_at(node[key], path + "." + key);
    if (!v) return v.error();
    if (*v < 0) return w.error(node[key].Mark(), path + "." + key, "must not be negative");
    (std::string_view(key) == "tolerance_pct" ? spec.tolerance_pct : spec.tolerance_abs) = *v;
  }
  if (spec.tolerance_pct && spec.tolerance_abs) {
    return w.error(node.Mark(), path, "give tolerance_pct or tolerance_abs, not both");
  }
  return spec;
}

Status read_evaluation(const Walker& w, const YAML::Node& node, Manifest& m) {
  if (auto s = w.check_map(node, "evaluation", {"candidate", "baseline", "metrics"}); !s) return s;
  m.has_evaluation = true;
  if (node["candidate"]) {
    if (auto s = read_numbers(w, node["candidate"], "evaluation.candidate", m.candidate); !s) {
      return s;
    }
  }
  if (node["baseline"]) {
    if (auto s = read_numbers(w, node["baseline"], "evaluation.baseline", m.baseline); !s) return s;
  }
  if (!node["metrics"]) return {};
  const YAML::Node metrics = node["metrics"];
  if (auto s = w.check_map(metrics, "evaluation.metrics", {}); !s) return s;
  for (const auto& kv : metrics) {
    const std::string key = kv.first.Scalar();
    auto spec = read_metric(w, kv.second, "evaluation.metrics." + key);
    if (!spec) return spec.error();
    m.metrics[key] = *spec;
  }
  return {};
}

Status read_previous(const Walker& w, const YAML::Node& node, Manifest& m) {
  if (auto s = w.check_map(node, "previous", {"version", "size_bytes"}); !s) return s;
  if (node["version"]) {
    auto v = w.string_at(node["version"], "previous.version");
    if (!v) return v.error();
    m.previous_version = *v;
  }
  if (node["size_bytes"]) {
    auto v = w.size_at(node["size_bytes"], "previous.size_bytes");
    if (!v) return v.error();
    m.previous_size_bytes = *v;
  }
  return {};
}

Status read_root(const Walker& w, const YAML::Node& root, Manifest& m) {
  if (auto s = w.check_map(
          root, "", {"model", "artifact", "target", "evaluation", "previous", "change_ticket"});
      !s) {
    return s;
  }
  // Present fields first, so a wrong value is reported before a missing section.
  if (root["model"]) {
    if (auto s = read_model(w, root["model"], m); !s) return s;
  }
  if (root["artifact"]) {
    if (auto s = read_artifact(w, root["artifact"], m); !s) return s;
  }
  if (root["target"]) {
    if (auto s = read_target(w, root["target"], m); !s) return s;
  }
  if (root["evaluation"]) {
    if (auto s = read_evaluation(w, root["evaluation"], m); !s) return s;
  }
  if (root["previous"]) {
    if (auto s = read_previous(w, root["previous"], m); !s) return s;
  }
  if (root["change_ticket"]) {
    auto v = w.string_at(root["change_ticket"], "change_ticket");
    if (!v) return v.error();
    m.change_ticket = *v;
  }
  for (const char* key : {"model", "artifact", "target"}) {
    if (!root[key]) return w.error(root.Mark(), key, "required");
  }
  return {};
}

}  // namespace

Result<Manifest> parse_manifest(std::string_view text, const std::string& name) {
  Walker walker(name);
  // Limits first: YAML::Load shares an alias's node, but every walk below expands it again.
  // (Text that is not YAML at all is reported below, in the manifest's own words.)
  if (Status limits = check_yaml_limits(text, name);
      !limits.ok() && limits.error().code == ErrorCode::kResourceExhausted) {
    return limits.error();
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return walker.error(e.mark, "", "not valid YAML or JSON: " + e.msg);
  }
  Manifest manifest;
  manifest.source = name;
  try {
    if (!root.IsMap()) return walker.error(root.Mark(), "", "the manifest must be a map");
    if (auto s = read_root(walker, root, manifest); !s) return s.error();
  } catch (const YAML::Exception& e) {
    return walker.error(e.mark, "", e.msg);
  }
  return manifest;
}

Result<Manifest> load_manifest(const std::string& path, const std::string& name) {
  auto text = read_file(path, std::size_t{4} * 1024 * 1024);
  if (!text) return invalid_argument("cannot read manifest " + name + ": " + text.error().message);
  return parse_manifest(*text, name);
}

std::string manifest_resource(const Manifest& m) {
  return "model:" + m.model_name + "@" + m.model_version + " to " + m.environment;
}

namespace {

double rounded(double v) {
  return std::round(v * 1000.0) / 1000.0;
}

}  // namespace

Value evaluation_attribute(const Manifest& m) {
  Map out;
  for (const MetricComparison& c : compare_evaluation(m).metrics) {
    Map row{{"better", Value(c.direction == Direction::kHigher ? "higher" : "lower")},
            {"tolerance", Value(c.tolerance)},
            {"regressed", Value(c.regressed)}};
    row.emplace("candidate", c.candidate ? Value(*c.candidate) : Value());
    row.emplace("baseline", c.baseline ? Value(*c.baseline) : Value());
    if (c.candidate && c.baseline) {
      row.emplace("change", Value(rounded(c.change)));
      row.emplace("change_pct", Value(rounded(c.change_pct)));
    }
    out.emplace(c.name, Value(std::move(row)));
  }
  return out;
}

Action manifest_action(const Manifest& m, const std::string& actor, const Value& extra) {
  Action action;
  action.kind = "model.deploy";
  action.actor = actor;
  action.resource = manifest_resource(m);
  Value& a = action.attributes;
  if (extra.is_map()) a = extra;
  a["model"] = m.model_name;
  a["version"] = m.model_version;
  a["environment"] = m.environment;
  a["artifact_sha256"] = m.artifact_sha256;
  a["artifact_uri"] = m.artifact_uri.empty() ? m.artifact_path : m.artifact_uri;
  if (!m.endpoint.empty()) a["endpoint"] = m.endpoint;
  if (m.artifact_size_bytes) a["artifact_size_bytes"] = *m.artifact_size_bytes;
  if (!m.previous_version.empty()) a["previous_version"] = m.previous_version;
  if (!m.change_ticket.empty()) a["change_ticket"] = m.change_ticket;
  if (!m.metrics.empty()) a["evaluation"] = evaluation_attribute(m);
  return action;
}

}  // namespace stepgate::ci
