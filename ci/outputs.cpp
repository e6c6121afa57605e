#include "outputs.h"

#include <filesystem>
#include <fstream>
#include <ostream>

#include "stepgate/crypto.h"

namespace stepgate::ci {
namespace {

void collect_strings(const Value& v, std::vector<std::string>& out) {
  switch (v.type()) {
    case Value::Type::kString:
      out.push_back(v.as_string());
      break;
    case Value::Type::kList:
      for (const Value& item : v.as_list()) collect_strings(item, out);
      break;
    case Value::Type::kMap:
      for (const auto& [key, item] : v.as_map()) collect_strings(item, out);
      break;
    default:
      break;
  }
}

Status append_file(const std::string& path, const std::string& text, const char* what) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  if (f) f << text;
  if (!f)
    return make_error(ErrorCode::kUnavailable,
                      std::string("cannot append to ") + what + " " + path);
  return {};
}

Status write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc | std::ios::binary);
  if (f) f << text;
  if (!f) return make_error(ErrorCode::kUnavailable, "cannot write " + path);
  return {};
}

}  // namespace

std::vector<std::string> mask_candidates(const Action& action, const GateReport& report,
                                         const Value& signals) {
  std::vector<std::string> values{action.resource};
  collect_strings(action.attributes, values);
  collect_strings(signals, values);
  for (const Reason& r : report.reasons) values.push_back(r.message);
  for (const std::string& p : report.problems) values.push_back(p);
  return values;
}

Status write_github(const GateReport& report, const std::vector<std::string>& to_mask,
                    const std::vector<std::string>& grants, const Env& env, std::ostream& out) {
  std::vector<std::string> secrets = secrets_to_mask(to_mask);
  for (const std::string& g : grants) {
    if (!g.empty()) secrets.push_back(g);
  }
  out << mask_commands(secrets) << gate_annotation(report) << std::flush;
  Status first;
  if (std::string path = env("GITHUB_STEP_SUMMARY"); !path.empty()) {
    Status s = append_file(path, step_summary_markdown(report), "GITHUB_STEP_SUMMARY");
    if (!s && first) first = s;
  }
  if (std::string path = env("GITHUB_OUTPUT"); !path.empty()) {
    auto id = random_id(16);
    if (!id) return id.error();
    const std::string delimiter = "stepgate_" + *id;
    std::string text = github_output_entry("decision", verdict_name(report.verdict), delimiter) +
                       github_output_entry("score", std::to_string(report.score), delimiter) +
                       github_output_entry("challenge", report.challenge_token, delimiter) +
                       github_output_entry("action_digest", report.action_digest, delimiter);
    Status s = append_file(path, text, "GITHUB_OUTPUT");
    if (!s && first) first = s;
  }
  return first;
}

Status write_gitlab_reports(const std::string& dir, const GateReport& report) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot create " + dir + ": " + ec.message());
  const std::filesystem::path base(dir);
  if (auto s =
          write_file((base / "gl-code-quality-report.json").string(), code_quality_json(report));
      !s) {
    return s;
  }
  return write_file((base / "stepgate-junit.xml").string(), junit_xml(report));
}

}  // namespace stepgate::ci
