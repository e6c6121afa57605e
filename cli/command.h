#pragma once
// What every subcommand shares: injected I/O and the exit code its run function returned.
// Each area registers its subcommands with a register_*_commands function (setup_x binds an
// options struct, its callback calls run_x(options, context)).

#include <functional>
#include <ostream>
#include <string>

#include "stepgate/result.h"

namespace CLI {
class App;
}

namespace stepgate {

/// The process around a command, injected so tests drive commands without a process.
struct CommandIo {
  std::istream* in = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool err_is_tty = false;
  std::string cwd = ".";
};

struct CommandContext {
  CommandIo io;
  int exit_code = 0;
};

/// Prints "stepgate: MESSAGE" on stderr and returns the exit code for the error (2 or 1).
/// Inline so front-end libraries can use it without linking the CLI library.
inline int report_error(CommandContext& context, const Error& error) {
  *context.io.err << "stepgate: " << error.message << "\n";
  return exit_code_for(error);
}

void register_core_commands(CLI::App& app, CommandContext& context);     // cli/core_commands.cpp
void register_audit_commands(CLI::App& app, CommandContext& context);    // cli/audit_commands.cpp
void register_stepup_commands(CLI::App& app, CommandContext& context);   // cli/stepup_commands.cpp
void register_approve_commands(CLI::App& app, CommandContext& context);  // cli/approve_commands.cpp
void register_demo_command(CLI::App& app, CommandContext& context);      // cli/demo.cpp
void register_hooks_commands(CLI::App& app, CommandContext& context);    // hooks/commands.cpp
void register_ci_commands(CLI::App& app, CommandContext& context);       // ci/commands.cpp
void register_shim_commands(CLI::App& app, CommandContext& context);     // agents/shim_commands.cpp
void register_adapter_commands(CLI::App& app,
                               CommandContext& context);  // agents/adapter_commands.cpp
void register_daemon_command(CLI::App& app, CommandContext& context);  // cli/daemon_command.cpp

/// Runs the stepgate command line; returns the process exit code.
int run_cli(int argc, char** argv, CommandContext& context);

}  // namespace stepgate
