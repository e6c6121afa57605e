#include "git_signals.h"

#include <git2.h>
#include <git2/sys/repository.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_set>

#include "commit_scan.h"
#include "pack_reader.h"
#include "stepgate/glob.h"
#include "stepgate/paths.h"
#include "stepgate/signal_demand.h"

namespace stepgate {
namespace {

// Below this a second thread (and the second repository handle it needs) costs more than it
// saves. Measured on the 2-core bench machine, hook alone: 100 commits 20.3 ms with two threads
// against 19.2 ms with one, 300 commits even, 1,000 commits 68.6 against 78.4 ms, 10,000 commits
// 415 against 444 ms.
constexpr std::size_t kParallelMinCommits = 400;

template <class T, void (*Free)(T*)>
struct GitFree {
  void operator()(T* p) const { Free(p); }
};
using RevwalkPtr = std::unique_ptr<git_revwalk, GitFree<git_revwalk, git_revwalk_free>>;
using ObjectPtr = std::unique_ptr<git_object, GitFree<git_object, git_object_free>>;
using ConfigPtr = std::unique_ptr<git_config, GitFree<git_config, git_config_free>>;
using ReferencePtr = std::unique_ptr<git_reference, GitFree<git_reference, git_reference_free>>;

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool matches_any(const std::vector<std::string>& globs, std::string_view text) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& g) { return glob_match(g, text); });
}

/// The commit an id names (peeling annotated tags), or nullopt when it is absent or not one.
std::optional<git_oid> peel_to_commit(git_repository* repo, const std::string& sha) {
  git_oid oid;
  if (git_oid_fromstr(&oid, sha.c_str()) != 0) return std::nullopt;
  git_object* raw = nullptr;
  if (git_object_lookup(&raw, repo, &oid, GIT_OBJECT_ANY) != 0) return std::nullopt;
  ObjectPtr object(raw);
  git_object* peeled = nullptr;
  if (git_object_peel(&peeled, object.get(), GIT_OBJECT_COMMIT) != 0) return std::nullopt;
  ObjectPtr commit(peeled);
  return *git_object_id(commit.get());
}

bool object_exists(git_repository* repo, const std::string& sha) {
  git_oid oid;
  git_odb* odb = nullptr;
  if (git_oid_fromstr(&oid, sha.c_str()) != 0 || git_repository_odb(&odb, repo) != 0) return false;
  bool exists = git_odb_exists(odb, &oid) != 0;
  git_odb_free(odb);
  return exists;
}

/// Names that are safe to put into a refs/remotes/<name>/* glob.
bool is_plain_remote_name(const std::string& name) {
  return !name.empty() && name.find_first_of("*?[\\:/ ") == std::string::npos;
}

/// Which refs may hide commits from the walk of a new ref: what a ref holds was judged under the
/// rules for that ref, and only rules at least as strict may stand in for the new ref's. Rules that
/// read none of the ref's own signals (ref, protected, tag) judge every ref alike: any ref hides.
/// Otherwise `protected` decides, as the policy's own word for the refs it guards: a new
/// unprotected ref is hidden from by any ref, a new protected ref only by protected refs, so a
/// branch pushed first as a feature branch (lax rules) and later as a new protected branch is
/// scanned again under the protected branch's rules.
class HideFilter {
 public:
  HideFilter(const GitSettings& settings, const PushScanOptions& options, const std::string& ref)
      : settings_(settings) {
    const SignalDemand* demand = options.demand;
    const bool ref_dependent = demand == nullptr || demand->wants("ref") ||
                               demand->wants("protected") || demand->wants("tag");
    protected_only_ = ref_dependent && matches_any(settings.protected_refs, ref);
  }
  /// False when hiding nothing but protected refs: the caller then hides ref by ref.
  [[nodiscard]] bool any_ref() const { return !protected_only_; }
  [[nodiscard]] bool allows(std::string_view ref) const {
    return !protected_only_ || matches_any(settings_.protected_refs, ref);
  }

 private:
  const GitSettings& settings_;
  bool protected_only_ = false;
};

/// Calls `fn(name, id)` for each ref `raw_it` yields (and frees the iterator). A symbolic ref
/// (HEAD -> main) stands for its target, named by the target's name; a ref that does not resolve
/// to an id is skipped.
template <class Fn>
void for_each_resolved_ref(git_reference_iterator* raw_it, Fn&& fn) {
  const std::unique_ptr<git_reference_iterator,
                        GitFree<git_reference_iterator, git_reference_iterator_free>>
      it(raw_it);
  git_reference* raw_ref = nullptr;
  while (git_reference_next(&raw_ref, it.get()) == 0) {
    const ReferencePtr ref(raw_ref);
    git_reference* raw_target = nullptr;
    if (git_reference_resolve(&raw_target, ref.get()) != 0) continue;
    const ReferencePtr target(raw_target);
    const git_oid* id = git_reference_target(target.get());
    if (id != nullptr) fn(std::string_view(git_reference_name(target.get())), id);
  }
}

/// Hides from the walk of a new ref what the remote of a pre-push already has, so that the push
/// is scanned for what it sends: the remote's value of every ref this push updates (git read it
/// from the remote for this push) and the remote's tracking refs, each only when `filter` allows
/// its ref. A tracking ref is skipped when the push updates the ref it tracks: git's fresh value
/// is hidden instead, and the tracking ref may be stale (the remote rewound since the last fetch,
/// so what it held may be gone there). Only a commit id hides anything: an id this repository
/// lacks hides nothing, so the walk scans more, never less.
void hide_remote_side(git_repository* repo, git_revwalk* walk, const PushScanOptions& options,
                      const HideFilter& filter) {
  std::vector<std::string> updated;
  for (const auto& [ref, sha] : options.remote_tips) {
    updated.push_back(ref);
    if (is_zero_oid(sha) || !filter.allows(ref)) continue;
    if (auto tip = peel_to_commit(repo, sha)) (void)git_revwalk_hide(walk, &*tip);
  }
  if (!is_plain_remote_name(options.remote)) return;
  const std::string prefix = "refs/remotes/" + options.remote + "/";
  git_reference_iterator* it = nullptr;
  if (git_reference_iterator_glob_new(&it, repo, (prefix + "*").c_str()) != 0) return;
  for_each_resolved_ref(it, [&](std::string_view name, const git_oid* id) {
    if (!starts_with(name, prefix)) return;
    const std::string branch = "refs/heads/" + std::string(name.substr(prefix.size()));
    if (std::find(updated.begin(), updated.end(), branch) != updated.end()) return;
    if (!filter.allows(branch)) return;
    (void)git_revwalk_hide(walk, id);  // not a commit (a tracking ref to a tag of a tree): ignored
  });
}

