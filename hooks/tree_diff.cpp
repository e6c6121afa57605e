// Which files two trees disagree on: a merge walk over both trees' sorted entries that descends
// only into subtrees whose ids differ. libgit2's git_diff_tree_to_tree does the same walk through
// its generic iterator machinery (pathspecs, attributes, ignore rules) at several times the cost,
// and a pre-push hook runs it once per pushed commit. The trees are read as the raw bytes the
// object database holds (`<mode> <name>\0<id>` per entry) rather than as git_tree objects: a
// walk looks at each entry once, so parsing every entry of both trees into an object first (and
// keeping those objects in the repository's cache) cost more than the walk itself.
#include <cstring>
#include <memory>
#include <string_view>

#include "commit_scan.h"
#include "git_signals.h"

namespace stepgate {
namespace {

struct OdbObjectFree {
  void operator()(git_odb_object* o) const { git_odb_object_free(o); }
};
using OdbObjectPtr = std::unique_ptr<git_odb_object, OdbObjectFree>;

/// One entry of a raw tree. `mode` is normalised as libgit2's git_tree_entry_filemode does.
struct Entry {
  uint32_t mode = 0;
  std::string_view name;
  const unsigned char* id = nullptr;
};

/// libgit2's normalize_filemode: what a mode means, whatever permission bits it carries.
uint32_t normalize_mode(uint32_t mode) {
  constexpr uint32_t kTypeMask = 0170000;
  if ((mode & kTypeMask) == GIT_FILEMODE_TREE) return GIT_FILEMODE_TREE;
  if ((mode & 0111) != 0) return GIT_FILEMODE_BLOB_EXECUTABLE;
  if ((mode & kTypeMask) == GIT_FILEMODE_COMMIT) return GIT_FILEMODE_COMMIT;
  if ((mode & kTypeMask) == GIT_FILEMODE_LINK) return GIT_FILEMODE_LINK;
  return GIT_FILEMODE_BLOB;
}

/// The entries of one tree, in the order the tree stores them (git's tree order). An entry is
/// parsed only when the walk needs its parts: most entries of two versions of a directory are
/// byte for byte the same and are skipped whole.
class RawTree {
 public:
  RawTree() = default;
  explicit RawTree(OdbObjectPtr object) : object_(std::move(object)) {
    // The empty tree's data may be a null pointer (size 0): keep rest_ a valid empty view.
    const auto* data = static_cast<const char*>(git_odb_object_data(object_.get()));
    if (data != nullptr) rest_ = {data, git_odb_object_size(object_.get())};
  }
  [[nodiscard]] bool done() { return rest_.empty() || !parse(); }
  [[nodiscard]] bool malformed() const { return malformed_; }
  /// The current entry; only after done() said false.
  [[nodiscard]] const Entry& entry() const { return entry_; }
  void advance() {
    rest_.remove_prefix(size_);
    parsed_ = false;
  }

  /// The current entry's bytes (mode, name and id), "" when it is malformed or there is none.
  [[nodiscard]] std::string_view raw() const {
    if (rest_.empty()) return {};  // memchr on an empty view's (possibly null) data is undefined
    const void* nul = std::memchr(rest_.data(), '\0', rest_.size());
    if (nul == nullptr) return {};
    const auto end =
        static_cast<std::size_t>(static_cast<const char*>(nul) - rest_.data()) + 1 + GIT_OID_RAWSZ;
    return end <= rest_.size() ? rest_.substr(0, end) : std::string_view();
  }
  /// Moves past an entry whose bytes raw() gave.
  void skip(std::size_t size) {
    rest_.remove_prefix(size);
    parsed_ = false;
  }

 private:
  /// Parses the current entry; one that does not parse ends the walk and marks the tree
  /// malformed (libgit2 refuses to read such a tree at all).
  bool parse() {
    if (parsed_) return true;
    uint32_t mode = 0;
    std::size_t at = 0;
    for (; at < rest_.size() && at < 7 && rest_[at] >= '0' && rest_[at] <= '7'; ++at) {
      mode = mode * 8 + static_cast<uint32_t>(rest_[at] - '0');
    }
    const std::string_view entry = raw();
    if (at == 0 || entry.size() <= at + 1 + 1 + GIT_OID_RAWSZ || rest_[at] != ' ') {
      malformed_ = true;
      rest_ = {};
      return false;
    }
    const std::size_t nul = entry.size() - GIT_OID_RAWSZ - 1;
    entry_.mode = normalize_mode(mode);
    entry_.name = rest_.substr(at + 1, nul - at - 1);
    entry_.id = reinterpret_cast<const unsigned char*>(rest_.data() + nul + 1);
    size_ = entry.size();
    parsed_ = true;
    return true;
  }

