// The Unix socket listener: one thread per connection (bounded), each reading framed requests
// and answering them in order. The caller's identity is read once per connection from the kernel.
#include "server.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "stepgate/authority.h"
#include "stepgate/json.h"

namespace stepgate::authority {
namespace {

constexpr int kMaxConnections = 128;
constexpr int kPollMs = 200;
constexpr int kIdleSeconds = 300;  // a connection with no request for this long is closed

std::atomic<int> g_connections{0};

void serve_connection(Authority& authority, int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    ::close(fd);
    --g_connections;
    return;
  }
  const Peer peer = authority.peer_for(cred.uid, cred.pid);
  timeval tv{kIdleSeconds, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (;;) {
    auto body = read_authority_frame(fd);
    if (!body.ok()) {
      if (body.error().code == ErrorCode::kResourceExhausted) {
        // Answer once, then close: the rest of the oversized frame is not read.
        const Value reply = authority.refuse("frame", peer, body.error());
        (void)write_authority_frame(fd, to_json(reply));
      }
      break;
    }
    auto request = parse_authority_body(*body);
    const Value reply = request.ok() ? authority.handle(*request, peer)
                                     : authority.refuse("frame", peer, request.error());
    if (!write_authority_frame(fd, to_json(reply)).ok()) break;
  }
  ::close(fd);
  --g_connections;
}

Result<int> listen_on(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return invalid_argument("socket path " + path + " is too long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return make_error(ErrorCode::kFailedPrecondition, path + " exists and is not a socket");
    }
    ::unlink(path.c_str());  // a stale socket from an earlier run
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(ErrorCode::kUnavailable, std::string("socket: ") + strerror(errno));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::chmod(path.c_str(), 0666) != 0 || ::listen(fd, 128) != 0) {
    const std::string why = strerror(errno);
    ::close(fd);
    return make_error(ErrorCode::kUnavailable, path + ": cannot listen: " + why);
  }
  return fd;
}

}  // namespace

Status serve(Authority& authority, const std::atomic<bool>& stop, std::ostream& log) {
  const std::string& path = authority.config().socket;
  auto fd = listen_on(path);
  if (!fd.ok()) return fd.error();
  std::unique_ptr<Inbox> inbox;
  if (authority.config().inbox_port != 0) {
    auto started = Inbox::start(authority);
    if (!started.ok()) {
      ::close(*fd);
      return started.error();
    }
    inbox = std::move(*started);
  }
  log << "stepgate authority: listening on " << path;
  if (inbox) {
    log << " and http://" << authority.config().inbox_host << ":" << authority.config().inbox_port
        << "/approvals";
  }
  log << " (key " << authority.public_key() << ")" << std::endl;
  while (!stop.load()) {
    pollfd p{*fd, POLLIN, 0};
    const int n = ::poll(&p, 1, kPollMs);
    if (n <= 0) continue;
    const int client = ::accept4(*fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    if (g_connections.load() >= kMaxConnections) {
      ::close(client);  // over the cap: the front-end reports the authority as unreachable
      continue;
    }
    ++g_connections;
    std::thread(serve_connection, std::ref(authority), client).detach();
  }
  ::close(*fd);
  ::unlink(path.c_str());
  inbox.reset();
  // Let connections finish their current request before the audit log is closed.
  for (int i = 0; i < 50 && g_connections.load() > 0; ++i) ::usleep(20000);
  return authority.close();
}

}  // namespace stepgate::authority
