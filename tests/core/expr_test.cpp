#include "stepgate/expr.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "stepgate/json.h"
#include "stepgate/signals.h"

namespace stepgate {
namespace {

constexpr std::string_view kActivation = R"({
  "action": {"kind": "git.push", "actor": "alice", "resource": "refs/heads/main",
             "attributes": {"ref": "refs/heads/main", "n": 3}},
  "signals": {"force": true, "protected": true, "off_hours": false, "files_changed": 120,
              "secrets": [], "paths": ["src/a.cc", "models/m.onnx", "README.md"],
              "ratio": 0.5, "name": "Grüße", "empty": "", "nothing": null,
              "tags": {"env": "prod", "team": "ml"}, "nums": [1, 2, 3],
              "big": 9223372036854775807, "small": -9223372036854775808,
              "nested": {"a": {"b": [1, {"c": "deep"}]}}}
})";

/// One row: the source, and what it must give. `expected` is JSON for a value, "error: TEXT"
/// for an evaluation error containing TEXT, "compile: TEXT" for a compile error containing TEXT.
struct Case {
  const char* source;
  const char* expected;
};

constexpr Case kCases[] = {
    // literals
    {"null", "null"},
    {"true", "true"},
    {"false", "false"},
    {"42", "42"},
    {"0x1F", "31"},
    {"-7", "-7"},
    {"1.5", "1.5"},
    {"2e3", "2000"},
    {"-9223372036854775808", "-9223372036854775808"},
    {"\"double\"", "\"double\""},
    {"'single'", "\"single\""},
    {R"("a\nb\t\"c\"")", R"("a\nb\t\"c\"")"},
    {R"('\u00e9\x41\101')",
     "\"\xC3\xA9"
     "AA\""},
    {R"(r"\d+")", R"("\\d+")"},
    {"[1, 'a', true]", R"([1,"a",true])"},
    {"[]", "[]"},
    {"[signals.files_changed, 1]", "[120,1]"},
    // member and index access
    {"signals.force", "true"},
    {"action.attributes.ref", "\"refs/heads/main\""},
    {"signals['files_changed']", "120"},
    {"signals.paths[1]", "\"models/m.onnx\""},
    {"signals.nested.a.b[1].c", "\"deep\""},
    {"signals.tags", R"({"env":"prod","team":"ml"})"},
    {"signals.nothing", "null"},
    {"[10, 20, 30][2]", "30"},
    {"signals.paths[3]", "error: out of range"},
    {"signals.paths[-1]", "error: out of range"},
    {"signals.paths['x']", "error: no such overload"},
    {"signals.force.x", "error: cannot select field 'x' from bool"},
    {"signals.nope", "error: no such key 'nope'"},
    {"signals['nope']", "error: no such key 'nope'"},
    {"unknown_thing", "error: unknown identifier 'unknown_thing'"},
    // has()
    {"has(signals.force)", "true"},
    {"has(signals.nope)", "false"},
    {"has(signals.nested.a)", "true"},
    {"has(signals.nested.zz.b)", "error: no such key 'zz'"},
    {"has(signals.force.x)", "error: has() needs a map"},
    // unary
    {"!true", "false"},
    {"!!signals.force", "true"},
    {"!1", "error: '!' needs a bool, got int"},
    {"-signals.files_changed", "-120"},
    {"-signals.ratio", "-0.5"},
    {"-signals.small", "error: integer overflow"},
    {"-'a'", "error: '-' needs a number"},
    // arithmetic
    {"1 + 2 * 3", "7"},
    {"(1 + 2) * 3", "9"},
    {"10 - 4 - 3", "3"},
    {"7 / 2", "3"},
    {"7 % 3", "1"},
    {"-7 % 3", "-1"},
    {"7.0 / 2", "3.5"},
    {"1 + 0.5", "1.5"},
    {"signals.big + 1", "error: integer overflow"},
    {"signals.small - 1", "error: integer overflow"},
    {"signals.big * 2", "error: integer overflow"},
    {"signals.small / -1", "error: integer overflow"},
    {"1 / 0", "error: division by zero"},
    {"1 % 0", "error: modulo by zero"},
    {"1.0 / 0", "error: division by zero"},
    {"1.5 % 1", "error: '%' is not defined for double"},
    {"'ab' + 'cd'", "\"abcd\""},
    {"[1] + [2, 3]", "[1,2,3]"},
    {"signals.nums + [4]", "[1,2,3,4]"},
    {"'a' + 1", "error: no such overload: string + int"},
    {"[1] + 'a'", "error: no such overload: list + string"},
    {"true * 2", "error: no such overload"},
    // comparison
    {"1 < 2", "true"},
    {"2 <= 2", "true"},
    {"3 > 4", "false"},
    {"3 >= 4", "false"},
    {"1 == 1.0", "true"},
    {"1 < 1.5", "true"},
    {"2.5 > 2", "true"},
    {"'abc' < 'abd'", "true"},
    {"false < true", "true"},
    {"'a' == 'a'", "true"},
    {"'a' != 'b'", "true"},
    {"[1, 2] == [1, 2]", "true"},
    {"signals.tags == signals.tags", "true"},
    {"1 == 'a'", "false"},
    {"signals.nothing == null", "true"},
    {"'a' < 1", "error: no such overload: string < int"},
    {"[1] < [2]", "error: no such overload"},
    {"signals.files_changed > 50", "true"},
    // logic and error absorption
    {"true && false", "false"},
    {"true || false", "true"},
    {"signals.force && signals.protected", "true"},
    {"false && signals.nope", "false"},
    {"signals.nope && false", "false"},
    {"true || signals.nope", "true"},
    {"signals.nope || true", "true"},
    {"true && signals.nope", "error: no such key 'nope'"},
    {"signals.nope || false", "error: no such key 'nope'"},
    {"1 && false", "false"},
    {"1 && true", "error: '&&' needs a bool, got int"},
    {"false || 'x'", "error: '||' needs a bool, got string"},
    {"true || false && false", "true"},
    {"!signals.off_hours && signals.force", "true"},
    // ternary
    {"signals.force ? 'yes' : 'no'", "\"yes\""},
    {"signals.off_hours ? 1 : 2", "2"},
    {"false ? 1 : true ? 2 : 3", "2"},
    {"1 ? 2 : 3", "error: '?:' needs a bool"},
    {"true ? 1 : signals.nope", "1"},
    {"signals.files_changed > 100 ? 'big' : 'small'", "\"big\""},
    // in
    {"'prod' in ['prod', 'production']", "true"},
    {"'dev' in ['prod', 'production']", "false"},
    {"2 in [1, 2, 3]", "true"},
    {"2.0 in [1, 2, 3]", "true"},
    {"'env' in signals.tags", "true"},
    {"'x' in signals.tags", "false"},
    {"'README.md' in signals.paths", "true"},
    {"action.actor in ['alice', 'bob']", "true"},
    {"1 in signals.tags", "error: no such overload: int in map"},
    {"1 in 'abc'", "error: no such overload: int in string"},
    {"1 + 1 in [2] && true", "true"},
    // size
    {"size(signals.paths)", "3"},
    {"signals.paths.size()", "3"},
    {"signals.tags.size()", "2"},
    {"signals.name.size()", "5"},
    {"size('')", "0"},
    {"signals.secrets.size() > 0", "false"},
    {"size(1)", "error: size() is not defined for int"},
    // string functions
    {"action.resource.startsWith('refs/heads/')", "true"},
    {"action.resource.startsWith('refs/tags/')", "false"},
    {"'abc'.startsWith('abcd')", "false"},
    {"'model.onnx'.endsWith('.onnx')", "true"},
    {"'x'.endsWith('.onnx')", "false"},
    {"'hello world'.contains('o w')", "true"},
    {"signals.nums.contains(2)", "true"},
    {"signals.nums.contains(9)", "false"},
    {"signals.tags.contains('env')", "true"},
    {"'abc'.contains(1)", "error: no such overload"},
    {"1.startsWith('a')", "error: no such overload"},
    {"signals.files_changed.endsWith('0')", "error: no such overload"},
    // matches
    {"action.resource.matches('^refs/heads/(main|master)$')", "true"},
    {"'release-1.2'.matches('[0-9]+\\\\.[0-9]+')", "true"},
    {"'abc'.matches('^b')", "false"},
    {"matches('abc', 'b')", "true"},
    {"signals.files_changed.matches('1')", "error: matches() is not defined for int"},
    {"'a'.matches('(')", "compile: invalid regular expression"},
    {"'a'.matches(action.kind)", "compile: needs a string literal"},
    // glob
    {"glob(action.kind, 'git.*')", "true"},
    {"glob('refs/heads/release/1.2', 'refs/heads/release/**')", "true"},
    {"glob('src/a/b.cc', 'src/*.cc')", "false"},
    {"glob('src/a/b.cc', 'src/**.cc')", "true"},
    {"glob(1, '*')", "error: no such overload"},
    // macros
    {"signals.paths.exists(p, p.endsWith('.onnx'))", "true"},
    {"signals.paths.exists(p, p.endsWith('.pt'))", "false"},
    {"signals.paths.all(p, p.size() > 3)", "true"},
    {"signals.paths.all(p, p.contains('/'))", "false"},
    {"signals.nums.filter(n, n > 1)", "[2,3]"},
    {"signals.nums.filter(n, n > 1).size()", "2"},
    {"signals.tags.exists(k, k == 'team')", "true"},
    {"signals.tags.all(k, signals.tags[k] != '')", "true"},
    {"signals.tags.filter(k, k.startsWith('e'))", R"(["env"])"},
    {"signals.secrets.exists(s, true)", "false"},
    {"signals.secrets.all(s, false)", "true"},
    {"[1, 0, 2].exists(x, 2 / x == 1)", "true"},
    {"[0, 1].exists(x, 1 / x == 5)", "error: division by zero"},
    {"[0, 1].all(x, 1 / x == 5)", "false"},
    {"[1, 2].all(x, x / 0 == 1)", "error: division by zero"},
    {"[1, 'a'].filter(x, x > 0)", "error: no such overload"},
    {"[1, 2].exists(x, x)", "error: exists() needs a bool"},
    {"[[1, 2], [3]].exists(a, a.exists(b, b == 3))", "true"},
    {"[1, 2].exists(x, [3].exists(y, x + y == 5))", "true"},
    {"signals.force.exists(x, true)", "error: macros need a list or a map, got bool"},
    {"signals.paths.exists(1, true)", "compile: needs a variable name"},
    // precedence
    {"1 + 2 == 3 && 2 * 3 == 6", "true"},
    {"!false == true", "true"},
    {"-2 * -3", "6"},
    {"2 + 3 * 4 - 10 / 2 % 3", "12"},
    {"1 < 2 == true", "true"},
    // compile errors with columns
    {"", "compile: column 1: unexpected end of input"},
    {"1 +", "compile: column 4: unexpected end of input"},
    {"(1 + 2", "compile: column 7: expected ')'"},
    {"a = 1", "compile: column 3: unexpected '=' (use '==')"},
    {"'unterminated", "compile: column 1: unterminated string"},
    {"1 2", "compile: column 3: unexpected '2'"},
    {"foo(1)", "compile: column 1: unknown function 'foo'"},
    {"'a'.bar()", "compile: column 4: unknown method 'bar'"},
    {"size(1, 2)", "compile: size() takes 1 argument, got 2"},
    {"has(signals)", "compile: has() needs a field selection"},
    {"9223372036854775808", "compile: column 1: integer literal out of range"},
    {"'\\q'", "compile: column 2: unknown escape sequence"},
    {"signals.", "compile: column 9: expected a field name"},
    {"[1, 2", "compile: expected ']'"},
    {"1 ? 2", "compile: expected ':'"},
    {"a # b", "compile: column 3: unexpected character '#'"},
};

