// A small HTTP/1.1 client for plain-HTTP upstreams: keep-alive connections pooled per thread,
// the request written at once, the response read on the caller's thread.
#include "upstream_http.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <string_view>
#include <vector>

#include "shim.h"

namespace stepgate {
namespace {

constexpr int kConnectTimeoutMs = 2000;
constexpr int kWriteTimeoutMs = 30000;
constexpr std::size_t kMaxIdlePerOrigin = 4;  // per thread: a thread serves one client at a time
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kMaxChunkLine = 1024;

Error unavailable(const std::string& what) {
  return make_error(ErrorCode::kUnavailable, what);
}

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

/// True when the comma-separated header value holds `token` (any case).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (equals_ignoring_case(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

/// "http://host:port" -> host, port ("80" when absent). IPv6 literals keep their brackets off.
bool split_origin(const std::string& origin, std::string& host, std::string& port) {
  constexpr std::string_view kScheme = "http://";
  if (origin.compare(0, kScheme.size(), kScheme) != 0) return false;
  std::string_view rest(origin);
  rest.remove_prefix(kScheme.size());
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
  } else {
    const auto colon = rest.rfind(':');
    host = std::string(rest.substr(0, colon));
    rest.remove_prefix(colon == std::string_view::npos ? rest.size() : colon);
  }
  port = rest.empty() ? "80" : std::string(rest.substr(1));
  return !host.empty() && !port.empty();
}

/// Waits for `events` on fd; false on timeout or error (errno says which; 0 for a timeout).
bool wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) return true;
    if (n == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

}  // namespace

struct UpstreamCall::Connection {
  int fd = -1;
  bool reused = false;
  ~Connection() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

using Connection = UpstreamCall::Connection;

/// Idle connections of this thread, by origin. A shim worker thread serves one client connection
/// at a time, so its upstream connections need no lock and are reused call after call.
std::map<std::string, std::vector<std::unique_ptr<Connection>>>& idle_connections() {
  thread_local std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  return idle;
}

/// An idle connection the upstream has not closed meanwhile (a closed one reads as EOF at once).
std::unique_ptr<Connection> take_idle(const std::string& origin) {
  auto& idle = idle_connections()[origin];
  while (!idle.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle.back());
    idle.pop_back();
    char byte = 0;
    const ssize_t n = ::recv(conn->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      conn->reused = true;
      return conn;
    }
    // EOF, an error, or bytes nobody asked for: not reusable.
  }
  return nullptr;
}

void give_back(const std::string& origin, std::unique_ptr<Connection> conn) {
  auto& idle = idle_connections()[origin];
  if (idle.size() < kMaxIdlePerOrigin) idle.push_back(std::move(conn));
}

Result<std::unique_ptr<Connection>> connect_to(const std::string& origin) {
  std::string host;
  std::string port;
  if (!split_origin(origin, host, port)) return unavailable("not an http:// origin: " + origin);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return unavailable("cannot resolve " + host + ": " + ::gai_strerror(rc));
  }
  std::string last = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    auto conn = std::make_unique<Connection>();
    conn->fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (conn->fd < 0) {
      last = errno_text("socket");
      continue;
    }
    int one = 1;
    ::setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(conn->fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = errno_text("connect");
      continue;
    }
    int error = 0;
    socklen_t len = sizeof error;
    if (!wait_for(conn->fd, POLLOUT, kConnectTimeoutMs) ||
        ::getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
      if (error != 0) errno = error;
      last = errno_text("connect");
      continue;
    }
    ::freeaddrinfo(found);
    return conn;
  }
  ::freeaddrinfo(found);
  return unavailable("cannot connect to " + origin + " (" + last + ")");
}

/// Writes all of `parts` (non-blocking socket: waits for room as needed).
bool write_all(int fd, std::vector<iovec> parts) {
  std::size_t first = 0;
  while (first < parts.size()) {
    msghdr msg{};
    msg.msg_iov = parts.data() + first;
    msg.msg_iovlen = parts.size() - first;
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_for(fd, POLLOUT, kWriteTimeoutMs)) {
        continue;
      }
      return false;
    }
    auto left = static_cast<std::size_t>(n);
    while (first < parts.size() && left >= parts[first].iov_len) {
      left -= parts[first].iov_len;
      ++first;
    }
    if (first < parts.size()) {
      parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + left;
      parts[first].iov_len -= left;
    }
  }
  return true;
}

