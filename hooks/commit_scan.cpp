#include "commit_scan.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>

#include "blob_text.h"
#include "git_signals.h"
#include "stepgate/glob.h"
#include "stepgate/secrets.h"

namespace stepgate {
namespace {

template <class T, void (*Free)(T*)>
struct GitFree {
  void operator()(T* p) const { Free(p); }
};
using BlobPtr = std::unique_ptr<git_blob, GitFree<git_blob, git_blob_free>>;
using CommitPtr = std::unique_ptr<git_commit, GitFree<git_commit, git_commit_free>>;
using PatchPtr = std::unique_ptr<git_patch, GitFree<git_patch, git_patch_free>>;
using ObjectPtr = std::unique_ptr<git_object, GitFree<git_object, git_object_free>>;

constexpr std::size_t kQuickCheckBytes = 4096;

// How much of a file git's binary tests read (libgit2's GIT_FILTER_BYTES_TO_CHECK_NUL).
constexpr std::size_t kGitBinaryCheckBytes = 8000;

// git itself refuses to follow a longer chain of tags.
constexpr int kMaxTagDepth = 10;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool matches_any(const std::vector<std::string>& globs, std::string_view path) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& g) { return glob_match(g, path); });
}

bool has_extension(const std::vector<std::string>& extensions, std::string_view path) {
  std::string lowered = lower(std::string(path));
  return std::any_of(extensions.begin(), extensions.end(), [&](const std::string& ext) {
    return lowered.size() >= ext.size() &&
           lowered.compare(lowered.size() - ext.size(), ext.size(), lower(ext)) == 0;
  });
}

/// A gpgsig or gpgsig-sha256 header line. Read from the raw header: git_commit_header_field
/// records a libgit2 error for every unsigned commit, ~1k instructions each.
bool is_signed(const git_commit* commit) {
  const char* raw = git_commit_raw_header(commit);
  if (raw == nullptr) return false;
  const std::string_view header(raw);
  for (const std::string_view field :
       {std::string_view("gpgsig "), std::string_view("gpgsig-sha256 ")}) {
    if (header.starts_with(field)) return true;
    for (std::size_t at = header.find(field); at != std::string_view::npos;
         at = header.find(field, at + 1)) {
      if (at > 0 && header[at - 1] == '\n') return true;
    }
  }
  return false;
}

/// Most texts here are short (a commit message): one plain pass rules them out for less than
/// starting the regular-expression scan costs.
bool worth_scanning(const SecretScanner& scanner, std::string_view text) {
  return text.size() >= kQuickCheckBytes || scanner.may_contain(text);
}

bool is_blob_mode(uint32_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE ||
         mode == GIT_FILEMODE_LINK;
}

/// Lines as git counts them: every '\n', plus an unterminated last line.
int64_t count_lines(std::string_view text) {
  if (text.empty()) return 0;
  return static_cast<int64_t>(count_newlines(text)) + (text.back() == '\n' ? 0 : 1);
}

constexpr uint8_t kCiConfig = 1;
constexpr uint8_t kSecretsAllowed = 2;
constexpr uint8_t kModel = 4;

std::string_view blob_text(const git_blob* blob) {
  if (blob == nullptr) return {};
  return {static_cast<const char*>(git_blob_rawcontent(blob)),
          static_cast<std::size_t>(git_blob_rawsize(blob))};
}

/// What git diffs as binary (a NUL or control bytes in the first 8,000 bytes): no lines. Most
/// files hold no control byte at all: those are answered without libgit2's byte-by-byte count.
bool binary_like(const git_blob* blob) {
  if (blob == nullptr) return false;
  if (surely_not_binary(blob_text(blob).substr(0, kGitBinaryCheckBytes))) return false;
  return git_blob_is_binary(blob) != 0;
}

