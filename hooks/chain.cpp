#include "chain.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stepgate/paths.h"

// POSIX leaves declaring environ to the program; glibc declares it only under _GNU_SOURCE.
extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace stepgate {
namespace {

/// Writes all of `input`; a child that exits without reading it all is not an error.
void write_all(int fd, const std::string& input) {
  std::size_t done = 0;
  while (done < input.size()) {
    ssize_t n = write_to_pipe(fd, input.data() + done, input.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EPIPE: the child stopped reading
    done += static_cast<std::size_t>(n);
  }
}

int wait_status(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 127;
}

}  // namespace

Result<int> run_chained_hook(const std::string& path, const std::vector<std::string>& args,
                             const std::string& input) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(ErrorCode::kNotFound, path + ": not found");
  // git skips a hook file that is not executable; so does the chain.
  if (::access(path.c_str(), X_OK) != 0)
    return make_error(ErrorCode::kNotFound, path + ": not executable");
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return make_error(ErrorCode::kInternal, "pipe: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
  // A hook's stdout goes where git sends it: to our stderr, as git does for its own hooks.
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    return make_error(ErrorCode::kFailedPrecondition,
                      "cannot run chained hook " + path + ": " + std::strerror(rc));
  }
  write_all(fds[1], input);
  ::close(fds[1]);
  return wait_status(pid);
}

}  // namespace stepgate
