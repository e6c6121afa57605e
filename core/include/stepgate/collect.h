#pragma once
/// The common collectors: time, actor and device, velocity, elevation.

#include <string>

#include "stepgate/action.h"
#include "stepgate/env.h"
#include "stepgate/policy.h"
#include "stepgate/store.h"
#include "stepgate/value.h"

namespace stepgate {

/// A stable fingerprint of this device: SHA-256 over /etc/machine-id (or the hostname) and the
/// OS user, first 16 hex digits. $STEPGATE_DEVICE in `env` overrides it.
std::string device_fingerprint(const Env& env = {});

struct CollectContext {
  UnixTime now = 0;
  std::string device;
  StateStore* store = nullptr;  // null: state-backed signals take their defaults
};

/// Adds `hour`, `weekday`, `off_hours` (policy timezone and business hours), `actor`, `device`,
/// `device_known`, `velocity` (actions of this kind by this actor within the policy's
/// velocity_window, this one included) and `elevated` to `signals` (a map).
Status collect_common_signals(const Action& action, const Policy& policy,
                              const CollectContext& context, Value& signals);

/// Gives every signal declared for the action's kind that is not yet present its type's default,
/// so rules never see a missing declared signal.
void fill_signal_defaults(const std::string& kind, Value& signals);

/// Local hour (0-23) and weekday (0 = Sunday) of `t` in the IANA `timezone`.
struct LocalTime {
  int hour = 0;
  int minute = 0;
  int weekday = 0;
};
Result<LocalTime> local_time(UnixTime t, const std::string& timezone);

}  // namespace stepgate
