#pragma once
/// Fail-closed handling shared by every front-end: what a gate that cannot be opened or run
/// means for the action (the policy's `on_error`), in one place.
///
/// The rule: a protected action fails closed (is refused) when stepgate itself fails — no policy,
/// a policy that does not load, a state store or audit log that cannot be opened or written, a
/// collector that fails, an unexpected exception — unless a policy that *loads* says
/// `on_error: allow`. A missing or broken policy can never say so, so it always fails closed.
/// Gate::run applies the rule to failures while running (collector, audit write, exceptions);
/// gate_open_failure applies it when Gate::open failed.

#include <string>

#include "stepgate/gate.h"
#include "stepgate/result.h"

namespace stepgate {

/// What a front-end does with an action when the gate could not be opened.
struct GateFailure {
  bool allow = false;   // true only when a policy that loads says on_error: allow
  std::string message;  // one line for the person: the error and what was done about it
};

/// Gate::open(options) failed with `error`: refuse, unless the policy `options` find loads and
/// says on_error: allow. `what` names the action in the message ("push", "tool call").
GateFailure gate_open_failure(const Error& error, const GateOptions& options,
                              const std::string& what);

/// The text of an exception caught at a process entry point or a request boundary, for the
/// front-end's fail-closed answer ("internal error: ...").
std::string describe_exception(const std::exception_ptr& error);

}  // namespace stepgate
