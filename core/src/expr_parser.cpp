// Recursive-descent parser for the expression language, with CEL precedence:
//   ?:  <  ||  <  &&  <  relations (< <= > >= == != in)  <  + -  <  * / %  <  unary ! -  <  . [] ()
#include <algorithm>
#include <cstdint>

#include "expr_ast.h"
#include "expr_lexer.h"
#include "stepgate/signals.h"

namespace stepgate::expr_detail {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view source) : src_(source) {}

  Result<Compiled> run() {
    advance();
    NodePtr root = expr();
    if (root && tok_.kind != Tok::kEnd) fail(tok_.pos, "unexpected '" + token_text() + "'");
    if (!error_.empty()) return invalid_argument(error_);
    return Compiled{std::move(root), std::move(signals_), std::move(identifiers_)};
  }

 private:
  // --- tokens -------------------------------------------------------------------------------
  void advance() {
    if (!error_.empty()) return;
    consumed_end_ = pos_;  // the end of the token being consumed
    if (!next_token(src_, pos_, tok_, error_)) tok_.kind = Tok::kEnd;
  }
  [[nodiscard]] bool is(std::string_view punct) const {
    return tok_.kind == Tok::kPunct && tok_.text == punct;
  }
  [[nodiscard]] bool is_keyword(std::string_view word) const {
    return tok_.kind == Tok::kIdent && tok_.text == word;
  }
  bool accept(std::string_view punct) {
    if (!is(punct)) return false;
    advance();
    return true;
  }
  bool expect(std::string_view punct) {
    if (accept(punct)) return true;
    fail(tok_.pos, "expected '" + std::string(punct) + "' but found " + describe());
    return false;
  }
  std::string token_text() const {
    return tok_.kind == Tok::kEnd ? "end of input"
                                  : std::string(src_.substr(tok_.pos, pos_ - tok_.pos));
  }
  std::string describe() const {
    return tok_.kind == Tok::kEnd ? "end of input" : "'" + token_text() + "'";
  }
  NodePtr fail(std::size_t pos, const std::string& message) {
    if (error_.empty()) error_ = at_column(pos, message);
    return nullptr;
  }

  // --- nodes --------------------------------------------------------------------------------
  NodePtr make(Kind kind, std::size_t pos, std::vector<NodePtr> args = {}) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->column = static_cast<int>(pos) + 1;
    node->begin = static_cast<int>(pos);
    node->end = static_cast<int>(consumed_end_);
    for (const NodePtr& a : args) {
      node->begin = std::min(node->begin, a->begin);
      node->depth = std::max(node->depth, a->depth + 1);
      node->size += a->size;
    }
    node->args = std::move(args);
    if (node->depth > kMaxTreeDepth) {
      return fail(pos, "expression nested deeper than the limit of " +
                           std::to_string(kMaxTreeDepth) + " operations");
    }
    return node;
  }
  NodePtr literal(Value v, std::size_t pos) {
    NodePtr n = make(Kind::kLiteral, pos);
    n->literal = std::move(v);
    return n;
  }
  /// Widens a node's text to start at `pos` and end with the token just consumed (the
  /// parentheses around it, the `-` folded into a literal, `has(...)`).
  void spans(Node& node, std::size_t pos) const {
    node.begin = static_cast<int>(pos);
    node.end = static_cast<int>(consumed_end_);
  }
  static std::vector<NodePtr> pair(NodePtr a, NodePtr b) {
    std::vector<NodePtr> v;
    v.push_back(std::move(a));
    v.push_back(std::move(b));
    return v;
  }
  static std::vector<NodePtr> one(NodePtr a) {
    std::vector<NodePtr> v;
    v.push_back(std::move(a));
    return v;
  }
  static void note(std::vector<std::string>& list, std::string_view name) {
    if (std::find(list.begin(), list.end(), name) == list.end()) list.emplace_back(name);
  }
  [[nodiscard]] static bool is_signals(const Node& n) {
    return n.kind == Kind::kIdent && n.name == "signals";
  }

  // Guards every recursive descent so hostile nesting is refused, not a stack overflow.
  struct Nest {
    explicit Nest(Parser& p) : p_(p) { ++p_.nesting_; }
    ~Nest() { --p_.nesting_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;
    Parser& p_;
  };
  bool too_deep() {
    if (nesting_ <= kMaxNesting) return false;
    fail(tok_.pos,
         "expression nested deeper than the limit of " + std::to_string(kMaxNesting) + " levels");
    return true;
  }

  // --- grammar ------------------------------------------------------------------------------
  NodePtr expr() {
    Nest nest(*this);
    if (too_deep()) return nullptr;
    std::size_t pos = tok_.pos;
    NodePtr cond = binary_level(0);
    if (!cond || !is("?")) return cond;
    advance();
    NodePtr then = expr();
    if (!then || !expect(":")) return nullptr;
    NodePtr otherwise = expr();
    if (!otherwise) return nullptr;
    std::vector<NodePtr> args = pair(std::move(cond), std::move(then));
    args.push_back(std::move(otherwise));
    return make(Kind::kTernary, pos, std::move(args));
  }

  // Binary levels, loosest first: ||, &&, relations, additive, multiplicative.
  Kind binary_kind(int level) const {
    static constexpr std::pair<std::string_view, Kind> kOps[] = {
        {"||", Kind::kOr}, {"&&", Kind::kAnd}, {"<", Kind::kLt},  {"<=", Kind::kLe},
        {">", Kind::kGt},  {">=", Kind::kGe},  {"==", Kind::kEq}, {"!=", Kind::kNe},
        {"+", Kind::kAdd}, {"-", Kind::kSub},  {"*", Kind::kMul}, {"/", Kind::kDiv},
        {"%", Kind::kMod}};
    static constexpr int kLevel[] = {0, 1, 2, 2, 2, 2, 2, 2, 3, 3, 4, 4, 4};
    if (level == 2 && is_keyword("in")) return Kind::kIn;
    if (tok_.kind != Tok::kPunct) return Kind::kLiteral;
    for (std::size_t i = 0; i < std::size(kOps); ++i) {
      if (kLevel[i] == level && tok_.text == kOps[i].first) return kOps[i].second;
    }
    return Kind::kLiteral;  // not an operator of this level
  }

  NodePtr binary_level(int level) {
    if (level > 4) return unary();
    NodePtr left = binary_level(level + 1);
    while (left) {
      Kind kind = binary_kind(level);
      if (kind == Kind::kLiteral) break;
      std::size_t pos = tok_.pos;
      advance();
      NodePtr right = binary_level(level + 1);
      if (!right) return nullptr;
      left = make(kind, pos, pair(std::move(left), std::move(right)));
      if (left && kind == Kind::kIn) precompute_set(*left);
    }
    return left;
  }

  NodePtr unary() {
    if (!is("!") && !is("-")) return member();
    Nest nest(*this);
    if (too_deep()) return nullptr;
    std::size_t pos = tok_.pos;
    if (accept("!")) {
      NodePtr operand = unary();
      return operand ? make(Kind::kNot, pos, one(std::move(operand))) : nullptr;
    }
    if (!accept("-")) return member();
    // -9223372036854775808 is representable only as a whole literal.
    if (tok_.kind == Tok::kInt && tok_.int_value == uint64_t{1} << 63) {
      advance();
      return member_suffix(literal(Value(INT64_MIN), pos));
    }
    NodePtr operand = unary();
    if (!operand) return nullptr;
    if (operand->kind == Kind::kLiteral && operand->literal.is_double()) {
      operand->literal = Value(-operand->literal.as_double());
      spans(*operand, pos);
      return operand;
    }
    if (operand->kind == Kind::kLiteral && operand->literal.is_int() &&
        operand->literal.as_int() != INT64_MIN) {
      operand->literal = Value(-operand->literal.as_int());
      spans(*operand, pos);
      return operand;
    }
    return make(Kind::kNeg, pos, one(std::move(operand)));
  }

  NodePtr member() { return member_suffix(primary()); }

  NodePtr member_suffix(NodePtr node) {
    while (node) {
      std::size_t pos = tok_.pos;
      if (accept(".")) {
        if (tok_.kind != Tok::kIdent) return fail(tok_.pos, "expected a field name after '.'");
        std::string name(tok_.text);
        advance();
        if (is("(")) {
          node = method(std::move(node), name, pos);
          continue;
        }
        const bool signal = is_signals(*node);
        if (signal) note(signals_, name);
        node = make(Kind::kSelect, pos, one(std::move(node)));
        if (!node) return nullptr;
        if (signal) node->signal = SignalRegistry::builtin().slot(name);
        node->name = std::move(name);
      } else if (accept("[")) {
        NodePtr index = expr();
        if (!index || !expect("]")) return nullptr;
        if (is_signals(*node) && index->kind == Kind::kLiteral && index->literal.is_string()) {
          note(signals_, index->literal.as_string());
        }
        node = make(Kind::kIndex, pos, pair(std::move(node), std::move(index)));
      } else {
        break;
      }
    }
    return node;
  }

  NodePtr primary() {
    std::size_t pos = tok_.pos;
    switch (tok_.kind) {
      case Tok::kEnd:
        return fail(pos, "unexpected end of input");
      case Tok::kInt: {
        if (tok_.int_value > static_cast<uint64_t>(INT64_MAX)) {
          return fail(pos, "integer literal out of range");
        }
        auto v = static_cast<int64_t>(tok_.int_value);
        advance();
        return literal(Value(v), pos);
      }
      case Tok::kDouble: {
        double d = tok_.double_value;
        advance();
        return literal(Value(d), pos);
      }
      case Tok::kString: {
        std::string s = std::move(tok_.string_value);
        advance();
        return literal(Value(std::move(s)), pos);
      }
      case Tok::kIdent:
        return identifier();
      case Tok::kPunct:
        break;
    }
    if (accept("(")) {
      NodePtr inner = expr();
      if (!inner || !expect(")")) return nullptr;
      spans(*inner, pos);  // its text keeps the parentheses
      return inner;
    }
    if (accept("[")) return list(pos);
    return fail(pos, "unexpected " + describe());
  }

  NodePtr identifier() {
    std::size_t pos = tok_.pos;
    std::string name(tok_.text);
    advance();
    if (name == "true" || name == "false") return literal(Value(name == "true"), pos);
    if (name == "null") return literal(Value(), pos);
    if (name == "in") return fail(pos, "unexpected 'in'");
    if (is("(")) return global_call(name, pos);
    for (std::size_t i = locals_.size(); i-- > 0;) {
      if (locals_[i] == name) {
        NodePtr n = make(Kind::kLocal, pos);
        n->slot = static_cast<int>(i);
        return n;
      }
    }
    note(identifiers_, name);
    NodePtr n = make(Kind::kIdent, pos);
    n->slot = name == "signals" ? kBindSignals : name == "action" ? kBindAction : kBindOther;
    n->name = std::move(name);
    return n;
  }

  NodePtr list(std::size_t pos) {
    std::vector<NodePtr> items;
    bool all_literal = true;
    while (!is("]")) {
      NodePtr item = expr();
      if (!item) return nullptr;
      all_literal = all_literal && item->kind == Kind::kLiteral;
      items.push_back(std::move(item));
      if (!accept(",")) break;
    }
    if (!expect("]")) return nullptr;
    if (!all_literal) return make(Kind::kList, pos, std::move(items));
    List values;  // a literal list is built once, here, and borrowed at evaluation
    values.reserve(items.size());
    for (NodePtr& item : items) values.push_back(std::move(item->literal));
    return literal(Value(std::move(values)), pos);
  }

  static void precompute_set(Node& in) {
    const Node& rhs = *in.args[1];
    if (rhs.kind != Kind::kLiteral || !rhs.literal.is_list()) return;
    auto set = std::make_unique<LiteralSet>();
    for (const Value& v : rhs.literal.as_list()) {
      if (v.is_string()) {
        set->strings.insert(v.as_string());
      } else {
        set->others.push_back(&v);
      }
    }
    in.set = std::move(set);
  }

  // --- calls and macros ----------------------------------------------------------------------
  NodePtr arguments(std::vector<NodePtr>& args) {
    advance();  // '('
    while (!is(")")) {
      NodePtr arg = expr();
      if (!arg) return nullptr;
      args.push_back(std::move(arg));
      if (!accept(",")) break;
    }
    if (!expect(")")) return nullptr;
    return literal(Value(), 0);  // non-null: success
  }

  NodePtr global_call(const std::string& name, std::size_t pos);
  NodePtr method(NodePtr receiver, const std::string& name, std::size_t pos);
  NodePtr macro(NodePtr receiver, Kind kind, const std::string& name, std::size_t pos);
  NodePtr regex_node(NodePtr subject, NodePtr pattern, std::size_t pos);

  std::string_view src_;
  std::size_t pos_ = 0;
  std::size_t consumed_end_ = 0;
  Token tok_;
  std::string error_;
  int nesting_ = 0;
  std::vector<std::string> locals_;
  std::vector<std::string> signals_;
  std::vector<std::string> identifiers_;
};

