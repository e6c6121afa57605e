#include "stepgate/collect.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "stepgate/crypto.h"
#include "stepgate/paths.h"
#include "stepgate/signals.h"

namespace stepgate {
namespace {

std::string first_line_of(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

bool is_known_zone(const std::string& tz) {
  if (tz.empty() || tz.front() == '/' || tz.find("..") != std::string::npos) return false;
  std::error_code ec;
  return std::filesystem::is_regular_file("/usr/share/zoneinfo/" + tz, ec);
}

// localtime_r under a private TZ: the C library only converts through the TZ environment
// variable (libstdc++ 12 has no std::chrono::zoned_time), so switch it under a lock and restore.
std::tm to_local(std::time_t t, const std::string& tz) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  const char* old = std::getenv("TZ");
  const std::string saved = old != nullptr ? old : "";
  setenv("TZ", tz.c_str(), 1);
  tzset();
  std::tm out{};
  localtime_r(&t, &out);
  if (old != nullptr)
    setenv("TZ", saved.c_str(), 1);
  else
    unsetenv("TZ");
  tzset();
  return out;
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
  const auto tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (utc)
    gmtime_r(&tt, &tm);
  else
    tm = to_local(tt, timezone);
  return LocalTime{tm.tm_hour, tm.tm_min, tm.tm_wday};
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
  thread_local std::vector<const SignalSpec*> cached_specs;
  if (cached_kind != kind || cached_specs.empty()) {
    cached_specs = SignalRegistry::builtin().for_kind(kind);
    cached_kind = kind;
  }
  for (const SignalSpec* spec : cached_specs) {
    if (out.find(spec->name) == out.end())
      out.emplace(spec->name, default_signal_value(spec->type));
  }
}

}  // namespace stepgate
