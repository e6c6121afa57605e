#include "stepgate/audit_report.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "stepgate/json.h"

namespace stepgate {
namespace {

Value record(const std::string& json) {
  auto v = parse_json(json);
  REQUIRE(v.ok());
  return *v;
}

/// A decision record as the gate writes it (gate.cpp), trimmed to what the report reads.
std::string decision(const std::string& time, const std::string& actor, const std::string& fe,
                     const std::string& digest, const std::string& verdict,
                     const std::string& final_verdict, const std::string& reasons,
                     bool satisfied = false, bool shadow = false,
                     const std::string& would_be = "allow") {
  return R"({"type":"decision","time":")" + time + R"(","front_end":")" + fe +
         R"(","action":{"kind":"git.push","actor":")" + actor + R"(","digest":")" + digest +
         R"("},"decision":{"verdict":")" + verdict + R"(","reasons":[)" + reasons +
         R"(],"shadow":)" + (shadow ? "true" : "false") + R"(,"would_be":")" + would_be +
         R"("},"final_verdict":")" + final_verdict + R"(","step_up":{"satisfied":)" +
         (satisfied ? "true" : "false") + "}}";
}

std::vector<Value> sample_log() {
  const std::string force = R"({"rule":"force-push","score":60,"shadow":false})";
  const std::string secrets = R"({"rule":"secrets","effect":"deny","shadow":false})";
  const std::string hour = R"({"rule":"unusual-hour","score":10,"shadow":true})";
  return {
      record(decision("2026-01-01T10:00:00.000Z", "alice", "hook", "d1", "allow", "allow", "")),
      record(
          decision("2026-01-01T10:01:00.000Z", "alice", "hook", "d2", "step_up", "step_up", force)),
      record(R"({"type":"approval","time":"2026-01-01T10:03:30.000Z","digest":"d2",)"
             R"("decision":"approve","decided_by":"bob","method":"totp","held_at":0})"),
      record(R"({"type":"stepup","time":"2026-01-01T10:04:00.000Z","method":"challenge",)"
             R"("outcome":"satisfied","identity":"bob","actor":"alice"})"),
      record(decision("2026-01-01T10:04:00.000Z", "alice", "hook", "d2", "step_up", "allow", force,
                      /*satisfied=*/true)),
      record(decision("2026-01-02T09:00:00.000Z", "carol", "ci", "d3", "deny", "deny",
                      secrets + "," + hour)),
      record(
          decision("2026-01-02T09:30:00.000Z", "carol", "shim", "d4", "step_up", "step_up", force)),
      record(R"({"type":"stepup","time":"2026-01-02T09:30:01.000Z","method":"totp",)"
             R"("outcome":"refused","identity":"carol","kind":"tool.call","lockout":true})"),
      record(decision("2026-01-02T09:40:00.000Z", "carol", "shim", "d4", "step_up", "allow", force,
                      /*satisfied=*/true)),
      record(R"({"type":"stepup","time":"2026-01-02T09:40:00.000Z","method":"totp",)"
             R"("outcome":"satisfied","identity":"carol"})"),
      record(decision("2026-01-02T11:00:00.000Z", "dave", "shim", "d5", "allow", "allow", "", false,
                      /*shadow=*/true, "deny")),
      record(R"({"type":"approval","time":"2026-01-02T12:00:00.000Z","approver":"bob",)"
             R"("outcome":"locked_out","kind":"model.deploy"})"),
      record(R"({"type":"annotation","time":"2026-01-02T12:00:00.000Z","label":"x"})"),
  };
}

TEST_CASE("audit report: counts per rule, actor, front-end and day") {
  const AuditReport r = build_audit_report(sample_log());
  CHECK(r.records == 13);
  CHECK(r.total.decisions == 7);
  CHECK(r.total.matched == 5);
  CHECK(r.total.step_up == 4);
  CHECK(r.total.satisfied == 2);
  CHECK(r.total.denied == 1);
  CHECK(r.total.shadow == 2);  // the shadow rule on d3 and the shadow policy on d5

  struct Case {
    const std::map<std::string, ReportCounts>* group;
    std::string name;
    int64_t decisions, matched, step_up, denied, shadow;
  };
  const std::vector<Case> cases = {
      {&r.by_rule, "force-push", 4, 4, 4, 0, 0},   {&r.by_rule, "secrets", 1, 1, 0, 1, 0},
      {&r.by_rule, "unusual-hour", 1, 0, 0, 1, 1}, {&r.by_actor, "alice", 3, 2, 2, 0, 0},
      {&r.by_actor, "carol", 3, 3, 2, 1, 1},       {&r.by_actor, "dave", 1, 0, 0, 0, 1},
      {&r.by_front_end, "hook", 3, 2, 2, 0, 0},    {&r.by_front_end, "ci", 1, 1, 0, 1, 1},
      {&r.by_front_end, "shim", 3, 2, 2, 0, 1},    {&r.by_day, "2026-01-01", 3, 2, 2, 0, 0},
      {&r.by_day, "2026-01-02", 4, 3, 2, 1, 2},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto it = c.group->find(c.name);
    REQUIRE(it != c.group->end());
    CHECK(it->second.decisions == c.decisions);
    CHECK(it->second.matched == c.matched);
    CHECK(it->second.step_up == c.step_up);
    CHECK(it->second.denied == c.denied);
    CHECK(it->second.shadow == c.shadow);
  }
}

