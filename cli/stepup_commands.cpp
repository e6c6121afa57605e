// Placeholder: the owner of this area replaces it.
#include "command.h"

namespace stepgate {
void register_stepup_commands(CLI::App& /*app*/, CommandContext& /*context*/) {}
}  // namespace stepgate