  OdbObjectPtr object_;
  std::string_view rest_;
  Entry entry_;
  std::size_t size_ = 0;
  bool parsed_ = false;
  bool malformed_ = false;
};

bool is_tree(const Entry& e) {
  return e.mode == GIT_FILEMODE_TREE;
}

/// git's tree order: names compare bytewise as if a tree's name ended in '/'.
int compare_entries(const Entry& a, const Entry& b) {
  const std::size_t n = std::min(a.name.size(), b.name.size());
  if (int c = std::memcmp(a.name.data(), b.name.data(), n); c != 0) return c;
  const auto next = [n](const Entry& e) -> unsigned char {
    if (e.name.size() > n) return static_cast<unsigned char>(e.name[n]);
    return is_tree(e) ? '/' : '\0';
  };
  const unsigned char ac = next(a);
  const unsigned char bc = next(b);
  return ac < bc ? -1 : (ac > bc ? 1 : 0);
}

bool same_id(const Entry& a, const Entry& b) {
  return std::memcmp(a.id, b.id, GIT_OID_RAWSZ) == 0;
}

/// How deep the walk goes into nested directories. It recurses, on a thread's stack, and a
/// pushed tree is anyone's: 16,000 levels overflowed an 8 MiB stack (git 2.44 and later refuse
/// trees past core.maxTreeDepth, 4096 by default; older ones take any depth). Real repositories
/// stay far below.
constexpr int kMaxTreeDepth = 2048;

class TreeWalk {
 public:
  TreeWalk(git_odb* odb, std::vector<FileChange>& out, TreeCache* cache)
      : odb_(odb), out_(out), cache_(cache) {}

  Result<RawTree> read(const git_oid* id) {
    if (id == nullptr) return RawTree();
    if (cache_ != nullptr) {
      if (git_odb_object* kept = cache_->get(*id); kept != nullptr) {
        return RawTree(OdbObjectPtr(kept));  // a tree when it was kept
      }
    }
    git_odb_object* raw = nullptr;
    if (git_odb_read(&raw, odb_, id) != 0) {
      return make_error(ErrorCode::kInternal, last_git_error("reading a pushed tree"));
    }
    OdbObjectPtr object(raw);
    if (git_odb_object_type(object.get()) != GIT_OBJECT_TREE) {
      return make_error(ErrorCode::kInternal, "reading a pushed tree: the object is not a tree");
    }
    if (cache_ != nullptr) cache_->keep(*id, object.get());
    return RawTree(std::move(object));
  }

  /// Walks two trees (either may be empty); `path_` holds their directory with a trailing '/'.
  Status walk(RawTree old_tree, RawTree new_tree) {
    for (;;) {
      // The same entry in both trees (most of them, between two versions of a directory):
      // skipped on its bytes, without parsing it.
      if (const std::string_view same = old_tree.raw(); !same.empty() && same == new_tree.raw()) {
        old_tree.skip(same.size());
        new_tree.skip(same.size());
        continue;
      }
      const bool old_done = old_tree.done();
      const bool new_done = new_tree.done();
      if (old_done && new_done) break;
      const Entry* a = old_done ? nullptr : &old_tree.entry();
      const Entry* b = new_done ? nullptr : &new_tree.entry();
      const int order = a == nullptr ? 1 : (b == nullptr ? -1 : compare_entries(*a, *b));
      Status s = order < 0 ? side(a, nullptr) : order > 0 ? side(nullptr, b) : both(*a, *b);
      if (!s.ok()) return s;
      if (order <= 0) old_tree.advance();
      if (order >= 0) new_tree.advance();
    }
    if (old_tree.malformed() || new_tree.malformed()) {
      return make_error(ErrorCode::kInternal, "reading a pushed tree: malformed tree entry");
    }
    return {};
  }

