// The tree walk and the per-commit scan against git itself: a real repository built with the git
// CLI, each commit's changed paths compared with `git diff --name-only`, line counts with
// `git diff --numstat`.
#include "commit_scan.h"

#include <doctest/doctest.h>
#include <libdeflate.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../core/test_util.h"
#include "blob_text.h"
#include "git_signals.h"
#include "stepgate/json.h"
#include "stepgate/secrets.h"
#include "stepgate/signal_demand.h"
#include "subprocess.h"

namespace stepgate {
namespace {

using testing::TempDir;

class Repo {
 public:
  Repo() {
    git({"init", "-q", "-b", "main", dir_.path()});
    git({"config", "user.email", "dev@example.com"});
    git({"config", "user.name", "Dev"});
    git({"config", "commit.gpgsign", "false"});
  }

  std::string git(const std::vector<std::string>& args, const std::string& input = "") {
    std::vector<std::string> argv{"git"};
    if (args.front() != "init") argv.insert(argv.end(), {"-C", dir_.path()});
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.env = {{"GIT_CONFIG_NOSYSTEM", "1"}, {"HOME", dir_.path()}};
    options.input = input;
    auto r = run_process(argv, options);
    REQUIRE(r.ok());
    REQUIRE_MESSAGE(r->exit_code == 0, r->err);
    return r->out;
  }

  void write(const std::string& path, const std::string& text) {
    const auto full = std::filesystem::path(dir_.path()) / path;
    std::filesystem::create_directories(full.parent_path());
    std::ofstream(full, std::ios::binary) << text;
  }

  std::string commit(const std::string& message) {
    git({"add", "-A"});
    git({"commit", "-q", "--allow-empty", "-m", message});
    std::string sha = git({"rev-parse", "HEAD"});
    return sha.substr(0, 40);
  }

  [[nodiscard]] const std::string& path() const { return dir_.path(); }

 private:
  TempDir dir_;
};

std::set<std::string> lines_of(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.insert(line);
  }
  return out;
}

/// git's own added/deleted totals for a commit (binary files count nothing).
std::pair<int64_t, int64_t> numstat(Repo& repo, const std::string& sha) {
  int64_t added = 0;
  int64_t deleted = 0;
  std::istringstream in(repo.git({"diff", "--no-renames", "--numstat", sha + "^", sha}));
  for (std::string a, d, path; in >> a >> d >> path;) {
    if (a != "-") added += std::stoll(a);
    if (d != "-") deleted += std::stoll(d);
  }
  return {added, deleted};
}

struct Scanned {
  std::set<std::string> paths;
  CommitScan scan;
};

Scanned scan_commit(const std::string& repo_path, const std::string& sha) {
  init_libgit2();
  git_repository* repo = nullptr;
  REQUIRE(git_repository_open(&repo, repo_path.c_str()) == 0);
  git_oid oid;
  REQUIRE(git_oid_fromstr(&oid, sha.c_str()) == 0);
  git_commit* commit = nullptr;
  REQUIRE(git_commit_lookup(&commit, repo, &oid) == 0);
  git_commit* parent = nullptr;
  REQUIRE(git_commit_parent(&parent, commit, 0) == 0);
  git_tree* tree = nullptr;
  git_tree* parent_tree = nullptr;
  REQUIRE(git_commit_tree(&tree, commit) == 0);
  REQUIRE(git_commit_tree(&parent_tree, parent) == 0);
  Scanned out;
  std::vector<FileChange> changes;
  git_odb* odb = nullptr;
  REQUIRE(git_repository_odb(&odb, repo) == 0);
  REQUIRE(diff_trees(odb, git_tree_id(parent_tree), git_tree_id(tree), changes).ok());
  git_odb_free(odb);
  for (const auto& c : changes) out.paths.insert(c.path);
  GitSettings settings;
  {
    CommitScanner scanner(repo, settings, "dev@example.com", std::size_t{1} << 20);
    REQUIRE(scanner.scan(oid).ok());
    out.scan = scanner.take_result();
  }
  git_tree_free(tree);
  git_tree_free(parent_tree);
  git_commit_free(parent);
  git_commit_free(commit);
  git_repository_free(repo);
  return out;
}

void check_against_git(Repo& repo, const std::string& sha) {
  CAPTURE(sha);
  Scanned s = scan_commit(repo.path(), sha);
  CHECK(s.paths == lines_of(repo.git({"diff", "--no-renames", "--name-only", sha + "^", sha})));
  CHECK(s.scan.paths == s.paths);
  auto [added, deleted] = numstat(repo, sha);
  CHECK(s.scan.lines_added == added);
  CHECK(s.scan.lines_deleted == deleted);
}

TEST_CASE("commit scan: changed paths and line counts agree with git diff") {
  Repo repo;
  repo.write("a.txt", "one\ntwo\nthree\n");
  repo.write("dir/b.txt", "b1\nb2\n");
  repo.write("dir/sub/c.txt", "c\n");
  repo.write("dir-x.txt", "sorts between dir and dir/ in git's order\n");
  repo.write("swap", "a file that becomes a directory\n");
  repo.write("bin.dat", std::string("\x00\x01\x02 binary\n", 11));
  repo.write("no-newline.txt", "last line has no newline");
  repo.commit("base");

  SUBCASE("modify, add, delete, nested") {
    repo.write("a.txt", "one\n2\nthree\nfour\nfive\n");
    std::filesystem::remove(std::filesystem::path(repo.path()) / "dir/b.txt");
    repo.write("dir/sub/deeper/d.txt", "d1\nd2\nd3\n");
    repo.write("new.txt", "x\ny");
    check_against_git(repo, repo.commit("change"));
  }
  SUBCASE("file becomes a directory; binary changed; unterminated line extended") {
    std::filesystem::remove(std::filesystem::path(repo.path()) / "swap");
    repo.write("swap/inside.txt", "now a directory\n");
    repo.write("bin.dat", std::string("\x00\x03 other\n", 9));
    repo.write("no-newline.txt", "last line has no newline\nnow it has\n");
    check_against_git(repo, repo.commit("swap"));
  }
  SUBCASE("a directory deleted whole, a mode change, a rename seen as delete + add") {
    std::filesystem::remove_all(std::filesystem::path(repo.path()) / "dir");
    repo.git({"update-index", "--chmod=+x", "a.txt"});
    repo.git({"mv", "dir-x.txt", "renamed.txt"});
    check_against_git(repo, repo.commit("delete"));
  }
  SUBCASE("no change") {
    check_against_git(repo, repo.commit("empty"));
  }
}

/// A tree holding one file `depth` directories down (d/d/.../d/f), written to `repo`'s object
/// database; its id.
git_oid nested_tree(git_repository* repo, int depth) {
  git_oid blob;
  REQUIRE(git_blob_create_from_buffer(&blob, repo, "x\n", 2) == 0);
  git_oid id = blob;
  git_filemode_t mode = GIT_FILEMODE_BLOB;
  const char* name = "f";
  for (int level = 0; level <= depth; ++level) {
    git_treebuilder* builder = nullptr;
    REQUIRE(git_treebuilder_new(&builder, repo, nullptr) == 0);
    REQUIRE(git_treebuilder_insert(nullptr, builder, name, &id, mode) == 0);
    REQUIRE(git_treebuilder_write(&id, builder) == 0);
    git_treebuilder_free(builder);
    mode = GIT_FILEMODE_TREE;
    name = "d";
  }
  return id;
}

TEST_CASE("tree diff: a pushed tree nested past the limit is refused, not walked off the stack") {
  // Anyone who can push can send valid trees 16,000 directories deep: the walk recursed into
  // each and overflowed its thread's stack (SIGSEGV in pre-receive).
  Repo r;
  init_libgit2();
  git_repository* repo = nullptr;
  REQUIRE(git_repository_open(&repo, r.path().c_str()) == 0);
  git_odb* odb = nullptr;
  REQUIRE(git_repository_odb(&odb, repo) == 0);
  const git_oid within = nested_tree(repo, 2000);
  std::vector<FileChange> changes;
  REQUIRE(diff_trees(odb, nullptr, &within, changes).ok());
  REQUIRE(changes.size() == 1);
  CHECK(changes.front().path.size() == 2000 * 2 + 1);  // "d/" 2,000 times, then "f"
  const git_oid past = nested_tree(repo, 20000);
  changes.clear();
  const Status refused = diff_trees(odb, nullptr, &past, changes);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("deeper than the limit of 2048") != std::string::npos);
  git_odb_free(odb);
  git_repository_free(repo);
}