NodePtr Parser::global_call(const std::string& name, std::size_t pos) {
  std::vector<NodePtr> args;
  if (!arguments(args)) return nullptr;
  auto arity = [&](std::size_t n) {
    if (args.size() == n) return true;
    fail(pos, name + "() takes " + std::to_string(n) + " argument" + (n == 1 ? "" : "s") +
                  ", got " + std::to_string(args.size()));
    return false;
  };
  if (name == "size") return arity(1) ? make(Kind::kSize, pos, std::move(args)) : nullptr;
  if (name == "glob") return arity(2) ? make(Kind::kGlob, pos, std::move(args)) : nullptr;
  if (name == "matches") {
    return arity(2) ? regex_node(std::move(args[0]), std::move(args[1]), pos) : nullptr;
  }
  if (name == "has") {
    if (!arity(1)) return nullptr;
    if (args[0]->kind != Kind::kSelect)
      return fail(pos, "has() needs a field selection like has(a.b)");
    NodePtr n = std::move(args[0]);
    n->kind = Kind::kHas;
    spans(*n, pos);
    return n;
  }
  return fail(pos, "unknown function '" + name + "'");
}

NodePtr Parser::method(NodePtr receiver, const std::string& name, std::size_t pos) {
  if (name == "exists") return macro(std::move(receiver), Kind::kExists, name, pos);
  if (name == "all") return macro(std::move(receiver), Kind::kAll, name, pos);
  if (name == "filter") return macro(std::move(receiver), Kind::kFilter, name, pos);
  std::vector<NodePtr> args;
  args.push_back(std::move(receiver));
  if (!arguments(args)) return nullptr;
  static constexpr std::pair<std::string_view, Kind> kMethods[] = {
      {"size", Kind::kSize},
      {"startsWith", Kind::kStartsWith},
      {"endsWith", Kind::kEndsWith},
      {"contains", Kind::kContains},
      {"matches", Kind::kMatches}};
  for (const auto& [method_name, kind] : kMethods) {
    if (name != method_name) continue;
    std::size_t want = kind == Kind::kSize ? 1 : 2;
    if (args.size() != want) {
      return fail(pos, name + "() takes " + std::to_string(want - 1) + " argument" +
                           (want == 2 ? "" : "s") + ", got " + std::to_string(args.size() - 1));
    }
    if (kind == Kind::kMatches) return regex_node(std::move(args[0]), std::move(args[1]), pos);
    return make(kind, pos, std::move(args));
  }
  return fail(pos, "unknown method '" + name + "'");
}

