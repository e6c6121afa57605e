#pragma once
// Reads objects straight from a repository's packs, ahead of libgit2's own reader (#21 §3).
//
// libgit2 inflates every pack entry through zlib's stream interface; libdeflate inflates a whole
// entry at once in about 0.4x zlib's time, which on a push carrying tens of megabytes is most of
// the hook. A PackReader maps one pack and its version-2 index, finds an object in the index
// (starting where its id says it should be), walks its OFS/REF delta chain (through a small cache
// of bases, as libgit2 does) and applies git's delta format; the commits it inflates it keeps a
// while, for the walking thread's second read. It serves only what it is sure of: anything else
// (an object not in its packs, a loose object, a corrupt entry, a chain too deep, an object too
// large) is answered "not here", and libgit2 reads it as it always did. Every read of the mapped
// files is bounds-checked: the repository may be hostile.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct git_repository;
struct libdeflate_decompressor;

namespace stepgate {

class PackReader {
 public:
  /// git's object types (the pack's own numbering).
  static constexpr int kCommit = 1;
  static constexpr int kTree = 2;
  static constexpr int kBlob = 3;
  static constexpr int kTag = 4;
  /// Objects over this size are left to libgit2 (their memory is not ours to commit).
  static constexpr std::size_t kMaxObjectBytes = std::size_t{1} << 30;
  /// git pack-objects never writes a chain deeper than 4095; a longer one (a cycle of REF
  /// deltas) is left to libgit2.
  static constexpr std::size_t kMaxChain = 4096;
  /// Where a read object goes (libgit2's git_odb_backend_data_alloc and _free): `alloc` returns
  /// nullptr on failure; `release` takes back what a failed read had allocated.
  struct Memory {
    void* (*alloc)(void* context, std::size_t size);
    void (*release)(void* context, void* data);
    void* context;
  };

  /// Maps `idx_path` (a pack-*.idx) and the .pack beside it; nullptr when they are not a
  /// version-2 index of SHA-1 ids and the pack it describes (checked: sizes, fanout, object
  /// count, the pack's checksum as the index records it).
  static std::unique_ptr<PackReader> open(const std::string& idx_path);
  /// The same over bytes the caller keeps alive (tests, the fuzzer, which lowers the size limit
  /// to stay within its memory limit).
  static std::unique_ptr<PackReader> over(std::string_view idx, std::string_view pack,
                                          std::size_t max_object_bytes = kMaxObjectBytes);

  ~PackReader();
  PackReader(const PackReader&) = delete;
  PackReader& operator=(const PackReader&) = delete;

  /// How many reads were answered from the commits kept since their first read (tests, benches).
  [[nodiscard]] std::size_t commits_recalled() const { return commits_recalled_; }

  /// Whether object `id` (20 bytes) is listed in this pack's index.
  [[nodiscard]] bool contains(const unsigned char* id) const;
  /// Reads object `id` (20 bytes): on true, `*data` (from `memory`, owned by the caller) holds
  /// `*size` bytes of an object of `*type`. False when this pack does not list it, or its entry
  /// is one this reader does not take (see above).
  bool read(const unsigned char* id, const Memory& memory, void** data, std::size_t* size,
            int* type);

  /// The size and type of object `id` without reading it whole: a whole entry's header, or a
  /// delta's (its chain's headers for the type, the delta itself inflated for the size). False as
  /// read() is, and for a delta over kMaxHeaderDelta bytes.
  bool read_header(const unsigned char* id, std::size_t* size, int* type);
  /// Deltas larger than this are not inflated for their size alone.
  static constexpr std::size_t kMaxHeaderDelta = std::size_t{1} << 20;

  /// The ids listed in the index, in its order (tests, the fuzzer).
  [[nodiscard]] std::size_t object_count() const { return count_; }
  [[nodiscard]] const unsigned char* id_at(std::size_t i) const { return ids_ + i * 20; }

