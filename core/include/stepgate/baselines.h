#pragma once
/// Behavioural baselines: signals learnt from an actor's own history in the state store (the
/// velocity log of the last 31 days and the seen-keys table), each with a sentence saying why.
///
///  - unusual_hour (+ unusual_hour_reason): this actor rarely acts at this time of day — fewer
///    than 1 in 50 of their actions of this kind in the last 30 days fell within 30 minutes of
///    this time of day, and they have at least kMinBaselineHistory such actions (no history, no
///    verdict).
///  - volume_z (+ volume_reason): the last 24 hours' count of this kind by this actor (this action
///    included) against their daily mean and standard deviation over the 14 days before, as a z
///    score (the deviation floored at 1, so a flat history does not divide by zero); 0 until
///    those 14 days hold 10 actions (a new actor's first busy day is not a spike).
///  - new_resource (+ new_resource_reason): the first time this actor acts on this resource with
///    this kind; the gate remembers the pair once an action on it is allowed.

#include "stepgate/action.h"
#include "stepgate/collect.h"
#include "stepgate/policy.h"
#include "stepgate/result.h"
#include "stepgate/signal_demand.h"
#include "stepgate/value.h"

namespace stepgate {

/// Actions of a kind an actor needs in their history before unusual_hour can fire.
inline constexpr int kMinBaselineHistory = 20;

/// Adds the baseline signals `demand` asks for (none when no rule reads them: each costs store
/// look-ups) to `signals`. Without a store nothing is added (the defaults say "not unusual").
Status collect_baseline_signals(const Action& action, const Policy& policy,
                                const CollectContext& context, const SignalDemand& demand,
                                Value& signals);

/// After an allowed action: remembers that its actor has now touched its resource (only when
/// `demand` reads new_resource, so a policy without the rule keeps no such table).
Status remember_baseline(const Action& action, const CollectContext& context,
                         const SignalDemand& demand);

}  // namespace stepgate
