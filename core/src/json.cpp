#include "stepgate/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <nlohmann/json.hpp>

#include "json_internal.h"
#include "stepgate/limits.h"

namespace stepgate {

// One nesting limit for every parser of outside bytes (stepgate/limits.h).
static_assert(JsonLimits{}.max_depth == kMaxNestingDepth);

namespace {

using nlohmann::json;

/// Builds a Value directly from SAX events so depth is checked before anything deep is built,
/// and no intermediate nlohmann tree is made.
class ValueBuilder {
 public:
  explicit ValueBuilder(int max_depth) : max_depth_(max_depth) {}

  bool null() { return put(Value()); }
  bool boolean(bool b) { return put(Value(b)); }
  bool number_integer(json::number_integer_t i) { return put(Value(static_cast<int64_t>(i))); }
  bool number_unsigned(json::number_unsigned_t u) {
    if (u > static_cast<json::number_unsigned_t>(INT64_MAX))
      return put(Value(static_cast<double>(u)));
    return put(Value(static_cast<int64_t>(u)));
  }
  bool number_float(json::number_float_t d, const std::string& /*s*/) { return put(Value(d)); }
  bool string(std::string& s) { return put(Value(std::move(s))); }
  bool binary(json::binary_t& /*b*/) { return fail("binary values are not JSON"); }
  bool start_object(std::size_t /*n*/) { return open(Value(Map{})); }
  bool key(std::string& k) {
    keys_.back() = std::move(k);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t /*n*/) { return open(Value(List{})); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t position, const std::string& /*last*/,
                   const nlohmann::detail::exception& ex) {
    if (error_.empty()) {
      error_ = ex.what();
      position_ = position;
    }
    return false;
  }

  Value take() { return std::move(root_); }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] bool depth_exceeded() const { return depth_exceeded_; }
  [[nodiscard]] std::size_t position() const { return position_; }

 private:
  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  bool put(Value v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Value& top = *stack_.back();
    if (top.is_list()) {
      top.as_list().push_back(std::move(v));
    } else {
      top.as_map().insert_or_assign(keys_.back(), std::move(v));
    }
    return true;
  }
  bool open(Value container) {
    if (static_cast<int>(stack_.size()) >= max_depth_) {
      depth_exceeded_ = true;
      return fail("nesting deeper than the limit of " + std::to_string(max_depth_) + " levels");
    }
    Value* slot = nullptr;
    if (stack_.empty()) {
      root_ = std::move(container);
      slot = &root_;
    } else {
      Value& top = *stack_.back();
      if (top.is_list()) {
        top.as_list().push_back(std::move(container));
        slot = &top.as_list().back();
      } else {
        slot = &top.as_map().insert_or_assign(keys_.back(), std::move(container)).first->second;
      }
    }
    stack_.push_back(slot);
    keys_.emplace_back();
    return true;
  }
  bool close() {
    stack_.pop_back();
    keys_.pop_back();
    return true;
  }

  int max_depth_;
  Value root_;
  std::vector<Value*> stack_;
  std::vector<std::string> keys_;
  std::string error_;
  std::size_t position_ = 0;
  bool depth_exceeded_ = false;
};

std::string line_column(std::string_view text, std::size_t position) {
  int line = 1;
  int column = 1;
  for (std::size_t i = 0; i < position && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

/// The length of the well-formed UTF-8 sequence that starts at p (a byte >= 0x80), or 0 when it
/// is not one (an overlong form, a surrogate, a code point past U+10FFFF, a cut sequence).
std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end) {
  const unsigned char c = *p;
  int n = 0;
  unsigned cp = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 1;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 3;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (end - p <= n) return 0;
  for (int i = 1; i <= n; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  static constexpr unsigned kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return static_cast<std::size_t>(n) + 1;
}

/// How many bytes from p need no attention in a JSON string: printable ASCII other than '"' and
/// '\\'. Sixteen bytes a step where SSE2 is there (every x86-64): most strings of an audit record
/// or a digest are plain, and a byte-at-a-time check of each was a tenth of a decision's work.
std::size_t plain_run(const unsigned char* p, std::size_t n) {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // A signed compare: bytes from 0x80 up are negative, so "below 0x20" catches them too.
    const __m128i odd =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmplt_epi8(v, space));
    if (const int mask = _mm_movemask_epi8(odd); mask != 0) {
      return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    }
  }
#endif
  for (; i < n; ++i) {
    const unsigned char c = p[i];
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return i;
  }
  return n;
}

void write_string(std::string& out, std::string_view s) {
  // The same escapes nlohmann's dump makes, without building a json value per string (this is
  // on every digest and audit record), checking UTF-8 in the same pass.
  static constexpr char kHex[] = "0123456789abcdef";
  const std::size_t start = out.size();
  out.reserve(start + s.size() + 2);
  out += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (true) {
    const std::size_t run = plain_run(p, static_cast<std::size_t>(end - p));
    out.append(reinterpret_cast<const char*>(p), run);
    p += run;
    if (p == end) break;
    const unsigned char c = *p;
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(p, end);
      if (n == 0) {
        // Invalid UTF-8 is rare: nlohmann replaces it with U+FFFD rather than throwing.
        out.resize(start);
        out += json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
        return;
      }
      out.append(reinterpret_cast<const char*>(p), n);
      p += n;
      continue;
    }
    ++p;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(escaped, sizeof escaped);
      }
    }
  }
  out += '"';
}

