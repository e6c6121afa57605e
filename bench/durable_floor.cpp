// The floor under the authority's durable throughput (#20): the least a server can do to answer
// each request only after its record is on disk, on this machine's disk, with nothing of
// stepgate in it. A child process listens on a Unix socket; workers (epoll) read a request,
// append a line of the size of an audit record to a file, and hand the answer to one flusher
// thread that fdatasyncs whatever was written and then sends every answer that fsync covered
// (group commit, the authority's shape). Clients in the parent send a request of a decide's
// size and wait for the answer, as the authority bench's bare clients do.
//
//   durable_floor [--clients 8] [--seconds 3] [--workers 2] [--rounds 3] [--dir /tmp]
//
// It prints decisions/s for the durable server and for the same server replying at once (no
// fsync, the batch setting's floor), and the fsyncs per second (the group size follows).
// Nothing here is product code: it only tells what the hardware allows.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t kRequest = 420;  // a bare client's decide request
constexpr std::size_t kReply = 160;    // an allow answer
constexpr std::size_t kRecord = 520;   // one audit record line

bool read_full(int fd, char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool write_full(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

struct Server {
  int log = -1;
  bool durable = true;
  std::mutex mu;
  std::condition_variable wake;
  uint64_t written = 0;
  uint64_t syncing = 0;  // the highest record an fsync has started to cover
  std::vector<std::pair<uint64_t, int>> pending;  // (record, connection) awaiting the disk
  std::atomic<long> fsyncs{0};

  void answer(int fd) { (void)write_full(fd, std::string(kReply, 'a').data(), kReply); }

  void flush_loop() {
    std::unique_lock lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return !pending.empty() && written > syncing; });
      const uint64_t through = written;
      syncing = through;
      lock.unlock();
      ::fdatasync(log);
      ++fsyncs;
      lock.lock();
      std::vector<int> ready;
      auto keep = pending.begin();
      for (auto& p : pending) {
        if (p.first <= through) {
          ready.push_back(p.second);
        } else {
          *keep++ = p;
        }
      }
      pending.erase(keep, pending.end());
      lock.unlock();
      for (int fd : ready) answer(fd);
      lock.lock();
    }
  }

  void worker(int ep) {
    std::vector<char> request(kRequest);
    const std::string line(kRecord - 1, 'r');
    epoll_event ev{};
    for (;;) {
      if (::epoll_wait(ep, &ev, 1, -1) != 1) continue;
      const int fd = ev.data.fd;
      if (!read_full(fd, request.data(), kRequest)) {
        ::close(fd);
        continue;
      }
      std::string rec = line + "\n";
      {
        std::unique_lock lock(mu);
        (void)!::write(log, rec.data(), rec.size());
        ++written;
        if (durable) {
          pending.emplace_back(written, fd);
          wake.notify_one();
        }
      }
      if (!durable) answer(fd);
      epoll_event re{};
      re.events = EPOLLIN | EPOLLONESHOT;
      re.data.fd = fd;
      ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &re);
    }
  }
};

int g_flushers = 1;

[[noreturn]] void serve(int listener, const std::string& path, bool durable, int workers,
                        int report) {
  Server s;
  s.durable = durable;
  s.log = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<std::thread> flushers;
  for (int i = 0; i < g_flushers; ++i) flushers.emplace_back([&] { s.flush_loop(); });
  std::vector<std::thread> pool;
  for (int i = 0; i < workers; ++i) pool.emplace_back([&] { s.worker(ep); });
  for (;;) {
    const int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = c;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
    long n = s.fsyncs.load();
    (void)!::write(report, &n, sizeof n);
  }
  std::_Exit(0);
}

struct Result {
  double rate = 0;
  double fsyncs = 0;
};

Result run(const std::string& dir, bool durable, int clients, double seconds, int workers) {
  const std::string sock = dir + "/floor.sock";
  ::unlink(sock.c_str());
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 64) != 0) {
    std::perror("bind");
    std::exit(2);
  }
  int report[2];
  if (::pipe(report) != 0) std::exit(2);
  const pid_t pid = ::fork();
  if (pid == 0) serve(listener, dir + "/floor.log", durable, workers, report[1]);
  ::close(listener);
  std::vector<int> fds;
  for (int c = 0; c < clients; ++c) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::exit(2);
    fds.push_back(fd);
  }
  long f0 = 0;
  for (int c = 0; c < clients; ++c) (void)!::read(report[0], &f0, sizeof f0);
  std::atomic<bool> stop{false};
  std::vector<long> counts(clients, 0);
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      const std::string request(kRequest, 'q');
      std::vector<char> reply(kReply);
      while (!stop.load()) {
        if (!write_full(fds[c], request.data(), kRequest) ||
            !read_full(fds[c], reply.data(), kReply)) {
          return;
        }
        ++counts[c];
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // One more connection makes the server report its fsync count.
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  (void)::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  long f1 = 0;
  (void)!::read(report[0], &f1, sizeof f1);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  for (int fd : fds) ::close(fd);
  ::close(probe);
  ::close(report[0]);
  ::close(report[1]);
  long total = 0;
  for (long n : counts) total += n;
  return {static_cast<double>(total) / dt, static_cast<double>(f1 - f0) / dt};
}

}  // namespace

int main(int argc, char** argv) {
  int clients = 8;
  int workers = 2;
  int rounds = 3;
  double seconds = 3;
  std::string dir = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--clients") clients = std::atoi(argv[i + 1]);
    if (k == "--workers") workers = std::atoi(argv[i + 1]);
    if (k == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (k == "--seconds") seconds = std::atof(argv[i + 1]);
    if (k == "--dir") dir = argv[i + 1];
    if (k == "--flushers") g_flushers = std::atoi(argv[i + 1]);
  }
  char tmpl[4096];
  std::snprintf(tmpl, sizeof tmpl, "%s/sg-durable-floor-XXXXXX", dir.c_str());
  if (::mkdtemp(tmpl) == nullptr) return 2;
  std::vector<double> durable;
  std::vector<double> group;
  std::vector<double> at_once;
  for (int r = 0; r < rounds; ++r) {  // interleaved
    const Result d = run(tmpl, true, clients, seconds, workers);
    const Result b = run(tmpl, false, clients, seconds, workers);
    durable.push_back(d.rate);
    group.push_back(d.fsyncs > 0 ? d.rate / d.fsyncs : 0);
    at_once.push_back(b.rate);
    std::printf("round %d: durable %.0f/s (%.0f fsyncs/s), replying at once %.0f/s\n", r + 1,
                d.rate, d.fsyncs, b.rate);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf(
      "floor, %d clients, %d workers: durable median %.0f decisions/s (%.1f per fsync), replying "
      "at once median %.0f/s\n",
      clients, workers, median(durable), median(group), median(at_once));
  std::string cleanup = tmpl;
  ::unlink((cleanup + "/floor.log").c_str());
  ::unlink((cleanup + "/floor.sock").c_str());
  ::rmdir(cleanup.c_str());
  return 0;
}
