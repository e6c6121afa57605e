#include "stepgate/files.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace stepgate {
namespace {

namespace fs = std::filesystem;

std::string errno_text() {
  return std::strerror(errno);
}

Status write_all(int fd, const std::string& contents) {
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(ErrorCode::kUnavailable, "write failed: " + errno_text());
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

Status ensure_private_dir(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return {};
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::exists(parent, ec)) {
    if (Status s = ensure_private_dir(parent.string()); !s.ok()) return s;
  }
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(ErrorCode::kUnavailable, path + ": cannot create directory: " + errno_text());
  }
  return {};
}

Result<std::string> read_secret_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(ErrorCode::kNotFound, path + ": " + errno_text());
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return make_error(ErrorCode::kPermissionDenied,
                      path + ": readable or writable by group/others; run: chmod 600 " + path);
  }
  return read_file(path, std::size_t{1024} * 1024);
}

Status write_secret_file(const std::string& path, const std::string& contents) {
  const fs::path target(path);
  if (target.has_parent_path()) {
    if (Status s = ensure_private_dir(target.parent_path().string()); !s.ok()) return s;
  }
  // Unique per write, not only per process: two daemon threads may write the same cache file at
  // once, and a shared temporary name would let one rename the other's half-written bytes.
  static std::atomic<unsigned> serial{0};
  const std::string temp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(serial.fetch_add(1));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return make_error(ErrorCode::kUnavailable, temp + ": cannot create: " + errno_text());
  Status written = write_all(fd, contents);
  const bool synced = written.ok() && ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    if (!written.ok()) return written;
    return make_error(ErrorCode::kUnavailable, path + ": cannot write: " + errno_text());
  }
  return {};
}

Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const ErrorCode code = errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kUnavailable;
    return make_error(code, path + ": cannot read: " + errno_text());
  }
  std::string out;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return make_error(ErrorCode::kUnavailable, path + ": read failed: " + errno_text());
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      ::close(fd);
      return make_error(ErrorCode::kResourceExhausted, path + ": larger than the limit of " +
                                                           std::to_string(max_bytes) + " bytes");
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

ssize_t write_to_pipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_signal;
  sigset_t previous;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  const auto pipe_pending = [] {
    sigset_t pending;
    sigemptyset(&pending);
    return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  };
  const bool was_pending = pipe_pending();
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous);
  const ssize_t n = write(fd, data, size);
  const int saved = errno;
  if (!was_pending && pipe_pending()) {
    const timespec now{0, 0};
    while (sigtimedwait(&pipe_signal, nullptr, &now) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  errno = saved;
  return n;
}

}  // namespace stepgate
