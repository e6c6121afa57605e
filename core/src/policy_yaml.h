#pragma once
// Private to the policy loader: a strict reader over yaml-cpp nodes whose errors carry
// FILE:LINE:COLUMN. yaml-cpp types never leave core/src.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "stepgate/policy.h"
#include "stepgate/result.h"

namespace stepgate::policy_detail {

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  /// "FILE:LINE:COL: message" at the node's position.
  [[nodiscard]] Error error_at(const YAML::Node& node, const std::string& message) const;
  [[nodiscard]] Error error_at(const YAML::Mark& mark, const std::string& message) const;
  [[nodiscard]] static SourceLocation location(const YAML::Node& node);

  /// Requires a map whose keys are all in `allowed` and unique.
  Status check_map(const YAML::Node& node, std::string_view section,
                   std::initializer_list<std::string_view> allowed) const;

  // Typed readers; `key` names the value in messages. Each leaves `out` untouched when the key
  // is absent from `map`.
  Status read_string(const YAML::Node& map, const char* key, std::string& out) const;
  Status read_bool(const YAML::Node& map, const char* key, bool& out) const;
  Status read_int(const YAML::Node& map, const char* key, int64_t& out) const;
  Status read_positive_int(const YAML::Node& map, const char* key, int& out) const;
  Status read_duration(const YAML::Node& map, const char* key, std::chrono::seconds& out) const;
  Status read_string_list(const YAML::Node& map, const char* key,
                          std::vector<std::string>& out) const;
  Status read_mode(const YAML::Node& map, Mode& out) const;
  Status read_requirement(const YAML::Node& map, const char* section, Requirement& out) const;

  [[nodiscard]] const std::string& file() const { return file_; }

 private:
  std::string file_;
};

// Sections (policy_sections.cpp).
Status read_business_hours(const Reader& r, const YAML::Node& node, BusinessHours& out);
Status read_approvers(const Reader& r, const YAML::Node& node, std::vector<Approver>& out);
Status read_git(const Reader& r, const YAML::Node& node, GitSettings& out);
Status read_ci(const Reader& r, const YAML::Node& node, CiSettings& out);
Status read_agents(const Reader& r, const YAML::Node& node, AgentSettings& out);
Status read_audit(const Reader& r, const YAML::Node& node, AuditSettings& out);

}  // namespace stepgate::policy_detail