 private:
  PackReader() = default;
  struct Entry;
  /// An object's bytes, not zero-filled first (every byte is written by the inflate or delta).
  struct Buffer {
    explicit Buffer(std::size_t n) : bytes(new char[n]), size(n) {}
    std::unique_ptr<char[]> bytes;
    std::size_t size;
    [[nodiscard]] std::string_view view() const { return {bytes.get(), size}; }
  };
  using Bytes = std::shared_ptr<const Buffer>;
  bool init();
  [[nodiscard]] bool offset_of(const unsigned char* id, uint64_t* offset) const;
  /// The pack offset the index gives its entry number `index`; false when it is out of range.
  [[nodiscard]] bool offset_at(uint32_t index, uint64_t* offset) const;
  bool entry_at(uint64_t offset, Entry* e) const;
  bool inflate(const Entry& e, char* out) const;
  Bytes resolve(uint64_t offset, int* type);
  bool inflate_scratch(const Entry& e);
  /// The inflated delta's base and result sizes, and where its operations start.
  bool delta_header(uint64_t* base_size, uint64_t* size, const unsigned char** ops) const;
  bool inflate_delta(const Entry& e, std::string_view base, const unsigned char** ops,
                     uint64_t* size);
  void remember(uint64_t offset, int type, const Bytes& data);
  [[nodiscard]] const unsigned char* delta_end() const {
    return reinterpret_cast<const unsigned char*>(delta_.get()) + delta_size_;
  }

  std::string_view idx_;
  std::string_view pack_;
  void* idx_map_ = nullptr;  // munmapped by the destructor (open only)
  void* pack_map_ = nullptr;
  const unsigned char* fanout_ = nullptr;
  const unsigned char* ids_ = nullptr;
  const unsigned char* offsets_ = nullptr;
  const unsigned char* large_ = nullptr;
  std::size_t count_ = 0;
  std::size_t large_count_ = 0;
  std::size_t max_object_ = kMaxObjectBytes;
  libdeflate_decompressor* inflater_ = nullptr;
  libdeflate_decompressor* fixed_inflater_ = nullptr;  // entries starting with a fixed-code block
  // Resolved bases, by pack offset; up to 512 KiB each, 1 MiB in all, oldest out first (see
  // kBaseCache).
  struct Cached {
    int type;
    Bytes data;
  };
  std::unordered_map<uint64_t, Cached> bases_;
  std::deque<uint64_t> base_order_;
  std::size_t base_bytes_ = 0;
  // Commits inflated lately, by pack offset. libgit2's walk reads every commit of a push, and the
  // walking thread then scans the oldest first, reading each again: a ~200-byte commit inflates
  // in ~1.9 us, most of it building its Huffman tables, and copying it back costs ~0.1. Their
  // bytes go round a ring (kRecentBytes), found through a direct-mapped index; both are made only
  // once kRecentAfter commits were inflated, so a small push never pays for them.
  struct RecentSlot {
    uint64_t offset = 0;  // 0: empty (no entry starts before the pack's header ends)
    uint64_t start = 0;   // where its bytes begin, counted over everything ever written
    uint32_t size = 0;
  };
  [[nodiscard]] bool recall_commit(uint64_t offset, const Memory& memory, void** data,
                                   std::size_t* size);
  void keep_commit(uint64_t offset, const char* bytes, std::size_t size);
  std::unique_ptr<char[]> recent_;
  std::unique_ptr<RecentSlot[]> recent_slots_;
  uint64_t recent_written_ = 0;
  std::size_t commits_inflated_ = 0;
  std::size_t commits_recalled_ = 0;
  std::unique_ptr<char[]> delta_;  // scratch: the delta being applied
  std::size_t delta_size_ = 0;
  std::size_t delta_capacity_ = 0;
};

/// Puts a reader of the packs in `object_dirs` (each an objects directory) ahead of libgit2's own
/// backends in `repo`'s object database. Directories without packs are skipped. False only when
/// libgit2 refused the backend (the repository then reads as before). Not used when the
/// environment sets STEPGATE_GIT_READER=libgit2 (the caller checks).
bool add_pack_readers(git_repository* repo, const std::vector<std::string>& object_dirs);

}  // namespace stepgate
