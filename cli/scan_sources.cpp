#include "scan_sources.h"

#include <git2.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "git_signals.h"
#include "stepgate/env.h"
#include "stepgate/files.h"
#include "stepgate/glob.h"
#include "stepgate/secrets.h"
#include "subprocess.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxFileBytes = std::size_t{64} << 20;
constexpr std::size_t kBinaryProbeBytes = 8000;  // where git looks for a NUL

bool path_allowed(const GitSettings& git, const std::string& path) {
  return std::any_of(git.secrets_allow_paths.begin(), git.secrets_allow_paths.end(),
                     [&](const std::string& g) { return glob_match(g, path); });
}

SecretScanOptions scan_options(const GitSettings& git) {
  SecretScanOptions options;
  options.allow_rules = git.secrets_allow_rules;
  return options;
}

/// Where each line of `text` starts, for turning (line, column) back into the secret.
std::vector<std::size_t> line_starts(std::string_view text) {
  std::vector<std::size_t> starts{0};
  for (const char* at = text.data();;) {
    const auto left = static_cast<std::size_t>(text.data() + text.size() - at);
    const auto* nl = static_cast<const char*>(std::memchr(at, '\n', left));
    if (nl == nullptr) break;
    starts.push_back(static_cast<std::size_t>(nl - text.data()) + 1);
    at = nl + 1;
  }
  return starts;
}

/// Scans `text`; `line_of` maps a line of `text` to the file's line number.
template <class LineOf>
void scan_text(std::string_view text, const GitSettings& git, const std::string& path,
               const std::string& commit, LineOf line_of, ScanResult& out) {
  out.scanned_bytes += text.size();
  if (!git.secrets().may_contain(text)) return;
  const auto findings = git.secrets().scan_windowed(text, scan_options(git));
  if (findings.empty()) return;
  const auto starts = line_starts(text);
  for (const SecretFinding& f : findings) {
    const std::size_t at =
        starts[static_cast<std::size_t>(f.line - 1)] + static_cast<std::size_t>(f.column - 1);
    out.findings.push_back({f.rule_id, path, line_of(f.line), f.column,
                            std::string(text.substr(at, f.length)), commit});
  }
}

void scan_file(const fs::path& file, const std::string& rel, const GitSettings& git,
               ScanResult& out) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec || size > kMaxFileBytes) {
    ++out.skipped_files;
    return;
  }
  auto text = read_file(file.string(), kMaxFileBytes);
  if (!text.ok()) {
    ++out.skipped_files;
    return;
  }
  const std::string_view probe = std::string_view(*text).substr(0, kBinaryProbeBytes);
  if (probe.find('\0') != std::string_view::npos) {
    ++out.skipped_files;
    return;
  }
  scan_text(
      *text, git, rel, "", [](int line) { return line; }, out);
}

}  // namespace

Result<ScanResult> scan_tree(const std::string& root, const GitSettings& git) {
  ScanResult out;
  std::error_code ec;
  const fs::path base(root);
  if (fs::is_regular_file(base, ec)) {
    scan_file(base, base.filename().string(), git, out);
    return out;
  }
  if (!fs::is_directory(base, ec))
    return make_error(ErrorCode::kNotFound, root + ": no such file or directory");
  fs::recursive_directory_iterator it(base, fs::directory_options::skip_permission_denied, ec);
  if (ec) return make_error(ErrorCode::kNotFound, root + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::directory_entry& entry = *it;
    if (entry.is_symlink(ec)) continue;
    if (entry.is_directory(ec)) {
      if (entry.path().filename() == ".git") it.disable_recursion_pending();
      continue;
    }
    if (!entry.is_regular_file(ec)) continue;
    const std::string rel = entry.path().lexically_relative(base).generic_string();
    if (path_allowed(git, rel)) continue;
    scan_file(entry.path(), rel, git, out);
  }
  return out;
}

Result<ScanResult> scan_git_range(const std::string& repo, const std::string& range,
                                  const GitSettings& git) {
  if (range.empty() || range.front() == '-') {
    return invalid_argument("--git: `" + range + "` is not a revision range");
  }
  // git itself says which commits RANGE names (A..B, A...B, a single revision: as `git log`);
  // the push's own scanner reads them.
  auto run = run_process({"git", "-C", repo, "rev-list", "--end-of-options", range, "--"});
  if (!run.ok()) return run.error();
  if (run->exit_code != 0) {
    std::string why = run->err.substr(0, run->err.find('\n'));
    return invalid_argument("--git " + range + ": git rev-list failed: " + why);
  }
  std::vector<git_oid> commits;
  std::string_view rest(run->out);
  while (!rest.empty()) {
    const std::size_t nl = std::min(rest.find('\n'), rest.size());
    const std::string id(rest.substr(0, nl));
    rest.remove_prefix(std::min(nl + 1, rest.size()));
    if (id.empty()) continue;
    git_oid oid;
    if (git_oid_fromstr(&oid, id.c_str()) != 0) {
      return make_error(ErrorCode::kInternal,
                        "--git " + range + ": git rev-list printed `" + id + "`");
    }
    commits.push_back(oid);
  }
  allocate_for_one_run();  // `stepgate scan` exits when done
  // No git configuration (as before); the choice of object reader is this process's.
  auto opened = GitRepo::open_at(
      repo,
      Env(std::vector<std::string>{"STEPGATE_GIT_READER=" + env_or_empty("STEPGATE_GIT_READER")}));
  if (!opened.ok()) return opened.error();
  std::vector<DetailedFinding> found;
  ScanResult out;
  auto scan = (*opened)->scan_commits_detailed(commits, git, found, out.scanned_bytes);
  if (!scan.ok()) return scan.error();
  out.incomplete = scan->truncated;
  for (DetailedFinding& f : found) {
    std::array<char, GIT_OID_HEXSZ + 1> hex{};
    git_oid_tostr(hex.data(), hex.size(), &f.commit);
    out.findings.push_back(
        {std::move(f.rule), std::move(f.where), f.line, f.column, std::move(f.secret), hex.data()});
  }
  return out;
}

}  // namespace stepgate
