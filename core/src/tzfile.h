#pragma once
// Offsets from UTC read from the system's IANA time zone files (TZif, RFC 8536), without the C
// library's TZ environment variable: localtime_r only converts through the process-wide TZ, and
// switching it for one conversion races every other thread that reads the environment or the
// time (libstdc++ 12 has no std::chrono::zoned_time to do it instead).

#include <cstdint>
#include <string>
#include <string_view>

#include "stepgate/result.h"

namespace stepgate::tzfile {

/// The UTC offset (seconds east of Greenwich) in effect at Unix time `t` in the zone whose TZif
/// file contents are `data`: the transition table, then, past its last transition, the POSIX TZ
/// rule in the footer. Leap-second tables are ignored. kInvalidArgument for a malformed file.
Result<std::int64_t> offset_at(std::string_view data, std::int64_t t);

/// The UTC offset at `t` under a POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3", "<+0530>-5:30").
/// kInvalidArgument when `rule` is not one.
Result<std::int64_t> posix_offset_at(std::string_view rule, std::int64_t t);

}  // namespace stepgate::tzfile
