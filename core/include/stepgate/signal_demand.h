#pragma once
/// The engine–collector contract: which signals the loaded rules read, so a collector computes
/// only those (no secret scan when no rule reads `signals.secrets`).

#include <string>
#include <string_view>
#include <vector>

#include "stepgate/engine.h"
#include "stepgate/expr.h"

namespace stepgate {

class LayeredEngine;

/// Which signals the rules for an action kind read.
struct SignalDemand {
  bool all = false;                // some rule reads the whole signals map
  std::vector<std::string> names;  // otherwise: the names read, sorted and unique
  /// Whether the signal `name` is read (always true when `all`).
  [[nodiscard]] bool wants(std::string_view name) const;
};

/// The signals the rules of `engine`'s policy that apply to `kind` read. A front-end passes it
/// to its collectors. Thread-safe.
SignalDemand signals_read(const Engine& engine, std::string_view kind);

/// Same for every layer of a layered engine (the union: a signal any layer reads is collected).
SignalDemand signals_read(const LayeredEngine& engine, std::string_view kind);

/// True when `expression` reads the signals map other than as `signals.NAME`,
/// `signals["NAME"]` or `has(signals.NAME)` (e.g. `size(signals)`, `signals[expr]`): then every
/// signal may matter. Decided from the expression's syntax tree, not its text.
bool reads_all_signals(const Expression& expression);

}  // namespace stepgate
