#include "stepgate/audit.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "audit_internal.h"
#include "stepgate/json.h"
#include "stepgate/paths.h"

namespace stepgate {
namespace {

using namespace audit_detail;

constexpr std::size_t kTailChunk = 4096;
// The longest last line we look back over.
constexpr std::size_t kMaxTailBytes = std::size_t{16} * 1024 * 1024;
constexpr int kMaxTornLines = 8;  // torn lines skipped looking for the last good record
// How often an append looks whether the path still names the open file (rotated or removed by
// hand): a stat per record was a third of the append's system calls in the shim.
constexpr auto kReplacedCheckInterval = std::chrono::seconds(1);

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Error io_error(const std::string& path, const char* what) {
  return make_error(ErrorCode::kUnavailable,
                    "audit log " + path + ": " + what + ": " + std::strerror(errno));
}

/// Where the chain stands: the last good record, and whether the file ends with '\n'.
struct Tail {
  int64_t seq = 0;
  std::string hash = std::string(kZeroHash);
  bool ends_with_newline = true;
};

/// Reads bytes [from, to) of fd.
bool pread_all(int fd, std::string& out, off_t from, off_t to) {
  out.resize(static_cast<std::size_t>(to - from));
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, from + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Finds the last good record by reading backwards from `end` in chunks, line by line, skipping
/// (a few) torn lines: never reads the whole file.
Result<Tail> read_tail(int fd, off_t size, const std::string& path) {
  Tail tail;
  if (size == 0) return tail;
  std::string buf;  // holds bytes [buf_start, end)
  off_t end = size;
  if (!pread_all(fd, buf, size - 1, size)) return io_error(path, "read");
  tail.ends_with_newline = buf[0] == '\n';
  if (tail.ends_with_newline) --end;
  if (end == 0) return tail;  // a lone newline: no record yet
  off_t buf_start = end;
  buf.clear();
  for (int tries = 0; tries <= kMaxTornLines && end > 0; ++tries) {
    std::size_t nl = std::string::npos;
    while ((nl = buf.rfind('\n')) == std::string::npos && buf_start > 0) {
      if (static_cast<std::size_t>(size - buf_start) > kMaxTailBytes) break;
      const auto chunk_size = static_cast<off_t>(kTailChunk);
      off_t from = buf_start > chunk_size ? buf_start - chunk_size : 0;
      std::string chunk;
      if (!pread_all(fd, chunk, from, buf_start)) return io_error(path, "read");
      buf.insert(0, chunk);
      buf_start = from;
    }
    if (nl == std::string::npos && buf_start > 0) break;  // a line longer than we look back
    std::size_t line_start = nl == std::string::npos ? 0 : nl + 1;
    LineInfo info;
    std::string detail;
    if (parse_line(std::string_view(buf).substr(line_start), info, detail) == LineStatus::kOk) {
      tail.seq = info.seq;
      tail.hash = std::string(info.hash);
      return tail;
    }
    if (nl == std::string::npos) break;
    buf.resize(nl);  // drop the bad line and its newline; look at the one before
    end = buf_start + static_cast<off_t>(nl);
  }
  return make_error(ErrorCode::kFailedPrecondition,
                    "audit log " + path +
                        ": cannot find its last record; run `stepgate audit verify --path " + path +
                        "`");
}

Status write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(path, "write");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

/// flock(LOCK_EX) for the lifetime of the guard.
class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    do {
      ok_ = ::flock(fd_, LOCK_EX) == 0;
    } while (!ok_ && errno == EINTR);
  }
  ~FileLock() {
    if (ok_) ::flock(fd_, LOCK_UN);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }

 private:
  int fd_;
  bool ok_ = false;
};

}  // namespace

