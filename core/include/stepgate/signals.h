#pragma once
/// The signal registry: every collector declares the signals it provides, in one place.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "stepgate/result.h"
#include "stepgate/value.h"

namespace stepgate {

enum class SignalType { kBool, kInt, kDouble, kString, kStringList, kList };

/// "bool", "int", "double", "string", "list<string>", "list".
const char* signal_type_name(SignalType type);

/// A declared signal: name (without the `signals.` prefix), type, one-line meaning, the
/// collector that provides it, and the action kinds (globs) it is provided for.
struct SignalSpec {
  std::string name;
  SignalType type;
  std::string meaning;
  std::string collector;
  std::vector<std::string> kinds;
};

/// All signals every collector in stepgate declares (common, git, ci, tool...).
class SignalRegistry {
 public:
  /// The built-in registry (immutable, built once).
  static const SignalRegistry& builtin();

  [[nodiscard]] const std::vector<SignalSpec>& all() const { return specs_; }
  /// The spec for a name, or nullptr.
  [[nodiscard]] const SignalSpec* find(std::string_view name) const;
  /// Whether `name` is provided for some action kind matched by the kind glob `kind_pattern`
  /// (a rule's `on`). "*" matches every declared signal.
  [[nodiscard]] bool provided_for(std::string_view name, std::string_view kind_pattern) const;
  /// Signals provided for a concrete kind.
  [[nodiscard]] std::vector<const SignalSpec*> for_kind(std::string_view kind) const;
  /// The signal's slot: a dense index (below slot_count()) fixed for the registry's lifetime, so
  /// compiled expressions read `signals.NAME` from a vector instead of a map. -1 when undeclared.
  [[nodiscard]] int slot(std::string_view name) const;
  [[nodiscard]] std::size_t slot_count() const { return specs_.size(); }

  /// Checks signal values given from outside (`eval --signals`): every name declared, every value
  /// of its declared type (an int where a double is declared is accepted). kInvalidArgument
  /// naming the signal and both types.
  [[nodiscard]] Status check_values(const Value& signals) const;

  void add(SignalSpec spec);

 private:
  std::vector<SignalSpec> specs_;
  std::map<std::string, int, std::less<>> slots_;  // name -> index of its first spec
};

/// The default value of a type (false, 0, 0.0, "", []), used so every declared signal is present.
Value default_signal_value(SignalType type);

}  // namespace stepgate
