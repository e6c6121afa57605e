#pragma once
// Private to the audit log: the line format shared by the writer (audit.cpp) and the verifier and
// reader (audit_verify.cpp). See audit.h for the format itself.

#include <cstdint>
#include <string>
#include <string_view>

namespace stepgate::audit_detail {

/// prev of the first record.
inline constexpr std::string_view kZeroHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// `,"hash":"` + 64 hex + `"}`: how every complete line ends.
inline constexpr std::string_view kHashKey = R"(,"hash":")";
inline constexpr std::size_t kHashSuffixSize = kHashKey.size() + 64 + 2;

/// What a line holds, as views into the line (no Value tree is built).
struct LineInfo {
  int64_t seq = 0;
  std::string_view prev;
  std::string_view hash;
  /// The canonical JSON of the record without "hash", minus its closing '}'.
  std::string_view body;
};

enum class LineStatus {
  kOk,
  kTorn,       // does not end like a record: cut short by a crash or a truncation
  kMalformed,  // ends like a record but its structure, seq or prev is wrong
};

/// Splits a line (without its '\n') into its parts; `detail` says what is wrong otherwise.
LineStatus parse_line(std::string_view line, LineInfo& out, std::string& detail);

/// SHA-256 hex of prev + body + "}": the hash a line with this prev and body must carry.
std::string chain_hash(std::string_view prev, std::string_view body);

/// Formats unix milliseconds as RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.123Z").
std::string format_time_ms(int64_t unix_ms);

/// Parses RFC 3339 ("2024-05-01T12:00:00Z", optional fraction and offset) to unix seconds;
/// false when it is not one.
bool parse_time(std::string_view text, int64_t& unix_seconds);

}  // namespace stepgate::audit_detail
