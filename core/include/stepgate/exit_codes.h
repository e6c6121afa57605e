#pragma once
/// The exit codes every gating command and hook shares (DESIGN.md). Free of everything else, so
/// the stepgate-hook client (no engine) uses the same values.

namespace stepgate {

inline constexpr int kExitAllow = 0;       // every action allowed
inline constexpr int kExitDeny = 1;        // denied by policy (or a chained hook failed)
inline constexpr int kExitError = 2;       // bad input, configuration or state: fail closed
inline constexpr int kExitStepUpHeld = 3;  // step-up required and not satisfied

}  // namespace stepgate
