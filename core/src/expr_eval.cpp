// Tree-walking evaluator. Member access borrows from the activation instead of copying, so the
// common rule (`signals.force && signals.protected`) allocates nothing.
#include "expr_ast.h"
#include "stepgate/signal_demand.h"

namespace stepgate::expr_detail {
namespace {

Ev no_such_key(std::string_view key) {
  return Ev::fail("no such key '" + std::string(key) + "'");
}

/// The member `key` of `base`, borrowed when base is borrowed, moved out when base is owned.
Ev select(Ev base, std::string_view key) {
  const Value& b = base.value();
  if (!b.is_map()) {
    return Ev::fail("cannot select field '" + std::string(key) + "' from " +
                    Value::type_name(b.type()));
  }
  if (!base.is_owned()) {
    const Value* v = b.find(key);
    return v != nullptr ? Ev::borrow(v) : no_such_key(key);
  }
  Map& m = base.owned().as_map();
  auto it = m.find(key);
  return it != m.end() ? Ev::own(std::move(it->second)) : no_such_key(key);
}

Ev index(Ev base, const Value& key) {
  const Value& b = base.value();
  if (b.is_map()) {
    if (!key.is_string()) return type_error("[]", b, key);
    return select(std::move(base), key.as_string());
  }
  if (!b.is_list()) return type_error("[]", b, key);
  if (!key.is_int()) return type_error("[]", b, key);
  const List& list = b.as_list();
  int64_t i = key.as_int();
  if (i < 0 || static_cast<uint64_t>(i) >= list.size()) {
    return Ev::fail("index " + std::to_string(i) + " out of range for a list of size " +
                    std::to_string(list.size()));
  }
  if (!base.is_owned()) return Ev::borrow(&list[static_cast<std::size_t>(i)]);
  return Ev::own(std::move(base.owned().as_list()[static_cast<std::size_t>(i)]));
}

Ev not_bool(std::string_view op, const Value& v) {
  return Ev::fail(std::string(op) + " needs a bool, got " + Value::type_name(v.type()));
}

/// `&&` and `||`, commutative over errors: false && err == false, true || err == true.
Ev logic(const Node& n, Frame& f) {
  const bool decisive = n.kind == Kind::kOr;  // the value that decides alone
  const char* op = decisive ? "'||'" : "'&&'";
  Ev left = eval(*n.args[0], f);
  if (!left.is_error() && !left.value().is_bool()) left = not_bool(op, left.value());
  if (!left.is_error() && left.value().as_bool() == decisive) return Ev::boolean(decisive);
  Ev right = eval(*n.args[1], f);
  if (!right.is_error() && !right.value().is_bool()) right = not_bool(op, right.value());
  if (!right.is_error() && right.value().as_bool() == decisive) return Ev::boolean(decisive);
  if (left.is_error()) return left;
  if (right.is_error()) return right;
  return Ev::boolean(!decisive);
}

Ev ternary(const Node& n, Frame& f) {
  Ev cond = eval(*n.args[0], f);
  if (cond.is_error()) return cond;
  if (!cond.value().is_bool()) return not_bool("'?:'", cond.value());
  return eval(*n.args[cond.value().as_bool() ? 1 : 2], f);
}

/// Runs a macro's predicate once per list element or map key. Returns false to stop early.
template <class Visit>
Ev for_each(const Node& n, Frame& f, Visit&& visit) {
  Ev range = eval(*n.args[0], f);
  if (range.is_error()) return range;
  const Value& r = range.value();
  if (!r.is_list() && !r.is_map()) {
    return Ev::fail(std::string("macros need a list or a map, got ") + Value::type_name(r.type()));
  }
  auto step = [&](const Value& item) -> bool {
    f.budget -= n.args[1]->size;
    f.locals[n.slot] = &item;
    return visit(item, eval(*n.args[1], f));
  };
  if (r.is_list()) {
    for (const Value& item : r.as_list()) {
      if (f.budget < 0 || !step(item)) break;
    }
  } else {
    for (const auto& entry : r.as_map()) {
      Value key(entry.first);
      if (f.budget < 0 || !step(key)) break;
    }
  }
  if (f.budget < 0) {
    return Ev::fail("evaluation exceeded the limit of " + std::to_string(kMaxMacroCost) + " steps");
  }
  return Ev::own(Value());
}

Ev quantifier(const Node& n, Frame& f) {
  const bool exists = n.kind == Kind::kExists;  // the predicate value that decides alone
  bool decided = false;
  Ev error;
  bool have_error = false;
  Ev done = for_each(n, f, [&](const Value&, Ev r) {
    if (!r.is_error() && !r.value().is_bool())
      r = not_bool(exists ? "exists()" : "all()", r.value());
    if (r.is_error()) {
      if (!have_error) error = std::move(r), have_error = true;
      return true;
    }
    decided = r.value().as_bool() == exists;
    return !decided;
  });
  if (done.is_error()) return done;
  if (decided) return Ev::boolean(exists);
  if (have_error) return error;
  return Ev::boolean(!exists);
}

Ev filter(const Node& n, Frame& f) {
  List out;
  Ev error;
  bool have_error = false;
  Ev done = for_each(n, f, [&](const Value& item, Ev r) {
    if (!r.is_error() && !r.value().is_bool()) r = not_bool("filter()", r.value());
    if (r.is_error()) {
      error = std::move(r);
      have_error = true;
      return false;
    }
    if (r.value().as_bool()) out.push_back(item);
    return true;
  });
  if (done.is_error()) return done;
  if (have_error) return error;
  return Ev::own(Value(std::move(out)));
}

Ev call(const Node& n, Frame& f) {
  Ev receiver = eval(*n.args[0], f);
  if (receiver.is_error()) return receiver;
  if (n.kind == Kind::kSize || n.kind == Kind::kMatches) return apply_call(n, receiver, nullptr);
  Ev arg = eval(*n.args[1], f);
  if (arg.is_error()) return arg;
  return apply_call(n, receiver, &arg.value());
}

Ev binary(const Node& n, Frame& f) {
  Ev left = eval(*n.args[0], f);
  if (left.is_error()) return left;
  Ev right = eval(*n.args[1], f);
  if (right.is_error()) return right;
  return apply_binary(n.kind, n, left, right);
}

Ev list(const Node& n, Frame& f) {
  List out;
  out.reserve(n.args.size());
  for (const NodePtr& item : n.args) {
    Ev v = eval(*item, f);
    if (v.is_error()) return v;
    out.push_back(std::move(v).take());
  }
  return Ev::own(Value(std::move(out)));
}

Ev has(const Node& n, Frame& f) {
  Ev base = eval(*n.args[0], f);
  if (base.is_error()) return base;
  if (!base.value().is_map()) {
    return Ev::fail(std::string("has() needs a map, got ") + Value::type_name(base.value().type()));
  }
  return Ev::boolean(base.value().find(n.name) != nullptr);
}

}  // namespace

Ev eval(const Node& n, Frame& f) {
  switch (n.kind) {
    case Kind::kLiteral:
      return Ev::borrow(&n.literal);
    case Kind::kIdent: {
      const Value* v = f.bound == nullptr       ? f.activation->find(n.name)
                       : n.slot == kBindSignals ? f.bound->signals
                       : n.slot == kBindAction  ? f.bound->action
                                                : nullptr;
      return v != nullptr ? Ev::borrow(v) : Ev::fail("unknown identifier '" + n.name + "'");
    }
    case Kind::kLocal:
      return Ev::borrow(f.locals[n.slot]);
    case Kind::kList:
      return list(n, f);
    case Kind::kSelect:
      if (n.signal >= 0 && f.bound != nullptr && f.bound->signal_slots != nullptr) {
        const Value* v = f.bound->signal_slots[n.signal];
        return v != nullptr ? Ev::borrow(v) : no_such_key(n.name);
      }
      return select(eval(*n.args[0], f), n.name);
    case Kind::kIndex: {
      Ev base = eval(*n.args[0], f);
      if (base.is_error()) return base;
      Ev key = eval(*n.args[1], f);
      if (key.is_error()) return key;
      return index(std::move(base), key.value());
    }
    case Kind::kHas:
      return has(n, f);
    case Kind::kNot: {
      Ev v = eval(*n.args[0], f);
      if (v.is_error()) return v;
      return v.value().is_bool() ? Ev::boolean(!v.value().as_bool()) : not_bool("'!'", v.value());
    }
    case Kind::kNeg: {
      Ev v = eval(*n.args[0], f);
      if (v.is_error()) return v;
      const Value& x = v.value();
      if (x.is_int())
        return x.as_int() == INT64_MIN ? Ev::fail("integer overflow") : Ev::own(Value(-x.as_int()));
      if (x.is_double()) return Ev::own(Value(-x.as_double()));
      return Ev::fail(std::string("'-' needs a number, got ") + Value::type_name(x.type()));
    }
    case Kind::kAnd:
    case Kind::kOr:
      return logic(n, f);
    case Kind::kTernary:
      return ternary(n, f);
    case Kind::kExists:
    case Kind::kAll:
      return quantifier(n, f);
    case Kind::kFilter:
      return filter(n, f);
    case Kind::kSize:
    case Kind::kStartsWith:
    case Kind::kEndsWith:
    case Kind::kContains:
    case Kind::kMatches:
    case Kind::kGlob:
      return call(n, f);
    default:
      return binary(n, f);
  }
}

}  // namespace stepgate::expr_detail

