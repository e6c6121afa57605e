#pragma once
// The authority's own configuration (/etc/stepgate/authority.yaml): where it listens, where it
// keeps its state, whose uid maps to which actor, and who administers it.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <set>
#include <string>

#include "stepgate/result.h"

namespace stepgate::authority {

struct AuthorityConfig {
  std::string source;  // the file it came from, for messages
  std::string socket = "/run/stepgate/authority.sock";
  std::string state_dir = "/var/lib/stepgate";
  std::string policy = "/etc/stepgate/policy.yaml";  // the administrator's layer
  std::string inbox_host = "127.0.0.1";
  int inbox_port = 0;                   // 0: no approvals inbox
  std::map<uid_t, std::string> actors;  // peer uid -> actor name
  std::set<uid_t> admins = {0};         // uids that may run administrator operations
  /// true (`audit_sync: durable`, the default): a reply leaves only once its audit record is on
  /// disk (concurrent requests share one fdatasync). false (`batch`): fdatasync in the background
  /// at most every 50 ms, so a crash of the machine can lose the last 50 ms of records.
  bool audit_durable = true;
  /// How long an enrolment code from `authority enroll-code` stays good (`enroll_code_ttl`).
  std::chrono::seconds enroll_code_ttl{15 * 60};

  // Derived from state_dir.
  [[nodiscard]] std::string state_db() const { return state_dir + "/state.db"; }
  [[nodiscard]] std::string audit_log() const { return state_dir + "/audit.jsonl"; }
  [[nodiscard]] std::string secrets_dir() const { return state_dir + "/secrets"; }
  [[nodiscard]] std::string key_file() const { return state_dir + "/authority.key"; }
  /// SHA-256 (hex) of each access token for GET /v1/audit, one a line (0600).
  [[nodiscard]] std::string audit_tokens_file() const { return secrets_dir() + "/audit-tokens"; }
  /// The enrolment codes issued: SHA-256 (hex) of "actor:code" and the issue time, one a line
  /// (0600). Their single use is the store's ledger's.
  [[nodiscard]] std::string enroll_codes_file() const { return secrets_dir() + "/enroll-codes"; }
};

/// Parses the YAML text of an authority configuration. Keys: socket, state_dir, policy,
/// inbox ("HOST:PORT", "PORT" or "off"), admins (list of uids or user names), actors (list of
/// {uid | user, actor}), audit_sync (durable | batch), enroll_code_ttl (a duration, "15m"). Unknown
/// keys, unknown users and bad values are kInvalidArgument naming file:line:column.
Result<AuthorityConfig> parse_authority_config_text(const std::string& text,
                                                    const std::string& name);

/// Reads and parses the file.
Result<AuthorityConfig> load_authority_config(const std::string& path);

}  // namespace stepgate::authority