TEST_CASE("commit scan: a commit is signed by its gpgsig header line, not by its message") {
  Repo repo;
  repo.write("a.txt", "one\n");
  const std::string base = repo.commit("first");
  const std::string tree = repo.git({"rev-parse", "HEAD^{tree}"}).substr(0, 40);
  const std::string people =
      "author Dev <dev@example.com> 1700000000 +0000\n"
      "committer Dev <dev@example.com> 1700000000 +0000\n";
  auto make = [&](const std::string& extra, const std::string& message) {
    const std::string body =
        "tree " + tree + "\nparent " + base + "\n" + people + extra + "\n" + message;
    return repo.git({"hash-object", "-t", "commit", "-w", "--stdin"}, body).substr(0, 40);
  };
  const std::string sig = " -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n";
  struct Case {
    std::string name;
    std::string id;
    int64_t unsigned_commits;
  };
  const std::vector<Case> cases{
      {"gpgsig", make("gpgsig" + sig, "signed\n"), 0},
      {"gpgsig-sha256", make("gpgsig-sha256" + sig, "signed\n"), 0},
      {"none", make("", "plain\n"), 1},
      {"in the message only", make("", "text\ngpgsig -----BEGIN PGP SIGNATURE-----\n"), 1},
      {"another header", make("mergetag object " + base + "\n", "plain\n"), 1},
  };
  init_libgit2();
  git_repository* raw = nullptr;
  REQUIRE(git_repository_open(&raw, repo.path().c_str()) == 0);
  for (const Case& c : cases) {
    CAPTURE(c.name);
    git_oid id;
    REQUIRE(git_oid_fromstr(&id, c.id.c_str()) == 0);
    GitSettings settings;
    CommitScanner scanner(raw, settings, "dev@example.com", std::size_t{1} << 20);
    REQUIRE(scanner.scan(id).ok());
    CHECK(scanner.take_result().unsigned_commits == c.unsigned_commits);
  }
  git_repository_free(raw);
}

TEST_CASE("tree cache: a tree is kept for its commit and the next, longer when read again") {
  Repo repo;
  repo.write("a.txt", "one\n");
  repo.commit("first");
  init_libgit2();
  git_repository* raw = nullptr;
  REQUIRE(git_repository_open(&raw, repo.path().c_str()) == 0);
  git_odb* odb = nullptr;
  REQUIRE(git_repository_odb(&odb, raw) == 0);
  git_oid tree_id;
  REQUIRE(git_oid_fromstr(&tree_id, repo.git({"rev-parse", "HEAD^{tree}"}).substr(0, 40).c_str()) ==
          0);
  git_odb_object* tree = nullptr;
  REQUIRE(git_odb_read(&tree, odb, &tree_id) == 0);
  {
    TreeCache cache;
    git_oid other = tree_id;
    other.id[0] ^= 1;
    cache.keep(tree_id, tree);
    auto has = [&](const git_oid& id) {
      git_odb_object* got = cache.get(id);
      if (got == nullptr) return false;
      CHECK(git_odb_object_size(got) == git_odb_object_size(tree));
      git_odb_object_free(got);
      return true;
    };
    CHECK(has(tree_id));
    CHECK_FALSE(has(other));
    cache.next_generation();  // the next commit: still there, and read again, so kept on
    CHECK(has(tree_id));
    cache.next_generation();  // a commit that does not read it: still there for the next
    cache.next_generation();  // two that did not: let go
    CHECK_FALSE(has(tree_id));
  }
  git_odb_object_free(tree);  // the cache's references are its own
  git_odb_free(odb);
  git_repository_free(raw);
}

TEST_CASE("commit scan: secrets in added files and in added lines, with their line numbers") {
  Repo repo;
  repo.write("config.py", "debug = True\n");
  repo.commit("base");
  const std::string key = std::string("AKIA") + "Q3EGRTY5LWJ7NXZP";  // split: not a secret here
  repo.write("config.py", "debug = True\nAWS = \"" + key + "\"\n");
  repo.write("keys/new.env", "A=1\nB=2\nKEY=" + key + "\n");
  const std::string sha = repo.commit("oops");
  Scanned s = scan_commit(repo.path(), sha);
  std::set<std::pair<std::string, int>> where;
  for (const auto& [rule, file, line] : s.scan.findings) where.emplace(file, line);
  CHECK(where == std::set<std::pair<std::string, int>>{{"config.py", 2}, {"keys/new.env", 3}});
}

// ---- what git calls binary, large files, messages, tags and names -----------------------------

std::string utf16(std::string_view ascii, bool little_endian, bool mark) {
  std::string out = mark ? (little_endian ? "\xFF\xFE" : "\xFE\xFF") : "";
  for (char c : ascii) {
    out += little_endian ? std::string{c, '\0'} : std::string{'\0', c};
  }
  return out;
}

