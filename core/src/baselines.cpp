// Behavioural baselines from the state store (see baselines.h). The actor's history of the kind
// is read once (one indexed statement), and every window is counted from it in memory; paid only
// when a rule reads the signal.
#include "stepgate/baselines.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <span>
#include <vector>

namespace stepgate {
namespace {

constexpr int64_t kDay = 86400;
constexpr int kHourDays = 30;          // unusual_hour looks this many days back
constexpr int kVolumeDays = 14;        // volume_z's baseline days
constexpr int kMinVolumeHistory = 10;  // actions in those days before volume_z says anything
constexpr int64_t kHalfHour = 1800;
constexpr int kRareShare = 50;  // fewer than 1 in 50 near this time of day is unusual
// count_actions saturates here (store.h): past it, differences of counts mean nothing, so a
// baseline is not computed for so busy an actor (it says so) rather than computed wrong.
constexpr int kCountSaturation = 1000;

/// The actor's actions of the kind over the longest window any baseline looks at, read once per
/// decision (each baseline used to ask the store for a count per window: ~95 statements, about
/// 1 ms a call through the hook daemon). Counts below saturate at kCountSaturation, as the store's
/// own counts do.
class History {
 public:
  /// `times` oldest first, the most recent kHistoryLimit of them (the store's own memory in a
  /// long-running process: a History lives only as long as the store's visit).
  explicit History(std::span<const UnixTime> times) : times_(times) {}
  /// Actions at or after `since`.
  int since(UnixTime from) const {
    const auto it = std::lower_bound(times_.begin(), times_.end(), from);
    return static_cast<int>(std::min<std::ptrdiff_t>(times_.end() - it, kCountSaturation));
  }
  /// Actions in [from, to).
  int between(UnixTime from, UnixTime to) const { return std::max(0, since(from) - since(to)); }
  /// True when there are too many since `from` for counts to be exact.
  bool saturated(UnixTime from) const { return since(from) >= kCountSaturation; }

