#include "commit_scan.h"

#include <algorithm>
#include <cctype>
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
using CommitPtr = std::unique_ptr<git_commit, GitFree<git_commit, git_commit_free>>;
using TreePtr = std::unique_ptr<git_tree, GitFree<git_tree, git_tree_free>>;
using DiffPtr = std::unique_ptr<git_diff, GitFree<git_diff, git_diff_free>>;
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

}  // namespace

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
    git_commit* parent = nullptr;
    if (git_commit_parent(&parent, commit.get(), 0) == 0) {
      CommitPtr parent_commit(parent);
      git_tree* pt = nullptr;
      if (git_commit_tree(&pt, parent_commit.get()) == 0) parent_tree.reset(pt);
    }
  }
  git_diff_options options = GIT_DIFF_OPTIONS_INIT;
  options.context_lines = 0;
  options.interhunk_lines = 0;
  git_diff* diff = nullptr;
  if (git_diff_tree_to_tree(&diff, repo_, parent_tree.get(), tree.get(), &options) != 0) {
    return make_error(ErrorCode::kInternal, last_git_error("diffing a pushed commit"));
  }
  DiffPtr owned(diff);
  return scan_diff(owned.get());
}

Status CommitScanner::scan_diff(git_diff* diff) {
  const std::size_t count = git_diff_num_deltas(diff);
  for (std::size_t i = 0; i < count; ++i) scan_delta(diff, i);
  return {};
}

bool CommitScanner::is_large(const git_diff_delta& delta) {
  if (odb_ == nullptr || settings_.large_file_bytes <= 0) return false;
  std::size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (git_odb_read_header(&size, &type, odb_, &delta.new_file.id) != 0) return false;
  return static_cast<int64_t>(size) >= settings_.large_file_bytes;
}

void CommitScanner::scan_delta(git_diff* diff, std::size_t index) {
  const git_diff_delta* delta = git_diff_get_delta(diff, index);
  const bool deleted = delta->status == GIT_DELTA_DELETED;
  const char* raw_path = deleted ? delta->old_file.path : delta->new_file.path;
  const std::string path = raw_path != nullptr ? raw_path : "";
  scan_.paths.insert(path);
  if (matches_any(settings_.ci_config_paths, path)) scan_.ci_config_changed = true;
  if (deleted) {
    // Deleted lines still count; the blob is read only to count them.
  } else {
    if (has_extension(settings_.model_extensions, path)) scan_.model_artifacts.insert(path);
    if (is_large(*delta)) {
      scan_.large_files.insert(path);
      return;  // not read into memory or scanned line by line
    }
  }
  if (delta->old_file.mode == GIT_FILEMODE_COMMIT || delta->new_file.mode == GIT_FILEMODE_COMMIT) {
    return;  // submodule pointer: no lines
  }
  git_patch* patch = nullptr;
  if (git_patch_from_diff(&patch, diff, index) != 0 || patch == nullptr) return;
  PatchPtr owned(patch);
  const bool allowed_path = matches_any(settings_.secrets_allow_paths, path);
  scan_patch(owned.get(), path, !deleted && !allowed_path);
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
