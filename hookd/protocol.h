#pragma once
// The hook daemon's contract, defined once for the `stepgate-hook` client, `stepgate daemon` and
// their tests: the wire format, the limits, where the socket is, and whom each side trusts. Kept
// free of the engine (a library of its own), so the client stays a small static binary. The
// exit codes are stepgate/exit_codes.h's, the STEPGATE_NO_TTY rule stepgate/env.h's and the
// chained hook's name hooks/chain.h's, used here as everywhere else.
//
// One request and one response per connection over a Unix stream socket, each a frame: a u32
// body length, then
//   request body:  "SGH1" u32:flags u32:nargs {str} u32:nenv {str} str:cwd str:stdin
//   response body: "SGR1" u32:exit_code str:stdout str:stderr
// where str is a u32 length and the bytes; integers are little-endian.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stepgate::hookd {

/// Largest frame either side accepts: an 8 MiB Claude Code event (Write carries whole files) plus
/// the environment.
inline constexpr std::size_t kMaxFrameBytes = std::size_t{9} * 1024 * 1024;
inline constexpr std::size_t kMaxArgs = 64;
inline constexpr std::size_t kMaxEnv = 4096;

/// What a client sends and waits for: stdin over this (a push of ~80,000 refs, or a Claude Code
/// event's own limit) is handed to the in-process hook whole, never cut short; and a daemon that
/// has not answered in this long (it may wait on SQLite) is given up on, the call decided there.
inline constexpr std::size_t kMaxInputBytes = std::size_t{8} * 1024 * 1024;
inline constexpr int kReplyTimeoutSeconds = 120;
/// A client that stalls mid-frame is dropped by the daemon after this long.
inline constexpr int kStallTimeoutSeconds = 10;

/// Request flags.
inline constexpr uint32_t kStderrIsTerminal = 1;  // the client's stderr is a terminal (colour)

struct Request {
  uint32_t flags = 0;
  std::vector<std::string> args;  // the hook first ("claude", "pre-push"...), then its arguments
  std::vector<std::string> env;   // NAME=VALUE, the client's whole environment
  std::string cwd;
  std::string input;  // the client's stdin
};

struct Response {
  int exit_code = 2;
  std::string out;
  std::string err;
};

/// The frame (length prefix included) for a request or a response.
std::string encode(const Request& r);
std::string encode(const Response& r);

/// Decodes a frame body (without its length prefix); false when it is malformed or over a limit.
bool decode(std::string_view body, Request& r);
bool decode(std::string_view body, Response& r);

/// Writes all of `data`; false on any error.
bool write_all(int fd, std::string_view data);
/// Reads one frame's body; false on EOF, error, or a length over kMaxFrameBytes.
bool read_frame(int fd, std::string& body);

/// The socket path rule: `daemon_socket` ($STEPGATE_DAEMON_SOCKET) when set, else
/// `runtime_dir`/stepgate/hookd.sock when $XDG_RUNTIME_DIR is absolute, else
/// /tmp/stepgate-UID/hookd.sock.
std::string socket_path(std::string_view daemon_socket, std::string_view runtime_dir);
/// socket_path() from this process's environment.
std::string default_socket_path();

/// True when `dir` is a directory of ours that nobody else can enter or write: what the socket's
/// directory must be (another user who could replace the socket could answer for the gate). The
/// daemon refuses to listen anywhere else, and the client starts no daemon anywhere else.
bool private_dir(const std::string& dir);

/// Connects to the daemon's socket at `path`; -1 on failure, with `nobody` set when nothing
/// listens there (no socket, or one left by a daemon that is gone).
int connect_socket(const std::string& path, bool& nobody);

/// Who is at the other end of a connected daemon socket.
struct Peer {
  pid_t pid = 0;         // 0 when the kernel does not say
  bool trusted = false;  // see peer_of()
};

/// The client's trust rule for a daemon: the peer (SO_PEERCRED) is this user's process and its
/// /proc/PID/exe is the file `exe` (same device and inode), this installation's `stepgate`.
Peer peer_of(int fd, const std::string& exe);

/// The daemon's rule for a client: the peer is a process of this user. Anything else gets no
/// answer.
bool client_is_ours(int fd);

}  // namespace stepgate::hookd
