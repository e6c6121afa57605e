#pragma once
// Private to the policy loader: the policy document as a small tree of its own, and a strict
// reader over it whose errors carry FILE:LINE:COLUMN. yaml-cpp's event parser builds this tree in
// one pass under the YAML limits (policy_reader.cpp); the parsed-policy cache rebuilds the same
// tree from JSON without yaml-cpp, which costs a fraction of building yaml-cpp nodes (each one a
// shared memory holder). yaml-cpp types never leave core/src.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stepgate/policy.h"
#include "stepgate/result.h"

namespace stepgate::policy_detail {

/// One node of the document: a scalar (as written), a list, a map (key order kept, duplicate
/// keys too, so the reader can name them), null, or undefined (a key that is not there). Line
/// and column are 0-based as yaml-cpp gives them, -1 when unknown (a tree from the cache).
class Node {
 public:
  enum class Kind : uint8_t { kUndefined, kNull, kScalar, kSequence, kMap };
  using Entry = std::pair<Node, Node>;

  Node() = default;
  explicit Node(Kind kind, int line = -1, int column = -1)
      : kind_(kind), line_(line), column_(column) {}
  static Node scalar(std::string text, int line = -1, int column = -1);
  /// The tree of the first YAML document in `text`, with positions, read in one pass under the
  /// limits of check_yaml_limits (an alias is a copy of its anchor's node). Errors as
  /// check_yaml_limits ("FILE:LINE:COL: ...").
  static Result<Node> from_yaml(std::string_view text, const std::string& file);

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] bool is_defined() const { return kind_ != Kind::kUndefined; }
  [[nodiscard]] bool is_scalar() const { return kind_ == Kind::kScalar; }
  [[nodiscard]] bool is_sequence() const { return kind_ == Kind::kSequence; }
  [[nodiscard]] bool is_map() const { return kind_ == Kind::kMap; }
  explicit operator bool() const { return is_defined(); }
  /// The scalar's text ("" for any other kind).
  [[nodiscard]] const std::string& text() const { return text_; }
  [[nodiscard]] int line() const { return line_; }
  [[nodiscard]] int column() const { return column_; }

  /// A map's value under `key` (the first, should the key repeat); an undefined node when this
  /// is not a map or has no such key.
  const Node& operator[](std::string_view key) const;
  /// A list's item; an undefined node when out of range or not a list.
  const Node& operator[](std::size_t index) const;
  [[nodiscard]] const std::vector<Node>& items() const { return items_; }
  [[nodiscard]] const std::vector<Entry>& entries() const { return entries_; }
  void push_back(Node item) { items_.push_back(std::move(item)); }
  void add(Node key, Node value) { entries_.emplace_back(std::move(key), std::move(value)); }

 private:
  Kind kind_ = Kind::kUndefined;
  std::string text_;
  std::vector<Node> items_;
  std::vector<Entry> entries_;
  int line_ = -1;
  int column_ = -1;
};

/// Errors found so far: the loader goes on past a bad key, item or section so that one run of
/// `policy lint` reports them all.
using Errors = std::vector<Error>;

/// Keeps `s`'s error, if any; true when `s` was fine.
inline bool keep(Errors& errors, const Status& s) {
  if (!s.ok()) errors.push_back(s.error());
  return s.ok();
}

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  /// "FILE:LINE:COL: message" at the node's position (0:0 when it has none).
  [[nodiscard]] Error error_at(const Node& node, const std::string& message) const;
  [[nodiscard]] Error error_at(int line, int column, const std::string& message) const;
  [[nodiscard]] static SourceLocation location(const Node& node);

  /// Requires a map whose keys are all in `allowed` and unique: every unknown or repeated key is
  /// an error in `errors`. False only when `node` is not a map (its keys cannot be read at all).
  bool check_map(const Node& node, std::string_view section,
                 std::initializer_list<std::string_view> allowed, Errors& errors) const;

  // Typed readers; `key` names the value in messages. Each leaves `out` untouched when the key
  // is absent from `map`.
  Status read_string(const Node& map, const char* key, std::string& out) const;
  Status read_bool(const Node& map, const char* key, bool& out) const;
  Status read_int(const Node& map, const char* key, int64_t& out) const;
  Status read_positive_int(const Node& map, const char* key, int& out) const;
  Status read_duration(const Node& map, const char* key, std::chrono::seconds& out) const;
  Status read_string_list(const Node& map, const char* key, std::vector<std::string>& out) const;
  Status read_mode(const Node& map, Mode& out) const;
  /// The `section` map (method, max_age, approvers) over `out`; false when it had errors.
  bool read_requirement(const Node& map, const char* section, Requirement& out,
                        Errors& errors) const;

  [[nodiscard]] const std::string& file() const { return file_; }

 private:
  std::string file_;
};

// Sections (policy_sections.cpp). Each reads every key it can and adds one error per bad key or
// item to `errors`, so a section with three mistakes reports three.
void read_business_hours(const Reader& r, const Node& node, BusinessHours& out, Errors& errors);
void read_approvers(const Reader& r, const Node& node, std::vector<Approver>& out, Errors& errors);
void read_git(const Reader& r, const Node& node, GitSettings& out, Errors& errors);
void read_ci(const Reader& r, const Node& node, CiSettings& out, Errors& errors);
void read_agents(const Reader& r, const Node& node, AgentSettings& out, Errors& errors);
void read_audit(const Reader& r, const Node& node, AuditSettings& out, Errors& errors);

}  // namespace stepgate::policy_detail
