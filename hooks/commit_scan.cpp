#include "commit_scan.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

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
using TreePtr = std::unique_ptr<git_tree, GitFree<git_tree, git_tree_free>>;
using PatchPtr = std::unique_ptr<git_patch, GitFree<git_patch, git_patch_free>>;

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

bool is_signed(git_commit* commit) {
  git_buf buf = GIT_BUF_INIT;
  bool found = git_commit_header_field(&buf, commit, "gpgsig") == 0 ||
               git_commit_header_field(&buf, commit, "gpgsig-sha256") == 0;
  git_buf_dispose(&buf);
  return found;
}

bool is_blob_mode(uint32_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE ||
         mode == GIT_FILEMODE_LINK;
}

/// Lines as git counts them: every '\n', plus an unterminated last line.
int64_t count_lines(std::string_view text) {
  if (text.empty()) return 0;
  const auto newlines = std::count(text.begin(), text.end(), '\n');
  return newlines + (text.back() == '\n' ? 0 : 1);
}

constexpr uint8_t kCiConfig = 1;
constexpr uint8_t kSecretsAllowed = 2;
constexpr uint8_t kModel = 4;

std::string_view blob_text(git_blob* blob) {
  return {static_cast<const char*>(git_blob_rawcontent(blob)),
          static_cast<std::size_t>(git_blob_rawsize(blob))};
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
                             std::string pusher_email, std::size_t max_scanned_bytes)
    : repo_(repo),
      settings_(settings),
      pusher_email_(lower(std::move(pusher_email))),
      budget_(max_scanned_bytes) {
  if (git_repository_odb(&odb_, repo_) != 0) odb_ = nullptr;
}

CommitScanner::~CommitScanner() {
  git_odb_free(odb_);
}

Status CommitScanner::scan(const git_oid& commit_id) {
  git_commit* raw = nullptr;
  if (git_commit_lookup(&raw, repo_, &commit_id) != 0) {
    return make_error(ErrorCode::kInternal, last_git_error("reading a pushed commit"));
  }
  CommitPtr commit(raw);
  if (!is_signed(commit.get())) ++scan_.unsigned_commits;
  const git_signature* author = git_commit_author(commit.get());
  if (author != nullptr && author->email != nullptr && !pusher_email_.empty()) {
    std::string email = lower(author->email);
    if (email != pusher_email_) scan_.foreign_authors.insert(email);
  }
  git_tree* tree_raw = nullptr;
  if (git_commit_tree(&tree_raw, commit.get()) != 0) {
    return make_error(ErrorCode::kInternal, last_git_error("reading a commit tree"));
  }
  TreePtr tree(tree_raw);
  TreePtr parent_tree;
  if (git_commit_parentcount(commit.get()) > 0) {
    git_tree* pt = nullptr;
    git_commit* parent = nullptr;
    if (git_commit_parent(&parent, commit.get(), 0) == 0) {
      CommitPtr parent_commit(parent);
      if (git_commit_tree(&pt, parent_commit.get()) == 0) parent_tree.reset(pt);
    }
  }
  changes_.clear();
  if (Status s = diff_trees(repo_, parent_tree.get(), tree.get(), changes_); !s.ok()) return s;
  for (const FileChange& change : changes_) scan_change(change);
  return {};
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

bool CommitScanner::is_large(const git_oid& id) {
  if (odb_ == nullptr || settings_.large_file_bytes <= 0) return false;
  if (small_blobs_.contains(id)) return false;
  std::size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (git_odb_read_header(&size, &type, odb_, &id) != 0) return false;
  return static_cast<int64_t>(size) >= settings_.large_file_bytes;
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
  if (new_blob && is_large(change.new_id)) {
    scan_.large_files.insert(path);
    return;  // not read into memory or scanned line by line
  }
  if (!new_blob && is_large(change.old_id)) return;  // a large file deleted: its lines uncounted
  if (old_blob && new_blob && git_oid_equal(&change.old_id, &change.new_id) != 0)
    return;  // mode only
  git_blob* raw_old = nullptr;
  git_blob* raw_new = nullptr;
  if (old_blob && git_blob_lookup(&raw_old, repo_, &change.old_id) != 0) return;
  BlobPtr before(raw_old);
  if (new_blob && git_blob_lookup(&raw_new, repo_, &change.new_id) != 0) return;
  BlobPtr after(raw_new);
  remember_small(before.get());
  remember_small(after.get());
  const bool scan_secrets_here = new_blob && (flags & kSecretsAllowed) == 0;
  if (!before || !after) {
    scan_whole_blob(after ? after.get() : before.get(), after != nullptr, path, scan_secrets_here);
    return;
  }
  git_diff_options options = GIT_DIFF_OPTIONS_INIT;
  options.context_lines = 0;
  options.interhunk_lines = 0;
  git_patch* patch = nullptr;
  // Empty paths: libgit2 then skips the .gitattributes lookup for a diff driver (with no path it
  // would look up the attributes of a file named "file"). Binary files are still detected.
  if (git_patch_from_blobs(&patch, before.get(), "", after.get(), "", &options) != 0 ||
      patch == nullptr) {
    return;
  }
  PatchPtr owned(patch);
  scan_patch(owned.get(), path, scan_secrets_here);
}

/// A file added (every line is added: scanned as it is, no diff needed) or deleted (counted).
void CommitScanner::scan_whole_blob(git_blob* blob, bool added, const std::string& path,
                                    bool scan_secrets_here) {
  if (git_blob_is_binary(blob) != 0) return;
  const std::string_view text = blob_text(blob);
  if (!added) {
    scan_.lines_deleted += count_lines(text);
    return;
  }
  scan_.lines_added += count_lines(text);
  if (scan_secrets_here) scan_added_text(text, path);
}

void CommitScanner::scan_added_text(std::string_view text, const std::string& path) {
  if (text.size() > budget_) {
    scan_.truncated = true;
    return;
  }
  budget_ -= text.size();
  SecretScanOptions options;
  options.allow_rules = settings_.secrets_allow_rules;
  for (const SecretFinding& f : scan_secrets(text, options)) {
    scan_.findings.emplace(f.rule_id, path, f.line);
  }
}

void CommitScanner::scan_patch(git_patch* patch, const std::string& path, bool scan_secrets_here) {
  added_.clear();
  added_line_nos_.clear();
  const std::size_t hunks = git_patch_num_hunks(patch);
  for (std::size_t h = 0; h < hunks; ++h) {
    const int lines = git_patch_num_lines_in_hunk(patch, h);
    for (int l = 0; l < lines; ++l) {
      const git_diff_line* line = nullptr;
      if (git_patch_get_line_in_hunk(&line, patch, h, static_cast<std::size_t>(l)) != 0) continue;
      if (line->origin == GIT_DIFF_LINE_DELETION) ++scan_.lines_deleted;
      if (line->origin != GIT_DIFF_LINE_ADDITION) continue;
      ++scan_.lines_added;
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
  if (added_.empty()) return;
  SecretScanOptions options;
  options.allow_rules = settings_.secrets_allow_rules;
  for (const SecretFinding& f : scan_secrets(added_, options)) {
    const auto at = static_cast<std::size_t>(f.line - 1);
    const int line_no = at < added_line_nos_.size() ? added_line_nos_[at] : 0;
    scan_.findings.emplace(f.rule_id, path, line_no);
  }
}

}  // namespace stepgate
