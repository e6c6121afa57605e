// StepUpIo on /dev/tty: prompts with echo off and a timeout, and always restores the terminal.
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>

#include "stepgate/env.h"
#include "stepgate/stepup.h"

namespace stepgate {

namespace {

// The process's own terminal, so the process's own environment (the one rule, stepgate/env.h).
bool tty_disabled() {
  return no_tty_requested(Env());
}

// Owns the /dev/tty descriptor and the saved terminal mode, restored on every exit path.
class TtySession {
 public:
  TtySession() : fd_(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) {}
  ~TtySession() {
    if (saved_valid_) tcsetattr(fd_, TCSAFLUSH, &saved_);
    if (fd_ >= 0) ::close(fd_);
  }
  TtySession(const TtySession&) = delete;
  TtySession& operator=(const TtySession&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }

  void write_text(const std::string& text) const {
    std::size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

  void echo_off() {
    if (tcgetattr(fd_, &saved_) != 0) return;
    saved_valid_ = true;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    tcsetattr(fd_, TCSAFLUSH, &quiet);
  }

  // Reads one line; kUnavailable on timeout, end of input or error.
  Result<std::string> read_line(std::chrono::seconds timeout) const {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return make_error(ErrorCode::kUnavailable, "no code entered in time");
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return make_error(ErrorCode::kUnavailable, "no code entered in time");
      char c = 0;
      ssize_t n = ::read(fd_, &c, 1);
      if (n <= 0) return make_error(ErrorCode::kUnavailable, "the terminal closed");
      if (c == '\n' || c == '\r') return line;
      if (line.size() < 256) line.push_back(c);
    }
  }

 private:
  int fd_;
  termios saved_{};
  bool saved_valid_ = false;
};

}  // namespace

bool TerminalStepUpIo::has_terminal() {
  if (tty_disabled()) return false;
  TtySession tty;
  return tty.ok();
}

Result<std::string> TerminalStepUpIo::prompt_secret(const std::string& prompt,
                                                    std::chrono::seconds timeout) {
  if (tty_disabled()) return make_error(ErrorCode::kUnavailable, "no terminal (STEPGATE_NO_TTY)");
  TtySession tty;
  if (!tty.ok()) return make_error(ErrorCode::kUnavailable, "no terminal to ask for the code");
  tty.write_text(prompt);
  tty.echo_off();
  auto line = tty.read_line(timeout);
  if (!line) tty.write_text("\n");
  // Codes are often pasted with spaces ("123 456"); keep the digits and letters only.
  if (line) {
    std::string cleaned;
    for (char c : *line) {
      if (c != ' ' && c != '\t') cleaned.push_back(c);
    }
    return cleaned;
  }
  return line;
}

void TerminalStepUpIo::notice(const std::string& text) {
  std::cerr << text << "\n";
}

Result<std::string> NoTerminalStepUpIo::prompt_secret(const std::string&, std::chrono::seconds) {
  return make_error(ErrorCode::kUnavailable, "no terminal to ask for the code");
}

}  // namespace stepgate
