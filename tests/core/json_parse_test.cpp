// parse_json's fast path against nlohmann's parser (parse_json_reference): for any text, the
// same acceptance, the same value to the type, and the same error.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "json_internal.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

/// Equal to the type and the bit: Value's operator== takes 1 and 1.0 as equal; this does not.
bool same(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kNull:
      return true;
    case Value::Type::kBool:
      return a.as_bool() == b.as_bool();
    case Value::Type::kInt:
      return a.as_int() == b.as_int();
    case Value::Type::kDouble: {
      const double x = a.as_double();
      const double y = b.as_double();
      return std::memcmp(&x, &y, sizeof x) == 0;
    }
    case Value::Type::kString:
      return a.as_string() == b.as_string();
    case Value::Type::kList: {
      if (a.as_list().size() != b.as_list().size()) return false;
      for (std::size_t i = 0; i < a.as_list().size(); ++i) {
        if (!same(a.as_list()[i], b.as_list()[i])) return false;
      }
      return true;
    }
    case Value::Type::kMap: {
      if (a.as_map().size() != b.as_map().size()) return false;
      auto j = b.as_map().begin();
      for (const auto& [k, v] : a.as_map()) {
        if (k != j->first || !same(v, j->second)) return false;
        ++j;
      }
      return true;
    }
  }
  return false;
}

void check_same_answer(const std::string& text, const JsonLimits& limits = {}) {
  CAPTURE(text);
  const Result<Value> fast = parse_json(text, limits);
  const Result<Value> reference = parse_json_reference(text, limits);
  REQUIRE(fast.ok() == reference.ok());
  if (fast.ok()) {
    CHECK(same(*fast, *reference));
  } else {
    CHECK(fast.error().code == reference.error().code);
    CHECK(fast.error().message == reference.error().message);
  }
}

/// Random JSON-like text: mostly well-formed, with the forms the fast path hands on (\u escapes,
/// long and out-of-range numbers, deep nesting) and the mistakes it must not accept.
class Generator {
 public:
  explicit Generator(unsigned seed) : rng_(seed) {}

  std::string document() {
    std::string out;
    if (pick(20) == 0) out += pick_of(kSpaces);
    value(out, 0);
    if (pick(20) == 0) out += pick_of(kSpaces);
    if (pick(10) == 0) mutate(out);
    return out;
  }

 private:
  static constexpr const char* kSpaces[] = {" ", "\n", "\r\n", "\t", "  ", "\f", "\v"};
  static constexpr const char* kNumbers[] = {"0",
                                             "-0",
                                             "7",
                                             "-12",
                                             "123456789012345678",
                                             "-123456789012345678",
                                             "1234567890123456789",
                                             "9223372036854775807",
                                             "-9223372036854775808",
                                             "18446744073709551615",
                                             "18446744073709551616",
                                             "99999999999999999999999",
                                             "1.5",
                                             "-0.0",
                                             "0.1",
                                             "2.5e3",
                                             "1E-7",
                                             "1e+2",
                                             "6.02214076e23",
                                             "1e400",
                                             "-1e400",
                                             "1e-400",
                                             "4.9e-324",
                                             "2.2250738585072014e-308",
                                             "01",
                                             "1.",
                                             ".5",
                                             "-",
                                             "1e",
                                             "1e+",
                                             "+1",
                                             "0x10",
                                             "1.2.3",
                                             "--1",
                                             "NaN",
                                             "Infinity",
                                             "1_000"};
  static constexpr const char* kStringPieces[] = {"a",
                                                  "key",
                                                  " ",
                                                  "\\\"",
                                                  "\\\\",
                                                  "\\/",
                                                  "\\b",
                                                  "\\f",
                                                  "\\n",
                                                  "\\r",
                                                  "\\t",
                                                  "\\u0041",
                                                  "\\u00e9",
                                                  "\\ud83d\\ude00",
                                                  "\\ud83d",
                                                  "\\u12",
                                                  "\\x",
                                                  "\\",
                                                  "\xC3\xA9",
                                                  "\xE2\x82\xAC",
                                                  "\xF0\x9F\x98\x80",
                                                  "\xFF",
                                                  "\xC0\xAF",
                                                  "\xED\xA0\x80",
                                                  "\x01",
                                                  "\x1f",
                                                  "\x7f",
                                                  "\t",
                                                  "0123456789abcdef0123456789"};
  static constexpr const char* kLiterals[] = {"true", "false",  "null", "tru",
                                              "nul",  "falsey", "True", "NULL"};

