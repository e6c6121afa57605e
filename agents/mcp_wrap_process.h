#pragma once
// The stdio wrapper's plumbing: spawning the MCP server on pipes, forwarding signals to it, its
// exit code, and the two copy loops between our stdio and its pipes.

#include <sys/types.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mcp_wrap.h"
#include "stepgate/result.h"

namespace stepgate {

/// Writes everything (retrying short writes and EINTR); false when the peer is gone.
bool write_all(int fd, std::string_view bytes);

struct Child {
  pid_t pid = -1;
  int to_child = -1;    // its stdin
  int from_child = -1;  // its stdout
};

/// Starts `command` (argv, PATH lookup, no shell) with its stdin and stdout on pipes.
/// kInvalidArgument when it cannot start.
Result<Child> spawn_child(const std::vector<std::string>& command);

/// SIGINT, SIGTERM and SIGHUP sent to this process go to `pid` (0: nowhere) from now on.
void forward_signals_to(pid_t pid);

/// Waits for `pid`; its exit code, or 128+N when signal N killed it.
int wait_exit_code(pid_t pid);

/// Our stdout, shared by both directions: one whole line per locked write.
class ClientOut {
 public:
  bool write_lines(std::string_view bytes) {
    std::lock_guard lock(mutex_);
    return write_all(STDOUT_FILENO, bytes);
  }

 private:
  std::mutex mutex_;
};

/// The server's stdin, shared by the client pump and held calls: one whole write at a time.
class ServerIn {
 public:
  explicit ServerIn(int fd) : fd_(fd) {}
  ~ServerIn() { close_input(); }
  ServerIn(const ServerIn&) = delete;
  ServerIn& operator=(const ServerIn&) = delete;

  /// False once a write failed or the input was closed.
  bool write_lines(std::string_view bytes) {
    std::lock_guard lock(mutex_);
    if (fd_ < 0) return false;
    if (write_all(fd_, bytes)) return true;
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  /// The server sees end of input.
  void close_input() {
    std::lock_guard lock(mutex_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::mutex mutex_;
  int fd_;
};

/// Child stdout -> our stdout, unchanged; answered request ids leave the pending set. Returns at
/// the child's end of output.
void pump_server(int from_child, ClientOut& out, PendingRequests& pending);

/// Our stdin -> the server's stdin through `pump`, until EOF (true) or until `stop_fd` becomes
/// readable (false).
bool pump_client(ClientPump& pump, ServerIn& server, int stop_fd, ClientOut& out);

}  // namespace stepgate
