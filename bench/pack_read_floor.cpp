// What a blob reader of our own would save (#21 §3), measured before anyone writes one into
// stepgate: reads the given blobs, in the given order, (a) through libgit2 as the hook does
// (git_blob_lookup, with the hook's libgit2 options) and (b) straight from the pack: the index's
// fanout and binary search, the entry header, OFS/REF delta chains resolved through a small base
// cache, git's delta format applied, libdeflate for the inflate. Checks that (b) gives (a)'s
// bytes, then prints the best of PASSES passes of each:
//   libgit2 <ms> own <ms> blobs <n> bytes <total>
// The prototype that measured hooks/pack_reader.cpp before it was written; kept as the floor's
// figure (one pack, no bounds checks: bench repositories only). Built by bench/floor.sh with
// `c++ -O2 -std=c++20 ... -lgit2 -ldeflate`; -DWITH_ZLIB inflates with zlib (one stream, reset
// per entry) instead, which is how libdeflate's share was told apart (0.30x libgit2 with
// libdeflate, 0.63x with zlib, on the scan push's blobs).
// Usage: pack_read_floor REPO PACK.idx [PASSES] < blob ids, one per line.
#include <fcntl.h>
#include <git2.h>
#ifdef WITH_ZLIB
#include <zlib.h>
#else
#include <libdeflate.h>
#endif
#include <sys/mman.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Map {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  explicit Map(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY);
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) != 0) throw std::runtime_error("open " + path);
    size = static_cast<std::size_t>(st.st_size);
    data = static_cast<const unsigned char*>(mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0));
    close(fd);
    if (data == MAP_FAILED) throw std::runtime_error("mmap " + path);
  }
};

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

class PackReader {
 public:
  PackReader(const std::string& idx, const std::string& pack) : idx_(idx), pack_(pack) {
    if (be32(idx_.data) != 0xff744f63 || be32(idx_.data + 4) != 2)
      throw std::runtime_error("idx v2");
    fanout_ = idx_.data + 8;
    count_ = be32(fanout_ + 255 * 4);
    ids_ = fanout_ + 256 * 4;
    offsets_ = ids_ + std::size_t{count_} * 20 + std::size_t{count_} * 4;
    large_ = offsets_ + std::size_t{count_} * 4;
  }

