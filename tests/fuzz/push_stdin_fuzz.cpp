// git's stdin to the hooks: pre-push ("<local ref> <local sha> <remote ref> <remote sha>") and
// pre-receive ("<old> <new> <ref>") lines. Errors are fine; crashes and hangs are not, and every
// parsed update must hold well-formed object ids.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "push_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto parse : {&stepgate::parse_pre_push, &stepgate::parse_pre_receive}) {
    auto updates = parse(text);
    if (!updates.ok()) continue;
    for (const auto& u : *updates) {
      if (!stepgate::is_hex_oid(u.local_sha) || !stepgate::is_hex_oid(u.remote_sha)) std::abort();
    }
  }
  return 0;
}
