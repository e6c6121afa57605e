#include "blob_text.h"

#include <cstdint>
#include <cstring>

namespace stepgate {
namespace {

// Enough pairs to tell the two byte orders apart without reading a large file twice.
constexpr std::size_t kSniffBytes = std::size_t{64} * 1024;

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool starts_with(std::string_view bytes, std::string_view mark) {
  return bytes.substr(0, mark.size()) == mark;
}

// The whole-text loops below run over fixed-size blocks: GCC vectorizes a loop whose trip count
// it knows at -O2, where a plain loop over the text (or std::count) stays byte by byte, about
// four times slower on a push's text (bench/scan_throughput_bench.sh).
constexpr std::size_t kBlock = 128;

/// A byte git_str_is_binary counts as non-printable (or NUL, which makes a file binary at once):
/// below space except backspace, tab, newline, vertical tab, form feed, carriage return (8-13)
/// and escape (27); and DEL. Comparisons only, so that the loops using it vectorize.
constexpr bool control_byte(unsigned char c) {
  return (c < 0x20 && (c < 8 || c > 13) && c != 27) || c == 0x7F;
}

}  // namespace

bool has_nul(std::string_view bytes) {
  return std::memchr(bytes.data(), '\0', bytes.size()) != nullptr;
}

bool surely_not_binary(std::string_view head) {
  // libgit2 calls a text binary outright after a UTF-16 mark (a UTF-32 mark holds NULs).
  if (starts_with(head, "\xFE\xFF") || starts_with(head, "\xFF\xFE")) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(head.data());
  std::size_t n = head.size();
  unsigned char found = 0;
  for (; n >= kBlock; p += kBlock, n -= kBlock) {
    for (std::size_t i = 0; i < kBlock; ++i) found |= control_byte(p[i]) ? 1 : 0;
    if (found != 0) return false;
  }
  for (; n > 0; --n) found |= control_byte(*p++) ? 1 : 0;
  return found == 0;
}

std::size_t count_newlines(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  std::size_t total = 0;
  for (; n >= kBlock; p += kBlock, n -= kBlock) {
    unsigned char block = 0;  // at most kBlock (128): fits, and keeps the vector lanes narrow
    for (std::size_t i = 0; i < kBlock; ++i) block += p[i] == '\n' ? 1 : 0;
    total += block;
  }
  for (; n > 0; --n) total += *p++ == '\n' ? 1 : 0;
  return total;
}

std::string strip_nuls(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    if (c != '\0') out.push_back(c);
  }
  return out;
}

TextEncoding detect_encoding(std::string_view bytes) {
  if (starts_with(bytes, "\xFF\xFE")) return TextEncoding::kUtf16Le;
  if (starts_with(bytes, "\xFE\xFF")) return TextEncoding::kUtf16Be;
  const std::string_view sniff = bytes.substr(0, kSniffBytes);
  std::size_t even = 0;  // NULs at even offsets: the high byte of big-endian ASCII
  std::size_t odd = 0;   // NULs at odd offsets: the high byte of little-endian ASCII
  for (std::size_t i = 0; i + 1 < sniff.size(); i += 2) {
    even += sniff[i] == '\0' ? 1 : 0;
    odd += sniff[i + 1] == '\0' ? 1 : 0;
  }
  // ASCII in UTF-16 puts nearly every NUL on one side, binary data spreads them evenly. No share
  // of all pairs is asked for: CJK text around a token has no NULs at all.
  if (odd >= 2 && odd > even * 4) return TextEncoding::kUtf16Le;
  if (even >= 2 && even > odd * 4) return TextEncoding::kUtf16Be;
  return TextEncoding::kBytes;
}

std::string decode_text(std::string_view bytes, TextEncoding encoding) {
  if (encoding == TextEncoding::kBytes) return std::string(bytes);
  const bool le = encoding == TextEncoding::kUtf16Le;
  if (starts_with(bytes, le ? "\xFF\xFE" : "\xFE\xFF")) bytes.remove_prefix(2);
  std::string out;
  out.reserve(bytes.size() / 2 + 16);
  auto unit = [&](std::size_t i) {
    const auto a = static_cast<unsigned char>(bytes[i]);
    const auto b = static_cast<unsigned char>(bytes[i + 1]);
    return static_cast<uint32_t>(le ? (b << 8 | a) : (a << 8 | b));
  };
  constexpr uint32_t kReplacement = 0xFFFD;
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) {
    const uint32_t u = unit(i);
    if (u >= 0xD800 && u < 0xDC00 && i + 3 < bytes.size()) {
      const uint32_t low = unit(i + 2);
      if (low >= 0xDC00 && low < 0xE000) {
        append_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00));
        i += 2;
        continue;
      }
    }
    append_utf8(out, u >= 0xD800 && u < 0xE000 ? kReplacement : u);
  }
  if (i < bytes.size()) append_utf8(out, kReplacement);
  return out;
}

}  // namespace stepgate
