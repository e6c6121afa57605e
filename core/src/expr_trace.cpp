// Expression::trace: the compiled tree walked for `policy explain`, each sub-expression evaluated
// on its own and named by its source text (the parser records each node's span).
#include <algorithm>

#include "expr_ast.h"

namespace stepgate {
namespace {

using expr_detail::Kind;
using expr_detail::Node;
using expr_detail::op_name;

bool is_macro(Kind kind) {
  return kind == Kind::kExists || kind == Kind::kAll || kind == Kind::kFilter;
}

bool is_signals(const Node* n) {
  return n != nullptr && n->kind == Kind::kIdent && n->name == "signals";
}

/// NAME for each `signals.NAME` / `signals["NAME"]` under `node`, once each, in source order.
void signals_read(const Node& node, std::vector<std::string>& out) {
  std::string name;
  if ((node.kind == Kind::kSelect || node.kind == Kind::kHas) && is_signals(node.args[0].get())) {
    name = node.name;
  } else if (node.kind == Kind::kIndex && is_signals(node.args[0].get()) &&
             node.args[1]->kind == Kind::kLiteral && node.args[1]->literal.is_string()) {
    name = node.args[1]->literal.as_string();
  }
  if (!name.empty()) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    return;
  }
  for (const auto& arg : node.args) {
    if (arg) signals_read(*arg, out);
  }
}

/// The operands shown under `node`: for a chain of the same && or || (a && b && c), all of them.
void operands(const Node& node, std::vector<const Node*>& out) {
  for (const auto& arg : node.args) {
    if (!arg) continue;
    const bool chain =
        (node.kind == Kind::kAnd || node.kind == Kind::kOr) && arg->kind == node.kind;
    if (chain) {
      operands(*arg, out);
    } else {
      out.push_back(arg.get());
    }
  }
}

class Tracer {
 public:
  Tracer(std::string_view source, const Value& activation)
      : source_(source), activation_(activation) {}

  ExpressionTrace trace(const Node& node, int depth_left, bool evaluate) {
    ExpressionTrace t;
    if (node.begin >= 0 && node.end > node.begin &&
        static_cast<std::size_t>(node.end) <= source_.size()) {
      t.source = std::string(source_.substr(node.begin, node.end - node.begin));
    }
    signals_read(node, t.signals);
    t.evaluated = evaluate;
    if (evaluate) {
      expr_detail::Frame frame;
      frame.activation = &activation_;
      expr_detail::Ev ev = expr_detail::eval(node, frame);
      if (ev.is_error()) {
        t.error = ev.error();
      } else {
        t.value = std::move(ev).take();
      }
    }
    t.op = op_name(node.kind);
    if (t.op.empty() || depth_left <= 0 || !evaluate) return t;
    std::vector<const Node*> parts;
    operands(node, parts);
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (parts[i]->kind == Kind::kLiteral) continue;
      // A macro's predicate reads the item variable: it has no value of its own.
      const bool predicate = is_macro(node.kind) && i == 1;
      t.parts.push_back(trace(*parts[i], depth_left - 1, !predicate));
    }
    return t;
  }

 private:
  std::string_view source_;
  const Value& activation_;
};

}  // namespace

ExpressionTrace Expression::trace(const Value& activation, int max_depth) const {
  if (!root_) {
    ExpressionTrace t;
    t.value = Value(true);
    return t;
  }
  return Tracer(source_, activation).trace(*root_, max_depth, true);
}

}  // namespace stepgate
