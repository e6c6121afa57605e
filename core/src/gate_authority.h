#pragma once
// A Gate whose decisions come from the authority (gate_authority.cpp); private to core.

#include <memory>

#include "stepgate/authority.h"
#include "stepgate/gate.h"

namespace stepgate {

/// Opens the Gate for `endpoint`: the authority's policy (fetched, or the signed cached copy when
/// it cannot be reached) for the front-end's settings, the user's store and log for the front-end's
/// own bookkeeping, and the authority as the decision source.
Result<std::unique_ptr<Gate>> open_authority_gate(const GateOptions& options,
                                                  const AuthorityEndpoint& endpoint);

/// The outcome an authority's reply carries (reply["outcome"]).
Result<GateOutcome> outcome_from_value(const Value& value);

}  // namespace stepgate
