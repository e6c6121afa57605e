#include "core_pack_test.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <ostream>
#include <regex>
#include <set>

#include "policy_test_fixture.h"
#include "stepgate/action.h"
#include "stepgate/collect.h"
#include "stepgate/engine.h"
#include "stepgate/json.h"
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
// Signals collected from the case's fixture sit under the ones the case sets.
Value case_signals(const Action& action, const YAML::Node& node, Value collected) {
  Value signals = node ? to_value(node) : Value(Map{});
  if (!signals.is_map()) signals = Value(Map{});
  Map& m = signals.as_map();
  if (collected.is_map()) {
    for (auto& [k, v] : collected.as_map()) m.try_emplace(k, std::move(v));
  }
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

// `expect.signals`: each named signal must have been collected (or set) with that value.
std::string check_signals(const YAML::Node& want, const Value& signals) {
  if (!want) return "";
  const Value expected = to_value(want);
  if (!expected.is_map()) return "expect.signals: expected a map; ";
  std::string problems;
  for (const auto& [name, value] : expected.as_map()) {
    const Value* got = signals.find(name);
    if (got == nullptr) {
      problems += "signal " + name + " missing, want " + to_json(value) + "; ";
    } else if (*got != value) {
      problems += "signal " + name + " " + to_json(*got) + ", want " + to_json(value) + "; ";
    }
  }
  return problems;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return "[" + out + "]";
}

// Empty when the case passes, else what differed.
std::string run_case(const Policy& policy, const Engine& engine, const YAML::Node& c) {
  FixtureOutput collected;
  if (c["fixture"]) {
    auto from_fixture = collect_fixture(to_value(c["fixture"]), policy);
    if (!from_fixture.ok()) return from_fixture.error().message;
    collected = std::move(from_fixture).value();
  }
  // A tool-call or CI fixture gives the action its front-end would gate; the case may still
  // name its own.
  Result<Action> action = c["action"] || !collected.action
                              ? action_from_value(to_value(c["action"]))
                              : Result<Action>(*collected.action);
  if (!action.ok()) return action.error().message;
  const Value signals = case_signals(*action, c["signals"], std::move(collected.signals));
  const Decision d = engine.evaluate(*action, signals, "test");
  const YAML::Node expect = c["expect"];
  std::string problems = check_signals(expect["signals"], signals);
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

// Runs one test file against its policy: `policy:` (or `pack:`) relative to `base`, else
// `default_policy`. False when the file or its policy could not be loaded.
bool run_file(const fs::path& file, const fs::path& base, const std::string& default_policy,
              Counts& counts, std::ostream& out, std::ostream& err) {
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
  const YAML::Node named = doc["policy"] ? doc["policy"] : doc["pack"];
  if ((!named && default_policy.empty()) || !doc["cases"] || !doc["cases"].IsSequence()) {
    err << "stepgate: " << file.string() << ": needs `policy` and a `cases` list\n";
    return false;
  }
  const std::string pack = named ? (base / named.Scalar()).string() : default_policy;
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
  std::string label = file.stem().string();
  if (label.ends_with(".tests")) label.resize(label.size() - 6);
  for (const YAML::Node& c : doc["cases"]) {
    const std::string name = c["name"] ? c["name"].Scalar() : "(unnamed)";
    std::string problems;
    try {
      problems = run_case(**policy, engine, c);
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

int finish(const Counts& counts, bool loaded, std::ostream& out) {
  out << counts.passed << " passed, " << counts.failed << " failed\n";
  if (!loaded) return 2;
  return counts.failed == 0 ? 0 : 1;
}

bool is_tests_file(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.ends_with(".tests.yaml") || name.ends_with(".tests.yml");
}

/// The policy a tests file is for when it does not say: X.tests.yaml -> X.yaml.
std::string policy_beside(const fs::path& tests) {
  std::string stem = tests.stem().string();  // X.tests
  return (tests.parent_path() / (stem.substr(0, stem.size() - 6) + ".yaml")).string();
}

/// The tests file for a policy file: X.yaml -> X.tests.yaml beside it.
fs::path tests_beside(const fs::path& policy) {
  return policy.parent_path() / (policy.stem().string() + ".tests.yaml");
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
  // A pack's tests name it with `pack:`, relative to DIR (the tests sit in DIR/tests).
  for (const fs::path& file : files) {
    loaded = run_file(file, dir, "", counts, out, err) && loaded;
  }
  return finish(counts, loaded, out);
}

int run_policy_tests(const std::string& target, const std::string& cwd, std::ostream& out,
                     std::ostream& err) {
  std::error_code ec;
  fs::path path = target;
  if (target.empty()) {
    const fs::path repo = fs::path(cwd) / ".stepgate";
    path = fs::exists(repo / "policy.tests.yaml", ec) ? repo : fs::path(cwd) / "policies";
  } else if (path.is_relative()) {
    path = fs::path(cwd) / path;
  }
  if (fs::is_directory(path, ec)) {
    if (fs::is_directory(path / "tests", ec)) return run_pack_tests(path.string(), out, err);
    if (!fs::exists(path / "policy.tests.yaml", ec)) {
      err << "stepgate: " << path.string() << ": no policy.tests.yaml and no tests/ directory\n";
      return 2;
    }
    path /= "policy.tests.yaml";
  }
  if (!fs::exists(path, ec)) {
    err << "stepgate: " << path.string() << ": no such file or directory\n";
    return 2;
  }
  fs::path tests = path;
  std::string policy;
  if (is_tests_file(path)) {
    policy = policy_beside(path);
  } else {  // a policy file: its tests sit beside it
    tests = tests_beside(path);
    policy = path.string();
    if (!fs::exists(tests, ec)) {
      err << "stepgate: " << path.string() << ": no test cases beside it (expected "
          << tests.string() << ")\n";
      return 2;
    }
  }
  Counts counts;
  const bool loaded = run_file(tests, tests.parent_path(), policy, counts, out, err);
  return finish(counts, loaded, out);
}

std::string starter_tests(std::string_view pack_tests) {
  // The pack's own cases, pointed at the policy written beside them: they pass as written, and
  // a policy author edits them with the policy.
  std::string text(pack_tests);
  const std::size_t at = text.find("\npack: ");
  if (at == std::string::npos) return text;
  const std::size_t end = text.find('\n', at + 1);
  text.replace(at + 1, end - at - 1, "policy: policy.yaml");
  return "# Test cases for policy.yaml: `stepgate policy test .stepgate` runs them. Each case is\n"
         "# an action, the signals around it (or a `fixture` the real collector reads, see\n"
         "# policies/README.md) and the verdict and rules it must get.\n" +
         text;
}

}  // namespace stepgate
