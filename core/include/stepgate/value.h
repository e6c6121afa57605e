#pragma once
/// A JSON-like dynamic value: what actions' attributes, signals and expression results are made of.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace stepgate {

class Value;
using List = std::vector<Value>;
using Map = std::map<std::string, Value, std::less<>>;

/// A null, bool, 64-bit integer, double, string, list or string-keyed map (keys kept sorted).
class Value {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString, kList, kMap };

  Value() = default;
  Value(std::nullptr_t) {}                            // NOLINT
  Value(bool b) : v_(b) {}                            // NOLINT
  Value(int i) : v_(static_cast<int64_t>(i)) {}       // NOLINT
  Value(int64_t i) : v_(i) {}                         // NOLINT
  Value(uint64_t i) : v_(static_cast<int64_t>(i)) {}  // NOLINT
  Value(double d) : v_(d) {}                          // NOLINT
  Value(const char* s) : v_(std::string(s)) {}        // NOLINT
  Value(std::string s) : v_(std::move(s)) {}          // NOLINT
  Value(std::string_view s) : v_(std::string(s)) {}   // NOLINT
  Value(List l) : v_(std::move(l)) {}                 // NOLINT
  Value(Map m) : v_(std::move(m)) {}                  // NOLINT

  [[nodiscard]] Type type() const { return static_cast<Type>(v_.index()); }
  [[nodiscard]] bool is_null() const { return type() == Type::kNull; }
  [[nodiscard]] bool is_bool() const { return type() == Type::kBool; }
  [[nodiscard]] bool is_int() const { return type() == Type::kInt; }
  [[nodiscard]] bool is_double() const { return type() == Type::kDouble; }
  [[nodiscard]] bool is_number() const { return is_int() || is_double(); }
  [[nodiscard]] bool is_string() const { return type() == Type::kString; }
  [[nodiscard]] bool is_list() const { return type() == Type::kList; }
  [[nodiscard]] bool is_map() const { return type() == Type::kMap; }

  // Accessors assume the type was checked; they throw std::bad_variant_access otherwise.
  [[nodiscard]] bool as_bool() const { return std::get<bool>(v_); }
  [[nodiscard]] int64_t as_int() const { return std::get<int64_t>(v_); }
  [[nodiscard]] double as_double() const { return std::get<double>(v_); }
  /// The number as a double (int or double).
  [[nodiscard]] double as_number() const;
  [[nodiscard]] const std::string& as_string() const { return std::get<std::string>(v_); }
  [[nodiscard]] const List& as_list() const { return std::get<List>(v_); }
  [[nodiscard]] List& as_list() { return std::get<List>(v_); }
  [[nodiscard]] const Map& as_map() const { return std::get<Map>(v_); }
  [[nodiscard]] Map& as_map() { return std::get<Map>(v_); }

  /// Member of a map, or nullptr when this is not a map or has no such key.
  [[nodiscard]] const Value* find(std::string_view key) const;
  /// Member of a map, turning a null into an empty map first.
  Value& operator[](std::string_view key);

  /// String at key, or fallback when missing or not a string.
  [[nodiscard]] std::string get_string(std::string_view key, std::string_view fallback = {}) const;
  [[nodiscard]] int64_t get_int(std::string_view key, int64_t fallback = 0) const;
  [[nodiscard]] bool get_bool(std::string_view key, bool fallback = false) const;

  /// Deep equality; an int and a double compare by numeric value.
  friend bool operator==(const Value& a, const Value& b);
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

  /// "null", "bool", "int", "double", "string", "list", "map".
  static const char* type_name(Type t);

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, List, Map> v_;
};

namespace value_detail {
inline void put_all(Map& /*m*/) {}
template <typename K, typename V, typename... Rest>
void put_all(Map& m, K&& key, V&& value, Rest&&... rest) {
  m.try_emplace(std::string(std::forward<K>(key)), std::forward<V>(value));
  put_all(m, std::forward<Rest>(rest)...);
}
}  // namespace value_detail

/// A map built from keys and values given in turn, each value moved in when it is an rvalue:
/// `map_of("action", std::move(action), "uid", 1000)`. `Map{{"action", std::move(action)}}`
/// copies every value out of its initializer list (whose elements are const): a deep copy of
/// each nested map and list, twice for a map inside a map. As with the initializer list, the
/// first of two equal keys wins.
template <typename... Args>
[[nodiscard]] Map map_of(Args&&... args) {
  static_assert(sizeof...(Args) % 2 == 0, "map_of takes a value for every key");
  Map m;
  value_detail::put_all(m, std::forward<Args>(args)...);
  return m;
}

}  // namespace stepgate
