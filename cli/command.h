#pragma once
// What every subcommand shares: the injected process context (stepgate/process_context.h) and
// the exit code its run function returned. Each area registers its subcommands with a
// register_*_commands function (setup_x binds an options struct, its callback calls
// run_x(options, context)); the front-ends declare theirs in their own folders.

#include "stepgate/process_context.h"

namespace CLI {
class App;
}

namespace stepgate {

void register_core_commands(CLI::App& app, CommandContext& context);     // cli/core_commands.cpp
void register_audit_commands(CLI::App& app, CommandContext& context);    // cli/audit_commands.cpp
void register_stepup_commands(CLI::App& app, CommandContext& context);   // cli/stepup_commands.cpp
void register_approve_commands(CLI::App& app, CommandContext& context);  // cli/approve_commands.cpp
void register_demo_command(CLI::App& app, CommandContext& context);      // cli/demo.cpp
void register_doctor_command(CLI::App& app, CommandContext& context);    // cli/doctor.cpp
void register_scan_command(CLI::App& app, CommandContext& context);      // cli/scan_command.cpp
void register_authority_commands(CLI::App& app,
                                 CommandContext& context);  // cli/authority_commands.cpp

/// Runs the stepgate command line; returns the process exit code.
int run_cli(int argc, char** argv, CommandContext& context);

}  // namespace stepgate
