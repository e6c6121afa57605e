#include "core_pack_test.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <ostream>
#include <regex>
#include <set>

#include "stepgate/action.h"
#include "stepgate/collect.h"
#include "stepgate/engine.h"
#include "stepgate/paths.h"
#include "stepgate/policy.h"
#include "stepgate/signals.h"
#include "stepgate/yaml_limits.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

struct Counts {
  int passed = 0;
  int failed = 0;
};

// YAML -> Value: plain scalars that look like bools/ints/doubles become those; quoted stay strings.
Value to_value(const YAML::Node& node) {
  if (node.IsSequence()) {
    List list;
    for (const YAML::Node& item : node) list.push_back(to_value(item));
    return {std::move(list)};
  }
  if (node.IsMap()) {
    Map map;
    for (const auto& entry : node) map[entry.first.Scalar()] = to_value(entry.second);
    return {std::move(map)};
  }
  if (!node.IsScalar()) return {};
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return {s};
  if (s == "true" || s == "false") return {s == "true"};
  if (s == "null" || s == "~") return {};
  static const std::regex kInt("-?[0-9]{1,18}");
  static const std::regex kDouble("-?[0-9]+\\.[0-9]+([eE][-+]?[0-9]+)?");
  if (std::regex_match(s, kInt)) return {static_cast<int64_t>(std::stoll(s))};
  if (std::regex_match(s, kDouble)) return {std::stod(s)};
  return {s};
}

// Common signals a case does not set: a known device, during business hours, first action.
Value case_signals(const Action& action, const YAML::Node& node) {
  Value signals = node ? to_value(node) : Value(Map{});
  if (!signals.is_map()) signals = Value(Map{});
  Map& m = signals.as_map();
  const Map defaults = {{"hour", Value(11)},
                        {"weekday", Value(2)},
                        {"off_hours", Value(false)},
                        {"actor", Value(action.actor)},
                        {"device", Value("test-device")},
                        {"device_known", Value(true)},
                        {"velocity", Value(1)},
                        {"elevated", Value(false)}};
  for (const auto& [k, v] : defaults) m.try_emplace(k, v);
  fill_signal_defaults(action.kind, signals);
  return signals;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return "[" + out + "]";
}

// Empty when the case passes, else what differed.
std::string run_case(const Engine& engine, const YAML::Node& c) {
  Result<Action> action = action_from_value(to_value(c["action"]));
  if (!action.ok()) return action.error().message;
  const Value signals = case_signals(*action, c["signals"]);
  const Decision d = engine.evaluate(*action, signals, "test");
  const YAML::Node expect = c["expect"];
  std::string problems;
  const std::string want = expect["verdict"] ? expect["verdict"].Scalar() : "allow";
  if (want != verdict_name(d.verdict)) {
    problems += "verdict " + std::string(verdict_name(d.verdict)) + ", want " + want + "; ";
  }
  std::vector<std::string> got;
  for (const Reason& r : d.reasons) got.push_back(r.rule_id);
  std::vector<std::string> wanted;
  for (const YAML::Node& r : expect["rules"]) wanted.push_back(r.Scalar());
  if (std::set(got.begin(), got.end()) != std::set(wanted.begin(), wanted.end())) {
    problems += "rules " + join(got) + ", want " + join(wanted) + "; ";
  }
  for (const RuleError& e : d.errors)
    problems += "rule " + e.rule_id + " errored: " + e.message + "; ";
  return problems;
}

// Runs one test file; false when it (or its pack) could not be loaded.
bool run_file(const fs::path& dir, const fs::path& file, Counts& counts, std::ostream& out,
              std::ostream& err) {
  auto text = read_file(file.string(), std::size_t{8} * 1024 * 1024);
  if (!text) {
    err << "stepgate: " << text.error().message << "\n";
    return false;
  }
  if (Status limits = check_yaml_limits(*text, file.string()); !limits) {
    err << "stepgate: " << limits.error().message << "\n";
    return false;
  }
  YAML::Node doc;
  try {
    doc = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    err << "stepgate: " << file.string() << ":" << e.mark.line + 1 << ":" << e.mark.column + 1
        << ": " << e.msg << "\n";
    return false;
  }
  if (!doc["pack"] || !doc["cases"] || !doc["cases"].IsSequence()) {
    err << "stepgate: " << file.string() << ": needs `pack` and a `cases` list\n";
    return false;
  }
  const std::string pack = (dir / doc["pack"].Scalar()).string();
  Result<std::shared_ptr<const Policy>> policy = load_policy_file(pack);
  if (!policy.ok()) {
    err << "stepgate: " << policy.error().message << "\n";
    return false;
  }
  for (const LintFinding& f : lint_policy(**policy)) {
    out << "FAIL " << pack << ":" << f.location.line << ":" << f.location.column
        << ": lint: " << f.message << "\n";
    ++counts.failed;
  }
  const Engine engine(*policy);
  const std::string label = file.stem().string();
  for (const YAML::Node& c : doc["cases"]) {
    const std::string name = c["name"] ? c["name"].Scalar() : "(unnamed)";
    std::string problems;
    try {
      problems = run_case(engine, c);
    } catch (const YAML::Exception& e) {
      problems = "malformed case: " + e.msg;
    }
    out << (problems.empty() ? "PASS " : "FAIL ") << label << ": " << name;
    if (!problems.empty()) out << ": " << problems;
    out << "\n";
    ++(problems.empty() ? counts.passed : counts.failed);
  }
  return true;
}

}  // namespace

int run_pack_tests(const std::string& dir, std::ostream& out, std::ostream& err) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(dir) / "tests", ec)) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".yaml" || ext == ".yml") files.push_back(entry.path());
  }
  if (ec || files.empty()) {
    err << "stepgate: " << dir << "/tests: no test files (" << (ec ? ec.message() : "none found")
        << ")\n";
    return 2;
  }
  std::sort(files.begin(), files.end());
  Counts counts;
  bool loaded = true;
  for (const fs::path& file : files) loaded = run_file(dir, file, counts, out, err) && loaded;
  out << counts.passed << " passed, " << counts.failed << " failed\n";
  if (!loaded) return 2;
  return counts.failed == 0 ? 0 : 1;
}

}  // namespace stepgate
