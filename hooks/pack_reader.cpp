#include "pack_reader.h"

#include <fcntl.h>
#include <libdeflate.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace stepgate {

namespace {

constexpr uint32_t kIdxMagic = 0xff744f63;  // "\377tOc"
constexpr std::size_t kIdHeader = 8;        // magic, version
constexpr std::size_t kFanout = std::size_t{256} * 4;
constexpr std::size_t kId = 20;
constexpr std::size_t kTrailer = 2 * kId;  // the pack's checksum, then the index's own
constexpr std::size_t kPackHeader = 12;    // "PACK", version, object count
constexpr int kOfsDelta = 6;
constexpr int kRefDelta = 7;
// The base cache: 1 MiB per reader, not libgit2's 16. Every byte of it is fresh memory the first
// time, and on this project's VM a page fault costs ~6 us, and a larger working set misses the
// caches more. With 16 MiB per scan thread the 10,000-commit push took 17.4k faults and 472-487 ms
// of CPU, with 4 MiB 11.8k and 402-410 ms (2026-12-06). Once the scanner kept its diffed old sides
// (commit_scan.h), 1 MiB took 198-222 ms of CPU against 218-260 with 4 MiB (2,000 faults fewer),
// the 51 MB scan push 10% less wall time, and 300 versions of a 250 KB file with 50-deep chains
// 0.61-0.70 s against 1.10-1.37 s; 256 KiB was about as fast, and none at all doubled the
// 10,000-commit push (its chains re-resolved). A base over half of it is not kept.
constexpr std::size_t kBaseCache = std::size_t{1} << 20;
constexpr std::size_t kMaxBase = kBaseCache / 2;

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

uint64_t be64(const unsigned char* p) {
  return (uint64_t{be32(p)} << 32) | be32(p + 4);
}

/// memcmp's order on two object ids, the first eight bytes compared as one number.
int compare_ids(const unsigned char* a, const unsigned char* b) {
  const uint64_t x = be64(a);
  const uint64_t y = be64(b);
  if (x != y) return x < y ? -1 : 1;
  return std::memcmp(a + 8, b + 8, kId - 8);
}

/// Maps a whole regular file read-only; {nullptr, 0} when it cannot (or it is empty). Non-blocking
/// open: a FIFO planted in place of a pack must not hang the hook.
std::pair<void*, std::size_t> map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return {nullptr, 0};
  struct stat st {};
  void* map = MAP_FAILED;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    map = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  }
  ::close(fd);
  if (map == MAP_FAILED) return {nullptr, 0};
  return {map, static_cast<std::size_t>(st.st_size)};
}

/// A delta's header sizes (git's varint: seven bits a byte, least significant first).
bool delta_size(const unsigned char*& p, const unsigned char* end, uint64_t* out) {
  uint64_t v = 0;
  for (unsigned shift = 0;; shift += 7) {
    if (p >= end || shift > 63) return false;
    const unsigned c = *p++;
    v |= uint64_t{c & 0x7fU} << shift;
    if ((c & 0x80U) == 0) break;
  }
  *out = v;
  return true;
}

/// Applies git's delta format: `delta` (its two sizes already read, `p` past them) to `base`,
/// writing exactly `size` bytes at `out`.
bool apply_delta(const unsigned char* p, const unsigned char* end, std::string_view base, char* out,
                 uint64_t size) {
  uint64_t at = 0;
  while (p < end) {
    const unsigned op = *p++;
    if ((op & 0x80U) != 0) {  // copy from the base
      uint64_t from = 0;
      uint64_t len = 0;
      for (unsigned i = 0; i < 4; ++i) {
        if ((op & (1U << i)) == 0) continue;
        if (p >= end) return false;
        from |= uint64_t{*p++} << (8 * i);
      }
      for (unsigned i = 0; i < 3; ++i) {
        if ((op & (0x10U << i)) == 0) continue;
        if (p >= end) return false;
        len |= uint64_t{*p++} << (8 * i);
      }
      if (len == 0) len = 0x10000;
      if (from > base.size() || len > base.size() - from || len > size - at) return false;
      std::memcpy(out + at, base.data() + from, len);
      at += len;
    } else if (op != 0) {  // insert the next `op` bytes
      if (op > static_cast<uint64_t>(end - p) || op > size - at) return false;
      std::memcpy(out + at, p, op);
      p += op;
      at += op;
    } else {
      return false;  // reserved
    }
  }
  return at == size;
}

}  // namespace

