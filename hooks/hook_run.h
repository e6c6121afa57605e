#pragma once
// `stepgate hook pre-push REMOTE URL` and `stepgate hook pre-receive`: read git's stdin, gate
// every ref update, print one verdict per ref, and exit 0 only when every ref may go.

#include <string>
#include <string_view>
#include <vector>

#include "chain.h"
#include "stepgate/gate.h"
#include "stepgate/process_context.h"

namespace stepgate {

enum class HookKind { kPrePush, kPreReceive };

struct HookOptions {
  HookKind kind = HookKind::kPrePush;
  std::string remote;         // pre-push: the remote's name (or its URL when pushing to a URL)
  std::string url;            // pre-push: the remote's URL
  std::string chained;        // the previous hook to run first ("" = none)
  std::string policy_path;    // --policy; "" = found per DESIGN.md
  GatePool* gates = nullptr;  // the hook daemon's open gates; null: open one for this run
};

/// The arguments of `stepgate-git-hook` after the program name: `pre-push [--chained FILE]
/// [--policy FILE] [--] [REMOTE [URL]]` or `pre-receive [--chained FILE] [--policy FILE]`.
/// False on anything else.
bool parse_hook_args(const std::vector<std::string>& args, HookOptions& options);

/// Runs the hook. Exit codes: 0 every ref allowed, 1 a ref denied (or the chained hook failed),
/// 2 bad stdin, unreadable repository or policy (fail closed), 3 a step-up not satisfied.
int run_hook(const HookOptions& options, CommandContext& context);

/// Grants offered for this push: STEPGATE_GRANT (several, whitespace or comma separated),
/// STEPGATE_GRANT_FILE, and for pre-receive the `stepgate-grant=...` push options, all from
/// `context`'s environment.
std::vector<std::string> hook_grants(HookKind kind, const ProcessContext& context);

}  // namespace stepgate
