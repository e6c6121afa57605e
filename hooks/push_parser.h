#pragma once
// Parsers for what git writes on a hook's stdin: pre-push and pre-receive ref update lines.

#include <string>
#include <string_view>
#include <vector>

#include "stepgate/result.h"

namespace stepgate {

/// One ref update. For pre-receive lines local_ref == remote_ref and local_sha is the new tip.
struct RefUpdate {
  std::string local_ref;   // "(delete)" when deleting (pre-push)
  std::string local_sha;   // the new tip; all zeros when deleting
  std::string remote_ref;  // the ref being updated, e.g. refs/heads/main
  std::string remote_sha;  // the current tip; all zeros when the ref does not exist yet
  int line = 0;            // 1-based line number on stdin

  [[nodiscard]] bool is_delete() const;
  [[nodiscard]] bool is_new() const;
};

/// The most ref updates one push may carry. Each is gated on its own (a commit walk, a verdict,
/// an audit record), so a push of 100,000 refs would hold the hook for minutes: past this many,
/// stdin is refused (exit 2, fail closed), and a larger mirror goes in batches.
constexpr std::size_t kMaxRefUpdates = 1000;

/// True for an all-zero object id (40 or 64 hex digits).
bool is_zero_oid(std::string_view sha);
/// True for 40 (SHA-1) or 64 (SHA-256) lowercase-or-uppercase hex digits.
bool is_hex_oid(std::string_view sha);

/// Parses pre-push stdin: "<local ref> SP <local sha> SP <remote ref> SP <remote sha>" per line.
/// A trailing CR is tolerated; anything else malformed is kInvalidArgument "stdin line N: ...",
/// as is a line past kMaxRefUpdates. Empty stdin gives no updates.
Result<std::vector<RefUpdate>> parse_pre_push(std::string_view text);

/// Parses pre-receive (and post-receive) stdin: "<old sha> SP <new sha> SP <ref>" per line.
Result<std::vector<RefUpdate>> parse_pre_receive(std::string_view text);

}  // namespace stepgate