struct PackReader::Entry {
  uint64_t offset = 0;
  int type = 0;
  uint64_t size = 0;  // inflated: the object's, or the delta's
  uint64_t base = 0;  // a delta's base, as a pack offset
  const unsigned char* data = nullptr;
  std::size_t avail = 0;  // bytes from `data` to the pack's trailer
};

std::unique_ptr<PackReader> PackReader::open(const std::string& idx_path) {
  constexpr std::string_view kIdx = ".idx";
  if (idx_path.size() <= kIdx.size() ||
      idx_path.compare(idx_path.size() - kIdx.size(), kIdx.size(), kIdx) != 0) {
    return nullptr;
  }
  auto [idx, idx_size] = map_file(idx_path);
  if (idx == nullptr) return nullptr;
  auto [pack, pack_size] =
      map_file(idx_path.substr(0, idx_path.size() - kIdx.size()).append(".pack"));
  std::unique_ptr<PackReader> r(new PackReader());
  r->idx_map_ = idx;
  r->pack_map_ = pack;
  r->idx_ = {static_cast<const char*>(idx), idx_size};
  r->pack_ = {static_cast<const char*>(pack), pack_size};
  if (pack == nullptr || !r->init()) return nullptr;
  return r;
}

std::unique_ptr<PackReader> PackReader::over(std::string_view idx, std::string_view pack,
                                             std::size_t max_object_bytes) {
  std::unique_ptr<PackReader> r(new PackReader());
  r->max_object_ = std::min(max_object_bytes, kMaxObjectBytes);
  r->idx_ = idx;
  r->pack_ = pack;
  if (!r->init()) return nullptr;
  return r;
}

PackReader::~PackReader() {
  if (inflater_ != nullptr) libdeflate_free_decompressor(inflater_);
  if (fixed_inflater_ != nullptr) libdeflate_free_decompressor(fixed_inflater_);
  if (idx_map_ != nullptr) ::munmap(idx_map_, idx_.size());
  if (pack_map_ != nullptr) ::munmap(pack_map_, pack_.size());
}

bool PackReader::init() {
  const auto* idx = reinterpret_cast<const unsigned char*>(idx_.data());
  const std::size_t size = idx_.size();
  if (size < kIdHeader + kFanout + kTrailer || be32(idx) != kIdxMagic || be32(idx + 4) != 2) {
    return false;
  }
  fanout_ = idx + kIdHeader;
  uint32_t last = 0;
  for (std::size_t i = 0; i < 256; ++i) {
    const uint32_t n = be32(fanout_ + i * 4);
    if (n < last) return false;  // the binary search's bounds come from here
    last = n;
  }
  count_ = last;
  // Ids, CRCs and 4-byte offsets for each object, then 8-byte offsets, then the trailer: the size
  // must say how many 8-byte offsets there are, exactly.
  const std::size_t fixed = kIdHeader + kFanout + kTrailer;
  const std::size_t per_object = kId + 4 + 4;
  if (count_ > (size - fixed) / per_object) return false;
  const std::size_t rest = size - fixed - count_ * per_object;
  if (rest % 8 != 0) return false;
  large_count_ = rest / 8;
  ids_ = fanout_ + kFanout;
  offsets_ = ids_ + count_ * (kId + 4);
  large_ = offsets_ + count_ * 4;
  const auto* pack = reinterpret_cast<const unsigned char*>(pack_.data());
  if (pack_.size() < kPackHeader + kId || std::memcmp(pack, "PACK", 4) != 0) return false;
  const uint32_t version = be32(pack + 4);
  if ((version != 2 && version != 3) || be32(pack + 8) != count_) return false;
  // The index names its pack by the pack's trailing checksum.
  if (std::memcmp(pack + pack_.size() - kId, idx + size - kTrailer, kId) != 0) return false;
  inflater_ = libdeflate_alloc_decompressor();
  fixed_inflater_ = libdeflate_alloc_decompressor();
  return inflater_ != nullptr && fixed_inflater_ != nullptr;
}