TEST_CASE("blob text: UTF-16 is recognised with or without a mark, and decoded") {
  const std::string text = "key = value\nsecond line\n";
  struct Case {
    std::string bytes;
    TextEncoding want;
  };
  const std::vector<Case> cases = {
      {utf16(text, true, true), TextEncoding::kUtf16Le},
      {utf16(text, false, true), TextEncoding::kUtf16Be},
      {utf16(text, true, false), TextEncoding::kUtf16Le},
      {utf16(text, false, false), TextEncoding::kUtf16Be},
      {text, TextEncoding::kBytes},
      {std::string("header\0rest of a text file\n", 27), TextEncoding::kBytes},
      {std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10", 24), TextEncoding::kBytes},
  };
  for (const Case& c : cases) {
    CAPTURE(c.bytes.size());
    CHECK(detect_encoding(c.bytes) == c.want);
    if (c.want != TextEncoding::kBytes) CHECK(decode_text(c.bytes, c.want) == text);
  }
  // CJK around an ASCII token: no NUL outside the token, still little-endian UTF-16.
  const std::string cjk = "\x41\x4E\x42\x4E";  // U+4E41 U+4E42
  CHECK(detect_encoding(cjk + utf16("AKIA", true, false) + cjk) == TextEncoding::kUtf16Le);
  CHECK(decode_text(std::string("\x3D\xD8\x00\xDE", 4), TextEncoding::kUtf16Le) ==
        "\xF0\x9F\x98\x80");  // a surrogate pair: U+1F600
  // A lone high surrogate and an odd trailing byte.
  CHECK(decode_text(std::string("\x00\xD8 ", 3), TextEncoding::kUtf16Le) ==
        "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(strip_nuls(utf16("AKIA", false, false)) == "AKIA");
}

TEST_CASE("secret scan in windows: a token across a window edge is found once, where it is") {
  const std::string key = std::string("AKIA") + "Q3EGRTY5LWJ7NXZP";
  std::string text;
  for (int i = 0; i < 40; ++i)
    text += "an ordinary line of text, number " + std::to_string(i) + "\n";
  const std::size_t window = 512;
  for (std::size_t at : {std::size_t{500}, std::size_t{505}, std::size_t{1000}}) {
    CAPTURE(at);
    std::string t = text;
    t.insert(at, " " + key + " ");
    const auto whole = scan_secrets(t);
    REQUIRE(whole.size() == 1);
    const auto windowed = scan_secrets_windowed(t, {}, window, 64);
    REQUIRE(windowed.size() == 1);
    CHECK(windowed[0].line == whole[0].line);
    CHECK(windowed[0].column == whole[0].column);
  }
  // One line longer than a window: no line start to align to, the token is still found.
  std::string long_line(3000, 'x');
  long_line.replace(1020, key.size() + 2, " " + key + " ");
  const auto found = scan_secrets_windowed("first\n" + long_line + "\n", {}, window, 64);
  REQUIRE(found.size() == 1);
  CHECK(found[0].line == 2);
  CHECK(found[0].column == 1022);
}

/// The findings (file, line) of scanning the commits of `ref` not in `base` (none when `base` is
/// empty), and what the ref's own object carries.
struct Findings {
  std::set<std::pair<std::string, int>> where;
  bool truncated = false;
};

Findings scan_push(Repo& repo, const std::string& base, const std::string& ref,
                   const GitSettings& settings, std::size_t max_file = kMaxFileScanBytes) {
  init_libgit2();
  git_repository* handle = nullptr;
  REQUIRE(git_repository_open(&handle, repo.path().c_str()) == 0);
  CommitScan scan;
  {
    CommitScanner scanner(handle, settings, "dev@example.com", std::size_t{256} << 20, max_file);
    std::istringstream revs(base.empty() ? "" : repo.git({"rev-list", ref, "--not", base}));
    for (std::string sha; revs >> sha;) {
      git_oid oid;
      REQUIRE(git_oid_fromstr(&oid, sha.c_str()) == 0);
      REQUIRE(scanner.scan(oid).ok());
    }
    git_oid tip;
    REQUIRE(git_oid_fromstr(&tip, repo.git({"rev-parse", ref}).substr(0, 40).c_str()) == 0);
    REQUIRE(scanner.scan_pushed_object(tip, ref).ok());
    scan = scanner.take_result();
  }
  git_repository_free(handle);
  Findings out;
  out.truncated = scan.truncated;
  for (const auto& [rule, file, line] : scan.findings) out.where.emplace(file, line);
  return out;
}

using Where = std::set<std::pair<std::string, int>>;

TEST_CASE("commit scan: tokens where git sees no text lines are found") {
  Repo repo;
  repo.write("README", "hello\n");
  const std::string base = repo.commit("base");
  const std::string key = std::string("AKIA") + "Q3EGRTY5LWJ7NXZP";
  const std::string line = "aws_access_key_id = " + key + "\n";
  GitSettings settings;

  SUBCASE("UTF-16 with and without a mark, added and modified") {
    repo.write("le.ini", utf16("x = 1\n" + line, true, true));
    repo.write("be.ini", utf16(line, false, false));
    repo.write("old.ini", utf16("x = 1\n", true, false));
    repo.commit("utf-16");
    repo.write("old.ini", utf16("x = 1\ny = 2\n" + line, true, false));
    repo.commit("a key added to a utf-16 file");
    CHECK(scan_push(repo, base, "HEAD", settings).where ==
          Where{{"le.ini", 2}, {"be.ini", 1}, {"old.ini", 3}});
  }
  SUBCASE("a key already in a binary file is not reported again when the file changes") {
    repo.write("data.bin", std::string("\0\x01", 2) + line + "tail\n");
    const std::string first = repo.commit("binary with a key");
    repo.write("data.bin", std::string("\0\x01", 2) + line + "tail, changed\n");
    CHECK(scan_push(repo, first, "HEAD", settings).where.empty());
    CHECK(scan_push(repo, base, "HEAD", settings).where == Where{{"data.bin", 1}});
  }
  SUBCASE("a NUL byte past git's first 8,000 bytes, then UTF-16") {
    repo.write("late.txt", std::string(9000, 'a') + "\n" + utf16(line, true, false));
    repo.commit("late nul");
    // UTF-16 starting at an odd offset: the bytes without NULs find it on its line; decoded
    // from the file's start (out of step) it may be found once more, at another line.
    CHECK(scan_push(repo, base, "HEAD", settings).where.contains({"late.txt", 2}));
  }
  SUBCASE("large files are scanned up to the cap, and past it the scan is incomplete") {
    settings.large_file_bytes = 1000;
    repo.write("big.log", std::string(1500, '.') + "\n" + line);
    repo.commit("large");
    const Findings within = scan_push(repo, base, "HEAD", settings, 4096);
    CHECK(within.where == Where{{"big.log", 2}});
    CHECK_FALSE(within.truncated);
    repo.write("huge.log", std::string(5000, '.') + "\n");
    repo.commit("past the cap");
    CHECK(scan_push(repo, base, "HEAD", settings, 4096).truncated);
  }
  SUBCASE("commit messages, file names, tag messages, tagged blobs and trees") {
    repo.write("token=" + key + "x9/readme.txt", "harmless\n");
    const std::string named = repo.commit("a directory named after a key");
    repo.git({"commit", "-q", "--allow-empty", "-m", "subject\n\nbody with " + key});
    const std::string message = repo.git({"rev-parse", "--short=12", "HEAD"}).substr(0, 12);
    CHECK(scan_push(repo, base, "HEAD", settings).where ==
          Where{{"commit message of " + message, 3}, {"token=" + key + "x9/readme.txt", 0}});
    repo.git({"tag", "-a", "v1", "-m", "notes\n" + key, named});
    CHECK(scan_push(repo, "", "refs/tags/v1", settings).where == Where{{"message of tag v1", 2}});
    const std::string blob = repo.git({"hash-object", "-w", "--stdin"}, line).substr(0, 40);
    repo.git({"tag", "blobtag", blob});
    CHECK(scan_push(repo, "", "refs/tags/blobtag", settings).where == Where{{"tag blobtag", 1}});
    const std::string tree =
        repo.git({"mktree"}, "100644 blob " + blob + "\tcreds.ini\n").substr(0, 40);
    repo.git({"tag", "-a", "treetag", "-m", "a tree", tree});
    CHECK(scan_push(repo, "", "refs/tags/treetag", settings).where == Where{{"creds.ini", 1}});
  }
}

TEST_CASE("git repo: symbolic refs are judged as their targets") {
  Repo remote;
  remote.commit("base");
  remote.git({"symbolic-ref", "refs/heads/trunk", "refs/heads/main"});
  remote.git({"symbolic-ref", "refs/heads/alias", "refs/heads/trunk"});
  Repo local;
  local.commit("base");
  local.git({"update-ref", "refs/remotes/origin/main", "HEAD"});
  local.git({"symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"});
  auto own = GitRepo::open_at(remote.path());
  auto client = GitRepo::open_at(local.path());
  REQUIRE(own.ok());
  REQUIRE(client.ok());
  struct Case {
    std::string remote, url, ref, want;
  };
  const std::vector<Case> client_cases = {
      {"origin", remote.path(), "refs/heads/trunk", "refs/heads/main"},
      {"origin", "file://" + remote.path(), "refs/heads/alias", "refs/heads/main"},
      {"origin", remote.path(), "refs/heads/feature", "refs/heads/feature"},
      {"origin", "https://example.com/r.git", "refs/heads/HEAD", "refs/heads/main"},
      {"origin", "git@example.com:r.git", "refs/heads/trunk", "refs/heads/trunk"},
      {"other", "https://example.com/r.git", "refs/heads/HEAD", "refs/heads/HEAD"},
  };
  for (const Case& c : client_cases) {
    CAPTURE(c.url);
    CAPTURE(c.ref);
    CHECK((*client)->resolve_remote_symbolic(c.remote, c.url, c.ref) == c.want);
  }
  CHECK((*own)->resolve_symbolic("refs/heads/trunk") == "refs/heads/main");
  CHECK((*own)->resolve_symbolic("refs/heads/alias") == "refs/heads/main");
  CHECK((*own)->resolve_symbolic("refs/heads/main") == "refs/heads/main");
  CHECK((*own)->resolve_symbolic("refs/heads/absent") == "refs/heads/absent");
}

TEST_CASE("commit scan: a large blob is large in every commit that writes it, whatever was read") {
  // Scanned newest first, as a push is: commit three's two.bin is found large by its header;
  // commit two reads the same blob whole (as one.bin's old content), which must not make it
  // "known small" when commit one writes it again.
  Repo repo;
  repo.commit("base");
  const std::string big(300, 'x');
  repo.write("one.bin", big + "\n");
  const std::string one = repo.commit("one");
  repo.write("one.bin", "small\n");
  const std::string two = repo.commit("two");
  repo.write("two.bin", big + "\n");
  const std::string three = repo.commit("three");
  init_libgit2();
  git_repository* repo_handle = nullptr;
  REQUIRE(git_repository_open(&repo_handle, repo.path().c_str()) == 0);
  GitSettings settings;
  settings.large_file_bytes = 100;
  CommitScan scan;
  {
    CommitScanner scanner(repo_handle, settings, "dev@example.com", std::size_t{1} << 20);
    for (const std::string& sha : {three, two, one}) {
      git_oid oid;
      REQUIRE(git_oid_fromstr(&oid, sha.c_str()) == 0);
      REQUIRE(scanner.scan(oid).ok());
    }
    scan = scanner.take_result();
  }
  git_repository_free(repo_handle);
  CHECK(scan.large_files == std::set<std::string>{"one.bin", "two.bin"});
  CHECK(scan.lines_added == 1);    // "small": large files' lines are not counted
  CHECK(scan.lines_deleted == 1);  // commit two's one.bin: its old side is read whole
}

/// A fast-import stream of `count` commits on refs/heads/long: each rewrites src/fN.txt; commit
/// 10 has another author; commit 30 adds a key file that commit 31 deletes again; commit
/// `count - 30` adds a key to config/prod.env.
std::string long_history(int count, const std::string& key) {
  std::string out;
  auto data = [&out](const std::string& text) {
    out += "data " + std::to_string(text.size()) + "\n" + text + "\n";
  };
  for (int i = 1; i <= count; ++i) {
    const std::string who = i == 10 ? "Other <other@example.com>" : "Dev <dev@example.com>";
    const std::string when = std::to_string(1700000000 + i) + " +0000\n";
    out += "commit refs/heads/long\nmark :" + std::to_string(i) + "\n";
    for (const char* role : {"author ", "committer "})
      out.append(role).append(who).append(" ").append(when);
    data("change " + std::to_string(i) + "\n");
    if (i > 1) out += "from :" + std::to_string(i - 1) + "\n";
    out += "M 644 inline src/f" + std::to_string(i % 7) + ".txt\n";
    data("first " + std::to_string(i) + "\nsecond " + std::to_string(i * 3) + "\nthird\n");
    if (i == 30) {
      out += "M 644 inline keys/old.env\n";
      data("KEY=" + key + "\n");
    }
    if (i == 31) out += "D keys/old.env\n";
    if (i == count - 30) {
      out += "M 644 inline config/prod.env\n";
      data("REGION=eu\nAWS_KEY=" + key + "\n");
    }
  }
  return out;
}

const std::string kAwsKey = std::string("AKIA") + "Q3EGRTY5LWJ7NXZP";  // split: no secret here

/// The signals of pushing refs/heads/`name` as a new branch to origin.
PushSignals push_branch(Repo& repo, const std::string& name, const PushScanLimits& limits = {}) {
  const std::string ref = "refs/heads/" + name;
  const std::string tip = repo.git({"rev-parse", ref}).substr(0, 40);
  auto opened = GitRepo::open_at(repo.path());
  REQUIRE(opened.ok());
  GitSettings settings;
  PushScanOptions options;
  options.settings = &settings;
  options.pusher_email = "dev@example.com";
  options.remote = "origin";
  const RefUpdate update{ref, tip, ref, std::string(40, '0'), 1};
  PushSignals out;
  REQUIRE((*opened)->collect(update, options, out, limits).ok());
  CHECK(out.truncated == out.signals.find("scan_incomplete")->as_bool());
  return out;
}

/// The signals of pushing refs/heads/long (made by long_history) as a new branch.
PushSignals push_long_branch(Repo& repo, const PushScanLimits& limits = {}) {
  return push_branch(repo, "long", limits);
}

TEST_CASE("git signals: a push long enough for two scan threads reports what git reports") {
  Repo repo;
  const int count = 450;  // above the two-thread threshold (400)
  repo.git({"fast-import", "--quiet"}, long_history(count, kAwsKey));
  const PushSignals out = push_long_branch(repo);
  const Value& s = out.signals;
  CHECK_FALSE(out.truncated);

  const std::string tip = "refs/heads/long";
  CHECK(s.get_int("commits") == std::stoll(repo.git({"rev-list", "--count", tip})));
  int64_t added = 0;
  int64_t deleted = 0;
  std::istringstream numstat(repo.git({"log", "--no-renames", "--numstat", "--format=", tip}));
  for (std::string a, d, path; numstat >> a >> d >> path;) {
    added += std::stoll(a);
    deleted += std::stoll(d);
  }
  CHECK(s.get_int("lines_added") == added);
  CHECK(s.get_int("lines_deleted") == deleted);
  const auto paths = lines_of(repo.git({"log", "--no-renames", "--name-only", "--format=", tip}));
  CHECK(s.get_int("files_changed") == static_cast<int64_t>(paths.size()));

  std::set<std::pair<std::string, int64_t>> where;
  for (const Value& f : s.find("secret_findings")->as_list()) {
    where.emplace(f.find("file")->as_string(), f.get_int("line"));
  }
  // One finding in each half of the range: the first thread's (later deleted) and the second's.
  CHECK(where ==
        std::set<std::pair<std::string, int64_t>>{{"keys/old.env", 1}, {"config/prod.env", 2}});
  const List& foreign = s.find("foreign_authors")->as_list();
  REQUIRE(foreign.size() == 1);
  CHECK(foreign.front().as_string().find("other@example.com") != std::string::npos);

  // Past max_diffed_commits the newest are scanned, both threads stopping at the limit: commit
  // 30's key (among the oldest 30) is not, commit 420's is.
  PushScanLimits fewer;
  fewer.max_diffed_commits = count - 30;
  const PushSignals cut = push_long_branch(repo, fewer);
  CHECK(cut.truncated);
  where.clear();
  for (const Value& f : cut.signals.find("secret_findings")->as_list()) {
    where.emplace(f.find("file")->as_string(), f.get_int("line"));
  }
  CHECK(where == std::set<std::pair<std::string, int64_t>>{{"config/prod.env", 2}});
}

TEST_CASE("git signals: a few commits carrying much text are shared by two scan threads") {
  // Six commits of ~1.5 MB each: fewer than start a second thread during the walk, more text than
  // the walking thread reads alone (1 MB) before it starts one. A key in the oldest and the newest.
  Repo repo;
  std::string stream;
  const std::string line = "int value_of_something = compute(items, options) + 12345;\n";
  std::string body;
  while (body.size() < (std::size_t{3} << 19)) body += line;
  for (int i = 1; i <= 6; ++i) {
    stream += "commit refs/heads/long\nmark :" + std::to_string(i) + "\n";
    for (const char* role : {"author ", "committer "}) {
      stream.append(role).append("Dev <dev@example.com> ");
      stream += std::to_string(1700000000 + i) + " +0000\n";
    }
    stream += "data 7\nchange\n\n";
    if (i > 1) stream += "from :" + std::to_string(i - 1) + "\n";
    std::string text = "// part " + std::to_string(i) + "\n" + body;  // six different blobs
    if (i == 1 || i == 6) text += "AWS_KEY=" + kAwsKey + "\n";
    stream += "M 644 inline big" + std::to_string(i) + ".c\ndata " + std::to_string(text.size()) +
              "\n" + text + "\n";
  }
  repo.git({"fast-import", "--quiet"}, stream);
  const PushSignals out = push_long_branch(repo);
  CHECK_FALSE(out.truncated);
  std::set<std::pair<std::string, int64_t>> where;
  for (const Value& f : out.signals.find("secret_findings")->as_list()) {
    where.emplace(f.find("file")->as_string(), f.get_int("line"));
  }
  const auto key_line = static_cast<int64_t>(body.size() / line.size()) + 2;
  CHECK(where ==
        std::set<std::pair<std::string, int64_t>>{{"big1.c", key_line}, {"big6.c", key_line}});
  CHECK(out.signals.get_int("lines_added") == 6 * (key_line - 1) + 2);
  CHECK(out.signals.get_int("files_changed") == 6);
}

TEST_CASE("git signals: a push past the scan limits is marked scan_incomplete") {
  Repo repo;
  repo.git({"fast-import", "--quiet"}, long_history(40, kAwsKey));
  CHECK_FALSE(push_long_branch(repo).truncated);
  PushScanLimits few_commits;
  few_commits.max_diffed_commits = 10;
  CHECK(push_long_branch(repo, few_commits).truncated);
  PushScanLimits few_bytes;
  few_bytes.max_scanned_bytes = 64;
  CHECK(push_long_branch(repo, few_bytes).truncated);
}

}  // namespace
}  // namespace stepgate

