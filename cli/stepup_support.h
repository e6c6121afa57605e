#pragma once
// What the step-up commands (cli/stepup_commands.cpp, cli/approve_commands.cpp) share: the
// principal, id checks, the state store, the policy, audit events, and reading an answer.
#include <memory>
#include <string>

#include "command.h"
#include "stepgate/paths.h"
#include "stepgate/policy.h"
#include "stepgate/result.h"
#include "stepgate/store.h"
#include "stepgate/value.h"

namespace stepgate::stepup_cli {

/// $first_env when set, else default_actor() ($STEPGATE_ACTOR, else the OS user name).
std::string default_principal(const char* first_env = nullptr);

/// kInvalidArgument naming `what` unless id is a valid actor/approver id.
Status check_id(const std::string& id, const char* what);

/// The state store, its directory created private first.
Result<std::unique_ptr<StateStore>> open_store(const Paths& paths);

/// The policy found from the working directory (or --policy); nullptr when there is none.
Result<std::shared_ptr<const Policy>> find_policy(const std::string& explicit_path,
                                                  const std::string& cwd);

/// Audits to the policy's audit path when set, else the default; a failure is reported, not fatal.
void audit_event(CommandContext& context, const Paths& paths, const Policy* policy,
                 const std::string& type, const Value& fields);

/// One line from the person: the terminal when there is one, else stdin. "" on end of input.
std::string read_answer(CommandContext& context, const std::string& prompt, bool secret);

}  // namespace stepgate::stepup_cli
