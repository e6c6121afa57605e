#include <yaml-cpp/anchor.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>

#include <map>

#include "policy_yaml.h"
#include "yaml_stream.h"

namespace stepgate::policy_detail {
namespace {

const char* node_kind(const Node& node) {
  switch (node.kind()) {
    case Node::Kind::kNull:
      return "null";
    case Node::Kind::kScalar:
      return "a scalar";
    case Node::Kind::kSequence:
      return "a list";
    case Node::Kind::kMap:
      return "a map";
    case Node::Kind::kUndefined:
      return "nothing";
  }
  return "nothing";
}

const Node& undefined_node() {
  static const Node undefined;
  return undefined;
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

Node Node::scalar(std::string text, int line, int column) {
  Node node(Kind::kScalar, line, column);
  node.text_ = std::move(text);
  return node;
}

namespace {

/// Builds the tree from the parser's events (which stream_yaml_limited has already held to the
/// limits), with an explicit stack instead of recursion. The same tree from_yaml(YAML::Load(...))
/// gave: positions from the events, duplicate keys kept in order, an alias a copy of its node.
class TreeBuilder : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& /*mark*/) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    done(Node(Node::Kind::kNull, mark.line, mark.column), anchor);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                const std::string& value) override {
    done(Node::scalar(value, mark.line, mark.column), anchor);
  }
  void OnAlias(const YAML::Mark& /*mark*/, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    done(it != anchors_.end() ? it->second : Node(Node::Kind::kNull), YAML::NullAnchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    open_.push_back(Open{Node(Node::Kind::kSequence, mark.line, mark.column), anchor, {}, false});
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    open_.push_back(Open{Node(Node::Kind::kMap, mark.line, mark.column), anchor, {}, false});
  }
  void OnMapEnd() override { close(); }

  /// The document's root; null (no position) for a document with no node, as YAML::Load gives.
  Node take() { return root_.is_defined() ? std::move(root_) : Node(Node::Kind::kNull); }

 private:
  struct Open {
    Node node;
    YAML::anchor_t anchor;
    Node key;  // a map's key waiting for its value
    bool has_key;
  };

  void close() {
    if (open_.empty()) return;
    Open finished = std::move(open_.back());
    open_.pop_back();
    done(std::move(finished.node), finished.anchor);
  }
  void done(Node node, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = node;
    if (open_.empty()) {
      root_ = std::move(node);
      return;
    }
    Open& top = open_.back();
    if (top.node.is_sequence()) {
      top.node.push_back(std::move(node));
    } else if (!top.has_key) {
      top.key = std::move(node);
      top.has_key = true;
    } else {
      top.node.add(std::move(top.key), std::move(node));
      top.key = Node();
      top.has_key = false;
    }
  }

  std::vector<Open> open_;
  std::map<YAML::anchor_t, Node> anchors_;
  Node root_;
};

}  // namespace

Result<Node> Node::from_yaml(std::string_view text, const std::string& file) {
  TreeBuilder builder;
  if (Status s = stream_yaml_limited(text, file, &builder); !s.ok()) return s.error();
  return builder.take();
}

const Node& Node::operator[](std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.first.is_scalar() && entry.first.text_ == key) return entry.second;
  }
  return undefined_node();
}

const Node& Node::operator[](std::size_t index) const {
  return index < items_.size() ? items_[index] : undefined_node();
}

Error Reader::error_at(int line, int column, const std::string& message) const {
  return invalid_argument(file_ + ":" + std::to_string(line < 0 ? 0 : line + 1) + ":" +
                          std::to_string(column < 0 ? 0 : column + 1) + ": " + message);
}

Error Reader::error_at(const Node& node, const std::string& message) const {
  return error_at(node.line(), node.column(), message);
}

SourceLocation Reader::location(const Node& node) {
  return SourceLocation{node.line() < 0 ? 0 : node.line() + 1,
                        node.column() < 0 ? 0 : node.column() + 1};
}

