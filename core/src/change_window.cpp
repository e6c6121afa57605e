// `ci.change_window`: moved here from the CI front-end so that the policy loader checks it.
#include "stepgate/change_window.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <string>

namespace stepgate {
namespace {

constexpr std::array<const char*, 7> kDays = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/// "Mon", "monday", "TUE"... (the first three letters decide) to 0-6, 0 = Sunday.
Result<int> parse_day(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (int i = 0; i < 7; ++i) {
    if (text.size() >= 3 && text.compare(0, 3, kDays[i]) == 0) return i;
  }
  return invalid_argument("unknown weekday `" + text + "`");
}

/// "Mon-Thu" or "Mon,Wed,Fri" or "Sat-Sun" into a 7-bit set (0 = Sunday).
Result<std::array<bool, 7>> parse_days(const std::string& text) {
  std::array<bool, 7> days{};
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    auto dash = item.find('-');
    auto first = parse_day(item.substr(0, dash));
    if (!first) return first.error();
    auto last = dash == std::string::npos ? first : parse_day(item.substr(dash + 1));
    if (!last) return last.error();
    for (int d = *first;; d = (d + 1) % 7) {
      days[d] = true;
      if (d == *last) break;
    }
  }
  return days;
}

Result<int> parse_clock(const std::string& text) {
  int h = 0;
  int m = 0;
  char colon = 0;
  std::istringstream in(text);
  if (!(in >> h >> colon >> m) || colon != ':' || h < 0 || h > 24 || m < 0 || m > 59 ||
      (h == 24 && m != 0) || !in.eof()) {
    return invalid_argument("bad time `" + text + "` (want HH:MM)");
  }
  return h * 60 + m;
}

Result<ChangeWindow> parse_window(const std::string& text) {
  std::istringstream in(text);
  std::string days_text;
  std::string times;
  std::string rest;
  if (!(in >> days_text >> times) || (in >> rest)) {
    return invalid_argument("change window `" + text + "`: want \"Mon-Thu 09:00-16:00\"");
  }
  ChangeWindow w;
  auto days = parse_days(days_text);
  if (!days) return invalid_argument("change window `" + text + "`: " + days.error().message);
  w.days = *days;
  auto dash = times.find('-');
  if (dash == std::string::npos) {
    return invalid_argument("change window `" + text + "`: no time range");
  }
  auto start = parse_clock(times.substr(0, dash));
  auto end = parse_clock(times.substr(dash + 1));
  if (!start) return invalid_argument("change window `" + text + "`: " + start.error().message);
  if (!end) return invalid_argument("change window `" + text + "`: " + end.error().message);
  w.start = *start;
  w.end = *end;
  return w;
}

bool window_contains(const ChangeWindow& w, int weekday, int minute) {
  if (w.start < w.end) return w.days[weekday] && minute >= w.start && minute < w.end;
  // Crosses midnight: the evening belongs to the listed day, the early hours to the next one.
  int yesterday = (weekday + 6) % 7;
  return (w.days[weekday] && minute >= w.start) || (w.days[yesterday] && minute < w.end);
}

}  // namespace

Result<std::vector<ChangeWindow>> parse_change_windows(std::string_view spec) {
  std::vector<ChangeWindow> windows;
  if (spec.empty()) return windows;
  std::stringstream parts{std::string(spec)};
  std::string part;
  while (std::getline(parts, part, ';')) {
    auto window = parse_window(part);
    if (!window) return window.error();
    windows.push_back(*window);
  }
  return windows;
}

bool inside_change_windows(const std::vector<ChangeWindow>& windows, int weekday, int minute) {
  if (windows.empty()) return true;
  return std::any_of(windows.begin(), windows.end(),
                     [&](const ChangeWindow& w) { return window_contains(w, weekday, minute); });
}

}  // namespace stepgate
