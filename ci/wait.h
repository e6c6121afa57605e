#pragma once
// `ci gate --wait`: register a challenge with an approvals server (the shim's /v1/challenges)
// and poll until an approver decides or the time runs out. The returned grant is only a
// candidate: the caller re-runs the gate with it, which verifies it like any other grant.

#include <chrono>
#include <iosfwd>
#include <string>

#include "stepgate/result.h"

namespace stepgate::ci {

struct WaitOptions {
  std::string server;  // "http://host:port[/prefix]"
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds poll{std::chrono::seconds(2)};
};

enum class WaitState { kApproved, kDenied, kExpired, kTimedOut };

struct WaitResult {
  WaitState state = WaitState::kTimedOut;
  std::string id;
  std::string approve_url;
  std::string grant;  // may be empty even when approved
  std::string decided_by;
  std::string comment;
};

/// Parses "500ms", "30s", "10m", "1h" (a bare number is seconds).
Result<std::chrono::milliseconds> parse_wait_duration(const std::string& text);

/// Registers `challenge_token` and polls, writing progress lines to `progress`. kInvalidArgument
/// for a bad server URL; kUnavailable when the server cannot be reached or answers out of
/// contract.
Result<WaitResult> wait_for_approval(const std::string& challenge_token, const WaitOptions& options,
                                     std::ostream& progress);

}  // namespace stepgate::ci
