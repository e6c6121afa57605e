// Held tool calls in MCP's own terms: which sessions take URL elicitation, the client's answers to
// the shim's elicitation requests, and the signed requestState of the stateless revision.
#include "shim_elicit.h"

#include <deque>
#include <map>
#include <mutex>

#include "stepgate/crypto.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

constexpr std::size_t kMaxSessions = 10000;
constexpr std::size_t kMaxAnswers = 1000;
constexpr std::string_view kIdPrefix = "stepgate-elicit-";

/// Per-session capability and pending answers, shared by the shim's worker threads.
struct Registry {
  std::mutex mu;
  std::map<std::string, bool> sessions;
  std::deque<std::string> order;               // oldest first, to bound `sessions`
  std::map<std::string, std::string> answers;  // challenge id -> action
};

Registry& registry() {
  static Registry r;
  return r;
}

bool declares_url_elicitation(const Value* capabilities) {
  if (capabilities == nullptr || !capabilities->is_map()) return false;
  const Value* elicitation = capabilities->find("elicitation");
  return elicitation != nullptr && elicitation->is_map() && elicitation->find("url") != nullptr;
}

const Bytes& state_key() {
  // Made once per process from OS randomness; a state signed by an earlier shim is refused, and
  // the client then asks afresh (the challenge itself lives in the store).
  static const Bytes key = [] {
    Result<Bytes> bytes = random_bytes(32);
    return bytes.ok() ? *bytes : Bytes{};
  }();
  return key;
}

std::string state_mac(std::string_view payload) {
  return base64url_encode(hmac(HashAlg::kSha256, state_key(), payload));
}

}  // namespace

void remember_url_elicitation(const std::string& session, const Value& initialize_params) {
  if (session.empty()) return;
  const bool url = declares_url_elicitation(initialize_params.find("capabilities"));
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  if (r.sessions.emplace(session, url).second) {
    r.order.push_back(session);
  } else {
    r.sessions[session] = url;
  }
  while (r.order.size() > kMaxSessions) {
    r.sessions.erase(r.order.front());
    r.order.pop_front();
  }
}

bool session_elicits_urls(const std::string& session) {
  if (session.empty()) return false;
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.sessions.find(session);
  return it != r.sessions.end() && it->second;
}

bool meta_elicits_urls(const Value& meta) {
  return declares_url_elicitation(meta.find("io.modelcontextprotocol/clientCapabilities"));
}

std::string elicitation_request_id(const std::string& challenge_id) {
  return std::string(kIdPrefix) + challenge_id;
}

bool take_elicitation_answer(const Value& id, const Value* result, bool is_error) {
  if (!id.is_string() || id.as_string().rfind(kIdPrefix, 0) != 0) return false;
  const std::string challenge = id.as_string().substr(kIdPrefix.size());
  std::string action = "error";
  if (!is_error && result != nullptr && result->is_map()) action = result->get_string("action");
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  if (r.answers.size() >= kMaxAnswers) r.answers.erase(r.answers.begin());
  r.answers[challenge] = action.empty() ? "error" : action;
  return true;
}

std::string elicitation_answer(const std::string& challenge_id) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.answers.find(challenge_id);
  if (it == r.answers.end()) return {};
  std::string action = it->second;
  r.answers.erase(it);
  return action;
}

std::string sign_request_state(const std::string& digest, const std::string& challenge_id,
                               UnixTime expires_at) {
  Map body;
  body["digest"] = Value(digest);
  body["challenge"] = Value(challenge_id);
  body["exp"] = Value(expires_at);
  const std::string payload = base64url_encode(to_json(Value(std::move(body))));
  return payload + "." + state_mac(payload);
}

Result<RequestState> verify_request_state(std::string_view state, const std::string& digest,
                                          UnixTime now) {
  const std::size_t dot = state.find('.');
  if (state.size() > 4096 || dot == std::string_view::npos) {
    return invalid_argument("requestState is not one this shim issued");
  }
  const std::string_view payload = state.substr(0, dot);
  if (state_key().empty() || !constant_time_equal(state.substr(dot + 1), state_mac(payload))) {
    return invalid_argument("requestState's signature does not match (not issued by this shim)");
  }
  Result<Bytes> raw = base64url_decode(payload);
  if (!raw.ok()) return invalid_argument("requestState is not base64url");
  Result<Value> body =
      parse_json(std::string_view(reinterpret_cast<const char*>(raw->data()), raw->size()));
  if (!body.ok() || !body->is_map())
    return invalid_argument("requestState does not hold an object");
  RequestState out{body->get_string("digest"), body->get_string("challenge"), body->get_int("exp")};
  if (out.expires_at <= now) return invalid_argument("requestState expired; call the tool again");
  if (!constant_time_equal(out.digest, digest)) {
    return invalid_argument("requestState was issued for another call");
  }
  return out;
}

}  // namespace stepgate
