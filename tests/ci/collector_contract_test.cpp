// The engine–collector contract for the CI collector: a deployment step's input carries exactly
// the registry's CI signals; each is produced when a rule reads it; the artifact (a model can be
// gigabytes) is hashed only when a rule reads artifact_digest_mismatch; a rule reading the whole
// signals map demands everything.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "../core/test_util.h"
#include "context.h"
#include "gate_input.h"
#include "stepgate/engine.h"
#include "stepgate/signal_demand.h"
#include "stepgate/signals.h"

namespace stepgate::ci {
namespace {

std::set<std::string> declared(const std::string& collector, const std::string& kind) {
  std::set<std::string> out;
  for (const SignalSpec* spec : SignalRegistry::builtin().for_kind(kind)) {
    if (spec->collector == collector) out.insert(spec->name);
  }
  return out;
}

std::set<std::string> keys_of(const Value& signals) {
  std::set<std::string> out;
  for (const auto& [name, value] : signals.as_map()) out.insert(name);
  return out;
}

/// A production deployment whose artifact does not match its manifest (size and digest).
struct DeployFixture {
  testing::TempDir dir;
  StepSpec spec;
  CiContext context;
  Policy policy;

  DeployFixture() {
    std::ofstream(dir.path() + "/model.bin") << "weights-tampered";
    std::ofstream(dir.path() + "/deploy.yaml")
        << "model: {name: fraud, version: \"2\"}\n"
           "artifact: {path: model.bin, uri: \"s3://m/2.onnx\", sha256: "
        << std::string(64, '0')
        << "}\n"
           "target: {environment: production}\n"
           "previous: {version: \"1\", size_bytes: 8}\n"
           "evaluation:\n"
           "  candidate: {accuracy: 0.80}\n"
           "  baseline: {accuracy: 0.93}\n"
           "  metrics:\n"
           "    accuracy: {direction: higher, tolerance_pct: 1}\n";
    spec.manifest = "deploy.yaml";
    context = detect_ci_context([](const char* name) -> std::string {
      const std::string n = name;
      if (n == "GITHUB_ACTIONS") return "true";
      if (n == "GITHUB_ACTOR") return "alice";
      if (n == "GITHUB_REF") return "refs/heads/main";
      if (n == "GITHUB_REF_NAME") return "main";
      if (n == "GITHUB_EVENT_NAME") return "workflow_dispatch";
      if (n == "GITHUB_RUN_ATTEMPT") return "2";
      return "";
    });
    policy.ci.deployers = {"alice"};
  }

  Value collect(const SignalDemand* demand) const {
    auto input = build_gate_input(
        spec, context, policy, dir.path(), nullptr, 1700000000,
        [](const char*) { return std::string(); }, demand);
    REQUIRE_MESSAGE(input.ok(), (input.ok() ? "" : input.error().message));
    return input->signals;
  }
};

TEST_CASE("contract: the CI collector emits exactly the registry's CI signals, on demand") {
  DeployFixture deploy;
  const Value full = deploy.collect(nullptr);
  CHECK(keys_of(full) == declared("ci", "model.deploy"));
  CHECK(full.get_bool("artifact_digest_mismatch"));

  for (const std::string& name : declared("ci", "model.deploy")) {
    CAPTURE(name);
    const SignalDemand one{false, {name}};
    const Value got = deploy.collect(&one);
    CHECK(keys_of(got) == declared("ci", "model.deploy"));
    CHECK(*got.find(name) == *full.find(name));
  }

  // No rule reads the mismatch: the artifact is not hashed, and the signal stays false.
  const SignalDemand without{false, {"production", "size_change_pct"}};
  const Value unhashed = deploy.collect(&without);
  CHECK_FALSE(unhashed.get_bool("artifact_digest_mismatch"));
  CHECK(*unhashed.find("size_change_pct") == *full.find("size_change_pct"));

  // Named but missing stays an error whether or not it is hashed.
  std::filesystem::remove(deploy.dir.path() + "/model.bin");
  for (const SignalDemand* demand : {static_cast<const SignalDemand*>(nullptr), &without}) {
    auto input = build_gate_input(
        deploy.spec, deploy.context, deploy.policy, deploy.dir.path(), nullptr, 1700000000,
        [](const char*) { return std::string(); }, demand);
    REQUIRE_FALSE(input.ok());
    CHECK(input.error().message.find("artifact.path") != std::string::npos);
  }
}

TEST_CASE("contract: a rule reading the whole signals map makes the CI collector hash") {
  DeployFixture deploy;
  auto policy = std::make_shared<Policy>();
  Rule rule;
  rule.id = "all";
  rule.on = "model.*";
  rule.when = *Expression::compile("signals.size() > 100");
  rule.score = 1;
  policy->rules.push_back(rule);
  const SignalDemand all = signals_read(Engine(policy), "model.deploy");
  CHECK(all.all);
  CHECK(deploy.collect(&all).get_bool("artifact_digest_mismatch"));
}

}  // namespace
}  // namespace stepgate::ci
