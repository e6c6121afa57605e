// The front-end side of the authority: its configuration, the wire frames and one connection.
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "stepgate/authority.h"
#include "stepgate/crypto.h"
#include "stepgate/json.h"
#include "stepgate/stepup.h"

namespace stepgate {
namespace {

constexpr std::size_t kMaxConfigBytes = std::size_t{64} * 1024;
constexpr std::string_view kSignatureDomain = "stepgate-authority-v1\n";
// What a frame read asks the socket for at first: a decision's request or answer fits.
constexpr std::size_t kFirstReadBytes = 16 * 1024;

std::string where(const std::string& name, const YAML::Mark& mark) {
  return name + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

/// Root-owned and writable by nobody else: only then may a file override the user's choice.
bool root_owned(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

Result<std::optional<AuthorityEndpoint>> read_config(const std::string& path, bool system) {
  auto text = read_file(path, kMaxConfigBytes);
  if (!text.ok()) return text.error();
  auto parsed = parse_authority_config(*text, path);
  if (!parsed.ok() || !parsed->has_value()) return parsed;
  (*parsed)->system = system;
  return parsed;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// Waits until fd is ready for `events`; false on timeout or error.
bool wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

}  // namespace

Result<std::optional<AuthorityEndpoint>> parse_authority_config(std::string_view text,
                                                                const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return invalid_argument(where(name, e.mark) + ": " + e.msg);
  }
  if (!root || root.IsNull()) return std::optional<AuthorityEndpoint>{};
  if (!root.IsMap()) return invalid_argument(name + ": expected a map");
  std::optional<AuthorityEndpoint> out;
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>("");
    if (key != "authority") {
      return invalid_argument(where(name, entry.first.Mark()) + ": unknown key `" + key + "`");
    }
    const YAML::Node& a = entry.second;
    if (a.IsNull()) continue;
    if (!a.IsMap()) return invalid_argument(where(name, a.Mark()) + ": `authority` must be a map");
    AuthorityEndpoint e;
    e.source = name;
    e.socket = kDefaultAuthoritySocket;
    for (const auto& field : a) {
      const std::string k = field.first.as<std::string>("");
      if (!field.second.IsScalar()) {
        return invalid_argument(where(name, field.second.Mark()) + ": key `authority." + k +
                                "` must be a string");
      }
      if (k == "socket") {
        e.socket = field.second.as<std::string>();
      } else if (k == "public_key") {
        e.public_key = field.second.as<std::string>();
        if (!parse_public_key(e.public_key).ok()) {
          return invalid_argument(where(name, field.second.Mark()) +
                                  ": key `authority.public_key` is not \"ed25519:<base64url>\"");
        }
      } else {
        return invalid_argument(where(name, field.first.Mark()) + ": unknown key `authority." + k +
                                "`");
      }
    }
    out = std::move(e);
  }
  return out;
}

Result<std::optional<AuthorityEndpoint>> find_authority(const Paths& paths, const Env& env) {
  // The system file wins whenever it exists: a user cannot opt out of an authority the
  // administrator configured, by config or by environment.
  if (exists(kSystemConfigPath)) {
    if (!root_owned(kSystemConfigPath)) {
      return make_error(
          ErrorCode::kPermissionDenied,
          std::string(kSystemConfigPath) + ": must be owned by root and writable by nobody else");
    }
    auto found = read_config(kSystemConfigPath, true);
    if (!found.ok() || found->has_value()) return found;
  } else if (std::string alt = env.get("STEPGATE_SYSTEM_CONFIG"); !alt.empty()) {
    if (root_owned(alt)) {
      auto found = read_config(alt, true);
      if (!found.ok() || found->has_value()) return found;
    }
  }
  const std::string user = paths.config_dir + "/config.yaml";
  if (exists(user)) {
    auto found = read_config(user, false);
    if (!found.ok() || found->has_value()) return found;
  }
  if (std::string socket = env.get("STEPGATE_AUTHORITY"); !socket.empty()) {
    return std::optional<AuthorityEndpoint>(
        AuthorityEndpoint{socket, "", "$STEPGATE_AUTHORITY", false});
  }
  return std::optional<AuthorityEndpoint>{};
}

// ---- Wire ---------------------------------------------------------------------------------------

namespace {
/// A frame (see read_authority_frame); `block`: the socket has SO_RCVTIMEO set, and the first
/// read may wait in recv.
Result<std::string> read_frame(int fd, std::size_t max_bytes, int timeout_ms, bool block);

/// The whole frame's size, from its 4-byte header at `header`; kResourceExhausted past the limit.
Result<std::size_t> frame_size(const char* header, std::size_t max_bytes) {
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(header[i]);
  if (n > max_bytes) {
    return make_error(ErrorCode::kResourceExhausted, "frame of " + std::to_string(n) +
                                                         " bytes is over the limit of " +
                                                         std::to_string(max_bytes));
  }
  return 4 + std::size_t{n};
}
}  // namespace

Status write_authority_frame(int fd, std::string_view body, int timeout_ms) {
  if (body.size() > kAuthorityMaxFrameBytes) {
    return make_error(ErrorCode::kResourceExhausted, "frame of " + std::to_string(body.size()) +
                                                         " bytes is over the limit of " +
                                                         std::to_string(kAuthorityMaxFrameBytes));
  }
  char header[4];
  const auto n = static_cast<uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) header[i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
  // Header and body leave in one call, without copying the body into a frame first.
  iovec parts[2] = {{header, sizeof header}, {const_cast<char*>(body.data()), body.size()}};
  std::size_t done = 0;
  const std::size_t total = sizeof header + body.size();
  while (done < total) {
    // What is left of the two parts after the `done` bytes already sent.
    iovec rest[2] = {parts[0], parts[1]};
    std::size_t sent = done;
    int first = 0;
    while (first < 2 && sent >= rest[first].iov_len) sent -= rest[first++].iov_len;
    rest[first].iov_base = static_cast<char*>(rest[first].iov_base) + sent;
    rest[first].iov_len -= sent;
    msghdr msg{};
    msg.msg_iov = rest + first;
    msg.msg_iovlen = static_cast<std::size_t>(2 - first);
    // MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE.
    const ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (timeout_ms <= 0 || !wait_fd(fd, POLLOUT, timeout_ms)) {
        return make_error(ErrorCode::kUnavailable, "timed out writing to the peer");
      }
      continue;
    }
    if (w < 0) return make_error(ErrorCode::kUnavailable, std::string("send: ") + strerror(errno));
    done += static_cast<std::size_t>(w);
  }
  return {};
}

Result<std::string> read_authority_frame(int fd, std::size_t max_bytes, int timeout_ms) {
  return read_frame(fd, max_bytes, timeout_ms, /*block=*/false);
}

Result<std::optional<std::string>> read_authority_frame_part(int fd, std::string& partial,
                                                             std::size_t max_bytes) {
  for (;;) {
    std::size_t want = 4;  // the header, then header + body
    if (partial.size() >= 4) {
      auto size = frame_size(partial.data(), max_bytes);
      if (!size.ok()) return size.error();
      want = *size;
      if (partial.size() > want) {
        return make_error(ErrorCode::kUnavailable, "the peer sent more than one frame at once");
      }
      if (partial.size() == want) {
        std::string body = partial.substr(4);
        partial.clear();
        // The buffer is kept for the connection's next frame, unless a large frame grew it.
        if (partial.capacity() > 4 * kFirstReadBytes) std::string().swap(partial);
        return std::optional<std::string>(std::move(body));
      }
    }
    // Before the header, one read takes what came (a whole frame, usually); after it, `partial`
    // grows with what arrives, not to what the header announces. Read on the stack and appended:
    // no buffer is zero-filled ahead of the read.
    char chunk[kFirstReadBytes];
    const std::size_t have = partial.size();
    const std::size_t room = have < 4 ? sizeof chunk : std::min(want - have, sizeof chunk);
    const ssize_t got = ::recv(fd, chunk, room, MSG_DONTWAIT);
    const int error = errno;
    if (got > 0) partial.append(chunk, static_cast<std::size_t>(got));
    if (got < 0 && error == EINTR) continue;
    if (got < 0 && (error == EAGAIN || error == EWOULDBLOCK)) return std::optional<std::string>();
    if (got < 0) {
      return make_error(ErrorCode::kUnavailable, std::string("read: ") + strerror(error));
    }
    if (got == 0) {
      if (have == 0) return make_error(ErrorCode::kNotFound, "end of stream");
      return make_error(ErrorCode::kUnavailable, "the peer closed the connection mid-frame");
    }
  }
}

namespace {

Result<std::string> read_frame(int fd, std::size_t max_bytes, int timeout_ms, bool block) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  // A frame usually arrives whole (a decision's answer is about 1 KB): one read takes header
  // and body together, where reading the header and then the body took a wait and a read each.
  // The protocol is one request, one answer, so nothing past this frame can be in the socket.
  // One buffer per thread, kept: a fresh 16 KB string per frame made glibc's malloc consolidate
  // its fast bins at every request (a large-bin request does), ~3% of an authority's CPU.
  thread_local std::string buffer;
  if (buffer.size() > 4 * kFirstReadBytes) std::string().swap(buffer);  // after a large frame
  if (buffer.size() < kFirstReadBytes) buffer.resize(kFirstReadBytes);
  std::size_t have = 0;
  std::size_t want = 4;  // the header, then header + body
  bool header_read = false;
  while (have < want) {
    // `block`: the first read waits in recv itself (bounded by the socket's SO_RCVTIMEO) rather
    // than in a poll before it, one system call where the answer is not there yet.
    const int flags = block && have == 0 ? 0 : MSG_DONTWAIT;
    const ssize_t got = ::recv(fd, buffer.data() + have, buffer.size() - have, flags);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A blocking first read that comes back empty-handed has waited out the connection's
      // timeout (SO_RCVTIMEO): that is the whole wait for an answer to begin.
      if (block && have == 0) {
        return make_error(ErrorCode::kUnavailable, "timed out waiting for the peer");
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !wait_fd(fd, POLLIN, static_cast<int>(left.count()))) {
        return make_error(ErrorCode::kUnavailable, "timed out waiting for the peer");
      }
      continue;
    }
    if (got < 0) {
      return make_error(ErrorCode::kUnavailable, std::string("read: ") + strerror(errno));
    }
    if (got == 0) {
      if (have == 0) return make_error(ErrorCode::kNotFound, "end of stream");
      return make_error(ErrorCode::kUnavailable, "the peer closed the connection mid-frame");
    }
    have += static_cast<std::size_t>(got);
    if (!header_read && have >= 4) {
      auto size = frame_size(buffer.data(), max_bytes);
      if (!size.ok()) return size.error();
      header_read = true;
      want = *size;
      if (buffer.size() < want) buffer.resize(want);
    }
    if (have > want && header_read) {
      return make_error(ErrorCode::kUnavailable, "the peer sent more than one frame at once");
    }
  }
  return buffer.substr(4, want - 4);
}

}  // namespace

