// The Unix socket listener: a fixed pool of workers sized to the machine wait on every connection
// with one epoll set; the worker woken for a connection reads its frame, answers it and re-arms
// it. No thread is made per connection (a git hook or a CI step connects once per process), and
// no request is handed from thread to thread. The caller's identity is read once per connection
// from the kernel.
#include "server.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "stepgate/authority.h"
#include "stepgate/json.h"

namespace stepgate::authority {
namespace {

using Clock = std::chrono::steady_clock;

// Connections held at once: by all peers, and by the peers of one uid. The socket is open to
// every local user (the kernel names the caller), so one uid must not be able to hold them all:
// a uid at its share has its own longest-idle connection closed for a new one, and only when
// none of its connections is idle is the new one refused (then only that uid is turned away).
constexpr std::size_t kMaxConnections = 512;
constexpr std::size_t kMaxConnectionsPerUid = 64;
constexpr int kPollMs = 200;
constexpr auto kIdle = std::chrono::seconds(300);  // a connection with no request is closed
// Once a request's first bytes are in, the rest of its frame must follow within this (the idle
// sweep closes the connection otherwise). Until it has, the connection waits on epoll, not in a
// worker: a peer that sends part of a frame and stalls holds no thread.
constexpr auto kFrame = std::chrono::seconds(5);
// What the incomplete requests of all connections may hold together; past it, the request that
// would go over is refused and its connection closed.
constexpr std::size_t kPartialBudget = std::size_t{64} * 1024 * 1024;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Connection {
  int fd = -1;
  Peer peer;
  // Read by the idle sweep while a worker may be answering: atomics, so a request takes no lock.
  std::atomic<int64_t> last_ns{steady_ns()};
  std::atomic<bool> busy{false};  // a worker is answering it
  // What has arrived of a request not yet whole, and since when (0: none). Only the worker that
  // holds the connection's event touches `partial`.
  std::string partial;
  std::atomic<int64_t> partial_since_ns{0};
  bool evicted = false;  // shut down to make room (guarded by the listener's mu_)
};

/// Workers for the decisions: one per core (at least 2). A worker never waits: not for the disk
/// (a durable answer leaves from the audit log's thread after its group's fsync), nor for a peer
/// (an incomplete request waits on epoll). More workers only contend for the audit log's lock
/// and the cores: on 2 cores, 2 workers against 8 took 82-92 against 100-117 us of the
/// authority's CPU per durable decision, and 8.5-9.2k against 6.7-7.9k decisions/s from 8
/// front-end Gates (stepgate_authority_bench, rounds alternated).
std::size_t worker_count() {
  const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
  return std::max<std::size_t>(2, cores);
}

class Listener {
 public:
  Listener(Authority& authority, int listen_fd) : authority_(authority), listen_fd_(listen_fd) {}
  ~Listener() { shut_down(); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  Status start() {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return make_error(ErrorCode::kUnavailable, "epoll_create1 failed");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;  // one worker wakes for a new connection
    ev.data.ptr = nullptr;                 // the listening socket
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) {
      return make_error(ErrorCode::kUnavailable, "epoll_ctl failed on the listening socket");
    }
    for (std::size_t i = 0; i < worker_count(); ++i) workers_.emplace_back([this] { work(); });
    return {};
  }

  /// Serves until `stop` (the workers do the work; this thread only watches the flag).
  void run(const std::atomic<bool>& stop) {
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }

  /// Lets the workers finish the requests they hold, and the answers that wait for the disk go
  /// out, then closes every connection.
  void shut_down() {
    if (stopping_.exchange(true)) return;
    for (auto& w : workers_) w.join();
    (void)authority_.close();
    for (auto& [fd, c] : connections_) ::close(fd);
    connections_.clear();
    if (epoll_ >= 0) ::close(epoll_);
  }

 private:
  void accept_all() {
    for (;;) {
      // Non-blocking: an answer is sent from the audit log's thread too, which must never wait
      // on a peer that does not read.
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) return;  // EAGAIN: all taken
      ucred cred{};
      socklen_t len = sizeof cred;
      std::lock_guard lock(mu_);
      // Turned away, the front-end reports the authority as unreachable.
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
          !make_room_locked(cred.uid)) {
        ::close(fd);
        continue;
      }
      auto c = std::make_unique<Connection>();
      c->fd = fd;
      c->peer = authority_.peer_for(cred.uid, cred.pid);
      if (!arm(*c, EPOLL_CTL_ADD)) {
        ::close(fd);
        continue;
      }
      ++per_uid_[cred.uid];
      connections_.emplace(fd, std::move(c));
    }
  }