namespace stepgate {
namespace {

const std::string kGithubToken = std::string("ghp_") + std::string(36, 'a') + "Zq9";

/// A push of refs/heads/main whose commits write the same blobs over and over: a file copied,
/// a file renamed, a change reverted and made again, a side branch merged (the merge's diff
/// against its first parent repeats the side branch's files). Returns the new tip; `base` gets
/// the remote's tip.
std::string duplicated_history(Repo& repo, std::string& base) {
  repo.write("README.md", "# fixture\n");
  base = repo.commit("base");
  repo.git({"checkout", "-q", "-b", "feature"});
  repo.write("config/a.env", "REGION=eu\nAWS_KEY=" + kAwsKey + "\n");
  repo.commit("add a.env");
  repo.write("config/b.env", "REGION=eu\nAWS_KEY=" + kAwsKey + "\n");  // the same blob
  repo.commit("copy to b.env");
  repo.git({"mv", "config/a.env", "config/renamed.env"});
  repo.commit("rename a.env");
  repo.write("config/b.env", "REGION=eu\nAWS_KEY=" + kAwsKey + "\nGH=" + kGithubToken + "\n");
  const std::string change = repo.commit("token in b.env");
  repo.git({"revert", "--no-edit", change});
  repo.git({"revert", "--no-edit", "HEAD"});  // the same pair of blobs as `change`
  repo.git({"checkout", "-q", "main"});
  repo.write("README.md", "# fixture\ntoken: " + kGithubToken + "\n");
  repo.commit("main side");
  repo.git({"merge", "-q", "--no-ff", "-m", "merge feature", "feature"});
  return repo.git({"rev-parse", "HEAD"}).substr(0, 40);
}

PushSignals push_main(Repo& repo, const std::string& tip, const std::string& base) {
  auto opened = GitRepo::open_at(repo.path());
  REQUIRE(opened.ok());
  GitSettings settings;
  PushScanOptions options;
  options.settings = &settings;
  options.pusher_email = "dev@example.com";
  options.remote = "origin";
  RefUpdate update{"refs/heads/main", tip, "refs/heads/main", base, 1};
  PushSignals out;
  REQUIRE((*opened)->collect(update, options, out).ok());
  return out;
}

TEST_CASE("git signals: copies, renames, reverts and merges give the findings they always gave") {
  Repo repo;
  std::string base;
  const std::string tip = duplicated_history(repo, base);
  const PushSignals out = push_main(repo, tip, base);
  const Value& s = out.signals;
  CHECK_FALSE(out.truncated);
  std::set<std::tuple<std::string, std::string, int64_t>> findings;
  for (const Value& f : s.find("secret_findings")->as_list()) {
    findings.emplace(f.find("rule")->as_string(), f.find("file")->as_string(), f.get_int("line"));
  }
  // What the scan found before blobs were read once per push (worked out from the history:
  // every file that holds a token is added whole somewhere, the token in b.env is added at line 3
  // twice, README's at line 2) — the set must stay this one.
  CHECK(findings == std::set<std::tuple<std::string, std::string, int64_t>>{
                        {"aws-access-key-id", "config/a.env", 2},
                        {"aws-access-key-id", "config/b.env", 2},
                        {"aws-access-key-id", "config/renamed.env", 2},
                        {"github-token", "README.md", 2},
                        {"github-token", "config/b.env", 3},
                    });
  // Line counts sum over commits, a repeated diff counting each time: git's numbers.
  CHECK(s.get_int("commits") == std::stoll(repo.git({"rev-list", "--count", base + ".." + tip})));
  int64_t added = 0;
  int64_t deleted = 0;
  auto sum = [&](const std::string& text) {
    std::istringstream in(text);
    for (std::string a, d, path; in >> a >> d >> path;) {
      added += std::stoll(a);
      deleted += std::stoll(d);
    }
  };
  sum(repo.git(
      {"log", "--no-renames", "--no-merges", "--numstat", "--format=", base + ".." + tip}));
  sum(repo.git({"diff", "--no-renames", "--numstat", tip + "^1", tip}));
  CHECK(s.get_int("lines_added") == added);
  CHECK(s.get_int("lines_deleted") == deleted);
  CHECK(s.get_int("files_changed") == 4);  // README.md and the three env files
}

}  // namespace
}  // namespace stepgate