Result<Value> parse_authority_body(std::string_view body) {
  JsonLimits limits;
  limits.max_bytes = kAuthorityMaxFrameBytes;
  limits.max_depth = kAuthorityMaxJsonDepth;
  auto v = parse_json(body, limits);
  if (!v.ok()) return v.error();
  if (!v->is_map()) return invalid_argument("a frame must hold one JSON object");
  return v;
}

ErrorCode error_code_from_name(std::string_view name) {
  for (ErrorCode c :
       {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kPermissionDenied,
        ErrorCode::kFailedPrecondition, ErrorCode::kResourceExhausted, ErrorCode::kUnavailable}) {
    if (name == error_code_name(c)) return c;
  }
  return ErrorCode::kInternal;
}

std::string authority_signed_text(const Value& reply) {
  if (reply.find("signature") == nullptr) return std::string(kSignatureDomain) + to_json(reply);
  Value copy = reply;
  copy.as_map().erase("signature");
  return std::string(kSignatureDomain) + to_json(copy);
}

namespace {

constexpr std::size_t kMaxCachedKeys = 16;

/// The pinned key as OpenSSL holds it, loaded once per key: front-ends check every reply against
/// the same one or two keys, and loading it was a third of a check's cost. Null for a key that
/// does not parse.
std::shared_ptr<EVP_PKEY> cached_public_key(const std::string& public_key) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<EVP_PKEY>, std::less<>> keys;
  std::lock_guard lock(mu);
  if (auto it = keys.find(public_key); it != keys.end()) return it->second;
  auto raw = parse_public_key(public_key);
  if (!raw.ok() || raw->size() != 32) return nullptr;
  std::shared_ptr<EVP_PKEY> key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw->data(), raw->size()),
      EVP_PKEY_free);
  if (!key) return nullptr;
  if (keys.size() >= kMaxCachedKeys) keys.clear();  // holders keep theirs alive
  keys.emplace(public_key, key);
  return key;
}

}  // namespace

