#pragma once
// Per-commit part of the git signals: diff each commit against its first parent and accumulate
// what changed. Internal to hooks/ (libgit2 types appear here, never in core/include).

#include <git2.h>

#include <cstdint>
#include <set>
#include <string>
#include <tuple>

#include "stepgate/policy.h"
#include "stepgate/result.h"

namespace stepgate {

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
};

class CommitScanner {
 public:
  CommitScanner(git_repository* repo, const GitSettings& settings, std::string pusher_email,
                std::size_t max_scanned_bytes);
  ~CommitScanner();
  CommitScanner(const CommitScanner&) = delete;
  CommitScanner& operator=(const CommitScanner&) = delete;

  /// Adds one commit: its signature, author and its diff against its first parent.
  Status scan(const git_oid& commit_id);
  [[nodiscard]] const CommitScan& result() const { return scan_; }

 private:
  Status scan_diff(git_diff* diff);
  void scan_delta(git_diff* diff, std::size_t index);
  void scan_patch(git_patch* patch, const std::string& path, bool scan_secrets);
  bool is_large(const git_diff_delta& delta);

  git_repository* repo_;
  git_odb* odb_ = nullptr;
  const GitSettings& settings_;
  std::string pusher_email_;
  std::size_t budget_;
  CommitScan scan_;
  std::string added_;                // added lines of one file, '\n'-joined
  std::vector<int> added_line_nos_;  // their line numbers in the new file
};

}  // namespace stepgate
