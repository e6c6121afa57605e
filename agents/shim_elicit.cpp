// Held tool calls in MCP's own terms: which sessions take URL elicitation, the client's answers to
// the shim's elicitation requests, and the signed requestState of the stateless revision.
#include "shim_elicit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>

#include "stepgate/crypto.h"
#include "stepgate/files.h"
#include "stepgate/json.h"

namespace stepgate {
namespace {

constexpr std::size_t kMaxSessions = 10000;
constexpr std::size_t kMaxAnswers = 1000;
constexpr std::string_view kIdPrefix = "stepgate-elicit-";
constexpr std::size_t kStateKeyBytes = 32;

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

/// The signing key: a random one of this process until run_shim installs the stored one.
struct StateKey {
  std::mutex mu;
  std::shared_ptr<const Bytes> key;
};

StateKey& state_key_slot() {
  static StateKey slot;
  return slot;
}

std::shared_ptr<const Bytes> state_key() {
  StateKey& slot = state_key_slot();
  std::lock_guard lock(slot.mu);
  if (!slot.key) {
    Result<Bytes> bytes = random_bytes(kStateKeyBytes);
    slot.key = std::make_shared<const Bytes>(bytes.ok() ? *bytes : Bytes{});
  }
  return slot.key;
}

Result<Bytes> decode_state_key(const std::string& path, std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto key = base64url_decode(text);
  if (!key.ok() || key->size() != kStateKeyBytes) {
    return make_error(ErrorCode::kFailedPrecondition,
                      path + ": not a requestState key (base64url of " +
                          std::to_string(kStateKeyBytes) + " bytes); remove it to make a new one");
  }
  return std::move(key).value();
}

/// Writes `contents` to `path` only if no file is there yet: into a private temporary file, then
/// link(2), which fails with EEXIST rather than replace a key another shim wrote meanwhile.
/// Returns false (and no error) when the file already existed.
Result<bool> create_once(const std::string& path, const std::string& contents) {
  Result<Bytes> salt = random_bytes(8);
  if (!salt.ok()) return salt.error();
  const std::string temp = path + ".tmp." + hex_encode(*salt);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return make_error(ErrorCode::kUnavailable, temp + ": cannot create: " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const bool written = done == contents.size() && ::fsync(fd) == 0;
  ::close(fd);
  const int linked = written ? ::link(temp.c_str(), path.c_str()) : -1;
  const int link_errno = errno;
  ::unlink(temp.c_str());
  if (linked == 0) return true;
  if (written && link_errno == EEXIST) return false;
  return make_error(ErrorCode::kUnavailable,
                    path + ": cannot write: " + std::strerror(written ? link_errno : errno));
}

std::string state_mac(const Bytes& key, std::string_view payload) {
  return base64url_encode(hmac(HashAlg::kSha256, key, payload));
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

Result<Bytes> load_request_state_key(const std::string& secrets_dir) {
  const std::string dir = secrets_dir + "/shim";
  const std::string path = dir + "/request-state.key";
  auto text = read_secret_file(path);
  if (!text.ok() && text.error().code == ErrorCode::kNotFound) {
    Result<Bytes> fresh = random_bytes(kStateKeyBytes);
    if (!fresh.ok()) return fresh.error();
    if (Status s = ensure_private_dir(dir); !s.ok()) return s.error();
    auto created = create_once(path, base64url_encode(*fresh) + "\n");
    if (!created.ok()) return created.error();
    if (*created) return fresh;
    text = read_secret_file(path);  // another shim made it first: use that one
  }
  if (!text.ok()) return text.error();
  return decode_state_key(path, std::move(text).value());
}

void use_request_state_key(Bytes key) {
  StateKey& slot = state_key_slot();
  std::lock_guard lock(slot.mu);
  slot.key = std::make_shared<const Bytes>(std::move(key));
}

std::string sign_request_state(const std::string& digest, const std::string& challenge_id,
                               UnixTime expires_at) {
  Map body;
  body["digest"] = Value(digest);
  body["challenge"] = Value(challenge_id);
  body["exp"] = Value(expires_at);
  const std::string payload = base64url_encode(to_json(Value(std::move(body))));
  return payload + "." + state_mac(*state_key(), payload);
}

Result<RequestState> verify_request_state(std::string_view state, const std::string& digest,
                                          UnixTime now) {
  const std::size_t dot = state.find('.');
  if (state.size() > 4096 || dot == std::string_view::npos) {
    return invalid_argument("requestState is not one this shim issued");
  }
  const std::string_view payload = state.substr(0, dot);
  const std::shared_ptr<const Bytes> key = state_key();
  if (key->empty() || !constant_time_equal(state.substr(dot + 1), state_mac(*key, payload))) {
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