bool Reader::check_map(const Node& node, std::string_view section,
                       std::initializer_list<std::string_view> allowed, Errors& errors) const {
  if (!node.is_map()) {
    errors.push_back(
        error_at(node, "`" + std::string(section) + "` must be a map, not " + node_kind(node)));
    return false;
  }
  const std::vector<Node::Entry>& entries = node.entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Node& key = entries[i].first;
    if (!key.is_scalar()) {
      errors.push_back(error_at(key, "keys in `" + std::string(section) + "` must be strings"));
      continue;
    }
    const std::string& name = key.text();
    bool known = false;
    for (std::string_view a : allowed) known = known || a == name;
    if (!known) {
      errors.push_back(error_at(key, "unknown key `" + name + "` in `" + std::string(section) +
                                         "` (expected one of: " + join(allowed) + ")"));
      continue;
    }
    // Maps in a policy are small: a scan of the keys before this one allocates nothing.
    for (std::size_t j = 0; j < i; ++j) {
      if (entries[j].first.text() == name) {
        errors.push_back(
            error_at(key, "duplicate key `" + name + "` in `" + std::string(section) + "`"));
        break;
      }
    }
  }
  return true;
}

Status Reader::read_string(const Node& map, const char* key, std::string& out) const {
  const Node& v = map[key];
  if (!v) return {};
  if (!v.is_scalar())
    return error_at(v, std::string("key `") + key + "`: must be a string, not " + node_kind(v));
  out = v.text();
  return {};
}

Status Reader::read_bool(const Node& map, const char* key, bool& out) const {
  const Node& v = map[key];
  if (!v) return {};
  if (v.is_scalar() && (v.text() == "true" || v.text() == "false")) {
    out = v.text() == "true";
    return {};
  }
  return error_at(v, std::string("key `") + key + "`: must be true or false");
}

Status Reader::read_int(const Node& map, const char* key, int64_t& out) const {
  const Node& v = map[key];
  if (!v) return {};
  const std::string text = v.is_scalar() ? v.text() : std::string();
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

Status Reader::read_positive_int(const Node& map, const char* key, int& out) const {
  int64_t value = out;
  if (Status s = read_int(map, key, value); !s.ok()) return s;
  if (value <= 0 || value > 1000000) {
    return error_at(map[key], std::string("key `") + key + "`: must be a positive integer");
  }
  out = static_cast<int>(value);
  return {};
}

Status Reader::read_duration(const Node& map, const char* key, std::chrono::seconds& out) const {
  const Node& v = map[key];
  if (!v) return {};
  if (!v.is_scalar())
    return error_at(v, std::string("key `") + key + "`: must be a duration like 15m");
  Result<std::chrono::seconds> d = parse_duration(v.text());
  if (!d.ok()) return error_at(v, std::string("key `") + key + "`: " + d.error().message);
  out = *d;
  return {};
}

Status Reader::read_string_list(const Node& map, const char* key,
                                std::vector<std::string>& out) const {
  const Node& v = map[key];
  if (!v) return {};
  if (!v.is_sequence())
    return error_at(v, std::string("key `") + key + "`: must be a list of strings");
  std::vector<std::string> items;
  for (const Node& item : v.items()) {
    if (!item.is_scalar())
      return error_at(item, std::string("key `") + key + "`: items must be strings");
    items.push_back(item.text());
  }
  out = std::move(items);
  return {};
}

Status Reader::read_mode(const Node& map, Mode& out) const {
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

bool Reader::read_requirement(const Node& map, const char* section, Requirement& out,
                              Errors& errors) const {
  const Node& node = map[section];
  if (!node) return true;
  const std::size_t before = errors.size();
  if (!check_map(node, section, {"method", "max_age", "approvers"}, errors)) return false;
  std::string method;
  keep(errors, read_string(node, "method", method));
  if (method == "totp") {
    out.method = StepUpMethod::kTotp;
  } else if (method == "approval") {
    out.method = StepUpMethod::kApproval;
  } else if (!method.empty()) {
    errors.push_back(
        error_at(node["method"], "key `method`: must be totp or approval, not \"" + method + "\""));
  }
  keep(errors, read_duration(node, "max_age", out.max_age));
  keep(errors, read_positive_int(node, "approvers", out.approvers));
  return errors.size() == before;
}

}  // namespace stepgate::policy_detail
