#pragma once
// Per-commit part of the git signals: compare each commit's tree with its first parent's and
// accumulate what changed. Internal to hooks/ (libgit2 types appear here, never in core/include).

#include <git2.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "stepgate/policy.h"
#include "stepgate/result.h"

namespace stepgate {

struct SecretFinding;

/// Accumulated over every commit of a push.
struct CommitScan {
  std::set<std::string> paths;
  int64_t lines_added = 0;
  int64_t lines_deleted = 0;
  std::set<std::tuple<std::string, std::string, int>> findings;  // rule, file, line (no values)
  std::set<std::string> large_files;
  std::set<std::string> model_artifacts;
  bool ci_config_changed = false;
  int64_t unsigned_commits = 0;
  std::set<std::string> foreign_authors;
  bool truncated = false;  // the byte budget ran out: later added lines were not scanned

  /// Adds another scan of other commits of the same push (a parallel worker's).
  void merge(CommitScan&& other);
};

/// One finding as `stepgate scan --git` reports it: with the column, the secret itself (for a
/// baseline's fingerprint; never printed) and the commit that added it. A push keeps none of this.
struct DetailedFinding {
  std::string rule;
  std::string where;  // a path, `commit message of ID`, ...
  int line = 0;
  int column = 0;
  std::string secret;
  git_oid commit{};
};

/// One file a commit changed, found by walking the two trees (mode 0: absent on that side).
struct FileChange {
  std::string path;
  git_oid old_id{};
  git_oid new_id{};
  uint32_t old_mode = 0;
  uint32_t new_mode = 0;
};

/// The raw trees read for the last two commits' diffs, by id. Consecutive commits share their
/// trees (the new side of one is the old side of the next, in whichever order they are scanned),
/// and two generations spare those second reads with memory that does not grow over the push:
/// libgit2's object cache did grow, and on this project's VM its page faults cost more than the
/// reads it spared.
class TreeCache {
 public:
  TreeCache() = default;
  ~TreeCache();
  TreeCache(const TreeCache&) = delete;
  TreeCache& operator=(const TreeCache&) = delete;
  /// The next commit: what the one before last read is let go.
  void next_generation();
  /// A new reference to tree `id` (the caller frees it), or nullptr.
  git_odb_object* get(const git_oid& id);
  /// Keeps a reference to `object` (tree `id`) for this generation and the next.
  void keep(const git_oid& id, git_odb_object* object);

 private:
  struct Kept {
    git_oid id;
    git_odb_object* object;
  };
  static void release(std::vector<Kept>& kept);
  // A commit touching many directories keeps only its first few: the walk is linear.
  static constexpr std::size_t kPerGeneration = 64;
  std::vector<Kept> newer_;
  std::vector<Kept> older_;
};

/// The files that differ between two trees, given by id (either may be null: an empty tree), in
/// tree order. Identical subtrees are skipped by id, so the cost follows what changed, not the
/// tree's size. kInternal when a tree cannot be read or is malformed. With `cache`, trees are
/// looked up there first and kept there.
Status diff_trees(git_odb* odb, const git_oid* old_tree, const git_oid* new_tree,
                  std::vector<FileChange>& out, TreeCache* cache = nullptr);

/// A file at or above git.large_file_bytes is still scanned for secrets, in windows, up to this
/// size; past it the push is marked scan_incomplete.
constexpr std::size_t kMaxFileScanBytes = std::size_t{64} << 20;

class CommitScanner {
 public:
  CommitScanner(git_repository* repo, const GitSettings& settings, std::string pusher_email,
                std::size_t max_scanned_bytes, std::size_t max_file_scan_bytes = kMaxFileScanBytes);
  ~CommitScanner();
  /// Off: no secret scan at all (no rule reads signals.secrets or signals.secret_findings).
  void set_scan_secrets(bool on) { scan_secrets_ = on; }
  /// Also reports every finding, with its column, secret and commit, to `sink` (null: off).
  void set_detail_sink(std::vector<DetailedFinding>* sink) { detail_ = sink; }
  /// Gives away half the byte budget left (to a second scan thread): returns it.
  std::size_t split_budget() {
    const std::size_t half = budget_ / 2;
    budget_ -= half;
    initial_budget_ -= half;
    return half;
  }
  /// Bytes of text read for the scan so far (what the byte budget was charged).
  [[nodiscard]] std::size_t scanned_bytes() const { return initial_budget_ - budget_; }
  /// Gives back `bytes` of the budget: what scanning commits whose results were dropped took.
  void refund(std::size_t bytes) { budget_ = std::min(budget_ + bytes, initial_budget_); }
  /// The first parent of the commit scanned last; false when it has none (or none was scanned).
  bool last_first_parent(git_oid* out) const;
  CommitScanner(const CommitScanner&) = delete;
  CommitScanner& operator=(const CommitScanner&) = delete;