namespace stepgate {
namespace {

TEST_CASE("commit scan: a blob pair seen again is not diffed again, and reports the same") {
  Repo repo;
  std::string base;
  const std::string tip = duplicated_history(repo, base);
  init_libgit2();
  git_repository* handle = nullptr;
  REQUIRE(git_repository_open(&handle, repo.path().c_str()) == 0);
  GitSettings settings;
  CommitScanner scanner(handle, settings, "dev@example.com", std::size_t{1} << 20);
  std::istringstream ids(repo.git({"rev-list", base + ".." + tip}));
  for (std::string sha; ids >> sha;) {
    git_oid oid;
    REQUIRE(git_oid_fromstr(&oid, sha.c_str()) == 0);
    REQUIRE(scanner.scan(oid).ok());
  }
  // Read again, newest first: the merge's renamed.env (the blob a.env was added with), the
  // revert of the revert (the pair of the first token commit), the rename's renamed.env and
  // the copy's b.env (both a.env's blob, added whole).
  CHECK(scanner.reused_diffs() == 4);
  std::set<std::tuple<std::string, std::string, int>> expected{
      {"aws-access-key-id", "config/a.env", 2},
      {"aws-access-key-id", "config/b.env", 2},
      {"aws-access-key-id", "config/renamed.env", 2},
      {"github-token", "README.md", 2},
      {"github-token", "config/b.env", 3},
  };
  CHECK(scanner.result().findings == expected);
  git_repository_free(handle);
}

}  // namespace
}  // namespace stepgate

