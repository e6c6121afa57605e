#pragma once
// What the secret scan reads of a file's bytes. git and libgit2 call a file holding a NUL byte
// binary and diff nothing in it, so a UTF-16 file (every other byte NUL) or a text file with one
// stray NUL would hide a token from a scan that only reads text diffs.

#include <string>
#include <string_view>

namespace stepgate {

enum class TextEncoding { kBytes, kUtf16Le, kUtf16Be };

/// UTF-16 when the bytes start with a byte-order mark, or when NUL bytes sit mostly on one side of
/// each byte pair (ASCII in UTF-16 without a mark); otherwise kBytes. Only a hint: the scan also
/// reads the bytes as they are and with their NULs taken out, so a file made to look like the
/// other kind hides nothing.
TextEncoding detect_encoding(std::string_view bytes);

/// The bytes decoded from UTF-16 (a mark dropped, a lone surrogate or odd trailing byte becomes
/// U+FFFD) into UTF-8; `bytes` itself for kBytes.
std::string decode_text(std::string_view bytes, TextEncoding encoding);

/// The bytes with every NUL removed: ASCII in UTF-16 of either byte order, at any offset, becomes
/// plain ASCII again.
std::string strip_nuls(std::string_view bytes);

/// True when the bytes hold a NUL anywhere (git's "binary" test reads only the first 8,000).
bool has_nul(std::string_view bytes);

/// True when git's binary test (libgit2's git_blob_is_binary over a file's first 8,000 bytes,
/// `head`) cannot call these bytes binary: no UTF-16 byte-order mark, and no control byte but
/// backspace, tab, newline, vertical tab, form feed, carriage return and escape (so no NUL
/// either). False only means "ask libgit2": its test weighs such bytes against printable ones.
bool surely_not_binary(std::string_view head);

/// How many '\n' bytes `text` holds.
std::size_t count_newlines(std::string_view text);

}  // namespace stepgate