bool verify_authority_signature(const Value& reply, const std::string& public_key) {
  const std::shared_ptr<EVP_PKEY> key = cached_public_key(public_key);
  if (!key) return false;
  auto sig = base64url_decode(reply.get_string("signature"));
  if (!sig.ok() || sig->size() != 64) return false;
  const std::string text = authority_signed_text(reply);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), sig->data(), sig->size(),
                          reinterpret_cast<const unsigned char*>(text.data()), text.size()) == 1;
}

// ---- Connection ---------------------------------------------------------------------------------

Result<std::unique_ptr<AuthorityConnection>> AuthorityConnection::connect(const std::string& socket,
                                                                          int timeout_seconds) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.size() >= sizeof addr.sun_path) {
    return make_error(ErrorCode::kInvalidArgument, "the authority socket path " + socket +
                                                       " is longer than " +
                                                       std::to_string(sizeof addr.sun_path - 1));
  }
  std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(ErrorCode::kUnavailable, std::string("socket: ") + strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string why = strerror(errno);
    ::close(fd);
    return make_error(ErrorCode::kUnavailable,
                      "the authority at " + socket + " cannot be reached (connect: " + why + ")");
  }
  timeval tv{timeout_seconds, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return std::unique_ptr<AuthorityConnection>(new AuthorityConnection(fd, socket));
}

