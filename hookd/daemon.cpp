#include "daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

#include "claude_hook.h"
#include "claude_hook_http.h"
#include "hook_run.h"
#include "host_hook.h"
#include "stepgate/exit_codes.h"
#include "stepgate/gate_failure.h"
#include "stepgate/paths.h"
#include "worker_pool.h"

namespace stepgate {
namespace {

constexpr int kPollMs = 1000;
constexpr std::size_t kQueuedPerWorker = 4;

volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int /*signal*/) {
  g_stop = 1;
}

hookd::Response failure(const std::string& message) {
  return {kExitError, "", "stepgate: " + message + "\n"};
}

/// The same arguments stepgate-claude-hook takes, less --print-config (and --host: the hook's
/// name, args[0], says which host).
bool parse_agent_args(const std::vector<std::string>& args, ClaudeHookOptions& options,
                      std::string& why) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if ((arg == "--policy" || arg == "--server") && i + 1 < args.size()) {
      (arg == "--policy" ? options.policy_path : options.server_url) = args[++i];
    } else {
      why = "unknown argument " + arg + " (usage: stepgate-hook " + args[0] +
            " [--policy FILE] [--server URL])";
      return false;
    }
  }
  return true;
}

/// The socket's directory must be ours and closed to others: another user who could create or
/// replace the socket could answer for the gate.
Status check_socket_dir(const std::string& dir) {
  if (Status s = ensure_private_dir(dir); !s.ok()) return s;
  if (!hookd::private_dir(dir)) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "socket directory " + dir +
                          " must be a directory of yours, closed to others (chown it, then "
                          "chmod 700 " +
                          dir + ")");
  }
  return {};
}

/// The file this process runs (device and inode) and the path it was started from.
struct ExeIdentity {
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;
};

ExeIdentity running_exe() {
  ExeIdentity id;
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  struct stat st {};
  if (n > 0 && ::stat("/proc/self/exe", &st) == 0) {
    id.path.assign(buffer, static_cast<std::size_t>(n));
    id.dev = st.st_dev;
    id.ino = st.st_ino;
  }
  return id;
}

/// False once the path we were started from holds another file (an upgrade) or none.
bool still_installed(const ExeIdentity& exe) {
  if (exe.path.empty()) return true;  // no /proc: nothing to compare
  struct stat st {};
  return ::stat(exe.path.c_str(), &st) == 0 && st.st_dev == exe.dev && st.st_ino == exe.ino;
}

/// The listening socket and the lock that makes it this daemon's alone.
struct Listener {
  int socket = -1;
  int lock = -1;
};

Result<Listener> listen_on(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    return make_error(ErrorCode::kInvalidArgument, "socket path " + path + " is longer than " +
                                                       std::to_string(sizeof addr.sun_path - 1) +
                                                       " bytes");
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (Status s = check_socket_dir(std::filesystem::path(path).parent_path().string()); !s.ok()) {
    return s.error();
  }
  // One daemon per socket: two started at once (two hook calls each starting one) would both
  // see no live socket, and the later would unlink the earlier's socket before it listens. The
  // lock is held, by its open descriptor, for the daemon's lifetime.
  const std::string lock_path = path + ".lock";
  Listener l;
  l.lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (l.lock < 0) {
    return make_error(ErrorCode::kUnavailable,
                      "cannot open " + lock_path + ": " + std::strerror(errno));
  }
  auto fail = [&l](ErrorCode code, const std::string& message) {
    ::close(l.lock);
    return make_error(code, message);
  };
  if (::flock(l.lock, LOCK_EX | LOCK_NB) != 0) {
    return fail(ErrorCode::kFailedPrecondition, "a daemon is already running on " + path);
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return fail(ErrorCode::kFailedPrecondition, path + " exists and is not a socket");
    }
    bool nobody = false;
    if (const int live = hookd::connect_socket(path, nobody); live >= 0) {
      ::close(live);  // a daemon from before the lock file, or one that ignores it
      return fail(ErrorCode::kFailedPrecondition, "a daemon is already listening on " + path);
    }
    ::unlink(path.c_str());  // left by a daemon that did not exit cleanly
  }
  l.socket = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l.socket < 0) {
    return fail(ErrorCode::kUnavailable, std::string("socket: ") + std::strerror(errno));
  }
  const mode_t old_mask = ::umask(077);
  const int bound = ::bind(l.socket, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (bound != 0 || ::listen(l.socket, 64) != 0) {
    const std::string why = std::strerror(errno);
    ::close(l.socket);
    return fail(ErrorCode::kUnavailable, "listen on " + path + ": " + why);
  }
  return l;
}

