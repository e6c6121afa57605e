#include "stepgate/collect.h"

#include <doctest/doctest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "stepgate/signals.h"

#include "test_util.h"

namespace stepgate {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

// Sets (or unsets, with nullopt) an environment variable for a scope, then restores it.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> saved;
  ScopedEnv(const char* n, const std::optional<std::string>& value) : name(n) {
    if (const char* old = std::getenv(n)) saved = old;
    value ? setenv(n, value->c_str(), 1) : unsetenv(n);
  }
  ~ScopedEnv() { saved ? setenv(name.c_str(), saved->c_str(), 1) : unsetenv(name.c_str()); }
};

std::unique_ptr<StateStore> open_store(const TempDir& dir) {
  auto s = StateStore::open(dir.path() + "/state.db");
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
  return std::move(*s);
}

// Calendar anchors (UTC): 2024-07-01 was a Monday, 2024-01-15 a Monday.
constexpr UnixTime kMonJul1Noon = 1719835200;   // 2024-07-01 12:00:00 UTC
constexpr UnixTime kMonJan15Noon = 1705320000;  // 2024-01-15 12:00:00 UTC
constexpr UnixTime kHour = 3600;
constexpr UnixTime kDay = 86400;

Action push_by(const std::string& actor) {
  return Action{"git.push", actor, "origin/main", Map{}};
}

Value collect(const Policy& policy, UnixTime now, StateStore* store = nullptr,
              const std::string& device = "dev-1", const std::string& actor = "alice") {
  Value signals;
  CollectContext context{now, device, store};
  Status s = collect_common_signals(push_by(actor), policy, context, signals);
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
  return signals;
}

TEST_CASE("collect: local_time in UTC and IANA zones at fixed instants") {
  struct Row {
    UnixTime t;
    const char* zone;
    int hour, minute, weekday;
  };
  const Row rows[] = {
      {kMonJul1Noon, "UTC", 12, 0, 1},
      {kMonJul1Noon, "", 12, 0, 1},
      {kMonJul1Noon, "Etc/UTC", 12, 0, 1},
      {kMonJul1Noon, "Europe/Paris", 14, 0, 1},                   // CEST, UTC+2
      {kMonJan15Noon, "Europe/Paris", 13, 0, 1},                  // CET, UTC+1
      {kMonJul1Noon, "America/New_York", 8, 0, 1},                // EDT, UTC-4
      {kMonJan15Noon, "America/New_York", 7, 0, 1},               // EST, UTC-5
      {kMonJul1Noon - 10 * kHour, "America/New_York", 22, 0, 0},  // previous day, Sunday
      {kMonJul1Noon, "Asia/Kolkata", 17, 30, 1},                  // IST, UTC+5:30
      {kMonJan15Noon + 7 * kHour, "Asia/Kolkata", 0, 30, 2},      // next day, Tuesday
  };
  for (const Row& row : rows) {
    INFO(row.t << " " << row.zone);
    Result<LocalTime> local = local_time(row.t, row.zone);
    REQUIRE_MESSAGE(local.ok(), (local.ok() ? "" : local.error().message));
    CHECK(local->hour == row.hour);
    CHECK(local->minute == row.minute);
    CHECK(local->weekday == row.weekday);
  }
}

