#include "stepgate/value.h"

namespace stepgate {

double Value::as_number() const {
  return is_int() ? static_cast<double>(as_int()) : as_double();
}

const Value* Value::find(std::string_view key) const {
  if (!is_map()) return nullptr;
  const Map& m = as_map();
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

Value& Value::operator[](std::string_view key) {
  if (is_null()) v_ = Map{};
  Map& m = as_map();
  auto it = m.find(key);
  if (it == m.end()) it = m.emplace(std::string(key), Value()).first;
  return it->second;
}

std::string Value::get_string(std::string_view key, std::string_view fallback) const {
  const Value* v = find(key);
  return v != nullptr && v->is_string() ? v->as_string() : std::string(fallback);
}

int64_t Value::get_int(std::string_view key, int64_t fallback) const {
  const Value* v = find(key);
  if (v == nullptr) return fallback;
  if (v->is_int()) return v->as_int();
  if (v->is_double()) {
    // Outside int64_t's range (or NaN) the conversion is undefined behaviour: no usable integer.
    const double d = v->as_double();
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return fallback;
    return static_cast<int64_t>(d);
  }
  return fallback;
}

bool Value::get_bool(std::string_view key, bool fallback) const {
  const Value* v = find(key);
  return v != nullptr && v->is_bool() ? v->as_bool() : fallback;
}

bool operator==(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
    return a.as_number() == b.as_number();
  }
  return a.v_ == b.v_;
}

const char* Value::type_name(Type t) {
  switch (t) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kDouble:
      return "double";
    case Type::kString:
      return "string";
    case Type::kList:
      return "list";
    case Type::kMap:
      return "map";
  }
  return "null";
}

}  // namespace stepgate
