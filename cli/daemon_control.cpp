// `stepgate daemon --status` and `--stop`: what listens on the daemon's socket, and stopping it.
// Since `hooks install` and `agent-hook claude --print-config` start a daemon on first use, a
// user needs to see it and stop it without hunting for its pid.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ostream>
#include <string>
#include <thread>

#include "hookd.h"

namespace stepgate {
namespace {

constexpr auto kStopWait = std::chrono::seconds(5);
constexpr auto kStopPoll = std::chrono::milliseconds(20);

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {};
  struct stat sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

bool process_gone(pid_t pid) {
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

std::string describe_foreign(const DaemonPeer& peer) {
  return "pid " + std::to_string(peer.pid) + " listening there is not this installation's " +
         "stepgate daemon";
}

}  // namespace

DaemonPeer find_daemon(const std::string& path) {
  DaemonPeer peer;
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return peer;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return peer;
  ucred cred{};
  socklen_t len = sizeof cred;
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  const bool known = connected && ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
  ::close(fd);  // the daemon reads an empty request and drops it
  if (!connected) return peer;
  peer.state = DaemonPeer::State::kForeign;
  if (!known) return peer;
  peer.pid = cred.pid;
  // Ours: this user's, running the same file as this `stepgate` (as the client checks).
  if (cred.uid == ::geteuid() &&
      same_file("/proc/" + std::to_string(cred.pid) + "/exe", "/proc/self/exe")) {
    peer.state = DaemonPeer::State::kOurs;
  }
  return peer;
}

int run_daemon_status(const std::string& path, CommandContext& context) {
  const DaemonPeer peer = find_daemon(path);
  std::ostream& out = *context.io.out;
  switch (peer.state) {
    case DaemonPeer::State::kOurs:
      out << "stepgate daemon: running (pid " << peer.pid << ") on " << path << "\n";
      return 0;
    case DaemonPeer::State::kForeign:
      out << "stepgate daemon: not running on " << path << " (" << describe_foreign(peer) << ")\n";
      return 1;
    case DaemonPeer::State::kNone:
      break;
  }
  out << "stepgate daemon: not running on " << path << "\n";
  return 1;
}

int run_daemon_stop(const std::string& path, CommandContext& context) {
  const DaemonPeer peer = find_daemon(path);
  if (peer.state == DaemonPeer::State::kNone) {
    *context.io.out << "stepgate daemon: not running on " << path << "\n";
    return 0;
  }
  if (peer.state == DaemonPeer::State::kForeign) {
    return report_error(context,
                        make_error(ErrorCode::kFailedPrecondition,
                                   describe_foreign(peer) + " (" + path + "); left alone"));
  }
  if (::kill(peer.pid, SIGTERM) != 0 && !process_gone(peer.pid)) {
    return report_error(context, make_error(ErrorCode::kPermissionDenied,
                                            "cannot signal pid " + std::to_string(peer.pid) + ": " +
                                                std::strerror(errno)));
  }
  const auto deadline = std::chrono::steady_clock::now() + kStopWait;
  while (!process_gone(peer.pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kStopPoll);
  }
  if (!process_gone(peer.pid)) {
    *context.io.err << "stepgate: the daemon (pid " << peer.pid << ") did not exit within "
                    << kStopWait.count() << " s\n";
    return 1;
  }
  *context.io.out << "stepgate daemon: stopped (pid " << peer.pid << ") on " << path << "\n";
  return 0;
}

}  // namespace stepgate
