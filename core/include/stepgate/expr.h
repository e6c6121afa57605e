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
///  - A rule whose `when` ends in an error does not match, and the decision reports the error.

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

  /// The source text it was compiled from.
  [[nodiscard]] const std::string& source() const { return source_; }

  /// Names N used as `signals.N` (or `signals["N"]`), for `policy lint`.
  [[nodiscard]] const std::vector<std::string>& referenced_signals() const { return signals_; }

  /// Top-level identifiers the expression reads (e.g. "action", "signals").
  [[nodiscard]] const std::vector<std::string>& identifiers() const { return identifiers_; }

  /// Whether it reads the signals map other than by static name (see reads_all_signals in
  /// signal_demand.h); decided from the syntax tree once, when it compiles.
  [[nodiscard]] bool reads_all_signals() const { return reads_all_signals_; }

 private:
  std::shared_ptr<const expr_detail::Node> root_;
  std::string source_;
  std::vector<std::string> signals_;
  std::vector<std::string> identifiers_;
  bool reads_all_signals_ = false;
};

}  // namespace stepgate
