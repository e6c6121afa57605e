#pragma once
/// An Action: what is about to happen, and its digest.

#include <string>
#include <string_view>

#include "stepgate/json.h"
#include "stepgate/result.h"
#include "stepgate/value.h"

namespace stepgate {

/// What is about to happen: kind (`git.push`, `model.deploy`, `tool.call`, any dotted name),
/// actor (who), resource (what it touches), attributes (kind-specific details, a map).
struct Action {
  std::string kind;
  std::string actor;
  std::string resource;
  Value attributes = Map{};
};

/// {"actor":..,"attributes":..,"kind":..,"resource":..} as a Value.
Value action_to_value(const Action& action);

/// Canonical JSON (sorted keys, compact): identical actions give identical text.
std::string canonical_json(const Action& action);

/// SHA-256 (lowercase hex) of the canonical JSON: what approvals bind to.
std::string action_digest(const Action& action);

/// Parses an action from JSON text. Errors name the field: `kind` must be a non-empty dotted name,
/// `actor`/`resource` strings, `attributes` a map; unknown top-level keys are rejected.
Result<Action> parse_action(std::string_view json_text, const JsonLimits& limits = {});
Result<Action> action_from_value(const Value& value);
/// The same, moving the attributes out of value instead of copying them.
Result<Action> action_from_value(Value&& value);

/// True when `kind` is a dotted lower-case name like `git.push` or `db.migrate`.
bool is_valid_kind(std::string_view kind);

}  // namespace stepgate