  bool offset_of(const unsigned char* id, uint64_t& out) const {
    uint32_t lo = id[0] == 0 ? 0 : be32(fanout_ + (id[0] - 1) * 4);
    uint32_t hi = be32(fanout_ + id[0] * 4);
    while (lo < hi) {
      const uint32_t mid = lo + (hi - lo) / 2;
      const int c = std::memcmp(ids_ + std::size_t{mid} * 20, id, 20);
      if (c == 0) {
        const uint32_t off = be32(offsets_ + std::size_t{mid} * 4);
        out = (off & 0x80000000U) == 0 ? off
                                       : (uint64_t{be32(large_ + (off & 0x7fffffffU) * 8)} << 32) |
                                             be32(large_ + (off & 0x7fffffffU) * 8 + 4);
        return true;
      }
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    return false;
  }

  /// The object at `offset`, deltas applied; its type in `type`.
  std::shared_ptr<const std::string> read(uint64_t offset, int& type) {
    if (auto hit = cache_.find(offset); hit != cache_.end()) {
      type = hit->second.type;
      return hit->second.data;
    }
    const unsigned char* p = pack_.data + offset;
    unsigned c = *p++;
    type = (c >> 4) & 7;
    std::size_t size = c & 15;
    for (int shift = 4; (c & 0x80) != 0; shift += 7) {
      c = *p++;
      size |= std::size_t{c & 0x7fU} << shift;
    }
    std::shared_ptr<const std::string> base;
    if (type == 6) {  // OFS_DELTA
      c = *p++;
      uint64_t back = c & 127;
      while ((c & 128) != 0) {
        c = *p++;
        back = ((back + 1) << 7) | (c & 127);
      }
      base = read(offset - back, type);
    } else if (type == 7) {  // REF_DELTA
      uint64_t at = 0;
      if (!offset_of(p, at)) throw std::runtime_error("REF_DELTA base not in pack");
      p += 20;
      base = read(at, type);
    }
    auto inflated = std::make_shared<std::string>(size, '\0');
#ifdef WITH_ZLIB
    if (!z_ready_) {
      inflateInit(&z_);
      z_ready_ = true;
    } else {
      inflateReset(&z_);
    }
    z_.next_in = const_cast<unsigned char*>(p);
    z_.avail_in = static_cast<uInt>(pack_.size - static_cast<std::size_t>(p - pack_.data));
    z_.next_out = reinterpret_cast<unsigned char*>(inflated->data());
    z_.avail_out = static_cast<uInt>(size);
    const int zr = inflate(&z_, Z_FINISH);
    if (zr != Z_STREAM_END || z_.total_out != size) throw std::runtime_error("inflate");
#else
    std::size_t got = 0;
    if (libdeflate_zlib_decompress(d_, p, pack_.size - static_cast<std::size_t>(p - pack_.data),
                                   inflated->data(), size, &got) != LIBDEFLATE_SUCCESS ||
        got != size) {
      // libdeflate wants the exact stream length or room to spare; retry with the _ex form.
      std::size_t in_used = 0;
      if (libdeflate_zlib_decompress_ex(
              d_, p, pack_.size - static_cast<std::size_t>(p - pack_.data), inflated->data(), size,
              &in_used, &got) != LIBDEFLATE_SUCCESS ||
          got != size) {
        throw std::runtime_error("inflate");
      }
    }
#endif
    std::shared_ptr<const std::string> result = inflated;
    if (base) result = apply(*base, *inflated);
    remember(offset, type, result);
    return result;
  }

#ifdef WITH_ZLIB
  z_stream z_{};
  bool z_ready_ = false;
#else
  libdeflate_decompressor* d_ = libdeflate_alloc_decompressor();
#endif

 private:
  static std::size_t varint(const unsigned char*& p, const unsigned char* end) {
    std::size_t v = 0;
    int shift = 0;
    unsigned c = 0;
    do {
      if (p >= end) throw std::runtime_error("delta header");
      c = *p++;
      v |= std::size_t{c & 0x7fU} << shift;
      shift += 7;
    } while ((c & 0x80) != 0);
    return v;
  }

  static std::shared_ptr<const std::string> apply(const std::string& base,
                                                  const std::string& delta) {
    const auto* p = reinterpret_cast<const unsigned char*>(delta.data());
    const unsigned char* end = p + delta.size();
    if (varint(p, end) != base.size()) throw std::runtime_error("delta base size");
    auto out = std::make_shared<std::string>();
    out->reserve(varint(p, end));
    while (p < end) {
      const unsigned op = *p++;
      if ((op & 0x80) != 0) {
        std::size_t off = 0, len = 0;
        for (int i = 0; i < 4; ++i)
          if ((op & (1U << i)) != 0) off |= std::size_t{*p++} << (8 * i);
        for (int i = 0; i < 3; ++i)
          if ((op & (0x10U << i)) != 0) len |= std::size_t{*p++} << (8 * i);
        if (len == 0) len = 0x10000;
        if (off + len > base.size()) throw std::runtime_error("delta copy");
        out->append(base, off, len);
      } else if (op != 0) {
        if (p + op > end) throw std::runtime_error("delta insert");
        out->append(reinterpret_cast<const char*>(p), op);
        p += op;
      } else {
        throw std::runtime_error("delta op 0");
      }
    }
    return out;
  }

  // Bases up to 1 MiB, 16 MiB in all, least recently added out first: libgit2's own limits.
  void remember(uint64_t offset, int type, const std::shared_ptr<const std::string>& data) {
    if (data->size() > (std::size_t{1} << 20)) return;
    while (used_ + data->size() > (std::size_t{16} << 20) && !order_.empty()) {
      auto old = cache_.find(order_.front());
      used_ -= old->second.data->size();
      cache_.erase(old);
      order_.pop_front();
    }
    cache_[offset] = {type, data};
    order_.push_back(offset);
    used_ += data->size();
  }

  struct Cached {
    int type;
    std::shared_ptr<const std::string> data;
  };
  Map idx_;
  Map pack_;
  const unsigned char* fanout_;
  const unsigned char* ids_;
  const unsigned char* offsets_;
  const unsigned char* large_;
  uint32_t count_;
  std::unordered_map<uint64_t, Cached> cache_;
  std::list<uint64_t> order_;
  std::size_t used_ = 0;
};

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: pack_read_floor REPO PACK.idx [PASSES] < blob ids\n";
    return 2;
  }
  const int passes = argc > 3 ? std::atoi(argv[3]) : 3;
  std::string idx = argv[2];
  std::string pack = idx.substr(0, idx.size() - 4) + ".pack";
  std::vector<git_oid> ids;
  for (std::string line; std::getline(std::cin, line);) {
    git_oid id;
    if (line.size() >= 40 && git_oid_fromstrn(&id, line.c_str(), 40) == 0) ids.push_back(id);
  }
  git_libgit2_init();
  // As the hook sets them (hooks/git_signals.cpp, init_libgit2).
  git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
  git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_BLOB, std::size_t{64} * 1024);
  double best_git = -1, best_own = -1;
  std::size_t bytes = 0;
  try {
    {  // (b) gives (a)'s bytes
      git_repository* repo = nullptr;
      if (git_repository_open(&repo, argv[1]) != 0) throw std::runtime_error("open repo");
      PackReader reader(idx, pack);
      for (const git_oid& id : ids) {
        git_blob* blob = nullptr;
        if (git_blob_lookup(&blob, repo, &id) != 0) throw std::runtime_error("libgit2 read");
        uint64_t at = 0;
        int type = 0;
        if (!reader.offset_of(id.id, at)) throw std::runtime_error("not in the pack");
        auto data = reader.read(at, type);
        if (type != 3 || data->size() != static_cast<std::size_t>(git_blob_rawsize(blob)) ||
            std::memcmp(data->data(), git_blob_rawcontent(blob), data->size()) != 0) {
          throw std::runtime_error("own reader differs from libgit2");
        }
        bytes += data->size();
        git_blob_free(blob);
      }
      git_repository_free(repo);
    }
    for (int pass = 0; pass < passes; ++pass) {
      git_repository* repo = nullptr;
      if (git_repository_open(&repo, argv[1]) != 0) throw std::runtime_error("open repo");
      auto t = std::chrono::steady_clock::now();
      for (const git_oid& id : ids) {
        git_blob* blob = nullptr;
        if (git_blob_lookup(&blob, repo, &id) != 0) throw std::runtime_error("libgit2 read");
        git_blob_free(blob);
      }
      const double g = ms_since(t);
      git_repository_free(repo);
      PackReader reader(idx, pack);
      t = std::chrono::steady_clock::now();
      for (const git_oid& id : ids) {
        uint64_t at = 0;
        int type = 0;
        if (!reader.offset_of(id.id, at)) throw std::runtime_error("not in the pack");
        (void)reader.read(at, type);
      }
      const double o = ms_since(t);
      if (best_git < 0 || g < best_git) best_git = g;
      if (best_own < 0 || o < best_own) best_own = o;
    }
  } catch (const std::exception& e) {
    std::cerr << "pack_read_floor: " << e.what() << "\n";
    return 1;
  }
  std::printf("libgit2 %.2f own %.2f blobs %zu bytes %zu\n", best_git, best_own, ids.size(), bytes);
  return 0;
}
