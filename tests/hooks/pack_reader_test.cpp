// The pack reader against libgit2 on packs git itself wrote (OFS and REF deltas, deep chains),
// and on those packs damaged byte by byte: reads decline or give bytes, and nothing reads or
// writes outside the files and buffers (the ASan build runs this too).
#include "pack_reader.h"

#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <sys/stat.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../core/test_util.h"
#include "git_cli.h"
#include "git_signals.h"
#include "subprocess.h"

namespace stepgate {
namespace {

using testing::TempDir;

std::string git(const std::string& dir, const std::vector<std::string>& args) {
  return testing::git_in(dir, args);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A repository whose history makes deltas: 40 commits, each editing a few of 6 files a little
/// (long chains), one binary file, one empty file; repacked into one pack, with `config` (git -c
/// options) for the repack.
class PackedRepo {
 public:
  explicit PackedRepo(const std::vector<std::string>& config) {
    git(dir_.path(), {"init", "-q", "-b", "main"});
    git(dir_.path(), {"config", "user.email", "dev@example.com"});
    git(dir_.path(), {"config", "user.name", "Dev"});
    for (int c = 0; c < 40; ++c) {
      for (int f = 0; f < 6; ++f) {
        if ((c + f) % 3 != 0 && c != 0) continue;
        std::ofstream out(dir_.path() + "/file" + std::to_string(f) + ".txt", std::ios::app);
        for (int l = 0; l < 40; ++l) out << "line " << l << " of file " << f << " at " << c << "\n";
      }
      if (c == 0) {
        std::ofstream empty(dir_.path() + "/empty");
        std::string bin(5000, '\0');
        for (std::size_t i = 0; i < bin.size(); ++i) bin[i] = static_cast<char>(i * 7 % 251);
        std::ofstream(dir_.path() + "/blob.bin", std::ios::binary) << bin;
      }
      git(dir_.path(), {"add", "-A"});
      git(dir_.path(), {"commit", "-q", "-m", "c" + std::to_string(c)});
    }
    std::vector<std::string> args;
    for (const std::string& c : config) args.insert(args.end(), {"-c", c});
    args.insert(args.end(), {"repack", "-a", "-d", "-f", "-q", "--depth=50", "--window=50"});
    git(dir_.path(), args);
    for (const auto& e : std::filesystem::directory_iterator(dir_.path() + "/.git/objects/pack")) {
      if (e.path().extension() == ".idx") idx_ = e.path().string();
    }
    REQUIRE(!idx_.empty());
  }

  [[nodiscard]] const std::string& path() const { return dir_.path(); }
  [[nodiscard]] const std::string& idx() const { return idx_; }
  [[nodiscard]] std::string pack() const { return idx_.substr(0, idx_.size() - 4) + ".pack"; }

  /// How many entries of the pack are deltas, by git's own account.
  [[nodiscard]] int deltas() const {
    const std::string v = git(dir_.path(), {"verify-pack", "-v", idx_});
    int n = 0;
    std::size_t at = 0;
    while ((at = v.find("chain length = ", at)) != std::string::npos) {
      n += std::atoi(v.c_str() + v.find(": ", at) + 2);
      at = v.find('\n', at);
    }
    return n;
  }

 private:
  TempDir dir_;
  std::string idx_;
};

void* test_alloc(void* /*context*/, std::size_t size) {
  return std::malloc(size);
}
void test_release(void* /*context*/, void* data) {
  std::free(data);
}
const PackReader::Memory kMemory{&test_alloc, &test_release, nullptr};

struct Read {
  bool ok = false;
  int type = 0;
  std::string bytes;
};

Read read_with(PackReader& reader, const unsigned char* id) {
  void* data = nullptr;
  std::size_t size = 0;
  Read r;
  r.ok = reader.read(id, kMemory, &data, &size, &r.type);
  if (r.ok) {
    r.bytes.assign(static_cast<const char*>(data), size);
    std::free(data);
  }
  return r;
}

/// Every object of the pack through libgit2's own reader (no backend of ours attached).
std::vector<Read> libgit2_reads(const std::string& repo_path, PackReader& reader) {
  init_libgit2();
  git_repository* repo = nullptr;
  REQUIRE(git_repository_open(&repo, repo_path.c_str()) == 0);
  git_odb* odb = nullptr;
  REQUIRE(git_repository_odb(&odb, repo) == 0);
  std::vector<Read> out;
  for (std::size_t i = 0; i < reader.object_count(); ++i) {
    git_oid id;
    std::memcpy(id.id, reader.id_at(i), GIT_OID_RAWSZ);
    git_odb_object* object = nullptr;
    REQUIRE(git_odb_read(&object, odb, &id) == 0);
    out.push_back({true, static_cast<int>(git_odb_object_type(object)),
                   std::string(static_cast<const char*>(git_odb_object_data(object)),
                               git_odb_object_size(object))});
    git_odb_object_free(object);
  }
  git_odb_free(odb);
  git_repository_free(repo);
  return out;
}

void check_same_as_libgit2(const PackedRepo& repo) {
  auto reader = PackReader::open(repo.idx());
  REQUIRE(reader != nullptr);
  const std::vector<Read> expected = libgit2_reads(repo.path(), *reader);
  REQUIRE(reader->object_count() > 100);
  for (int pass = 0; pass < 2; ++pass) {  // the second with the bases cached
    for (std::size_t i = 0; i < reader->object_count(); ++i) {
      const Read got = read_with(*reader, reader->id_at(i));
      CAPTURE(i);
      REQUIRE(got.ok);
      CHECK(got.type == expected[i].type);
      CHECK(got.bytes == expected[i].bytes);
      std::size_t size = 0;
      int type = 0;
      REQUIRE(reader->read_header(reader->id_at(i), &size, &type));
      CHECK(size == expected[i].bytes.size());
      CHECK(type == expected[i].type);
    }
  }
}

TEST_CASE("pack reader: every object of a pack with OFS deltas reads as libgit2 reads it") {
  const PackedRepo repo({});
  CHECK(repo.deltas() > 50);
  check_same_as_libgit2(repo);
}

TEST_CASE("pack reader: every object of a pack with REF deltas reads as libgit2 reads it") {
  const PackedRepo repo({"repack.useDeltaBaseOffset=false"});  // REF_DELTA entries
  CHECK(repo.deltas() > 50);
  check_same_as_libgit2(repo);
}

TEST_CASE("pack reader: an id the index does not list is not read") {
  const PackedRepo repo({});
  auto reader = PackReader::open(repo.idx());
  REQUIRE(reader != nullptr);
  unsigned char id[20] = {};
  CHECK_FALSE(reader->contains(id));
  CHECK_FALSE(read_with(*reader, id).ok);
  std::memset(id, 0xff, sizeof id);
  CHECK_FALSE(read_with(*reader, id).ok);
}

/// A version-2 index listing `ids` (sorted, 20 bytes each) at made-up offsets, and an empty pack
/// it names: enough for lookups by id, which read nothing of the pack.
std::pair<std::string, std::string> synthetic_index(const std::vector<std::string>& ids) {
  const auto be32 = [](std::string& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
  };
  const std::string checksum(20, '\x5a');
  std::string pack = "PACK";
  be32(pack, 2);
  be32(pack, static_cast<uint32_t>(ids.size()));
  pack += checksum;
  std::string idx = "\xff\x74\x4f\x63";
  be32(idx, 2);
  for (int byte = 0; byte < 256; ++byte) {
    uint32_t up_to = 0;
    for (const std::string& id : ids) {
      if (static_cast<unsigned char>(id[0]) <= byte) ++up_to;
    }
    be32(idx, up_to);
  }
  for (const std::string& id : ids) idx += id;
  for (std::size_t i = 0; i < ids.size(); ++i) be32(idx, 0);                              // CRCs
  for (std::size_t i = 0; i < ids.size(); ++i) be32(idx, static_cast<uint32_t>(12 + i));  // offsets
  idx += checksum;
  idx += std::string(20, '\0');  // the index's own checksum (not read)
  return {idx, pack};
}

TEST_CASE("pack reader: commits read again come back as libgit2 reads them, round the ring") {
  // 6,000 commits, past what the kept commits' 1 MiB holds: messages up to 300 bytes and every
  // 97th of 4-5 KB (some over what is kept; some do not fit before the ring's end and start over),
  // read newest first as libgit2's walk does, then oldest first and newest first again.
  TempDir dir;
  git(dir.path(), {"init", "-q", "-b", "main"});
  std::string stream;
  for (int i = 1; i <= 6000; ++i) {
    const std::string message =
        "commit " + std::to_string(i) + " " +
        std::string(static_cast<std::size_t>(i % 97 == 0 ? 4000 + i % 1000 : i * 37 % 300), 'm');
    const std::string body = "line " + std::to_string(i) + "\n";
    stream += "commit refs/heads/main\nmark :" + std::to_string(i) + "\n";
    stream += "committer Dev <dev@example.com> " + std::to_string(1700000000 + i) + " +0000\n";
    stream += "data " + std::to_string(message.size()) + "\n" + message + "\n";
    if (i > 1) stream += "from :" + std::to_string(i - 1) + "\n";
    stream += "M 644 inline f" + std::to_string(i % 7) + "\ndata " + std::to_string(body.size()) +
              "\n" + body + "\n";
  }
  ProcessOptions options;
  options.env = {{"GIT_CONFIG_NOSYSTEM", "1"}, {"HOME", dir.path()}};
  options.input = stream;
  auto imported = run_process({"git", "-C", dir.path(), "fast-import", "--quiet"}, options);
  REQUIRE(imported.ok());
  REQUIRE_MESSAGE(imported->exit_code == 0, imported->err);
  std::string idx;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/.git/objects/pack")) {
    if (e.path().extension() == ".idx") idx = e.path().string();
  }
  REQUIRE(!idx.empty());
  auto reader = PackReader::open(idx);
  REQUIRE(reader != nullptr);
  const std::vector<Read> expected = libgit2_reads(dir.path(), *reader);
  std::vector<std::size_t> commits;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (expected[i].type == PackReader::kCommit) commits.push_back(i);
  }
  REQUIRE(commits.size() == 6000);
  // Newest first: by the committer time in each commit, as the walk goes.
  std::sort(commits.begin(), commits.end(), [&](std::size_t a, std::size_t b) {
    return expected[a].bytes.substr(expected[a].bytes.find("> ") + 2) >
           expected[b].bytes.substr(expected[b].bytes.find("> ") + 2);
  });
  std::size_t wrong = 0;
  const auto read_all = [&] {
    for (const std::size_t i : commits) {
      const Read got = read_with(*reader, reader->id_at(i));
      if (!got.ok || got.type != PackReader::kCommit || got.bytes != expected[i].bytes) ++wrong;
    }
  };
  read_all();
  CHECK(reader->commits_recalled() == 0);
  std::reverse(commits.begin(), commits.end());
  read_all();
  const std::size_t recalled = reader->commits_recalled();
  CHECK(recalled > 1000);  // the newest ~1 MiB of them, less index collisions
  std::reverse(commits.begin(), commits.end());
  read_all();
  CHECK(reader->commits_recalled() > recalled);
  CHECK(wrong == 0);
}

TEST_CASE("pack reader: ids found wherever the index's order puts them, bunched or spread") {
  // Hash-like ids (spread evenly: the guess lands near each), then ids bunched at the start of
  // their first byte's range (the guess lands far off: the binary search finds them).
  std::vector<std::string> ids;
  uint64_t state = 0x9e3779b97f4a7c15U;
  for (int i = 0; i < 3000; ++i) {
    std::string id(20, '\0');
    for (char& c : id) {
      state = state * 6364136223846793005U + 1442695040888963407U;
      c = static_cast<char>(state >> 56);
    }
    ids.push_back(id);
  }
  for (int i = 0; i < 2000; ++i) {
    std::string id(20, '\0');
    id[0] = '\x42';
    id[7] = static_cast<char>(i >> 8);  // deep below the bits the guess reads
    id[8] = static_cast<char>(i);
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const auto [idx, pack] = synthetic_index(ids);
  auto reader = PackReader::over(idx, pack);
  REQUIRE(reader != nullptr);
  const auto bytes = [](const std::string& id) {
    return reinterpret_cast<const unsigned char*>(id.data());
  };
  std::size_t found = 0;
  std::size_t absent = 0;
  for (const std::string& id : ids) {
    if (reader->contains(bytes(id))) ++found;
    // One more in its last byte: between this id and the next, never listed unless it is the next.
    std::string near = id;
    near[19] = static_cast<char>(static_cast<unsigned char>(near[19]) + 1);
    if (near[19] != 0 && !std::binary_search(ids.begin(), ids.end(), near)) {
      if (!reader->contains(bytes(near))) ++absent;
    } else {
      ++absent;
    }
  }
  CHECK(found == ids.size());
  CHECK(absent == ids.size());
}

TEST_CASE("pack reader: objects over the size limit are declined, before any memory is asked for") {
  const PackedRepo repo({});
  const std::string idx = slurp(repo.idx());
  const std::string pack = slurp(repo.pack());
  auto full = PackReader::over(idx, pack);
  auto limited = PackReader::over(idx, pack, 1000);
  REQUIRE(full != nullptr);
  REQUIRE(limited != nullptr);
  int small = 0;
  int large = 0;
  for (std::size_t i = 0; i < full->object_count(); ++i) {
    const Read want = read_with(*full, full->id_at(i));
    REQUIRE(want.ok);
    const Read got = read_with(*limited, limited->id_at(i));
    std::size_t size = 0;
    int type = 0;
    const bool header = limited->read_header(limited->id_at(i), &size, &type);
    if (want.bytes.size() <= 1000) {
      // Read exactly, or declined for a base over the limit in its chain.
      if (got.ok) ++small;
      if (got.ok) CHECK(got.bytes == want.bytes);
    } else {
      ++large;
      CHECK_FALSE(got.ok);
      CHECK_FALSE(header);
    }
  }
  CHECK(small > 0);
  CHECK(large > 0);
}

TEST_CASE("pack reader: an index or pack that is not what it claims is not opened") {
  const PackedRepo repo({});
  const std::string idx = slurp(repo.idx());
  const std::string pack = slurp(repo.pack());
  REQUIRE(PackReader::over(idx, pack) != nullptr);
  for (std::size_t cut : {std::size_t{0}, std::size_t{7}, std::size_t{1031}, idx.size() - 1}) {
    CHECK(PackReader::over(idx.substr(0, cut), pack) == nullptr);
  }
  for (std::size_t cut : {std::size_t{0}, std::size_t{11}, std::size_t{31}, pack.size() - 1}) {
    CHECK(PackReader::over(idx, pack.substr(0, cut)) == nullptr);
  }
  std::string other = pack;
  other[other.size() - 1] ^= 1;  // the checksum the index names
  CHECK(PackReader::over(idx, other) == nullptr);
  std::string version = idx;
  version[7] = 3;
  CHECK(PackReader::over(version, pack) == nullptr);
  std::string fanout = idx;
  fanout[8 + 4 * 10 + 3] = static_cast<char>(0xff);  // not monotonic any more
  CHECK(PackReader::over(fanout, pack) == nullptr);
  std::string count = pack;
  count[11] ^= 1;
  CHECK(PackReader::over(idx, count) == nullptr);
}

TEST_CASE(
    "pack reader: a FIFO or a symbolic link in place of a pack file is not opened (nor waited "
    "on)") {
  const PackedRepo repo({});
  const std::string idx = repo.idx();
  const std::string moved = repo.path() + "/moved.idx";
  std::filesystem::rename(idx, moved);
  REQUIRE(::mkfifo(idx.c_str(), 0600) == 0);
  CHECK(PackReader::open(idx) == nullptr);  // would block in open() without O_NONBLOCK
  std::filesystem::remove(idx);
  std::filesystem::create_symlink(moved, idx);
  CHECK(PackReader::open(idx) == nullptr);
  std::filesystem::remove(idx);
  std::filesystem::rename(moved, idx);
  CHECK(PackReader::open(idx) != nullptr);
}

TEST_CASE("pack reader: a damaged pack gives libgit2's bytes or declines, never reads astray") {
  const PackedRepo repo({});
  const std::string idx = slurp(repo.idx());
  const std::string pristine = slurp(repo.pack());
  std::vector<Read> expected;
  {
    auto reader = PackReader::open(repo.idx());
    REQUIRE(reader != nullptr);
    expected = libgit2_reads(repo.path(), *reader);
  }
  // Every byte of the entries, in turn, set to values a parser trips on; the trailer stays.
  int declined = 0;
  int intact = 0;
  const std::size_t step = std::max<std::size_t>(1, (pristine.size() - 32) / 1500);
  for (std::size_t at = 12; at + 20 < pristine.size(); at += step) {
    for (unsigned char value : {0x00, 0x7f, 0x80, 0xff}) {
      std::string pack = pristine;
      pack[at] = static_cast<char>(value);
      auto reader = PackReader::over(idx, pack);
      REQUIRE(reader != nullptr);
      for (std::size_t i = 0; i < reader->object_count(); ++i) {
        std::size_t size = 0;
        int type = 0;
        (void)reader->read_header(reader->id_at(i), &size, &type);
        const Read got = read_with(*reader, reader->id_at(i));
        if (!got.ok) {
          ++declined;
        } else if (got.bytes == expected[i].bytes && got.type == expected[i].type) {
          ++intact;  // an entry whose chain does not cross the damage
        }
      }
    }
  }
  CHECK(declined > 0);
  CHECK(intact > 0);
}

TEST_CASE(
    "pack reader: as an odb backend, libgit2 reads packed objects through it and the rest "
    "as before") {
  const PackedRepo repo({});
  // A loose object after the repack: not in any pack, so libgit2's loose backend reads it.
  std::ofstream(repo.path() + "/loose.txt") << "written after the repack\n";
  const std::string loose = git(repo.path(), {"hash-object", "-w", "loose.txt"}).substr(0, 40);
  const std::string packed = git(repo.path(), {"rev-parse", "HEAD:file0.txt"}).substr(0, 40);
  init_libgit2();
  git_repository* raw = nullptr;
  REQUIRE(git_repository_open(&raw, repo.path().c_str()) == 0);
  REQUIRE(add_pack_readers(raw, {repo.path() + "/.git/objects"}));
  for (const auto& [hex, want] : {std::pair{packed, git(repo.path(), {"cat-file", "blob", packed})},
                                  std::pair{loose, std::string("written after the repack\n")}}) {
    git_oid id;
    REQUIRE(git_oid_fromstr(&id, hex.c_str()) == 0);
    git_blob* blob = nullptr;
    REQUIRE(git_blob_lookup(&blob, raw, &id) == 0);
    CHECK(std::string(static_cast<const char*>(git_blob_rawcontent(blob)),
                      static_cast<std::size_t>(git_blob_rawsize(blob))) == want);
    git_blob_free(blob);
  }
  git_repository_free(raw);
}

}  // namespace
}  // namespace stepgate