 private:
  void add_file(const Entry* a, const Entry* b) {
    FileChange& c = out_.emplace_back();
    c.path = path_;
    if (a != nullptr) {
      git_oid_fromraw(&c.old_id, a->id);
      c.old_mode = a->mode;
    }
    if (b != nullptr) {
      git_oid_fromraw(&c.new_id, b->id);
      c.new_mode = b->mode;
    }
  }

  /// Walks into the subtree(s) named `name`, with `path_` extended by it for the time.
  Status descend(std::string_view name, const Entry* a, const Entry* b) {
    if (depth_ >= kMaxTreeDepth) {
      return make_error(ErrorCode::kResourceExhausted,
                        "a pushed tree nests directories deeper than the limit of " +
                            std::to_string(kMaxTreeDepth) + " levels");
    }
    const std::size_t length = path_.size();
    path_.append(name).push_back('/');
    git_oid old_id;
    git_oid new_id;
    if (a != nullptr) git_oid_fromraw(&old_id, a->id);
    if (b != nullptr) git_oid_fromraw(&new_id, b->id);
    auto old_tree = read(a != nullptr ? &old_id : nullptr);
    if (!old_tree.ok()) return old_tree.error();
    auto new_tree = read(b != nullptr ? &new_id : nullptr);
    if (!new_tree.ok()) return new_tree.error();
    ++depth_;
    Status s = walk(std::move(*old_tree), std::move(*new_tree));
    --depth_;
    path_.resize(length);
    return s;
  }

  /// An entry only one tree has: a whole subtree added or deleted, or one file.
  Status side(const Entry* a, const Entry* b) {
    const Entry& e = a != nullptr ? *a : *b;
    if (is_tree(e)) return descend(e.name, a, b);
    const std::size_t length = path_.size();
    path_.append(e.name);
    add_file(a, b);
    path_.resize(length);
    return {};
  }

  /// The same name (and kind) in both trees.
  Status both(const Entry& a, const Entry& b) {
    if (same_id(a, b) && a.mode == b.mode) return {};
    if (is_tree(a)) return descend(a.name, &a, &b);
    const std::size_t length = path_.size();
    path_.append(a.name);
    add_file(&a, &b);
    path_.resize(length);
    return {};
  }

  git_odb* odb_;
  std::vector<FileChange>& out_;
  TreeCache* cache_;
  int depth_ = 0;  // directories walked into from the root
  std::string path_;
};

}  // namespace

TreeCache::~TreeCache() {
  release(newer_);
  release(older_);
}

void TreeCache::release(std::vector<Kept>& kept) {
  for (const Kept& k : kept) git_odb_object_free(k.object);
  kept.clear();
}

void TreeCache::next_generation() {
  release(older_);
  std::swap(older_, newer_);
}

git_odb_object* TreeCache::get(const git_oid& id) {
  for (const std::vector<Kept>* generation : {&newer_, &older_}) {
    for (const Kept& k : *generation) {
      if (git_oid_equal(&k.id, &id) == 0) continue;
      git_odb_object* copy = nullptr;
      if (git_odb_object_dup(&copy, k.object) != 0) return nullptr;
      if (generation == &older_) keep(id, k.object);  // read again: kept another generation
      return copy;
    }
  }
  return nullptr;
}

void TreeCache::keep(const git_oid& id, git_odb_object* object) {
  if (newer_.size() >= kPerGeneration) return;
  for (const Kept& k : newer_) {
    if (git_oid_equal(&k.id, &id) != 0) return;
  }
  git_odb_object* copy = nullptr;
  if (git_odb_object_dup(&copy, object) != 0) return;
  newer_.push_back({id, copy});
}

Status diff_trees(git_odb* odb, const git_oid* old_tree, const git_oid* new_tree,
                  std::vector<FileChange>& out, TreeCache* cache) {
  TreeWalk walk(odb, out, cache);
  auto old_raw = walk.read(old_tree);
  if (!old_raw.ok()) return old_raw.error();
  auto new_raw = walk.read(new_tree);
  if (!new_raw.ok()) return new_raw.error();
  return walk.walk(std::move(*old_raw), std::move(*new_raw));
}

}  // namespace stepgate
