// The hooks' pack reader (hooks/pack_reader.h) on a hostile repository's pack and index. The
// input is a little-endian 32-bit index length, the index, then the pack. Before reading, the
// harness makes the two agree where the reader checks they agree (the pack's object count and
// checksum as the index records them), so that mutations reach the entries, the delta chains and
// the delta format rather than stopping at the first check. Every object the index lists is read;
// a read may decline, but must not crash, hang or touch memory outside the buffers.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "pack_reader.h"

namespace {

void* fuzz_alloc(void* /*context*/, std::size_t size) {
  return std::malloc(size);
}
void fuzz_release(void* /*context*/, void* data) {
  std::free(data);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t idx_size = 0;
  std::memcpy(&idx_size, data, 4);
  if (idx_size > size - 4) return 0;
  std::string idx(reinterpret_cast<const char*>(data) + 4, idx_size);
  std::string pack(reinterpret_cast<const char*>(data) + 4 + idx_size, size - 4 - idx_size);
  if (idx.size() >= 8 + 1024 + 40 && pack.size() >= 32) {
    std::memcpy(pack.data() + 8, idx.data() + 8 + 255 * 4, 4);                      // count
    std::memcpy(idx.data() + idx.size() - 40, pack.data() + pack.size() - 20, 20);  // checksum
  }
  // Objects up to 64 MiB: a base and the object built on it stay well within libFuzzer's 2 GiB.
  auto reader = stepgate::PackReader::over(idx, pack, std::size_t{64} << 20);
  if (reader == nullptr) return 0;
  const stepgate::PackReader::Memory memory{&fuzz_alloc, &fuzz_release, nullptr};
  for (std::size_t i = 0; i < reader->object_count() && i < 4096; ++i) {
    void* out = nullptr;
    std::size_t out_size = 0;
    int type = 0;
    if (reader->read_header(reader->id_at(i), &out_size, &type) && (type < 1 || type > 4)) {
      std::abort();
    }
    if (reader->read(reader->id_at(i), memory, &out, &out_size, &type)) {
      if (type < 1 || type > 4) std::abort();
      std::free(out);
    }
  }
  return 0;
}
