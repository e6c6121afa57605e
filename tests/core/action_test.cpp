#include "stepgate/action.h"

#include <doctest/doctest.h>

#include <string>

namespace stepgate {
namespace {

TEST_CASE("canonical JSON sorts keys and the digest is stable") {
  Action a{"git.push", "alice", "origin main", Map{{"z", Value(1)}, {"a", Value("x")}}};
  CHECK(
      canonical_json(a) ==
      R"({"actor":"alice","attributes":{"a":"x","z":1},"kind":"git.push","resource":"origin main"})");
  auto parsed = parse_action(
      R"({"resource":"origin main","attributes":{"z":1,"a":"x"},"actor":"alice","kind":"git.push"})");
  REQUIRE(parsed.ok());
  CHECK(action_digest(*parsed) == action_digest(a));
  CHECK(action_digest(a).size() == 64);
  Action b = a;
  b.resource = "origin dev";
  CHECK(action_digest(b) != action_digest(a));
}

TEST_CASE("the canonical JSON is the action's value written as to_json writes it") {
  // canonical_json writes the action without building its value first; the digest every grant,
  // challenge and audit record binds to must not move.
  const Action cases[] = {
      {"git.push", "alice", "origin main", Value()},
      {"mcp.tool_call", "", "", Map{}},
      {"mcp.tool_call", "b\"ob\\", "srv/t\n\x01",
       Map{{"arguments", Map{{"cmd", "rm -rf /"}, {"n", List{Value(1), Value(2.5), Value()}}}},
           {"caf\xC3\xA9", "\xE2\x82\xAC"}}},
      {"ci.deploy", "bad\xFFutf8", "r", Map{{"k", "\xC3"}}},
  };
  for (const Action& a : cases) {
    CAPTURE(a.actor);
    CHECK(canonical_json(a) == to_json(action_to_value(a)));
  }
}

TEST_CASE("parse_action names the bad field") {
  struct Bad {
    const char* json;
    const char* fragment;
  };
  const Bad cases[] = {
      {R"({"kind":"git.push","actor":"a","nope":1})", "unknown field `nope`"},
      {R"({"actor":"a"})", "missing field `kind`"},
      {R"({"kind":5})", "`kind` must be a string"},
      {R"({"kind":"Git Push"})", "`kind` must be a dotted lower-case name"},
      {R"({"kind":"git..push"})", "`kind` must be a dotted"},
      {R"({"kind":"git.push","actor":["a"]})", "`actor` must be a string"},
      {R"({"kind":"git.push","resource":{}})", "`resource` must be a string"},
      {R"({"kind":"git.push","attributes":[1]})", "`attributes` must be an object"},
      {R"([1,2])", "must be a JSON object"},
      {R"({"kind":)", "action:"},
  };
  for (const Bad& c : cases) {
    const std::string json = c.json;
    CAPTURE(json);
    auto r = parse_action(c.json);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find(c.fragment) != std::string::npos);
  }
}

TEST_CASE("kinds") {
  for (const char* k :
       {"git.push", "model.deploy", "tool.call", "db.migrate", "deploy", "a1.b_c-d"}) {
    CHECK(is_valid_kind(k));
  }
  for (const char* k : {"", ".git", "git.", "Git.push", "git push", "1git.push", "git.*"}) {
    CHECK_FALSE(is_valid_kind(k));
  }
}

}  // namespace
}  // namespace stepgate