/// What libgit2's diff calls binary (git_diff_driver_content_is_binary): a NUL in the first
/// 8,000 bytes. git_blob_is_binary's heuristic is another test.
bool diffs_as_binary(std::string_view text) {
  return has_nul(text.substr(0, kGitBinaryCheckBytes));
}

/// A line's 64-bit hash, eight bytes at a time, multiplied and folded, inline: std::hash's
/// out-of-line murmur was a third of share_a_line on the 10,000-commit push (callgrind).
uint64_t line_hash(std::string_view line) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  uint64_t h = (line.size() + 1) * kMul;
  std::size_t i = 0;
  for (; i + 8 <= line.size(); i += 8) {
    uint64_t word = 0;
    std::memcpy(&word, line.data() + i, sizeof word);
    h = (h ^ word) * kMul;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, line.data() + i, line.size() - i);
  h = (h ^ tail) * kMul;
  return h ^ (h >> 32);
}

/// Whether some line of `now` is also a line of `was` (lines with their '\n'; an unterminated
/// last line is another line than the same text terminated), by 64-bit hashes: a collision
/// answers yes, which only costs the general diff.
bool share_a_line(std::string_view was, std::string_view now, std::vector<uint64_t>& table) {
  auto next_line = [](std::string_view& rest) {
    const std::size_t nl = rest.find('\n');
    const std::size_t n = nl == std::string_view::npos ? rest.size() : nl + 1;
    const std::string_view line = rest.substr(0, n);
    rest.remove_prefix(n);
    return line;
  };
  if (was.empty() || now.empty()) return false;
  {
    // Most edits keep the first or the last line: no table needed to say so.
    std::string_view a = was;
    std::string_view b = now;
    if (next_line(a) == next_line(b)) return true;
    const std::size_t a_last = was.rfind('\n', was.size() - 2);
    const std::size_t b_last = now.rfind('\n', now.size() - 2);
    const std::string_view a_tail =
        a_last == std::string_view::npos || was.size() < 2 ? was : was.substr(a_last + 1);
    const std::string_view b_tail =
        b_last == std::string_view::npos || now.size() < 2 ? now : now.substr(b_last + 1);
    if (a_tail == b_tail) return true;
  }
  const std::size_t lines = static_cast<std::size_t>(count_lines(was));
  std::size_t size = 16;
  while (size < lines * 2) size *= 2;
  table.assign(size, 0);
  auto key = [&](std::string_view line) {
    const uint64_t h = line_hash(line);
    return h == 0 ? uint64_t{1} : h;  // 0 marks an empty slot
  };
  for (std::string_view rest = was; !rest.empty();) {
    const uint64_t h = key(next_line(rest));
    std::size_t at = h & (size - 1);
    while (table[at] != 0 && table[at] != h) at = (at + 1) & (size - 1);
    table[at] = h;
  }
  for (std::string_view rest = now; !rest.empty();) {
    const uint64_t h = key(next_line(rest));
    for (std::size_t at = h & (size - 1); table[at] != 0; at = (at + 1) & (size - 1)) {
      if (table[at] == h) return true;
    }
  }
  return false;
}

std::string short_id(const git_oid& id) {
  std::array<char, GIT_OID_HEXSZ + 1> hex{};
  git_oid_tostr(hex.data(), hex.size(), &id);
  return {hex.data(), 12};
}

}  // namespace

void CommitScan::merge(CommitScan&& other) {
  paths.merge(other.paths);
  lines_added += other.lines_added;
  lines_deleted += other.lines_deleted;
  findings.merge(other.findings);
  large_files.merge(other.large_files);
  model_artifacts.merge(other.model_artifacts);
  ci_config_changed = ci_config_changed || other.ci_config_changed;
  unsigned_commits += other.unsigned_commits;
  foreign_authors.merge(other.foreign_authors);
  truncated = truncated || other.truncated;
}

