#pragma once
/// The policy expression language: a small, safe subset of CEL, compiled once.
///
/// Grammar: literals (null, true, false, ints, doubles, "strings" and 'strings' with escapes),
/// lists [a, b], member access a.b, index a[i] / a["k"], unary ! and -, binary * / % + - < <= >
/// >= == != in && ||, and c ? a : b. Functions: size(x) / x.size(), s.startsWith(p),
/// s.endsWith(p), s.contains(p) (also list.contains(v)), s.matches(re) (RE2; the pattern must be
/// a literal and is compiled at load), glob(s, pattern), has(a.b), and the macros
/// list.exists(x, pred), list.all(x, pred), list.filter(x, pred).
///
/// Semantics, CEL-like:
///  - A missing map key (`signals.nope`) evaluates to an error value "no such key"; use has() to
///    test presence. Errors propagate; `&&` and `||` absorb them when the other side decides
///    (false && err == false, true || err == true).
///  - Comparing or combining mismatched types (`"a" < 1`) is an error value; int and double
///    compare numerically. Integer overflow and division by zero are error values.
///  - A rule whose `when` ends in an error is reported in the decision; the engine counts it as
///    matched when the rule has an effect (step_up, deny: fail closed), else as not matched.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stepgate/result.h"
#include "stepgate/value.h"

namespace stepgate {

namespace expr_detail {
struct Node;
}

/// What the engine binds for one evaluation, by pointer: nothing is copied per decision.
struct Activation {
  const Value* action = nullptr;   // `action`; nullptr when no rule reads it
  const Value* signals = nullptr;  // `signals`: the collected map
  /// `signals.NAME` by SignalRegistry::builtin() slot (nullptr: not collected); may be nullptr,
  /// then names are looked up in `signals`.
  const Value* const* signal_slots = nullptr;
};

/// One sub-expression and what it evaluated to, for `policy explain` (Expression::trace).
struct ExpressionTrace {
  std::string source;  // its text, as written
  /// How `parts` combine: an operator ("&&", "||", "==", "in", "!", "?:"...) or a function
  /// ("size()", "startsWith()", "exists()"...); "" for a leaf.
  std::string op;
  bool evaluated = true;               // false for a macro's predicate, which depends on each item
  Value value;                         // when evaluated and not an error
  std::string error;                   // the error value's message, when it evaluated to one
  std::vector<std::string> signals;    // NAME for each signals.NAME it reads
  std::vector<ExpressionTrace> parts;  // its operands that are not literals (flattened for && ||)
};

/// A compiled expression: immutable, cheap to copy, safe to evaluate from many threads.
class Expression {
 public:
  /// Compiles source text. The error message is "column N: what went wrong".
  static Result<Expression> compile(std::string_view source);

  /// Evaluates against an activation: a map whose keys are the top-level identifiers
  /// (the engine passes `action` and `signals`). An unknown identifier is an error value.
  [[nodiscard]] Result<Value> evaluate(const Value& activation) const;

  /// Evaluates and requires a bool result (a non-bool is an error value).
  [[nodiscard]] Result<bool> evaluate_bool(const Value& activation) const;

  /// Same against the engine's bindings: `signals.NAME` is read from its registry slot, resolved
  /// when the expression was compiled, not looked up by name.
  [[nodiscard]] Result<bool> evaluate_bool(const Activation& activation) const;

  /// The tree of its sub-expressions, each evaluated on its own against `activation`, down to
  /// `max_depth` levels (deeper parts are leaves). For a person reading: each part is evaluated
  /// again, not for the request path.
  [[nodiscard]] ExpressionTrace trace(const Value& activation, int max_depth) const;

  /// The source text it was compiled from.
  [[nodiscard]] const std::string& source() const { return source_; }

  /// Names N used as `signals.N` (or `signals["N"]`), for `policy lint`.
  [[nodiscard]] const std::vector<std::string>& referenced_signals() const { return signals_; }

  /// Top-level identifiers the expression reads (e.g. "action", "signals").
  [[nodiscard]] const std::vector<std::string>& identifiers() const { return identifiers_; }

  /// Static type errors against the signal registry's declared types, each "column N: what"
  /// (`signals.force == "yes"`, `size(signals.secrets) > "a"`, a `when` that is not a bool).
  /// Empty when every certain type fits; unknown types (map fields, macro variables) are accepted.
  [[nodiscard]] std::vector<std::string> type_errors() const;

  /// Whether it reads the signals map other than as `signals.NAME`, `signals["NAME"]` or
  /// `has(signals.NAME)` (decided once, at compile time; see signal_demand.h).
  [[nodiscard]] bool reads_all_signals() const { return reads_all_signals_; }

 private:
  std::shared_ptr<const expr_detail::Node> root_;
  std::string source_;
  std::vector<std::string> signals_;
  std::vector<std::string> identifiers_;
  bool reads_all_signals_ = false;
};

}  // namespace stepgate