namespace stepgate {
namespace {

int64_t pushed_commits(Repo& repo, const RefUpdate& update,
                       const std::vector<std::pair<std::string, std::string>>& remote_tips,
                       const SignalDemand* demand = nullptr, bool pre_receive = false) {
  auto opened = GitRepo::open_at(repo.path());
  REQUIRE(opened.ok());
  GitSettings settings;
  PushScanOptions options;
  options.settings = &settings;
  options.remote = pre_receive ? "" : "origin";
  options.hide_all_refs = pre_receive;
  options.remote_tips = remote_tips;
  options.demand = demand;
  PushSignals out;
  REQUIRE((*opened)->collect(update, options, out).ok());
  return out.signals.get_int("commits");
}

TEST_CASE("git signals: a new ref skips what the remote has by any ref it advertised") {
  Repo repo;
  repo.write("README.md", "# fixture\n");
  const std::string base = repo.commit("base");
  repo.git({"checkout", "-q", "-b", "feature"});
  repo.write("f.txt", "one\n");
  repo.commit("f1");
  repo.write("f.txt", "one\ntwo\n");
  const std::string f2 = repo.commit("f2");
  repo.git({"checkout", "-q", "main"});
  repo.write("README.md", "# fixture\nmore\n");
  repo.commit("main side");
  repo.git({"merge", "-q", "--no-ff", "-m", "merge feature", "feature"});
  const std::string tip = repo.git({"rev-parse", "HEAD"}).substr(0, 40);
  const std::string zeros(40, '0');
  const RefUpdate fresh{"refs/heads/main", tip, "refs/heads/copy", zeros, 1};

  // Nothing known of the remote: the whole history is sent.
  CHECK(pushed_commits(repo, fresh, {{"refs/heads/copy", zeros}}) == 5);
  // Another ref of the same push, whose value git read from the remote for this push, holds f2.
  CHECK(pushed_commits(repo, fresh, {{"refs/heads/copy", zeros}, {"refs/heads/other", f2}}) == 2);
  // An id the repository does not have hides nothing.
  CHECK(pushed_commits(repo, fresh,
                       {{"refs/heads/copy", zeros}, {"refs/heads/other", std::string(40, 'e')}}) ==
        5);
  // The remote's tracking refs (origin/HEAD resolves to origin/feature).
  repo.git({"update-ref", "refs/remotes/origin/feature", f2});
  repo.git({"symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/feature"});
  CHECK(pushed_commits(repo, fresh, {{"refs/heads/copy", zeros}}) == 2);  // main side, merge
  // The same push moves the remote's feature, which git read as `base`: the tracking ref (and
  // origin/HEAD through it) may be stale, f1 and f2 gone from the remote — they are scanned.
  CHECK(pushed_commits(repo, fresh, {{"refs/heads/copy", zeros}, {"refs/heads/feature", base}}) ==
        4);
  // An update of an existing ref is judged on all it adds to that ref, even what the remote has
  // under another ref (main's rules are not skipped by pushing a feature branch first).
  const RefUpdate update{"refs/heads/main", tip, "refs/heads/main", base, 1};
  CHECK(pushed_commits(repo, update, {{"refs/heads/main", base}, {"refs/heads/other", f2}}) == 4);
}

}  // namespace
}  // namespace stepgate

