// Static type check of a compiled expression against the signal registry's declared types, for
// `policy lint` (#23): `size(signals.secrets) > "a"` or `signals.force == "yes"` would otherwise
// be rules that silently never match (or error) at run time. Types the check cannot know (a
// macro over an untyped map, `action.attributes.x`) are "dyn" and accepted: only certain
// mismatches are reported.
#include <string>
#include <vector>

#include "expr_ast.h"
#include "stepgate/signals.h"

namespace stepgate::expr_detail {
namespace {

enum class T : uint8_t { kDyn, kNull, kBool, kInt, kDouble, kString, kList, kMap };

struct Ty {
  T t = T::kDyn;
  T elem = T::kDyn;  // kList: the items' type when known
};

const char* name_of(T t) {
  switch (t) {
    case T::kNull:
      return "null";
    case T::kBool:
      return "bool";
    case T::kInt:
      return "int";
    case T::kDouble:
      return "double";
    case T::kString:
      return "string";
    case T::kList:
      return "list";
    case T::kMap:
      return "map";
    case T::kDyn:
      break;
  }
  return "dyn";
}

Ty of_value(const Value& v) {
  switch (v.type()) {
    case Value::Type::kNull:
      return {T::kNull};
    case Value::Type::kBool:
      return {T::kBool};
    case Value::Type::kInt:
      return {T::kInt};
    case Value::Type::kDouble:
      return {T::kDouble};
    case Value::Type::kString:
      return {T::kString};
    case Value::Type::kMap:
      return {T::kMap};
    case Value::Type::kList:
      break;
  }
  Ty out{T::kList, T::kDyn};
  bool first = true;
  for (const Value& item : v.as_list()) {
    const T t = of_value(item).t;
    out.elem = first || out.elem == t ? t : T::kDyn;
    first = false;
  }
  return out;
}

Ty of_signal(SignalType type) {
  switch (type) {
    case SignalType::kBool:
      return {T::kBool};
    case SignalType::kInt:
      return {T::kInt};
    case SignalType::kDouble:
      return {T::kDouble};
    case SignalType::kString:
      return {T::kString};
    case SignalType::kStringList:
      return {T::kList, T::kString};
    case SignalType::kList:
      break;
  }
  return {T::kList};
}

bool known(Ty t) {
  return t.t != T::kDyn;
}
bool numeric(Ty t) {
  return t.t == T::kInt || t.t == T::kDouble;
}

class Checker {
 public:
  std::vector<std::string> errors;

  Ty check(const Node& n) {
    switch (n.kind) {
      case Kind::kLiteral:
        return of_value(n.literal);
      case Kind::kIdent:
        return n.slot == kBindOther ? Ty{} : Ty{T::kMap};
      case Kind::kLocal:
        return local(n.slot);
      case Kind::kList:
        for (const NodePtr& item : n.args) check(*item);
        return {T::kList};
      case Kind::kSelect:
        return select(n);
      case Kind::kIndex:
        return index(n);
      case Kind::kHas:
        check(*n.args[0]);
        return {T::kBool};
      case Kind::kNot:
        want_bool(n, check(*n.args[0]), "'!'");
        return {T::kBool};
      case Kind::kNeg:
        return negate(n);
      case Kind::kAnd:
      case Kind::kOr:
        want_bool(n, check(*n.args[0]), n.kind == Kind::kAnd ? "'&&'" : "'||'");
        want_bool(n, check(*n.args[1]), n.kind == Kind::kAnd ? "'&&'" : "'||'");
        return {T::kBool};
      case Kind::kTernary:
        return ternary(n);
      case Kind::kExists:
      case Kind::kAll:
      case Kind::kFilter:
        return macro(n);
      default:
        return operation(n);
    }
  }

  void want_bool(const Node& n, Ty t, const char* op) {
    if (known(t) && t.t != T::kBool)
      fail(n, std::string(op) + " needs a bool, got " + name_of(t.t));
  }

 private:
  void fail(const Node& n, const std::string& message) {
    errors.push_back("column " + std::to_string(n.column) + ": " + message);
  }
  void overload(const Node& n, const char* op, Ty a, Ty b) {
    fail(n, std::string("no such overload: ") + name_of(a.t) + " " + op + " " + name_of(b.t));
  }
  Ty local(int slot) const {
    return slot >= 0 && static_cast<std::size_t>(slot) < locals_.size() ? locals_[slot] : Ty{};
  }

  Ty select(const Node& n) {
    const Ty base = check(*n.args[0]);
    if (n.signal >= 0) {
      return of_signal(SignalRegistry::builtin().all()[static_cast<std::size_t>(n.signal)].type);
    }
    if (known(base) && base.t != T::kMap && base.t != T::kNull) {
      fail(n, "cannot select field '" + n.name + "' from " + name_of(base.t));
    }
    return {};
  }

  Ty index(const Node& n) {
    const Ty base = check(*n.args[0]);
    const Ty key = check(*n.args[1]);
    if (base.t == T::kList) {
      if (known(key) && key.t != T::kInt) overload(n, "[]", base, key);
      return {base.elem};
    }
    if (base.t == T::kMap) {
      if (known(key) && key.t != T::kString) overload(n, "[]", base, key);
      return {};
    }
    if (known(base)) overload(n, "[]", base, key);
    return {};
  }

  Ty negate(const Node& n) {
    const Ty t = check(*n.args[0]);
    if (known(t) && !numeric(t)) fail(n, std::string("'-' needs a number, got ") + name_of(t.t));
    return numeric(t) ? t : Ty{};
  }