CommitScanner::CommitScanner(git_repository* repo, const GitSettings& settings,
                             std::string pusher_email, std::size_t max_scanned_bytes,
                             std::size_t max_file_scan_bytes)
    : repo_(repo),
      settings_(settings),
      pusher_email_(lower(std::move(pusher_email))),
      budget_(max_scanned_bytes),
      max_file_scan_bytes_(max_file_scan_bytes) {
  initial_budget_ = max_scanned_bytes;
  if (git_repository_odb(&odb_, repo_) != 0) odb_ = nullptr;
}

CommitScanner::~CommitScanner() {
  for (auto& [id, blob] : kept_blobs_) git_blob_free(blob);
  git_commit_free(last_);
  git_commit_free(last_parent_);
  git_odb_free(odb_);
}

Status CommitScanner::scan(const git_oid& commit_id) {
  if (odb_ == nullptr) return make_error(ErrorCode::kInternal, last_git_error("opening the odb"));
  // The last commit's parent, scanned next (newest first): not read again.
  CommitPtr commit;
  if (last_parent_ != nullptr && git_oid_equal(git_commit_id(last_parent_), &commit_id) != 0) {
    commit.reset(std::exchange(last_parent_, nullptr));
  } else {
    git_commit* raw = nullptr;
    if (git_commit_lookup(&raw, repo_, &commit_id) != 0) {
      return make_error(ErrorCode::kInternal, last_git_error("reading a pushed commit"));
    }
    commit.reset(raw);
  }
  commit_ = commit_id;
  if (!is_signed(commit.get())) ++scan_.unsigned_commits;
  // The message travels with the commit: a token pasted into it reaches the remote too.
  if (const char* message = git_commit_message(commit.get()); message != nullptr) {
    scan_text(message, "commit message of " + short_id(commit_id));
  }
  const git_signature* author = git_commit_author(commit.get());
  if (author != nullptr && author->email != nullptr && !pusher_email_.empty()) {
    std::string email = lower(author->email);
    if (email != pusher_email_) scan_.foreign_authors.insert(email);
  }
  // Tree ids only: the walk reads the trees' raw entries itself.
  const git_oid* tree = git_commit_tree_id(commit.get());
  CommitPtr parent;
  if (git_commit_parentcount(commit.get()) > 0) {
    const git_oid* parent_id = git_commit_parent_id(commit.get(), 0);
    // The last commit scanned is this one's parent (oldest first): not read again.
    if (last_ != nullptr && parent_id != nullptr &&
        git_oid_equal(git_commit_id(last_), parent_id) != 0) {
      parent.reset(std::exchange(last_, nullptr));
    } else {
      git_commit* raw_parent = nullptr;
      if (git_commit_parent(&raw_parent, commit.get(), 0) == 0) parent.reset(raw_parent);
    }
  }
  const git_oid* parent_tree = parent ? git_commit_tree_id(parent.get()) : nullptr;
  changes_.clear();
  trees_.next_generation();
  if (Status s = diff_trees(odb_, parent_tree, tree, changes_, &trees_); !s.ok()) return s;
  for (const FileChange& change : changes_) scan_change(change);
  scan_names(changes_);
  git_commit_free(last_);
  git_commit_free(last_parent_);
  last_ = commit.release();
  last_parent_ = parent.release();
  return {};
}

bool CommitScanner::last_first_parent(git_oid* out) const {
  if (last_ == nullptr || git_commit_parentcount(last_) == 0) return false;
  const git_oid* parent = git_commit_parent_id(last_, 0);
  if (parent == nullptr) return false;
  *out = *parent;
  return true;
}