  /// Adds one commit: its signature, author, message, and what it changed against its first
  /// parent (contents and the names of added files).
  Status scan(const git_oid& commit_id);
  /// Adds what a ref's new object carries besides commits: the message of each annotated tag on
  /// the way to its target, and a tagged blob or tree whole. A commit adds nothing here (the
  /// commit walk scans it). kInternal when an object cannot be read.
  /// Findings name the tag (`message of tag v1`, `tag v1`); `ref` names a lightweight one.
  Status scan_pushed_object(const git_oid& id, std::string_view ref);
  [[nodiscard]] const CommitScan& result() const { return scan_; }
  /// How many blob pairs were seen again and not read, diffed or scanned a second time.
  [[nodiscard]] std::size_t reused_diffs() const { return reused_; }
  CommitScan take_result() {
    CommitScan out = std::move(scan_);
    scan_ = CommitScan{};
    return out;
  }
  /// How many modified text files shared no line with their old version (diffed without xdiff).
  [[nodiscard]] std::size_t whole_rewrites() const { return whole_rewrites_; }

 private:
  /// One side or both of a file change, read once per push: what a pair of blobs gives (line
  /// counts, findings by line) depends on their bytes alone, and a push carries the same pair
  /// many times (a merge repeats its side branch's changes, a copy or rename re-adds a blob, a
  /// revert of a revert repeats a change).
  struct BlobPair {
    git_oid old_id{};  // zero: no old side
    git_oid new_id{};  // zero: no new side
    bool scan_secrets = false;
    bool large = false;  // a large file scanned whole, not diffed
  };
  struct BlobPairHash {
    std::size_t operator()(const BlobPair& p) const noexcept;
  };
  struct BlobPairEqual {
    bool operator()(const BlobPair& a, const BlobPair& b) const noexcept;
  };
  struct PairFinding {
    std::string rule;
    int line = 0;
    int column = 0;
    std::string secret;  // only with a detail sink
  };
  struct PairOutcome {
    int64_t lines_added = 0;
    int64_t lines_deleted = 0;
    std::vector<PairFinding> findings;
  };
  /// Runs `scan` for a pair not seen before and remembers what it added; replays that under
  /// `path` for a pair seen before.
  template <class Scan>
  void once(const BlobPair& pair, const std::string& path, Scan&& scan);
  /// `text` is what was scanned, `line_of` maps its lines to the file's.
  template <class LineOf>
  void add_findings(const std::vector<SecretFinding>& found, std::string_view text,
                    const std::string& where, LineOf line_of);
  void scan_change(const FileChange& change);
  void diff_pair(const FileChange& change, bool old_blob, bool new_blob, const std::string& path,
                 bool scan_secrets_here);
  void diff_blobs(git_blob* before, git_blob* after, const std::string& path,
                  bool scan_secrets_here);
  /// Blob `id`, from the kept old sides (see kept_blobs_) or read; nullptr when unreadable. The
  /// caller frees it.
  git_blob* lookup_blob(const git_oid& id);
  /// Keeps a small diffed old side for the commit that added it (see kept_blobs_); frees it
  /// otherwise.
  void keep_blob(git_blob* blob);
  /// A modified text file that shares no line with its old version: counted and scanned whole,
  /// as its diff would be. False (nothing done) when it shares a line, either side diffs as
  /// binary, or the byte budget would run out in it.
  bool rewritten_whole(const git_blob* before, const git_blob* after, const std::string& path,
                       bool scan_secrets_here);
  void scan_whole_blob(git_blob* blob, bool added, const std::string& path, bool scan_secrets_here);
  void scan_patch(git_patch* patch, const std::string& path, bool scan_secrets_here,
                  bool count_lines = true);
  /// Scans `text` for secrets against the byte budget; findings name `where`.
  void scan_text(std::string_view text, const std::string& where);
  /// A file git calls binary (a NUL byte, so any UTF-16 file): no lines counted, as git counts
  /// none, but its bytes as they are, without NULs and decoded from UTF-16 are each diffed
  /// against the old file's and the added lines scanned.
  void scan_binary(const git_blob* before, const git_blob* after, const std::string& path);
  /// A new file holding a NUL: its bytes without NULs, and decoded when they look like UTF-16.
  void scan_nul_views(const git_blob* before, const git_blob* after, const std::string& path);
  void scan_added_view(std::string_view was, std::string_view now, const std::string& path);
  /// A file at or above large_file_bytes: scanned whole (no diff) up to max_file_scan_bytes.
  void scan_large(const git_oid& id, const std::string& path);
  /// The names of the files a commit adds (a token can be a file name too): findings at line 0.
  void scan_names(const std::vector<FileChange>& changes);
  std::size_t blob_size(const git_oid& id);
  bool is_large(const git_oid& id);
  /// Records a blob read whole and found under the large-file size: is_large() then needs no
  /// header read, which walks the blob's delta chain. Scanned newest first, a commit's old blob
  /// is usually the new blob of the next commit that touched the file.
  void remember_small(const git_blob* blob);
  /// What the policy's path settings say of `path` (kCiConfig | kSecretsAllowed | kModel),
  /// worked out once per path: a push touches the same files over and over.
  uint8_t path_flags(const std::string& path);

