#include "tzfile.h"

#include <optional>
#include <vector>

namespace stepgate::tzfile {
namespace {

constexpr std::int64_t kDay = 86400;
constexpr std::size_t kHeaderBytes = 44;

Error malformed(const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, "malformed time zone file: " + what);
}

std::int64_t read_be(std::string_view data, std::size_t at, std::size_t bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(data[at + i]);
  if (bytes == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
  return static_cast<std::int64_t>(v);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::int64_t year_of(std::int64_t days) {
  const std::int64_t z = days + 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  return yoe + era * 400 + (mp >= 10 ? 1 : 0);
}

bool leap_year(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(std::int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : kDays[m - 1];
}

/// Reads a POSIX TZ string left to right.
class RuleReader {
 public:
  explicit RuleReader(std::string_view s) : s_(s) {}
  [[nodiscard]] bool done() const { return at_ == s_.size(); }
  bool take(char c) {
    if (at_ < s_.size() && s_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  [[nodiscard]] bool at_offset() const {
    return at_ < s_.size() && (s_[at_] == '+' || s_[at_] == '-' || is_digit(s_[at_]));
  }

  /// A zone abbreviation: three or more letters, or anything but '>' in angle brackets.
  bool name() {
    const std::size_t start = at_;
    if (take('<')) {
      while (at_ < s_.size() && s_[at_] != '>') ++at_;
      return take('>') && at_ - start >= 5;
    }
    while (at_ < s_.size() && is_alpha(s_[at_])) ++at_;
    return at_ - start >= 3;
  }

  std::optional<std::int64_t> number(std::int64_t max) {
    const std::size_t start = at_;
    std::int64_t v = 0;
    while (at_ < s_.size() && is_digit(s_[at_]) && at_ - start < 3) {
      v = v * 10 + (s_[at_] - '0');
      ++at_;
    }
    if (at_ == start || v > max) return std::nullopt;
    return v;
  }

 private:
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  std::string_view s_;
  std::size_t at_ = 0;
};

/// [+-]hh[:mm[:ss]] in seconds; hours up to 167 (RFC 8536's extension for rule times).
std::optional<std::int64_t> read_hms(RuleReader& r) {
  const bool negative = r.take('-');
  if (!negative) (void)r.take('+');
  const auto hours = r.number(167);
  if (!hours) return std::nullopt;
  std::int64_t total = *hours * 3600;
  if (r.take(':')) {
    const auto minutes = r.number(59);
    if (!minutes) return std::nullopt;
    total += *minutes * 60;
    if (r.take(':')) {
      const auto seconds = r.number(59);
      if (!seconds) return std::nullopt;
      total += *seconds;
    }
  }
  return negative ? -total : total;
}

/// When in a year a change happens: Jn (1-365, no Feb 29), n (0-365), or Mm.w.d.
struct ChangeRule {
  enum class Form { kJulian, kZeroBased, kMonthWeekDay } form = Form::kMonthWeekDay;
  int day = 0;  // n, or d (0 = Sunday) for Mm.w.d
  int month = 0;
  int week = 0;
  std::int64_t time = 2 * 3600;  // local time of day of the change

  /// Days since the epoch of the change's date in `year`.
  [[nodiscard]] std::int64_t date_in(std::int64_t year) const {
    const std::int64_t jan1 = days_from_civil(year, 1, 1);
    switch (form) {
      case Form::kJulian:
        return jan1 + day - 1 + (leap_year(year) && day >= 60 ? 1 : 0);
      case Form::kZeroBased:
        return jan1 + day;
      case Form::kMonthWeekDay:
        break;
    }
    const std::int64_t first = days_from_civil(year, month, 1);
    const std::int64_t first_wday = ((first + 4) % 7 + 7) % 7;  // 1970-01-01 was a Thursday
    std::int64_t d = 1 + (day - first_wday + 7) % 7 + std::int64_t{week - 1} * 7;
    while (d > days_in_month(year, month)) d -= 7;
    return first + d - 1;
  }
};

std::optional<ChangeRule> read_change(RuleReader& r) {
  ChangeRule c;
  if (r.take('J')) {
    c.form = ChangeRule::Form::kJulian;
    const auto n = r.number(365);
    if (!n || *n < 1) return std::nullopt;
    c.day = static_cast<int>(*n);
  } else if (r.take('M')) {
    const auto m = r.number(12);
    if (!m || *m < 1 || !r.take('.')) return std::nullopt;
    const auto w = r.number(5);
    if (!w || *w < 1 || !r.take('.')) return std::nullopt;
    const auto d = r.number(6);
    if (!d) return std::nullopt;
    c.month = static_cast<int>(*m);
    c.week = static_cast<int>(*w);
    c.day = static_cast<int>(*d);
  } else {
    c.form = ChangeRule::Form::kZeroBased;
    const auto n = r.number(365);
    if (!n) return std::nullopt;
    c.day = static_cast<int>(*n);
  }
  if (r.take('/')) {
    const auto time = read_hms(r);
    if (!time) return std::nullopt;
    c.time = *time;
  }
  return c;
}

}  // namespace

Result<std::int64_t> posix_offset_at(std::string_view rule, std::int64_t t) {
  const Error bad =
      make_error(ErrorCode::kInvalidArgument, "not a POSIX TZ rule: \"" + std::string(rule) + "\"");
  RuleReader r(rule);
  if (!r.name()) return bad;
  const auto std_west = read_hms(r);
  if (!std_west) return bad;
  const std::int64_t std_offset = -*std_west;  // POSIX counts west of Greenwich as positive
  if (r.done()) return std_offset;
  if (!r.name()) return bad;
  std::int64_t dst_offset = std_offset + 3600;
  if (r.at_offset()) {
    const auto dst_west = read_hms(r);
    if (!dst_west) return bad;
    dst_offset = -*dst_west;
  }
  // No rule: the US rule glibc assumes too (zic always writes one).
  ChangeRule start{ChangeRule::Form::kMonthWeekDay, 0, 3, 2};
  ChangeRule end{ChangeRule::Form::kMonthWeekDay, 0, 11, 1};
  if (r.take(',')) {
    auto s = read_change(r);
    if (!s || !r.take(',')) return bad;
    auto e = read_change(r);
    if (!e) return bad;
    start = *s;
    end = *e;
  }
  if (!r.done()) return bad;
  // The start is given in standard local time, the end in daylight local time.
  const std::int64_t year = year_of(floor_div(t + std_offset, kDay));
  const std::int64_t starts = start.date_in(year) * kDay + start.time - std_offset;
  const std::int64_t ends = end.date_in(year) * kDay + end.time - dst_offset;
  const bool daylight = starts < ends ? (t >= starts && t < ends) : !(t >= ends && t < starts);
  return daylight ? dst_offset : std_offset;
}

Result<std::int64_t> offset_at(std::string_view data, std::int64_t t) {
  if (data.size() < kHeaderBytes || data.substr(0, 4) != "TZif") return malformed("no TZif header");
  auto counts = [&](std::size_t at, std::int64_t out[6]) {
    for (int i = 0; i < 6; ++i)
      out[i] = read_be(data, at + 20 + 4 * static_cast<std::size_t>(i), 4);
  };
  std::int64_t c[6];  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  counts(0, c);
  for (std::int64_t n : c) {
    if (n < 0 || n > 1'000'000) return malformed("count out of range");
  }
  std::size_t time_bytes = 4;
  std::size_t at = kHeaderBytes;
  auto block = [&](std::size_t tb) {
    return static_cast<std::size_t>(c[3]) * (tb + 1) + static_cast<std::size_t>(c[4]) * 6 +
           static_cast<std::size_t>(c[5]) + static_cast<std::size_t>(c[2]) * (tb + 4) +
           static_cast<std::size_t>(c[1] + c[0]);
  };
  if (data[4] >= '2') {  // skip the 32-bit block: the 64-bit one and the footer follow
    at += block(4);
    if (data.size() < at + kHeaderBytes || data.substr(at, 4) != "TZif") {
      return malformed("no second header");
    }
    counts(at, c);
    for (std::int64_t n : c) {
      if (n < 0 || n > 1'000'000) return malformed("count out of range");
    }
    at += kHeaderBytes;
    time_bytes = 8;
  }
  const auto timecnt = static_cast<std::size_t>(c[3]);
  const auto typecnt = static_cast<std::size_t>(c[4]);
  if (typecnt == 0 || data.size() < at + block(time_bytes)) return malformed("truncated");
  const std::size_t indices = at + timecnt * time_bytes;
  const std::size_t types = indices + timecnt;
  auto type_offset = [&](std::size_t type) -> Result<std::int64_t> {
    if (type >= typecnt) return malformed("transition to an undefined type");
    return read_be(data, types + type * 6, 4);
  };
  std::string_view footer;
  if (time_bytes == 8) {
    const std::size_t start = at + block(8);
    if (start < data.size() && data[start] == '\n') {
      const std::size_t end = data.find('\n', start + 1);
      if (end != std::string_view::npos) footer = data.substr(start + 1, end - start - 1);
    }
  }
  // The last transition at or before t (binary search over the sorted table).
  std::size_t lo = 0;
  std::size_t hi = timecnt;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (read_be(data, at + mid * time_bytes, time_bytes) <= t) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == timecnt && !footer.empty()) return posix_offset_at(footer, t);
  if (lo == 0) return type_offset(0);  // before the first transition: the first type
  return type_offset(static_cast<unsigned char>(data[indices + lo - 1]));
}

}  // namespace stepgate::tzfile