Status CommitScanner::scan_pushed_object(const git_oid& id, std::string_view ref) {
  git_oid at = id;
  // A lightweight tag has no tag object to name it: the ref does.
  constexpr std::string_view kTags = "refs/tags/";
  std::string tag(ref.substr(0, kTags.size()) == kTags ? ref.substr(kTags.size()) : ref);
  if (odb_ == nullptr) return make_error(ErrorCode::kInternal, last_git_error("opening the odb"));
  for (int depth = 0; depth < kMaxTagDepth; ++depth) {
    git_object* raw = nullptr;
    if (git_object_lookup(&raw, repo_, &at, GIT_OBJECT_ANY) != 0) {
      return make_error(ErrorCode::kInternal, last_git_error("reading a pushed object"));
    }
    ObjectPtr object(raw);
    const git_object_t type = git_object_type(object.get());
    if (type == GIT_OBJECT_TAG) {
      const auto* t = reinterpret_cast<const git_tag*>(object.get());
      if (const char* name = git_tag_name(t); name != nullptr) tag = name;
      if (const char* message = git_tag_message(t); message != nullptr) {
        scan_text(message, "message of tag " + tag);
      }
      at = *git_tag_target_id(t);
      continue;
    }
    if (type == GIT_OBJECT_BLOB) {
      const auto* blob = reinterpret_cast<const git_blob*>(object.get());
      if (binary_like(blob)) {
        scan_binary(nullptr, blob, "tag " + tag);
      } else {
        scan_text(blob_text(blob), "tag " + tag);
      }
    } else if (type == GIT_OBJECT_TREE) {
      changes_.clear();
      if (Status s = diff_trees(odb_, nullptr, &at, changes_); !s.ok()) return s;
      for (const FileChange& change : changes_) scan_change(change);
      scan_names(changes_);
    }
    return {};
  }
  return {};
}

void CommitScanner::scan_names(const std::vector<FileChange>& changes) {
  if (!scan_secrets_) return;
  // One line per name and per path component: the line-anchored rules (`token=...`) then see a
  // component on its own, and a value spread over directories is still read whole.
  std::string names;
  std::vector<const std::string*> line_paths;
  for (const FileChange& change : changes) {
    if (change.old_mode != 0 || change.new_mode == 0) continue;
    if ((path_flags(change.path) & kSecretsAllowed) != 0) continue;
    names.append(change.path).push_back('\n');
    line_paths.push_back(&change.path);
    if (change.path.find('/') == std::string::npos) continue;
    for (std::size_t at = 0; at <= change.path.size();) {
      const std::size_t slash = std::min(change.path.find('/', at), change.path.size());
      names.append(change.path, at, slash - at).push_back('\n');
      line_paths.push_back(&change.path);
      at = slash + 1;
    }
  }
  if (names.empty() || !settings_.secrets().may_contain(names)) return;
  SecretScanOptions options;
  options.allow_rules = settings_.secrets_allow_rules;
  for (const SecretFinding& f : settings_.secrets().scan(names, options)) {
    const auto at = static_cast<std::size_t>(f.line - 1);
    if (at >= line_paths.size()) continue;
    // A name's finding is at line 0 of the file it names.
    add_findings({f}, names, *line_paths[at], [](int) { return 0; });
  }
}

std::size_t CommitScanner::OidHash::operator()(const git_oid& id) const noexcept {
  std::size_t h = 0;
  std::memcpy(&h, id.id, sizeof h);  // an object id is a hash already
  return h;
}

bool CommitScanner::OidEqual::operator()(const git_oid& a, const git_oid& b) const noexcept {
  return git_oid_equal(&a, &b) != 0;
}

void CommitScanner::remember_small(const git_blob* blob) {
  if (blob != nullptr &&
      (settings_.large_file_bytes <= 0 ||
       static_cast<int64_t>(git_blob_rawsize(blob)) < settings_.large_file_bytes)) {
    small_blobs_.insert(*git_blob_id(blob));
  }
}

std::size_t CommitScanner::blob_size(const git_oid& id) {
  std::size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (odb_ == nullptr || git_odb_read_header(&size, &type, odb_, &id) != 0) return 0;
  return size;
}