/// Connections queued for the workers, bounded so that a burst waits in the kernel's listen
/// backlog rather than as open descriptors here.
class InFlight {
 public:
  explicit InFlight(std::size_t cap) : cap_(cap) {}
  /// True when under the cap, waiting up to `timeout` for a request to finish.
  bool wait_for_room(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return room_.wait_for(lock, timeout, [this] { return count_ < cap_; });
  }
  void add() {
    std::lock_guard lock(mu_);
    ++count_;
  }
  void done() {
    {
      std::lock_guard lock(mu_);
      --count_;
    }
    room_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable room_;
  std::size_t count_ = 0;
  std::size_t cap_;
};

/// One worker per core: a request is CPU work (policy evaluation, a push's scan) plus short
/// SQLite and audit writes, so more threads than cores would only queue inside the kernel.
std::size_t worker_count() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 2 : std::max(2U, cores);
}

void serve_connection(int fd, GatePool& pool) {
  if (!hookd::client_is_ours(fd)) return;  // another user's process: no answer
  timeval timeout{hookd::kStallTimeoutSeconds, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string body;
  if (!hookd::read_frame(fd, body)) return;  // over the limit or cut short: the client decides
  hookd::Request request;
  const hookd::Response response = hookd::decode(body, request)
                                       ? serve_hook_request(request, pool)
                                       : failure("malformed hook daemon request");
  (void)hookd::write_all(fd, hookd::encode(response));
}

}  // namespace

hookd::Response serve_hook_request(const hookd::Request& request, GatePool& pool) {
  if (request.args.empty()) return failure("malformed hook daemon request");
  const std::string& hook = request.args[0];
  // Claude Code, or another agent host (codex, cursor, gemini, copilot), or git.
  const HostAdapter* host = find_host_adapter(hook);
  const bool agent = hook == "claude" || host != nullptr;
  ClaudeHookOptions agent_options;
  HookOptions git_options;
  std::string why;
  if (agent) {
    if (!parse_agent_args(request.args, agent_options, why)) return failure(why);
    agent_options.gates = &pool;
  } else if (hook == "pre-push" || hook == "pre-receive") {
    if (!parse_hook_args(request.args, git_options)) {
      return failure("bad arguments for the git hook");
    }
    git_options.gates = &pool;
  } else {
    return failure(
        "the hook daemon serves claude, codex, cursor, gemini, copilot, pre-push and "
        "pre-receive, not " +
        hook);
  }
  std::error_code ec;
  if (request.cwd.empty() || request.cwd[0] != '/' ||
      !std::filesystem::is_directory(request.cwd, ec)) {
    return failure("cannot use the working directory " + request.cwd);
  }
  if (!git_options.chained.empty() &&
      std::filesystem::exists(relative_to(git_options.chained, request.cwd), ec)) {
    // A chained hook gets the client's stdin and terminal: the client runs it, never the daemon.
    return failure("a chained hook runs in the client, not in the daemon");
  }
  // The daemon has no terminal of the client's to ask on.
  std::vector<std::string> env = request.env;
  env.emplace_back("STEPGATE_NO_TTY=1");
  std::istringstream in(request.input);
  std::ostringstream out;
  std::ostringstream err;
  CommandContext context;
  context.io.in = &in;
  context.io.out = &out;
  context.io.err = &err;
  context.io.err_is_tty = (request.flags & hookd::kStderrIsTerminal) != 0;
  context.io.cwd = request.cwd;
  context.io.env = Env(env);
  try {
    if (host != nullptr) {
      run_host_hook(*host, agent_options, context);
    } else if (agent) {
      run_claude_hook(agent_options, context);
    } else {
      context.exit_code = run_hook(git_options, context);
    }
  } catch (...) {
    // Whatever the exception, the client gets the fail-closed answer (exit 2), never silence.
    return failure(describe_exception(std::current_exception()));
  }
  return {context.exit_code, out.str(), err.str()};
}

