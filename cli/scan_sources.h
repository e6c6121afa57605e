#pragma once
// What `stepgate scan` reads: the files under a path, or the lines a git range adds.

#include <cstddef>
#include <string>
#include <vector>

#include "stepgate/policy.h"
#include "stepgate/result.h"

namespace stepgate {

struct ScanFinding {
  std::string rule_id;
  std::string path;  // relative to the scanned directory / the repository
  int line = 0;      // in the file (for --git: in the file as the commit left it)
  int column = 0;
  std::string secret;  // for the fingerprint only; never printed
  std::string commit;  // --git: the commit that added the line
};

struct ScanResult {
  std::vector<ScanFinding> findings;
  std::size_t scanned_bytes = 0;
  std::size_t skipped_files = 0;  // binary (a NUL in the first 8,000 bytes) or over 64 MiB
  bool incomplete = false;        // --git: a file over the 64 MiB scan cap was not scanned
};

/// Every regular file under `root` (or `root` itself), .git directories and symbolic links
/// skipped, with git.secrets' allow_paths and allow_rules applied.
Result<ScanResult> scan_tree(const std::string& root, const GitSettings& git);

/// The commits of `range` (as `git log RANGE` in `repo` lists them) scanned by the push's own
/// scanner: what each adds against its first parent, binary and UTF-16 files included, its
/// message and the names of the files it adds — the findings a push of the range gets.
/// kInvalidArgument when git refuses the range.
Result<ScanResult> scan_git_range(const std::string& repo, const std::string& range,
                                  const GitSettings& git);

}  // namespace stepgate
