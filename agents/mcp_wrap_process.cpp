// The stdio wrapper's child process.
#include "mcp_wrap_process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace stepgate {
namespace {

std::atomic<pid_t> g_child{0};

void forward_signal(int sig) {
  const pid_t child = g_child.load();
  if (child > 0) kill(child, sig);
}

constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP};

}  // namespace

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

Result<Child> spawn_child(const std::vector<std::string>& command) {
  int in_pipe[2];
  int out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return make_error(ErrorCode::kInternal, "pipe failed");
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return make_error(ErrorCode::kInternal, "pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  for (int sig : kForwardedSignals) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  argv.reserve(command.size() + 1);
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  Child child;
  const int rc = posix_spawnp(&child.pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    return invalid_argument("cannot run `" + command[0] + "`: " + std::strerror(rc));
  }
  child.to_child = in_pipe[1];
  child.from_child = out_pipe[0];
  return child;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

void forward_signals_to(pid_t pid) {
  g_child.store(pid);
  if (pid <= 0) return;
  struct sigaction action {};
  action.sa_handler = forward_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int sig : kForwardedSignals) sigaction(sig, &action, nullptr);
}

void pump_server(int from_child, ClientOut& out, PendingRequests& pending) {
  LineSplitter lines;
  char buffer[64 * 1024];
  std::string batch;
  std::string line;
  for (;;) {
    const ssize_t n = read(from_child, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    lines.feed({buffer, static_cast<std::size_t>(n)});
    batch.clear();
    while (lines.next_line(line)) {
      if (!pending.empty()) {
        for (const std::string& id : response_ids(line)) pending.remove(id);
      }
      batch.append(line).push_back('\n');
    }
    if (!batch.empty()) out.write_lines(batch);
  }
  const std::string rest = lines.take_rest();
  if (!rest.empty()) out.write_lines(rest + "\n");
}

bool pump_client(ClientPump& pump, ServerIn& server, int stop_fd, ClientOut& out) {
  LineSplitter lines;
  char buffer[64 * 1024];
  std::string forward;
  std::string line;
  auto handle = [&](std::string_view text) {
    ClientLineResult result = pump.handle_line(text);
    if (!result.forward.empty()) forward.append(result.forward).push_back('\n');
    if (!result.reply.empty()) {
      // Keep order: what was forwarded before this line goes first.
      if (!forward.empty()) server.write_lines(forward);
      forward.clear();
      out.write_lines(result.reply + "\n");
    }
  };
  for (;;) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) return false;
    const ssize_t n = read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    lines.feed({buffer, static_cast<std::size_t>(n)});
    forward.clear();
    while (lines.next_line(line)) {
      if (!line.empty()) handle(line);
    }
    if (!forward.empty()) server.write_lines(forward);
  }
  forward.clear();
  const std::string rest = lines.take_rest();
  if (!rest.empty()) handle(rest);
  if (!forward.empty()) server.write_lines(forward);
  return true;
}

}  // namespace stepgate
