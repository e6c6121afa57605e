// stepgate-hook: a hook command that hands the call to a running `stepgate daemon`, which keeps
// the policy, the state store and the audit log open, so a tool call or a push costs one small
// process and one socket round trip instead of starting the engine. A static binary with no
// engine in it.
//
//   stepgate-hook claude [--policy FILE] [--server URL]          (stepgate-claude-hook's arguments)
//   stepgate-hook codex|cursor|gemini|copilot [--policy FILE] [--server URL]
//                                                     (stepgate-claude-hook --host HOST's
//                                                     arguments)
//   stepgate-hook pre-push|pre-receive ...                      (stepgate-git-hook's arguments)
//
// With no daemon (or one that is not this installation's `stepgate`, or one that fails), it runs
// the in-process hook beside it with the same arguments and the same stdin: the call is always
// decided, never waved through. When no daemon is listening at all it also starts one, detached,
// for the calls after this one (`stepgate daemon --idle-exit 30m`; STEPGATE_DAEMON_AUTOSTART=0
// turns that off). It also runs it for what the daemon cannot do: a chained hook (which needs
// our stdin and terminal), and a pre-push that may ask for a code on a terminal. That push is
// decided there from the start, not sent to the daemon and asked again: one decision, one audit
// record.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "chain.h"
#include "protocol.h"
#include "stepgate/env.h"
#include "stepgate/exit_codes.h"

