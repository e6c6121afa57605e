#pragma once
/// Change windows (`ci.change_window`): the days and hours in which deployments are expected.
/// Parsed once when the policy loads, so a malformed window is a load error at its position.

#include <array>
#include <string_view>
#include <vector>

#include "stepgate/result.h"

namespace stepgate {

/// One window, e.g. "Mon-Thu 09:00-16:00".
struct ChangeWindow {
  std::array<bool, 7> days{};  // 0 = Sunday
  int start = 0;               // minutes after midnight, inclusive
  int end = 0;                 // exclusive; before `start`, the window crosses midnight
};

/// Parses windows separated by ';', days as ranges or comma lists ("Mon-Thu", "Mon,Wed,Fri",
/// "Sat-Sun"), times HH:MM. An empty spec gives no windows. kInvalidArgument naming the bad part.
Result<std::vector<ChangeWindow>> parse_change_windows(std::string_view spec);

/// Whether local `weekday` (0 = Sunday) and `minute` (after midnight) fall inside one of
/// `windows`; true when there are none (no window configured: always inside). A window that
/// crosses midnight holds the evening of its listed days and the early hours of the next.
bool inside_change_windows(const std::vector<ChangeWindow>& windows, int weekday, int minute);

}  // namespace stepgate
