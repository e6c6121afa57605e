// `stepgate daemon --status` and `--stop`: what listens on the daemon's socket, and stopping it.
// Since `hooks install` and `agent-hook claude --print-config` start a daemon on first use, a
// user needs to see it and stop it without hunting for its pid.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ostream>
#include <string>
#include <thread>

#include "daemon.h"

namespace stepgate {
namespace {

constexpr auto kStopWait = std::chrono::seconds(5);
constexpr auto kStopPoll = std::chrono::milliseconds(20);

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
  bool nobody = false;
  const int fd = hookd::connect_socket(path, nobody);
  if (fd < 0) return peer;
  // The client's own trust rule, against the file this `stepgate` runs.
  const hookd::Peer who = hookd::peer_of(fd, "/proc/self/exe");
  ::close(fd);  // the daemon reads an empty request and drops it
  peer.pid = who.pid;
  peer.state = who.trusted ? DaemonPeer::State::kOurs : DaemonPeer::State::kForeign;
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
