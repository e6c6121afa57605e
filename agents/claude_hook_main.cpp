// stepgate-claude-hook: `stepgate agent-hook claude` in a binary of its own. Claude Code runs the
// hook before every tool call, so it links only the engine and the tool-call gate: no libgit2,
// no cpp-httplib (whose OpenSSL initialisation alone costs more than a decision), no CLI11.
#include <iostream>
#include <string>
#include <string_view>

#include "claude_hook.h"

int main(int argc, char** argv) {
  stepgate::CommandContext context{stepgate::this_process()};
  stepgate::ClaudeHookOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--print-config") {
      options.print_config = true;
    } else if ((arg == "--policy" || arg == "--server") && i + 1 < argc) {
      (arg == "--policy" ? options.policy_path : options.server_url) = argv[++i];
    } else {
      // Exit 2: Claude Code treats it as a blocking error (fail closed).
      std::cerr << "stepgate-claude-hook: unknown argument " << arg
                << " (usage: stepgate-claude-hook [--policy FILE] [--server URL] "
                   "[--print-config])\n";
      return 2;
    }
  }
  stepgate::run_claude_hook(options, context);
  return context.exit_code;
}
