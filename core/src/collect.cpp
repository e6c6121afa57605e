#include "stepgate/collect.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "stepgate/crypto.h"
#include "stepgate/files.h"
#include "stepgate/paths.h"
#include "stepgate/signals.h"
#include "tzfile.h"

namespace stepgate {
namespace {

std::string first_line_of(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

constexpr const char* kZoneInfoDir = "/usr/share/zoneinfo/";

bool is_known_zone(const std::string& tz) {
  if (tz.empty() || tz.front() == '/' || tz.find("..") != std::string::npos) return false;
  std::error_code ec;
  return std::filesystem::is_regular_file(std::string(kZoneInfoDir) + tz, ec);
}

constexpr std::size_t kMaxZoneFileBytes = 256 * 1024;  // the largest in tzdata is under 4 KiB

/// Days since 1970-01-01 to the weekday (0 = Sunday; 1970-01-01 was a Thursday).
int weekday_of(std::int64_t days) {
  return static_cast<int>(((days + 4) % 7 + 7) % 7);
}

bool in_business_hours(const LocalTime& t, const BusinessHours& hours) {
  const bool day =
      std::find(hours.weekdays.begin(), hours.weekdays.end(), t.weekday) != hours.weekdays.end();
  return day && t.hour >= hours.start_hour && t.hour < hours.end_hour;
}

Status store_signals(const Action& action, const Policy& policy, const CollectContext& context,
                     Map& signals) {
  StateStore& store = *context.store;
  Result<bool> known = store.is_device_known(action.actor, context.device);
  if (!known.ok()) return known.error();
  signals["device_known"] = Value(*known);
  const UnixTime since = context.now - policy.velocity_window.count();
  Result<int> count = store.count_actions(action.kind, action.actor, since);
  if (!count.ok()) return count.error();
  signals["velocity"] = Value(*count + 1);
  Result<std::optional<Elevation>> elevation =
      store.find_elevation(action.actor, context.device, context.now);
  if (!elevation.ok()) return elevation.error();
  signals["elevated"] = Value(elevation->has_value());
  return {};
}

}  // namespace

static std::string compute_device_fingerprint();

std::string device_fingerprint(const Env& env) {
  if (std::string forced = env.get("STEPGATE_DEVICE"); !forced.empty()) return forced;
  static const std::string kComputed = compute_device_fingerprint();  // stable for the process
  return kComputed;
}

static std::string compute_device_fingerprint() {
  std::string machine = first_line_of("/etc/machine-id");
  if (machine.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    machine = host;
  }
  return sha256_hex(machine + "\n" + os_user_name()).substr(0, 16);
}

Result<LocalTime> local_time(UnixTime t, const std::string& timezone) {
  const bool utc = timezone.empty() || timezone == "UTC" || timezone == "Etc/UTC";
  if (!utc && !is_known_zone(timezone)) {
    return invalid_argument("unknown timezone \"" + timezone +
                            "\" (use an IANA name like Europe/Paris)");
  }
  std::int64_t offset = 0;
  if (!utc) {
    // Read from the zone's file for this call alone: the C library converts only through the
    // process-wide TZ variable, which the daemon's other threads would see change.
    auto data = read_file(std::string(kZoneInfoDir) + timezone, kMaxZoneFileBytes);
    if (!data.ok()) return data.error();
    auto zone_offset = tzfile::offset_at(*data, t);
    if (!zone_offset.ok()) {
      return invalid_argument("timezone \"" + timezone + "\": " + zone_offset.error().message);
    }
    offset = *zone_offset;
  }
  const std::int64_t local = t + offset;
  const std::int64_t days = local / 86400 - (local % 86400 < 0 ? 1 : 0);
  const std::int64_t seconds = local - days * 86400;
  return LocalTime{static_cast<int>(seconds / 3600), static_cast<int>(seconds % 3600 / 60),
                   weekday_of(days)};
}

Status collect_common_signals(const Action& action, const Policy& policy,
                              const CollectContext& context, Value& signals) {
  if (!signals.is_map()) signals = Value(Map{});
  Map& out = signals.as_map();
  Result<LocalTime> local = local_time(context.now, policy.timezone);
  if (!local.ok()) return local.error();
  out["hour"] = Value(local->hour);
  out["weekday"] = Value(local->weekday);
  out["off_hours"] = Value(!in_business_hours(*local, policy.business_hours));
  out["actor"] = Value(action.actor);
  out["device"] = Value(context.device);
  if (context.store == nullptr) return {};
  return store_signals(action, policy, context, out);
}

void fill_signal_defaults(const std::string& kind, Value& signals) {
  if (!signals.is_map()) signals = Value(Map{});
  Map& out = signals.as_map();
  // The built-in registry never changes: a long-running front-end asks for the same kind call
  // after call, and matching every spec's kind globs each time was 3 % of a shim call.
  thread_local std::string cached_kind;
  thread_local std::vector<std::pair<std::string, Value>> defaults;  // sorted by name
  if (cached_kind != kind || defaults.empty()) {
    defaults.clear();
    for (const SignalSpec* spec : SignalRegistry::builtin().for_kind(kind)) {
      defaults.emplace_back(spec->name, default_signal_value(spec->type));
    }
    std::sort(defaults.begin(), defaults.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    cached_kind = kind;
  }
  // One walk over both sorted sequences, inserting each missing default where the walk is (a
  // look-up per signal was 8 % of an authority's decision).
  auto at = out.begin();
  for (const auto& [name, value] : defaults) {
    while (at != out.end() && at->first < name) ++at;
    if (at != out.end() && at->first == name) continue;
    out.emplace_hint(at, name, value);
  }
}

}  // namespace stepgate