TEST_CASE("audit report: step-up durations run from the first hold to the approval") {
  const AuditReport r = build_audit_report(sample_log());
  // d2: held 10:01:00, approved in the inbox 10:03:30 (the later satisfied decision does not
  // count twice); d4: held 09:30:00, satisfied at the gate 09:40:00.
  REQUIRE(r.step_up_seconds.size() == 2);
  CHECK(r.step_up_seconds[0] == 150);
  CHECK(r.step_up_seconds[1] == 600);
  CHECK(percentile(r.step_up_seconds, 50) == 150);
  CHECK(percentile(r.step_up_seconds, 100) == 600);
}

TEST_CASE("audit report: an approval's held_at times a hold that began before the period") {
  const AuditReport r = build_audit_report({record(
      R"({"type":"approval","time":"2026-01-01T10:00:00Z","digest":"dx",)"
      R"("decision":"approve","decided_by":"bob","method":"grant","held_at":1767261540})")});
  REQUIRE(r.step_up_seconds.size() == 1);
  CHECK(r.step_up_seconds[0] == 60);
}

TEST_CASE("audit report: approvals by approver and method, and lockouts") {
  const AuditReport r = build_audit_report(sample_log());
  // The inbox approval by bob counts once (not again when the gate uses it as a "challenge").
  REQUIRE(r.approvals.size() == 2);
  CHECK(r.approvals.at({"bob", "inbox totp"}).approved == 1);
  CHECK(r.approvals.at({"carol", "totp"}).approved == 1);
  REQUIRE(r.lockouts.size() == 2);
  CHECK(r.lockouts[0].who == "carol");
  CHECK(r.lockouts[0].where == "stepup");
  CHECK(r.lockouts[0].kind == "tool.call");
  CHECK(r.lockouts[1].who == "bob");
  CHECK(r.lockouts[1].where == "approval");
}

TEST_CASE("audit report: each kind of approval record is counted once, under its method") {
  const AuditReport r = build_audit_report({
      // `stepgate approve` signs a grant; the gate's later use of it is not a second approval.
      record(R"({"type":"approval","time":"2026-01-01T10:00:00Z","approver":"lead",)"
             R"("decision":"approve","jti":"j1","action_digest":"a"})"),
      record(R"({"type":"stepup","time":"2026-01-01T10:00:05Z","method":"grant",)"
             R"("outcome":"satisfied","identity":"lead"})"),
      record(R"({"type":"approval","time":"2026-01-01T10:00:00Z","approver":"lead",)"
             R"("decision":"deny","jti":"j2","action_digest":"b"})"),
      // The authority's inbox and socket.
      record(R"({"type":"approval","time":"2026-01-01T10:00:00Z","identity":"ops",)"
             R"("decision":"approve","method":"totp","via":"inbox"})"),
      // The actor's own proofs at the gate.
      record(R"({"type":"stepup","time":"2026-01-01T10:00:00Z","method":"elevation",)"
             R"("outcome":"satisfied","identity":"alice"})"),
      record(R"({"type":"stepup","time":"2026-01-01T10:00:00Z","method":"totp",)"
             R"("outcome":"refused","identity":"alice"})"),
  });
  REQUIRE(r.approvals.size() == 3);
  CHECK(r.approvals.at({"lead", "signed grant"}).approved == 1);
  CHECK(r.approvals.at({"lead", "signed grant"}).denied == 1);
  CHECK(r.approvals.at({"ops", "totp via inbox"}).approved == 1);
  CHECK(r.approvals.at({"alice", "elevation"}).approved == 1);
  CHECK(r.lockouts.empty());
}

TEST_CASE("audit report: the JSON form carries every group") {
  const Value v = audit_report_to_value(build_audit_report(sample_log()));
  CHECK(v.find("by_rule")->find("force-push")->get_int("step_up") == 4);
  CHECK(v.find("by_front_end")->find("ci")->get_int("denied") == 1);
  CHECK(v.find("step_up_seconds")->get_int("count") == 2);
  CHECK(v.find("step_up_seconds")->get_int("max") == 600);
  CHECK(v.find("lockouts")->as_list().size() == 2);
}

TEST_CASE("percentile: nearest rank") {
  struct Case {
    std::vector<int64_t> values;
    int p;
    int64_t want;
  };
  const std::vector<Case> cases = {
      {{}, 50, 0},           {{7}, 0, 7},           {{7}, 100, 7},          {{3, 1, 2}, 50, 2},
      {{1, 2, 3, 4}, 50, 2}, {{1, 2, 3, 4}, 90, 4}, {{5, 1, 9, 3}, 100, 9},
  };
  for (const Case& c : cases) CHECK(percentile(c.values, c.p) == c.want);
}

}  // namespace
}  // namespace stepgate
