#pragma once
/// Private to the expression language: the compiled tree and the evaluation result type.

#include <re2/re2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "stepgate/expr.h"
#include "stepgate/limits.h"
#include "stepgate/value.h"

namespace stepgate::expr_detail {

/// Limits that keep hostile input from exhausting the stack or the CPU.
constexpr std::size_t kMaxSourceBytes = std::size_t{64} * 1024;
constexpr int kMaxNesting = kMaxNestingDepth;  // parentheses, brackets, calls, unary operators
constexpr int kMaxTreeDepth = 256;             // operator chains such as a + b + c + ...
constexpr int kMaxLocals = kMaxNesting;
constexpr int64_t kMaxMacroCost = 1'000'000;  // predicate nodes evaluated by macros, per call

enum class Kind : uint8_t {
  kLiteral,
  kIdent,
  kLocal,
  kList,
  kSelect,
  kIndex,
  kHas,
  kNot,
  kNeg,
  kAnd,
  kOr,
  kTernary,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kIn,
  kSize,
  kStartsWith,
  kEndsWith,
  kContains,
  kMatches,
  kGlob,
  kExists,
  kAll,
  kFilter,
};

/// What a kIdent names, resolved at parse time so evaluation compares no strings.
enum Binding : int { kBindOther = 0, kBindAction = 1, kBindSignals = 2 };

/// A literal list on the right of `in`, precomputed at compile time.
struct LiteralSet {
  std::unordered_set<std::string_view> strings;  // views into the node's literal
  std::vector<const Value*> others;
};

using NodePtr = std::unique_ptr<Node>;

struct Node {
  Kind kind = Kind::kLiteral;
  int column = 0;  // 1-based, where the construct starts
  int begin = 0;   // the source text of this subtree: bytes [begin, end), for `policy explain`
  int end = 0;
  int depth = 1;     // height of this subtree
  int64_t size = 1;  // nodes in this subtree: the cost of one evaluation, for macros
  int slot = 0;      // kLocal: the variable read; macros: the variable bound; kIdent: a Binding
  int signal = -1;   // kSelect of `signals.NAME`: NAME's SignalRegistry slot, -1 if undeclared
  Value literal;     // kLiteral
  std::string name;  // kIdent; kSelect / kHas field
  std::vector<NodePtr> args;
  std::unique_ptr<RE2> regex;       // kMatches
  std::unique_ptr<LiteralSet> set;  // kIn against a literal list
};

/// What a parse yields besides the tree.
struct Compiled {
  NodePtr root;
  std::vector<std::string> signals;
  std::vector<std::string> identifiers;
};

/// Parses and checks source; the error is "column N: message".
Result<Compiled> parse(std::string_view source);

/// Static type errors of the tree (expr_types.cpp); see Expression::type_errors.
std::vector<std::string> type_errors(const Node& root);

/// True when some use of the identifier `signals` under `root` is not `signals.NAME`,
/// `has(signals.NAME)` or `signals["NAME"]` (see reads_all_signals in signal_demand.h).
bool reads_whole_signals(const Node& root);

/// The two bool values, shared: a bool result borrows one instead of owning a Value.
extern const Value kTrueValue;
extern const Value kFalseValue;

/// An intermediate result: a borrowed pointer into the activation or the tree (no copy), an
/// owned value, or an error message. Small on purpose (a state, a pointer, one Value): every node
/// evaluated makes one, so its construction and destruction are most of an evaluation's cost.
class Ev {
 public:
  static Ev borrow(const Value* v) {
    Ev e;
    e.state_ = State::kBorrowed;
    e.ptr_ = v;
    return e;
  }
  static Ev own(Value v) {
    Ev e;
    e.owned_ = std::move(v);
    return e;
  }
  /// A bool result, borrowing the shared constant (nothing owned, nothing to destroy).
  static Ev boolean(bool b) { return borrow(b ? &kTrueValue : &kFalseValue); }
  static Ev fail(std::string message) {
    Ev e;
    e.state_ = State::kError;
    e.owned_ = Value(std::move(message));
    return e;
  }
  [[nodiscard]] bool is_error() const { return state_ == State::kError; }
  [[nodiscard]] bool is_owned() const { return state_ == State::kOwned; }
  [[nodiscard]] const Value& value() const { return state_ == State::kBorrowed ? *ptr_ : owned_; }
  /// The owned value, for moving parts out of it (only when is_owned()).
  Value& owned() { return owned_; }
  /// The error message (only when is_error()).
  [[nodiscard]] const std::string& error() const { return owned_.as_string(); }
  /// The value, copied when borrowed. (Not a ?: — its `const Value` result would copy owned_.)
  Value take() && {
    if (state_ == State::kBorrowed) return *ptr_;
    return std::move(owned_);
  }

 private:
  enum class State : uint8_t { kBorrowed, kOwned, kError };
  State state_ = State::kOwned;
  const Value* ptr_ = nullptr;
  Value owned_;
};

/// Per-evaluation state: the activation, the macro variables in scope and the macro budget.
struct Frame {
  const Value* activation = nullptr;  // a map of identifiers, or
  const Activation* bound = nullptr;  // the engine's bindings
  const Value* locals[kMaxLocals];    // NOLINT: filled as macros bind them
  int64_t budget = kMaxMacroCost;
};

/// Evaluates one node.
Ev eval(const Node& node, Frame& frame);

/// Operators and functions on evaluated operands (expr_ops.cpp).
/// `left` may be moved from (list and string concatenation reuse it).
Ev apply_binary(Kind kind, const Node& node, Ev& left, const Ev& right);
Ev apply_call(const Node& node, const Ev& receiver, const Value* arg);
Ev type_error(std::string_view what, const Value& a, const Value& b);

/// The operator or function a node applies to its operands ("+", "size()"...); "" for a leaf
/// (a literal, an identifier or a member access). Type errors and `policy explain` both name it.
const char* op_name(Kind kind);

}  // namespace stepgate::expr_detail