/// A parser for the JSON stepgate exchanges every request (authority frames, tool calls, hook
/// events): it takes the common forms in one pass, building the Value in place, and gives up —
/// returning false — on anything it does not take: a \u escape, a number it cannot convert
/// exactly as nlohmann does (more than 18 integer digits, out of range), nesting past the limit,
/// and every error. parse_json then parses the same text with nlohmann, so what is accepted, the
/// value built and every error message are nlohmann's; this only makes the usual case fast
/// (nlohmann's lexer was 400 instructions a token, most of a front-end's work on a reply).
class FastParser {
 public:
  FastParser(std::string_view text, int max_depth)
      : p_(reinterpret_cast<const unsigned char*>(text.data())),
        end_(p_ + text.size()),
        max_depth_(std::min(max_depth, kMaxFastDepth)) {}

  bool parse(Value& out) {
    skip_space();
    if (!value(out, 0)) return false;
    skip_space();
    return p_ == end_;
  }

 private:
  // Deeper documents go to nlohmann (whose SAX parser does not recurse): this one does.
  static constexpr int kMaxFastDepth = 128;

  void skip_space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool value(Value& out, int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return object(out, depth);
      case '[':
        return array(out, depth);
      case '"': {
        std::string s;
        if (!string(s)) return false;
        out = Value(std::move(s));
        return true;
      }
      case 't':
        out = Value(true);
        return literal("true");
      case 'f':
        out = Value(false);
        return literal("false");
      case 'n':
        out = Value();
        return literal("null");
      default:
        return number(out);
    }
  }

  /// The items of an object or array up to `close`, separated by commas, each read by `item`
  /// (p_ is on the opening bracket).
  template <typename Item>
  bool items(unsigned char close, Item&& item) {
    ++p_;
    skip_space();
    if (p_ < end_ && *p_ == close) {
      ++p_;
      return true;
    }
    while (true) {
      skip_space();
      if (!item()) return false;
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != close) return false;
      ++p_;
      return true;
    }
  }

  bool object(Value& out, int depth) {
    // ValueBuilder refuses to open a container when `max_depth` are open already.
    if (depth >= max_depth_) return false;
    Map m;
    const bool ok = items('}', [&] {
      std::string key;
      if (p_ == end_ || *p_ != '"' || !string(key)) return false;
      skip_space();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      skip_space();
      Value item;
      if (!value(item, depth + 1)) return false;
      // Keys usually come sorted (to_json writes them so): the hint makes each insert O(1).
      m.insert_or_assign(m.end(), std::move(key), std::move(item));  // the last of equal keys wins
      return true;
    });
    if (ok) out = Value(std::move(m));
    return ok;
  }

  bool array(Value& out, int depth) {
    if (depth >= max_depth_) return false;
    List l;
    const bool ok = items(']', [&] {
      l.emplace_back();
      return value(l.back(), depth + 1);
    });
    if (ok) out = Value(std::move(l));
    return ok;
  }

  bool string(std::string& out) {
    ++p_;  // the opening quote
    const unsigned char* run = p_;
    while (true) {
      p_ += plain_run(p_, static_cast<std::size_t>(end_ - p_));
      if (p_ == end_) return false;
      const unsigned char c = *p_;
      if (c == '"') {
        out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p_ - run));
        ++p_;
        return true;
      }
      if (c >= 0x80) {
        const std::size_t n = utf8_sequence(p_, end_);
        if (n == 0) return false;
        p_ += n;
        continue;
      }
      if (c != '\\' || end_ - p_ < 2) return false;  // a raw control character, or a cut escape
      out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p_ - run));
      switch (p_[1]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        default:
          return false;  // \u (surrogate pairs and all) and invalid escapes: nlohmann's
      }
      p_ += 2;
      run = p_;
    }
  }

  bool number(Value& out) {
    const unsigned char* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    const unsigned char* digits = p_;
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    const auto int_digits = p_ - digits;
    bool integer = true;
    if (p_ < end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (integer) {
      if (int_digits > 18) return false;  // may not fit: nlohmann's unsigned and float rules
      int64_t v = 0;
      for (const unsigned char* d = digits; d < p_; ++d) v = v * 10 + (*d - '0');
      out = Value(*start == '-' ? -v : v);
      return true;
    }
    double d = 0;
    const auto [ptr, ec] =
        std::from_chars(reinterpret_cast<const char*>(start), reinterpret_cast<const char*>(p_), d);
    if (ec != std::errc() || ptr != reinterpret_cast<const char*>(p_) || !std::isfinite(d)) {
      return false;
    }
    out = Value(d);
    return true;
  }

  const unsigned char* p_;
  const unsigned char* const end_;
  const int max_depth_;
};