TEST_CASE("expression table") {
  Result<Value> activation = parse_json(kActivation);
  REQUIRE(activation.ok());
  CHECK(std::size(kCases) >= 120);
  for (const Case& c : kCases) {
    std::string source = c.source;
    CAPTURE(source);
    std::string_view expected = c.expected;
    Result<Expression> compiled = Expression::compile(c.source);
    if (expected.substr(0, 8) == "compile:") {
      REQUIRE_FALSE(compiled.ok());
      CHECK(compiled.error().message.find(expected.substr(9)) != std::string::npos);
      CAPTURE(compiled.error().message);
      continue;
    }
    REQUIRE_MESSAGE(compiled.ok(), compiled.error().message);
    Result<Value> got = compiled->evaluate(*activation);
    if (expected.substr(0, 6) == "error:") {
      REQUIRE_FALSE(got.ok());
      CAPTURE(got.error().message);
      CHECK(got.error().message.find(expected.substr(7)) != std::string::npos);
      continue;
    }
    REQUIRE_MESSAGE(got.ok(), got.error().message);
    Result<Value> want = parse_json(expected);
    REQUIRE(want.ok());
    CHECK(to_json(*got) == to_json(*want));
  }
}

// The engine binds `signals.NAME` by registry slot (#21): every row gives the same answer, value or
// error, through the slots as through the by-name activation map.
TEST_CASE("slot bindings agree with the activation map") {
  const Value activation = parse_json(kActivation).value();
  const Value& signals = *activation.find("signals");
  const SignalRegistry& registry = SignalRegistry::builtin();
  std::vector<const Value*> slots(registry.slot_count(), nullptr);
  for (const auto& [name, value] : signals.as_map()) {
    if (const int slot = registry.slot(name); slot >= 0)
      slots[static_cast<std::size_t>(slot)] = &value;
  }
  CHECK(registry.slot("force") >= 0);    // the table reads declared signals through slots
  CHECK(registry.slot("nested") == -1);  // and undeclared ones by name
  const Activation bound{activation.find("action"), &signals, slots.data()};
  int compared = 0;
  for (const Case& c : kCases) {
    CAPTURE(c.source);
    Result<Expression> compiled = Expression::compile(c.source);
    if (!compiled.ok()) continue;
    const Result<bool> by_name = compiled->evaluate_bool(activation);
    const Result<bool> by_slot = compiled->evaluate_bool(bound);
    REQUIRE(by_name.ok() == by_slot.ok());
    if (by_name.ok()) {
      CHECK(*by_name == *by_slot);
    } else {
      CHECK(by_name.error().message == by_slot.error().message);
    }
    ++compared;
  }
  CHECK(compared > 100);
  // A declared signal that was not collected is a missing key, as in the map.
  std::vector<const Value*> empty(registry.slot_count(), nullptr);
  const Activation none{nullptr, &signals, empty.data()};
  const Result<bool> missing = Expression::compile("signals.force").value().evaluate_bool(none);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("no such key 'force'") != std::string::npos);
}