NodePtr Parser::macro(NodePtr receiver, Kind kind, const std::string& name, std::size_t pos) {
  advance();  // '('
  if (tok_.kind != Tok::kIdent) {
    return fail(tok_.pos, name + "() needs a variable name as its first argument");
  }
  std::string var(tok_.text);
  advance();
  if (!expect(",")) return nullptr;
  if (static_cast<int>(locals_.size()) >= kMaxLocals) return fail(pos, "too many nested macros");
  locals_.push_back(var);
  NodePtr predicate = expr();
  locals_.pop_back();
  if (!predicate || !expect(")")) return nullptr;
  NodePtr n = make(kind, pos, pair(std::move(receiver), std::move(predicate)));
  if (n) n->slot = static_cast<int>(locals_.size());
  return n;
}

NodePtr Parser::regex_node(NodePtr subject, NodePtr pattern, std::size_t pos) {
  if (pattern->kind != Kind::kLiteral || !pattern->literal.is_string()) {
    return fail(pos, "matches() needs a string literal pattern");
  }
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<RE2>(pattern->literal.as_string(), options);
  if (!re->ok()) return fail(pattern->column - 1, "invalid regular expression: " + re->error());
  NodePtr n = make(Kind::kMatches, pos, pair(std::move(subject), std::move(pattern)));
  if (n) n->regex = std::move(re);
  return n;
}

}  // namespace

Result<Compiled> parse(std::string_view source) {
  if (source.size() > kMaxSourceBytes) {
    return invalid_argument(at_column(0, "expression of " + std::to_string(source.size()) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(kMaxSourceBytes) + " bytes"));
  }
  return Parser(source).run();
}

}  // namespace stepgate::expr_detail
