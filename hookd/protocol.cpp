#include "protocol.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace stepgate::hookd {
namespace {

constexpr std::string_view kRequestMagic = "SGH1";
constexpr std::string_view kResponseMagic = "SGR1";

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
}

void put_str(std::string& out, std::string_view s) {
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

std::string framed(const std::string& body) {
  std::string out;
  put_u32(out, static_cast<uint32_t>(body.size()));
  return out + body;
}

/// Reads exactly n bytes into out; false on EOF or error.
bool read_exact(int fd, std::string& out, std::size_t n) {
  out.resize(n);
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, out.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

}  // namespace

std::string encode(const Request& r) {
  std::string body(kRequestMagic);
  put_u32(body, r.flags);
  put_u32(body, static_cast<uint32_t>(r.args.size()));
  for (const auto& a : r.args) put_str(body, a);
  put_u32(body, static_cast<uint32_t>(r.env.size()));
  for (const auto& e : r.env) put_str(body, e);
  put_str(body, r.cwd);
  put_str(body, r.input);
  return framed(body);
}

std::string encode(const Response& r) {
  std::string body(kResponseMagic);
  put_u32(body, static_cast<uint32_t>(r.exit_code));
  put_str(body, r.out);
  put_str(body, r.err);
  return framed(body);
}

bool decode(std::string_view body, Request& r) {
  Cursor c(body);
  uint32_t n = 0;
  if (!c.magic(kRequestMagic) || !c.u32(r.flags) || !c.u32(n) || n == 0 || n > kMaxArgs) {
    return false;
  }
  r.args.assign(n, {});
  for (auto& a : r.args) c.str(a);
  if (!c.u32(n) || n > kMaxEnv) return false;
  r.env.assign(n, {});
  for (auto& e : r.env) c.str(e);
  c.str(r.cwd);
  c.str(r.input);
  return c.done();
}

bool decode(std::string_view body, Response& r) {
  Cursor c(body);
  uint32_t code = 0;
  if (!c.magic(kResponseMagic) || !c.u32(code) || code > 255) return false;
  r.exit_code = static_cast<int>(code);
  c.str(r.out);
  c.str(r.err);
  return c.done();
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool read_frame(int fd, std::string& body) {
  std::string head;
  if (!read_exact(fd, head, 4)) return false;
  Cursor c(head);
  uint32_t n = 0;
  if (!c.u32(n) || n > kMaxFrameBytes) return false;
  return read_exact(fd, body, n);
}

std::string socket_path(std::string_view daemon_socket, std::string_view runtime_dir) {
  if (!daemon_socket.empty()) return std::string(daemon_socket);
  if (!runtime_dir.empty() && runtime_dir[0] == '/') {
    return std::string(runtime_dir) + "/stepgate/hookd.sock";
  }
  return "/tmp/stepgate-" + std::to_string(::geteuid()) + "/hookd.sock";
}

std::string default_socket_path() {
  const char* socket = std::getenv("STEPGATE_DAEMON_SOCKET");
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  return socket_path(socket != nullptr ? socket : "", runtime != nullptr ? runtime : "");
}

bool private_dir(const std::string& dir) {
  struct stat st {};
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
         (st.st_mode & 077) == 0;
}

int connect_socket(const std::string& path, bool& nobody) {
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

Peer peer_of(int fd, const std::string& exe) {
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

bool client_is_ours(int fd) {
  ucred peer{};
  socklen_t len = sizeof peer;
  return ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && peer.uid == ::geteuid();
}

}  // namespace stepgate::hookd