void write_number(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  if (d == std::floor(d) && std::fabs(d) < 9.0e15) {
    out += std::to_string(static_cast<int64_t>(d));
    return;
  }
  out += json(d).dump();
}

void write(std::string& out, const Value& v, int indent, int level) {
  auto newline = [&](int lvl) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(lvl), ' ');
  };
  switch (v.type()) {
    case Value::Type::kNull:
      out += "null";
      return;
    case Value::Type::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Type::kInt:
      out += std::to_string(v.as_int());
      return;
    case Value::Type::kDouble:
      write_number(out, v.as_double());
      return;
    case Value::Type::kString:
      write_string(out, v.as_string());
      return;
    case Value::Type::kList: {
      const List& l = v.as_list();
      out += '[';
      for (std::size_t i = 0; i < l.size(); ++i) {
        if (i > 0) out += ',';
        newline(level + 1);
        write(out, l[i], indent, level + 1);
      }
      if (!l.empty()) newline(level);
      out += ']';
      return;
    }
    case Value::Type::kMap: {
      const Map& m = v.as_map();
      out += '{';
      bool first = true;
      for (const auto& [k, item] : m) {
        if (!first) out += ',';
        first = false;
        newline(level + 1);
        write_string(out, k);
        out += indent < 0 ? ":" : ": ";
        write(out, item, indent, level + 1);
      }
      if (!m.empty()) newline(level);
      out += '}';
      return;
    }
  }
}

/// What every parse checks first: the size limit, and no raw NUL byte.
Status check_outer(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return make_error(ErrorCode::kResourceExhausted,
                      "JSON input of " + std::to_string(text.size()) +
                          " bytes exceeds the limit of " + std::to_string(limits.max_bytes) +
                          " bytes");
  }
  // JSON never holds a raw NUL byte (inside a string it must be escaped), and nlohmann's lexer
  // reads one as the end of input: "{...}\0{...}" would parse as its first half alone.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    return invalid_argument("invalid JSON at " + line_column(text, nul) + ": a NUL byte");
  }
  return {};
}

Result<Value> parse_with_nlohmann(std::string_view text, const JsonLimits& limits);

}  // namespace

Result<Value> parse_json(std::string_view text, const JsonLimits& limits) {
  if (Status s = check_outer(text, limits); !s.ok()) return s.error();
  {
    Value fast;
    if (FastParser(text, limits.max_depth).parse(fast)) return fast;
  }
  return parse_with_nlohmann(text, limits);
}

Result<Value> parse_json_reference(std::string_view text, const JsonLimits& limits) {
  if (Status s = check_outer(text, limits); !s.ok()) return s.error();
  return parse_with_nlohmann(text, limits);
}

namespace {

Result<Value> parse_with_nlohmann(std::string_view text, const JsonLimits& limits) {
  ValueBuilder builder(limits.max_depth);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const std::exception& ex) {
    return invalid_argument(std::string("invalid JSON: ") + ex.what());
  }
  if (ok) return builder.take();
  if (builder.depth_exceeded()) {
    return make_error(ErrorCode::kResourceExhausted, "JSON input: " + builder.error());
  }
  std::string message = builder.error();
  // nlohmann's message starts with "[json.exception.parse_error.101] parse error at ...".
  if (auto pos = message.find("] "); pos != std::string::npos) message = message.substr(pos + 2);
  return invalid_argument("invalid JSON at " +
                          line_column(text, builder.position() > 0 ? builder.position() - 1 : 0) +
                          ": " + message);
}

}  // namespace

Status check_json_nesting(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return make_error(ErrorCode::kResourceExhausted,
                          "JSON input nests deeper than the limit of " + std::to_string(max_depth) +
                              " levels (at byte " + std::to_string(i) + ")");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return {};
}

std::string to_json(const Value& value) {
  std::string out;
  write(out, value, -1, 0);
  return out;
}

void append_json(std::string& out, const Value& value) {
  write(out, value, -1, 0);
}

void append_json_string(std::string& out, std::string_view s) {
  write_string(out, s);
}

std::string to_pretty_json(const Value& value) {
  std::string out;
  write(out, value, 2, 0);
  return out;
}

}  // namespace stepgate