  /// Whether a new connection of `uid` may be taken: under both caps it may; at one, the
  /// longest-idle connection of that uid (at the per-uid cap) or of the uid holding the most (at
  /// the overall cap) is shut down for it, and when there is none to shut down (all are being
  /// answered) it may not.
  bool make_room_locked(uid_t uid) {
    std::size_t live = 0;  // of this uid, not already shut down to make room
    std::size_t evicting = 0;
    for (const auto& [fd, c] : connections_) {
      if (c->evicted) {
        ++evicting;
      } else if (c->peer.uid == uid) {
        ++live;
      }
    }
    if (live < kMaxConnectionsPerUid && connections_.size() - evicting < kMaxConnections)
      return true;
    uid_t from = uid;
    if (live < kMaxConnectionsPerUid) {
      std::size_t most = 0;
      for (const auto& [u, n] : per_uid_) {
        if (n > most) {
          most = n;
          from = u;
        }
      }
    }
    // The longest idle; failing that, the longest waiting for the rest of a frame (a peer could
    // otherwise hold its share by sending part of a frame every few seconds).
    Connection* oldest = nullptr;
    Connection* slowest = nullptr;
    for (const auto& [fd, c] : connections_) {
      if (c->peer.uid != from || c->evicted || c->busy.load()) continue;
      const int64_t since = c->partial_since_ns.load();
      if (since == 0) {
        if (oldest == nullptr || c->last_ns.load() < oldest->last_ns.load()) oldest = c.get();
      } else if (slowest == nullptr || since < slowest->partial_since_ns.load()) {
        slowest = c.get();
      }
    }
    if (oldest == nullptr) oldest = slowest;
    if (oldest == nullptr) return false;
    // Shut down, not freed: the end of stream wakes the one worker that may own it (as the idle
    // sweep does), which closes it.
    oldest->evicted = true;
    ::shutdown(oldest->fd, SHUT_RDWR);
    return true;
  }

  bool arm(Connection& c, int op) const {
    epoll_event ev{};
    // One-shot: a connection is handed to one worker at a time and re-armed when it is done.
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.ptr = &c;
    return ::epoll_ctl(epoll_, op, c.fd, &ev) == 0;
  }

  void close_locked(Connection* c) {
    (void)::epoll_ctl(epoll_, EPOLL_CTL_DEL, c->fd, nullptr);
    const int fd = c->fd;
    if (auto n = per_uid_.find(c->peer.uid); n != per_uid_.end() && --n->second == 0) {
      per_uid_.erase(n);
    }
    ::close(fd);
    connections_.erase(fd);
  }

  /// Idle connections are shut down, not freed: the end of stream wakes the one worker that may
  /// own the connection, which closes it (a worker may already hold its last event).
  void close_idle_locked() {
    const int64_t now = steady_ns();
    const int64_t idle = now - std::chrono::nanoseconds(kIdle).count();
    const int64_t stalled = now - std::chrono::nanoseconds(kFrame).count();
    for (auto& [fd, c] : connections_) {
      if (c->busy.load()) continue;
      const int64_t since = c->partial_since_ns.load();
      if (c->last_ns.load() < idle || (since != 0 && since < stalled)) ::shutdown(fd, SHUT_RDWR);
    }
  }

  /// Each worker waits on epoll itself and serves what it is woken for: a request wakes exactly
  /// one thread (one-shot), with no hand-off from a listener thread to a worker.
  /// A request takes the lock only when its connection closes (or once a second, for the idle
  /// sweep): while a connection is disarmed (one-shot) only its worker touches it, and only that
  /// worker or shut_down (after the workers have stopped) removes it.
  void work() {
    for (;;) {
      if (stopping_.load()) return;
      const int64_t now = steady_ns();
      int64_t due = next_sweep_ns_.load();
      if (now >= due && next_sweep_ns_.compare_exchange_strong(
                            due, now + std::chrono::nanoseconds(std::chrono::seconds(1)).count())) {
        std::lock_guard lock(mu_);
        close_idle_locked();
      }
      epoll_event ev{};
      if (::epoll_wait(epoll_, &ev, 1, kPollMs) != 1) continue;
      if (ev.data.ptr == nullptr) {
        accept_all();
        continue;
      }
      auto* c = static_cast<Connection*>(ev.data.ptr);
      c->busy.store(true);
      answer_one(*c);
    }
  }

