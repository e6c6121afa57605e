#include <set>

#include "policy_yaml.h"

namespace stepgate::policy_detail {
namespace {

const char* node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

std::string join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (std::string_view s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

}  // namespace

Error Reader::error_at(const YAML::Mark& mark, const std::string& message) const {
  const int line = mark.line < 0 ? 0 : mark.line + 1;
  const int column = mark.column < 0 ? 0 : mark.column + 1;
  return invalid_argument(file_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                          message);
}

Error Reader::error_at(const YAML::Node& node, const std::string& message) const {
  return error_at(node.Mark(), message);
}

SourceLocation Reader::location(const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  return SourceLocation{m.line < 0 ? 0 : m.line + 1, m.column < 0 ? 0 : m.column + 1};
}

Status Reader::check_map(const YAML::Node& node, std::string_view section,
                         std::initializer_list<std::string_view> allowed) const {
  if (!node.IsMap()) {
    return error_at(node, "`" + std::string(section) + "` must be a map, not " + node_kind(node));
  }
  std::set<std::string, std::less<>> seen;
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar())
      return error_at(key, "keys in `" + std::string(section) + "` must be strings");
    const std::string& name = key.Scalar();
    bool known = false;
    for (std::string_view a : allowed) known = known || a == name;
    if (!known) {
      return error_at(key, "unknown key `" + name + "` in `" + std::string(section) +
                               "` (expected one of: " + join(allowed) + ")");
    }
    if (!seen.insert(name).second) {
      return error_at(key, "duplicate key `" + name + "` in `" + std::string(section) + "`");
    }
  }
  return {};
}

Status Reader::read_string(const YAML::Node& map, const char* key, std::string& out) const {
  const YAML::Node v = map[key];
  if (!v) return {};
  if (!v.IsScalar())
    return error_at(v, std::string("key `") + key + "`: must be a string, not " + node_kind(v));
  out = v.Scalar();
  return {};
}

Status Reader::read_bool(const YAML::Node& map, const char* key, bool& out) const {
  const YAML::Node v = map[key];
  if (!v) return {};
  if (v.IsScalar() && (v.Scalar() == "true" || v.Scalar() == "false")) {
    out = v.Scalar() == "true";
    return {};
  }
  return error_at(v, std::string("key `") + key + "`: must be true or false");
}

Status Reader::read_int(const YAML::Node& map, const char* key, int64_t& out) const {
  const YAML::Node v = map[key];
  if (!v) return {};
  const std::string text = v.IsScalar() ? v.Scalar() : std::string();
  bool digits = !text.empty();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    digits = digits && ((c >= '0' && c <= '9') || (i == 0 && c == '-' && text.size() > 1));
  }
  if (!digits || text.size() > 18) {
    return error_at(v, std::string("key `") + key + "`: must be an integer, not \"" + text + "\"");
  }
  out = std::stoll(text);
  return {};
}

Status Reader::read_positive_int(const YAML::Node& map, const char* key, int& out) const {
  int64_t value = out;
  if (Status s = read_int(map, key, value); !s.ok()) return s;
  if (value <= 0 || value > 1000000) {
    return error_at(map[key], std::string("key `") + key + "`: must be a positive integer");
  }
  out = static_cast<int>(value);
  return {};
}

Status Reader::read_duration(const YAML::Node& map, const char* key,
                             std::chrono::seconds& out) const {
  const YAML::Node v = map[key];
  if (!v) return {};
  if (!v.IsScalar())
    return error_at(v, std::string("key `") + key + "`: must be a duration like 15m");
  Result<std::chrono::seconds> d = parse_duration(v.Scalar());
  if (!d.ok()) return error_at(v, std::string("key `") + key + "`: " + d.error().message);
  out = *d;
  return {};
}

Status Reader::read_string_list(const YAML::Node& map, const char* key,
                                std::vector<std::string>& out) const {
  const YAML::Node v = map[key];
  if (!v) return {};
  if (!v.IsSequence())
    return error_at(v, std::string("key `") + key + "`: must be a list of strings");
  std::vector<std::string> items;
  for (const YAML::Node& item : v) {
    if (!item.IsScalar())
      return error_at(item, std::string("key `") + key + "`: items must be strings");
    items.push_back(item.Scalar());
  }
  out = std::move(items);
  return {};
}

Status Reader::read_mode(const YAML::Node& map, Mode& out) const {
  std::string text;
  if (Status s = read_string(map, "mode", text); !s.ok() || text.empty()) return s;
  if (text == "enforce")
    out = Mode::kEnforce;
  else if (text == "shadow")
    out = Mode::kShadow;
  else
    return error_at(map["mode"], "key `mode`: must be enforce or shadow, not \"" + text + "\"");
  return {};
}

Status Reader::read_requirement(const YAML::Node& map, const char* section,
                                Requirement& out) const {
  const YAML::Node node = map[section];
  if (!node) return {};
  if (Status s = check_map(node, section, {"method", "max_age", "approvers"}); !s.ok()) return s;
  std::string method;
  if (Status s = read_string(node, "method", method); !s.ok()) return s;
  if (method == "totp")
    out.method = StepUpMethod::kTotp;
  else if (method == "approval")
    out.method = StepUpMethod::kApproval;
  else if (!method.empty()) {
    return error_at(node["method"],
                    "key `method`: must be totp or approval, not \"" + method + "\"");
  }
  if (Status s = read_duration(node, "max_age", out.max_age); !s.ok()) return s;
  return read_positive_int(node, "approvers", out.approvers);
}

}  // namespace stepgate::policy_detail
