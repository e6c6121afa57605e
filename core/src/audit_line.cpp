// The audit line format: a top-level scanner fast enough to verify a million records in seconds,
// the chain hash, and the timestamps.
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>

#include "audit_internal.h"

namespace stepgate::audit_detail {
namespace {

bool is_lower_hex(std::string_view s) {
  return std::ranges::all_of(
      s, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// Scans the object body `{"k":v,...` (no closing brace) key by key, skipping values without
/// building them. Nested values are skipped by bracket depth, honouring strings.
class BodyScanner {
 public:
  explicit BodyScanner(std::string_view body) : s_(body) {}

  bool scan(LineInfo& out, std::string& detail) {
    if (s_.empty() || s_[0] != '{') return fail(detail, "does not start with '{'");
    pos_ = 1;
    bool have_seq = false;
    bool have_prev = false;
    while (pos_ < s_.size()) {
      std::string_view key;
      if (!read_string(key) || !expect(':')) return fail(detail, "malformed key");
      std::size_t start = pos_;
      if (!skip_value()) return fail(detail, "malformed value of \"" + std::string(key) + "\"");
      std::string_view raw = s_.substr(start, pos_ - start);
      if (key == "seq") {
        have_seq = parse_seq(raw, out.seq);
        if (!have_seq) return fail(detail, "seq is not a positive integer");
      } else if (key == "prev") {
        have_prev = raw.size() == 66 && raw.front() == '"' && is_lower_hex(raw.substr(1, 64));
        if (!have_prev) return fail(detail, "prev is not a SHA-256 hex string");
        out.prev = raw.substr(1, 64);
      } else if (key == "hash") {
        return fail(detail, "duplicate hash");
      }
      if (pos_ < s_.size() && !expect(',')) return fail(detail, "expected ','");
    }
    if (!have_seq || !have_prev) return fail(detail, "missing seq or prev");
    return true;
  }

 private:
  static bool fail(std::string& detail, std::string what) {
    detail = std::move(what);
    return false;
  }
  static bool parse_seq(std::string_view raw, int64_t& seq) {
    auto [ptr, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), seq);
    return ec == std::errc() && ptr == raw.data() + raw.size() && seq > 0;
  }
  bool expect(char c) {
    if (pos_ >= s_.size() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  /// Moves past a string starting at pos_ (a '"'); false when unterminated. memchr finds each
  /// candidate closing quote; an odd run of backslashes before it means it is escaped.
  bool skip_string() {
    std::size_t open = pos_;
    std::size_t from = pos_ + 1;
    while (from < s_.size()) {
      const void* q = std::memchr(s_.data() + from, '"', s_.size() - from);
      if (q == nullptr) return false;
      auto at = static_cast<std::size_t>(static_cast<const char*>(q) - s_.data());
      std::size_t backslashes = 0;
      while (at - backslashes > open + 1 && s_[at - backslashes - 1] == '\\') ++backslashes;
      if (backslashes % 2 == 0) {
        pos_ = at + 1;
        return true;
      }
      from = at + 1;
    }
    return false;
  }
  bool read_string(std::string_view& out) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return false;
    std::size_t start = pos_ + 1;
    if (!skip_string()) return false;
    out = s_.substr(start, pos_ - 1 - start);
    return true;
  }
  bool skip_container() {
    int depth = 0;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '"') {
        if (!skip_string()) return false;
        continue;
      }
      ++pos_;
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return true;
      }
    }
    return false;
  }
  static bool is_scalar_char(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || (c >= 'a' && c <= 'z') ||
           c == 'E';
  }
  bool skip_scalar() {
    std::size_t start = pos_;
    while (pos_ < s_.size() && is_scalar_char(s_[pos_])) ++pos_;
    return pos_ > start;
  }
  bool skip_value() {
    if (pos_ >= s_.size()) return false;
    char c = s_[pos_];
    if (c == '"') return skip_string();
    if (c == '{' || c == '[') return skip_container();
    return skip_scalar();
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

LineStatus parse_line(std::string_view line, LineInfo& out, std::string& detail) {
  if (line.size() < kHashSuffixSize + 1 || line.back() != '}' || line[line.size() - 2] != '"' ||
      line.substr(line.size() - kHashSuffixSize, kHashKey.size()) != kHashKey) {
    detail = "not a complete record";
    return LineStatus::kTorn;
  }
  out.hash = line.substr(line.size() - 66, 64);
  out.body = line.substr(0, line.size() - kHashSuffixSize);
  if (!is_lower_hex(out.hash)) {
    detail = "hash is not a SHA-256 hex string";
    return LineStatus::kMalformed;
  }
  return BodyScanner(out.body).scan(out, detail) ? LineStatus::kOk : LineStatus::kMalformed;
}

std::string chain_hash(std::string_view prev, std::string_view body) {
  // OpenSSL's SHA-256 called directly: fetching it through EVP costs ~3 million instructions per
  // process, more than a short-lived hook spends on everything else it audits.
  unsigned char digest[SHA256_DIGEST_LENGTH];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, prev.data(), prev.size());
  SHA256_Update(&ctx, body.data(), body.size());
  SHA256_Update(&ctx, "}", 1);
  SHA256_Final(digest, &ctx);
#pragma GCC diagnostic pop
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(64, '0');
  for (std::size_t i = 0; i < 32; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 15];
  }
  return hex;
}

std::string format_time_ms(int64_t unix_ms) {
  auto secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return buf;
}

bool parse_time(std::string_view text, int64_t& unix_seconds) {
  std::tm tm{};
  std::string s(text);
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return false;
  if (*rest == '.') {
    ++rest;
    while (*rest >= '0' && *rest <= '9') ++rest;
  }
  int64_t offset = 0;
  if (*rest == '+' || *rest == '-') {
    int hh = 0;
    int mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) return false;
    offset = (*rest == '+' ? 1 : -1) * (int64_t{hh} * 3600 + int64_t{mm} * 60);
    rest += 6;
  } else if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else {
    return false;
  }
  if (*rest != '\0') return false;
  unix_seconds = static_cast<int64_t>(timegm(&tm)) - offset;
  return true;
}

}  // namespace stepgate::audit_detail
