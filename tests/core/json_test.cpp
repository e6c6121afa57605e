#include "stepgate/json.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

#include "stepgate/limits.h"

namespace stepgate {
namespace {

struct RoundTrip {
  const char* input;
  const char* canonical;
};

constexpr RoundTrip kRoundTrips[] = {
    {"null", "null"},
    {"true", "true"},
    {" false ", "false"},
    {"0", "0"},
    {"-12", "-12"},
    {"9223372036854775807", "9223372036854775807"},
    {"-9223372036854775808", "-9223372036854775808"},
    {"1.5", "1.5"},
    {"2.0", "2"},
    {"1e2", "100"},
    {R"("")", R"("")"},
    {R"("a\"b\\c")", R"("a\"b\\c")"},
    {R"("line\nbreak\ttab")", R"("line\nbreak\ttab")"},
    {R"("\u0001")", R"("\u0001")"},
    {R"("\u00e9")", "\"\xC3\xA9\""},
    {R"("\ud83d\ude00")", "\"\xF0\x9F\x98\x80\""},
    {"\"\xE2\x82\xAC\"", "\"\xE2\x82\xAC\""},
    {"[]", "[]"},
    {"{}", "{}"},
    {R"([1, [2, [3]], {"a": null}])", R"([1,[2,[3]],{"a":null}])"},
    {R"({"b": 1, "a": 2, "c": {"z": 0, "y": [true]}})", R"({"a":2,"b":1,"c":{"y":[true],"z":0}})"},
    {R"({"a": 1, "a": 2})", R"({"a":2})"},
};

TEST_CASE("json round trips to the canonical form") {
  for (const RoundTrip& c : kRoundTrips) {
    std::string input = c.input;
    CAPTURE(input);
    Result<Value> v = parse_json(c.input);
    REQUIRE_MESSAGE(v.ok(), v.error().message);
    std::string canonical = to_json(*v);
    CHECK(canonical == c.canonical);
    Result<Value> again = parse_json(canonical);
    REQUIRE(again.ok());
    CHECK(*again == *v);
    CHECK(to_json(*again) == canonical);
    Result<Value> pretty = parse_json(to_pretty_json(*v));
    REQUIRE(pretty.ok());
    CHECK(to_json(*pretty) == canonical);
  }
}

TEST_CASE("strings are escaped byte for byte as nlohmann's dump escapes them") {
  // Every ASCII byte at the start, in the middle and at the end of a string, alone and in runs:
  // to_json appends unescaped runs whole, and the audit chain hashes its exact bytes.
  std::vector<std::string> cases = {"", "plain text", "\"\"", "\\\\", "a\x01\x1f\x7f b"};
  for (int c = 0; c < 0x80; ++c) {
    const std::string ch(1, static_cast<char>(c));
    cases.push_back(ch);
    cases.push_back(ch + "tail");
    cases.push_back("head" + ch);
    cases.push_back("mid" + ch + ch + "dle" + ch);
  }
  cases.push_back("caf\xC3\xA9 \xE2\x82\xAC\n\xF0\x9F\x98\x80\"");
  for (const std::string& text : cases) {
    CAPTURE(text);
    CHECK(to_json(Value(text)) == nlohmann::json(text).dump());
  }
}

TEST_CASE("strings of any length and bytes are written as nlohmann's dump writes them") {
  // to_json scans sixteen bytes a step: escapes, UTF-8 sequences and invalid bytes on either side
  // of a step's edge, in strings long and short, must come out exactly as nlohmann's (whose
  // bytes the audit chain and the action digest hash).
  const std::vector<std::string> pieces = {
      "a",
      "Z",
      "0",
      " ",
      "~",
      "\"",
      "\\",
      "\n",
      "\t",
      "\x01",
      "\x1f",
      "\x7f",
      "\xC3\xA9",
      "\xE2\x82\xAC",
      "\xF0\x9F\x98\x80",  // well-formed 2, 3 and 4 byte sequences
      "\xFF",
      "\xC3",
      "\xE2\x82",
      "\xC0\xAF",
      "\xED\xA0\x80",
      "\xF4\x90\x80\x80"};  // invalid
  std::mt19937 rng(20261207);
  for (int round = 0; round < 4000; ++round) {
    std::string text;
    const int parts = static_cast<int>(rng() % 48);
    const bool plain_only = round % 4 == 0;  // valid strings take the fast path end to end
    for (int i = 0; i < parts; ++i) {
      text += pieces[rng() % (plain_only ? 15 : pieces.size())];
    }
    CAPTURE(text);
    REQUIRE(to_json(Value(text)) ==
            nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
}

TEST_CASE("canonical key order does not depend on insertion order") {
  Value a;
  a["zeta"] = Value(1);
  a["alpha"] = Value("x");
  a["mid"]["b"] = Value(true);
  a["mid"]["a"] = Value(List{Value(1), Value(2.5)});
  Value b;
  b["mid"]["a"] = Value(List{Value(1), Value(2.5)});
  b["alpha"] = Value("x");
  b["mid"]["b"] = Value(true);
  b["zeta"] = Value(1);
  CHECK(to_json(a) == to_json(b));
  CHECK(to_json(a) == R"({"alpha":"x","mid":{"a":[1,2.5],"b":true},"zeta":1})");
  CHECK(to_pretty_json(a).find("\n  \"alpha\": \"x\"") != std::string::npos);
}

TEST_CASE("invalid UTF-8 is replaced, not thrown") {
  std::string out =
      to_json(Value(std::string("a\xFF"
                                "b")));
  CHECK(out ==
        "\"a\xEF\xBF\xBD"
        "b\"");
}

TEST_CASE("deep nesting is refused without a crash") {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  Result<Value> r = parse_json(deep);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kResourceExhausted);
  CHECK(r.error().message.find("limit of 64 levels") != std::string::npos);

  std::string objects;
  for (int i = 0; i < 100; ++i) objects += "{\"a\":";
  objects += "1" + std::string(100, '}');
  r = parse_json(objects);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kResourceExhausted);

  std::string ok_depth = std::string(64, '[') + std::string(64, ']');
  CHECK(parse_json(ok_depth).ok());
  JsonLimits tight;
  tight.max_depth = 3;
  CHECK_FALSE(parse_json("[[[[1]]]]", tight).ok());
  CHECK(parse_json("[[[1]]]", tight).ok());
}

TEST_CASE("oversized input is refused naming the byte limit") {
  std::string big = "\"" + std::string(std::size_t{16} * 1024 * 1024, 'a') + "\"";
  Result<Value> r = parse_json(big);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kResourceExhausted);
  CHECK(r.error().message.find("limit of 16777216 bytes") != std::string::npos);
  JsonLimits small;
  small.max_bytes = 4;
  CHECK_FALSE(parse_json("[1,2]", small).ok());
  CHECK(parse_json("[12]", small).ok());
}

struct Malformed {
  const char* input;
  const char* where;
};

constexpr Malformed kMalformed[] = {
    {"", "line 1, column 1"},          {"[1, 2", "line 1, column"},
    {"{\"a\" 1}", "line 1, column 6"}, {"[1,\n 2,\n x]", "line 3, column 2"},
    {"{\n  \"a\": tru\n}", "line 2"},  {"[1] [2]", "line 1, column 5"},
    {"\"unterminated", "line 1"},      {"{\"a\":1,}", "line 1, column 8"},
};

TEST_CASE("malformed json names line and column") {
  for (const Malformed& c : kMalformed) {
    std::string input = c.input;
    CAPTURE(input);
    Result<Value> r = parse_json(c.input);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error().message);
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
    CHECK(r.error().message.find(c.where) != std::string::npos);
    CHECK(r.error().message.find("invalid JSON at") == 0);
  }
}

