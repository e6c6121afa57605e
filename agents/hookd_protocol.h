#pragma once
// The hook daemon's wire format, shared by `stepgate daemon` and the `stepgate-hook` client and
// kept free of the engine, so the client stays a small static binary. One request and one
// response per connection over a Unix stream socket, each a frame: a u32 body length, then
//   request body:  "SGH1" u32:flags u32:nargs {str} u32:nenv {str} str:cwd str:stdin
//   response body: "SGR1" u32:exit_code str:stdout str:stderr
// where str is a u32 length and the bytes; integers are little-endian.

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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

namespace detail {

inline void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
}

inline void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

/// Reads from a frame body; every read fails once the body is short (ok() turns false).
class Cursor {
 public:
  explicit Cursor(std::string_view body) : body_(body) {}
  bool u32(uint32_t& v) {
    if (!ok_ || body_.size() - pos_ < 4) return ok_ = false;
    v = 0;
    for (int i = 0; i < 4; ++i) {
      v |= static_cast<uint32_t>(static_cast<unsigned char>(body_[pos_ + i])) << (8 * i);
    }
    pos_ += 4;
    return true;
  }
  bool str(std::string& s) {
    uint32_t n = 0;
    if (!u32(n) || body_.size() - pos_ < n) return ok_ = false;
    s.assign(body_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool magic(std::string_view m) {
    if (!ok_ || body_.substr(pos_, m.size()) != m) return ok_ = false;
    pos_ += m.size();
    return true;
  }
  [[nodiscard]] bool done() const { return ok_ && pos_ == body_.size(); }

 private:
  std::string_view body_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

inline std::string framed(const std::string& body) {
  std::string out;
  put_u32(out, static_cast<uint32_t>(body.size()));
  return out + body;
}

}  // namespace detail

/// The frame (length prefix included) for a request or a response.
inline std::string encode(const Request& r) {
  std::string body = "SGH1";
  detail::put_u32(body, r.flags);
  detail::put_u32(body, static_cast<uint32_t>(r.args.size()));
  for (const auto& a : r.args) detail::put_str(body, a);
  detail::put_u32(body, static_cast<uint32_t>(r.env.size()));
  for (const auto& e : r.env) detail::put_str(body, e);
  detail::put_str(body, r.cwd);
  detail::put_str(body, r.input);
  return detail::framed(body);
}

inline std::string encode(const Response& r) {
  std::string body = "SGR1";
  detail::put_u32(body, static_cast<uint32_t>(r.exit_code));
  detail::put_str(body, r.out);
  detail::put_str(body, r.err);
  return detail::framed(body);
}

/// Decodes a frame body (without its length prefix); false when it is malformed or over a limit.
inline bool decode(std::string_view body, Request& r) {
  detail::Cursor c(body);
  uint32_t n = 0;
  if (!c.magic("SGH1") || !c.u32(r.flags) || !c.u32(n) || n == 0 || n > kMaxArgs) return false;
  r.args.assign(n, {});
  for (auto& a : r.args) c.str(a);
  if (!c.u32(n) || n > kMaxEnv) return false;
  r.env.assign(n, {});
  for (auto& e : r.env) c.str(e);
  c.str(r.cwd);
  c.str(r.input);
  return c.done();
}

inline bool decode(std::string_view body, Response& r) {
  detail::Cursor c(body);
  uint32_t code = 0;
  if (!c.magic("SGR1") || !c.u32(code) || code > 255) return false;
  r.exit_code = static_cast<int>(code);
  c.str(r.out);
  c.str(r.err);
  return c.done();
}

/// Writes all of `data`; false on any error.
inline bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Reads exactly n bytes into out; false on EOF or error.
inline bool read_exact(int fd, std::string& out, std::size_t n) {
  out.resize(n);
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, out.data() + got, n - got);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

/// Reads one frame's body; false on EOF, error, or a length over kMaxFrameBytes.
inline bool read_frame(int fd, std::string& body) {
  std::string head;
  if (!read_exact(fd, head, 4)) return false;
  detail::Cursor c(head);
  uint32_t n = 0;
  if (!c.u32(n) || n > kMaxFrameBytes) return false;
  return read_exact(fd, body, n);
}

/// Where the daemon listens: $STEPGATE_DAEMON_SOCKET, else $XDG_RUNTIME_DIR/stepgate/hookd.sock,
/// else /tmp/stepgate-UID/hookd.sock.
/// True when `dir` is a directory of ours that nobody else can enter or write: what the socket's
/// directory must be (another user who could replace the socket could answer for the gate). The
/// daemon refuses to listen anywhere else, and the client starts no daemon anywhere else.
inline bool private_dir(const std::string& dir) {
  struct stat st {};
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
         (st.st_mode & 077) == 0;
}

/// Connects to the daemon's socket at `path`; -1 on failure, with `nobody` set when nothing
/// listens there (no socket, or one left by a daemon that is gone).
inline int connect_socket(const std::string& path, bool& nobody) {
  nobody = false;
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return -1;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    nobody = errno == ENOENT || errno == ECONNREFUSED;
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Who listens at the other end of a connected daemon socket.
struct Peer {
  pid_t pid = 0;         // 0 when the kernel does not say
  bool trusted = false;  // this user's, and running the file `exe` (same device and inode)
};

/// The one trust rule for a daemon: the peer (SO_PEERCRED) is this user's process and its
/// /proc/PID/exe is the file `exe`, this installation's `stepgate`.
inline Peer peer_of(int fd, const std::string& exe) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return {};
  Peer peer{cred.pid, false};
  struct stat theirs {};
  struct stat ours {};
  const std::string their_exe = "/proc/" + std::to_string(cred.pid) + "/exe";
  peer.trusted = cred.uid == ::geteuid() && ::stat(their_exe.c_str(), &theirs) == 0 &&
                 ::stat(exe.c_str(), &ours) == 0 && theirs.st_dev == ours.st_dev &&
                 theirs.st_ino == ours.st_ino;
  return peer;
}

inline std::string default_socket_path() {
  if (const char* s = std::getenv("STEPGATE_DAEMON_SOCKET"); s != nullptr && *s != '\0') return s;
  if (const char* r = std::getenv("XDG_RUNTIME_DIR"); r != nullptr && *r == '/') {
    return std::string(r) + "/stepgate/hookd.sock";
  }
  return "/tmp/stepgate-" + std::to_string(::geteuid()) + "/hookd.sock";
}

}  // namespace stepgate::hookd
