#include "command.h"

#include "cli_meta.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "agent_commands.h"
#include "ci_commands.h"
#include "daemon_commands.h"
#include "hooks_commands.h"

namespace stepgate {

namespace {

/// "unknown command 'polcy' (did you mean 'policy'?)" when a word where a subcommand belongs
/// names none; "" otherwise (the parse error says it better).
std::string unknown_command_message(const CLI::App& app, int argc, char** argv) {
  const CLI::App* current = &app;
  std::string path = "stepgate";
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') return "";  // options: leave to the parser's message
    auto subs = current->get_subcommands([](const CLI::App*) { return true; });
    const auto positionals =
        current->get_options([](const CLI::Option* opt) { return opt->get_positional(); });
    if (subs.empty() || !positionals.empty()) return "";
    const auto match = std::find_if(subs.begin(), subs.end(),
                                    [&](const CLI::App* sub) { return sub->check_name(word); });
    if (match == subs.end()) {
      std::string message = "unknown command '" + word + "' for '" + path + "'";
      if (std::string best = closest_subcommand(*current, word); !best.empty()) {
        message += " (did you mean '" + best + "'?)";
      }
      return message + "; see '" + path + " --help'";
    }
    current = *match;
    path += " " + current->get_name();
  }
  return "";
}

}  // namespace

int run_cli(int argc, char** argv, CommandContext& context) {
  CLI::App app{"stepgate: step-up confirmation in front of risky actions", "stepgate"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  app.set_version_flag("--version", std::string("stepgate ") + STEPGATE_VERSION);
  register_core_commands(app, context);
  register_audit_commands(app, context);
  register_stepup_commands(app, context);
  register_demo_command(app, context);
  register_hooks_commands(app, context);
  register_ci_commands(app, context);
  register_shim_commands(app, context);
  register_adapter_commands(app, context);
  register_daemon_command(app, context);
  register_doctor_command(app, context);
  register_scan_command(app, context);
  register_authority_commands(app, context);
  register_meta_commands(app, context);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, *context.io.out, *context.io.err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, *context.io.out, *context.io.err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, *context.io.out, *context.io.err);
  } catch (const CLI::ParseError& e) {
    if (std::string unknown = unknown_command_message(app, argc, argv); !unknown.empty()) {
      *context.io.err << "stepgate: " << unknown << "\n";
      return 2;
    }
    *context.io.err << "stepgate: " << e.what() << "\n";
    return 2;  // bad input
  }
  return context.exit_code;
}

}  // namespace stepgate