std::string request_head(const std::string& method, const Upstream& upstream,
                         const httplib::Headers& headers, std::size_t body_size) {
  std::string head;
  head.reserve(256);
  head += method;
  head += ' ';
  head += upstream.path;
  head += " HTTP/1.1\r\nHost: ";
  head += upstream.origin.substr(std::string_view("http://").size());
  head += "\r\n";
  for (const auto& [name, value] : headers) {
    if (equals_ignoring_case(name, "Host") || equals_ignoring_case(name, "Content-Length") ||
        equals_ignoring_case(name, "Connection") ||
        equals_ignoring_case(name, "Transfer-Encoding")) {
      continue;
    }
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (body_size > 0 || method == "POST") {
    head += "Content-Length: ";
    head += std::to_string(body_size);
    head += "\r\n";
  }
  head += "\r\n";
  return head;
}

}  // namespace

Result<std::unique_ptr<UpstreamCall>> UpstreamCall::start(const Upstream& upstream,
                                                          const std::string& method,
                                                          const httplib::Headers& headers,
                                                          const std::string& body,
                                                          std::chrono::seconds read_timeout) {
  const std::string head = request_head(method, upstream, headers, body.size());
  // A pooled connection the upstream closed just as we wrote gets one fresh try: the request
  // never reached it (nothing came back, not even a status line).
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<UpstreamCall> call(new UpstreamCall());
    call->origin_ = upstream.origin;
    call->read_timeout_ = read_timeout;
    call->conn_ = take_idle(upstream.origin);
    if (!call->conn_) {
      auto conn = connect_to(upstream.origin);
      if (!conn.ok()) return conn.error();
      call->conn_ = std::move(conn).value();
    }
    const bool reused = call->conn_->reused;
    std::vector<iovec> parts{{const_cast<char*>(head.data()), head.size()}};
    if (!body.empty()) parts.push_back({const_cast<char*>(body.data()), body.size()});
    if (!write_all(call->conn_->fd, std::move(parts))) {
      if (reused) continue;
      return unavailable(upstream.origin + ": " + errno_text("write"));
    }
    Status head_read = call->read_head();
    if (head_read.ok()) return call;
    if (reused && call->closed_early_ && call->buf_.empty()) continue;
    return head_read.error();
  }
  return unavailable(upstream.origin + " closed the connection");
}

UpstreamCall::~UpstreamCall() {
  if (conn_ && done_ && !failed_ && keep_alive_ && pos_ == buf_.size()) {
    give_back(origin_, std::move(conn_));
  }
}

bool UpstreamCall::finished() const {
  return done_;
}

Status UpstreamCall::fill(std::chrono::milliseconds wait, bool& got) {
  got = false;
  if (pos_ > 0) {  // keep only what is not decoded yet
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  if (!wait_for(conn_->fd, POLLIN, static_cast<int>(wait.count()))) {
    if (errno == ETIMEDOUT) return {};
    failed_ = true;
    return unavailable(origin_ + ": " + errno_text("poll"));
  }
  // Read on the stack and kept by size: growing buf_ by a whole chunk first was a 16 KB
  // allocation per response, and each one made malloc consolidate its small free chunks.
  char chunk[kReadChunk];
  ssize_t n = 0;
  do {
    n = ::recv(conn_->fd, chunk, kReadChunk, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) n = -2;
  if (n > 0) buf_.append(chunk, static_cast<std::size_t>(n));
  if (n == -2) return {};
  if (n < 0) {
    failed_ = true;
    closed_early_ = errno == ECONNRESET;
    return unavailable(origin_ + ": " + errno_text("read"));
  }
  if (n == 0) {
    closed_early_ = true;
    if (framing_ == Framing::kUntilClose) {
      done_ = true;
      keep_alive_ = false;
      return {};
    }
    failed_ = true;
    return unavailable(origin_ + " closed the connection mid-response");
  }
  got = true;
  return {};
}

Status UpstreamCall::read_head() {
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(read_timeout_);
  std::size_t end = std::string::npos;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (buf_.size() > kMaxUpstreamHeaderBytes) {
      failed_ = true;
      return make_error(ErrorCode::kResourceExhausted, origin_ + ": response headers over " +
                                                           std::to_string(kMaxUpstreamHeaderBytes) +
                                                           " bytes");
    }
    bool got = false;
    if (Status s = fill(timeout, got); !s.ok()) return s;
    if (!got) {
      failed_ = true;
      return unavailable(origin_ + ": no response within " + std::to_string(read_timeout_.count()) +
                         " s");
    }
  }
  std::string_view head(buf_.data(), end);
  pos_ = end + 4;
  auto line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  int minor = 0;
  if (status_line.size() < 12 || status_line.compare(0, 7, "HTTP/1.") != 0 ||
      !std::isdigit(static_cast<unsigned char>(status_line[7])) || status_line[8] != ' ' ||
      std::from_chars(status_line.data() + 9, status_line.data() + 12, status_).ec != std::errc()) {
    failed_ = true;
    return unavailable(origin_ + " did not answer with HTTP/1.x");
  }
  minor = status_line[7] - '0';
  keep_alive_ = minor >= 1;
  bool chunked = false;
  bool has_length = false;
  std::size_t length = 0;
  head.remove_prefix(line_end == std::string_view::npos ? head.size() : line_end + 2);
  while (!head.empty()) {
    const auto eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || line.front() == ' ' ||
        line.front() == '\t') {
      failed_ = true;
      return unavailable(origin_ + ": malformed response header");
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (equals_ignoring_case(name, "Content-Length")) {
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || (has_length && n != length)) {
        failed_ = true;
        return unavailable(origin_ + ": bad Content-Length");
      }
      has_length = true;
      length = n;
    } else if (equals_ignoring_case(name, "Transfer-Encoding")) {
      chunked = has_token(value, "chunked");
      if (!chunked) keep_alive_ = false;  // read to the end of the connection
    } else if (equals_ignoring_case(name, "Connection")) {
      if (has_token(value, "close")) keep_alive_ = false;
      if (has_token(value, "keep-alive") && minor == 0) keep_alive_ = true;
    }
    headers_.emplace(std::string(name), std::string(value));
  }
  if (status_ == 204 || status_ == 304 || (status_ >= 100 && status_ < 200)) {
    framing_ = Framing::kNone;
  } else if (chunked) {
    framing_ = Framing::kChunked;
  } else if (headers_.count("Transfer-Encoding") > 0) {
    framing_ = Framing::kUntilClose;
  } else if (has_length) {
    framing_ = Framing::kLength;
    remaining_ = length;
  } else {
    framing_ = Framing::kUntilClose;
    keep_alive_ = false;
  }
  done_ = framing_ == Framing::kNone || (framing_ == Framing::kLength && remaining_ == 0);
  return {};
}