TEST_CASE("evaluate_bool requires a bool") {
  Value activation = parse_json(kActivation).value();
  CHECK(Expression::compile("signals.force").value().evaluate_bool(activation).value());
  Result<bool> r = Expression::compile("signals.files_changed").value().evaluate_bool(activation);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("int, not bool") != std::string::npos);
  CHECK(Expression().evaluate_bool(activation).value());  // a rule without `when`
}

TEST_CASE("referenced signals and identifiers") {
  Expression e = Expression::compile(
                     "signals.force && signals['secrets'].size() > 0 || has(signals.off_hours) "
                     "&& action.kind == 'x' && signals.force && [1].exists(signals, signals > 0)")
                     .value();
  CHECK(e.referenced_signals() == std::vector<std::string>{"force", "secrets", "off_hours"});
  CHECK(e.identifiers() == std::vector<std::string>{"signals", "action"});
  CHECK(e.source().find("signals.force") == 0);
}

TEST_CASE("hostile input is refused at compile time") {
  std::string parens = std::string(100, '(') + "1" + std::string(100, ')');
  Result<Expression> r = Expression::compile(parens);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("nested deeper than the limit of 64") != std::string::npos);

  std::string nots = std::string(100000, '!') + "true";
  r = Expression::compile(nots);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("limit of 65536 bytes") != std::string::npos);

  r = Expression::compile(std::string(1000, '!') + "true");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("nested deeper") != std::string::npos);

  std::string chain = "1";
  for (int i = 0; i < 1000; ++i) chain += " + 1";
  r = Expression::compile(chain);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("limit of 256 operations") != std::string::npos);

  std::string brackets = std::string(500, '[') + std::string(500, ']');
  CHECK_FALSE(Expression::compile(brackets).ok());

  CHECK(Expression::compile(std::string(60, '(') + "1" + std::string(60, ')')).ok());
}

TEST_CASE("runaway macros hit the evaluation budget") {
  Value activation = parse_json(kActivation).value();
  std::string list = "[0,1,2,3,4,5,6,7,8,9]";
  std::string source = "true";
  for (char v = 'a'; v <= 'h'; ++v) {  // 10^8 iterations unless stopped
    // Eight rounds of test setup: the plain concatenation reads best.
    // NOLINTNEXTLINE(performance-inefficient-string-concatenation)
    source = list + ".all(" + std::string(1, v) + ", " + source + ")";
  }
  Result<Value> r = Expression::compile(source).value().evaluate(activation);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("exceeded the limit") != std::string::npos);
}

TEST_CASE("a compiled expression is shared by copies and reusable") {
  Value activation = parse_json(kActivation).value();
  Expression a = Expression::compile("signals.files_changed * 2").value();
  // NOLINTNEXTLINE(performance-unnecessary-copy-initialization): the copy is under test
  Expression b = a;
  CHECK(a.evaluate(activation).value() == Value(240));
  CHECK(b.evaluate(activation).value() == Value(240));
  activation["signals"]["files_changed"] = Value(1);
  CHECK(b.evaluate(activation).value() == Value(2));
}

}  // namespace
}  // namespace stepgate