 private:
  std::span<const UnixTime> times_;
};

// Rows read: past kCountSaturation in a window the baseline says "too busy"; the margin keeps the
// counts exact for the half hour unusual_hour looks at before its 30 days.
constexpr int kHistoryLimit = 2 * kCountSaturation;

/// Calls `use` with the actor's history of the kind, read in place from the store.
Status with_history(StateStore& store, const Action& a, UnixTime now,
                    const std::function<void(const History&)>& use) {
  return store.visit_action_times(a.kind, a.actor, now - kHourDays * kDay - kHalfHour,
                                  kHistoryLimit,
                                  [&use](std::span<const UnixTime> times) { use(History(times)); });
}

std::string too_busy(const Action& a, int days) {
  return a.actor + " has over " + std::to_string(kCountSaturation) + " " + a.kind + " in " +
         std::to_string(days) + " days: no baseline";
}

std::string clock_text(UnixTime now, const Policy& policy) {
  auto local = local_time(now, policy.timezone);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", local.ok() ? local->hour : 0,
                local.ok() ? local->minute : 0);
  return buf;
}

Status unusual_hour(const Action& a, const Policy& policy, const CollectContext& c,
                    const History& h, Map& out) {
  if (h.saturated(c.now - kHourDays * kDay)) {
    out["unusual_hour"] = Value(false);
    out["unusual_hour_reason"] = Value(too_busy(a, kHourDays));
    return {};
  }
  const int total = h.between(c.now - kHourDays * kDay, c.now - kHalfHour);
  int near = 0;
  for (int d = 1; d <= kHourDays; ++d) {
    const UnixTime at = c.now - d * kDay;
    near += h.between(at - kHalfHour, at + kHalfHour);
  }
  const bool enough = total >= kMinBaselineHistory;
  const bool rare = enough && near * kRareShare < total;
  out["unusual_hour"] = Value(rare);
  std::string why = a.kind + " at " + clock_text(c.now, policy) + " is " +
                    std::to_string(near + 1) + " in " + std::to_string(total + 1) + " for " +
                    a.actor + " over " + std::to_string(kHourDays) + " days";
  if (!enough) {
    why = "too little history for " + a.actor + " (" + std::to_string(total) + " " + a.kind +
          " in " + std::to_string(kHourDays) + " days, " + std::to_string(kMinBaselineHistory) +
          " needed)";
  }
  out["unusual_hour_reason"] = Value(std::move(why));
  return {};
}

Status volume(const Action& a, const CollectContext& c, const History& h, Map& out) {
  if (h.saturated(c.now - (kVolumeDays + 1) * kDay)) {
    out["volume_z"] = Value(0.0);
    out["volume_reason"] = Value(too_busy(a, kVolumeDays + 1));
    return {};
  }
  const int current = h.since(c.now - kDay) + 1;  // this action included
  double sum = 0;
  double squares = 0;
  for (int d = 1; d <= kVolumeDays; ++d) {
    const int n = h.between(c.now - (d + 1) * kDay, c.now - d * kDay);
    sum += n;
    squares += static_cast<double>(n) * n;
  }
  if (sum < kMinVolumeHistory) {  // a new actor's first busy day is not a spike
    out["volume_z"] = Value(0.0);
    out["volume_reason"] =
        Value("too little history for " + a.actor + " (" + std::to_string(static_cast<int>(sum)) +
              " " + a.kind + " in " + std::to_string(kVolumeDays) + " days, " +
              std::to_string(kMinVolumeHistory) + " needed)");
    return {};
  }
  const double mean = sum / kVolumeDays;
  const double sd = std::sqrt(std::max(0.0, squares / kVolumeDays - mean * mean));
  const double z = (current - mean) / std::max(sd, 1.0);
  out["volume_z"] = Value(std::round(z * 100.0) / 100.0);
  char buf[160];
  std::snprintf(buf, sizeof buf, "%d %s in 24h for %s against a daily mean of %.1f (sd %.1f)",
                current, a.kind.c_str(), a.actor.c_str(), mean, sd);
  out["volume_reason"] = Value(std::string(buf));
  return {};
}

std::string resource_key(const Action& a) {
  return a.actor + "\n" + a.resource;
}

Status new_resource(const Action& a, const CollectContext& c, Map& out) {
  auto seen = c.store->has_seen("baseline-resource:" + a.kind, resource_key(a));
  if (!seen.ok()) return seen.error();
  out["new_resource"] = Value(!*seen);
  out["new_resource_reason"] =
      Value(*seen ? a.actor + " has acted on " + a.resource + " before"
                  : "first " + a.kind + " by " + a.actor + " on " + a.resource);
  return {};
}

bool wants_any(const SignalDemand& d, const char* a, const char* b) {
  return d.wants(a) || d.wants(b);
}

}  // namespace

Status collect_baseline_signals(const Action& action, const Policy& policy,
                                const CollectContext& context, const SignalDemand& demand,
                                Value& signals) {
  if (context.store == nullptr) return {};
  if (!signals.is_map()) signals = Value(Map{});
  Map& out = signals.as_map();
  const bool hour = wants_any(demand, "unusual_hour", "unusual_hour_reason");
  const bool vol = wants_any(demand, "volume_z", "volume_reason");
  if (hour || vol) {
    Status computed;
    Status read = with_history(*context.store, action, context.now, [&](const History& history) {
      if (hour) computed = unusual_hour(action, policy, context, history, out);
      if (vol && computed.ok()) computed = volume(action, context, history, out);
    });
    if (!read.ok()) return read;
    if (!computed.ok()) return computed;
  }
  if (wants_any(demand, "new_resource", "new_resource_reason")) {
    if (Status s = new_resource(action, context, out); !s.ok()) return s;
  }
  return {};
}

Status remember_baseline(const Action& action, const CollectContext& context,
                         const SignalDemand& demand) {
  if (context.store == nullptr || !wants_any(demand, "new_resource", "new_resource_reason")) {
    return {};
  }
  auto marked = context.store->mark_seen("baseline-resource:" + action.kind, resource_key(action));
  if (!marked.ok()) return marked.error();
  return {};
}

}  // namespace stepgate
