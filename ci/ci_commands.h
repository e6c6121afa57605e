#pragma once
// The CI front-end's subcommands: `stepgate ci ...`.

#include "stepgate/process_context.h"

namespace CLI {
class App;
}

namespace stepgate {

/// Adds `ci gate` and its siblings to `app`.
void register_ci_commands(CLI::App& app, CommandContext& context);

}  // namespace stepgate
