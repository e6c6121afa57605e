// stepgate-claude-hook: `stepgate agent-hook claude` in a binary of its own. Claude Code runs the
// hook before every tool call, so it links only the engine and the tool-call gate: no libgit2,
// no cpp-httplib (whose OpenSSL initialisation alone costs more than a decision), no CLI11.
#include <iostream>
#include <string>
#include <string_view>

#include "claude_hook.h"
#include "stepgate/gate_failure.h"

namespace {

int run(int argc, char** argv) {
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

}  // namespace

int main(int argc, char** argv) {
  // Claude Code runs the tool when a hook dies of a signal (a non-blocking error): an exception
  // becomes exit 2, which blocks the call.
  try {
    return run(argc, argv);
  } catch (...) {
    std::cerr << "stepgate: " << stepgate::describe_exception(std::current_exception())
              << "; tool call blocked (fail closed)\n";
    return 2;
  }
}