bool PackReader::offset_at(uint32_t index, uint64_t* offset) const {
  const uint32_t small = be32(offsets_ + std::size_t{index} * 4);
  if ((small & 0x80000000U) == 0) {
    *offset = small;
    return true;
  }
  const std::size_t at = small & 0x7fffffffU;
  if (at >= large_count_) return false;
  const unsigned char* p = large_ + at * 8;
  *offset = (uint64_t{be32(p)} << 32) | be32(p + 4);
  return true;
}

bool PackReader::offset_of(const unsigned char* id, uint64_t* offset) const {
  const std::size_t first = id[0];
  uint32_t lo = first == 0 ? 0 : be32(fanout_ + (first - 1) * 4);
  uint32_t hi = be32(fanout_ + first * 4);
  if (lo >= hi) return false;
  const auto compare = [&](uint32_t at) { return compare_ids(ids_ + std::size_t{at} * kId, id); };
  // Ids are hashes, spread evenly over their first byte's range: an object's entry sits close to
  // where its next bits put it. One guess there and a few steps over the entries beside it (three
  // to a cache line) find most objects; a binary search takes over where they do not (an index
  // with ids bunched up). On the 10,000-commit push a binary search missed the cache ~8 times
  // a lookup, 60k lookups.
  const uint64_t fraction = be64(id) << 8 >> 32;  // the 32 bits after the first byte
  const uint32_t guess = lo + static_cast<uint32_t>((fraction * (hi - lo)) >> 32);
  constexpr int kSteps = 8;
  int c = compare(guess);
  if (c == 0) return offset_at(guess, offset);
  if (c < 0) {  // the entry is past the guess
    lo = guess + 1;
    for (int step = 0; step < kSteps && lo < hi; ++step, ++lo) {
      c = compare(lo);
      if (c == 0) return offset_at(lo, offset);
      if (c > 0) return false;
    }
  } else {  // before it
    hi = guess;
    for (int step = 0; step < kSteps && lo < hi; ++step, --hi) {
      c = compare(hi - 1);
      if (c == 0) return offset_at(hi - 1, offset);
      if (c < 0) return false;
    }
  }
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    c = compare(mid);
    if (c == 0) return offset_at(mid, offset);
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return false;
}

bool PackReader::contains(const unsigned char* id) const {
  uint64_t offset = 0;
  return offset_of(id, &offset);
}

bool PackReader::entry_at(uint64_t offset, Entry* e) const {
  const std::size_t end = pack_.size() - kId;  // the trailer is no entry's
  if (offset < kPackHeader || offset >= end) return false;
  const auto* base = reinterpret_cast<const unsigned char*>(pack_.data());
  const unsigned char* p = base + offset;
  const unsigned char* stop = base + end;
  unsigned c = *p++;
  e->offset = offset;
  e->type = static_cast<int>((c >> 4) & 7U);
  e->size = c & 15U;
  for (unsigned shift = 4; (c & 0x80U) != 0; shift += 7) {
    if (p >= stop || shift > 60) return false;
    c = *p++;
    e->size |= uint64_t{c & 0x7fU} << shift;
  }
  if (e->type == kOfsDelta) {
    if (p >= stop) return false;
    c = *p++;
    uint64_t back = c & 0x7fU;
    while ((c & 0x80U) != 0) {
      if (p >= stop || back > (UINT64_MAX >> 7) - 1) return false;
      c = *p++;
      back = ((back + 1) << 7) | (c & 0x7fU);
    }
    // A base lies before its delta: the chain ends.
    if (back == 0 || back > offset - kPackHeader) return false;
    e->base = offset - back;
  } else if (e->type == kRefDelta) {
    if (static_cast<std::size_t>(stop - p) < kId || !offset_of(p, &e->base)) return false;
    p += kId;
  } else if (e->type < kCommit || e->type > kTag) {
    return false;
  }
  e->data = p;
  e->avail = static_cast<std::size_t>(stop - p);
  return true;
}

