// Golden-file tests for the CI report formats: workflow command escaping, the job summary,
// step outputs, GitLab Code Quality JSON and JUnit XML.
#include "report.h"

#include <doctest/doctest.h>

#include <utility>
#include <vector>
#include "golden_util.h"

#include "stepgate/audit.h"
#include "stepgate/json.h"

namespace stepgate::ci {
namespace {

using testing::check_golden;

Reason reason(std::string id, int score, std::optional<Verdict> effect, std::string message,
              bool shadow = false) {
  Reason r;
  r.rule_id = std::move(id);
  r.score = score;
  r.effect = effect;
  r.message = std::move(message);
  r.shadow = shadow;
  return r;
}

/// A held production deploy whose messages hold every character the formats must escape.
GateReport step_up_report() {
  GateReport r;
  r.kind = "model.deploy";
  r.actor = "alice";
  r.resource = "model:fraud<v2>@1.4.0 to production";
  r.action_digest = std::string(64, 'a');
  r.policy_revision = "sha256:" + std::string(64, 'b');
  r.decided = Verdict::kStepUp;
  r.verdict = Verdict::kStepUp;
  r.score = 70;
  r.reasons = {
      reason("prod-metric-regression", 0, Verdict::kStepUp,
             "accuracy | f1 regressed by 3.2% in \"production\""),
      reason("outside-change-window", 40, std::nullopt, "deploy at 22:00, outside Mon-Thu\nwindow"),
      reason("first-deploy-by-actor", 30, std::nullopt, "first deploy by alice & <bob>"),
      reason("rerun-attempt", 20, std::nullopt, "attempt 3 (shadow rule)", true),
  };
  r.problems = {"grant refused: signed by an unknown approver `mallory`"};
  r.challenge_id = "k3x9q2ab";
  r.challenge_token = "sgc1.eyJhIjoxfQ.AAAAAAAAAAAAAAAA";
  r.approve_command = "stepgate approve --approver APPROVER_ID '" + r.challenge_token + "'";
  r.source_path = "deploy/manifest.yaml";
  r.metrics = {{"accuracy", "0.902", "0.932", "-0.03 (-3.21888%)", "1%", "higher", true},
               {"latency_ms", "41", "40", "+1 (+2.5%)", "10%", "lower", false},
               {"f1|<x>", "0.8", "-", "-", "none", "higher", false}};
  return r;
}

GateReport allow_report() {
  GateReport r;
  r.kind = "db.migrate";
  r.actor = "ci-bot";
  r.resource = "db:orders";
  r.action_digest = std::string(64, 'c');
  r.policy_revision = "sha256:" + std::string(64, 'd');
  r.score = 10;
  r.reasons = {reason("staging-regression", 10, std::nullopt, "latency_ms regressed in staging")};
  r.source_path = ".gitlab-ci.yml";
  return r;
}

GateReport deny_report() {
  GateReport r = step_up_report();
  r.decided = Verdict::kDeny;
  r.verdict = Verdict::kDeny;
  r.reasons = {reason("artifact-digest-mismatch", 0, Verdict::kDeny,
                      "artifact digest does not match: refusing <script>alert(1)</script>")};
  r.problems.clear();
  r.challenge_id.clear();
  r.challenge_token.clear();
  r.approve_command.clear();
  return r;
}

TEST_CASE("workflow command escaping") {
  struct Case {
    const char* in;
    const char* data;
    const char* property;
  };
  const Case cases[] = {
      {"plain", "plain", "plain"},
      {"100%", "100%25", "100%25"},
      {"a\nb", "a%0Ab", "a%0Ab"},
      {"a\r\nb", "a%0D%0Ab", "a%0D%0Ab"},
      {"k: v, w", "k: v, w", "k%3A v%2C w"},
      {"%0A", "%250A", "%250A"},
      {"::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"},
      {"", "", ""},
  };
  std::string table;
  for (const Case& c : cases) {
    CHECK(escape_command_data(c.in) == c.data);
    CHECK(escape_command_property(c.in) == c.property);
    table += to_json(Value(c.in)) + " data=" + escape_command_data(c.in) +
             " property=" + escape_command_property(c.in) + "\n";
  }
  check_golden("escaping.txt", table);
}

TEST_CASE("annotations") {
  std::string out = gate_annotation(step_up_report()) + gate_annotation(deny_report()) +
                    gate_annotation(allow_report()) +
                    workflow_annotation("error", "a:b,c", "100% done\nnext");
  check_golden("annotations.txt", out);
}

TEST_CASE("GITHUB_OUTPUT entries use the heredoc form") {
  CHECK(github_output_entry("decision", "step_up", "EOF_x") == "decision<<EOF_x\nstep_up\nEOF_x\n");
  CHECK(github_output_entry("challenge", "", "D") == "challenge<<D\n\nD\n");
}

TEST_CASE("mask commands") {
  CHECK(mask_commands({"abc", "", "x%y"}) == "::add-mask::abc\n::add-mask::x%25y\n");
}

TEST_CASE("markdown cell escaping") {
  CHECK(escape_markdown_cell("a|b<c>&\r\nd") == "a\\|b&lt;c&gt;&amp;<br>d");
}

TEST_CASE("job summary markdown") {
  check_golden("summary_step_up.md", step_summary_markdown(step_up_report()));
  check_golden("summary_deny.md", step_summary_markdown(deny_report()));
  check_golden("summary_allow.md", step_summary_markdown(allow_report()));
}

TEST_CASE("GitLab Code Quality JSON") {
  const std::string step_up = code_quality_json(step_up_report());
  check_golden("codequality_step_up.json", step_up);
  check_golden("codequality_allow.json", code_quality_json(allow_report()));
  auto parsed = parse_json(step_up);
  REQUIRE(parsed.ok());
  REQUIRE(parsed->is_list());
  CHECK(parsed->as_list().size() == 5);  // the decision plus four reasons
  for (const Value& issue : parsed->as_list()) {
    CHECK(issue.get_string("fingerprint").size() == 64);
    CHECK(issue.find("location")->get_string("path") == "deploy/manifest.yaml");
  }
}

TEST_CASE("JUnit XML") {
  check_golden("junit_step_up.xml", junit_xml(step_up_report()));
  check_golden("junit_deny.xml", junit_xml(deny_report()));
  check_golden("junit_allow.xml", junit_xml(allow_report()));
}

}  // namespace
}  // namespace stepgate::ci