/// pre-receive: hides what the repository's own refs hold, each only when `filter` allows it.
void hide_own_refs(git_repository* repo, git_revwalk* walk, const HideFilter& filter) {
  if (filter.any_ref()) {
    (void)git_revwalk_hide_glob(walk, "refs/*");
    return;
  }
  git_reference_iterator* it = nullptr;
  if (git_reference_iterator_new(&it, repo) != 0) return;
  for_each_resolved_ref(it, [&](std::string_view name, const git_oid* id) {
    if (!filter.allows(name)) return;
    (void)git_revwalk_hide(walk, id);  // a tag of a tree or blob: ignored, as hide_glob does
  });
}

struct Range {
  std::vector<git_oid> commits;
  bool force = false;
};

/// The commits the update sends and whether it rewrites history. `on_walk` is called with the new
/// tip when the walk starts; `on_commit` with each commit as the walk yields it.
Result<Range> walk_range(git_repository* repo, const RefUpdate& update,
                         const PushScanOptions& options, bool is_tag,
                         const std::function<void(const git_oid&)>& on_walk,
                         const std::function<void(const git_oid&)>& on_commit) {
  Range range;
  auto new_tip = peel_to_commit(repo, update.local_sha);
  std::optional<git_oid> old_tip;
  if (!update.is_new()) old_tip = peel_to_commit(repo, update.remote_sha);
  if (!update.is_new()) {
    if (is_tag) {
      range.force = update.remote_sha != update.local_sha;  // any move of a tag rewrites it
    } else if (!old_tip || !new_tip) {
      range.force = true;  // the remote tip is unknown here: it cannot be an ancestor
    } else {
      range.force = git_oid_equal(&*old_tip, &*new_tip) == 0 &&
                    git_graph_descendant_of(repo, &*new_tip, &*old_tip) != 1;
    }
  }
  if (!new_tip) return range;  // a tag of a tree or blob: no commits

  git_revwalk* raw = nullptr;
  if (git_revwalk_new(&raw, repo) != 0)
    return make_error(ErrorCode::kInternal, last_git_error("revwalk"));
  RevwalkPtr walk(raw);
  if (git_revwalk_push(walk.get(), &*new_tip) != 0) {
    return make_error(ErrorCode::kInternal, last_git_error("revwalk push"));
  }
  on_walk(*new_tip);
  // An update of an existing ref is judged on all it adds to that ref, even what the remote holds
  // under another ref already: a policy may be stricter for main than for a feature branch, and
  // pushing the feature branch first must not carry its commits past main's rules.
  if (old_tip) {
    (void)git_revwalk_hide(walk.get(), &*old_tip);
  } else {
    static const GitSettings kDefaults;
    const HideFilter filter(options.settings != nullptr ? *options.settings : kDefaults, options,
                            update.remote_ref);
    if (options.hide_all_refs) {
      hide_own_refs(repo, walk.get(), filter);
    } else {
      hide_remote_side(repo, walk.get(), options, filter);
    }
  }
  git_oid oid;
  while (git_revwalk_next(&oid, walk.get()) == 0) {
    range.commits.push_back(oid);
    on_commit(oid);
  }
  return range;
}

Value string_list(const std::set<std::string>& items, std::size_t cap) {
  List list;
  for (const std::string& item : items) {
    if (list.size() >= cap) break;
    list.emplace_back(item);
  }
  return list;
}

/// The signals the commit scan (the diff of every new commit) produces.
constexpr const char* kScanSignals[] = {
    "files_changed",     "lines_added",      "lines_deleted",  "paths",
    "secrets",           "secret_findings",  "large_files",    "model_artifacts",
    "ci_config_changed", "unsigned_commits", "foreign_authors"};

bool wants_scan(const SignalDemand* demand) {
  return demand == nullptr ||
         std::any_of(std::begin(kScanSignals), std::end(kScanSignals),
                     [demand](const char* name) { return demand->wants(name); });
}

bool wants_secrets(const SignalDemand* demand) {
  return demand == nullptr || demand->wants("secrets") || demand->wants("secret_findings");
}

void put_scan(Value& s, const CommitScan& scan, const PushScanLimits& limits) {
  s["files_changed"] = static_cast<int64_t>(scan.paths.size());
  s["lines_added"] = scan.lines_added;
  s["lines_deleted"] = scan.lines_deleted;
  s["paths"] = string_list(scan.paths, limits.max_listed_paths);
  std::set<std::string> rules;
  List findings;
  for (const auto& [rule, file, line] : scan.findings) {
    rules.insert(rule);
    Value f = Map{};
    f["rule"] = rule;
    f["file"] = file;
    f["line"] = static_cast<int64_t>(line);
    findings.push_back(std::move(f));
  }
  s["secrets"] = string_list(rules, rules.size());
  s["secret_findings"] = std::move(findings);
  s["large_files"] = string_list(scan.large_files, limits.max_listed_paths);
  s["model_artifacts"] = string_list(scan.model_artifacts, limits.max_listed_paths);
  s["ci_config_changed"] = scan.ci_config_changed;
  s["unsigned_commits"] = scan.unsigned_commits;
  s["foreign_authors"] = string_list(scan.foreign_authors, limits.max_listed_paths);
}

}  // namespace

void init_libgit2() {
  static const int once = [] {
    int rc = git_libgit2_init();
    // git does not re-hash every object it reads either; this halves libgit2's cost per push.
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
    // No object stays in libgit2's object cache: blobs are not cached by default, and trees and
    // commits are not cached here. The pack reader (pack_reader.h) re-reads an object from its
    // base cache for less than a cache entry costs: every cached object is fresh memory, and on
    // this project's VM a page fault costs 6-8 us. Caching trees up to 64 KiB and commits up to
    // 4 KiB (libgit2's default), the 10,000-commit push took 11.8k faults and 462-487 ms of CPU;
    // without, 4.6k and 339-355 ms. Blobs under 64 KiB cached made the 51 MB scan push 482 ms
    // against 386, with the pack reader.
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, std::size_t{0});
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_COMMIT, std::size_t{0});
    return rc;
  }();
  (void)once;
}

std::string last_git_error(const char* what) {
  const git_error* e = git_error_last();
  return std::string(what) + ": " +
         (e != nullptr && e->message != nullptr ? e->message : "libgit2 error");
}

