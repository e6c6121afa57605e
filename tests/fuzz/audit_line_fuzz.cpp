// One line of the audit log, as `audit verify` and `audit show` read it: split into its parts
// (audit_internal.h) and parsed as a JSON record. A line is outside bytes: anyone who can write
// the file can put anything in it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "audit_internal.h"
#include "stepgate/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  stepgate::audit_detail::LineInfo info;
  std::string detail;
  if (stepgate::audit_detail::parse_line(line, info, detail) ==
      stepgate::audit_detail::LineStatus::kOk) {
    (void)stepgate::audit_detail::chain_hash(info.prev, info.body);
  }
  auto record = stepgate::parse_json(line);
  if (record.ok()) (void)stepgate::to_json(*record);
  return 0;
}
