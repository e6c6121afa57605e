#include "wait.h"

#include <httplib.h>

#include <charconv>
#include <ostream>
#include <thread>

#include "stepgate/approvals.h"
#include "stepgate/json.h"

namespace stepgate::ci {
namespace {

struct ServerUrl {
  std::string origin;  // scheme://host:port
  std::string prefix;  // path without the trailing '/'
};

Result<ServerUrl> parse_server(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    return invalid_argument("--server `" + url + "`: want http://HOST:PORT");
  }
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return invalid_argument("--server `" + url + "`: scheme must be http or https");
  }
  auto path_start = url.find('/', scheme_end + 3);
  ServerUrl s;
  s.origin = url.substr(0, path_start);
  if (s.origin.size() <= scheme_end + 3) return invalid_argument("--server `" + url + "`: no host");
  if (path_start != std::string::npos) s.prefix = url.substr(path_start);
  while (!s.prefix.empty() && s.prefix.back() == '/') s.prefix.pop_back();
  return s;
}

/// The JSON object of a response whose status is `want_status` (or 200, which the server
/// answers for a challenge it already holds).
Result<Value> json_body(const httplib::Result& res, int want_status, const std::string& what) {
  if (!res) {
    return make_error(ErrorCode::kUnavailable, what + ": " + httplib::to_string(res.error()));
  }
  if (res->status != want_status && res->status != 200) {
    return make_error(ErrorCode::kUnavailable, what + ": HTTP " + std::to_string(res->status) +
                                                   " " + res->body.substr(0, 200));
  }
  auto v = parse_json(res->body, JsonLimits{std::size_t{1024} * 1024});
  if (!v || !v->is_map()) return make_error(ErrorCode::kUnavailable, what + ": not a JSON object");
  return v;
}

/// The core's challenge state, as the waiting step reads it (a pending one has not ended yet).
Result<WaitState> parse_state(const std::string& name) {
  auto state = parse_challenge_state(name);
  if (!state) return make_error(ErrorCode::kUnavailable, "unknown challenge state `" + name + "`");
  switch (*state) {
    case ChallengeState::kApproved:
      return WaitState::kApproved;
    case ChallengeState::kDenied:
      return WaitState::kDenied;
    case ChallengeState::kExpired:
      return WaitState::kExpired;
    case ChallengeState::kPending:
      return WaitState::kTimedOut;  // still undecided
  }
  return WaitState::kTimedOut;
}

std::string seconds_text(std::chrono::milliseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + "s";
}

}  // namespace

Result<std::chrono::milliseconds> parse_wait_duration(const std::string& text) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || n < 0) return invalid_argument("bad duration `" + text + "`");
  std::string unit(ptr, text.data() + text.size());
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit.empty() || unit == "s") return std::chrono::milliseconds(n * 1000);
  if (unit == "m") return std::chrono::milliseconds(n * 60 * 1000);
  if (unit == "h") return std::chrono::milliseconds(n * 3600 * 1000);
  return invalid_argument("bad duration `" + text + "` (want 500ms, 30s, 10m, 1h)");
}

Result<WaitResult> wait_for_approval(const std::string& token, const WaitOptions& options,
                                     std::ostream& progress) {
  auto server = parse_server(options.server);
  if (!server) return server.error();
  httplib::Client client(server->origin);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  Value request = Map{};
  request["challenge"] = token;
  auto created = json_body(
      client.Post(server->prefix + "/v1/challenges", to_json(request), "application/json"), 201,
      "registering the challenge with " + options.server);
  if (!created) return created.error();
  WaitResult result;
  result.id = created->get_string("id");
  result.approve_url = created->get_string("approve_url");
  if (result.id.empty() || result.id.find_first_of("/?#") != std::string::npos) {
    return make_error(ErrorCode::kUnavailable, "the server returned no usable challenge id");
  }
  progress << "stepgate: waiting up to " << seconds_text(options.timeout) << " for approval of "
           << result.id << (result.approve_url.empty() ? "" : " at " + result.approve_url) << "\n"
           << std::flush;
  const auto start = std::chrono::steady_clock::now();
  const std::string path = server->prefix + "/v1/challenges/" + result.id;
  std::chrono::milliseconds last_progress{0};
  for (;;) {
    auto polled = json_body(client.Get(path), 200, "polling challenge " + result.id);
    if (!polled) return polled.error();
    auto state = parse_state(polled->get_string("state"));
    if (!state) return state.error();
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    if (*state != WaitState::kTimedOut) {
      result.state = *state;
      result.grant = polled->get_string("grant");
      result.decided_by = polled->get_string("decided_by");
      result.comment = polled->get_string("comment");
      return result;
    }
    if (elapsed >= options.timeout) {
      result.state = WaitState::kTimedOut;
      return result;
    }
    if (elapsed - last_progress >= std::chrono::seconds(10)) {  // a line every 10 s at most
      last_progress = elapsed;
      progress << "stepgate: challenge " << result.id << " still pending (" << seconds_text(elapsed)
               << " elapsed)\n"
               << std::flush;
    }
    std::this_thread::sleep_for(std::min(options.poll, options.timeout - elapsed));
  }
}

}  // namespace stepgate::ci
