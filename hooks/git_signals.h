#pragma once
// The git front-end's signals, read in-process with libgit2: for one ref update, the commits it
// sends and what they change (paths, line counts, secrets in added lines, large files, model
// artifacts, CI configuration, signatures, authors).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "commit_scan.h"
#include "push_parser.h"
#include "stepgate/env.h"
#include "stepgate/policy.h"
#include "stepgate/result.h"
#include "stepgate/value.h"

struct git_repository;

namespace stepgate {

struct SignalDemand;

/// What the scan needs besides the ref update.
struct PushScanOptions {
  const GitSettings* settings = nullptr;
  std::string pusher_email;  // commits by other authors go to foreign_authors
  std::string remote;  // signals.remote; for pre-push also the refs/remotes/<remote>/* to hide
  bool hide_all_refs = false;  // pre-receive: a new ref's commits are those no existing ref has
  /// pre-push: every ref this push updates, with its value on the remote as git read it for this
  /// push (all zeros: the remote has no such ref). A new ref's commits are those none of these
  /// values and none of the remote's tracking refs reach; a tracking ref of an updated ref is not
  /// trusted over git's value (it may be stale).
  std::vector<std::pair<std::string, std::string>> remote_tips;
  /// The signals the rules read (signals_read over every layer); null: all of them. The diff
  /// scan runs only when one of its signals is read, the secret scan only for secrets or
  /// secret_findings; skipped signals keep their empty defaults.
  const SignalDemand* demand = nullptr;
};

/// Limits on the work one push may cause (a huge push still gets a verdict in bounded time).
struct PushScanLimits {
  std::size_t max_diffed_commits = 50000;
  std::size_t max_scanned_bytes = std::size_t{512} << 20;  // split evenly between scan threads
  std::size_t max_listed_paths = 1000;
  std::size_t max_file_scan_bytes = kMaxFileScanBytes;  // one large file, scanned in windows
  /// A walk still going after this long is scanned ahead of (GitRepo::ScanAhead); negative:
  /// never. Tests set 0 and scan_ahead_at_least, to make the walking thread wait until that many
  /// commits have been scanned ahead (or the new tip's first-parent chain has run out).
  int64_t scan_ahead_after_us = 1000;
  std::size_t scan_ahead_at_least = 0;
};

/// The signals of one ref update; `truncated` when a limit cut the diff/secret scan short.
struct PushSignals {
  Value signals = Map{};
  bool truncated = false;
  std::size_t scanned_ahead = 0;  // commits whose scan ahead of the walk was kept (tests, benches)
};

/// One repository, opened once per hook run.
class GitRepo {
 public:
  /// Opens the repository git is running the hook in: GIT_DIR, GIT_OBJECT_DIRECTORY and the
  /// pre-receive quarantine's GIT_ALTERNATE_OBJECT_DIRECTORIES in `env` are honoured (relative
  /// to `cwd`), else the repository containing `cwd`. The process's environment is not read.
  static Result<std::unique_ptr<GitRepo>> open(const std::string& cwd, const Env& env);
  /// Opens the repository containing `path`, whatever GIT_DIR and friends say; its configuration
  /// is read as git would for `config_env` (HOME, XDG_CONFIG_HOME, GIT_CONFIG_*; none by default).
  static Result<std::unique_ptr<GitRepo>> open_at(
      const std::string& path, const Env& config_env = Env(std::vector<std::string>{}));
  ~GitRepo();
  GitRepo(const GitRepo&) = delete;
  GitRepo& operator=(const GitRepo&) = delete;

  /// Fills `out` with the signals for one ref update (the git signals of `stepgate signals`).
  /// kNotFound when the new tip is not in the repository.
  Status collect(const RefUpdate& update, const PushScanOptions& options, PushSignals& out,
                 const PushScanLimits& limits = {});

  /// Scans `commits` (in that order) as a push scans them: commit messages, binary and UTF-16
  /// files, file names and large files as well as text diffs, against each commit's first
  /// parent. Every finding goes to `sink` in commit order, with its column, secret and commit
  /// (`stepgate scan --git`); `scanned_bytes` is what was read. No byte budget but the cap on one
  /// large file (the result's `truncated` says it was hit). Two threads for two commits or more.
  Result<CommitScan> scan_commits_detailed(const std::vector<git_oid>& commits,
                                           const GitSettings& settings,
                                           std::vector<DetailedFinding>& sink,
                                           std::size_t& scanned_bytes);