namespace {

/// The object directories git names for a hook (the pre-receive quarantine keeps the pushed
/// objects in GIT_OBJECT_DIRECTORY, the repository's own in GIT_ALTERNATE_OBJECT_DIRECTORIES).
std::vector<std::string> env_object_dirs(const std::string& cwd, const Env& env) {
  std::vector<std::string> dirs;
  if (std::string objects = env.get("GIT_OBJECT_DIRECTORY"); !objects.empty()) {
    dirs.push_back(relative_to(objects, cwd));
  }
  const std::string alternates = env.get("GIT_ALTERNATE_OBJECT_DIRECTORIES");
  for (std::size_t at = 0; at < alternates.size();) {
    std::size_t end = alternates.find(':', at);
    if (end == std::string::npos) end = alternates.size();
    if (end > at) dirs.push_back(relative_to(alternates.substr(at, end - at), cwd));
    at = end + 1;
  }
  return dirs;
}

/// Adds `dirs` for reading: what libgit2's GIT_REPOSITORY_OPEN_FROM_ENV does with the process's
/// environment, done with the caller's.
bool add_object_dirs(git_repository* repo, const std::vector<std::string>& dirs) {
  if (dirs.empty()) return true;
  git_odb* odb = nullptr;
  if (git_repository_odb(&odb, repo) != 0) return false;
  bool ok = true;
  for (const std::string& dir : dirs) {
    ok = git_odb_add_disk_alternate(odb, dir.c_str()) == 0 && ok;
  }
  git_odb_free(odb);
  return ok;
}

/// git's reading of a boolean environment variable (git_env_bool): true, yes, on or a non-zero
/// number, in any case.
bool git_env_true(std::string value) {
  std::transform(value.begin(), value.end(), value.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (value == "true" || value == "yes" || value == "on") return true;
  return !value.empty() && std::all_of(value.begin(), value.end(), ::isdigit) &&
         value.find_first_not_of('0') != std::string::npos;
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return !path.empty() && std::filesystem::is_regular_file(path, ec);
}

/// The configuration git would read for the caller: the repository's own file, then the
/// caller's global and XDG files (its HOME, XDG_CONFIG_HOME, GIT_CONFIG_GLOBAL) and the
/// system's (GIT_CONFIG_SYSTEM, GIT_CONFIG_NOSYSTEM), set on this repository alone. libgit2's own
/// search paths are process-wide and taken from the daemon's HOME, not the client's.
bool use_caller_config(git_repository* repo, const std::string& cwd, const Env& env) {
  git_config* raw = nullptr;
  if (git_config_new(&raw) != 0) return false;
  ConfigPtr config(raw);
  auto add = [&](const std::string& path, git_config_level_t level) {
    return git_config_add_file_ondisk(config.get(), path.c_str(), level, repo, 0) == 0;
  };
  bool ok = true;
  if (!git_env_true(env.get("GIT_CONFIG_NOSYSTEM"))) {
    std::string system = env.get("GIT_CONFIG_SYSTEM");
    system = system.empty() ? "/etc/gitconfig" : relative_to(system, cwd);
    if (is_file(system)) ok = add(system, GIT_CONFIG_LEVEL_SYSTEM) && ok;
  }
  const std::string home = env.get("HOME");
  if (std::string global = env.get("GIT_CONFIG_GLOBAL"); !global.empty()) {
    global = relative_to(global, cwd);
    if (is_file(global)) ok = add(global, GIT_CONFIG_LEVEL_GLOBAL) && ok;
  } else {
    std::string xdg = env.get("XDG_CONFIG_HOME");
    xdg = !xdg.empty() ? xdg + "/git/config" : home.empty() ? "" : home + "/.config/git/config";
    if (is_file(xdg)) ok = add(xdg, GIT_CONFIG_LEVEL_XDG) && ok;
    if (!home.empty() && is_file(home + "/.gitconfig")) {
      ok = add(home + "/.gitconfig", GIT_CONFIG_LEVEL_GLOBAL) && ok;
    }
  }
  git_buf local = GIT_BUF_INIT;
  if (git_repository_item_path(&local, repo, GIT_REPOSITORY_ITEM_CONFIG) == 0) {
    ok = add(local.ptr, GIT_CONFIG_LEVEL_LOCAL) && ok;
  }
  git_buf_dispose(&local);
  if (!ok) return false;
  git_repository_set_config(repo, config.get());
  return true;
}

}  // namespace

Result<std::unique_ptr<GitRepo>> GitRepo::open(const std::string& cwd, const Env& env) {
  init_libgit2();
  git_repository* repo = nullptr;
  const std::string git_dir = env.get("GIT_DIR");
  const std::string where = git_dir.empty() ? cwd : relative_to(git_dir, cwd);
  const unsigned flags =
      git_dir.empty() ? 0U : static_cast<unsigned>(GIT_REPOSITORY_OPEN_NO_SEARCH);
  if (git_repository_open_ext(&repo, where.c_str(), flags, nullptr) != 0) {
    return make_error(ErrorCode::kNotFound, last_git_error("opening the git repository"));
  }
  if (!use_caller_config(repo, cwd, env)) {
    git_repository_free(repo);
    return make_error(ErrorCode::kInvalidArgument, last_git_error("reading git's configuration"));
  }
  std::vector<std::string> object_dirs;
  if (!git_dir.empty()) object_dirs = env_object_dirs(cwd, env);
  if (!add_object_dirs(repo, object_dirs)) {
    git_repository_free(repo);
    return make_error(ErrorCode::kNotFound, last_git_error("opening git's object directories"));
  }
  // Packs are read with libdeflate ahead of libgit2 (hooks/pack_reader.h), unless the caller
  // asks for libgit2's reader alone.
  if (env.get("STEPGATE_GIT_READER") != "libgit2") {
    object_dirs.insert(
        object_dirs.begin(),
        (std::filesystem::path(git_repository_commondir(repo)) / "objects").string());
    (void)add_pack_readers(repo, object_dirs);
  }
  return std::unique_ptr<GitRepo>(new GitRepo(repo, cwd, env));
}

Result<std::unique_ptr<GitRepo>> GitRepo::open_at(const std::string& path, const Env& config_env) {
  // Only the variables that say where git's configuration is (and which reader of objects):
  // the repository at `path`, whatever GIT_DIR says.
  std::vector<std::string> entries;
  for (const char* name : {"HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM",
                           "GIT_CONFIG_NOSYSTEM", "STEPGATE_GIT_READER"}) {
    if (std::string value = config_env.get(name); !value.empty()) {
      entries.push_back(std::string(name) + "=" + value);
    }
  }
  return open(path, Env(std::move(entries)));
}

Result<std::unique_ptr<GitRepo>> GitRepo::reopen() const {
  return open(cwd_, env_);
}

namespace {

std::atomic<bool> keep_until_exit{false};

/// Keeps `object` reachable (so a leak checker does not count it) until the process exits; false
/// when there is no memory left to keep it in.
template <class T>
bool keep_reachable(T* object) noexcept {
  try {
    static std::mutex lock;
    static auto* kept = new std::vector<T*>();  // NOLINT(cppcoreguidelines-owning-memory)
    const std::lock_guard<std::mutex> hold(lock);
    kept->push_back(object);
    return true;
  } catch (...) {
    return false;
  }
}

/// Deletes a push's scanner, or, in a process that keeps its repositories until exit, keeps it
/// too: after a 10,000-commit push its tables take ~1 ms to free entry by entry, on the hook's
/// last, single-threaded stretch, and the kernel takes them back at exit anyway. The repository
/// its objects came from is kept as well.
struct ScannerRelease {
  void operator()(CommitScanner* scanner) const noexcept {
    if (keep_until_exit && keep_reachable(scanner)) return;
    delete scanner;  // NOLINT(cppcoreguidelines-owning-memory)
  }
};
using ScannerPtr = std::unique_ptr<CommitScanner, ScannerRelease>;

ScannerPtr make_scanner(git_repository* repo, const GitSettings& settings,
                        const std::string& pusher, std::size_t budget, std::size_t file_cap,
                        bool secrets) {
  ScannerPtr scanner(new CommitScanner(repo, settings, pusher, budget, file_cap));
  scanner->set_scan_secrets(secrets);
  return scanner;
}

}  // namespace

void keep_repositories_until_exit() {
  keep_until_exit = true;
}

namespace {

std::atomic<bool> one_run{false};

#if defined(__GLIBC__) && defined(MADV_HUGEPAGE)
constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
// glibc extends the main heap, and makes each thread's heap, this much larger than asked.
constexpr std::size_t kHeapPad = std::size_t{32} << 20;

/// Blocks allocated only to move a heap's top to a 2 MiB boundary: never touched past their
/// first bytes, so they cost address space, not memory. Kept reachable, for leak checkers, in a
/// fixed array: an allocation to keep them could land past the boundary before the advice.
constexpr std::size_t kMaxPads = 64;
std::array<std::atomic<void*>, kMaxPads> pads{};
std::atomic<std::size_t> pad_count{0};

/// Moves the top of the calling thread's heap, which begins at `top`, to the next 2 MiB boundary
/// and asks for transparent huge pages from there to kHeapPad past it. A huge page backs only a
/// whole 2 MiB range with nothing mapped in it yet, so nothing may touch memory past the boundary
/// before the advice; the range the top is in has 4 KiB pages already. Advice only: a kernel
/// without huge pages, or with them off, leaves the heap as it was.
void huge_pages_from(std::uintptr_t top) {
  const std::size_t slot = pad_count.fetch_add(1);
  if (slot >= kMaxPads) return;
  const std::uintptr_t boundary = (top + kHugePage) & ~(kHugePage - 1);
  // What malloc adds around a block: the pad's own header and the rounding of its size.
  constexpr std::uintptr_t kOverhead = 64;
  void* pad = nullptr;
  if (boundary - top > kOverhead) {
    pad = malloc(boundary - top - kOverhead);  // NOLINT(cppcoreguidelines-no-malloc)
    if (pad == nullptr) return;
  }
  // NOLINTNEXTLINE(performance-no-int-to-ptr): an address range of this process's heap
  (void)madvise(reinterpret_cast<void*>(boundary), kHeapPad, MADV_HUGEPAGE);
  pads[slot].store(pad);
}
#endif

}  // namespace

void allocate_for_one_run() {
#if defined(__GLIBC__)
  constexpr int kMmapAbove = 64 << 20;
  constexpr int kTrimAbove = 1 << 30;
  (void)mallopt(M_MMAP_THRESHOLD, kMmapAbove);
  (void)mallopt(M_TRIM_THRESHOLD, kTrimAbove);
#if defined(MADV_HUGEPAGE)
  (void)mallopt(M_TOP_PAD, static_cast<int>(kHeapPad));
  // The main heap's top: its free tail (keepcost) ends at the program break. The pad past the
  // next boundary grows the heap by kHeapPad more (the mmap threshold above keeps it on the heap).
  const auto brk = reinterpret_cast<std::uintptr_t>(sbrk(0));
  if (brk == static_cast<std::uintptr_t>(-1)) {
    one_run.store(true);
    return;
  }
  const std::uintptr_t top = brk - mallinfo2().keepcost;
  const std::uintptr_t boundary = (top + kHugePage) & ~(kHugePage - 1);
  // The advised range must be mapped when advised: the kernel grows the heap's mapping only
  // while its flags are unchanged, so growth after the advice is a new mapping without it. When
  // the free top already reaches past the boundary, the pad is taken from it and the heap does
  // not grow (1 run in ~20, by where the heap starts): grown here first, by a block taken and
  // given back (its header sits at `top`, below the boundary; nothing past it is touched).
  if (brk < boundary + kHeapPad) {
    // volatile: a block freed unused is an allocation the compiler may drop altogether.
    void* volatile grow = malloc(boundary + kHeapPad - top);  // NOLINT(cppcoreguidelines-no-malloc)
    free(grow);                                               // NOLINT(cppcoreguidelines-no-malloc)
  }
  huge_pages_from(top);
#endif
#endif
  one_run.store(true);
}

void huge_pages_for_this_thread() {
#if defined(__GLIBC__) && defined(MADV_HUGEPAGE)
  if (!one_run.load()) return;
  // A new thread's first block comes from the top of a heap glibc made for it (kHeapPad long).
  void* probe = malloc(1);  // NOLINT(cppcoreguidelines-no-malloc)
  if (probe == nullptr) return;
  // Freed after the pad (which then starts just past it, so short of the boundary still).
  huge_pages_from(reinterpret_cast<std::uintptr_t>(probe));
  free(probe);  // NOLINT(cppcoreguidelines-no-malloc)
#endif
}

GitRepo::~GitRepo() {
  if (keep_until_exit && keep_reachable(repo_)) return;
  git_repository_free(repo_);
}

Result<CommitScan> GitRepo::scan_range(const git_oid* commits, std::size_t count,
                                       const GitSettings& settings, const std::string& pusher,
                                       std::size_t budget, std::size_t max_file_scan_bytes,
                                       bool secrets, std::vector<DetailedFinding>* sink,
                                       std::size_t* scanned) {
  CommitScanner scanner(repo_, settings, pusher, budget, max_file_scan_bytes);
  scanner.set_scan_secrets(secrets);
  scanner.set_detail_sink(sink);
  for (std::size_t i = 0; i < count; ++i) {
    if (Status st = scanner.scan(commits[i]); !st.ok()) return st.error();
  }
  if (scanned != nullptr) *scanned = scanner.scanned_bytes();
  return scanner.take_result();
}

Result<CommitScan> GitRepo::scan_commits_detailed(const std::vector<git_oid>& commits,
                                                  const GitSettings& settings,
                                                  std::vector<DetailedFinding>& sink,
                                                  std::size_t& scanned_bytes) {
  // No budget: whoever runs `stepgate scan` asked for the whole range.
  constexpr std::size_t kNoBudget = std::numeric_limits<std::size_t>::max() / 2;
  const std::size_t count = commits.size();
  std::size_t first_bytes = 0;
  if (count < 2 || std::thread::hardware_concurrency() < 2) {
    auto only = scan_range(commits.data(), count, settings, "", kNoBudget, kMaxFileScanBytes, true,
                           &sink, &first_bytes);
    scanned_bytes = first_bytes;
    return only;
  }
  // Two threads as for a push, each with its own repository handle; the later half's findings
  // go after the earlier half's, so the order is the range's.
  auto second = reopen();  // NOLINT(clang-analyzer-cplusplus.NewDeleteLeaks)
  if (!second.ok()) return second.error();
  const std::size_t half = count / 2;
  std::vector<DetailedFinding> later_sink;
  std::size_t later_bytes = 0;
  Result<CommitScan> later = CommitScan{};
  std::thread worker([&] {
    huge_pages_for_this_thread();
    later = (*second)->scan_range(commits.data() + half, count - half, settings, "", kNoBudget,
                                  kMaxFileScanBytes, true, &later_sink, &later_bytes);
  });
  Result<CommitScan> first = scan_range(commits.data(), half, settings, "", kNoBudget,
                                        kMaxFileScanBytes, true, &sink, &first_bytes);
  worker.join();
  if (!first.ok()) return first.error();
  if (!later.ok()) return later.error();
  sink.insert(sink.end(), std::make_move_iterator(later_sink.begin()),
              std::make_move_iterator(later_sink.end()));
  scanned_bytes = first_bytes + later_bytes;
  first->merge(std::move(*later));
  return first;
}

/// Commits handed from the walk to the scan. A second thread, with its own repository handle
/// (libgit2 objects are not shared across threads), scans the newest while the walk still reads
/// older ones; once the walk is done the walking thread scans from the oldest end until the two
/// meet (while no helper runs, the walking thread takes one commit at a time from the newest end).
/// Each thread takes a run of commits at a time, so a file's successive versions mostly stay in one
/// thread's object cache.
struct GitRepo::CommitQueue {
  std::mutex lock;
  std::condition_variable ready;
  std::vector<git_oid> ids;  // in walk order
  std::size_t limit = 0;     // only the first `limit` are scanned (max_diffed_commits)
  std::size_t front = 0;     // [0, front) taken by the second thread
  std::size_t back = 0;      // [back, end) taken by the walking thread, once the walk is done
  bool walked = false;
  bool stop = false;  // an error: the second thread takes no more
};

namespace {

// Long runs keep a file's successive versions in one thread: a blob read as the old side of one
// commit is then known small when a later-scanned commit adds it (no header read, which inflates
// a delta's start), and its parent commit and trees are cached. 64 gave 4% more instructions on
// the 10,000-commit push (callgrind).
constexpr std::size_t kQueueRun = 256;
/// A run of at most kQueueRun commits and at most a quarter of those left: the runs shrink as the
/// queue empties, so the two threads finish within about one commit of each other. (With half of
/// those left, the helper's first run of a push of 20 large commits took 9 at once, and the
/// threads split the push's CPU time 58/42 instead of about 50/50: perf, per thread.)
std::size_t run_size(std::size_t left) {
  return std::min(kQueueRun, std::max<std::size_t>(1, left / 4));
}

// A second thread pays for itself after this much text (about ten milliseconds of reading and
// scanning; starting the thread and reopening the repository cost well under one). At 4 MB the
// walking thread read the first two commits of the 51 MB push alone, 10-25% of the hook's time.
constexpr std::size_t kHelpAfterBytes = std::size_t{1} << 20;

}  // namespace

/// libgit2's walk of a push with commits to hide (the remote's) reads every commit of the range
/// before it yields the first: on the 10,000-commit push a third of the hook's time, with the
/// second core idle. Once the walk has run for PushScanLimits::scan_ahead_after_us (1 ms; the
/// 100-commit push walks for well under one), the second thread scans ahead down
/// the new tip's first-parent chain. Those commits are the push's until the chain reaches one the
/// remote has, and then none further down is (what the remote has, it has with its ancestors), so
/// what was scanned ahead is kept in runs: a run is kept when every commit in it is one the walk
/// found (among the first max_diffed_commits), and the walking thread and the second thread then
/// share what is left, as in CommitQueue. A dropped run's bytes go back to the budget.
struct GitRepo::ScanAhead {
  std::mutex lock;
  std::condition_variable changed;
  std::atomic<bool> walked{false};  // the walk is over: stop scanning ahead
  std::atomic<std::size_t> scanned{0};
  std::size_t at_least = 0;  // PushScanLimits::scan_ahead_at_least
  bool started = false;      // scanning ahead (under `lock`)
  bool done = false;         // stopped scanning ahead
  bool published = false;    // the walking thread has judged the runs and filled the queue
  struct Run {
    std::vector<git_oid> commits;  // in chain order
    CommitScan scan;
    std::size_t bytes = 0;
    bool failed = false;  // a commit in it could not be scanned: dropped
    bool keep = false;    // set by the walking thread
  };
  std::vector<Run> runs;
};

namespace {

// Commits per run scanned ahead: at most one run, the one that reaches past the push, is dropped.
constexpr std::size_t kAheadRun = 64;

}  // namespace

Result<CommitScan> GitRepo::scan_ahead(ScanAhead& ahead, CommitQueue& queue, CommitScanner& scanner,
                                       git_oid tip) {
  ScanAhead::Run run;
  std::vector<ScanAhead::Run> runs;
  const auto close_run = [&] {
    if (run.commits.empty()) return;
    run.bytes = scanner.scanned_bytes();  // so far; made the run's own below
    run.scan = scanner.take_result();
    runs.push_back(std::move(run));
    run = {};
  };
  // No more than could be kept: a hostile repository's first-parent chain may even loop (object
  // ids are not re-hashed on reading), and publish_ahead drops a run that repeats a commit.
  std::size_t left = queue.limit;
  for (bool more = true; more && left-- > 0 && !ahead.walked.load(std::memory_order_relaxed);) {
    run.commits.push_back(tip);
    if (!scanner.scan(tip).ok()) {
      run.failed = true;  // the queue scans it again and reports what went wrong
      break;
    }
    if (run.commits.size() == kAheadRun) close_run();
    more = scanner.last_first_parent(&tip);
    if (ahead.scanned.fetch_add(1) + 1 == ahead.at_least) {
      const std::lock_guard<std::mutex> hold(ahead.lock);
      ahead.changed.notify_all();
    }
  }
  close_run();
  // The bytes of each run, not the running total.
  for (std::size_t i = runs.size(); i-- > 1;) runs[i].bytes -= runs[i - 1].bytes;
  {
    std::unique_lock<std::mutex> hold(ahead.lock);
    ahead.runs = std::move(runs);
    ahead.done = true;
    ahead.changed.notify_all();
    ahead.changed.wait(hold, [&] { return ahead.published; });
  }
  CommitScan kept;
  for (ScanAhead::Run& r : ahead.runs) {
    if (r.keep) {
      kept.merge(std::move(r.scan));
    } else {
      scanner.refund(r.bytes);
    }
  }
  auto rest = scan_queue(queue, true, scanner);
  if (!rest.ok()) return rest.error();
  kept.merge(std::move(*rest));
  return kept;
}

Result<CommitScan> GitRepo::scan_queue(CommitQueue& queue, bool from_front, CommitScanner& scanner,
                                       const std::function<void(std::size_t)>* start_helper) {
  std::vector<git_oid> run;
  for (;;) {
    run.clear();
    {
      std::unique_lock<std::mutex> hold(queue.lock);
      auto end = [&] {
        return queue.walked ? queue.back : std::min(queue.ids.size(), queue.limit);
      };
      if (from_front) {
        queue.ready.wait(hold, [&] { return queue.stop || queue.walked || queue.front < end(); });
        if (queue.stop || queue.front >= end()) break;
        const std::size_t n = run_size(end() - queue.front);
        run.assign(queue.ids.begin() + static_cast<std::ptrdiff_t>(queue.front),
                   queue.ids.begin() + static_cast<std::ptrdiff_t>(queue.front + n));
        queue.front += n;
      } else {
        if (queue.back <= queue.front) break;
        if (start_helper != nullptr && scanner.scanned_bytes() >= kHelpAfterBytes &&
            queue.back - queue.front >= 2) {
          hold.unlock();
          (*start_helper)(scanner.split_budget());
          start_helper = nullptr;
          continue;
        }
        if (start_helper != nullptr) {
          // One commit at a time while no helper runs (it may start after any of them), newest
          // first, as the helper would take them: a file's newer version is then read before
          // the commit that added its older one, which so needs no size read from the pack (a
          // delta's start inflated). Oldest first, every new blob needed one: 9% of the
          // 100-commit hook's instructions (callgrind).
          run.push_back(queue.ids[queue.front]);
          ++queue.front;
        } else {
          const std::size_t n = run_size(queue.back - queue.front);
          queue.back -= n;
          run.assign(queue.ids.begin() + static_cast<std::ptrdiff_t>(queue.back),
                     queue.ids.begin() + static_cast<std::ptrdiff_t>(queue.back + n));
        }
      }
    }
    for (const git_oid& id : run) {
      if (Status st = scanner.scan(id); !st.ok()) {
        const std::lock_guard<std::mutex> hold(queue.lock);
        queue.stop = true;
        queue.ready.notify_all();
        return st.error();
      }
    }
  }
  return scanner.take_result();
}

namespace {

/// Follows `ref` through symbolic refs of `repo` (git stops after 5 levels too).
std::string follow_symbolic(git_repository* repo, const std::string& ref) {
  constexpr int kMaxSymrefDepth = 5;
  std::string name = ref;
  for (int depth = 0; depth < kMaxSymrefDepth; ++depth) {
    git_reference* raw = nullptr;
    if (git_reference_lookup(&raw, repo, name.c_str()) != 0) break;
    ReferencePtr found(raw);
    if (git_reference_type(found.get()) != GIT_REFERENCE_SYMBOLIC) break;
    const char* target = git_reference_symbolic_target(found.get());
    if (target == nullptr) break;
    name = target;
  }
  return name;
}

/// The directory of a remote given as a local path or file:// URL, "" for a network remote.
std::string local_remote_path(const std::string& url) {
  constexpr std::string_view kFile = "file://";
  if (starts_with(url, kFile)) return url.substr(kFile.size());
  const auto colon = url.find(':');
  const bool scp_like = colon != std::string::npos && url.find('/') > colon;
  if (url.empty() || url.find("://") != std::string::npos || scp_like) return "";
  return url;
}

}  // namespace

std::string GitRepo::resolve_symbolic(const std::string& ref) const {
  return follow_symbolic(repo_, ref);
}

std::string GitRepo::resolve_remote_symbolic(const std::string& remote, const std::string& url,
                                             const std::string& ref) const {
  if (const std::string path = local_remote_path(url); !path.empty()) {
    git_repository* raw = nullptr;
    // No search upwards and no environment: exactly the repository the URL names.
    if (git_repository_open_ext(&raw, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) == 0) {
      std::string target = follow_symbolic(raw, ref);
      git_repository_free(raw);
      return target;
    }
  }
  constexpr std::string_view kHeads = "refs/heads/";
  if (!is_plain_remote_name(remote) || !starts_with(ref, kHeads)) return ref;
  const std::string tracking = "refs/remotes/" + remote + "/";
  const std::string target = follow_symbolic(repo_, tracking + ref.substr(kHeads.size()));
  if (!starts_with(target, tracking)) return ref;
  return std::string(kHeads) + target.substr(tracking.size());
}

std::string GitRepo::config_string(const char* key) const {
  git_config* raw = nullptr;
  if (git_repository_config_snapshot(&raw, repo_) != 0) return "";
  ConfigPtr config(raw);
  const char* value = nullptr;
  if (git_config_get_string(&value, config.get(), key) != 0 || value == nullptr) return "";
  return value;
}

std::optional<bool> GitRepo::config_bool(const char* key) const {
  git_config* raw = nullptr;
  if (git_repository_config_snapshot(&raw, repo_) != 0) return std::nullopt;
  ConfigPtr config(raw);
  int value = 0;
  if (git_config_get_bool(&value, config.get(), key) != 0) return std::nullopt;
  return value != 0;
}

std::string GitRepo::configured_remote(const std::string& remote, const std::string& url) const {
  // A local path (no scheme, no scp-like host:) compares by where it points, from the directory
  // git runs the hook in: "../repo.git" in the config and "/abs/repo.git" on the command line
  // are the same remote.
  auto normalized = [](std::string_view u) {
    std::string text(u);
    const auto colon = text.find(':');
    const bool local = text.find("://") == std::string::npos &&
                       (colon == std::string::npos || text.find('/') < colon);
    if (local && !text.empty()) {
      std::error_code ec;
      auto canonical = std::filesystem::weakly_canonical(text, ec);
      if (!ec) text = canonical.string();
    }
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    return text;
  };
  // The remote.<name>.url / .pushurl entries, read with a plain config iterator: libgit2's remote
  // API and its regex-matching iterators leak PCRE2 match data on every entry that does not match.
  git_config* raw = nullptr;
  if (git_repository_config_snapshot(&raw, repo_) != 0) return "";
  ConfigPtr config(raw);
  git_config_iterator* it = nullptr;
  if (git_config_iterator_new(&it, config.get()) != 0) return "";
  const std::string wanted = url.empty() ? std::string() : normalized(url);
  std::string by_url;
  bool named = false;
  git_config_entry* entry = nullptr;
  while (!named && git_config_next(&entry, it) == 0) {
    const std::string_view key = entry->name;  // lower-cased section and variable names
    if (!starts_with(key, "remote.") || entry->value == nullptr) continue;
    const std::size_t dot = key.rfind('.');
    const std::string_view variable = key.substr(dot + 1);
    if (dot <= 7 || (variable != "url" && variable != "pushurl")) continue;
    const std::string name(key.substr(7, dot - 7));
    if (name == remote) named = true;
    if (by_url.empty() && !wanted.empty() && normalized(entry->value) == wanted) by_url = name;
  }
  git_config_iterator_free(it);
  return named ? remote : by_url;
}

Status GitRepo::set_local_config(const char* key, const std::string& value) {
  git_config* raw = nullptr;
  if (git_repository_config(&raw, repo_) != 0) {
    return make_error(ErrorCode::kUnavailable, last_git_error("reading the repository config"));
  }
  ConfigPtr config(raw);
  git_config* level = nullptr;
  if (git_config_open_level(&level, config.get(), GIT_CONFIG_LEVEL_LOCAL) != 0) {
    return make_error(ErrorCode::kUnavailable, last_git_error("opening the repository config"));
  }
  ConfigPtr local(level);
  if (git_config_set_string(local.get(), key, value.c_str()) != 0) {
    return make_error(ErrorCode::kUnavailable, last_git_error(key));
  }
  return {};
}

std::string GitRepo::git_dir() const {
  return git_repository_path(repo_);
}

std::string GitRepo::workdir() const {
  const char* dir = git_repository_workdir(repo_);
  return dir != nullptr ? dir : "";
}

bool GitRepo::is_bare() const {
  return git_repository_is_bare(repo_) != 0;
}

namespace {

struct OidHash {
  std::size_t operator()(const git_oid& id) const noexcept {
    std::size_t h = 0;
    std::memcpy(&h, id.id, sizeof h);  // an object id is a hash already
    return h;
  }
};
struct OidEqual {
  bool operator()(const git_oid& a, const git_oid& b) const noexcept {
    return git_oid_equal(&a, &b) != 0;
  }
};

}  // namespace

std::size_t GitRepo::publish_ahead(ScanAhead& ahead, CommitQueue& queue,
                                   const std::vector<git_oid>& commits, std::size_t diffed) {
  const std::unordered_set<git_oid, OidHash, OidEqual> wanted(
      commits.begin(), commits.begin() + static_cast<std::ptrdiff_t>(diffed));
  std::unordered_set<git_oid, OidHash, OidEqual> scanned;
  {
    const std::lock_guard<std::mutex> hold(ahead.lock);
    // A run is kept when every commit in it is wanted and none was scanned in a run kept before
    // or earlier in the run (a chain that loops), so each wanted commit counts once.
    std::unordered_set<git_oid, OidHash, OidEqual> in_run;
    for (ScanAhead::Run& run : ahead.runs) {
      in_run.clear();
      run.keep = !run.failed &&
                 std::all_of(run.commits.begin(), run.commits.end(), [&](const git_oid& id) {
                   return wanted.contains(id) && !scanned.contains(id) && in_run.insert(id).second;
                 });
      if (run.keep) scanned.insert(run.commits.begin(), run.commits.end());
    }
  }
  {
    const std::lock_guard<std::mutex> hold(queue.lock);
    queue.ids.clear();
    for (std::size_t i = 0; i < diffed; ++i) {
      if (!scanned.contains(commits[i])) queue.ids.push_back(commits[i]);
    }
    queue.limit = queue.ids.size();
    queue.front = 0;
    queue.back = queue.ids.size();
    queue.walked = true;
  }
  {
    const std::lock_guard<std::mutex> hold(ahead.lock);
    ahead.published = true;
  }
  ahead.changed.notify_all();
  return scanned.size();
}

Status GitRepo::collect(const RefUpdate& update, const PushScanOptions& options, PushSignals& out,
                        const PushScanLimits& limits) {
  static const GitSettings kDefaults;
  const GitSettings& settings = options.settings != nullptr ? *options.settings : kDefaults;
  const std::string& ref = update.remote_ref;
  const bool is_tag = starts_with(ref, "refs/tags/");
  out = PushSignals{};
  Value& s = out.signals;
  s["ref"] = ref;
  s["remote"] = options.remote;
  s["tag"] = is_tag;
  s["delete"] = update.is_delete();
  s["new_branch"] = update.is_new() && !update.is_delete() && !is_tag;
  s["protected"] = matches_any(settings.protected_refs, ref);
  s["force"] = false;
  s["commits"] = int64_t{0};
  s["scan_incomplete"] = false;
  if (update.is_delete()) {
    put_scan(s, CommitScan{}, limits);
    return {};
  }
  if (!object_exists(repo_, update.local_sha)) {
    return make_error(ErrorCode::kNotFound,
                      "object " + update.local_sha + " for " + ref + " is not in the repository");
  }
  const bool scan_wanted = wants_scan(options.demand);  // else no rule reads what the diff says
  const bool secrets = wants_secrets(options.demand);
  const std::string& pusher = options.pusher_email;
  const std::size_t file_cap = limits.max_file_scan_bytes;
  CommitQueue queue;
  queue.limit = limits.max_diffed_commits;
  // The second scan thread: started once the walk has found enough commits to pay for it, or, when
  // the walk itself takes a while, scanning ahead of it (ScanAhead).
  std::thread worker;
  Result<CommitScan> later = CommitScan{};
  ScanAhead ahead;
  bool ahead_mode = false;  // `worker` is the thread of `ahead`
  const bool two_cores = std::thread::hardware_concurrency() >= 2;
  const auto start_worker = [&](std::size_t budget) {
    worker = std::thread([&, budget] {
      huge_pages_for_this_thread();
      // The analyzer loses the unique_ptr inside Result (a std::variant): not a leak.
      auto second = reopen();    // NOLINT(clang-analyzer-cplusplus.NewDeleteLeaks)
      if (!second.ok()) return;  // the walking thread scans everything
      auto scanner = make_scanner((*second)->repo_, settings, pusher, budget, file_cap, secrets);
      later = scan_queue(queue, true, *scanner);
    });
  };
  const auto start_ahead = [&](const git_oid& tip) {
    if (!scan_wanted || !two_cores || limits.max_diffed_commits == 0 ||
        limits.scan_ahead_after_us < 0) {
      return;
    }
    ahead_mode = true;
    ahead.at_least = limits.scan_ahead_at_least;
    worker = std::thread([&, tip, budget = limits.max_scanned_bytes / 2] {
      {
        std::unique_lock<std::mutex> hold(ahead.lock);
        if (ahead.changed.wait_for(hold, std::chrono::microseconds(limits.scan_ahead_after_us),
                                   [&] { return ahead.walked.load(); })) {
          ahead.done = true;  // a short walk: the walking thread goes on as without
          ahead.changed.notify_all();
          return;
        }
        ahead.started = true;
      }
      huge_pages_for_this_thread();
      auto second = reopen();  // NOLINT(clang-analyzer-cplusplus.NewDeleteLeaks)
      if (!second.ok()) {      // nothing scanned ahead; the walking thread scans everything
        const std::lock_guard<std::mutex> hold(ahead.lock);
        ahead.done = true;
        ahead.changed.notify_all();
        return;
      }
      auto scanner = make_scanner((*second)->repo_, settings, pusher, budget, file_cap, secrets);
      later = scan_ahead(ahead, queue, *scanner, tip);
    });
  };
  const auto stop_worker = [&] {
    if (!worker.joinable()) return;
    ahead.walked = true;
    {
      const std::lock_guard<std::mutex> hold(ahead.lock);
      ahead.published = true;  // with no run kept
    }
    ahead.changed.notify_all();
    {
      const std::lock_guard<std::mutex> hold(queue.lock);
      queue.walked = true;
      queue.back = std::min(queue.back, queue.front);  // nothing left for it to take
      queue.stop = true;
    }
    queue.ready.notify_all();
    worker.join();
  };
  auto range = walk_range(repo_, update, options, is_tag, start_ahead, [&](const git_oid& id) {
    if (!scan_wanted) return;
    {
      const std::lock_guard<std::mutex> hold(queue.lock);
      queue.ids.push_back(id);
    }
    if (ahead_mode) return;  // its thread, scanning ahead or not, is settled after the walk
    const std::size_t walked = queue.ids.size();  // only this thread appends
    if (worker.joinable()) {
      if (walked % kQueueRun == 0) queue.ready.notify_one();
    } else if (walked == kParallelMinCommits && two_cores) {
      start_worker(limits.max_scanned_bytes / 2);
    }
  });
  if (!range.ok()) {
    stop_worker();
    return range.error();
  }
  s["force"] = range->force;
  s["commits"] = static_cast<int64_t>(range->commits.size());
  if (!scan_wanted) {
    stop_worker();
    put_scan(s, CommitScan{}, limits);
    return {};
  }
  const std::size_t diffed = std::min(range->commits.size(), limits.max_diffed_commits);
  if (ahead_mode) {
    if (ahead.at_least > 0) {
      std::unique_lock<std::mutex> hold(ahead.lock);
      ahead.changed.wait(hold, [&] { return ahead.done || ahead.scanned >= ahead.at_least; });
    }
    ahead.walked = true;
    bool started = false;
    {
      std::unique_lock<std::mutex> hold(ahead.lock);
      ahead.changed.notify_all();
      ahead.changed.wait(hold, [&] { return ahead.done; });
      started = ahead.started;
    }
    if (!started) {  // a short walk: a helper of the usual kind, if the push is long enough
      worker.join();
      ahead_mode = false;
      if (diffed >= kParallelMinCommits) start_worker(limits.max_scanned_bytes / 2);
    } else {
      out.scanned_ahead = publish_ahead(ahead, queue, range->commits, diffed);
    }
  }
  {
    const std::lock_guard<std::mutex> hold(queue.lock);
    if (!ahead_mode) queue.back = diffed;
    queue.walked = true;
  }
  queue.ready.notify_all();
  // Each thread has half the byte budget once there are two. Fewer commits than it takes to start
  // the second thread during the walk may still carry much text: it starts once the walking
  // thread has read kHelpAfterBytes and commits are left, with half of what budget is left.
  const std::size_t budget =
      worker.joinable() ? limits.max_scanned_bytes / 2 : limits.max_scanned_bytes;
  const std::function<void(std::size_t)> help = [&](std::size_t half) { start_worker(half); };
  auto scanner = make_scanner(repo_, settings, pusher, budget, file_cap, secrets);
  auto scan = scan_queue(queue, false, *scanner, worker.joinable() || !two_cores ? nullptr : &help);
  if (!scan.ok()) {
    stop_worker();
    return scan.error();
  }
  if (worker.joinable()) worker.join();
  if (!later.ok()) return later.error();
  scan->merge(std::move(*later));
  // An annotated tag's message, or a tag of a blob or tree: content no commit carries.
  if (git_oid tip; git_oid_fromstr(&tip, update.local_sha.c_str()) == 0) {
    CommitScanner tagged(repo_, settings, options.pusher_email, limits.max_scanned_bytes,
                         limits.max_file_scan_bytes);
    tagged.set_scan_secrets(wants_secrets(options.demand));
    if (Status st = tagged.scan_pushed_object(tip, ref); !st.ok()) return st;
    scan->merge(tagged.take_result());
  }
  put_scan(s, *scan, limits);
  out.truncated = range->commits.size() > diffed || scan->truncated;
  s["scan_incomplete"] = out.truncated;
  return {};
}

}  // namespace stepgate