bool CommitScanner::is_large(const git_oid& id) {
  if (odb_ == nullptr || settings_.large_file_bytes <= 0) return false;
  if (small_blobs_.contains(id)) return false;
  return static_cast<int64_t>(blob_size(id)) >= settings_.large_file_bytes;
}

uint8_t CommitScanner::path_flags(const std::string& path) {
  if (auto found = path_flags_.find(path); found != path_flags_.end()) return found->second;
  uint8_t flags = 0;
  if (matches_any(settings_.ci_config_paths, path)) flags |= kCiConfig;
  if (matches_any(settings_.secrets_allow_paths, path)) flags |= kSecretsAllowed;
  if (has_extension(settings_.model_extensions, path)) flags |= kModel;
  path_flags_.emplace(path, flags);
  return flags;
}

std::size_t CommitScanner::BlobPairHash::operator()(const BlobPair& p) const noexcept {
  std::size_t a = 0;
  std::size_t b = 0;
  std::memcpy(&a, p.old_id.id, sizeof a);
  std::memcpy(&b, p.new_id.id, sizeof b);
  return a ^ (b * 31) ^ (p.scan_secrets ? 1U : 0U) ^ (p.large ? 2U : 0U);
}

bool CommitScanner::BlobPairEqual::operator()(const BlobPair& a, const BlobPair& b) const noexcept {
  return git_oid_equal(&a.old_id, &b.old_id) != 0 && git_oid_equal(&a.new_id, &b.new_id) != 0 &&
         a.scan_secrets == b.scan_secrets && a.large == b.large;
}

template <class LineOf>
void CommitScanner::add_findings(const std::vector<SecretFinding>& found, std::string_view text,
                                 const std::string& where, LineOf line_of) {
  if (found.empty()) return;
  // Where each line of `text` starts, only when the secrets themselves are asked for.
  std::vector<std::size_t> starts;
  if (detail_ != nullptr) {
    starts.push_back(0);
    for (std::size_t at = text.find('\n'); at != std::string_view::npos;
         at = text.find('\n', at + 1)) {
      starts.push_back(at + 1);
    }
  }
  for (const SecretFinding& f : found) {
    const int line = line_of(f.line);
    scan_.findings.emplace(f.rule_id, where, line);
    std::string secret;
    if (detail_ != nullptr) {
      const auto index = static_cast<std::size_t>(f.line > 0 ? f.line - 1 : 0);
      const std::size_t at = (index < starts.size() ? starts[index] : 0) +
                             static_cast<std::size_t>(f.column > 0 ? f.column - 1 : 0);
      if (at < text.size()) secret = std::string(text.substr(at, f.length));
      detail_->push_back({f.rule_id, where, line, f.column, secret, commit_});
    }
    if (recording_ != nullptr) {
      recording_->push_back({f.rule_id, line, f.column, std::move(secret)});
    }
  }
}

template <class Scan>
void CommitScanner::once(const BlobPair& pair, const std::string& path, Scan&& scan) {
  if (auto seen = pairs_.find(pair); seen != pairs_.end()) {
    // The same bytes on both sides give the same lines and the same findings: only the path
    // they are reported under differs. Counts still add up per commit, as git counts them.
    ++reused_;
    scan_.lines_added += seen->second.lines_added;
    scan_.lines_deleted += seen->second.lines_deleted;
    for (const PairFinding& f : seen->second.findings) {
      scan_.findings.emplace(f.rule, path, f.line);
      if (detail_ != nullptr)
        detail_->push_back({f.rule, path, f.line, f.column, f.secret, commit_});
    }
    return;
  }
  const int64_t added = scan_.lines_added;
  const int64_t deleted = scan_.lines_deleted;
  PairOutcome outcome;
  recording_ = &outcome.findings;
  scan();
  recording_ = nullptr;
  // Once the byte budget has run out a scan may have been cut short: not the pair's whole answer.
  if (scan_.truncated) return;
  outcome.lines_added = scan_.lines_added - added;
  outcome.lines_deleted = scan_.lines_deleted - deleted;
  pairs_.emplace(pair, std::move(outcome));
}