  git_repository* repo_;
  git_odb* odb_ = nullptr;
  const GitSettings& settings_;
  std::string pusher_email_;
  std::size_t budget_;
  std::size_t max_file_scan_bytes_;
  CommitScan scan_;
  std::vector<FileChange> changes_;    // one commit's, reused
  std::string added_;                  // added lines of one file, '\n'-joined
  std::vector<int> added_line_nos_;    // their line numbers in the new file
  std::vector<uint64_t> line_hashes_;  // share_a_line's table, reused
  std::size_t whole_rewrites_ = 0;
  bool scan_secrets_ = true;
  std::unordered_map<std::string, uint8_t> path_flags_;
  struct OidHash {
    std::size_t operator()(const git_oid& id) const noexcept;
  };
  struct OidEqual {
    bool operator()(const git_oid& a, const git_oid& b) const noexcept;
  };
  std::unordered_set<git_oid, OidHash, OidEqual> small_blobs_;
  // Old sides of diffs, kept: scanned newest first, a commit's old blob is the new blob of the
  // next commit that touched the file, scanned a few commits later, and is then not read from the
  // pack again. Up to kKeptBlobs of at most kKeptBlobBytes each; the oldest kept goes first.
  static constexpr std::size_t kKeptBlobs = 256;
  static constexpr std::size_t kKeptBlobBytes = std::size_t{64} << 10;
  static constexpr std::size_t kKeptBytes = std::size_t{1} << 20;
  std::unordered_map<git_oid, git_blob*, OidHash, OidEqual> kept_blobs_;
  std::deque<git_oid> kept_order_;  // may name blobs already taken
  std::size_t kept_bytes_ = 0;
  std::unordered_map<BlobPair, PairOutcome, BlobPairHash, BlobPairEqual> pairs_;
  std::vector<PairFinding>* recording_ = nullptr;  // the pair being scanned
  std::vector<DetailedFinding>* detail_ = nullptr;
  std::size_t initial_budget_ = 0;
  git_oid commit_{};  // the commit being scanned
  TreeCache trees_;
  // The last commit scanned and its first parent: the next commit scanned is usually one of them
  // again (its parent, newest first; its child, oldest first) and is not read twice.
  git_commit* last_ = nullptr;
  git_commit* last_parent_ = nullptr;
  std::size_t reused_ = 0;
};

}  // namespace stepgate