AuthorityConnection::~AuthorityConnection() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Value> AuthorityConnection::call(Value request) {
  request["v"] = kAuthorityProtocolVersion;
  auto fail = [this](const Error& e) {
    return make_error(e.code == ErrorCode::kResourceExhausted ? e.code : ErrorCode::kUnavailable,
                      "the authority at " + socket_ + " did not answer (" + e.message + ")");
  };
  if (Status s = write_authority_frame(fd_, to_json(request)); !s.ok()) return fail(s.error());
  // The first wait is bounded by the SO_RCVTIMEO connect() set; the rest of a long frame by the
  // default deadline.
  auto body = read_frame(fd_, kAuthorityMaxFrameBytes, 120 * 1000, /*block=*/true);
  if (!body.ok()) return fail(body.error());
  auto reply = parse_authority_body(*body);
  if (!reply.ok()) return fail(reply.error());
  if (!reply->get_bool("ok")) {
    const Value* e = reply->find("error");
    const std::string code = e != nullptr ? e->get_string("code") : "";
    const std::string message = e != nullptr ? e->get_string("message") : "no reason given";
    return make_error(error_code_from_name(code), "the authority refused: " + message);
  }
  return reply;
}

Result<Value> call_authority(AuthorityConnection& connection, Value request,
                             const std::string& public_key, bool* forged) {
  if (forged != nullptr) *forged = false;
  if (public_key.empty()) {
    request["sign"] = false;  // nothing would check it
    return connection.call(std::move(request));
  }
  if (connection.proven()) {
    request["sign"] = false;
    return connection.call(std::move(request));
  }
  auto nonce = random_id(16);
  if (!nonce.ok()) return nonce.error();
  request["nonce"] = *nonce;
  auto reply = connection.call(std::move(request));
  if (!reply.ok()) return reply;
  if (reply->get_string("nonce") != *nonce || !verify_authority_signature(*reply, public_key)) {
    if (forged != nullptr) *forged = true;
    return make_error(ErrorCode::kPermissionDenied, "the answer from the authority at " +
                                                        connection.socket() +
                                                        " is not signed by its pinned key");
  }
  connection.set_proven();
  return reply;
}

}  // namespace stepgate