TEST_CASE("large integers and doubles") {
  Value big = parse_json("18446744073709551615").value();  // > INT64_MAX: kept as a double
  CHECK(big.is_double());
  CHECK(to_json(parse_json("0.1").value()) == "0.1");
  CHECK(to_json(Value(1e300)) == "1e+300");
  CHECK(Value(1) == Value(1.0));
}

}  // namespace
}  // namespace stepgate

namespace stepgate {

struct NestingCase {
  std::string text;
  bool ok;
};

TEST_CASE("check_json_nesting holds outside JSON to the one nesting limit, without recursion") {
  static_assert(kMaxNestingDepth == 64);
  const std::vector<NestingCase> cases = {
      {std::string(64, '[') + std::string(64, ']'), true},
      {std::string(65, '[') + std::string(65, ']'), false},
      {std::string(50000, '[') + std::string(50000, ']'),
       false},                           // the 97 KB that crashed the shim
      {std::string(50000, '['), false},  // unbalanced: still refused
      {"{\"a\":" + std::string(64, '[') + std::string(64, ']') + "}", false},
      {"\"" + std::string(100, '[') + "\"", true},        // brackets inside a string do not nest
      {"[\"\\\"" + std::string(100, '{') + "\"]", true},  // nor after an escaped quote
      {std::string(100, ']'), true},                      // stray closers are the parser's problem
      {"", true},
  };
  for (const NestingCase& c : cases) {
    CAPTURE(c.text.substr(0, 80));
    Status s = check_json_nesting(c.text);
    CHECK(s.ok() == c.ok);
    if (!s.ok()) {
      CHECK(s.error().code == ErrorCode::kResourceExhausted);
      CHECK(s.error().message.find("limit of 64 levels") != std::string::npos);
    }
  }
  CHECK_FALSE(check_json_nesting("[[[[1]]]]", 3).ok());
  CHECK(check_json_nesting("[[[1]]]", 3).ok());
}

}  // namespace stepgate

// Found by json_fuzz: nlohmann's lexer reads a raw NUL as the end of input, so "1\0{{{…" parsed
// as 1 and the rest was never looked at (a body whose tail another parser would read differently).
TEST_CASE("a raw NUL byte makes the input invalid, wherever it is") {
  using namespace std::string_literals;
  for (const std::string& text :
       {"1\0{\"a\":2}"s, "{\"a\":1}\0{\"a\":2}"s, "[1,\0 2]"s, "\"x\0y\""s}) {
    stepgate::Result<stepgate::Value> v = stepgate::parse_json(text);
    CHECK_FALSE(v.ok());
    if (!v.ok()) CHECK(v.error().message.find("a NUL byte") != std::string::npos);
  }
  CHECK(stepgate::parse_json("\"x\\u0000y\"").ok());  // an escaped NUL is a character like any
}

// Found by token_fuzz: a number past int64_t's range read as an integer was undefined behaviour.
TEST_CASE("get_int of a double outside int64_t's range is the fallback") {
  stepgate::Result<stepgate::Value> v =
      stepgate::parse_json("{\"big\":9999999999999999999999.0,\"neg\":-1e300,\"ok\":42.0}");
  REQUIRE(v.ok());
  CHECK(v->get_int("big", -7) == -7);
  CHECK(v->get_int("neg", -7) == -7);
  CHECK(v->get_int("ok", -7) == 42);
}