void CommitScanner::scan_change(const FileChange& change) {
  const bool deleted = change.new_mode == 0;
  const std::string& path = change.path;
  scan_.paths.insert(path);
  const uint8_t flags = path_flags(path);
  if ((flags & kCiConfig) != 0) scan_.ci_config_changed = true;
  if (!deleted && (flags & kModel) != 0) scan_.model_artifacts.insert(path);
  const bool old_blob = is_blob_mode(change.old_mode);
  const bool new_blob = is_blob_mode(change.new_mode);
  if (!old_blob && !new_blob) return;  // submodule pointers: no lines
  const bool scan_secrets_here = scan_secrets_ && new_blob && (flags & kSecretsAllowed) == 0;
  if (new_blob && is_large(change.new_id)) {
    scan_.large_files.insert(path);
    if (scan_secrets_here) {
      once(BlobPair{git_oid{}, change.new_id, true, true}, path,
           [&] { scan_large(change.new_id, path); });
    }
    return;  // not diffed or counted line by line
  }
  if (!new_blob && is_large(change.old_id)) return;  // a large file deleted: its lines uncounted
  if (old_blob && new_blob && git_oid_equal(&change.old_id, &change.new_id) != 0)
    return;  // mode only
  const BlobPair pair{old_blob ? change.old_id : git_oid{}, new_blob ? change.new_id : git_oid{},
                      scan_secrets_here, false};
  once(pair, path, [&] { diff_pair(change, old_blob, new_blob, path, scan_secrets_here); });
}

void CommitScanner::diff_pair(const FileChange& change, bool old_blob, bool new_blob,
                              const std::string& path, bool scan_secrets_here) {
  BlobPtr before(old_blob ? lookup_blob(change.old_id) : nullptr);
  if (old_blob && !before) return;
  BlobPtr after(new_blob ? lookup_blob(change.new_id) : nullptr);
  if (new_blob && !after) return;
  remember_small(before.get());
  remember_small(after.get());
  diff_blobs(before.get(), after.get(), path, scan_secrets_here);
  keep_blob(before.release());
}

git_blob* CommitScanner::lookup_blob(const git_oid& id) {
  if (auto kept = kept_blobs_.find(id); kept != kept_blobs_.end()) {
    git_blob* blob = kept->second;
    kept_bytes_ -= git_blob_rawsize(blob);
    kept_blobs_.erase(kept);
    return blob;
  }
  git_blob* raw = nullptr;
  return git_blob_lookup(&raw, repo_, &id) == 0 ? raw : nullptr;
}

void CommitScanner::keep_blob(git_blob* blob) {
  BlobPtr owned(blob);
  if (!owned) return;
  const auto size = static_cast<std::size_t>(git_blob_rawsize(blob));
  if (size > kKeptBlobBytes || kept_blobs_.contains(*git_blob_id(blob))) return;
  while (!kept_order_.empty() &&
         (kept_blobs_.size() >= kKeptBlobs || kept_bytes_ + size > kKeptBytes)) {
    if (auto oldest = kept_blobs_.find(kept_order_.front()); oldest != kept_blobs_.end()) {
      kept_bytes_ -= git_blob_rawsize(oldest->second);
      git_blob_free(oldest->second);
      kept_blobs_.erase(oldest);
    }
    kept_order_.pop_front();
  }
  if (kept_order_.size() >= 2 * kKeptBlobs) {  // taken ones still named: drop them
    std::erase_if(kept_order_, [&](const git_oid& id) { return !kept_blobs_.contains(id); });
  }
  kept_order_.push_back(*git_blob_id(blob));
  kept_blobs_.emplace(*git_blob_id(blob), owned.release());
  kept_bytes_ += size;
}