struct AuditLog::Impl {
  std::string path;
  std::string absolute_path;  // what checkpoints are kept under
  AuditOptions options;
  int fd = -1;
  std::mutex mu;  // guards fd and dirty within this process
  bool dirty = false;
  // The tail this process last wrote: when the file size still matches, no other process has
  // appended since, and the tail need not be read back (the hot path in the shim).
  off_t cached_size = -1;
  Tail cached_tail;
  std::condition_variable wake;  // the batch thread's: someone waits for the disk
  std::atomic<bool> stopping{false};
  std::thread flusher;
  std::chrono::steady_clock::time_point next_replaced_check{};
  // Group commit (options.durable): records written and records on disk, counted in appends.
  // Written under mu; the waiters read them without it and sleep on sync_epoch (a futex), so
  // that the end of an fsync wakes its whole group without each one queueing for mu.
  uint64_t written = 0;
  std::atomic<uint64_t> synced{0};
  std::atomic<uint64_t> failed_through{0};  // appends covered by an fsync that failed
  std::atomic<uint32_t> sync_epoch{0};      // bumped after each fsync attempt and at close
  AuditHead on_disk;                        // the last head the batch thread saw fsynced
  std::atomic<int> waiters{0};
  // Deferrals handed over (Deferral::then): run once their record is on disk. Under mu.
  struct Completion {
    uint64_t record;
    std::function<void(Status)> done;
  };
  std::vector<Completion> completions;

  /// Takes the completions whose records are settled (on disk, or covered by a failed fsync);
  /// the caller runs them with mu released.
  std::vector<std::pair<std::function<void(Status)>, Status>> settled_locked() {
    std::vector<std::pair<std::function<void(Status)>, Status>> out;
    auto keep = completions.begin();
    for (auto& c : completions) {
      if (c.record <= synced.load()) {
        out.emplace_back(std::move(c.done), Status());
      } else if (c.record <= failed_through.load()) {
        out.emplace_back(std::move(c.done), io_error(path, "fdatasync"));
      } else {
        *keep++ = std::move(c);
      }
    }
    completions.erase(keep, completions.end());
    return out;
  }

  /// Runs settled completions (mu released). Under run_mu, so that flush() returns only after
  /// the batch thread's current run: what the completions touch may be freed after it.
  void run(std::vector<std::pair<std::function<void(Status)>, Status>> settled) {
    std::lock_guard running(run_mu);
    for (auto& [done, status] : settled) done(status);
  }
  std::mutex run_mu;

  /// The settled completions, run with mu (held by `lock`) released for them.
  void run_settled(std::unique_lock<std::mutex>& lock) {
    auto settled = settled_locked();
    if (settled.empty()) return;
    lock.unlock();
    run(std::move(settled));
    lock.lock();
  }

  void publish_sync() {
    sync_epoch.fetch_add(1);
    sync_epoch.notify_all();
  }

