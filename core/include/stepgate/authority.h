#pragma once
/// The front-end side of the authority (DESIGN.md "Trust: local mode and the authority"): where
/// it is configured, its wire format (framed JSON over a Unix socket), and the decision source a
/// Gate uses in place of its in-process engine when an authority is configured.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "stepgate/paths.h"
#include "stepgate/result.h"
#include "stepgate/value.h"

namespace stepgate {

/// The one protocol version both sides speak; a request with another "v" is refused.
inline constexpr int kAuthorityProtocolVersion = 1;
/// Largest frame either side accepts (a push's signals or a Write tool call's file content).
inline constexpr std::size_t kAuthorityMaxFrameBytes = std::size_t{8} * 1024 * 1024;
/// Deepest JSON nesting either side accepts.
inline constexpr int kAuthorityMaxJsonDepth = 32;
/// The socket a system install creates.
inline constexpr const char* kDefaultAuthoritySocket = "/run/stepgate/authority.sock";
/// The root-owned front-end configuration that wins over the user's.
inline constexpr const char* kSystemConfigPath = "/etc/stepgate/config.yaml";

/// The signals the authority computes from its own store and clock: what a client sends for them
/// is dropped. A decision's reply carries only these; the rest of the signals it decided on are
/// the request's, with the action kind's defaults (fill_signal_defaults) for any missing.
inline constexpr std::string_view kAuthoritySignals[] = {"hour",         "weekday",
                                                         "off_hours",    "actor",
                                                         "device",       "device_known",
                                                         "velocity",     "elevated",
                                                         "unusual_hour", "unusual_hour_reason",
                                                         "volume_z",     "volume_reason",
                                                         "new_resource", "new_resource_reason"};

/// Where the front-ends find the authority, and how they check its answers.
struct AuthorityEndpoint {
  std::string socket;      // Unix socket path
  std::string public_key;  // "ed25519:..." pinned: decisions and the cached policy must verify
  std::string source;      // the file or variable that named it, for messages
  bool system = false;     // named by the root-owned system configuration
};

/// Finds the configured authority: a root-owned, not group/other-writable /etc/stepgate/config.yaml
/// naming one wins; else the user's config_dir/config.yaml; else $STEPGATE_AUTHORITY (a socket
/// path). $STEPGATE_SYSTEM_CONFIG names another system file, honoured only when the real one is
/// absent and the named file passes the same ownership check (tests run as root in a temp root).
/// nullopt: local mode. kInvalidArgument names file:line:column for a bad file.
Result<std::optional<AuthorityEndpoint>> find_authority(const Paths& paths, const Env& env = {});

/// Parses a front-end config file's text (`authority: {socket, public_key}`); `name` is used in
/// messages. nullopt when it names no authority.
Result<std::optional<AuthorityEndpoint>> parse_authority_config(std::string_view text,
                                                                const std::string& name);

// ---- Wire -------------------------------------------------------------------------------------
// One frame: a 4-byte big-endian body length, then the body: one JSON object. A connection carries
// any number of request/reply pairs, in order. Every request has "v" and "op"; every reply has
// "ok" and, when false, "error": {"code": error_code_name, "message"}.

/// Writes one frame (EINTR-safe, no SIGPIPE). kUnavailable on failure, or when a non-blocking
/// socket stays full for `timeout_ms` (0: give up at once, for a thread that must not wait on a
/// peer).
Status write_authority_frame(int fd, std::string_view body, int timeout_ms = 120 * 1000);
/// Reads one frame; kNotFound on a clean end of stream before a frame starts, kResourceExhausted
/// past `max_bytes`, kUnavailable on a short read or when the whole frame has not arrived within
/// `timeout_ms`.
Result<std::string> read_authority_frame(int fd, std::size_t max_bytes = kAuthorityMaxFrameBytes,
                                         int timeout_ms = 120 * 1000);
/// Reads, without waiting, what has arrived of one frame on a non-blocking socket, after what
/// earlier calls read of it into `partial`. The body once the frame is whole (`partial` is then
/// emptied, its buffer kept for the next frame); no value while part of it has yet to arrive; the
/// same errors as read_authority_frame. A server waits for the rest on its event loop, so a peer
/// that sends part of a frame and stalls holds no thread.
Result<std::optional<std::string>> read_authority_frame_part(
    int fd, std::string& partial, std::size_t max_bytes = kAuthorityMaxFrameBytes);
/// Parses a frame body with the wire's size and depth limits; a body that is not an object is
/// kInvalidArgument.
Result<Value> parse_authority_body(std::string_view body);

/// A connection to the authority's socket.
class AuthorityConnection {
 public:
  /// Connects; kUnavailable names the socket and why ("connect: No such file or directory").
  static Result<std::unique_ptr<AuthorityConnection>> connect(const std::string& socket,
                                                              int timeout_seconds = 120);
  ~AuthorityConnection();
  AuthorityConnection(const AuthorityConnection&) = delete;
  AuthorityConnection& operator=(const AuthorityConnection&) = delete;

  /// Sends `request` (v is added) and returns the reply; a reply with ok=false becomes an Error
  /// with its code (kPermissionDenied for a refusal).
  Result<Value> call(Value request);
  [[nodiscard]] const std::string& socket() const { return socket_; }
  /// Whether a reply on this connection has proven the pinned key: signed over a fresh nonce the
  /// request carried. The peer of a Unix stream socket cannot change while it is open, so later
  /// requests on a proven connection may ask for unsigned replies ("sign": false).
  [[nodiscard]] bool proven() const { return proven_; }
  void set_proven() { proven_ = true; }

 private:
  AuthorityConnection(int fd, std::string socket) : fd_(fd), socket_(std::move(socket)) {}
  int fd_ = -1;
  std::string socket_;
  bool proven_ = false;
};

/// Sends `request` on `connection` and checks the answer comes from the holder of `public_key`
/// ("" = no key pinned: nothing to check). On a connection not yet proven the request carries a
/// fresh nonce, and the reply must echo it under a valid signature; after that the connection is
/// proven and later replies come unsigned. A reply that fails the check is kPermissionDenied
/// with `*forged` set (a refusal from the authority leaves it false).
Result<Value> call_authority(AuthorityConnection& connection, Value request,
                             const std::string& public_key, bool* forged = nullptr);

/// The error code named in a reply ("permission_denied"...), kInternal when unknown.
ErrorCode error_code_from_name(std::string_view name);

/// The bytes an authority signs for a reply: "stepgate-authority-v1\n" + canonical JSON of the
/// reply without "signature".
std::string authority_signed_text(const Value& reply);

/// Checks reply["signature"] (base64url Ed25519) against `public_key` ("ed25519:...").
bool verify_authority_signature(const Value& reply, const std::string& public_key);

}  // namespace stepgate