void CommitScanner::diff_blobs(git_blob* before, git_blob* after, const std::string& path,
                               bool scan_secrets_here) {
  if (before == nullptr || after == nullptr) {
    if (binary_like(after != nullptr ? after : before)) {
      if (scan_secrets_here) scan_binary(nullptr, after, path);
      return;
    }
    scan_whole_blob(after != nullptr ? after : before, after != nullptr, path, scan_secrets_here);
    if (scan_secrets_here) scan_nul_views(nullptr, after, path);
    return;
  }
  if (rewritten_whole(before, after, path, scan_secrets_here)) return;
  git_diff_options options = GIT_DIFF_OPTIONS_INIT;
  options.context_lines = 0;
  options.interhunk_lines = 0;
  git_patch* patch = nullptr;
  // Empty paths: libgit2 then skips the .gitattributes lookup for a diff driver (with no path it
  // would look up the attributes of a file named "file"). Binary files are still detected.
  if (git_patch_from_blobs(&patch, before, "", after, "", &options) != 0 || patch == nullptr) {
    return;
  }
  PatchPtr owned(patch);
  // libgit2 has already tested both sides the way git does (a binary diff has no lines).
  if ((git_patch_get_delta(owned.get())->flags & GIT_DIFF_FLAG_BINARY) != 0) {
    if (scan_secrets_here) scan_binary(before, after, path);
    return;
  }
  scan_patch(owned.get(), path, scan_secrets_here);
  // A NUL past the first 8,000 bytes: git diffs the file as text, but UTF-16 further on is text
  // only once decoded.
  if (scan_secrets_here) scan_nul_views(before, after, path);
}

bool CommitScanner::rewritten_whole(const git_blob* before, const git_blob* after,
                                    const std::string& path, bool scan_secrets_here) {
  const std::string_view was = blob_text(before);
  const std::string_view now = blob_text(after);
  if (diffs_as_binary(was) || diffs_as_binary(now)) return false;
  // The patch path charges the budget line by line and stops mid-file when it runs out.
  if (scan_secrets_here && now.size() > budget_) return false;
  if (share_a_line(was, now, line_hashes_)) return false;
  // No line in common: any diff deletes every old line and adds every new one, numbered as in
  // the new file — what git_patch_from_blobs gives, without building it.
  ++whole_rewrites_;
  scan_.lines_deleted += count_lines(was);
  scan_.lines_added += count_lines(now);
  if (!scan_secrets_here) return true;
  budget_ -= now.size();
  // As scan_patch joins the added lines: each ends in '\n', the last one too.
  std::string_view text = now;
  if (!text.empty() && text.back() != '\n') {
    added_.assign(now).push_back('\n');
    text = added_;
  }
  if (!text.empty()) {
    SecretScanOptions options;
    options.allow_rules = settings_.secrets_allow_rules;
    add_findings(settings_.secrets().scan_windowed(text, options), text, path,
                 [](int line) { return line; });
  }
  scan_nul_views(before, after, path);
  return true;
}

/// A text file added (every line is added: scanned as it is, no diff needed) or deleted
/// (counted).
void CommitScanner::scan_whole_blob(git_blob* blob, bool added, const std::string& path,
                                    bool scan_secrets_here) {
  const std::string_view text = blob_text(blob);
  if (!added) {
    scan_.lines_deleted += count_lines(text);
    return;
  }
  scan_.lines_added += count_lines(text);
  if (scan_secrets_here) scan_text(text, path);
}

void CommitScanner::scan_text(std::string_view text, const std::string& where) {
  if (!scan_secrets_) return;
  if (text.size() > budget_) {
    scan_.truncated = true;
    return;
  }
  budget_ -= text.size();
  if (!worth_scanning(settings_.secrets(), text)) return;
  SecretScanOptions options;
  options.allow_rules = settings_.secrets_allow_rules;
  add_findings(settings_.secrets().scan_windowed(text, options), text, where,
               [](int line) { return line; });
}