namespace stepgate {
namespace {

TEST_CASE("git signals: a new protected ref is hidden from only by protected refs") {
  Repo repo;
  repo.write("README.md", "# fixture\n");
  const std::string base = repo.commit("base");
  repo.git({"checkout", "-q", "-b", "feature"});
  repo.write("f.txt", "one\n");
  repo.commit("f1");
  repo.write("f.txt", "one\ntwo\n");
  const std::string f2 = repo.commit("f2");
  const std::string zeros(40, '0');
  // The feature branch's commits, pushed again as a new protected branch (the defaults protect
  // refs/heads/release/**) and as a new feature branch.
  const RefUpdate release{"refs/heads/feature", f2, "refs/heads/release/1", zeros, 1};
  const RefUpdate copy{"refs/heads/feature", f2, "refs/heads/copy", zeros, 1};
  const SignalDemand reads_protected{false, {"protected", "secrets"}};
  const SignalDemand reads_no_ref{false, {"secrets"}};

  // pre-push: the remote has the commits under the lax feature branch only.
  repo.git({"update-ref", "refs/remotes/origin/feature", f2});
  CHECK(pushed_commits(repo, release, {{"refs/heads/release/1", zeros}}) == 3);
  CHECK(pushed_commits(repo, release, {{"refs/heads/release/1", zeros}}, &reads_protected) == 3);
  CHECK(pushed_commits(repo, release, {{"refs/heads/release/1", zeros}, {"refs/heads/other", f2}},
                       &reads_protected) == 3);
  // Rules that read nothing of the ref judge every ref alike: any ref hides.
  CHECK(pushed_commits(repo, release, {{"refs/heads/release/1", zeros}}, &reads_no_ref) == 0);
  // A new unprotected ref is hidden from by any ref, as before.
  CHECK(pushed_commits(repo, copy, {{"refs/heads/copy", zeros}}, &reads_protected) == 0);
  // Under a protected ref (main, by its tracking ref or by git's value for this push), the
  // commits were judged under protected rules already.
  repo.git({"update-ref", "refs/remotes/origin/main", f2});
  CHECK(pushed_commits(repo, release, {{"refs/heads/release/1", zeros}}, &reads_protected) == 0);
  repo.git({"update-ref", "-d", "refs/remotes/origin/main"});
  CHECK(pushed_commits(repo, release, {{"refs/heads/release/1", zeros}, {"refs/heads/main", f2}},
                       &reads_protected) == 0);

  // pre-receive (the repository's own refs): feature holds f2, main holds base.
  CHECK(pushed_commits(repo, release, {}, &reads_protected, true) == 2);  // f1, f2
  CHECK(pushed_commits(repo, copy, {}, &reads_protected, true) == 0);
  CHECK(pushed_commits(repo, release, {}, &reads_no_ref, true) == 0);
}

}  // namespace
}  // namespace stepgate