TEST_CASE("collect: unknown or unsafe timezones are errors, and collection fails with them") {
  for (const char* zone : {"Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "Nowhere"}) {
    CAPTURE(zone);
    Result<LocalTime> local = local_time(kMonJul1Noon, zone);
    REQUIRE_FALSE(local.ok());
    CHECK(local.error().code == ErrorCode::kInvalidArgument);
    CHECK(local.error().message.find("timezone") != std::string::npos);
  }
  Policy policy;
  policy.timezone = "Mars/Olympus_Mons";
  Value signals;
  CHECK_FALSE(
      collect_common_signals(push_by("alice"), policy, {kMonJul1Noon, "d", nullptr}, signals).ok());
}

TEST_CASE("collect: hour, weekday and off_hours against business hours") {
  const Policy utc;  // defaults: UTC, 09:00-18:00, Monday to Friday
  auto loaded = load_policy_text(
      "version: 1\nname: t\ntimezone: Europe/Paris\n"
      "business_hours:\n  start: \"08:00\"\n  end: \"12:00\"\n  days: [sat]\nrules: []\n",
      "t.yaml");
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
  const Policy& paris = **loaded;  // Saturday 08:00-12:00 Paris time
  const UnixTime mon = kMonJul1Noon;
  const UnixTime sat = kMonJul1Noon + 5 * kDay;
  struct Row {
    const Policy* policy;
    UnixTime now;
    int hour, weekday;
    bool off;
  };
  // clang-format off
  const Row rows[] = {
      {&utc, mon, 12, 1, false},
      {&utc, mon - 3 * kHour, 9, 1, false},        // start is inclusive
      {&utc, mon - 3 * kHour - 60, 8, 1, true},    // 08:59
      {&utc, mon + 6 * kHour - 60, 17, 1, false},  // 17:59
      {&utc, mon + 6 * kHour, 18, 1, true},        // end is exclusive
      {&utc, mon + 4 * kDay, 12, 5, false},        // Friday
      {&utc, sat, 12, 6, true},                    // Saturday
      {&utc, mon + 6 * kDay, 12, 0, true},         // Sunday
      {&paris, sat, 14, 6, true},                  // 14:00 Paris, after the end
      {&paris, sat - 4 * kHour, 10, 6, false},     // 10:00 Paris
      {&paris, sat - 6 * kHour, 8, 6, false},      // 08:00 Paris, start inclusive
      {&paris, mon - 4 * kHour, 10, 1, true},      // 10:00 Monday: not a business day there
  };
  // clang-format on
  for (const Row& row : rows) {
    INFO(row.policy->timezone << " " << row.now);
    Value s = collect(*row.policy, row.now);
    CHECK(s.get_int("hour", -1) == row.hour);
    CHECK(s.get_int("weekday", -1) == row.weekday);
    REQUIRE(s.find("off_hours") != nullptr);
    CHECK(s.find("off_hours")->as_bool() == row.off);
  }
}

TEST_CASE("collect: actor and device; no store leaves state-backed signals to the defaults") {
  Policy policy;
  Value s = collect(policy, kMonJul1Noon, nullptr, "abcdef0123456789", "bob");
  CHECK(s.get_string("actor") == "bob");
  CHECK(s.get_string("device") == "abcdef0123456789");
  for (const char* name : {"device_known", "velocity", "elevated"}) {
    CAPTURE(name);
    CHECK(s.find(name) == nullptr);
  }
  fill_signal_defaults("git.push", s);
  CHECK(s.get_bool("device_known", true) == false);
  CHECK(s.get_int("velocity", -1) == 0);
  CHECK(s.get_bool("elevated", true) == false);
  CHECK(s.get_string("actor") == "bob");  // not overwritten
}

TEST_CASE("collect: device_known is false until the store marks the device known") {
  TempDir dir;
  auto store = open_store(dir);
  const Policy policy;
  auto known = [&](const char* device, const char* actor) {
    return collect(policy, kMonJul1Noon, store.get(), device, actor).get_bool("device_known", true);
  };
  CHECK_FALSE(known("dev-1", "alice"));
  REQUIRE(store->mark_device_known("alice", "dev-1").ok());
  CHECK(known("dev-1", "alice"));
  CHECK_FALSE(known("dev-2", "alice"));
  CHECK_FALSE(known("dev-1", "bob"));
}

TEST_CASE("collect: velocity counts this actor's actions of this kind within the window") {
  TempDir dir;
  auto store = open_store(dir);
  const UnixTime now = kMonJul1Noon;
  for (UnixTime ago : {7200, 700, 500, 10})
    REQUIRE(store->record_action("git.push", "alice", now - ago).ok());
  REQUIRE(store->record_action("tool.call", "alice", now - 5).ok());
  REQUIRE(store->record_action("git.push", "bob", now - 5).ok());
  struct Row {
    int64_t window_seconds;
    int64_t expected;  // recorded within the window, plus this action
  };
  const Row rows[] = {{60, 2}, {600, 3}, {3600, 4}, {86400, 5}};
  for (const Row& row : rows) {
    CAPTURE(row.window_seconds);
    Policy policy;
    policy.velocity_window = std::chrono::seconds(row.window_seconds);
    CHECK(collect(policy, now, store.get()).get_int("velocity", -1) == row.expected);
  }
  Policy policy;
  CHECK(collect(policy, now, store.get(), "dev-1", "carol").get_int("velocity", -1) == 1);
}

TEST_CASE("collect: elevated while a live elevation exists for this actor and device") {
  TempDir dir;
  auto store = open_store(dir);
  const UnixTime now = kMonJul1Noon;
  REQUIRE(store->add_elevation(Elevation{"alice", "dev-1", now - 100, now + 800, "totp"}).ok());
  Policy policy;
  struct Row {
    UnixTime at;
    const char* device;
    const char* actor;
    bool elevated;
  };
  const Row rows[] = {
      {now, "dev-1", "alice", true},        {now + 799, "dev-1", "alice", true},
      {now + 900, "dev-1", "alice", false},  // expired
      {now, "dev-2", "alice", false},       {now, "dev-1", "bob", false},
  };
  for (const Row& row : rows) {
    INFO(row.at << " " << row.device << " " << row.actor);
    CHECK(collect(policy, row.at, store.get(), row.device, row.actor)
              .get_bool("elevated", !row.elevated) == row.elevated);
  }
}

Value::Type value_type_for(SignalType type) {
  const std::pair<SignalType, Value::Type> table[] = {
      {SignalType::kBool, Value::Type::kBool},       {SignalType::kInt, Value::Type::kInt},
      {SignalType::kDouble, Value::Type::kDouble},   {SignalType::kString, Value::Type::kString},
      {SignalType::kStringList, Value::Type::kList}, {SignalType::kList, Value::Type::kList}};
  for (const auto& [signal, value] : table)
    if (signal == type) return value;
  return Value::Type::kNull;
}

TEST_CASE("collect: fill_signal_defaults adds every declared git.push signal, keeps present ones") {
  Value signals = Map{{"force", Value(true)}, {"commits", Value(7)}, {"custom", Value("x")}};
  fill_signal_defaults("git.push", signals);
  const SignalRegistry& registry = SignalRegistry::builtin();
  const auto specs = registry.for_kind("git.push");
  REQUIRE(specs.size() > 8);
  for (const SignalSpec* spec : specs) {
    CAPTURE(spec->name);
    const Value* v = signals.find(spec->name);
    REQUIRE(v != nullptr);
    CHECK(v->type() == value_type_for(spec->type));
  }
  CHECK(signals.get_bool("force") == true);
  CHECK(signals.get_int("commits") == 7);
  CHECK(signals.get_string("custom") == "x");
  CHECK(signals.get_bool("delete", true) == false);
  CHECK(signals.find("tool") == nullptr);        // tool.call only
  CHECK(signals.find("production") == nullptr);  // model.deploy only
  Value not_a_map;
  fill_signal_defaults("git.push", not_a_map);
  CHECK(not_a_map.is_map());
  CHECK(not_a_map.as_map().size() == specs.size());
  // Present keys sorting before, among and after the defaults; the kind changing call to call.
  for (const char* kind : {"tool.call", "git.push", "tool.call", "model.deploy"}) {
    CAPTURE(kind);
    Value mixed = Map{{"a", 1}, {"force", true}, {"m", "keep"}, {"zzz", 2}};
    fill_signal_defaults(kind, mixed);
    std::size_t added = 0;
    for (const SignalSpec* spec : registry.for_kind(kind)) {
      CAPTURE(spec->name);
      CHECK(mixed.find(spec->name) != nullptr);
      if (spec->name != "a" && spec->name != "force" && spec->name != "m" && spec->name != "zzz")
        ++added;
    }
    CHECK(mixed.as_map().size() == 4 + added);
    CHECK(mixed.get_int("a") == 1);
    CHECK(mixed.get_bool("force") == true);
    CHECK(mixed.get_string("m") == "keep");
    CHECK(mixed.get_int("zzz") == 2);
  }
}

TEST_CASE("collect: device_fingerprint is stable and honours STEPGATE_DEVICE") {
  {
    ScopedEnv unset("STEPGATE_DEVICE", std::nullopt);
    const std::string a = device_fingerprint();
    CHECK(a == device_fingerprint());
    CHECK(a.size() == 16);
    for (char c : a) CHECK(std::isxdigit(static_cast<unsigned char>(c)));
    ScopedEnv forced("STEPGATE_DEVICE", std::string("laptop-under-test"));
    CHECK(device_fingerprint() == "laptop-under-test");
    CHECK(device_fingerprint() != a);
  }
  ScopedEnv unset("STEPGATE_DEVICE", std::nullopt);
  CHECK(device_fingerprint().size() == 16);
}

}  // namespace
}  // namespace stepgate