void CommitScanner::scan_binary(const git_blob* before, const git_blob* after,
                                const std::string& path) {
  scan_added_view(blob_text(before), blob_text(after), path);
  scan_nul_views(before, after, path);
}

void CommitScanner::scan_nul_views(const git_blob* before, const git_blob* after,
                                   const std::string& path) {
  const std::string_view was = blob_text(before);
  const std::string_view now = blob_text(after);
  if (!has_nul(now)) return;
  scan_added_view(strip_nuls(was), strip_nuls(now), path);
  if (const TextEncoding e = detect_encoding(now); e != TextEncoding::kBytes) {
    scan_added_view(decode_text(was, e), decode_text(now, e), path);
  }
}

void CommitScanner::scan_added_view(std::string_view was, std::string_view now,
                                    const std::string& path) {
  if (was.empty()) {
    scan_text(now, path);
    return;
  }
  git_diff_options options = GIT_DIFF_OPTIONS_INIT;
  options.context_lines = 0;
  options.interhunk_lines = 0;
  options.flags = GIT_DIFF_FORCE_TEXT;
  git_patch* patch = nullptr;
  if (git_patch_from_buffers(&patch, was.data(), was.size(), "", now.data(), now.size(), "",
                             &options) != 0 ||
      patch == nullptr) {
    scan_text(now, path);  // no diff: every line counts as added
    return;
  }
  PatchPtr owned(patch);
  scan_patch(owned.get(), path, true, false);
}

void CommitScanner::scan_large(const git_oid& id, const std::string& path) {
  if (blob_size(id) > max_file_scan_bytes_) {
    scan_.truncated = true;
    return;
  }
  git_blob* raw = nullptr;
  if (git_blob_lookup(&raw, repo_, &id) != 0) {
    scan_.truncated = true;
    return;
  }
  BlobPtr blob(raw);
  const std::string_view now = blob_text(blob.get());
  scan_text(now, path);
  if (!has_nul(now)) return;
  scan_text(strip_nuls(now), path);
  if (const TextEncoding e = detect_encoding(now); e != TextEncoding::kBytes) {
    scan_text(decode_text(now, e), path);
  }
}

void CommitScanner::scan_patch(git_patch* patch, const std::string& path, bool scan_secrets_here,
                               bool count_lines) {
  added_.clear();
  added_line_nos_.clear();
  const std::size_t hunks = git_patch_num_hunks(patch);
  for (std::size_t h = 0; h < hunks; ++h) {
    const int lines = git_patch_num_lines_in_hunk(patch, h);
    for (int l = 0; l < lines; ++l) {
      const git_diff_line* line = nullptr;
      if (git_patch_get_line_in_hunk(&line, patch, h, static_cast<std::size_t>(l)) != 0) continue;
      if (line->origin == GIT_DIFF_LINE_DELETION && count_lines) ++scan_.lines_deleted;
      if (line->origin != GIT_DIFF_LINE_ADDITION) continue;
      if (count_lines) ++scan_.lines_added;
      if (!scan_secrets_here) continue;
      if (line->content_len > budget_) {
        scan_.truncated = true;
        continue;
      }
      budget_ -= line->content_len;
      std::string_view content(line->content, line->content_len);
      if (!content.empty() && content.back() == '\n') content.remove_suffix(1);
      added_.append(content).push_back('\n');
      added_line_nos_.push_back(line->new_lineno);
    }
  }
  // No may_contain_secret pass here: over a file's added lines it costs twice what the scan's
  // own prefilter does (callgrind), and almost every text passes it.
  if (added_.empty()) return;
  SecretScanOptions options;
  options.allow_rules = settings_.secrets_allow_rules;
  add_findings(settings_.secrets().scan_windowed(added_, options), added_, path, [&](int line) {
    const auto at = static_cast<std::size_t>(line - 1);
    return at < added_line_nos_.size() ? added_line_nos_[at] : 0;
  });
}

}  // namespace stepgate
