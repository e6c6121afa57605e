#include "config.h"

#include <pwd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <set>

#include "stepgate/paths.h"
#include "stepgate/policy.h"
#include "stepgate/stepup.h"

namespace stepgate::authority {
namespace {

constexpr std::size_t kMaxConfigBytes = std::size_t{256} * 1024;
const std::set<std::string> kKeys = {"socket", "state_dir", "policy",     "inbox",
                                     "actors", "admins",    "audit_sync", "enroll_code_ttl"};

std::string at(const std::string& name, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  return name + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

/// A uid written as a number or a user name from the password database.
Result<uid_t> read_uid(const std::string& name, const YAML::Node& node) {
  const std::string text = node.as<std::string>("");
  if (text.empty()) return invalid_argument(at(name, node) + ": expected a uid or user name");
  char* end = nullptr;
  const unsigned long n = std::strtoul(text.c_str(), &end, 10);
  if (end != nullptr && *end == '\0') return static_cast<uid_t>(n);
  passwd entry{};
  passwd* found = nullptr;
  char buf[4096];
  if (::getpwnam_r(text.c_str(), &entry, buf, sizeof buf, &found) != 0 || found == nullptr) {
    return invalid_argument(at(name, node) + ": no such user `" + text + "`");
  }
  return found->pw_uid;
}

Status read_inbox(const std::string& name, const YAML::Node& node, AuthorityConfig& c) {
  std::string text = node.as<std::string>("");
  if (text == "off" || text.empty()) {
    c.inbox_port = 0;
    return {};
  }
  if (auto colon = text.rfind(':'); colon != std::string::npos) {
    c.inbox_host = text.substr(0, colon);
    text = text.substr(colon + 1);
  }
  char* end = nullptr;
  const long port = std::strtol(text.c_str(), &end, 10);
  if (end == nullptr || *end != '\0' || port < 1 || port > 65535) {
    return invalid_argument(at(name, node) + ": key `inbox`: expected HOST:PORT, PORT or off");
  }
  if (c.inbox_host != "127.0.0.1" && c.inbox_host != "localhost" && c.inbox_host != "::1") {
    return invalid_argument(at(name, node) +
                            ": key `inbox`: the approvals inbox listens on loopback only");
  }
  c.inbox_port = static_cast<int>(port);
  return {};
}

Status read_actors(const std::string& name, const YAML::Node& node, AuthorityConfig& c) {
  if (!node.IsSequence())
    return invalid_argument(at(name, node) + ": key `actors`: expected a list");
  for (const auto& item : node) {
    if (!item.IsMap()) {
      return invalid_argument(at(name, item) + ": key `actors`: expected {uid|user, actor}");
    }
    std::optional<uid_t> uid;
    std::string actor;
    for (const auto& f : item) {
      const std::string k = f.first.as<std::string>("");
      if (k == "uid" || k == "user") {
        auto u = read_uid(name, f.second);
        if (!u.ok()) return u.error();
        uid = *u;
      } else if (k == "actor") {
        actor = f.second.as<std::string>("");
      } else {
        return invalid_argument(at(name, f.first) + ": unknown key `actors." + k + "`");
      }
    }
    if (!uid)
      return invalid_argument(at(name, item) + ": key `actors`: an entry needs uid or user");
    if (actor.empty()) {
      // The user's own name stands for the actor when none is given.
      passwd entry{};
      passwd* found = nullptr;
      char buf[4096];
      if (::getpwuid_r(*uid, &entry, buf, sizeof buf, &found) == 0 && found != nullptr) {
        actor = found->pw_name;
      }
    }
    if (!is_valid_principal_id(actor)) {
      return invalid_argument(at(name, item) + ": key `actors.actor`: invalid actor `" + actor +
                              "`");
    }
    if (!c.actors.emplace(*uid, actor).second) {
      return invalid_argument(at(name, item) + ": uid " + std::to_string(*uid) +
                              " is listed twice");
    }
  }
  return {};
}

Status read_key(const std::string& name, const std::string& key, const YAML::Node& value,
                AuthorityConfig& c) {
  auto path = [&](std::string& out) -> Status {
    out = value.as<std::string>("");
    if (out.empty() || out[0] != '/') {
      return invalid_argument(at(name, value) + ": key `" + key + "`: expected an absolute path");
    }
    return {};
  };
  if (key == "socket") return path(c.socket);
  if (key == "state_dir") return path(c.state_dir);
  if (key == "policy") return path(c.policy);
  if (key == "inbox") return read_inbox(name, value, c);
  if (key == "actors") return read_actors(name, value, c);
  if (key == "enroll_code_ttl") {
    auto ttl = parse_duration(value.as<std::string>(""));
    if (!ttl.ok() || ttl->count() <= 0) {
      return invalid_argument(at(name, value) +
                              ": key `enroll_code_ttl`: expected a positive duration (\"15m\")");
    }
    c.enroll_code_ttl = *ttl;
    return {};
  }
  if (key == "audit_sync") {
    const std::string mode = value.as<std::string>("");
    if (mode != "durable" && mode != "batch") {
      return invalid_argument(at(name, value) + ": key `audit_sync`: expected durable or batch");
    }
    c.audit_durable = mode == "durable";
    return {};
  }
  if (key == "admins") {
    if (!value.IsSequence())
      return invalid_argument(at(name, value) + ": key `admins`: expected a list");
    for (const auto& item : value) {
      auto u = read_uid(name, item);
      if (!u.ok()) return u.error();
      c.admins.insert(*u);
    }
    return {};
  }
  return invalid_argument(at(name, value) + ": unknown key `" + key + "`");
}

}  // namespace

Result<AuthorityConfig> parse_authority_config_text(const std::string& text,
                                                    const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return invalid_argument(name + ":" + std::to_string(e.mark.line + 1) + ":" +
                            std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  AuthorityConfig c;
  c.source = name;
  if (!root || root.IsNull()) return c;
  if (!root.IsMap()) return invalid_argument(name + ": expected a map of settings");
  try {
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>("");
      if (!kKeys.contains(key)) {
        return invalid_argument(at(name, entry.first) + ": unknown key `" + key + "`");
      }
      if (Status s = read_key(name, key, entry.second, c); !s.ok()) return s.error();
    }
  } catch (const YAML::Exception& e) {
    return invalid_argument(name + ":" + std::to_string(e.mark.line + 1) + ":" +
                            std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  return c;
}

Result<AuthorityConfig> load_authority_config(const std::string& path) {
  auto text = read_file(path, kMaxConfigBytes);
  if (!text.ok()) return text.error();
  return parse_authority_config_text(*text, path);
}

}  // namespace stepgate::authority
