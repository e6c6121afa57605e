#pragma once
// The git front-end's subcommands: `stepgate hook ...` and `stepgate hooks install|uninstall`.

#include "stepgate/process_context.h"

namespace CLI {
class App;
}

namespace stepgate {

/// Adds `hook pre-push|pre-receive` and `hooks install|uninstall` to `app`.
void register_hooks_commands(CLI::App& app, CommandContext& context);

}  // namespace stepgate