  /// Reads one request and answers it, now or (audit_sync: durable) once its audit records are
  /// on disk; then finish() re-arms or closes the connection.
  void answer_one(Connection& c) {
    const std::size_t held = c.partial.size();
    auto body = read_authority_frame_part(c.fd, c.partial, kAuthorityMaxFrameBytes);
    if (body.ok() && !body->has_value()) {  // the rest of the frame is still to come
      const std::size_t total = partial_bytes_ += c.partial.size() - held;
      if (total <= kPartialBudget) {
        if (c.partial_since_ns.load() == 0) c.partial_since_ns.store(steady_ns());
        finish(c, true);
        return;
      }
      partial_bytes_ -= c.partial.size();
      body = make_error(ErrorCode::kResourceExhausted,
                        "incomplete requests are holding more than " +
                            std::to_string(kPartialBudget >> 20) + " MiB; try again");
    } else {
      partial_bytes_ -= held;
    }
    c.partial_since_ns.store(0);
    if (!body.ok()) {
      if (body.error().code == ErrorCode::kResourceExhausted) {
        // Answer once, then close: the rest of the oversized frame is not read.
        const Value reply = authority_.refuse("frame", c.peer, body.error());
        (void)write_authority_frame(c.fd, to_json(reply), /*timeout_ms=*/0);
      }
      finish(c, false);
      return;
    }
    auto request = parse_authority_body(**body);
    if (!request.ok()) {
      // As every answer: a peer that does not read its answers is dropped, never waited on (a
      // worker blocked on one peer would stall every other).
      const Value reply = authority_.refuse("frame", c.peer, request.error());
      finish(c, write_authority_frame(c.fd, to_json(reply), /*timeout_ms=*/0).ok());
      return;
    }
    authority_.handle(std::move(*request), c.peer, [this, &c](const std::string& reply) {
      // Possibly on the audit log's thread: a peer whose socket is full is dropped, not waited on.
      finish(c, write_authority_frame(c.fd, reply, /*timeout_ms=*/0).ok());
    });
  }

  /// The end of one request: the connection waits for the next one, or is closed.
  void finish(Connection& c, bool keep) {
    c.last_ns.store(steady_ns());
    c.busy.store(false);
    if (keep && !stopping_.load() && arm(c, EPOLL_CTL_MOD)) return;
    std::lock_guard lock(mu_);
    close_locked(&c);
  }

  Authority& authority_;
  int listen_fd_;
  int epoll_ = -1;
  std::mutex mu_;  // guards connections_ (insert, erase, the sweep's walk)
  std::atomic<int64_t> next_sweep_ns_{steady_ns()};
  std::atomic<std::size_t> partial_bytes_{0};  // held by incomplete requests, all connections
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
  std::unordered_map<uid_t, std::size_t> per_uid_;  // connections_ by the peer's uid
  std::vector<std::thread> workers_;
  std::atomic<bool> stopping_{false};
};

Result<int> listen_on(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return invalid_argument("socket path " + path + " is too long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return make_error(ErrorCode::kFailedPrecondition, path + " exists and is not a socket");
    }
    ::unlink(path.c_str());  // a stale socket from an earlier run
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return make_error(ErrorCode::kUnavailable, std::string("socket: ") + strerror(errno));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::chmod(path.c_str(), 0666) != 0 || ::listen(fd, 128) != 0) {
    const std::string why = strerror(errno);
    ::close(fd);
    return make_error(ErrorCode::kUnavailable, path + ": cannot listen: " + why);
  }
  return fd;
}

}  // namespace

Status serve(Authority& authority, const std::atomic<bool>& stop, std::ostream& log) {
  const std::string& path = authority.config().socket;
  auto fd = listen_on(path);
  if (!fd.ok()) return fd.error();
  std::unique_ptr<Inbox> inbox;
  if (authority.config().inbox_port != 0) {
    auto started = Inbox::start(authority);
    if (!started.ok()) {
      ::close(*fd);
      return started.error();
    }
    inbox = std::move(*started);
  }
  {
    Listener listener(authority, *fd);
    if (Status s = listener.start(); !s.ok()) {
      ::close(*fd);
      return s;
    }
    log << "stepgate authority: listening on " << path;
    if (inbox) {
      log << " and http://" << authority.config().inbox_host << ":" << authority.config().inbox_port
          << "/approvals";
    }
    log << " (key " << authority.public_key() << ")" << std::endl;
    listener.run(stop);
    // Connections finish their current request before the audit log is closed.
    listener.shut_down();
    ::close(*fd);
    ::unlink(path.c_str());
    inbox.reset();
  }
  return authority.close();
}

}  // namespace stepgate::authority