  ~Impl() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    wake.notify_all();
    publish_sync();
    if (flusher.joinable()) flusher.join();
    (void)sync_locked();
    run(settled_locked());
    if (options.checkpoints) (void)options.checkpoints->flush();
    if (fd >= 0) ::close(fd);
  }

  /// Chains and writes one record (mu held): takes the file lock, finds the tail, writes the line.
  Status write_record(Value& record);

  Status open_file() {
    int f = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0) return io_error(path, "open");
    if (options.exclusive) {
      int r = 0;
      do {
        r = ::flock(f, LOCK_EX | LOCK_NB);
      } while (r != 0 && errno == EINTR);
      if (r != 0) {
        const bool held = errno == EWOULDBLOCK;
        ::close(f);
        if (!held) return io_error(path, "flock");
        return make_error(ErrorCode::kFailedPrecondition,
                          "audit log " + path +
                              " is held by another process (is another `stepgate authority "
                              "serve` using this state directory?)");
      }
    }
    if (fd >= 0) ::close(fd);
    fd = f;
    return {};
  }

  /// Reopens when the path now names another file (rotated or removed by hand); looks at most
  /// once per kReplacedCheckInterval.
  Status reopen_if_replaced() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_replaced_check) return {};
    next_replaced_check = now + kReplacedCheckInterval;
    struct stat by_path {};
    struct stat by_fd {};
    if (::fstat(fd, &by_fd) != 0) return io_error(path, "stat");
    if (::stat(path.c_str(), &by_path) == 0 && by_path.st_ino == by_fd.st_ino &&
        by_path.st_dev == by_fd.st_dev) {
      return {};
    }
    if (Status s = sync_locked(); !s.ok()) return s;
    cached_size = -1;
    return open_file();
  }

  Status sync_locked() {
    if (!dirty || fd < 0) return {};
    if (::fsync(fd) != 0) return io_error(path, "fsync");
    dirty = false;
    synced = written;
    publish_sync();
    return {};
  }

  /// After a write: fsync now, or leave it to the flusher thread (at most fsync_batch_ms later).
  Status after_write() {
    dirty = true;
    ++written;
    if (!options.fsync || flusher.joinable()) return {};
    return sync_locked();
  }

  /// Durable mode: releases `lock` (mu) and waits until the flusher has the record counted
  /// `record` on disk. The flusher starts when someone waits, and one fsync covers every record
  /// written before it started.
  Status wait_synced(std::unique_lock<std::mutex>& lock, uint64_t record) {
    ++waiters;
    wake.notify_all();
    lock.unlock();
    for (;;) {
      const uint32_t epoch = sync_epoch.load();
      if (synced.load() >= record || failed_through.load() >= record || stopping.load()) break;
      sync_epoch.wait(epoch);
    }
    --waiters;
    if (synced.load() >= record) return {};
    if (failed_through.load() >= record) return io_error(path, "fsync");
    lock.lock();
    return sync_locked();  // closing: sync it here
  }

  /// The batch: every fsync_batch_ms, fsync what was written. The fsync runs on a duplicate of
  /// the descriptor with the mutex released, so appenders never wait for the disk.
  void flush_loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      // Handed-over answers wake it even with nothing left to sync: an fsync made elsewhere
      // (sync_locked, when the log is reopened) may already cover them.
      wake.wait_for(lock, std::chrono::milliseconds(options.fsync_batch_ms), [this] {
        return stopping || !completions.empty() || (waiters > 0 && synced < written);
      });
      if (fd < 0) continue;
      if (!dirty) {  // nothing written since the last fsync (this thread's or sync_locked's)
        synced = written;
        // A head held back at the last fsync is signed once its interval is over, even when
        // nothing more is written.
        if (options.checkpoints) (void)options.checkpoints->flush_due(on_disk);
        publish_sync();
        run_settled(lock);
        continue;
      }
      const int copy = ::dup(fd);
      if (copy < 0) continue;
      dirty = false;
      const uint64_t through = written;
      const AuditHead head{static_cast<uint64_t>(cached_tail.seq), cached_tail.hash};  // ours, last
      lock.unlock();
      const bool ok = ::fdatasync(copy) == 0;
      // A head the sink held back is signed once its records are on disk (when one is due).
      if (ok && options.checkpoints) (void)options.checkpoints->flush_due(head);
      ::close(copy);
      lock.lock();
      if (ok) {
        on_disk = head;
        synced = std::max(synced.load(), through);
      } else {
        dirty = true;  // try again next round; whoever waits for these records hears of it
        failed_through = std::max(failed_through.load(), through);
      }
      publish_sync();
      run_settled(lock);
    }
  }
};

namespace {
// The innermost deferral held by this thread (for any log: each append checks it is its own).
thread_local AuditLog::Deferral* t_deferral = nullptr;
}  // namespace

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditLog::~AuditLog() = default;

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path, AuditOptions options) {
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    if (Status s = ensure_private_dir(parent.string()); !s.ok()) return s.error();
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  std::error_code ec;
  impl->absolute_path = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) impl->absolute_path = path;
  impl->options = options;
  if (Status s = impl->open_file(); !s.ok()) return s.error();
  if (options.fsync && options.fsync_batch_ms > 0) {
    impl->flusher = std::thread([p = impl.get()] { p->flush_loop(); });
  }
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

Status AuditLog::append(const std::string& type, const Value& fields) {
  if (!fields.is_map() && !fields.is_null()) {
    return invalid_argument("audit record fields must be a map");
  }
  Value copy = fields.is_map() ? fields : Value(Map{});
  return append(type, std::move(copy));
}

