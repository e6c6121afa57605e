#include "push_parser.h"

#include <algorithm>
#include <functional>

namespace stepgate {
namespace {

constexpr std::string_view kDeleteMarker = "(delete)";

/// Splits on single spaces; an empty field (two spaces, leading or trailing space) stays empty.
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    std::size_t space = line.find(' ', start);
    if (space == std::string_view::npos) {
      fields.push_back(line.substr(start));
      return fields;
    }
    fields.push_back(line.substr(start, space - start));
    start = space + 1;
  }
}

bool is_valid_ref(std::string_view ref) {
  if (ref.size() < 6 || ref.substr(0, 5) != "refs/") return false;
  return std::none_of(ref.begin(), ref.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ' ';
  });
}

Error line_error(int number, const std::string& what) {
  return invalid_argument("stdin line " + std::to_string(number) + ": " + what);
}

using LineParser = std::function<Result<RefUpdate>(std::string_view line, int number)>;

/// Feeds each line (without its LF and an optional CR) to `parse`. Only a final LF may end the
/// text; an empty line anywhere is malformed.
Result<std::vector<RefUpdate>> parse_lines(std::string_view text, const LineParser& parse) {
  std::vector<RefUpdate> updates;
  int number = 0;
  while (!text.empty()) {
    ++number;
    std::size_t lf = text.find('\n');
    std::string_view line = text.substr(0, lf);
    text = lf == std::string_view::npos ? std::string_view{} : text.substr(lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return line_error(number, "empty line");
    if (updates.size() >= kMaxRefUpdates) {
      return line_error(number, "more than " + std::to_string(kMaxRefUpdates) +
                                    " ref updates in one push (the limit on refs per push, "
                                    "max_ref_updates); push fewer refs at a time");
    }
    auto update = parse(line, number);
    if (!update.ok()) return update.error();
    update->line = number;
    updates.push_back(std::move(update).value());
  }
  return updates;
}

Result<RefUpdate> parse_push_line(std::string_view line, int number) {
  auto f = split_fields(line);
  if (f.size() != 4) {
    return line_error(number,
                      "expected 4 space-separated fields "
                      "(<local ref> <local sha> <remote ref> <remote sha>), got " +
                          std::to_string(f.size()));
  }
  RefUpdate u{std::string(f[0]), std::string(f[1]), std::string(f[2]), std::string(f[3]), number};
  if (u.local_ref.empty()) return line_error(number, "empty local ref");
  if (!is_hex_oid(u.local_sha)) return line_error(number, "local sha is not an object id");
  if (!is_valid_ref(u.remote_ref))
    return line_error(number, "remote ref must be a full refs/... name");
  if (!is_hex_oid(u.remote_sha)) return line_error(number, "remote sha is not an object id");
  if ((u.local_ref == kDeleteMarker) != is_zero_oid(u.local_sha)) {
    return line_error(number, "a delete needs both the (delete) local ref and a zero local sha");
  }
  if (u.local_sha.size() != u.remote_sha.size())
    return line_error(number, "object id lengths differ");
  return u;
}

Result<RefUpdate> parse_receive_line(std::string_view line, int number) {
  auto f = split_fields(line);
  if (f.size() != 3) {
    return line_error(number,
                      "expected 3 space-separated fields (<old sha> <new sha> <ref>), got " +
                          std::to_string(f.size()));
  }
  RefUpdate u{std::string(f[2]), std::string(f[1]), std::string(f[2]), std::string(f[0]), number};
  if (!is_hex_oid(u.remote_sha)) return line_error(number, "old sha is not an object id");
  if (!is_hex_oid(u.local_sha)) return line_error(number, "new sha is not an object id");
  if (!is_valid_ref(u.remote_ref)) return line_error(number, "ref must be a full refs/... name");
  if (u.local_sha.size() != u.remote_sha.size())
    return line_error(number, "object id lengths differ");
  if (is_zero_oid(u.local_sha) && is_zero_oid(u.remote_sha)) {
    return line_error(number, "old and new sha are both zero");
  }
  if (is_zero_oid(u.local_sha)) u.local_ref = std::string(kDeleteMarker);
  return u;
}

}  // namespace

bool RefUpdate::is_delete() const {
  return is_zero_oid(local_sha);
}
bool RefUpdate::is_new() const {
  return is_zero_oid(remote_sha);
}

bool is_hex_oid(std::string_view sha) {
  if (sha.size() != 40 && sha.size() != 64) return false;
  return std::all_of(sha.begin(), sha.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

bool is_zero_oid(std::string_view sha) {
  return is_hex_oid(sha) && std::all_of(sha.begin(), sha.end(), [](char c) { return c == '0'; });
}

Result<std::vector<RefUpdate>> parse_pre_push(std::string_view text) {
  return parse_lines(text, parse_push_line);
}

Result<std::vector<RefUpdate>> parse_pre_receive(std::string_view text) {
  return parse_lines(text, parse_receive_line);
}

}  // namespace stepgate
