#include "command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

namespace stepgate {

int run_cli(int argc, char** argv, CommandContext& context) {
  CLI::App app{"stepgate: step-up confirmation in front of risky actions", "stepgate"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  register_core_commands(app, context);
  register_audit_commands(app, context);
  register_stepup_commands(app, context);
  register_demo_command(app, context);
  register_hooks_commands(app, context);
  register_ci_commands(app, context);
  register_shim_commands(app, context);
  register_adapter_commands(app, context);
  register_daemon_command(app, context);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, *context.io.out, *context.io.err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, *context.io.out, *context.io.err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, *context.io.out, *context.io.err);
  } catch (const CLI::ParseError& e) {
    *context.io.err << "stepgate: " << e.what() << "\n";
    return 2;  // bad input
  }
  return context.exit_code;
}

}  // namespace stepgate