namespace {

namespace hookd = stepgate::hookd;

constexpr const char* kAutostartIdleExit = "30m";  // a started daemon goes away when unused

/// Which hook, and what runs it in-process.
struct Hook {
  bool git = false;
  std::string local;        // the lean binary beside us
  int local_args_from = 2;  // argv index its arguments start at
  bool may_prompt = false;  // pre-push: the in-process hook asks for a TOTP code on a terminal
  std::vector<std::string> local_prefix;  // arguments before those: `--host HOST`
};

/// The agent hosts besides Claude Code whose hooks the daemon serves (agents/host_hook.h; the
/// client links no engine, so the names are listed here).
bool agent_host(const char* name) {
  for (const char* host : {"codex", "cursor", "gemini", "copilot"}) {
    if (std::strcmp(name, host) == 0) return true;
  }
  return false;
}

std::string self_dir() {
  char buffer[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  if (n <= 0) return {};
  std::string path(buffer, static_cast<std::size_t>(n));
  return path.substr(0, path.rfind('/') + 1);
}

void say(const std::string& text) {
  (void)hookd::write_all(STDERR_FILENO, "stepgate-hook: " + text + "\n");
}

/// Runs the in-process hook with our arguments. `consumed` holds stdin when it was already read.
[[noreturn]] void run_locally(const Hook& hook, char** argv, const std::string* consumed) {
  const std::string& lean = hook.local;
  if (consumed != nullptr) {
    const int fd = memfd_create("stepgate-hook-input", MFD_CLOEXEC);
    if (fd < 0 || !hookd::write_all(fd, *consumed) || lseek(fd, 0, SEEK_SET) != 0 ||
        dup2(fd, STDIN_FILENO) < 0) {
      say(std::string("cannot pass the event on: ") + std::strerror(errno));
      _exit(stepgate::kExitError);
    }
  }
  std::vector<char*> args{const_cast<char*>(lean.c_str())};
  for (const std::string& a : hook.local_prefix) args.push_back(const_cast<char*>(a.c_str()));
  for (char** a = argv + hook.local_args_from; *a != nullptr; ++a) args.push_back(*a);
  args.push_back(nullptr);
  execv(lean.c_str(), args.data());
  say("cannot run " + lean + ": " + std::strerror(errno));
  _exit(stepgate::kExitError);  // Claude Code blocks the call on exit 2: fail closed
}

/// The variables a started daemon keeps: where it listens and where state lives. Each request
/// brings the caller's whole environment anyway; this keeps grants, git's and the agent's
/// variables out of a long-lived process.
bool daemon_keeps(const char* entry) {
  static constexpr const char* kKept[] = {"HOME=",          "PATH=",
                                          "LANG=",          "TZ=",
                                          "TMPDIR=",        "USER=",
                                          "LOGNAME=",       "XDG_RUNTIME_DIR=",
                                          "STEPGATE_HOME=", "STEPGATE_DAEMON_SOCKET="};
  for (const char* k : kKept) {
    if (std::strncmp(entry, k, std::strlen(k)) == 0) return true;
  }
  return std::strncmp(entry, "LC_", 3) == 0;
}

/// Starts `stepgate daemon` beside us, detached (its own session, stdin from /dev/null, output to
/// hookd.log beside the socket), and does not wait for it: this call is decided here, the next
/// ones by the daemon. Only into a directory that is ours and closed to others, as the daemon
/// itself requires.
void start_daemon(const std::string& dir, const std::string& socket_path) {
  const char* autostart = std::getenv("STEPGATE_DAEMON_AUTOSTART");
  if (autostart != nullptr && std::strcmp(autostart, "0") == 0) return;
  if (socket_path.empty() || socket_path[0] != '/') return;
  const std::string socket_dir = socket_path.substr(0, socket_path.rfind('/'));
  if (socket_dir.empty() || (mkdir(socket_dir.c_str(), 0700) != 0 && errno != EEXIST)) return;
  if (!hookd::private_dir(socket_dir)) return;
  const std::string exe = dir + "stepgate";
  const std::string log = socket_dir + "/hookd.log";
  if (access(exe.c_str(), X_OK) != 0) return;
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (daemon_keeps(*e)) env.push_back(*e);
  }
  env.push_back(nullptr);
  const char* args[] = {exe.c_str(),   "daemon",           "--socket", socket_path.c_str(),
                        "--idle-exit", kAutostartIdleExit, nullptr};
  const pid_t child = fork();
  if (child < 0) return;
  if (child == 0) {
    // The grandchild is the daemon: no parent waits on it, and it holds none of our pipes
    // (Claude Code and git would wait for a hook's output to close).
    if (setsid() < 0 || fork() != 0) _exit(0);
    const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    // dup2 onto itself (a descriptor git or Claude Code left closed) keeps close-on-exec: clear it.
    auto place = [](int fd, int target) {
      return fd == target ? fcntl(fd, F_SETFD, 0) == 0 : dup2(fd, target) == target;
    };
    if (null < 0 || !place(null, STDIN_FILENO) || !place(out >= 0 ? out : null, STDOUT_FILENO) ||
        !place(out >= 0 ? out : null, STDERR_FILENO) || chdir("/") != 0) {
      _exit(0);
    }
    closefrom(3);
    execve(exe.c_str(), const_cast<char* const*>(args), env.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
}

bool read_input(std::string& input) {
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(STDIN_FILENO, buffer, sizeof buffer);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    input.append(buffer, static_cast<std::size_t>(n));
  }
}

bool exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

/// True when the git hook would run a chained hook: it gets our stdin and terminal, so it runs
/// here: `--chained FILE` before `--`, when FILE is there (the installed script passes
/// "$0" + stepgate::kChainedSuffix).
bool chains(char** argv) {
  for (char** a = argv + 2; *a != nullptr && std::strcmp(*a, "--") != 0; ++a) {
    if (std::strcmp(*a, "--chained") == 0 && a[1] != nullptr) return exists(a[1]);
  }
  return false;
}

/// True when a step-up prompt could reach the person pushing: the in-process hook's rule
/// (stepgate::no_tty_value), and a /dev/tty to open.
bool terminal_reachable() {
  const char* no_tty = std::getenv("STEPGATE_NO_TTY");
  if (stepgate::no_tty_value(no_tty != nullptr ? no_tty : "")) return false;
  const int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return false;
  close(fd);
  return true;
}

}  // namespace

namespace {

int client_main(int argc, char** argv) {
  Hook hook;
  const std::string dir = self_dir();
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {  // `stepgate doctor` compares it
    return hookd::write_all(STDOUT_FILENO, "stepgate-hook " STEPGATE_VERSION "\n") ? 0 : 2;
  }
  if (argc >= 2 && std::strcmp(argv[1], "claude") == 0) {
    hook.local = dir + "stepgate-claude-hook";
  } else if (argc >= 2 && agent_host(argv[1])) {
    hook.local = dir + "stepgate-claude-hook";
    hook.local_prefix = {"--host", argv[1]};
  } else if (argc >= 2 &&
             (std::strcmp(argv[1], "pre-push") == 0 || std::strcmp(argv[1], "pre-receive") == 0)) {
    hook = {true, dir + "stepgate-git-hook", 1, std::strcmp(argv[1], "pre-push") == 0, {}};
  } else {
    say("usage: stepgate-hook claude|codex|cursor|gemini|copilot [--policy FILE] [--server URL]\n"
        "       stepgate-hook pre-push|pre-receive ...  (stepgate-git-hook's arguments)");
    return stepgate::kExitError;
  }
  // A daemon that closes the socket early must not kill us with SIGPIPE: Claude Code would read
  // that exit status as a non-blocking error and run the tool.
  (void)std::signal(SIGPIPE, SIG_IGN);
  if (hook.git && chains(argv)) run_locally(hook, argv, nullptr);
  // The daemon has no terminal: a push that may prompt is decided here, once.
  if (hook.may_prompt && terminal_reachable()) run_locally(hook, argv, nullptr);
  const std::string socket_path = hookd::default_socket_path();
  bool nobody = false;
  const int fd = hookd::connect_socket(socket_path, nobody);
  if (fd < 0 && nobody) start_daemon(dir, socket_path);
  // Only a daemon of this user running the `stepgate` beside us may answer for the gate.
  if (fd < 0 || !hookd::peer_of(fd, dir + "stepgate").trusted) run_locally(hook, argv, nullptr);

  hookd::Request request;
  if (isatty(STDERR_FILENO) != 0) request.flags |= hookd::kStderrIsTerminal;
  for (int i = 1; i < argc; ++i) request.args.emplace_back(argv[i]);
  for (char** e = environ; *e != nullptr; ++e) request.env.emplace_back(*e);
  char cwd[PATH_MAX];
  request.cwd = getcwd(cwd, sizeof cwd) != nullptr ? cwd : ".";
  if (!read_input(request.input)) {
    say(std::string("cannot read stdin: ") + std::strerror(errno));
    return stepgate::kExitError;
  }
  if (request.input.size() > hookd::kMaxInputBytes) run_locally(hook, argv, &request.input);
  timeval timeout{hookd::kReplyTimeoutSeconds, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string body;
  hookd::Response response;
  if (!hookd::write_all(fd, hookd::encode(request)) || !hookd::read_frame(fd, body) ||
      !hookd::decode(body, response)) {
    run_locally(hook, argv, &request.input);  // the daemon went away: decide here
  }
  close(fd);
  if (!hookd::write_all(STDOUT_FILENO, response.out) ||
      !hookd::write_all(STDERR_FILENO, response.err)) {
    return stepgate::kExitError;
  }
  return response.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // Any exception is a failed hook: exit 2 blocks the push or the tool call (an abort would be a
  // non-blocking error to Claude Code).
  try {
    return client_main(argc, argv);
  } catch (...) {
    say("internal error; blocked (fail closed)");
    return 2;
  }
}