bool UpstreamCall::decode_chunked(std::string& out) {
  bool produced = false;
  while (!done_ && pos_ < buf_.size()) {
    std::string_view rest(buf_.data() + pos_, buf_.size() - pos_);
    if (chunk_state_ == 1) {  // data
      const std::size_t n = std::min(remaining_, rest.size());
      out.append(rest.data(), n);
      produced = produced || n > 0;
      pos_ += n;
      remaining_ -= n;
      if (remaining_ == 0) chunk_state_ = 2;
      continue;
    }
    const auto eol = rest.find("\r\n");
    if (eol == std::string_view::npos) {
      if (rest.size() > kMaxChunkLine) failed_ = true;
      return produced;
    }
    std::string_view line = rest.substr(0, eol);
    pos_ += eol + 2;
    if (chunk_state_ == 2) {  // the CRLF after a chunk's data
      if (!line.empty()) failed_ = true;
      if (failed_) return produced;
      chunk_state_ = 0;
    } else if (chunk_state_ == 3) {  // trailers, up to an empty line
      if (line.empty()) done_ = true;
    } else {  // the size line, "HEX[;ext]"
      line = line.substr(0, line.find(';'));
      std::size_t size = 0;
      auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
      if (line.empty() || ec != std::errc()) {
        failed_ = true;
        return produced;
      }
      remaining_ = size;
      chunk_state_ = size == 0 ? 3 : 1;
    }
  }
  return produced;
}

bool UpstreamCall::decode(std::string& out) {
  if (framing_ == Framing::kChunked) return decode_chunked(out);
  std::size_t n = buf_.size() - pos_;
  if (framing_ == Framing::kLength) n = std::min(n, remaining_);
  out.append(buf_.data() + pos_, n);
  pos_ += n;
  if (framing_ == Framing::kLength) {
    remaining_ -= n;
    done_ = remaining_ == 0;
  }
  return n > 0;
}

Status UpstreamCall::read_some(std::string& out, std::chrono::milliseconds wait) {
  if (failed_) return unavailable(origin_ + ": the response was cut short");
  for (;;) {
    if (decode(out) || done_) return {};
    if (failed_) return unavailable(origin_ + ": malformed chunked response");
    bool got = false;
    if (Status s = fill(wait, got); !s.ok()) return s;
    if (!got) {
      // Quiet for `wait`; at the end of an until-close body fill() set done_.
      if (!done_) return {};
    }
  }
}

Result<std::string> UpstreamCall::read_all(std::size_t limit) {
  std::string body;
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(read_timeout_);
  while (!done_) {
    const std::size_t before = body.size();
    if (Status s = read_some(body, timeout); !s.ok()) return s.error();
    if (body.size() > limit) {
      failed_ = true;
      return make_error(ErrorCode::kResourceExhausted,
                        origin_ + ": response body over " + std::to_string(limit) + " bytes");
    }
    if (!done_ && body.size() == before) {
      failed_ = true;
      return unavailable(origin_ + ": no data within " + std::to_string(read_timeout_.count()) +
                         " s");
    }
  }
  return body;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace stepgate