Status AuditLog::append(const std::string& type, Value&& fields) {
  if (!fields.is_map() && !fields.is_null()) {
    return invalid_argument("audit record fields must be a map");
  }
  Value record = fields.is_map() ? std::move(fields) : Value(Map{});
  redact_secrets_in_place(record);
  record.as_map().erase("hash");
  record["type"] = type;

  std::unique_lock lock(impl_->mu);
  if (Status s = impl_->reopen_if_replaced(); !s.ok()) return s;
  if (Status s = impl_->write_record(record); !s.ok()) return s;
  if (!impl_->options.durable || !impl_->flusher.joinable()) return {};
  if (t_deferral != nullptr && &t_deferral->log_ == this) {
    t_deferral->last_ = impl_->written;  // its holder hands the wait over with then()
    return {};
  }
  return impl_->wait_synced(lock, impl_->written);
}

Status AuditLog::Impl::write_record(Value& record) {
  // Exclusive: the lock is held since open, and the tail this process wrote is the file's.
  std::optional<FileLock> file_lock;
  if (!options.exclusive) {
    file_lock.emplace(fd);
    if (!file_lock->ok()) return io_error(path, "flock");
  }
  struct stat st {};
  if (options.exclusive && cached_size >= 0) {
    st.st_size = cached_size;
  } else if (::fstat(fd, &st) != 0) {
    return io_error(path, "stat");
  }
  Result<Tail> tail =
      cached_size == st.st_size ? Result<Tail>(cached_tail) : read_tail(fd, st.st_size, path);
  if (!tail.ok()) return tail.error();

  record["time"] = format_time_ms(now_ms());  // under the lock: times follow seq order
  record["seq"] = tail->seq + 1;
  record["prev"] = tail->hash;
  std::string body = to_json(record);
  body.pop_back();  // the closing '}': the hash goes last, see audit.h
  std::string line;
  line.reserve(body.size() + kHashSuffixSize + 2);
  if (!tail->ends_with_newline) line += '\n';  // a torn last line stays on its own line
  line += body;
  line += kHashKey;
  const std::string hash = chain_hash(tail->hash, body);
  line += hash;
  line += "\"}\n";
  cached_size = -1;
  if (Status s = write_all(fd, line, path); !s.ok()) return s;
  cached_size = st.st_size + static_cast<off_t>(line.size());
  cached_tail.seq = tail->seq + 1;
  cached_tail.hash = hash;
  cached_tail.ends_with_newline = true;
  if (Status s = after_write(); !s.ok()) return s;
  // Still under the file lock: heads reach the sink in the order the records were written.
  if (!options.checkpoints) return {};
  const AuditHead head{static_cast<uint64_t>(tail->seq + 1), hash};
  if (Status s = options.checkpoints->record_head(absolute_path, head); !s.ok()) return s;
  // With no batch thread the record is already on disk (or fsync is off): a due head is signed
  // now; otherwise the batch thread signs it after its fsync.
  return flusher.joinable() ? Status() : options.checkpoints->flush_due(head);
}

Status AuditLog::flush() {
  std::unique_lock lock(impl_->mu);
  if (Status s = impl_->sync_locked(); !s.ok()) return s;
  impl_->run_settled(lock);
  return impl_->options.checkpoints ? impl_->options.checkpoints->flush() : Status();
}

AuditLog::Deferral::Deferral(AuditLog& log) : log_(log), outer_(t_deferral) {
  t_deferral = this;
}

AuditLog::Deferral::~Deferral() {
  t_deferral = outer_;
}

void AuditLog::Deferral::then(std::function<void(Status)> done) {
  Impl& impl = *log_.impl_;
  std::unique_lock lock(impl.mu);
  if (last_ == 0 || impl.synced.load() >= last_) {
    lock.unlock();
    done(Status());
    return;
  }
  if (impl.failed_through.load() >= last_) {
    lock.unlock();
    done(io_error(impl.path, "fdatasync"));
    return;
  }
  impl.completions.push_back({last_, std::move(done)});
  impl.wake.notify_all();
}

const std::string& AuditLog::path() const {
  return impl_->path;
}

}  // namespace stepgate