  template <std::size_t N>
  const char* pick_of(const char* const (&items)[N]) {
    return items[pick(N)];
  }
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  void space(std::string& out) {
    if (pick(6) == 0) out += pick_of(kSpaces);
  }

  void string(std::string& out) {
    out += '"';
    const std::size_t n = pick(8);
    for (std::size_t i = 0; i < n; ++i) {
      // Mostly plain, so long runs cross the 16-byte steps of the scan.
      out += pick(3) == 0 ? pick_of(kStringPieces) : "plain text run";
    }
    out += '"';
  }

  void value(std::string& out, int depth) {
    // A container's chance falls with depth, so documents stay small (deep nesting has its own
    // test below): at 4 children or fewer, fewer than one container a level from depth 2 on.
    const std::size_t kind = pick(static_cast<std::size_t>(depth) + 3) < 2 ? pick(2) : 2 + pick(3);
    switch (kind) {
      case 0: {
        out += '{';
        const std::size_t n = pick(5);
        for (std::size_t i = 0; i < n; ++i) {
          if (i > 0) out += ',';
          space(out);
          if (pick(4) == 0) {
            out += "\"dup\"";  // equal keys: the last wins
          } else {
            string(out);
          }
          space(out);
          out += ':';
          space(out);
          value(out, depth + 1);
          space(out);
        }
        out += '}';
        return;
      }
      case 1: {
        out += '[';
        const std::size_t n = pick(5);
        for (std::size_t i = 0; i < n; ++i) {
          if (i > 0) out += ',';
          space(out);
          value(out, depth + 1);
          space(out);
        }
        out += ']';
        return;
      }
      case 2:
        string(out);
        return;
      case 3:
        out += pick_of(kNumbers);
        return;
      default:
        out += pick_of(kLiterals);
        return;
    }
  }

  void mutate(std::string& out) {
    if (out.empty()) return;
    const std::size_t at = pick(out.size());
    switch (pick(4)) {
      case 0:
        out.resize(at);  // cut short
        break;
      case 1:
        out.erase(at, 1);
        break;
      case 2:
        out.insert(at, 1, ",]}:\"x"[pick(6)]);
        break;
      default:
        out += pick(2) == 0 ? " x" : "{}";  // trailing garbage
        break;
    }
  }

  std::mt19937 rng_;
};

TEST_CASE("parse_json gives nlohmann's answer for any text: value, type and error") {
  Generator generate(20261207);
  for (int i = 0; i < 20000; ++i) check_same_answer(generate.document());
}

TEST_CASE("parse_json gives nlohmann's answer at the nesting limit and for the usual bodies") {
  for (const int depth : {1, 2, 63, 64, 65, 127, 128, 129, 200}) {
    const std::string lists = std::string(static_cast<std::size_t>(depth), '[') +
                              std::string(static_cast<std::size_t>(depth), ']');
    check_same_answer(lists);
    JsonLimits deep;
    deep.max_depth = 300;
    check_same_answer(lists, deep);
    JsonLimits shallow;
    shallow.max_depth = 3;
    check_same_answer(lists, shallow);
  }
  check_same_answer(
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"shell","arguments":{"command":"rm -rf /tmp/x"}}})");
  check_same_answer("\xEF\xBB\xBF{\"bom\":1}");  // nlohmann skips a byte order mark
  check_same_answer("");
  check_same_answer("   ");
  check_same_answer("{\"a\":1}\n");
}

}  // namespace
}  // namespace stepgate
