// Which files two trees disagree on: a merge walk over both trees' sorted entries that descends
// only into subtrees whose ids differ. libgit2's git_diff_tree_to_tree does the same walk through
// its generic iterator machinery (pathspecs, attributes, ignore rules) at several times the cost,
// and a pre-push hook runs it once per pushed commit.
#include <cstring>
#include <memory>
#include <string_view>

#include "commit_scan.h"
#include "git_signals.h"

namespace stepgate {
namespace {

struct TreeFree {
  void operator()(git_tree* t) const { git_tree_free(t); }
};
using TreePtr = std::unique_ptr<git_tree, TreeFree>;

bool is_tree(const git_tree_entry* e) {
  return git_tree_entry_filemode(e) == GIT_FILEMODE_TREE;
}

/// git's tree order: names compare bytewise as if a tree's name ended in '/'.
int compare_entries(const git_tree_entry* a, const git_tree_entry* b) {
  const std::string_view an = git_tree_entry_name(a);
  const std::string_view bn = git_tree_entry_name(b);
  const std::size_t n = std::min(an.size(), bn.size());
  if (int c = std::memcmp(an.data(), bn.data(), n); c != 0) return c;
  const auto next = [n](std::string_view name, const git_tree_entry* e) -> unsigned char {
    if (name.size() > n) return static_cast<unsigned char>(name[n]);
    return is_tree(e) ? '/' : '\0';
  };
  const unsigned char ac = next(an, a);
  const unsigned char bc = next(bn, b);
  return ac < bc ? -1 : (ac > bc ? 1 : 0);
}

class TreeWalk {
 public:
  TreeWalk(git_repository* repo, std::vector<FileChange>& out) : repo_(repo), out_(out) {}

  Status walk(const git_tree* old_tree, const git_tree* new_tree, const std::string& prefix) {
    const std::size_t old_n = old_tree != nullptr ? git_tree_entrycount(old_tree) : 0;
    const std::size_t new_n = new_tree != nullptr ? git_tree_entrycount(new_tree) : 0;
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < old_n || j < new_n) {
      const git_tree_entry* a = i < old_n ? git_tree_entry_byindex(old_tree, i) : nullptr;
      const git_tree_entry* b = j < new_n ? git_tree_entry_byindex(new_tree, j) : nullptr;
      const int order = a == nullptr ? 1 : (b == nullptr ? -1 : compare_entries(a, b));
      if (order <= 0) ++i;
      if (order >= 0) ++j;
      Status s = order < 0   ? side(a, nullptr, prefix)
                 : order > 0 ? side(nullptr, b, prefix)
                             : both(a, b, prefix);
      if (!s.ok()) return s;
    }
    return {};
  }

 private:
  Result<TreePtr> subtree(const git_tree_entry* e) {
    if (e == nullptr || !is_tree(e)) return TreePtr();
    git_tree* t = nullptr;
    if (git_tree_lookup(&t, repo_, git_tree_entry_id(e)) != 0) {
      return make_error(ErrorCode::kInternal, last_git_error("reading a pushed tree"));
    }
    return TreePtr(t);
  }

  void add_file(const git_tree_entry* a, const git_tree_entry* b, const std::string& path) {
    FileChange c;
    c.path = path;
    if (a != nullptr) {
      git_oid_cpy(&c.old_id, git_tree_entry_id(a));
      c.old_mode = static_cast<uint32_t>(git_tree_entry_filemode(a));
    }
    if (b != nullptr) {
      git_oid_cpy(&c.new_id, git_tree_entry_id(b));
      c.new_mode = static_cast<uint32_t>(git_tree_entry_filemode(b));
    }
    out_.push_back(std::move(c));
  }

  /// An entry only one tree has: a whole subtree added or deleted, or one file.
  Status side(const git_tree_entry* a, const git_tree_entry* b, const std::string& prefix) {
    const git_tree_entry* e = a != nullptr ? a : b;
    const std::string path = prefix + git_tree_entry_name(e);
    if (!is_tree(e)) {
      add_file(a, b, path);
      return {};
    }
    auto t = subtree(e);
    if (!t.ok()) return t.error();
    return a != nullptr ? walk(t->get(), nullptr, path + "/") : walk(nullptr, t->get(), path + "/");
  }

  /// The same name (and kind) in both trees.
  Status both(const git_tree_entry* a, const git_tree_entry* b, const std::string& prefix) {
    if (git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b)) != 0 &&
        git_tree_entry_filemode(a) == git_tree_entry_filemode(b)) {
      return {};
    }
    const std::string path = prefix + git_tree_entry_name(a);
    if (!is_tree(a)) {
      add_file(a, b, path);
      return {};
    }
    auto old_sub = subtree(a);
    if (!old_sub.ok()) return old_sub.error();
    auto new_sub = subtree(b);
    if (!new_sub.ok()) return new_sub.error();
    return walk(old_sub->get(), new_sub->get(), path + "/");
  }

  git_repository* repo_;
  std::vector<FileChange>& out_;
};

}  // namespace

Status diff_trees(git_repository* repo, const git_tree* old_tree, const git_tree* new_tree,
                  std::vector<FileChange>& out) {
  return TreeWalk(repo, out).walk(old_tree, new_tree, "");
}

}  // namespace stepgate