namespace stepgate {
namespace {

TEST_CASE("commit scan: a file rewritten with no line in common counts and finds as its diff") {
  Repo repo;
  repo.write("a.txt", "alpha\nbeta\n");
  repo.write("b.txt", "one\ntwo\nthree");  // no newline at the end
  repo.write("c.txt", "x\r\ny\r\n");
  repo.write("d.txt", "keep\nold\n");
  repo.write("e.txt", "");
  repo.write("f.txt", "only\n");
  repo.write("g.txt", "p\nq");
  repo.write("h.txt", "top\nmiddle\nbottom\n");
  const std::string base = repo.commit("base");
  repo.write("a.txt", "gamma\nGH=" + kGithubToken + "\ndelta\n");
  repo.write("b.txt", "four\nfive\nsix\nAWS_KEY=" + kAwsKey);  // the token on the last line
  repo.write("c.txt", "z\r\nAWS_KEY=" + kAwsKey + "\r\n");
  repo.write("d.txt", "keep\nGH=" + kGithubToken + "\n");  // shares its first line: xdiff
  repo.write("e.txt", "new\nGH=" + kGithubToken + "\n");   // from empty
  repo.write("f.txt", "");                                 // to empty
  repo.write("g.txt", "r\nq\n");  // "q" and "q\n" are different lines to git
  repo.write("h.txt", "new top\nmiddle\nAWS_KEY=" + kAwsKey + "\n");  // shares a middle line
  const std::string tip = repo.commit("rewrites");

  init_libgit2();
  git_repository* handle = nullptr;
  REQUIRE(git_repository_open(&handle, repo.path().c_str()) == 0);
  GitSettings settings;
  CommitScanner scanner(handle, settings, "dev@example.com", std::size_t{1} << 20);
  git_oid oid;
  REQUIRE(git_oid_fromstr(&oid, tip.c_str()) == 0);
  REQUIRE(scanner.scan(oid).ok());
  CHECK(scanner.whole_rewrites() == 6);  // all but d.txt and h.txt
  // Line numbers in the new file, as the diff numbers added lines.
  CHECK(scanner.result().findings == std::set<std::tuple<std::string, std::string, int>>{
                                         {"github-token", "a.txt", 2},
                                         {"aws-access-key-id", "b.txt", 4},
                                         {"aws-access-key-id", "c.txt", 2},
                                         {"github-token", "d.txt", 2},
                                         {"github-token", "e.txt", 2},
                                         {"aws-access-key-id", "h.txt", 3},
                                     });
  // git's own counts.
  int64_t added = 0;
  int64_t deleted = 0;
  std::istringstream in(repo.git({"diff", "--no-renames", "--numstat", base, tip}));
  for (std::string a, d, path; in >> a >> d >> path;) {
    added += std::stoll(a);
    deleted += std::stoll(d);
  }
  CHECK(scanner.result().lines_added == added);
  CHECK(scanner.result().lines_deleted == deleted);
  git_repository_free(handle);
}

TEST_CASE("blob text: the quick binary test never calls text what git calls binary") {
  // surely_not_binary skips libgit2's byte-by-byte count for ordinary text: whenever it says
  // "not binary", git_blob_is_binary must agree, for every byte value in every place.
  Repo repo;
  init_libgit2();
  git_repository* handle = nullptr;
  REQUIRE(git_repository_open(&handle, repo.path().c_str()) == 0);
  auto git_binary = [&](const std::string& bytes) {
    git_oid id;
    REQUIRE(git_blob_create_from_buffer(&id, handle, bytes.data(), bytes.size()) == 0);
    git_blob* blob = nullptr;
    REQUIRE(git_blob_lookup(&blob, handle, &id) == 0);
    const bool binary = git_blob_is_binary(blob) != 0;
    git_blob_free(blob);
    return binary;
  };
  const std::string line = "value = compute(items, options)\n";
  std::vector<std::string> cases{"",
                                 "x",
                                 line,
                                 line + line + "\t\r\n\f\v\b\x1b[0m\n",
                                 "\xEF\xBB\xBF" + line,
                                 "\xFE\xFF" + line,
                                 "\xFF\xFE" + line,
                                 std::string("\xFF\xFE\0\0", 4) + line,
                                 "caf\xC3\xA9\n"};
  for (int b = 0; b < 256; ++b) {
    const std::string byte(1, static_cast<char>(b));
    cases.push_back(byte);
    cases.push_back(line + byte + line);
    // Past one of the quick test's 128-byte blocks, and among much text (git weighs the count).
    cases.push_back(std::string(300, 'a') + byte + std::string(5000, 'b'));
  }
  int quick = 0;
  for (const std::string& text : cases) {
    CAPTURE(text);
    if (surely_not_binary(text)) {
      ++quick;
      CHECK_FALSE(git_binary(text));
    }
  }
  // The quick answer is given for text, and held back for the bytes git weighs.
  CHECK(surely_not_binary(line + "\t\r\n"));
  CHECK_FALSE(surely_not_binary(line + "\x01"));
  CHECK_FALSE(surely_not_binary(std::string(1000, 'a') + "\x7f"));
  CHECK_FALSE(surely_not_binary(std::string(200, 'a') + '\0'));
  CHECK(quick > 256 * 2);
  git_repository_free(handle);
}

TEST_CASE("blob text: newlines are counted across the block edges") {
  for (std::size_t size : {0, 1, 127, 128, 129, 255, 256, 257, 1000}) {
    for (std::size_t every : {1, 2, 7, 128}) {
      std::string text(size, 'a');
      for (std::size_t i = 0; i < size; i += every) text[i] = '\n';
      CAPTURE(size);
      CAPTURE(every);
      CHECK(count_newlines(text) ==
            static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')));
    }
  }
}

}  // namespace
}  // namespace stepgate

namespace stepgate {
namespace {

/// A fast-import stream of `count` commits on `branch`, marks from `first_mark`, the first on
/// top of mark `from` (0: a root commit); each rewrites src/fN.txt, and the commit at `key_at`
/// adds a key to keys/N.env.
std::string branch_history(const std::string& branch, int from, int first_mark, int count,
                           int key_at, const std::string& key) {
  std::string out;
  auto data = [&out](const std::string& text) {
    out += "data " + std::to_string(text.size()) + "\n" + text + "\n";
  };
  for (int i = 0; i < count; ++i) {
    const int mark = first_mark + i;
    const std::string when = std::to_string(1700000000 + mark) + " +0000\n";
    out += "commit " + branch + "\nmark :" + std::to_string(mark) + "\n";
    for (const char* role : {"author ", "committer "})
      out.append(role).append("Dev <dev@example.com> ").append(when);
    data("change " + std::to_string(mark) + "\n");
    const int parent = i == 0 ? from : mark - 1;
    if (parent > 0) out += "from :" + std::to_string(parent) + "\n";
    out += "M 644 inline src/f" + std::to_string(mark % 11) + ".txt\n";
    data("one " + std::to_string(mark) + "\ntwo\nthree " + std::to_string(mark * 7) + "\n");
    if (i == key_at) {
      out += "M 644 inline keys/" + std::to_string(mark) + ".env\n";
      data("KEY=" + key + "\n");
    }
  }
  return out;
}

/// Everything a rule can read of a push's scan, as text.
std::string scan_signals(const PushSignals& out) {
  std::string text = std::to_string(out.truncated);
  for (const char* name : {"commits", "files_changed", "lines_added", "lines_deleted", "paths",
                           "secrets", "secret_findings", "large_files", "unsigned_commits",
                           "foreign_authors", "scan_incomplete"}) {
    const Value* v = out.signals.find(name);
    REQUIRE(v != nullptr);
    text += std::string(" ") + name + "=" + to_json(*v);
  }
  return text;
}

TEST_CASE("git signals: commits scanned ahead of the walk report what the walk's scan reports") {
  // main: 1,500 commits, which the remote has; feature: 200 commits on main's 100th. The walk
  // reads main back to the fork to learn that it is hidden; the scan ahead runs down feature's
  // first-parent chain, past its oldest commit into main's, whose runs must be dropped.
  Repo repo;
  repo.git({"fast-import", "--quiet"},
           branch_history("refs/heads/main", 0, 1, 1500, 40, kAwsKey) +
               branch_history("refs/heads/feature", 100, 2001, 200, 150, kAwsKey));
  repo.git({"update-ref", "refs/remotes/origin/main", "refs/heads/main"});
  PushScanLimits never;
  never.scan_ahead_after_us = -1;
  PushScanLimits ahead;
  ahead.scan_ahead_after_us = 0;
  ahead.scan_ahead_at_least = 100000;  // the whole chain, past the push

  const PushSignals walked = push_branch(repo, "feature", never);
  CHECK(walked.scanned_ahead == 0);
  CHECK(walked.signals.get_int("commits") == 200);
  const auto findings = walked.signals.find("secret_findings")->as_list();
  REQUIRE(findings.size() == 1);  // feature's key, not main's
  CHECK(findings.front().find("file")->as_string() == "keys/2151.env");
  int64_t added = 0;
  std::istringstream numstat(
      repo.git({"log", "--no-renames", "--numstat", "--format=", "origin/main..feature"}));
  for (std::string a, d, path; numstat >> a >> d >> path;) added += std::stoll(a);
  CHECK(walked.signals.get_int("lines_added") == added);

  const PushSignals scanned = push_branch(repo, "feature", ahead);
  // Three whole runs of 64 lie in the push; the fourth reaches into main's and is dropped.
  CHECK(scanned.scanned_ahead == 192);
  CHECK(scan_signals(scanned) == scan_signals(walked));

  // Past max_diffed_commits only the newest 150 are the push's scan, and the scan ahead takes no
  // more than that: two runs of 64 and one of 22, all kept.
  never.max_diffed_commits = ahead.max_diffed_commits = 150;
  const PushSignals cut_walked = push_branch(repo, "feature", never);
  const PushSignals cut_scanned = push_branch(repo, "feature", ahead);
  CHECK(cut_walked.truncated);
  CHECK(cut_scanned.scanned_ahead == 150);
  CHECK(scan_signals(cut_scanned) == scan_signals(cut_walked));
}

TEST_CASE("git signals: a first-parent chain that loops is scanned ahead once per commit") {
  // Object ids are not re-hashed on reading (git does not either), so a hostile repository can
  // store under a commit's id a commit whose parent is its own child: A <- B, then A rewritten
  // to name B as its parent. The walk sees B and A once each; the scan ahead goes round the loop.
  Repo repo;
  repo.write("f.txt", "one\n");
  const std::string a = repo.commit("a");
  repo.write("f.txt", "one\ntwo\nAWS_KEY=" + kAwsKey + "\n");
  const std::string b = repo.commit("b");
  const std::string tree = repo.git({"rev-parse", a + "^{tree}"}).substr(0, 40);
  const std::string forged = "tree " + tree + "\nparent " + b +
                             "\nauthor Dev <dev@example.com> 1700000000 +0000\n"
                             "committer Dev <dev@example.com> 1700000000 +0000\n\na\n";
  const std::string object = "commit " + std::to_string(forged.size()) + '\0' + forged;
  const std::string path = repo.path() + "/.git/objects/" + a.substr(0, 2) + "/" + a.substr(2);
  std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  {
    libdeflate_compressor* deflater = libdeflate_alloc_compressor(6);
    REQUIRE(deflater != nullptr);
    std::string packed(libdeflate_zlib_compress_bound(deflater, object.size()), '\0');
    const std::size_t size = libdeflate_zlib_compress(deflater, object.data(), object.size(),
                                                      packed.data(), packed.size());
    libdeflate_free_compressor(deflater);
    REQUIRE(size > 0);
    packed.resize(size);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << packed;
  }
  repo.git({"branch", "feature", b});
  PushScanLimits never;
  never.scan_ahead_after_us = -1;
  PushScanLimits ahead;
  ahead.scan_ahead_after_us = 0;
  ahead.scan_ahead_at_least = 40;  // twenty times round the loop
  const PushSignals walked = push_branch(repo, "feature", never);
  CHECK(walked.signals.get_int("commits") == 2);
  const PushSignals scanned = push_branch(repo, "feature", ahead);
  CHECK(scanned.scanned_ahead == 0);  // the one run repeats commits: dropped
  CHECK(scan_signals(scanned) == scan_signals(walked));
}

}  // namespace
}  // namespace stepgate