namespace stepgate::ci {

TEST_CASE("every report format shows a secret from the resource or a message redacted") {
  const std::string secret = std::string("AKIA") + "Z7Q3XK2M4NPLW5RT";  // split: no scanner trips
  GateReport clear = step_up_report();
  clear.resource = "db:orders?key=" + secret;
  clear.reasons.at(0).message = "resource db:orders?key=" + secret + " is production";
  clear.problems = {"grant refused for " + secret};
  const GateReport r = redact_report(clear);
  CHECK(r.challenge_token == clear.challenge_token);  // an approver still needs it
  CHECK(r.action_digest == clear.action_digest);
  const std::vector<std::pair<const char*, std::string>> outputs = {
      {"text", text_report(r)},
      {"json", json_report(r, redact_secrets(Value(Map{{"note", Value(secret)}})))},
      {"annotation", gate_annotation(r)},
      {"summary", step_summary_markdown(r)},
      {"code quality", code_quality_json(r)},
      {"junit", junit_xml(r)},
  };
  for (const auto& [name, text] : outputs) {
    CAPTURE(name);
    CHECK(text.find(secret) == std::string::npos);
    CHECK(text.find("[REDACTED:aws-access-key-id]") != std::string::npos);
  }
  CHECK(redact_for_output("plain text stays") == "plain text stays");
}

}  // namespace stepgate::ci