namespace stepgate {

using expr_detail::Ev;
using expr_detail::Frame;

Result<Expression> Expression::compile(std::string_view source) {
  Result<expr_detail::Compiled> parsed = expr_detail::parse(source);
  if (!parsed.ok()) return parsed.error();
  Expression e;
  e.reads_all_signals_ = parsed->root == nullptr || expr_detail::reads_whole_signals(*parsed->root);
  e.root_ = std::shared_ptr<const expr_detail::Node>(std::move(parsed->root));
  e.source_ = std::string(source);
  e.signals_ = std::move(parsed->signals);
  e.identifiers_ = std::move(parsed->identifiers);
  e.reads_all_signals_ = e.root_ == nullptr || expr_detail::reads_whole_signals(*e.root_);
  return e;
}

// A default-constructed Expression (a rule without `when`) is `true`.
Result<Value> Expression::evaluate(const Value& activation) const {
  if (!root_) return Value(true);
  Frame frame;
  frame.activation = &activation;
  Ev result = expr_detail::eval(*root_, frame);
  if (result.is_error()) return invalid_argument(result.error());
  return std::move(result).take();
}

namespace {
Result<bool> finish_bool(const Ev& result) {
  if (result.is_error()) return invalid_argument(result.error());
  if (!result.value().is_bool()) {
    return invalid_argument(std::string("expression gave ") +
                            Value::type_name(result.value().type()) + ", not bool");
  }
  return result.value().as_bool();
}
}  // namespace

Result<bool> Expression::evaluate_bool(const Value& activation) const {
  if (!root_) return true;
  Frame frame;
  frame.activation = &activation;
  return finish_bool(expr_detail::eval(*root_, frame));
}

Result<bool> Expression::evaluate_bool(const Activation& activation) const {
  if (!root_) return true;
  Frame frame;
  frame.bound = &activation;
  return finish_bool(expr_detail::eval(*root_, frame));
}

static bool is_signals_ident(const expr_detail::Node* n) {
  return n != nullptr && n->kind == expr_detail::Kind::kIdent && n->name == "signals";
}

/// True when some use of the identifier `signals` in the tree is not one of the static forms
/// referenced_signals() records: `signals.NAME`, `has(signals.NAME)`, `signals["NAME"]`. A local
/// variable called `signals` (a macro's) is a kLocal node, not an identifier, so it does not
/// count. Walks with an explicit stack.
bool expr_detail::reads_whole_signals(const expr_detail::Node& root) {
  using expr_detail::Kind;
  std::vector<const expr_detail::Node*> stack{&root};
  while (!stack.empty()) {
    const expr_detail::Node* n = stack.back();
    stack.pop_back();
    if (is_signals_ident(n)) return true;  // reached other than as a static access below
    for (std::size_t i = 0; i < n->args.size(); ++i) {
      const expr_detail::Node* child = n->args[i].get();
      if (child == nullptr) continue;
      const bool by_name = i == 0 && (n->kind == Kind::kSelect || n->kind == Kind::kHas);
      const bool by_literal_key = i == 0 && n->kind == Kind::kIndex && n->args.size() == 2 &&
                                  n->args[1] != nullptr && n->args[1]->kind == Kind::kLiteral &&
                                  n->args[1]->literal.is_string();
      if ((by_name || by_literal_key) && is_signals_ident(child)) continue;
      stack.push_back(child);
    }
  }
  return false;
}

bool reads_all_signals(const Expression& expression) {
  return expression.reads_all_signals();
}

}  // namespace stepgate
