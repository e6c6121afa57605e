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

}  // namespace

bool has_nul(std::string_view bytes) {
  return std::memchr(bytes.data(), '\0', bytes.size()) != nullptr;
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
