// The deployment manifest: strict parsing with field paths and positions, the action it builds,
// and the model.deploy signals it gives.
#include "manifest.h"
#include "report.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "context.h"
#include "deploy_signals.h"
#include "gate_input.h"
#include "stepgate/crypto.h"

namespace stepgate::ci {
namespace {

const std::string kSha(64, 'a');

std::string manifest_text(const std::string& evaluation = "") {
  return "model: {name: fraud, version: \"1.4.0\"}\n"
         "artifact: {uri: \"s3://models/fraud.onnx\", sha256: " +
         kSha +
         ", size_bytes: 1000}\n"
         "target: {environment: production, endpoint: \"https://infer.example\"}\n"
         "previous: {version: \"1.3.0\", size_bytes: 800}\n" +
         evaluation;
}

const std::string kEvaluation =
    "evaluation:\n"
    "  candidate: {accuracy: 0.90, latency_ms: 50, f1: 0.8}\n"
    "  baseline: {accuracy: 0.93, latency_ms: 40, f1: 0.8}\n"
    "  metrics:\n"
    "    accuracy: {direction: higher, tolerance_pct: 1}\n"
    "    latency_ms: {direction: lower, tolerance_abs: 20}\n"
    "    f1: {direction: higher}\n";

TEST_CASE("a valid YAML manifest parses") {
  auto m = parse_manifest(manifest_text(kEvaluation), "m.yaml");
  REQUIRE_MESSAGE(m.ok(), m.error().message);
  CHECK(m->model_name == "fraud");
  CHECK(m->model_version == "1.4.0");
  CHECK(m->artifact_sha256 == kSha);
  CHECK(*m->artifact_size_bytes == 1000);
  CHECK(m->metrics.at("latency_ms").direction == Direction::kLower);
  CHECK(*m->metrics.at("latency_ms").tolerance_abs == 20);
  CHECK(m->candidate.at("accuracy") == doctest::Approx(0.90));
}

TEST_CASE("a JSON manifest parses") {
  std::string json = R"({"model":{"name":"m","version":"2"},"artifact":{"uri":"u","sha256":")" +
                     kSha + R"("},"target":{"environment":"staging"},"change_ticket":"CHG-1"})";
  auto m = parse_manifest(json, "m.json");
  REQUIRE_MESSAGE(m.ok(), m.error().message);
  CHECK(m->change_ticket == "CHG-1");
  CHECK_FALSE(m->has_evaluation);
}

TEST_CASE("malformed manifests name the field and position") {
  struct Case {
    std::string text;
    std::string expect;
  };
  const Case cases[] = {
      {manifest_text() + "evaluation:\n  metrics:\n    accuracy: {direction: up}\n",
       "m.yaml:7:27: field `evaluation.metrics.accuracy.direction`: expected `higher` or `lower`"},
      {manifest_text() +
           "evaluation:\n  metrics:\n    accuracy: {direction: higher, tolerance: 1}\n",
       "field `evaluation.metrics.accuracy.tolerance`: unknown field"},
      {manifest_text() + "extra: 1\n", "m.yaml:5:1: field `extra`: unknown field"},
      {"model: {name: fraud, version: 1.4}\n",
       "field `model.version`: expected a string, got number"},
      {manifest_text() + "evaluation: {candidate: {accuracy: high}}\n",
       "field `evaluation.candidate.accuracy`: expected a number, got string"},
      {"model: {name: [a]}\n", "field `model.name`: expected a string, got list"},
      {"model: {name: a, version: b\n", "m.yaml:2:1: not valid YAML or JSON"},
      {"- 1\n", "the manifest must be a map"},
      {"model: {name: a, version: b}\n", "field `artifact`: required"},
      {"model: {name: a, version: b}\nartifact: {sha256: " + kSha + "}\ntarget: {environment: x}\n",
       "field `artifact.uri`: required (or artifact.path)"},
      {"model: {name: a, version: b}\nartifact: {uri: u, sha256: ABC}\ntarget: {environment: x}\n",
       "field `artifact.sha256`: expected 64 lowercase hex digits"},
      {manifest_text() + "previous: {size_bytes: -1}\n", "duplicate key"},
      {"model: {name: a, version: b}\nartifact: {uri: u, sha256: " + kSha +
           ", size_bytes: 1.5}\ntarget: {environment: x}\n",
       "field `artifact.size_bytes`: expected a non-negative integer"},
      {manifest_text() + "evaluation:\n  metrics:\n    a: {direction: lower, tolerance_pct: 1, "
                         "tolerance_abs: 2}\n",
       "not both"},
  };
  for (const Case& c : cases) {
    auto m = parse_manifest(c.text, "m.yaml");
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().code == ErrorCode::kInvalidArgument);
    CHECK_MESSAGE(m.error().message.find(c.expect) != std::string::npos,
                  "got: " << m.error().message << "\nwanted: " << c.expect);
  }
}

TEST_CASE("a manifest that nests too deep or expands too far is refused with its position") {
  std::string bomb = manifest_text() + "x:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    bomb += std::string("  ") + c + ": &" + c + " [";
    for (int i = 0; i < 10; ++i)
      bomb += std::string(i > 0 ? ", *" : "*") + static_cast<char>(c - 1);
    bomb += "]\n";
  }
  const std::string deep =
      manifest_text() + "x: " + std::string(5000, '[') + std::string(5000, ']');
  for (const auto& [text, expect] : {std::pair{bomb, "m.yaml:10:"}, std::pair{deep, "m.yaml:5:"}}) {
    auto m = parse_manifest(text, "m.yaml");
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().code == ErrorCode::kResourceExhausted);
    CHECK(m.error().message.rfind(expect, 0) == 0);
    CHECK(m.error().message.find("limit of") != std::string::npos);
  }
}

