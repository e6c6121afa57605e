#include "stepgate/baselines.h"

#include <doctest/doctest.h>

#include "test_util.h"

namespace stepgate {
namespace {

constexpr UnixTime kDay = 86400;
constexpr UnixTime kMidnight = 1718236800;  // 2024-06-13T00:00:00Z

struct BaselineFixture {
  testing::TempDir dir;
  std::unique_ptr<StateStore> store = testing::open_test_store(dir);
  Policy policy;
  Action push{"git.push", "alice", "origin refs/heads/main", Map{}};

  /// One push by alice at 10:00 UTC on each of the `days` days before kMidnight.
  void daily_pushes(int days) {
    for (int d = 1; d <= days; ++d) {
      REQUIRE(store->record_action("git.push", "alice", kMidnight - d * kDay + 10 * 3600).ok());
    }
  }

  Value collect(UnixTime now, std::vector<std::string> names) {
    SignalDemand demand;
    demand.names = std::move(names);
    std::sort(demand.names.begin(), demand.names.end());
    Value signals = Map{};
    CollectContext context{now, "dev", store.get()};
    REQUIRE(collect_baseline_signals(push, policy, context, demand, signals).ok());
    return signals;
  }
};

TEST_CASE_FIXTURE(BaselineFixture, "baselines: unusual_hour fires off the actor's habits") {
  REQUIRE(store != nullptr);
  daily_pushes(25);
  struct Case {
    UnixTime now;
    bool unusual;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {kMidnight + 10 * 3600, false, "git.push at 10:00 is 26 in 26 for alice over 30 days"},
      {kMidnight + 10 * 3600 + 1200, false, "git.push at 10:20 is 26 in 26 for alice"},
      {kMidnight + 3 * 3600, true, "git.push at 03:00 is 1 in 26 for alice over 30 days"},
      {kMidnight + 16 * 3600, true, "git.push at 16:00 is 1 in 26 for alice"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.reason);
    const Value s = collect(c.now, {"unusual_hour"});
    CHECK(s.get_bool("unusual_hour") == c.unusual);
    CHECK(s.get_string("unusual_hour_reason").rfind(c.reason, 0) == 0);
  }
}

TEST_CASE_FIXTURE(BaselineFixture, "baselines: unusual_hour needs a minimum history") {
  REQUIRE(store != nullptr);
  daily_pushes(kMinBaselineHistory - 1);
  const Value s = collect(kMidnight + 3 * 3600, {"unusual_hour"});
  CHECK_FALSE(s.get_bool("unusual_hour"));
  CHECK(s.get_string("unusual_hour_reason").find("too little history for alice") == 0);
}

TEST_CASE_FIXTURE(BaselineFixture, "baselines: volume_z against the daily mean") {
  REQUIRE(store != nullptr);
  daily_pushes(20);  // one a day
  const UnixTime now = kMidnight + 12 * 3600;
  // The 24 hours before noon hold yesterday's 10:00 push... none: it was 26 hours ago.
  Value s = collect(now, {"volume_z"});
  CHECK(s.find("volume_z")->as_number() == doctest::Approx(0.0));  // 1 (this one) vs mean 1
  for (int i = 0; i < 9; ++i) REQUIRE(store->record_action("git.push", "alice", now - 60).ok());
  s = collect(now, {"volume_reason"});
  CHECK(s.find("volume_z")->as_number() == doctest::Approx(9.0));  // 10 vs 1, sd floored at 1
  CHECK(s.get_string("volume_reason") ==
        "10 git.push in 24h for alice against a daily mean of 1.0 (sd 0.0)");
}

TEST_CASE_FIXTURE(BaselineFixture, "baselines: volume_z needs a history first") {
  REQUIRE(store != nullptr);
  const UnixTime now = kMidnight + 12 * 3600;
  for (int i = 0; i < 9; ++i) REQUIRE(store->record_action("git.push", "alice", now - 60).ok());
  const Value s = collect(now, {"volume_z"});
  CHECK(s.find("volume_z")->as_number() == doctest::Approx(0.0));
  CHECK(s.get_string("volume_reason") ==
        "too little history for alice (0 git.push in 14 days, 10 needed)");
}

TEST_CASE_FIXTURE(BaselineFixture, "baselines: new_resource until an action on it is allowed") {
  REQUIRE(store != nullptr);
  SignalDemand demand;
  demand.names = {"new_resource"};
  CollectContext context{kMidnight, "dev", store.get()};
  Value s = collect(kMidnight, {"new_resource"});
  CHECK(s.get_bool("new_resource"));
  CHECK(s.get_string("new_resource_reason") == "first git.push by alice on origin refs/heads/main");
  REQUIRE(remember_baseline(push, context, demand).ok());
  s = collect(kMidnight, {"new_resource"});
  CHECK_FALSE(s.get_bool("new_resource"));
  push.resource = "origin refs/heads/other";
  CHECK(collect(kMidnight, {"new_resource"}).get_bool("new_resource"));
}

// count_actions saturates at 1,000: an actor that busy gets no baseline rather than a wrong one
// (differences of saturated counts would read as an empty history and a huge z score).
TEST_CASE_FIXTURE(BaselineFixture, "baselines: an actor past the count limit gets no baseline") {
  REQUIRE(store != nullptr);
  const UnixTime now = kMidnight + 12 * 3600;
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(store->record_action("git.push", "alice", now - 2 * kDay - i).ok());
  }
  const Value s = collect(now, {"unusual_hour", "volume_z"});
  CHECK_FALSE(s.get_bool("unusual_hour"));
  CHECK(s.find("volume_z")->as_number() == doctest::Approx(0.0));
  CHECK(s.get_string("volume_reason") == "alice has over 1000 git.push in 15 days: no baseline");
}

TEST_CASE_FIXTURE(BaselineFixture, "baselines: nothing is computed that no rule reads") {
  REQUIRE(store != nullptr);
  daily_pushes(25);
  const Value s = collect(kMidnight + 3 * 3600, {"force", "protected"});
  CHECK(s.as_map().empty());
  // And remember_baseline keeps nothing for a policy that does not read new_resource.
  CollectContext context{kMidnight, "dev", store.get()};
  REQUIRE(remember_baseline(push, context, SignalDemand{}).ok());
  CHECK(collect(kMidnight, {"new_resource"}).get_bool("new_resource"));
}

// A long-running front-end's store (the hook daemon's, cache_ms > 0) buffers its own records:
// the baselines must count those as the one-shot store counts what it wrote straight away.
TEST_CASE("baselines: a caching store counts its own buffered actions") {
  testing::TempDir dir;
  StoreOptions caching;
  caching.cache_ms = 60000;
  auto opened = StateStore::open(dir.path() + "/state.db", caching);
  REQUIRE(opened.ok());
  std::unique_ptr<StateStore> store = std::move(opened).value();
  const Action push{"git.push", "alice", "origin refs/heads/main", Map{}};
  const UnixTime now = kMidnight + 12 * 3600;
  for (int d = 1; d <= 20; ++d) {
    REQUIRE(store->record_action("git.push", "alice", kMidnight - d * kDay + 10 * 3600).ok());
  }
  for (int i = 0; i < 9; ++i) REQUIRE(store->record_action("git.push", "alice", now - 60).ok());
  SignalDemand demand;
  demand.names = {"unusual_hour", "volume_z"};
  Value signals = Map{};
  CollectContext context{now, "dev", store.get()};
  REQUIRE(collect_baseline_signals(push, Policy{}, context, demand, signals).ok());
  CHECK(signals.find("volume_z")->as_number() == doctest::Approx(9.0));  // 10 vs 1 a day
  CHECK(
      signals.get_string("unusual_hour_reason") ==
      "git.push at 12:00 is 1 in 21 for alice over 30 days");  // the last half hour is not history
}

}  // namespace
}  // namespace stepgate
