// The pack reader as a libgit2 odb backend (see pack_reader.h).
#include <git2.h>
#include <git2/sys/odb_backend.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "pack_reader.h"

namespace stepgate {

namespace {

// Packs per repository read by this reader; past it, libgit2 reads the rest.
constexpr std::size_t kMaxPacks = 1024;

struct Packs {
  std::mutex mu;  // libgit2 may call one odb from several threads
  std::vector<std::unique_ptr<PackReader>> readers;
};

/// The odb backend: the packs of the repository's object directories, read before libgit2's
/// loose and pack backends; "not found" sends libgit2 on to its own. Standard layout, so that the
/// git_odb_backend* libgit2 hands back is a pointer to it.
struct PackBackend {
  git_odb_backend parent;
  Packs* packs;
};
static_assert(std::is_standard_layout_v<PackBackend>);

Packs& packs_of(git_odb_backend* parent) {
  return *reinterpret_cast<PackBackend*>(parent)->packs;
}

void* backend_alloc(void* context, std::size_t size) {
  return git_odb_backend_data_alloc(static_cast<git_odb_backend*>(context), size);
}

void backend_release(void* context, void* data) {
  git_odb_backend_data_free(static_cast<git_odb_backend*>(context), data);
}

int backend_read(void** data, std::size_t* size, git_object_t* type, git_odb_backend* parent,
                 const git_oid* id) {
  Packs& packs = packs_of(parent);
  const PackReader::Memory memory{&backend_alloc, &backend_release, parent};
  std::lock_guard lock(packs.mu);
  // One index lookup per pack: a pack that does not list the object, or whose entry this reader
  // does not take, is passed over; none left, libgit2 reads it.
  for (auto& pack : packs.readers) {
    int t = 0;
    if (pack->read(id->id, memory, data, size, &t)) {
      *type = static_cast<git_object_t>(t);  // the pack's numbering is git_object_t's
      return 0;
    }
  }
  return GIT_ENOTFOUND;
}

int backend_read_header(std::size_t* size, git_object_t* type, git_odb_backend* parent,
                        const git_oid* id) {
  Packs& packs = packs_of(parent);
  std::lock_guard lock(packs.mu);
  for (auto& pack : packs.readers) {
    int t = 0;
    if (pack->read_header(id->id, size, &t)) {
      *type = static_cast<git_object_t>(t);
      return 0;
    }
  }
  return GIT_ENOTFOUND;
}

void backend_free(git_odb_backend* parent) {
  auto* backend = reinterpret_cast<PackBackend*>(parent);
  delete backend->packs;  // NOLINT(cppcoreguidelines-owning-memory)
  delete backend;         // NOLINT(cppcoreguidelines-owning-memory)
}

/// The pack indexes in `dir`/pack, sorted; none when it cannot be listed.
std::vector<std::string> pack_indexes(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir + "/pack", ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with("pack-") && name.ends_with(".idx")) out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

bool add_pack_readers(git_repository* repo, const std::vector<std::string>& object_dirs) {
  auto packs = std::make_unique<Packs>();
  for (const std::string& dir : object_dirs) {
    for (const std::string& path : pack_indexes(dir)) {
      if (packs->readers.size() >= kMaxPacks) break;
      if (auto reader = PackReader::open(path)) packs->readers.push_back(std::move(reader));
    }
  }
  if (packs->readers.empty()) return true;
  auto backend = std::make_unique<PackBackend>();
  if (git_odb_init_backend(&backend->parent, GIT_ODB_BACKEND_VERSION) != 0) return false;
  backend->parent.read = &backend_read;
  backend->parent.read_header = &backend_read_header;
  backend->parent.free = &backend_free;
  git_odb* odb = nullptr;
  if (git_repository_odb(&odb, repo) != 0) return false;
  // Ahead of libgit2's own (loose 1, packed 2).
  constexpr int kPriority = 100;
  backend->packs = packs.get();
  const bool added = git_odb_add_backend(odb, &backend->parent, kPriority) == 0;
  if (added) {  // the odb frees both (backend_free)
    (void)packs.release();
    (void)backend.release();
  }
  git_odb_free(odb);
  return added;
}

}  // namespace stepgate