bool PackReader::inflate(const Entry& e, char* out) const {
  std::size_t used = 0;
  std::size_t got = 0;
  // The first block's type is in the three bits after the two-byte zlib header. libdeflate keeps
  // the fixed-code tables it built only until it decodes a block with tables of its own, and
  // building them costs more than inflating a small commit or tree: entries whose first block
  // uses the fixed codes get a decompressor that never sees another kind.
  constexpr unsigned kFixedCodes = 1;
  const bool fixed = e.avail > 2 && ((e.data[2] >> 1) & 3U) == kFixedCodes;
  libdeflate_decompressor* inflater = fixed ? fixed_inflater_ : inflater_;
  return libdeflate_zlib_decompress_ex(inflater, e.data, e.avail, out, e.size, &used, &got) ==
             LIBDEFLATE_SUCCESS &&
         got == e.size;
}

PackReader::Bytes PackReader::resolve(uint64_t offset, int* type) {
  // Down the chain to a whole object or a cached base, then the deltas applied back up.
  std::vector<Entry> deltas;
  Bytes data;
  for (uint64_t at = offset;;) {
    if (auto hit = bases_.find(at); hit != bases_.end()) {
      data = hit->second.data;
      *type = hit->second.type;
      break;
    }
    Entry e;
    if (!entry_at(at, &e)) return nullptr;
    if (e.type != kOfsDelta && e.type != kRefDelta) {
      if (e.size > max_object_) return nullptr;
      auto whole = std::make_shared<Buffer>(e.size);
      if (!inflate(e, whole->bytes.get())) return nullptr;
      data = std::move(whole);
      *type = e.type;
      remember(at, e.type, data);
      break;
    }
    if (deltas.size() + 1 >= kMaxChain) return nullptr;  // with the delta read()'s caller holds
    deltas.push_back(e);
    at = e.base;
  }
  std::reverse(deltas.begin(), deltas.end());  // innermost first
  for (const Entry& d : deltas) {
    const unsigned char* ops = nullptr;
    uint64_t size = 0;
    if (!inflate_delta(d, data->view(), &ops, &size)) return nullptr;
    auto next = std::make_shared<Buffer>(size);
    if (!apply_delta(ops, delta_end(), data->view(), next->bytes.get(), size)) return nullptr;
    data = std::move(next);
    remember(d.offset, *type, data);
  }
  return data;
}

bool PackReader::inflate_scratch(const Entry& e) {
  if (e.size > delta_capacity_) {
    delta_capacity_ = std::max<std::size_t>(e.size, 2 * delta_capacity_);
    delta_.reset(new char[delta_capacity_]);
  }
  delta_size_ = e.size;
  return inflate(e, delta_.get());
}

bool PackReader::inflate_delta(const Entry& e, std::string_view base, const unsigned char** ops,
                               uint64_t* size) {
  uint64_t base_size = 0;
  return e.size <= max_object_ && inflate_scratch(e) && delta_header(&base_size, size, ops) &&
         base_size == base.size();
}

bool PackReader::delta_header(uint64_t* base_size, uint64_t* size,
                              const unsigned char** ops) const {
  const auto* p = reinterpret_cast<const unsigned char*>(delta_.get());
  if (!delta_size(p, delta_end(), base_size) || !delta_size(p, delta_end(), size) ||
      *size > max_object_) {
    return false;
  }
  *ops = p;
  return true;
}

void PackReader::remember(uint64_t offset, int type, const Bytes& data) {
  if (data->size > kMaxBase || bases_.contains(offset)) return;
  while (base_bytes_ + data->size > kBaseCache && !base_order_.empty()) {
    auto old = bases_.find(base_order_.front());
    base_bytes_ -= old->second.data->size;
    bases_.erase(old);
    base_order_.pop_front();
  }
  bases_.emplace(offset, Cached{type, data});
  base_order_.push_back(offset);
  base_bytes_ += data->size;
}

namespace {

constexpr std::size_t kRecentBytes = std::size_t{1} << 20;
constexpr std::size_t kRecentSlotBits = 13;  // 8,192 slots for the ~4,500 commits 1 MiB holds
constexpr std::size_t kRecentAfter = 256;
constexpr std::size_t kMaxRecentCommit = 4096;

std::size_t recent_slot(uint64_t offset) {
  constexpr uint64_t kMix = 0x9e3779b97f4a7c15U;  // Fibonacci hashing: offsets are not random
  return static_cast<std::size_t>((offset * kMix) >> (64 - kRecentSlotBits));
}

}  // namespace