/// Claude Code's HTTP hook beside the socket, deciding with the same gates in the daemon's own
/// environment (an HTTP request brings none) and never with a terminal.
Result<std::unique_ptr<ClaudeHttpListener>> start_http_hook(int port, GatePool& pool,
                                                            const CommandContext& context) {
  Result<std::string> token = read_claude_http_token(claude_http_token_path(context.io.paths()));
  if (!token.ok()) return token.error();
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  env.emplace_back("STEPGATE_NO_TTY=1");
  ProcessContext process = context.io;
  process.env = Env(env);
  return ClaudeHttpListener::start(port, std::move(token).value(), pool, process);
}

void run_hook_daemon(const HookDaemonOptions& options, CommandContext& context) {
  const std::string path =
      options.socket_path.empty() ? hookd::default_socket_path() : options.socket_path;
  GatePool pool;
  std::unique_ptr<ClaudeHttpListener> http;
  if (options.http_port >= 0) {
    Result<std::unique_ptr<ClaudeHttpListener>> started =
        start_http_hook(options.http_port, pool, context);
    if (!started.ok()) {
      context.exit_code = report_error(context, started.error());
      return;
    }
    http = std::move(started).value();
  }
  Result<Listener> listener = listen_on(path);
  if (!listener.ok()) {
    context.exit_code = report_error(context, listener.error());
    return;
  }
  struct sigaction stop {};
  stop.sa_handler = on_stop_signal;  // no SA_RESTART: poll() returns at once
  ::sigaction(SIGTERM, &stop, nullptr);
  ::sigaction(SIGINT, &stop, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  struct stat ours {};
  ::lstat(path.c_str(), &ours);
  *context.io.err << "stepgate daemon: listening on " << path << "\n";
  if (http) {
    *context.io.err << "stepgate daemon: Claude Code HTTP hook on http://127.0.0.1:" << http->port()
                    << kClaudeHttpPath << "\n";
  }
  context.io.err->flush();

  // An upgrade replaces the binary: its clients no longer trust this daemon (another file than
  // the `stepgate` beside them), so it steps aside for one started from the new binary.
  const ExeIdentity exe = running_exe();
  const std::size_t workers = worker_count();
  InFlight in_flight(workers * kQueuedPerWorker);
  WorkerPool threads(workers);
  std::time_t last_request = std::time(nullptr);
  while (g_stop == 0 && still_installed(exe)) {
    // Accept no more than the workers can hold queued: the rest wait in the listen backlog.
    if (!in_flight.wait_for_room(std::chrono::milliseconds(kPollMs))) continue;
    pollfd p{listener->socket, POLLIN, 0};
    const int ready = ::poll(&p, 1, kPollMs);
    if (ready > 0) {
      const int fd = ::accept4(listener->socket, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        in_flight.add();
        threads.enqueue([fd, &pool, &in_flight] {
          serve_connection(fd, pool);
          ::close(fd);
          in_flight.done();
        });
      }
      last_request = std::time(nullptr);
    } else if (options.idle_exit.count() > 0 &&
               std::time(nullptr) - std::max(last_request, http ? http->last_request() : 0) >=
                   options.idle_exit.count()) {
      break;
    }
  }
  threads.shutdown();  // lets the requests already accepted finish
  if (http) http->stop();
  if (!still_installed(exe)) {
    *context.io.err << "stepgate daemon: " << exe.path << " was replaced or removed; exiting\n";
  }
  ::close(listener->socket);
  struct stat now {};
  // Remove the socket only if it is still ours (a newer daemon may have replaced a stale one).
  if (::lstat(path.c_str(), &now) == 0 && now.st_ino == ours.st_ino && now.st_dev == ours.st_dev) {
    ::unlink(path.c_str());
  }
  ::close(listener->lock);  // after the unlink: a daemon starting now finds no stale socket
  context.exit_code = 0;
}

}  // namespace stepgate
