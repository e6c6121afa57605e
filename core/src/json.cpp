#include "stepgate/json.h"

#include <cmath>
#include <nlohmann/json.hpp>

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

/// Whether s is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
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
      return false;
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static constexpr unsigned kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

void write_string(std::string& out, const std::string& s) {
  // Invalid UTF-8 is rare: nlohmann replaces it with U+FFFD rather than throwing.
  if (!valid_utf8(s)) {
    out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
    return;
  }
  // The same escapes nlohmann's dump makes, without building a json value per string (this is
  // on every digest and audit record).
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  // Runs of characters that need no escape are appended whole (one push_back per character was
  // a fifth of an audit record's cost).
  const char* run = s.data();
  const char* const end = s.data() + s.size();
  for (const char* p = run; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(run, p);
    run = p + 1;
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
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(run, end);
  out += '"';
}

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

}  // namespace

Result<Value> parse_json(std::string_view text, const JsonLimits& limits) {
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

std::string to_pretty_json(const Value& value) {
  std::string out;
  write(out, value, 2, 0);
  return out;
}

}  // namespace stepgate