  Ty ternary(const Node& n) {
    want_bool(n, check(*n.args[0]), "'?:'");
    const Ty a = check(*n.args[1]);
    const Ty b = check(*n.args[2]);
    return a.t == b.t && a.elem == b.elem ? a : Ty{};
  }

  Ty macro(const Node& n) {
    const Ty range = check(*n.args[0]);
    if (known(range) && range.t != T::kList && range.t != T::kMap) {
      fail(n, std::string("macros need a list or a map, got ") + name_of(range.t));
    }
    if (locals_.size() <= static_cast<std::size_t>(n.slot)) locals_.resize(n.slot + 1);
    locals_[n.slot] = range.t == T::kList  ? Ty{range.elem}
                      : range.t == T::kMap ? Ty{T::kString}
                                           : Ty{};
    const char* name = n.kind == Kind::kExists ? "exists()"
                       : n.kind == Kind::kAll  ? "all()"
                                               : "filter()";
    want_bool(n, check(*n.args[1]), name);
    locals_[n.slot] = Ty{};
    return n.kind == Kind::kFilter ? Ty{T::kList, range.t == T::kList ? range.elem : T::kDyn}
                                   : Ty{T::kBool};
  }

  // Binary operators and calls: both operands checked, then the pair.
  Ty operation(const Node& n) {
    std::vector<Ty> args;
    args.reserve(n.args.size());
    for (const NodePtr& arg : n.args) args.push_back(check(*arg));
    const Ty a = args.empty() ? Ty{} : args[0];
    const Ty b = args.size() > 1 ? args[1] : Ty{};
    switch (n.kind) {
      case Kind::kEq:
      case Kind::kNe:
        if (known(a) && known(b) && a.t != b.t && !(numeric(a) && numeric(b)) && a.t != T::kNull &&
            b.t != T::kNull) {
          overload(n, n.kind == Kind::kEq ? "==" : "!=", a, b);
        }
        return {T::kBool};
      case Kind::kLt:
      case Kind::kLe:
      case Kind::kGt:
      case Kind::kGe:
        if (known(a) && known(b) && !(numeric(a) && numeric(b)) &&
            !(a.t == b.t && (a.t == T::kString || a.t == T::kBool))) {
          overload(n, relation_name(n.kind), a, b);
        }
        return {T::kBool};
      case Kind::kIn:
        in(n, a, b);
        return {T::kBool};
      case Kind::kSize:
        if (known(a) && a.t != T::kString && a.t != T::kList && a.t != T::kMap) {
          fail(n, std::string("size() is not defined for ") + name_of(a.t));
        }
        return {T::kInt};
      case Kind::kStartsWith:
      case Kind::kEndsWith:
      case Kind::kMatches:
      case Kind::kGlob:
        strings(n, args);
        return {T::kBool};
      case Kind::kContains:
        if (a.t == T::kString) strings(n, args);  // lists and maps hold anything
        if (known(a) && a.t != T::kString && a.t != T::kList && a.t != T::kMap) {
          fail(n, std::string("contains() is not defined for ") + name_of(a.t));
        }
        return {T::kBool};
      default:
        return arithmetic(n, a, b);
    }
  }

  static const char* relation_name(Kind kind) {
    switch (kind) {
      case Kind::kLt:
        return "<";
      case Kind::kLe:
        return "<=";
      case Kind::kGt:
        return ">";
      default:
        return ">=";
    }
  }

  void in(const Node& n, Ty needle, Ty haystack) {
    if (known(haystack) && haystack.t != T::kList && haystack.t != T::kMap) {
      overload(n, "in", needle, haystack);
      return;
    }
    if (haystack.t == T::kMap && known(needle) && needle.t != T::kString) {
      overload(n, "in", needle, haystack);
      return;
    }
    const Ty item{haystack.elem};
    if (haystack.t == T::kList && known(needle) && known(item) && needle.t != item.t &&
        !(numeric(needle) && numeric(item))) {
      fail(n, std::string("'in' looks for a ") + name_of(needle.t) + " in a list of " +
                  name_of(item.t) + ", which never matches");
    }
  }

  void strings(const Node& n, const std::vector<Ty>& args) {
    for (const Ty& t : args) {
      if (known(t) && t.t != T::kString) {
        fail(n, std::string(op_name(n.kind)) + " needs strings, got " + name_of(t.t));
        return;
      }
    }
  }

  Ty arithmetic(const Node& n, Ty a, Ty b) {
    if (!known(a) || !known(b)) return {};
    if (numeric(a) && numeric(b)) {
      if (n.kind == Kind::kMod && (a.t == T::kDouble || b.t == T::kDouble)) {
        fail(n, "'%' is not defined for double");
      }
      return {a.t == T::kInt && b.t == T::kInt ? T::kInt : T::kDouble};
    }
    if (n.kind == Kind::kAdd && a.t == b.t && (a.t == T::kString || a.t == T::kList)) return a;
    const char* op = n.kind == Kind::kAdd   ? "+"
                     : n.kind == Kind::kSub ? "-"
                     : n.kind == Kind::kMul ? "*"
                     : n.kind == Kind::kDiv ? "/"
                                            : "%";
    overload(n, op, a, b);
    return {};
  }

  std::vector<Ty> locals_;
};

}  // namespace

std::vector<std::string> type_errors(const Node& root) {
  Checker checker;
  const Ty result = checker.check(root);
  checker.want_bool(root, result, "a rule's `when`");
  return std::move(checker.errors);
}

}  // namespace stepgate::expr_detail

namespace stepgate {

std::vector<std::string> Expression::type_errors() const {
  if (!root_) return {};
  return expr_detail::type_errors(*root_);
}

}  // namespace stepgate
