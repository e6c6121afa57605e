#include "tzfile.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

#include "stepgate/collect.h"
#include "stepgate/files.h"

namespace stepgate {
namespace {

/// The C library's answer under TZ=zone: the reference the reader must agree with. Only this
/// single-threaded test switches TZ; the code under test never does.
std::tm glibc_local(std::int64_t t, const char* zone) {
  const char* old = std::getenv("TZ");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  setenv("TZ", zone, 1);
  tzset();
  const auto tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  saved ? setenv("TZ", saved->c_str(), 1) : unsetenv("TZ");
  tzset();
  return tm;
}

TEST_CASE("tzfile: local_time agrees with the C library across zones, rules and centuries") {
  // Northern and southern daylight time, half- and quarter-hour offsets, Dublin's negative
  // daylight saving, a zone with a two-hour shift, zones with no DST and fixed offsets; from
  // 1901 to 2120 (past a fat file's last transition in 2037: the footer rule decides there).
  const char* zones[] = {"Europe/Paris",        "America/New_York",   "Australia/Sydney",
                         "Asia/Kolkata",        "Pacific/Chatham",    "Europe/Dublin",
                         "Antarctica/Troll",    "America/Santiago",   "Asia/Tehran",
                         "Africa/Casablanca",   "America/St_Johns",   "Etc/GMT+5",
                         "Australia/Lord_Howe", "Pacific/Kiritimati", "America/Sao_Paulo"};
  int compared = 0;
  for (const char* zone : zones) {
    CAPTURE(zone);
    // Every 3 days and 7 hours and 13 minutes: lands on every hour, weekday and season.
    for (std::int64_t t = -2'000'000'000; t < 4'700'000'000; t += 3 * 86400 + 7 * 3600 + 13 * 60) {
      CAPTURE(t);
      const std::tm want = glibc_local(t, zone);
      Result<LocalTime> got = local_time(t, zone);
      REQUIRE(got.ok());
      if (got->hour != want.tm_hour || got->minute != want.tm_min || got->weekday != want.tm_wday) {
        CHECK(got->hour == want.tm_hour);
        CHECK(got->minute == want.tm_min);
        CHECK(got->weekday == want.tm_wday);
      }
      ++compared;
    }
  }
  CHECK(compared > 10000);
}

TEST_CASE(
    "tzfile: around each change of Europe/Paris and Australia/Sydney in 2030, to the second") {
  for (const char* zone : {"Europe/Paris", "Australia/Sydney", "America/New_York"}) {
    CAPTURE(zone);
    for (std::int64_t t = 1893456000; t < 1893456000 + 366 * 86400; t += 1800) {
      CAPTURE(t);
      const std::tm want = glibc_local(t, zone);
      Result<LocalTime> got = local_time(t, zone);
      REQUIRE(got.ok());
      CHECK(got->hour * 60 + got->minute == want.tm_hour * 60 + want.tm_min);
    }
  }
}

TEST_CASE("tzfile: POSIX rules, and malformed files and rules are errors") {
  struct Row {
    const char* rule;
    std::int64_t t;
    std::int64_t offset;
  };
  const Row rows[] = {
      {"UTC0", 0, 0},
      {"<+0530>-5:30", 0, 5 * 3600 + 1800},
      {"EST5EDT,M3.2.0,M11.1.0", 1719835200, -4 * 3600},        // July: daylight
      {"EST5EDT,M3.2.0,M11.1.0", 1705320000, -5 * 3600},        // January: standard
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", 1705320000, 11 * 3600},  // southern summer
      {"AEST-10AEDT,M10.1.0,M4.1.0/3", 1719835200, 10 * 3600},
      {"EST5EDT", 1719835200, -4 * 3600},  // no rule: the US one
      {"XXX3YYY,J60/2,J300/2", 1719835200, -2 * 3600},
      {"XXX3YYY,59/2,299/2", 1719835200, -2 * 3600},
  };
  for (const Row& row : rows) {
    CAPTURE(row.rule);
    Result<std::int64_t> offset = tzfile::posix_offset_at(row.rule, row.t);
    REQUIRE(offset.ok());
    CHECK(*offset == row.offset);
  }
  for (const char* bad : {"", "E5", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.2.0",
                          "EST5EDT,M3.2.0,M11.1.0x", "<+05", "EST5EDT,M3.0.0,M11.1.0"}) {
    CAPTURE(bad);
    CHECK(tzfile::posix_offset_at(bad, 0).error().code == ErrorCode::kInvalidArgument);
  }
  auto paris = read_file("/usr/share/zoneinfo/Europe/Paris");
  REQUIRE(paris.ok());
  for (std::size_t cut :
       {std::size_t{0}, std::size_t{10}, std::size_t{44}, std::size_t{60}, paris->size() / 2}) {
    CAPTURE(cut);
    CHECK_FALSE(tzfile::offset_at(paris->substr(0, cut), 0).ok());
  }
  CHECK_FALSE(tzfile::offset_at("TZjf" + paris->substr(4), 0).ok());
}

}  // namespace
}  // namespace stepgate