bool PackReader::recall_commit(uint64_t offset, const Memory& memory, void** data,
                               std::size_t* size) {
  if (!recent_slots_) return false;
  const RecentSlot& slot = recent_slots_[recent_slot(offset)];
  // Its bytes are still there unless the ring has since come round over them.
  if (slot.offset != offset || recent_written_ > slot.start + kRecentBytes) return false;
  char* out = static_cast<char*>(memory.alloc(memory.context, std::max<std::size_t>(slot.size, 1)));
  if (out == nullptr) return false;
  std::memcpy(out, recent_.get() + slot.start % kRecentBytes, slot.size);
  ++commits_recalled_;
  *data = out;
  *size = slot.size;
  return true;
}

void PackReader::keep_commit(uint64_t offset, const char* bytes, std::size_t size) {
  if (size > kMaxRecentCommit) return;
  if (!recent_) {
    if (++commits_inflated_ < kRecentAfter) return;
    recent_ = std::make_unique_for_overwrite<char[]>(kRecentBytes);
    recent_slots_ = std::make_unique<RecentSlot[]>(std::size_t{1} << kRecentSlotBits);
  }
  // A commit is never split over the ring's end: one that does not fit starts over at its start.
  uint64_t start = recent_written_;
  if (start % kRecentBytes + size > kRecentBytes) start += kRecentBytes - start % kRecentBytes;
  std::memcpy(recent_.get() + start % kRecentBytes, bytes, size);
  recent_written_ = start + size;
  recent_slots_[recent_slot(offset)] = {offset, start, static_cast<uint32_t>(size)};
}

bool PackReader::read(const unsigned char* id, const Memory& memory, void** data, std::size_t* size,
                      int* type) {
  uint64_t offset = 0;
  Entry e;
  if (!offset_of(id, &offset) || !entry_at(offset, &e)) return false;
  if (e.type == kCommit && recall_commit(offset, memory, data, size)) {
    *type = kCommit;
    return true;
  }
  // The object is written straight into the caller's memory: inflated, or the delta applied.
  Bytes base;
  const unsigned char* ops = nullptr;
  uint64_t result = e.size;
  int result_type = e.type;
  if (e.type == kOfsDelta || e.type == kRefDelta) {
    base = resolve(e.base, &result_type);
    if (!base || !inflate_delta(e, base->view(), &ops, &result)) return false;
  } else if (e.size > max_object_) {
    return false;
  }
  char* out = static_cast<char*>(memory.alloc(memory.context, std::max<uint64_t>(result, 1)));
  if (out == nullptr) return false;
  if (base ? !apply_delta(ops, delta_end(), base->view(), out, result) : !inflate(e, out)) {
    memory.release(memory.context, out);
    return false;
  }
  if (!base && result_type == kCommit) keep_commit(offset, out, result);
  *data = out;
  *size = result;
  *type = result_type;
  return true;
}

bool PackReader::read_header(const unsigned char* id, std::size_t* size, int* type) {
  uint64_t offset = 0;
  Entry top;
  if (!offset_of(id, &offset) || !entry_at(offset, &top)) return false;
  Entry e = top;
  for (std::size_t depth = 0; e.type == kOfsDelta || e.type == kRefDelta; ++depth) {
    if (auto hit = bases_.find(e.base); hit != bases_.end()) {
      e.type = hit->second.type;
      break;
    }
    if (depth + 1 >= kMaxChain || !entry_at(e.base, &e)) return false;
  }
  if (top.type != kOfsDelta && top.type != kRefDelta) {
    if (top.size > max_object_) return false;
    *size = top.size;
    *type = top.type;
    return true;
  }
  uint64_t base_size = 0;
  uint64_t result = 0;
  const unsigned char* ops = nullptr;
  if (top.size > kMaxHeaderDelta || !inflate_scratch(top) ||
      !delta_header(&base_size, &result, &ops)) {
    return false;
  }
  *size = result;
  *type = e.type;
  return true;
}

}  // namespace stepgate