TEST_CASE("the action is deterministic and binds the artifact") {
  auto m = parse_manifest(manifest_text(kEvaluation), "m.yaml");
  REQUIRE(m.ok());
  Value extra = Map{};
  extra["commit"] = "abc";
  Action a = manifest_action(*m, "alice", extra);
  CHECK(a.kind == "model.deploy");
  CHECK(a.resource == "model:fraud@1.4.0 to production");
  CHECK(a.attributes.get_string("artifact_sha256") == kSha);
  CHECK(a.attributes.get_string("artifact_uri") == "s3://models/fraud.onnx");
  CHECK(a.attributes.get_string("commit") == "abc");
  // The numbers an approver sees in the inbox (issue 23).
  const Value* accuracy = a.attributes.find("evaluation")->find("accuracy");
  REQUIRE(accuracy != nullptr);
  CHECK(accuracy->find("candidate")->as_number() == doctest::Approx(0.90));
  CHECK(accuracy->find("baseline")->as_number() == doctest::Approx(0.93));
  CHECK(accuracy->find("change_pct")->as_number() == doctest::Approx(-3.226));
  CHECK(accuracy->get_string("tolerance") == "1%");
  CHECK(accuracy->get_bool("regressed"));
  CHECK_FALSE(a.attributes.find("evaluation")->find("latency_ms")->get_bool("regressed"));
  CHECK(action_digest(a) == action_digest(manifest_action(*m, "alice", extra)));
  Manifest other = *m;
  other.artifact_sha256 = std::string(64, 'b');
  CHECK(action_digest(a) != action_digest(manifest_action(other, "alice", extra)));
}

TEST_CASE("evaluation comparison honours direction and tolerance") {
  auto m = parse_manifest(manifest_text(kEvaluation), "m.yaml");
  REQUIRE(m.ok());
  EvaluationResult r = compare_evaluation(*m);
  // accuracy: 0.93 -> 0.90 is a 3.226% drop (> 1%); latency: +10 ms (< 20 ms); f1 unchanged.
  REQUIRE(r.regressions.size() == 1);
  CHECK(r.regressions[0] == "accuracy");
  CHECK(r.worst_regression_pct == doctest::Approx(25.0));  // latency 40 -> 50 is 25% worse
  CHECK_FALSE(r.eval_missing);
  // The numbers the step summary and JUnit report show, per metric (issue 23).
  CHECK(r.worst_regression_metric == "latency_ms");
  REQUIRE(r.metrics.size() == 3);
  const MetricComparison& accuracy = r.metrics[0];
  CHECK(accuracy.name == "accuracy");
  CHECK(*accuracy.candidate == doctest::Approx(0.90));
  CHECK(*accuracy.baseline == doctest::Approx(0.93));
  CHECK(accuracy.change == doctest::Approx(-0.03));
  CHECK(accuracy.change_pct == doctest::Approx(-3.2258).epsilon(0.001));
  CHECK(accuracy.tolerance == "1%");
  CHECK(accuracy.regressed);
  CHECK(r.metrics[2].name == "latency_ms");
  CHECK(r.metrics[2].tolerance == "20");
  CHECK_FALSE(r.metrics[2].regressed);
  const std::vector<MetricRow> rows = metric_rows(r.metrics);
  CHECK(rows[0].change == "-0.03 (-3.22581%)");
  CHECK(rows[2].change == "+10 (+25%)");
  CHECK(rows[2].better == "lower");

  m->candidate.erase("f1");
  CHECK(compare_evaluation(*m).eval_missing);
  m->candidate.clear();
  CHECK(compare_evaluation(*m).eval_missing);
}

TEST_CASE("manifest signals: digest of a local artifact and size change") {
  const auto dir = std::filesystem::temp_directory_path() / "stepgate_ci_manifest_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "model.bin", std::ios::binary) << "model-bytes";
  const std::string digest = sha256_hex("model-bytes");
  auto streamed = sha256_file((dir / "model.bin").string());
  REQUIRE(streamed.ok());
  CHECK(*streamed == digest);

  Manifest m;
  m.source = "m.yaml";
  m.environment = "prod";
  m.artifact_path = "model.bin";
  m.artifact_sha256 = digest;
  m.previous_size_bytes = 22;
  CiSettings settings;
  Value signals = Map{};
  REQUIRE(add_manifest_signals(m, settings, dir.string(), signals).ok());
  CHECK(signals.get_bool("production"));
  CHECK_FALSE(signals.get_bool("artifact_digest_mismatch"));
  CHECK(signals.find("size_change_pct")->as_double() == doctest::Approx(-50.0));
  CHECK(signals.get_bool("eval_missing"));

  m.artifact_sha256 = std::string(64, '0');
  REQUIRE(add_manifest_signals(m, settings, dir.string(), signals).ok());
  CHECK(signals.get_bool("artifact_digest_mismatch"));

  m.artifact_path = "missing.bin";
  auto missing = add_manifest_signals(m, settings, dir.string(), signals);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("artifact.path") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("attributes from the command line") {
  Value attrs = Map{};
  REQUIRE(parse_attributes({"table=orders", "rows=10"}, {"tags=[\"a\",1]"}, attrs).ok());
  CHECK(attrs.get_string("rows") == "10");
  CHECK(attrs.find("tags")->as_list().size() == 2);
  CHECK_FALSE(parse_attributes({"novalue"}, {}, attrs).ok());
  CHECK_FALSE(parse_attributes({"a=1", "a=2"}, {}, attrs).ok());
  CHECK_FALSE(parse_attributes({}, {"x={bad"}, attrs).ok());
}

}  // namespace
}  // namespace stepgate::ci