  /// The ref a symbolic ref of this repository finally points at (refs/heads/trunk ->
  /// refs/heads/main), followed as git does up to 5 levels; `ref` itself when it is not one.
  /// pre-receive judges an update of an alias as an update of its target.
  std::string resolve_symbolic(const std::string& ref) const;
  /// The client's best knowledge of what `ref` is on the remote: for a remote that is a local
  /// repository (a path or file:// URL) its own symbolic refs, else the symbolic tracking refs
  /// of `remote` (refs/remotes/origin/HEAD -> refs/remotes/origin/main makes refs/heads/HEAD
  /// refs/heads/main). `ref` itself when nothing says otherwise.
  std::string resolve_remote_symbolic(const std::string& remote, const std::string& url,
                                      const std::string& ref) const;
  /// A config value (repository, then global/system), "" when unset.
  std::string config_string(const char* key) const;
  /// The configured remote `git push` is talking to: `remote` itself when it names one, else the
  /// first remote whose url or pushurl is `url` (a push to a URL); "" when none is. Its tracking
  /// refs tell which commits the other side already has.
  std::string configured_remote(const std::string& remote, const std::string& url) const;
  /// A boolean config value as git reads it (true/yes/on/1, false/no/off/0, any case);
  /// nullopt when unset or not a boolean.
  std::optional<bool> config_bool(const char* key) const;
  /// Sets a value in the repository's own config file (.git/config, or config when bare).
  Status set_local_config(const char* key, const std::string& value);
  /// The .git directory (with a trailing '/').
  std::string git_dir() const;
  /// The work tree (with a trailing '/'), "" for a bare repository.
  std::string workdir() const;
  bool is_bare() const;

 private:
  GitRepo(git_repository* repo, std::string cwd, Env env)
      : repo_(repo), cwd_(std::move(cwd)), env_(std::move(env)) {}
  /// Another handle on the same repository, opened the same way (for a second scan thread).
  Result<std::unique_ptr<GitRepo>> reopen() const;
  struct CommitQueue;
  /// Scans commits taken from `queue` in runs: from its newest end (the second thread, while the
  /// walk goes on) or its oldest (the walking thread, after the walk), until the two meet.
  /// `start_helper` (the walking thread, when no second thread runs yet): called with half the
  /// budget left once a few MB have been read and commits are left, to start the second thread.
  static Result<CommitScan> scan_queue(
      CommitQueue& queue, bool from_front, CommitScanner& scanner,
      const std::function<void(std::size_t)>* start_helper = nullptr);
  struct ScanAhead;
  /// The second thread's work while the walk goes on (see ScanAhead), then its share of the
  /// queue.
  /// After the walk: keeps the runs scanned ahead that lie wholly among the first `diffed` of
  /// `commits`, and fills `queue` with the rest of those. Returns how many commits were kept.
  static std::size_t publish_ahead(ScanAhead& ahead, CommitQueue& queue,
                                   const std::vector<git_oid>& commits, std::size_t diffed);
  static Result<CommitScan> scan_ahead(ScanAhead& ahead, CommitQueue& queue, CommitScanner& scanner,
                                       git_oid tip);
  /// `sink`, `scanned`: as scan_commits_detailed's (null: not wanted).
  Result<CommitScan> scan_range(const git_oid* commits, std::size_t count,
                                const GitSettings& settings, const std::string& pusher,
                                std::size_t budget, std::size_t max_file_scan_bytes, bool secrets,
                                std::vector<DetailedFinding>* sink = nullptr,
                                std::size_t* scanned = nullptr);

  git_repository* repo_;
  std::string cwd_;  // what it was opened from, for reopen()
  Env env_;
};

/// For a process that exits when the hook is done (stepgate-git-hook): a GitRepo going away then
/// keeps its repository, reachable, until exit instead of freeing libgit2's object cache entry by
/// entry — after a 10,000-commit push that is tens of thousands of objects, 8% of the hook's time,
/// spent on memory the kernel takes back at exit anyway. Never for a long-lived process.
void keep_repositories_until_exit();

/// For a process that reads one push and exits (stepgate-git-hook, `stepgate scan --git`): freed
/// memory stays with malloc for reuse, however large, instead of going back to the kernel, and
/// objects up to 64 MiB come from the heap, not from mmap. glibc maps each allocation over
/// 128 KiB afresh (its threshold rises only as mapped chunks are freed), and every page of it
/// faults again: reading a 250 KB file's 300 versions took 97k page faults and 1.2 s, 6k and
/// 0.37 s so. The memory is the kernel's again at exit. Never for a long-lived process.
///
/// It also asks for transparent huge pages on the heap: on this project's VM a page fault costs
/// about 11 us, and a 10,000-commit push touched ~1,900 fresh 4 KiB pages (21 ms of a ~100 ms
/// hook). glibc grows the heap, and makes each thread's, 32 MiB at a time (address space only),
/// and the kernel backs what is touched of it with 2 MiB pages where it can.
void allocate_for_one_run();

/// In a thread of such a process (after allocate_for_one_run), the same advice for the heap
/// glibc gives this thread. Nothing otherwise (a long-running process: the hook daemon).
void huge_pages_for_this_thread();

/// Initialises libgit2 once per process (GitRepo::open does it).
void init_libgit2();

/// libgit2's last error as one line.
std::string last_git_error(const char* what);

}  // namespace stepgate
