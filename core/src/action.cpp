#include "stepgate/action.h"

#include "stepgate/crypto.h"

namespace stepgate {
namespace {

bool is_kind_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

Status require_string(const Value& value, std::string_view field, std::string& out) {
  const Value* v = value.find(field);
  if (v == nullptr) {
    if (field == "kind") return invalid_argument("action: missing field `kind`");
    return {};
  }
  if (!v->is_string()) {
    return invalid_argument("action: field `" + std::string(field) + "` must be a string, not " +
                            Value::type_name(v->type()));
  }
  out = v->as_string();
  return {};
}

}  // namespace

bool is_valid_kind(std::string_view kind) {
  if (kind.empty() || kind.size() > 128) return false;
  bool segment_start = true;
  for (char c : kind) {
    if (c == '.') {
      if (segment_start) return false;  // empty segment
      segment_start = true;
      continue;
    }
    if (!is_kind_char(c)) return false;
    if (segment_start && !(c >= 'a' && c <= 'z')) return false;
    segment_start = false;
  }
  return !segment_start;
}

Value action_to_value(const Action& action) {
  Map m;
  m.emplace("actor", Value(action.actor));
  m.emplace("attributes", action.attributes.is_null() ? Value(Map{}) : action.attributes);
  m.emplace("kind", Value(action.kind));
  m.emplace("resource", Value(action.resource));
  return {std::move(m)};
}

std::string canonical_json(const Action& action) {
  // The bytes of to_json(action_to_value(action)), keys in the same (sorted) order, written
  // without copying the attributes into a new map first (that copy was half of a digest's work).
  std::string out;
  out.reserve(64 + action.kind.size() + action.actor.size() + action.resource.size());
  out += "{\"actor\":";
  append_json_string(out, action.actor);
  out += ",\"attributes\":";
  if (action.attributes.is_null()) {
    out += "{}";
  } else {
    append_json(out, action.attributes);
  }
  out += ",\"kind\":";
  append_json_string(out, action.kind);
  out += ",\"resource\":";
  append_json_string(out, action.resource);
  out += '}';
  return out;
}

std::string action_digest(const Action& action) {
  return sha256_hex(canonical_json(action));
}

namespace {

/// The action in value, checked, with its attributes left where they are (the callers copy or
/// move them).
Result<Action> action_fields(const Value& value) {
  if (!value.is_map()) {
    return invalid_argument(std::string("action: must be a JSON object, not ") +
                            Value::type_name(value.type()));
  }
  for (const auto& [key, _] : value.as_map()) {
    if (key != "kind" && key != "actor" && key != "resource" && key != "attributes") {
      return invalid_argument("action: unknown field `" + key +
                              "` (expected one of: kind, actor, resource, attributes)");
    }
  }
  Action action;
  for (auto [field, out] : {std::pair{"kind", &action.kind}, std::pair{"actor", &action.actor},
                            std::pair{"resource", &action.resource}}) {
    if (Status s = require_string(value, field, *out); !s.ok()) return s.error();
  }
  if (!is_valid_kind(action.kind)) {
    return invalid_argument(
        "action: field `kind` must be a dotted lower-case name like git.push, not \"" +
        action.kind + "\"");
  }
  if (const Value* attrs = value.find("attributes"); attrs != nullptr && !attrs->is_null()) {
    if (!attrs->is_map()) {
      return invalid_argument(std::string("action: field `attributes` must be an object, not ") +
                              Value::type_name(attrs->type()));
    }
  }
  return action;
}

}  // namespace

Result<Action> action_from_value(const Value& value) {
  Result<Action> action = action_fields(value);
  if (!action.ok()) return action;
  if (const Value* attrs = value.find("attributes"); attrs != nullptr && !attrs->is_null()) {
    action->attributes = *attrs;
  }
  return action;
}

Result<Action> action_from_value(Value&& value) {
  Result<Action> action = action_fields(value);
  if (!action.ok()) return action;
  if (auto it = value.as_map().find("attributes"); it != value.as_map().end()) {
    if (!it->second.is_null()) action->attributes = std::move(it->second);
  }
  return action;
}

Result<Action> parse_action(std::string_view json_text, const JsonLimits& limits) {
  Result<Value> parsed = parse_json(json_text, limits);
  if (!parsed.ok()) {
    Error e = parsed.error();
    e.message = "action: " + e.message;
    return e;
  }
  return action_from_value(*parsed);
}

}  // namespace stepgate
