#pragma once
// The agent front-ends' subcommands: `stepgate shim`, `stepgate agent-hook`, `stepgate mcp-wrap`.

#include "stepgate/process_context.h"

namespace CLI {
class App;
}

namespace stepgate {

/// Adds `shim` (agents/shim_commands.cpp) to `app`.
void register_shim_commands(CLI::App& app, CommandContext& context);
/// Adds `agent-hook` and `mcp-wrap` (agents/adapter_commands.cpp) to `app`.
void register_adapter_commands(CLI::App& app, CommandContext& context);

}  // namespace stepgate
