// Operators and functions of the expression language, on already-evaluated operands.
#include <algorithm>
#include <cmath>
#include <optional>

#include "expr_ast.h"
#include "stepgate/glob.h"

namespace stepgate::expr_detail {

const Value kTrueValue(true);
const Value kFalseValue(false);

/// The operator or function a node applies to its operands; "" for a leaf (a literal, an
/// identifier or a member access, whose operands say nothing more than its own value).
const char* op_name(Kind kind) {
  switch (kind) {
    case Kind::kNot:
      return "!";
    case Kind::kNeg:
      return "-";
    case Kind::kAnd:
      return "&&";
    case Kind::kOr:
      return "||";
    case Kind::kTernary:
      return "?:";
    case Kind::kAdd:
      return "+";
    case Kind::kSub:
      return "-";
    case Kind::kMul:
      return "*";
    case Kind::kDiv:
      return "/";
    case Kind::kMod:
      return "%";
    case Kind::kEq:
      return "==";
    case Kind::kNe:
      return "!=";
    case Kind::kLt:
      return "<";
    case Kind::kLe:
      return "<=";
    case Kind::kGt:
      return ">";
    case Kind::kGe:
      return ">=";
    case Kind::kIn:
      return "in";
    case Kind::kList:
      return "[]";
    case Kind::kSize:
      return "size()";
    case Kind::kStartsWith:
      return "startsWith()";
    case Kind::kEndsWith:
      return "endsWith()";
    case Kind::kContains:
      return "contains()";
    case Kind::kMatches:
      return "matches()";
    case Kind::kGlob:
      return "glob()";
    case Kind::kExists:
      return "exists()";
    case Kind::kAll:
      return "all()";
    case Kind::kFilter:
      return "filter()";
    case Kind::kLiteral:
    case Kind::kIdent:
    case Kind::kLocal:
    case Kind::kSelect:
    case Kind::kIndex:
    case Kind::kHas:
      break;
  }
  return "";
}

namespace {

using Type = Value::Type;

const char* type_of(const Value& v) {
  return Value::type_name(v.type());
}

Ev overflow() {
  return Ev::fail("integer overflow");
}

/// int (op) int with overflow, division and modulo checks.
Ev int_arith(Kind kind, int64_t a, int64_t b) {
  int64_t r = 0;
  switch (kind) {
    case Kind::kAdd:
      return __builtin_add_overflow(a, b, &r) ? overflow() : Ev::own(Value(r));
    case Kind::kSub:
      return __builtin_sub_overflow(a, b, &r) ? overflow() : Ev::own(Value(r));
    case Kind::kMul:
      return __builtin_mul_overflow(a, b, &r) ? overflow() : Ev::own(Value(r));
    case Kind::kDiv:
      if (b == 0) return Ev::fail("division by zero");
      if (a == INT64_MIN && b == -1) return overflow();
      return Ev::own(Value(a / b));
    case Kind::kMod:
      if (b == 0) return Ev::fail("modulo by zero");
      if (a == INT64_MIN && b == -1) return overflow();
      return Ev::own(Value(a % b));
    default:
      return Ev::fail("internal: not an arithmetic operator");
  }
}

/// Arithmetic where at least one side is a double: IEEE, except that dividing by zero is an
/// error like it is for ints, so a policy never compares against infinity by accident.
Ev double_arith(Kind kind, double a, double b) {
  switch (kind) {
    case Kind::kAdd:
      return Ev::own(Value(a + b));
    case Kind::kSub:
      return Ev::own(Value(a - b));
    case Kind::kMul:
      return Ev::own(Value(a * b));
    case Kind::kDiv:
      return b == 0 ? Ev::fail("division by zero") : Ev::own(Value(a / b));
    default:
      return Ev::fail("'%' is not defined for double");
  }
}

Ev concat(Ev& left, const Ev& right) {
  const Value& a = left.value();
  const Value& b = right.value();
  if (a.is_string()) return Ev::own(Value(a.as_string() + b.as_string()));
  // Both arms non-const List, so the owned list is moved rather than copied.
  List out = left.is_owned() ? std::move(left.owned().as_list()) : List(a.as_list());
  const List& tail = b.as_list();
  out.insert(out.end(), tail.begin(), tail.end());
  return Ev::own(Value(std::move(out)));
}

Ev arith(Kind kind, Ev& left, const Ev& right) {
  const Value& a = left.value();
  const Value& b = right.value();
  if (a.is_int() && b.is_int()) return int_arith(kind, a.as_int(), b.as_int());
  if (a.is_number() && b.is_number()) return double_arith(kind, a.as_number(), b.as_number());
  bool same = a.type() == b.type();
  if (kind == Kind::kAdd && same && (a.is_string() || a.is_list())) {
    return concat(left, right);
  }
  return type_error(op_name(kind), a, b);
}

/// -1, 0, 1; 2 when unordered (NaN); nullopt when the types cannot be ordered.
std::optional<int> order(const Value& a, const Value& b) {
  auto cmp = [](const auto& x, const auto& y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (a.is_int() && b.is_int()) return cmp(a.as_int(), b.as_int());
  if (a.is_number() && b.is_number()) {
    double x = a.as_number();
    double y = b.as_number();
    if (std::isnan(x) || std::isnan(y)) return 2;
    return cmp(x, y);
  }
  if (a.type() != b.type()) return std::nullopt;
  if (a.is_string()) return cmp(a.as_string(), b.as_string());
  if (a.is_bool()) return cmp(a.as_bool(), b.as_bool());
  return std::nullopt;
}

Ev relation(Kind kind, const Value& a, const Value& b) {
  std::optional<int> o = order(a, b);
  if (!o) return type_error(op_name(kind), a, b);
  if (*o == 2) return Ev::boolean(false);
  switch (kind) {
    case Kind::kLt:
      return Ev::boolean(*o < 0);
    case Kind::kLe:
      return Ev::boolean(*o <= 0);
    case Kind::kGt:
      return Ev::boolean(*o > 0);
    default:
      return Ev::boolean(*o >= 0);
  }
}

bool list_contains(const List& list, const Value& v) {
  return std::ranges::find(list, v) != list.end();
}

Ev membership(const Node& node, const Value& needle, const Value& haystack) {
  if (node.set) {
    if (needle.is_string()) return Ev::boolean(node.set->strings.contains(needle.as_string()));
    for (const Value* v : node.set->others) {
      if (*v == needle) return Ev::boolean(true);
    }
    return Ev::boolean(false);
  }
  if (haystack.is_list()) return Ev::boolean(list_contains(haystack.as_list(), needle));
  if (haystack.is_map()) {
    if (!needle.is_string()) return type_error("in", needle, haystack);
    return Ev::boolean(haystack.find(needle.as_string()) != nullptr);
  }
  return type_error("in", needle, haystack);
}

/// Length in Unicode code points, as CEL counts strings (UTF-8 continuation bytes skipped).
int64_t code_points(const std::string& s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

Ev size_of(const Value& v) {
  switch (v.type()) {
    case Type::kString:
      return Ev::own(Value(code_points(v.as_string())));
    case Type::kList:
      return Ev::own(Value(static_cast<int64_t>(v.as_list().size())));
    case Type::kMap:
      return Ev::own(Value(static_cast<int64_t>(v.as_map().size())));
    default:
      return Ev::fail(std::string("size() is not defined for ") + type_of(v));
  }
}

Ev string_test(Kind kind, const Value& s, const Value& p) {
  const std::string& a = s.as_string();
  const std::string& b = p.as_string();
  switch (kind) {
    case Kind::kStartsWith:
      return Ev::boolean(a.compare(0, b.size(), b) == 0 && a.size() >= b.size());
    case Kind::kEndsWith:
      return Ev::own(
          Value(a.size() >= b.size() && a.compare(a.size() - b.size(), b.size(), b) == 0));
    default:
      return Ev::boolean(a.find(b) != std::string::npos);
  }
}

}  // namespace

Ev type_error(std::string_view what, const Value& a, const Value& b) {
  return Ev::fail("no such overload: " + std::string(type_of(a)) + " " + std::string(what) + " " +
                  type_of(b));
}

Ev apply_binary(Kind kind, const Node& node, Ev& left, const Ev& right) {
  const Value& a = left.value();
  const Value& b = right.value();
  switch (kind) {
    case Kind::kEq:
      return Ev::boolean(a == b);
    case Kind::kNe:
      return Ev::boolean(a != b);
    case Kind::kLt:
    case Kind::kLe:
    case Kind::kGt:
    case Kind::kGe:
      return relation(kind, a, b);
    case Kind::kIn:
      return membership(node, a, b);
    default:
      return arith(kind, left, right);
  }
}

Ev apply_call(const Node& node, const Ev& receiver, const Value* arg) {
  const Value& r = receiver.value();
  if (node.kind == Kind::kSize) return size_of(r);
  if (node.kind == Kind::kMatches) {
    if (!r.is_string()) return Ev::fail(std::string("matches() is not defined for ") + type_of(r));
    return Ev::boolean(RE2::PartialMatch(r.as_string(), *node.regex));
  }
  if (node.kind == Kind::kContains && r.is_list()) {
    return Ev::boolean(list_contains(r.as_list(), *arg));
  }
  if (node.kind == Kind::kContains && r.is_map() && arg->is_string()) {
    return Ev::boolean(r.find(arg->as_string()) != nullptr);
  }
  if (!r.is_string() || !arg->is_string()) return type_error(op_name(node.kind), r, *arg);
  if (node.kind == Kind::kGlob) return Ev::boolean(glob_match(arg->as_string(), r.as_string()));
  return string_test(node.kind, r, *arg);
}

}  // namespace stepgate::expr_detail
