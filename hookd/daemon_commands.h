#pragma once
// `stepgate daemon [--status|--stop]`: the hook daemon's subcommand.

#include "stepgate/process_context.h"

namespace CLI {
class App;
}

namespace stepgate {

/// Adds `daemon` to `app`.
void register_daemon_command(CLI::App& app, CommandContext& context);

}  // namespace stepgate
